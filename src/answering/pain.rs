//! Per-lesion pain for staff: each lesion's worst-pain series across visits with the change from
//! its first NRS and the "assess for SSE" flag, the consensus response category for irradiated
//! lesions with known analgesic doses; the analgesic dose per visit.

use serde_json::json;

use crate::{
    answering::LesionRef,
    app::App,
    audit::{self, Entry},
    auth::{self, StaffActor},
    domain::answering::ResponseStatus,
    domain::{pain, permissions::Action},
    error::{Code, Error, Result},
    store::{self, participants::ParticipantRow, responses::DoseRow},
};

pub const NRS_KEY: &str = "nrs-lesion-pain";
pub const NRS_ITEM: &str = "worst_pain";

#[derive(Debug, Clone)]
pub struct PainPoint {
    pub visit: String,
    pub value: i64,
    pub change: i64,
    pub assess_for_sse: bool,
    pub omed: Option<f64>,
    /// Consensus category, for irradiated lesions after irradiation with known doses.
    pub category: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LesionPain {
    pub lesion: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub active: bool,
    pub irradiation_date: Option<chrono::NaiveDate>,
    pub points: Vec<PainPoint>,
}

async fn overview_of(app: &App, p: &ParticipantRow) -> Result<Vec<LesionPain>> {
    let rules = pain::ConsensusRules::shipped().map_err(Error::Internal)?;
    let visits = store::participants::visits(&app.db, p.id).await?;
    let doses = store::responses::doses(&app.db, p.id).await?;
    let responses: Vec<_> = store::responses::of_participant(&app.db, p.id)
        .await?
        .into_iter()
        .filter(|r| r.questionnaire_key == NRS_KEY && r.status != ResponseStatus::Draft)
        .collect();
    let mut series: Vec<(i32, String, chrono::NaiveDate, String, i64)> = Vec::new();
    for r in &responses {
        let Some(v) = visits.iter().find(|v| v.code == r.visit_code) else {
            continue;
        };
        for a in store::responses::answers(&app.db, r.id).await? {
            if a.item == NRS_ITEM
                && let Some(value) = a.value.as_i64()
            {
                series.push((
                    v.position,
                    v.code.clone(),
                    v.target_date,
                    a.lesion.clone(),
                    value,
                ));
            }
        }
    }
    series.sort();
    let dose = |visit: &str| {
        doses
            .iter()
            .find(|d| d.visit_code == visit)
            .map(|d| d.omed_mg_per_day)
    };
    let mut out = Vec::new();
    for l in store::participants::lesions(&app.db, p.id).await? {
        let id = l.id.to_string();
        let mine: Vec<_> = series.iter().filter(|s| s.3 == id).collect();
        let first = mine.first().map(|s| (s.1.clone(), s.4));
        let points = mine
            .iter()
            .map(|(_, visit, target, _, value)| {
                let (first_visit, first_value) = first.clone().unwrap_or_default();
                let is_first = *visit == first_visit;
                let category = match (l.irradiation_date, dose(&first_visit), dose(visit)) {
                    (Some(irr), Some(d0), Some(d1)) if !is_first && *target > irr => {
                        Some(rules.categorize(first_value, *value, d0, d1).to_string())
                    }
                    _ => None,
                };
                PainPoint {
                    visit: visit.clone(),
                    value: *value,
                    change: value - first_value,
                    assess_for_sse: !is_first && pain::assess_for_sse(first_value, *value),
                    omed: dose(visit),
                    category,
                }
            })
            .collect();
        out.push(LesionPain {
            lesion: id,
            labels: l.labels.0.clone(),
            active: l.active,
            irradiation_date: l.irradiation_date,
            points,
        });
    }
    Ok(out)
}

pub async fn overview(app: &App, actor: &StaffActor, study_id: &str) -> Result<Vec<LesionPain>> {
    let p = crate::participants::for_staff(&app.db, actor, Action::ResponseRead, study_id, false)
        .await?;
    overview_of(app, &p).await
}

/// Participants on the actor's sites whose latest NRS at some lesion is flagged "assess for SSE".
pub async fn flags(app: &App, actor: &StaffActor) -> Result<Vec<(String, String, LesionPain)>> {
    auth::authorize(actor, Action::ResponseRead, None)?;
    let sites = auth::site_scope(actor, None);
    flags_in(app, sites.as_deref()).await
}

/// The same flags for given sites (the daily digest).
pub async fn flags_for_sites(
    app: &App,
    sites: &[String],
) -> Result<Vec<(String, String, LesionPain)>> {
    flags_in(app, Some(sites)).await
}

async fn flags_in(
    app: &App,
    sites: Option<&[String]>,
) -> Result<Vec<(String, String, LesionPain)>> {
    let mut out = Vec::new();
    for p in store::participants::list(&app.db, sites).await? {
        for l in overview_of(app, &p).await? {
            if l.points.last().is_some_and(|pt| pt.assess_for_sse) {
                out.push((p.study_id.clone(), p.site_code.clone(), l));
            }
        }
    }
    Ok(out)
}

/// Record the analgesic dose (oral morphine equivalent, mg/day) at a visit.
pub async fn record_dose(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    visit: &str,
    omed: f64,
) -> Result<()> {
    let p = crate::participants::for_staff(&app.db, actor, Action::ResponseEnter, study_id, false)
        .await?;
    if !omed.is_finite() || !(0.0..=10_000.0).contains(&omed) {
        return Err(Error::invalid(
            "omed_mg_per_day",
            "must be between 0 and 10000 mg/day",
        ));
    }
    if !store::participants::visits(&app.db, p.id)
        .await?
        .iter()
        .any(|v| v.code == visit)
    {
        return Err(Error::Unknown {
            code: Code::UnknownVisit,
            message: format!("{study_id} has no visit {visit:?}"),
        });
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let before = store::responses::save_dose(
        &txn,
        DoseRow {
            participant_id: p.id,
            visit_code: visit.into(),
            omed_mg_per_day: omed,
            recorded_by: actor.id.to_string(),
            recorded_at: now,
        },
    )
    .await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "analgesic.recorded", "visit")
            .entity(format!("{study_id}/{visit}"))
            .before(json!({ "omed_mg_per_day": before }))
            .after(json!({ "omed_mg_per_day": omed })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Labels helper for API shaping.
pub fn label_of(l: &LesionPain, lang: &str) -> String {
    LesionRef {
        id: l.lesion.clone(),
        labels: l.labels.clone(),
    }
    .label(lang)
}

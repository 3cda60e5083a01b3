//! Per-lesion pain for staff: each lesion's worst-pain series across visits with the change from
//! its first NRS and the "assess for SSE" flag, the consensus response category for irradiated
//! lesions with known analgesic doses, pain progression (on pain alone, flagged, when a dose is
//! unknown); the analgesic dose per visit.

use crate::domain::problem::Problem;
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
    /// The day the NRS was filled in (study time zone).
    pub day: chrono::NaiveDate,
    pub value: i64,
    /// Change from the lesion's baseline (its last NRS on or before its reference day).
    pub change: Option<i64>,
    /// A rise of 2 or more from the lesion's first NRS.
    pub assess_for_sse: bool,
    pub omed: Option<f64>,
    /// Consensus response category (irradiated lesions after radiotherapy).
    pub category: Option<String>,
    /// Why there is no category.
    pub not_evaluable: Option<&'static str>,
    /// Pain progression (consensus definition; on pain alone when a dose is unknown), both arms.
    pub progression: Option<bool>,
    /// What `progression` rests on (`pain_only`: the analgesic condition was not assessed).
    pub progression_basis: Option<pain::ProgressionBasis>,
}

#[derive(Debug, Clone)]
pub struct LesionPain {
    pub lesion: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub active: bool,
    pub irradiation_date: Option<chrono::NaiveDate>,
    /// Radiotherapy day for an irradiated lesion, else the randomization day.
    pub reference: Option<chrono::NaiveDate>,
    /// The baseline reading (visit, day, value).
    pub baseline: Option<(String, chrono::NaiveDate, i64)>,
    pub time_to_progression_days: Option<i64>,
    pub points: Vec<PainPoint>,
}

/// Each lesion's worst-pain readings (by the day filled in), from the participant's submitted
/// NRS responses, with the analgesic dose of the visit.
async fn readings_of(app: &App, p: &ParticipantRow) -> Result<Vec<(String, pain::Reading)>> {
    let visits = store::participants::visits(&app.db, p.id).await?;
    let doses = store::responses::doses(&app.db, p.id).await?;
    let mut out = Vec::new();
    for r in store::responses::of_participant(&app.db, p.id).await? {
        if r.questionnaire_key != NRS_KEY || r.status == ResponseStatus::Draft {
            continue;
        }
        let Some(v) = visits.iter().find(|v| v.code == r.visit_code) else {
            continue;
        };
        let Some(day) = r.completed_on.or_else(|| {
            r.submitted_at
                .map(|t| crate::domain::schedule::local_date(app.study.time_zone, t))
        }) else {
            continue;
        };
        let omed = doses
            .iter()
            .find(|d| d.visit_code == v.code)
            .map(|d| d.omed_mg_per_day);
        for a in store::responses::answers(&app.db, r.id).await? {
            if a.item == NRS_ITEM
                && let Some(value) = a.value.as_i64()
            {
                out.push((
                    a.lesion.clone(),
                    pain::Reading {
                        visit: v.code.clone(),
                        day,
                        value,
                        omed,
                    },
                ));
            }
        }
    }
    out.sort_by(|a, b| (a.1.day, &a.0).cmp(&(b.1.day, &b.0)));
    Ok(out)
}

pub(crate) async fn overview_of(app: &App, p: &ParticipantRow) -> Result<Vec<LesionPain>> {
    let rules = pain::ConsensusRules::shipped().map_err(Error::Internal)?;
    let readings = readings_of(app, p).await?;
    let events = crate::participants::events_of(&app.db, p).await?;
    let randomized = crate::domain::participant::randomized_on(&events);
    let mut out = Vec::new();
    for l in store::participants::lesions(&app.db, p.id).await? {
        let id = l.id.to_string();
        let mine: Vec<pain::Reading> = readings
            .iter()
            .filter(|(lesion, _)| *lesion == id)
            .map(|(_, r)| r.clone())
            .collect();
        let reference = l.irradiation_date.or(randomized);
        let base = reference.and_then(|d| pain::baseline(&mine, d));
        let first = mine.first().map(|r| r.value);
        let points = mine
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let judged = reference
                    .map(|d| pain::judge(&rules, base, r, d, l.irradiation_date))
                    .unwrap_or_default();
                PainPoint {
                    visit: r.visit.clone(),
                    day: r.day,
                    value: r.value,
                    change: base.map(|b| r.value - b.value),
                    assess_for_sse: i > 0
                        && first.is_some_and(|f| pain::assess_for_sse(f, r.value)),
                    omed: r.omed,
                    category: judged.category,
                    not_evaluable: judged.not_evaluable,
                    progression: judged.progression,
                    progression_basis: judged.progression_basis,
                }
            })
            .collect();
        out.push(LesionPain {
            lesion: id,
            labels: l.labels.0.clone(),
            active: l.active,
            irradiation_date: l.irradiation_date,
            reference,
            baseline: base.map(|b| (b.visit.clone(), b.day, b.value)),
            time_to_progression_days: reference
                .and_then(|d| pain::time_to_progression(&rules, &mine, d, l.irradiation_date)),
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
    if !app.study.analgesics.apply {
        return Err(Error::Conflict {
            code: Code::NotInThisStudy,
            message: format!(
                "study {} records no analgesic doses ([analgesics] apply = false in the study file)",
                app.study.id
            ),
        });
    }
    if !omed.is_finite() || !(0.0..=10_000.0).contains(&omed) {
        return Err(Error::invalid(
            "omed_mg_per_day",
            Problem::OutOfRange {
                min: 0.0,
                max: 10_000.0,
            },
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
            .after(json!({ "omed_mg_per_day": omed, "facts": audit::row_facts(&txn, "analgesic_dose", format!("{}/{visit}", p.id)).await? })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The visits (in the order read) with a pain reading and no analgesic dose recorded: pain
/// progression there rests on pain alone until the dose is recorded.
pub fn visits_without_dose(course: &[LesionPain]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for pt in course.iter().flat_map(|l| &l.points) {
        if pt.omed.is_none() && !out.contains(&pt.visit) {
            out.push(pt.visit.clone());
        }
    }
    out
}

/// Labels helper for API shaping.
pub fn label_of(l: &LesionPain, lang: &str) -> String {
    LesionRef {
        id: l.lesion.clone(),
        labels: l.labels.clone(),
    }
    .label(lang)
}

//! High-risk lesions: adding (within the study's limits), listing and updating them.

use crate::domain::problem::Problem;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{for_staff, parse_date, today};
use crate::{
    app::App,
    audit::{self, Entry},
    auth::{self, StaffActor},
    domain::{lesions, permissions::Action},
    error::{Code, Error, Result},
    store::{self, participants::LesionRow},
};

pub struct LesionInput {
    pub location: Option<String>,
    pub side: Option<String>,
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    pub detail: Option<String>,
    pub high_risk_reasons: Option<Vec<String>>,
    pub irradiation_date: Option<String>,
    pub active: Option<bool>,
}

/// The study's lesion limits (`lesions::check_limits`) hold after a change, as the caller's
/// error. A lesion counts as registered at inclusion when it was registered before the
/// participant was randomized, on the randomization day, or on the day the participant was
/// registered in epro (a go-live participant's inclusion lesions are entered then).
async fn within_limits(
    app: &App,
    txn: &sea_orm::DatabaseTransaction,
    p: &store::participants::ParticipantRow,
    before: &[LesionRow],
    after: &[LesionRow],
) -> Result<()> {
    let events = super::events_of(txn, p).await?;
    let registered = crate::domain::schedule::local_date(app.study.time_zone, p.created_at);
    let inclusion_until =
        crate::domain::participant::randomized_on(&events).map(|r| r.max(registered));
    let held = |ls: &[LesionRow]| -> Vec<lesions::Held> {
        ls.iter()
            .map(|l| lesions::Held {
                at_inclusion: inclusion_until.is_none_or(|u| l.registered_on <= u),
                irradiation_date: l.irradiation_date,
                active: l.active,
            })
            .collect()
    };
    let limits = &app.study.lesion_limits;
    lesions::check_limits(limits, &held(before), &held(after)).map_err(|b| {
        let message = match b {
            lesions::Breach::AtInclusion(n) => format!(
                "at most {n} high-risk lesions at inclusion (the study excludes participants                  with more)"
            ),
            lesions::Breach::PerCourse(n, day) => format!(
                "at most {n} lesions are irradiated in one course; {day} would have more"
            ),
            lesions::Breach::Active(n) => format!(
                "a participant has at most {n} active high-risk lesions during follow-up;                  deactivate one first"
            ),
        };
        Error::Unprocessable {
            code: Code::TooManyLesions,
            message,
        }
    })
}

pub(super) fn lesion_json(l: &LesionRow) -> Value {
    json!({
        "location": l.location, "side": l.side,
        "labels": &*l.labels,
        "detail": l.detail,
        "high_risk_reasons": &*l.high_risk_reasons,
        "irradiation_date": l.irradiation_date, "active": l.active,
    })
}

/// A lesion's plain-language labels: required in the participant's language (the one they
/// read it in; docs/trial-rules.md, "Lesion labels"), optional in the study's other languages;
/// each within the label limit of `domain::free_text` and unlike the participant's other lesions. Returns the labels
/// given, trimmed (empty ones left out).
pub(super) fn check_labels(
    app: &App,
    language: &str,
    labels: &std::collections::BTreeMap<String, String>,
    others: &[LesionRow],
) -> Result<std::collections::BTreeMap<String, String>> {
    let given: std::collections::BTreeMap<String, String> = labels
        .iter()
        .map(|(l, t)| (l.clone(), t.trim().to_string()))
        .filter(|(_, t)| !t.is_empty())
        .collect();
    if !given.contains_key(language) {
        return Err(Error::invalid(
            format!("labels.{language}"),
            Problem::LabelNeeded {
                language: language.into(),
            },
        ));
    }
    for (lang, label) in &given {
        let label = label.as_str();
        // The limit of the free-text table (`domain::free_text`), the one place it is set; a
        // label that was trimmed may still be checked here after the request's own check.
        if let Some((max, _)) = crate::domain::free_text::too_long("label", label) {
            return Err(Error::invalid(
                format!("labels.{lang}"),
                Problem::TooLong { max },
            ));
        }
        for o in others {
            let theirs = &o.labels;
            if theirs
                .get(lang)
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(label))
            {
                return Err(Error::Conflict {
                    code: Code::DuplicateLesionLabel,
                    message: format!(
                        "labels.{lang}: {label:?} is already used for another lesion of this participant"
                    ),
                });
            }
        }
    }
    if let Some(extra) = given.keys().find(|k| !app.study.languages.contains(k)) {
        return Err(Error::invalid(
            format!("labels.{extra}"),
            Problem::NotAStudyLanguage {
                given: extra.clone(),
                languages: app.study.languages.clone(),
            },
        ));
    }
    Ok(given)
}

pub async fn add_lesion(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    input: LesionInput,
) -> Result<LesionRow> {
    auth::authorize(actor, Action::ParticipantUpdate, None)?;
    if !app.study.lesion_limits.apply {
        return Err(Error::Conflict {
            code: Code::NotInThisStudy,
            message: format!(
                "study {} records no lesions ([lesions] apply = false in the study file)",
                app.study.id
            ),
        });
    }
    let location = input
        .location
        .clone()
        .ok_or_else(|| Error::invalid("location", Problem::Required))?;
    let reasons = input.high_risk_reasons.clone().unwrap_or_default();
    let side = lesions::check(&app.study, &location, input.side.as_deref(), &reasons)
        .map_err(|(f, p)| Error::invalid(f, p))?;
    let labels = input.labels.clone().unwrap_or_default();
    let irradiation = input
        .irradiation_date
        .as_deref()
        .map(|d| parse_date("irradiation_date", d))
        .transpose()?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let p = for_staff(&txn, actor, Action::ParticipantUpdate, study_id, true).await?;
    let existing = store::participants::lesions(&txn, p.id).await?;
    let labels = check_labels(app, &p.language, &labels, &existing)?;
    let active = input.active.unwrap_or(true);
    let row = LesionRow {
        id: Uuid::new_v4(),
        participant_id: p.id,
        location,
        side: side.map(|s| {
            if s == lesions::Side::Left {
                "left".into()
            } else {
                "right".into()
            }
        }),
        labels: crate::store::Json(labels.clone()),
        detail: input
            .detail
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty()),
        high_risk_reasons: crate::store::Json(reasons.clone()),
        irradiation_date: irradiation,
        registered_on: today(app),
        active,
        created_at: now,
    };
    let mut after = existing.clone();
    after.push(row.clone());
    within_limits(app, &txn, &p, &existing, &after).await?;
    store::participants::insert_lesion(&txn, row.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "lesion.added", "lesion")
            .entity(row.id)
            .after(json!({ "participant": p.study_id, "lesion": lesion_json(&row), "facts": audit::row_facts(&txn, "lesion", row.id).await? })),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

pub async fn lesions(app: &App, actor: &StaffActor, study_id: &str) -> Result<Vec<LesionRow>> {
    let p = for_staff(&app.db, actor, Action::ParticipantRead, study_id, false).await?;
    Ok(store::participants::lesions(&app.db, p.id).await?)
}

pub async fn update_lesion(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    lesion_id: &str,
    input: LesionInput,
    reason: Option<String>,
) -> Result<LesionRow> {
    auth::authorize(actor, Action::ParticipantUpdate, None)?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let p = for_staff(&txn, actor, Action::ParticipantUpdate, study_id, true).await?;
    let all = store::participants::lesions(&txn, p.id).await?;
    let before = all
        .iter()
        .find(|l| l.id.to_string() == lesion_id)
        .cloned()
        .ok_or_else(|| Error::Unknown {
            code: Code::UnknownLesion,
            message: format!("participant {study_id} has no lesion {lesion_id:?}"),
        })?;
    let mut after = before.clone();
    if input.location.is_some() || input.side.is_some() || input.high_risk_reasons.is_some() {
        let location = input.location.clone().unwrap_or(before.location.clone());
        let side = input.side.clone().or(before.side.clone());
        let reasons = input
            .high_risk_reasons
            .clone()
            .unwrap_or_else(|| before.high_risk_reasons.0.clone());
        let side = lesions::check(&app.study, &location, side.as_deref(), &reasons)
            .map_err(|(f, p)| Error::invalid(f, p))?;
        after.location = location;
        after.side = side.map(|s| {
            if s == lesions::Side::Left {
                "left".into()
            } else {
                "right".into()
            }
        });
        after.high_risk_reasons = crate::store::Json(reasons.clone());
    }
    if let Some(labels) = &input.labels {
        let others: Vec<LesionRow> = all.iter().filter(|l| l.id != before.id).cloned().collect();
        let labels = check_labels(app, &p.language, labels, &others)?;
        after.labels = crate::store::Json(labels);
    }
    if let Some(d) = input.detail {
        after.detail = Some(d.trim().to_string()).filter(|d| !d.is_empty());
    }
    if let Some(d) = input.irradiation_date {
        after.irradiation_date = Some(parse_date("irradiation_date", &d)?);
    }
    if let Some(active) = input.active {
        after.active = active;
    }
    if after == before {
        return Ok(before);
    }
    let reason = reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if reason.is_none()
        && lesions::move_needs_reason(
            (&before.location, before.side.as_deref()),
            (&after.location, after.side.as_deref()),
            store::participants::lesion_has_answers(&txn, before.id).await?,
        )
    {
        // The lesion has answers: moving it to another location or side needs a reason.
        return Err(Error::invalid("reason", Problem::ReasonRequired));
    }
    let changed: Vec<LesionRow> = all
        .iter()
        .map(|l| {
            if l.id == after.id {
                after.clone()
            } else {
                l.clone()
            }
        })
        .collect();
    within_limits(app, &txn, &p, &all, &changed).await?;
    store::participants::update_lesion(&txn, after.clone()).await?;
    let mut described = lesion_json(&after);
    described["facts"] = audit::row_facts(&txn, "lesion", after.id).await?;
    let mut entry = Entry::new(actor.audit_actor(), "lesion.updated", "lesion")
        .entity(before.id)
        .before(lesion_json(&before))
        .after(described);
    if let Some(r) = reason {
        entry = entry.reason(r);
    }
    audit::record(&txn, &app.keys.audit, now, entry).await?;
    txn.commit().await?;
    Ok(after)
}

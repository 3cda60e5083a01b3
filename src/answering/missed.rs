//! A visit recorded as missed, with its reason (a `MissedReason` code, and text for `other`).

use crate::domain::problem::Problem;
use serde_json::json;

use crate::{
    app::App,
    audit::{self, Entry},
    domain::{answering::MissedReason, schedule::VisitState},
    error::{Code, Error, Result},
    participants::{self},
    store::{self},
};

/// What staff record about a visit (or one questionnaire of it) that was not done.
pub struct Missed {
    pub visit: String,
    /// `key` or `key@version`; none: the whole visit.
    pub questionnaire: Option<String>,
    /// A `MissedReason` code.
    pub reason: String,
    /// Required with `other`.
    pub text: Option<String>,
}

/// Record why a visit, or one of its questionnaires, was not done (site staff). A whole visit
/// becomes `missed` (or `partial`, when some questionnaires came in), stored; a single
/// questionnaire is counted missed with its reason (CONSORT-PRO, per instrument) and the visit
/// keeps its course.
pub async fn record_missed(
    app: &App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
    m: Missed,
) -> Result<()> {
    let p = participants::for_staff(
        &app.db,
        actor,
        crate::domain::permissions::Action::ResponseEnter,
        study_id,
        false,
    )
    .await?;
    let visit = m.visit.as_str();
    let Some(code) = MissedReason::parse(&m.reason) else {
        return Err(Error::invalid(
            "reason",
            Problem::NotOneOf {
                given: m.reason.clone(),
                allowed: MissedReason::list().split(", ").map(String::from).collect(),
            },
        ));
    };
    let text = m
        .text
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    if code == MissedReason::Other && text.is_none() {
        return Err(Error::invalid("text", Problem::OtherReasonText));
    }
    let now = app.clock.now();
    let views = participants::current_views(&app.db, app, &p, now).await?;
    let view = views
        .iter()
        .find(|v| v.code == visit)
        .ok_or_else(|| Error::Unknown {
            code: Code::UnknownVisit,
            message: format!("{study_id} has no visit {visit:?}"),
        })?;
    if matches!(
        view.state,
        VisitState::Completed
            | VisitState::NotApplicable
            | VisitState::NotExpected
            | VisitState::Upcoming
    ) {
        return Err(Error::Conflict {
            code: Code::VisitNotMissable,
            message: format!("visit {visit} is {}", view.state.as_str()),
        });
    }
    let label = match &text {
        Some(t) => format!("{}: {t}", code.as_str()),
        None => code.as_str().to_string(),
    };
    let responses = store::responses::of_participant(&app.db, p.id).await?;
    let submitted = participants::submitted_for(&responses, visit, app.study.time_zone);
    let form = m
        .questionnaire
        .as_deref()
        .map(|q| due_form(view, q, &submitted))
        .transpose()?;
    let txn = store::begin_write(&app.db).await?;
    let visits = store::participants::visits(&txn, p.id).await?;
    let Some(before) = visits.into_iter().find(|v| v.code == visit) else {
        return Err(Error::Unknown {
            code: Code::UnknownVisit,
            message: format!("{study_id} has no visit {visit:?}"),
        });
    };
    let mut after = before.clone();
    let action = match &form {
        Some(q) => {
            after.missed_forms.0.insert(q.clone(), label.clone());
            "form.missed"
        }
        None => {
            after.missed_reason = Some(label.clone());
            after.final_state = Some(if submitted.is_empty() {
                VisitState::Missed
            } else {
                VisitState::Partial
            });
            "visit.missed"
        }
    };
    store::participants::update_visit(&txn, after.clone()).await?;
    let facts = audit::row_facts(&txn, "visit", after.id).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), action, "visit")
            .entity(format!("{study_id}/{visit}"))
            .before(json!({ "final_state": before.final_state, "missed_reason": before.missed_reason, "missed_forms": before.missed_forms.0 }))
            .after(json!({ "final_state": after.final_state, "missed_reason": after.missed_reason, "missed_forms": after.missed_forms.0, "facts": facts })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The `key@version` of a questionnaire due at the visit and not submitted.
fn due_form(
    view: &participants::VisitView,
    q: &str,
    submitted: &[(String, chrono::DateTime<chrono::Utc>)],
) -> Result<String> {
    let q = q.trim();
    let found = view
        .questionnaires
        .iter()
        .find(|d| *d == q || d.split('@').next() == Some(q))
        .ok_or_else(|| {
            Error::invalid(
                "questionnaire",
                Problem::NotDueAtVisit {
                    questionnaire: q.to_string(),
                    visit: view.code.clone(),
                },
            )
        })?;
    if submitted.iter().any(|(k, _)| k == found) {
        return Err(Error::Conflict {
            code: Code::VisitNotMissable,
            message: format!("{found} was received at visit {}", view.code),
        });
    }
    Ok(found.clone())
}

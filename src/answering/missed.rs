//! A visit recorded as missed, with its reason (a `MissedReason` code, and text for `other`).

use serde_json::json;

use crate::{
    app::App,
    audit::{self, Entry},
    domain::{answering::MissedReason, schedule::VisitState},
    error::{Code, Error, Result},
    participants::{self},
    store::{self},
};

/// Record why a visit was missed (site staff); the visit becomes `missed`, stored.
pub async fn record_missed(
    app: &App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
    visit: &str,
    reason: &str,
    text: Option<String>,
) -> Result<()> {
    let p = participants::for_staff(
        &app.db,
        actor,
        crate::domain::permissions::Action::ResponseEnter,
        study_id,
        false,
    )
    .await?;
    let Some(code) = MissedReason::parse(reason) else {
        return Err(Error::invalid(
            "reason",
            format!("{reason:?} is not one of {}", MissedReason::list()),
        ));
    };
    let text = text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    if code == MissedReason::Other && text.is_none() {
        return Err(Error::invalid("text", "say what the other reason is"));
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
        VisitState::Completed | VisitState::NotApplicable | VisitState::Upcoming
    ) {
        return Err(Error::Conflict {
            code: Code::VisitNotMissable,
            message: format!("visit {visit} is {}", view.state.as_str()),
        });
    }
    let label = match &text {
        Some(t) => format!("{reason}: {t}"),
        None => reason.to_string(),
    };
    let txn = store::begin_write(&app.db).await?;
    let visits = store::participants::visits(&txn, p.id).await?;
    let Some(before) = visits.into_iter().find(|v| v.code == visit) else {
        return Err(Error::Unknown {
            code: Code::UnknownVisit,
            message: format!("{study_id} has no visit {visit:?}"),
        });
    };
    let mut after = before.clone();
    after.missed_reason = Some(label.clone());
    after.final_state = Some(VisitState::Missed);
    store::participants::update_visit(&txn, after).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "visit.missed", "visit")
            .entity(format!("{study_id}/{visit}"))
            .before(
                json!({ "final_state": before.final_state, "missed_reason": before.missed_reason }),
            )
            .after(json!({ "final_state": "missed", "missed_reason": label })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

//! The staff outbox: reminders on the actor's sites, one participant's reminders, and sending
//! one again (audited).

use serde_json::json;
use uuid::Uuid;

use crate::{
    app::App,
    audit::{self, Entry},
    domain::reminders::ReminderStatus,
    error::{Code, Error, Result},
    participants,
    store::{self, reminders::ReminderRow},
};

/// A reminder as staff see it.
pub struct ReminderView {
    pub row: ReminderRow,
    pub study_id: String,
    pub site: String,
}

/// Reminders on the actor's sites, optionally of one site and one status.
pub async fn list(
    app: &App,
    actor: &crate::auth::StaffActor,
    site: Option<String>,
    status: Option<String>,
) -> Result<Vec<ReminderView>> {
    use crate::domain::permissions::Action;
    crate::auth::authorize(actor, Action::ResponseRead, None)?;
    let sites = crate::auth::site_scope(actor, site);
    let mut out = Vec::new();
    for p in store::participants::list(&app.db, sites.as_deref()).await? {
        for row in store::reminders::of_participant(&app.db, p.id).await? {
            if status
                .as_deref()
                .is_none_or(|s| ReminderStatus::parse(s) == Some(row.status))
            {
                out.push(ReminderView {
                    row,
                    study_id: p.study_id.clone(),
                    site: p.site_code.clone(),
                });
            }
        }
    }
    Ok(out)
}

pub async fn of_participant(
    app: &App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
) -> Result<Vec<ReminderView>> {
    let p = participants::for_staff(
        &app.db,
        actor,
        crate::domain::permissions::Action::ResponseRead,
        study_id,
        false,
    )
    .await?;
    Ok(store::reminders::of_participant(&app.db, p.id)
        .await?
        .into_iter()
        .map(|row| ReminderView {
            row,
            study_id: p.study_id.clone(),
            site: p.site_code.clone(),
        })
        .collect())
}

/// Send a failed, skipped or cancelled reminder again (site staff; audited). It still goes
/// through the re-check before sending.
pub async fn resend(app: &App, actor: &crate::auth::StaffActor, id: &str) -> Result<ReminderView> {
    use crate::domain::permissions::Action;
    crate::auth::authorize(actor, Action::ResponseEnter, None)?;
    let unknown = || Error::Unknown {
        code: Code::UnknownReminder,
        message: format!("no reminder {id:?} on your sites"),
    };
    let uuid: Uuid = id.parse().map_err(|_| unknown())?;
    let mut row = store::reminders::find(&app.db, uuid)
        .await?
        .ok_or_else(unknown)?;
    let p = store::participants::find_by_id(&app.db, row.participant_id)
        .await?
        .ok_or_else(unknown)?;
    participants::for_staff(&app.db, actor, Action::ResponseEnter, &p.study_id, false)
        .await
        .map_err(|_| unknown())?;
    if !matches!(row.status.as_str(), "failed" | "skipped" | "cancelled") {
        return Err(Error::Conflict {
            code: Code::NotResendable,
            message: format!("a {} reminder is not sent again", row.status),
        });
    }
    let now = app.clock.now();
    let before = row.status;
    row.status = ReminderStatus::Pending;
    row.attempts = 0;
    row.next_attempt_at = now;
    row.reason = Some("resend requested by site staff".into());
    let txn = store::begin_write(&app.db).await?;
    store::reminders::update(&txn, row.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "reminder.resend", "reminder")
            .entity(row.id)
            .before(json!({ "status": before }))
            .after(json!({ "status": "pending" })),
    )
    .await?;
    txn.commit().await?;
    Ok(ReminderView {
        row,
        study_id: p.study_id,
        site: p.site_code,
    })
}

//! Email reminders: planning due reminders into the outbox (once per participant, visit and
//! kind), and sending them — claim, re-check just before sending, send with a per-reminder link,
//! record the outcome, retry failures with backoff. A row is marked `sending` before the SMTP
//! conversation and `sent` after it, so a crash in between can at most repeat that one message
//! (docs/reminders.md).

pub(crate) mod digest;
mod outbox;
mod plan;
mod send;

pub use outbox::{ReminderView, list, of_participant, resend};
pub use plan::{Planned, decisions, plan};
pub use send::{delivery_report, send_due};

use crate::{app::App, error::Result, notify::mail::Mail};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub planned: usize,
    pub skipped: usize,
    pub sent: usize,
    pub postponed: usize,
    pub cancelled: usize,
    pub retrying: usize,
    pub failed: usize,
    pub digests: usize,
    /// Participants the planning pass looked at (their mark had passed or was cleared).
    pub examined: usize,
}

/// Plan, then send, at the clock's now (the reminders job of each tick).
pub async fn plan_and_send(app: &App, mail: &Mail) -> Result<Report> {
    let now = app.clock.now();
    let planned = plan(app, now).await?;
    let sent = send_due(app, mail, now).await?;
    Ok(Report {
        planned: planned.planned,
        skipped: planned.skipped + sent.skipped,
        examined: planned.examined,
        ..sent
    })
}

/// One full pass, as `epro reminders run` does it: plan, send, then the digests due.
pub async fn run_once(app: &App, mail: &Mail) -> Result<Report> {
    let report = plan_and_send(app, mail).await?;
    let digests = crate::reminders::digest::send_due(app, mail, app.clock.now()).await?;
    Ok(Report { digests, ..report })
}

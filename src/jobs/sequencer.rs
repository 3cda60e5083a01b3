//! The audit sequencer's loop (#29.2): inside `epro serve` on PostgreSQL, a pass every
//! `EPRO_AUDIT_SEQUENCE_INTERVAL_MS` numbers and chains the audit events committed since the last
//! (`audit::sequence`). Every instance runs it; one pass runs at a time across instances, so an
//! instance that dies is replaced at the next tick of any other. It never waits for another
//! instance's pass. SQLite numbers events as they are written and needs no loop.

use std::sync::Arc;

use crate::{app::App, audit, error::Result};

/// One pass. The loop does not `wait` for another instance's pass (that one numbers these
/// events); a reader that needs every committed event sequenced (an export of the trail) does.
pub async fn pass(app: &App, wait: bool) -> Result<audit::Sequenced> {
    let retired = audit::retired_keys(&app.settings)?;
    audit::sequence(&app.db, &app.keys.audit, &retired, app.clock.now(), wait).await
}

/// Whether this process runs the loop: on PostgreSQL, with a non-zero interval.
pub fn runs(app: &App) -> bool {
    app.settings.audit_sequence_interval_ms > 0 && crate::store::is_postgres(&app.db)
}

/// A pass every interval until the process stops; a failed pass is logged and the next one
/// tries again (the unsequenced-age metric and /readyz show a sequencer that keeps failing).
pub async fn run(app: Arc<App>) {
    let every = std::time::Duration::from_millis(app.settings.audit_sequence_interval_ms.max(1));
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(e) = pass(&app, false).await {
            tracing::error!(error = %e, "audit sequencing failed");
        }
    }
}

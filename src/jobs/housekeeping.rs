//! Housekeeping: forget what has no use any more — expired sessions and login failures older
//! than any throttling window. Runs with the reminder worker; never touches trial data.

use chrono::Duration;

use crate::{app::App, error::Result, store};

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub failures: u64,
    pub staff_sessions: u64,
    pub participant_sessions: u64,
}

pub async fn sweep(app: &App) -> Result<Swept> {
    let now = app.clock.now();
    Ok(Swept {
        failures: store::throttle::prune(&app.db, now - Duration::days(1)).await?,
        staff_sessions: store::staff::delete_expired_sessions(&app.db, now).await?,
        participant_sessions: store::access::delete_expired_sessions(&app.db, now).await?,
    })
}

//! The periodic work inside `epro serve`, on one tick (`EPRO_JOBS_INTERVAL_SECONDS`): reminder
//! planning and sending, the sites' daily digests, housekeeping, and FHIR Subscription
//! notifications. Each can be switched off on its own (`EPRO_JOBS_REMINDERS`,
//! `EPRO_JOBS_DIGESTS`, `EPRO_JOBS_HOUSEKEEPING`, `EPRO_JOBS_WEBHOOKS`); one failing
//! never stops the others. Every job is safe to run from several instances at once.

pub mod housekeeping;
pub mod sequencer;

use std::sync::Arc;

use crate::{app::App, notify::mail::Mail};

/// What one tick did, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tick {
    pub reminders: Option<crate::reminders::Report>,
    pub digests: Option<usize>,
    pub housekeeping: Option<crate::jobs::housekeeping::Swept>,
    /// The size of the audit checkpoint signed, when one was.
    pub checkpoint: Option<u64>,
    /// FHIR Subscription notifications (#26.3).
    pub webhooks: Option<crate::fhir::subscriptions::Report>,
}

/// Run each switched-on job once. Errors are logged, not returned: the next tick tries again.
pub async fn tick(app: &App, mail: &Mail) -> Tick {
    let s = &app.settings;
    let mut done = Tick::default();
    // Another instance registered another study file: this one's rules are not the study's.
    if let Err(e) = crate::study::still_current(&app.db, &app.study).await {
        tracing::error!(error = %e, "periodic jobs skipped");
        return done;
    }
    if s.jobs_housekeeping {
        match timed("housekeeping", crate::jobs::housekeeping::sweep(app)).await {
            Ok(swept) => done.housekeeping = Some(swept),
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
    }
    // Sign a checkpoint of the audit log when it grew (#29.3); several instances may race to
    // sign the same size, which stores one. It covers sequenced events only: number those
    // committed so far first (#29.2).
    if let Some(seed) = &app.keys.checkpoint {
        if let Err(e) = crate::jobs::sequencer::pass(app, false).await {
            tracing::error!(error = %e, "audit sequencing failed");
        }
        match timed(
            "checkpoint",
            crate::audit::checkpoint(&app.db, seed, app.clock.now()),
        )
        .await
        {
            Ok(size) => done.checkpoint = size,
            Err(e) => tracing::error!(error = %e, "audit checkpoint failed"),
        }
    }
    if s.jobs_reminders {
        match timed("reminders", crate::reminders::plan_and_send(app, mail)).await {
            Ok(r) => {
                if r != crate::reminders::Report::default() {
                    tracing::info!(
                        planned = r.planned,
                        sent = r.sent,
                        retrying = r.retrying,
                        failed = r.failed,
                        cancelled = r.cancelled,
                        "reminders"
                    );
                }
                done.reminders = Some(r);
            }
            Err(e) => tracing::error!(error = %e, "reminder run failed"),
        }
    }
    if s.jobs_digests {
        match timed(
            "digests",
            crate::reminders::digest::send_due(app, mail, app.clock.now()),
        )
        .await
        {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(sent = n, "digests");
                }
                done.digests = Some(n);
            }
            Err(e) => tracing::error!(error = %e, "digest run failed"),
        }
    }
    if s.jobs_webhooks {
        match timed("webhooks", crate::fhir::subscriptions::deliver_due(app)).await {
            Ok(r) => done.webhooks = Some(r),
            Err(e) => tracing::error!(error = %e, "FHIR notification run failed"),
        }
    }
    done
}

/// Run one job, recording its run time and whether it failed (metrics).
async fn timed<T, E>(
    job: &'static str,
    run: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = std::time::Instant::now();
    let result = run.await;
    crate::telemetry::metrics::job_ran(job, started.elapsed().as_secs_f64(), result.is_ok());
    result
}

/// The jobs' loop: a tick every interval until the process stops.
pub async fn run(app: Arc<App>, mail: Mail) {
    let every = std::time::Duration::from_secs(app.settings.jobs_interval_seconds.max(1));
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        tick(&app, &mail).await;
    }
}

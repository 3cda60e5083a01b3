//! Admission for guessable secrets (staff passwords, participant PINs). Before a secret is
//! checked, one write transaction decides whether the attempt may go ahead and records it as a
//! failure in advance, under a lock per counted key, so concurrent attempts all count: a burst
//! of 40 guesses gets at most `max_failures` checks. A success (or an attempt that could not be
//! checked) takes its records back. The rule is `domain::throttle`; the rows live in `store`.

use chrono::{DateTime, Utc};

use crate::{
    app::App,
    domain::throttle::Limit,
    error::{Error, Result},
    store::{self, Db},
};

/// An attempt that was let through: the records made for it, by scope.
#[derive(Debug)]
#[must_use = "an admitted attempt must end in succeeded(), failed() or release()"]
pub struct Attempt {
    records: Vec<(&'static str, String, i64)>,
}

/// Admit one attempt counted against each `(limit, key)`, or refuse it (`Throttled`, with the
/// longest wait among the limits reached).
pub async fn admit(app: &App, keys: &[(Limit, String)], now: DateTime<Utc>) -> Result<Attempt> {
    let txn = store::begin_write(&app.db).await?;
    let names: Vec<(&str, &str)> = keys.iter().map(|(l, k)| (l.scope, k.as_str())).collect();
    store::throttle::lock_keys(&txn, &names).await?;
    let mut wait = None;
    for (limit, key) in keys {
        let since = limit.policy.window_start(now);
        let failures = store::throttle::failures_since(&txn, limit.scope, key, since).await?;
        let locked = limit.policy.locked_for(&failures, now);
        if locked.is_some() {
            crate::telemetry::metrics::throttled(limit.scope);
        }
        wait = wait.max(locked);
    }
    if let Some(wait) = wait {
        return Err(Error::Throttled {
            retry_after_secs: wait.num_seconds().max(1),
        });
    }
    let mut records = Vec::with_capacity(keys.len());
    for (limit, key) in keys {
        let id = store::throttle::record_failure(&txn, limit.scope, key, now).await?;
        records.push((limit.scope, key.clone(), id));
    }
    txn.commit().await?;
    Ok(Attempt { records })
}

impl Attempt {
    /// The secret was right: take back this attempt's records, and forget every earlier
    /// failure of the keys in the scopes `forgive` (e.g. the account from this address).
    pub async fn succeeded<C: sea_orm::ConnectionTrait>(
        self,
        db: &C,
        forgive: &[Limit],
    ) -> Result<()> {
        let ids: Vec<i64> = self.records.iter().map(|(_, _, id)| *id).collect();
        store::throttle::delete_ids(db, &ids).await?;
        for (scope, key, _) in &self.records {
            if forgive.iter().any(|l| l.scope == *scope) {
                store::throttle::clear(db, scope, key).await?;
            }
        }
        Ok(())
    }

    /// The secret was wrong: the records stay as the failures they were made as.
    pub fn failed(self) {}

    /// The secret could not be checked (e.g. the server was busy): the attempt does not count.
    pub async fn release(self, db: &Db) {
        let ids: Vec<i64> = self.records.iter().map(|(_, _, id)| *id).collect();
        if let Err(e) = store::throttle::delete_ids(db, &ids).await {
            tracing::warn!(error = %e, "could not release a throttle reservation");
        }
    }
}

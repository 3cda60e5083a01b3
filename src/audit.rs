//! The one audit writer and the chain verifier. Every change is recorded here, inside the
//! transaction that makes it, after taking the chain head's lock; nothing else writes audit rows.
//! Personal data (emails, phones, names) never goes in: name the field that changed instead.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::DatabaseTransaction;
use serde_json::Value;

use crate::{
    domain::audit::{self as rule, Actor, Broken, EventContent, StoredEvent, Verifier},
    error::{Error, Result},
    keys::Key,
    store::{self, Db},
};

/// One change to record.
#[derive(Debug, Clone)]
pub struct Entry {
    pub actor: Actor,
    pub action: &'static str,
    pub entity_type: &'static str,
    pub entity_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub reason: Option<String>,
}

impl Entry {
    pub fn new(actor: Actor, action: &'static str, entity_type: &'static str) -> Self {
        Self {
            actor,
            action,
            entity_type,
            entity_id: None,
            before: None,
            after: None,
            reason: None,
        }
    }
    pub fn entity(mut self, id: impl ToString) -> Self {
        self.entity_id = Some(id.to_string());
        self
    }
    pub fn before(mut self, v: Value) -> Self {
        self.before = Some(v);
        self
    }
    pub fn after(mut self, v: Value) -> Self {
        self.after = Some(v);
        self
    }
    /// The reason, when one was given (blank reasons are not recorded).
    pub fn reason(mut self, r: impl Into<String>) -> Self {
        let r = r.into();
        if !r.trim().is_empty() {
            self.reason = Some(r);
        }
        self
    }
}

/// The instant as stored and hashed: RFC 3339 UTC with microseconds.
pub fn format_at(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Append `entry` to the chain inside `txn`. Returns its sequence number.
pub async fn record(
    txn: &DatabaseTransaction,
    key: &Key,
    at: DateTime<Utc>,
    entry: Entry,
) -> Result<i64> {
    let canonical = |v: Option<Value>| -> Result<Option<String>> {
        v.map(|v| rule::canonical_json(&v).map_err(|e| Error::Internal(e.to_string())))
            .transpose()
    };
    let (head_seq, head_hash) = store::audit::lock_head(txn).await?;
    let content = EventContent {
        seq: head_seq + 1,
        at: format_at(at),
        actor_kind: entry.actor.kind.as_str().to_string(),
        actor_id: entry.actor.id,
        action: entry.action.to_string(),
        entity_type: entry.entity_type.to_string(),
        entity_id: entry.entity_id,
        before: canonical(entry.before)?,
        after: canonical(entry.after)?,
        reason: entry.reason,
    };
    let hash = rule::chain_hash(key.bytes(), &head_hash, &content)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let seq = content.seq;
    store::audit::append(
        txn,
        &StoredEvent {
            content,
            prev_hash: head_hash,
            hash,
        },
    )
    .await?;
    Ok(seq)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact { events: i64 },
    Broken(Broken),
}

/// Check the whole chain, page by page, against the key.
pub async fn verify(db: &Db, key: &Key) -> Result<Verdict> {
    verify_with_history(db, &[], key).await
}

/// Verify a chain that was handed over from `retired` keys (oldest first) to `key`.
pub async fn verify_with_history(db: &Db, retired: &[Key], key: &Key) -> Result<Verdict> {
    const PAGE: u64 = 1000;
    let retired: Vec<&[u8]> = retired.iter().map(|k| k.bytes().as_slice()).collect();
    let mut verifier = Verifier::with_history(&retired, key.bytes());
    let mut after = 0;
    loop {
        let page = store::audit::page(db, after, PAGE).await?;
        for event in &page {
            if let Err(broken) = verifier.check(event) {
                return Ok(Verdict::Broken(broken));
            }
        }
        match page.last() {
            Some(last) => after = last.content.seq,
            None => break,
        }
    }
    let (head_seq, head_hash) = store::audit::head(db).await?;
    Ok(match verifier.finish(head_seq, &head_hash) {
        Ok(events) => Verdict::Intact { events },
        Err(broken) => Verdict::Broken(broken),
    })
}

/// The current head (sequence number and hash), for external anchoring.
pub async fn head(db: &Db) -> Result<(i64, String)> {
    Ok(store::audit::head(db).await?)
}

/// Hand the chain over to a new key: one event, hashed with the current key, names the new
/// key's fingerprint. Every later event must be hashed with the new key (restart the servers
/// with EPRO_AUDIT_KEY = the new key, and keep the old one in EPRO_AUDIT_KEYS_RETIRED to verify).
pub async fn rotate_key(
    db: &Db,
    current: &Key,
    new: &Key,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    use crate::domain::audit::{Actor, KEY_ROTATED, key_fingerprint};
    let txn = store::begin_write(db).await?;
    record(
        &txn,
        current,
        at,
        Entry::new(Actor::system(), KEY_ROTATED, "deployment").after(serde_json::json!({
            "old_key": key_fingerprint(current.bytes()),
            "new_key": key_fingerprint(new.bytes()),
        })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

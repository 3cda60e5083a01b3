//! The one audit writer and the chain verifier. Every change is recorded here, inside the
//! transaction that makes it, after taking the chain head's lock; nothing else writes audit rows.
//! Personal data (emails, phones, names) never goes in: name the field that changed instead.

use chrono::{DateTime, Utc};
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

pub use crate::domain::audit::format_at;

/// What an event about a response records as `facts`: its stored columns, answers and scores
/// as read back inside `txn` (`domain::audit::facts_binding`), so that `verify_responses`
/// names any of them edited later in the database.
pub async fn response_facts(txn: &DatabaseTransaction, response: uuid::Uuid) -> Result<Value> {
    let facts = store::responses::facts(txn, response)
        .await?
        .ok_or_else(|| {
            Error::Internal(format!("response {response} vanished in its transaction"))
        })?;
    Ok(rule::facts_binding(&facts))
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

/// What the stored responses say against the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponsesVerdict {
    /// Every submitted response matches what its latest event recorded: `checked` against all
    /// their facts (`facts`), `answers_only` against the answer digest recorded before facts
    /// were (`answers_sha256`), `unbound` submitted before either was recorded (covered by the
    /// chain's own events only).
    Match {
        checked: usize,
        answers_only: usize,
        unbound: usize,
    },
    /// The first response that differs, and how (naming the columns).
    Differs { response: String, problem: String },
}

/// What the latest event about a response binds of it.
enum Binding {
    Facts(Value),
    Answers(String),
    Nothing,
}

/// Re-check every submitted response's stored columns, answers and scores against the `facts`
/// its latest `response.submitted`, `response.amended` or `score.recomputed` event recorded
/// (older events: the answers against `answers_sha256`), and that every submitted response has
/// a submission event. Run after the chain itself verified (`verify`), so the events can be
/// trusted. The entry point `epro audit verify` and the restore check call.
pub async fn verify_responses(db: &Db) -> Result<ResponsesVerdict> {
    use std::collections::HashMap;
    const PAGE: u64 = 1000;
    // response id → (seq of the binding event, what it binds)
    let mut recorded: HashMap<String, (i64, Binding)> = HashMap::new();
    let mut after = 0;
    loop {
        let page = store::audit::page(db, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.content.seq;
        for e in page {
            let c = e.content;
            let submission = matches!(c.action.as_str(), "response.submitted" | "response.amended");
            if !submission && c.action != "score.recomputed" {
                continue;
            }
            let Some(id) = c.entity_id else { continue };
            let body = c
                .after
                .as_deref()
                .and_then(|a| serde_json::from_str::<Value>(a).ok())
                .unwrap_or_default();
            let binding = if body["facts"].is_object() {
                Binding::Facts(body["facts"].clone())
            } else if let Some(d) = body["answers_sha256"].as_str() {
                Binding::Answers(d.to_string())
            } else {
                Binding::Nothing
            };
            if submission || (matches!(binding, Binding::Facts(_)) && recorded.contains_key(&id)) {
                recorded.insert(id, (c.seq, binding));
            }
        }
    }
    let (mut checked, mut answers_only, mut unbound) = (0, 0, 0);
    for id in store::responses::submitted_ids(db).await? {
        let key = id.to_string();
        let differs = |problem: String| ResponsesVerdict::Differs {
            response: key.clone(),
            problem,
        };
        match recorded.remove(&key) {
            None => {
                return Ok(differs(
                    "is stored as submitted, but the audit trail has no submission for it".into(),
                ));
            }
            Some((_, Binding::Nothing)) => unbound += 1,
            Some((seq, Binding::Answers(digest))) => {
                let stored = store::responses::answer_facts(db, id).await?;
                if rule::answers_digest(&stored) != digest {
                    return Ok(differs(format!(
                        "its stored answers differ from those recorded by audit event {seq}"
                    )));
                }
                answers_only += 1;
            }
            Some((seq, Binding::Facts(facts))) => {
                let stored = store::responses::facts(db, id).await?.unwrap_or_default();
                let columns = rule::facts_differ(&facts, &stored);
                if !columns.is_empty() {
                    return Ok(differs(format!(
                        "its stored {} differ from what audit event {seq} recorded",
                        columns.join(", ")
                    )));
                }
                checked += 1;
            }
        }
    }
    // A submission in the audit trail whose response is no longer stored as submitted.
    if let Some((id, (seq, _))) = recorded.into_iter().min_by_key(|(_, (seq, _))| *seq) {
        return Ok(ResponsesVerdict::Differs {
            response: id,
            problem: format!(
                "was submitted (audit event {seq}) but is no longer stored as a submitted response"
            ),
        });
    }
    Ok(ResponsesVerdict::Match {
        checked,
        answers_only,
        unbound,
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

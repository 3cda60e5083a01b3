//! The one audit writer, the sequencer and the verifiers. Every change is recorded here, inside
//! the transaction that makes it (PostgreSQL: without any shared lock, numbered after commit by
//! `sequence`; SQLite: numbered at once); nothing else writes audit rows. Personal data (emails,
//! phones, names) never goes in: name the field that changed instead.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use serde_json::Value;

use crate::{
    domain::{
        audit::{self as rule, Actor, Broken, EventContent, StoredEvent, Verifier},
        ledger,
    },
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

/// What an event that writes a row of a bound table (`domain::audit::BOUND_TABLES`) records as
/// `facts`: the row as read back inside `txn` (`domain::audit::row_binding`), so that
/// `verify_rows` names a column edited later in the database.
pub async fn row_facts(
    txn: &DatabaseTransaction,
    table: &'static str,
    id: impl ToString,
) -> Result<Value> {
    let id = id.to_string();
    let row = store::facts::row(txn, table, &id)
        .await?
        .ok_or_else(|| Error::Internal(format!("{table} {id} vanished in its transaction")))?;
    Ok(rule::row_binding(&row))
}

/// Record `entry` inside `txn`, with the data it describes. On PostgreSQL the event is inserted
/// without a sequence number and without taking any shared lock (so writers commit in
/// parallel); the sequencer (`sequence`) numbers and chains it once committed. On SQLite (a
/// single writer) it is numbered and chained at once under the head's lock, as before.
pub async fn record(
    txn: &DatabaseTransaction,
    key: &Key,
    at: DateTime<Utc>,
    entry: Entry,
) -> Result<()> {
    let canonical = |v: Option<Value>| -> Result<Option<String>> {
        v.map(|v| rule::canonical_json(&v).map_err(|e| Error::Internal(e.to_string())))
            .transpose()
    };
    let mut content = EventContent {
        seq: 0,
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
    let internal = |e: rule::ChainError| Error::Internal(e.to_string());
    let content_hash = rule::content_hash(key.bytes(), &content).map_err(internal)?;
    if !store::audit::sequenced_on_write(txn) {
        store::audit::insert_unsequenced(txn, &content, &content_hash).await?;
        return Ok(());
    }
    let (head_seq, head_hash) = store::audit::lock_head(txn).await?;
    content.seq = head_seq + 1;
    let hash = rule::chain_hash(key.bytes(), &head_hash, &content).map_err(internal)?;
    let event = StoredEvent {
        content,
        prev_hash: head_hash,
        hash,
    };
    store::audit::append(txn, &event, &content_hash).await?;
    Ok(())
}

/// How many events one sequencing pass numbers at most (the next pass takes the rest).
const SEQUENCE_BATCH: u64 = 5000;

/// What one sequencing pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sequenced {
    /// Events numbered and chained.
    pub chained: usize,
    /// Row ids left unsequenced because their content does not match their content hash.
    pub refused: Vec<i64>,
    /// Another instance was sequencing (only when not waiting).
    pub busy: bool,
}

/// One sequencing pass (#29.2): number and chain, in one transaction, every committed event
/// not sequenced yet — in insertion order (docs/audit-ledger.md says why that respects commit
/// order between passes) — and move the head. One pass at a time across instances; with `wait`
/// false a pass that finds another running returns at once (`busy`), with `wait` true (a reader
/// that needs the whole log: exports, `epro audit verify` with the key) it waits for it.
/// `retired`: keys an instance not yet restarted after a key rotation may still write with.
pub async fn sequence(
    db: &Db,
    key: &Key,
    retired: &[Key],
    at: DateTime<Utc>,
    wait: bool,
) -> Result<Sequenced> {
    let Some(txn) = store::audit::begin_sequencing(db, wait).await? else {
        return Ok(Sequenced {
            busy: true,
            ..Sequenced::default()
        });
    };
    let pending = store::audit::unsequenced(&*txn, SEQUENCE_BATCH).await?;
    if pending.is_empty() {
        txn.rollback().await?;
        return Ok(Sequenced::default());
    }
    let head = store::audit::lock_head(&txn).await?;
    let retired: Vec<&[u8]> = retired.iter().map(|k| k.bytes().as_slice()).collect();
    let done = rule::sequence(key.bytes(), &retired, head, pending)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let sequenced_at = format_at(at);
    for (id, event) in &done.chained {
        store::audit::set_sequenced(&txn, *id, event, &sequenced_at).await?;
    }
    if let Some((_, last)) = done.chained.last() {
        store::audit::move_head(&txn, last.content.seq, &last.hash).await?;
    }
    txn.commit().await?;
    for id in &done.refused {
        tracing::error!(
            audit_event_id = id,
            "audit event left unsequenced: its content does not match its content hash \
             (edited or inserted in the database without the audit key)"
        );
    }
    Ok(Sequenced {
        chained: done.chained.len(),
        refused: done.refused,
        busy: false,
    })
}

/// Events waiting for a sequence number: how many, and the oldest one (row id, how long it has
/// waited at `now`, in whole seconds, never negative).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unsequenced {
    pub count: u64,
    pub oldest: Option<(i64, i64)>,
}

impl Unsequenced {
    /// Seconds the oldest unsequenced event has waited (0: none waits).
    pub fn oldest_seconds(&self) -> i64 {
        self.oldest.map_or(0, |(_, s)| s)
    }
}

pub async fn unsequenced(db: &Db, now: DateTime<Utc>) -> Result<Unsequenced> {
    let (count, oldest) = store::audit::unsequenced_figures(db).await?;
    let oldest = oldest.map(|(id, at)| {
        let waited = DateTime::parse_from_rfc3339(&at)
            .map(|t| (now - t.with_timezone(&Utc)).num_seconds().max(0))
            .unwrap_or(i64::MAX);
        (id, waited)
    });
    Ok(Unsequenced { count, oldest })
}

/// The retired audit keys (EPRO_AUDIT_KEYS_RETIRED, comma-separated hex), oldest first.
pub fn retired_keys(settings: &crate::config::Settings) -> Result<Vec<Key>> {
    settings
        .audit_keys_retired
        .as_ref()
        .map(|s| {
            s.expose()
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| Key::parse_hex("EPRO_AUDIT_KEYS_RETIRED", k))
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| Error::operator("EPRO_AUDIT_KEYS_RETIRED", e.to_string()))
        .map(Option::unwrap_or_default)
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
    // response id → (seq of the binding event, what it binds)
    let mut recorded: HashMap<String, (i64, Binding)> = HashMap::new();
    let bind = |c: EventContent| {
        let submission = matches!(c.action.as_str(), "response.submitted" | "response.amended");
        if !submission && c.action != "score.recomputed" {
            return;
        }
        let Some(id) = c.entity_id else { return };
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
    };
    each_event(db, bind).await?;
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

/// Every event's content in log order: the sequenced ones, then those committed but not
/// sequenced yet (their seq reads 0), which were committed after all of those numbered.
async fn each_event(db: &Db, mut f: impl FnMut(EventContent)) -> Result<()> {
    const PAGE: u64 = 1000;
    let mut after = 0;
    loop {
        let page = store::audit::page(db, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.content.seq;
        page.into_iter().for_each(|e| f(e.content));
    }
    for e in store::audit::unsequenced(db, i64::MAX as u64).await? {
        f(e.content);
    }
    Ok(())
}

/// The stored rows of the bound tables (participants…) against their audit events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowsVerdict {
    Match {
        /// Rows equal to the facts their latest binding event recorded.
        checked: usize,
        /// Per table, rows no event bound: written before this release recorded row facts.
        unbound: std::collections::BTreeMap<&'static str, usize>,
    },
    /// The first row that differs, and how (naming the columns).
    Differs {
        table: &'static str,
        id: String,
        problem: String,
    },
}

/// Re-check every stored row of `domain::audit::BOUND_TABLES` against the `facts` the latest
/// event that wrote it recorded (#29.5), naming the table, the row and the columns that differ;
/// a row bound by an event but no longer stored differs too (these rows are never deleted). A
/// row no event bound was written before row facts were recorded: counted, not a finding. Run
/// after the chain itself verified, so the events can be trusted.
pub async fn verify_rows(db: &Db) -> Result<RowsVerdict> {
    use std::collections::{BTreeMap, HashMap};
    let mut recorded: HashMap<(&'static str, String), (i64, Value)> = HashMap::new();
    each_event(db, |c| {
        // Most events bind no row: skip them before parsing.
        let Some(after) = c.after.as_deref().filter(|a| a.contains("\"facts\"")) else {
            return;
        };
        let Ok(mut body) = serde_json::from_str::<Value>(after) else {
            return;
        };
        let rows = match body["facts"].take() {
            Value::Array(rows) => rows,
            one => vec![one],
        };
        for facts in rows {
            if let Some(row) = rule::bound_row(&facts) {
                recorded.insert(row, (c.seq, facts));
            }
        }
    })
    .await?;
    let (mut checked, mut unbound) = (0, BTreeMap::new());
    for table in rule::BOUND_TABLES {
        for row in store::facts::rows(db, table).await? {
            let Some((seq, facts)) = recorded.remove(&(*table, row.id.clone())) else {
                *unbound.entry(*table).or_insert(0) += 1;
                continue;
            };
            let columns = rule::columns_differ(&facts, &rule::row_binding(&row));
            if !columns.is_empty() {
                return Ok(RowsVerdict::Differs {
                    table,
                    id: row.id,
                    problem: format!(
                        "its stored {} differ from what audit event {seq} recorded",
                        columns.join(", ")
                    ),
                });
            }
            checked += 1;
        }
    }
    if let Some(((table, id), (seq, _))) = recorded.into_iter().min_by_key(|(_, (seq, _))| *seq) {
        return Ok(RowsVerdict::Differs {
            table,
            id,
            problem: format!("was recorded by audit event {seq} but is no longer stored"),
        });
    }
    Ok(RowsVerdict::Match { checked, unbound })
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
    // The rotation event must be chained with the key it rotates away from: number it (and
    // what was committed before it) now, with the current key, before servers restart with the
    // new one (PostgreSQL; on SQLite it already is).
    sequence(db, current, &[], at, true).await?;
    Ok(())
}

/// The ledger leaf of one event: the RFC 8785 canonical JSON of its stored content (sequence
/// number included), hashed as an RFC 6962 leaf.
pub fn leaf(event: &StoredEvent) -> Result<ledger::Hash> {
    let text = rule::canonical_json(&event.content).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(ledger::leaf_hash(text.as_bytes()))
}

/// The stored checkpoints, smallest first, as signed.
pub async fn checkpoints(db: &Db) -> Result<Vec<(ledger::Signed, String)>> {
    store::audit::checkpoints(db)
        .await?
        .into_iter()
        .map(|c| {
            let root: ledger::Hash = hex::decode(&c.root)
                .ok()
                .and_then(|r| r.try_into().ok())
                .ok_or_else(|| Error::Internal(format!("checkpoint {} root is not hex", c.size)))?;
            let signed = ledger::Signed {
                checkpoint: ledger::Checkpoint {
                    size: c.size as u64,
                    root,
                    time: c.time,
                },
                signature: c.signature,
            };
            Ok((signed, c.public_key))
        })
        .collect()
}

/// Page through the gapless prefix of the log (seq 1, 2, …), feeding each leaf to `checker`.
/// Returns the number of events, or the first sequence number at fault and why.
async fn each_leaf(
    db: &Db,
    checker: &mut ledger::LogChecker,
) -> Result<std::result::Result<u64, (i64, String)>> {
    const PAGE: u64 = 1000;
    let mut after = 0;
    loop {
        let page = store::audit::page(db, after, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for event in &page {
            let seq = event.content.seq;
            if seq != after + 1 {
                return Ok(Err((
                    after + 1,
                    format!("sequence gap: expected event {}", after + 1),
                )));
            }
            if let Err(problem) = checker.push(leaf(event)?) {
                return Ok(Err((seq, problem.to_string())));
            }
            after = seq;
        }
    }
    Ok(Ok(after as u64))
}

/// The public keys that signed stored checkpoints (current and rotated out).
pub fn signers(stored: &[(ledger::Signed, String)]) -> Vec<ed25519_dalek::VerifyingKey> {
    let mut keys: Vec<&String> = stored.iter().map(|(_, k)| k).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| ledger::parse_public_key(k))
        .collect()
}

/// Sign a checkpoint of the log as it stands if it grew since the last one, after checking that
/// the log still matches every earlier checkpoint (never sign over a rewritten history).
/// Returns the new checkpoint's size, or `None` when there was nothing new to sign.
pub async fn checkpoint(db: &Db, seed: &Key, at: DateTime<Utc>) -> Result<Option<u64>> {
    let stored = checkpoints(db).await?;
    let last = stored.last().map_or(0, |(c, _)| c.checkpoint.size);
    let keys = signers(&stored);
    let refuse = |at: String, problem: String| {
        Error::Internal(format!(
            "not signing a checkpoint: audit log at {at}: {problem}"
        ))
    };
    let mut checker = ledger::LogChecker::new(stored.into_iter().map(|(c, _)| c).collect(), &keys)
        .map_err(|p| refuse("a stored checkpoint".into(), p.to_string()))?;
    if let Err((seq, problem)) = each_leaf(db, &mut checker).await? {
        return Err(refuse(seq.to_string(), problem));
    }
    let root = checker.root();
    let size = checker
        .finish()
        .map_err(|p| refuse("its end".into(), p.to_string()))?;
    if size <= last {
        return Ok(None);
    }
    let checkpoint = ledger::Checkpoint {
        size,
        root,
        time: format_at(at),
    };
    let signature = ledger::sign(&checkpoint, seed.bytes());
    let inserted = store::audit::insert_checkpoint(
        db,
        store::audit::CheckpointRow {
            size: size as i64,
            root: hex::encode(checkpoint.root),
            time: checkpoint.time,
            signature,
            public_key: ledger::public_key_hex(seed.bytes()),
        },
    )
    .await?;
    Ok(inserted.then_some(size))
}

/// What the log says against signed checkpoints, checked with public keys only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerVerdict {
    /// `events` in the log; the largest checkpoint covers the first `covered`.
    Intact {
        events: u64,
        covered: u64,
        checkpoints: usize,
    },
    /// The first problem, at an event (seq) or a checkpoint (its size).
    Broken { at: i64, problem: String },
}

/// Check the whole log against the stored checkpoints and `extra` ones (kept by an auditor from
/// earlier), trusting only `keys` (public keys: current and retired checkpoint keys). Needs no
/// secret. The entry point `epro audit verify --public-key` calls.
pub async fn verify_ledger(
    db: &Db,
    keys: &[ed25519_dalek::VerifyingKey],
    extra: Vec<ledger::Signed>,
) -> Result<LedgerVerdict> {
    let mut all: Vec<ledger::Signed> = checkpoints(db).await?.into_iter().map(|(c, _)| c).collect();
    all.extend(extra);
    let count = all.len();
    let covered = all.iter().map(|c| c.checkpoint.size).max().unwrap_or(0);
    let broken = |at: u64, problem: &ledger::LogProblem| LedgerVerdict::Broken {
        at: at as i64,
        problem: problem.to_string(),
    };
    let mut checker = match ledger::LogChecker::new(all, keys) {
        Ok(c) => c,
        Err(p) => {
            let at = match &p {
                ledger::LogProblem::BadSignature { size }
                | ledger::LogProblem::Fork { size }
                | ledger::LogProblem::RootMismatch { size }
                | ledger::LogProblem::Truncated { size, .. } => *size,
            };
            return Ok(broken(at, &p));
        }
    };
    match each_leaf(db, &mut checker).await? {
        Err((at, problem)) => Ok(LedgerVerdict::Broken { at, problem }),
        Ok(_) => match checker.finish() {
            Ok(events) => Ok(LedgerVerdict::Intact {
                events,
                covered,
                checkpoints: count,
            }),
            Err(p) => Ok(broken(covered, &p)),
        },
    }
}

/// One checkpoint as published (CLI and API): size, root (hex), time, public key (hex),
/// signature, and the whole signed note.
pub fn checkpoint_json(c: &ledger::Signed, public_key: &str) -> Value {
    serde_json::json!({
        "size": c.checkpoint.size,
        "root": hex::encode(c.checkpoint.root),
        "time": c.checkpoint.time,
        "public_key": public_key,
        "signature": c.signature,
        "note": ledger::signed_note(&c.checkpoint, &c.signature),
    })
}

/// Write `proof.json` into `dir`: every audit event about participant `study_id` (its own
/// events, those it did, and those about its responses) with its inclusion proof in the latest
/// checkpoint, and a consistency proof from the first checkpoint to the latest. Returns how
/// many events were proven. docs/audit-ledger.md gives the procedure to check it offline.
pub async fn prove(db: &Db, study_id: &str, dir: &std::path::Path) -> Result<usize> {
    use std::collections::HashSet;
    const PAGE: u64 = 1000;
    let stored = checkpoints(db).await?;
    let (Some((first, first_key)), Some((last, last_key))) = (stored.first(), stored.last()) else {
        return Err(Error::operator(
            "checkpoints",
            "no signed checkpoint yet: run `epro audit checkpoint` (EPRO_CHECKPOINT_KEY) first",
        ));
    };
    let size = last.checkpoint.size;
    let mut leaves = Vec::new();
    let mut contents = Vec::new();
    let mut responses: HashSet<String> = HashSet::new();
    let mut after = 0;
    while (after as u64) < size {
        let page = store::audit::page(db, after, PAGE).await?;
        let Some(tail) = page.last() else { break };
        after = tail.content.seq;
        for e in page.iter().filter(|e| (e.content.seq as u64) <= size) {
            leaves.push(leaf(e)?);
            let c = &e.content;
            let body: Value = c
                .after
                .as_deref()
                .and_then(|a| serde_json::from_str(a).ok())
                .unwrap_or_default();
            let mine = (c.entity_type == "participant" && c.entity_id.as_deref() == Some(study_id))
                || c.actor_id.as_deref() == Some(study_id)
                || body["participant"].as_str() == Some(study_id)
                || (c.entity_type == "response"
                    && c.entity_id.as_ref().is_some_and(|r| responses.contains(r)));
            if mine {
                if c.entity_type == "response"
                    && let Some(r) = &c.entity_id
                {
                    responses.insert(r.clone());
                }
                let text = rule::canonical_json(c).map_err(|e| Error::Internal(e.to_string()))?;
                contents.push((c.seq, text));
            }
        }
    }
    if leaves.len() as u64 != size || ledger::root(&leaves) != last.checkpoint.root {
        return Err(Error::Internal(format!(
            "the log no longer matches its checkpoint of {size} events: run `epro audit verify`"
        )));
    }
    let events: Vec<Value> = contents
        .iter()
        .map(|(seq, text)| {
            let index = (*seq - 1) as usize;
            let path = ledger::inclusion_proof(index, &leaves).unwrap_or_default();
            serde_json::json!({
                "seq": seq,
                "leaf_index": index,
                "content": text,
                "inclusion_path": path.iter().map(hex::encode).collect::<Vec<_>>(),
            })
        })
        .collect();
    let consistency =
        ledger::consistency_proof(first.checkpoint.size as usize, &leaves).unwrap_or_default();
    let proof = serde_json::json!({
        "participant": study_id,
        "checkpoint": checkpoint_json(last, last_key),
        "events": events,
        "consistency": {
            "first": checkpoint_json(first, first_key),
            "second": checkpoint_json(last, last_key),
            "path": consistency.iter().map(hex::encode).collect::<Vec<_>>(),
        },
    });
    std::fs::create_dir_all(dir)
        .and_then(|_| {
            std::fs::write(
                dir.join("proof.json"),
                serde_json::to_string_pretty(&proof).unwrap_or_default(),
            )
        })
        .map_err(|e| Error::operator("--out", format!("cannot write {}: {e}", dir.display())))?;
    Ok(events.len())
}

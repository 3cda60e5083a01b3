//! The audit chain rule: what an event's canonical content is, how its hash chains to the
//! previous one, and how a stored chain is checked. Pure: storage and locking live in `audit`.
//!
//! hash(n) = hex(HMAC-SHA256(EPRO_AUDIT_KEY, hash(n-1) as hex text ‖ JCS(content(n)))),
//! with hash(0) = 64 zeros. JCS is RFC 8785, so both databases verify byte-identically, and
//! without the key nobody can recompute a chain after editing a row.

use std::collections::BTreeMap;

use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Staff,
    Participant,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Staff => "staff",
            ActorKind::Participant => "participant",
            ActorKind::System => "system",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    /// Staff user id or participant study id; none for the system.
    pub id: Option<String>,
}

impl Actor {
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
        }
    }
    pub fn staff(id: impl ToString) -> Self {
        Self {
            kind: ActorKind::Staff,
            id: Some(id.to_string()),
        }
    }
}

/// The stored values of one event, exactly as they are hashed. `before`/`after` are the stored
/// canonical JSON texts; `at` is RFC 3339 UTC with microseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventContent {
    pub seq: i64,
    pub at: String,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("cannot canonicalize audit content: {0}")]
    Canonical(String),
}

/// RFC 8785 canonical JSON of any serializable value.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<String, ChainError> {
    serde_jcs::to_string(value).map_err(|e| ChainError::Canonical(e.to_string()))
}

/// One stored answer as bound to the audit trail: what was answered, by whom and how.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct AnswerFacts {
    pub item: String,
    pub lesion: String,
    pub value: String,
    pub mode: super::answering::EntryMode,
    pub actor_kind: String,
    pub actor_id: String,
}

/// The digest of a response's stored answers (sha256 of their canonical JSON, in item and
/// lesion order) that its `response.submitted` and `response.amended` events record as
/// `answers_sha256`, so that `epro audit verify` notices an answer row edited in the database.
pub fn answers_digest(answers: &[AnswerFacts]) -> String {
    let mut sorted: Vec<&AnswerFacts> = answers.iter().collect();
    sorted.sort();
    // Serializing plain strings cannot fail.
    let text = canonical_json(&sorted).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The instant as stored and hashed: RFC 3339 UTC with microseconds (both databases keep
/// microseconds, so a value read back formats the same on SQLite and PostgreSQL).
pub fn format_at(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// One stored answer with every column an export reads of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerRecord {
    pub facts: AnswerFacts,
    /// `format_at` of the stored `answered_at`.
    pub answered_at: String,
}

/// Everything an export or the completion view reads of one submitted response, as stored:
/// the response row's columns by name (timestamps as `format_at`, enums as their codes), its
/// answers, and its stored scores (scoring id → results and time). `idempotency_key` and
/// `request_sha256` are left out: they only decide whether a repeated request is the same one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResponseFacts {
    pub response: BTreeMap<&'static str, Value>,
    pub answers: Vec<AnswerRecord>,
    pub scores: BTreeMap<String, Value>,
}

/// What a `response.submitted`, `response.amended` or `score.recomputed` event records as
/// `facts`, binding the response's stored facts to the chain: a flat object whose keys name a
/// column. The response's own columns are recorded as they are (they are study facts an
/// inspector may read in the trail); the answers' columns and each stored score as the sha256
/// of their canonical JSON in item and lesion order (`answer.rows` binds which answers exist).
pub fn facts_binding(facts: &ResponseFacts) -> Value {
    let digest = |v: &Value| {
        // Serializing plain JSON values cannot fail.
        hex::encode(Sha256::digest(
            canonical_json(v).unwrap_or_default().as_bytes(),
        ))
    };
    let mut answers: Vec<&AnswerRecord> = facts.answers.iter().collect();
    answers.sort_by(|a, b| (&a.facts.item, &a.facts.lesion).cmp(&(&b.facts.item, &b.facts.lesion)));
    let column = |f: &dyn Fn(&AnswerRecord) -> Value| {
        digest(&Value::Array(
            answers
                .iter()
                .map(|a| serde_json::json!([a.facts.item, a.facts.lesion, f(a)]))
                .collect(),
        ))
    };
    let mut out = serde_json::Map::new();
    for (name, value) in &facts.response {
        out.insert(format!("response.{name}"), value.clone());
    }
    out.insert("answer.rows".into(), column(&|_| Value::Null).into());
    out.insert(
        "answer.value".into(),
        column(&|a| a.facts.value.clone().into()).into(),
    );
    out.insert(
        "answer.mode".into(),
        column(&|a| a.facts.mode.as_str().into()).into(),
    );
    out.insert(
        "answer.actor".into(),
        column(&|a| serde_json::json!([a.facts.actor_kind, a.facts.actor_id])).into(),
    );
    out.insert(
        "answer.answered_at".into(),
        column(&|a| a.answered_at.clone().into()).into(),
    );
    for (scoring, stored) in &facts.scores {
        out.insert(format!("score.{scoring}"), digest(stored).into());
    }
    Value::Object(out)
}

/// The columns whose stored value differs from what an event's `facts` recorded (a column
/// recorded but no longer stored, or stored but never recorded, differs too), in name order.
pub fn facts_differ(recorded: &Value, stored: &ResponseFacts) -> Vec<String> {
    columns_differ(recorded, &facts_binding(stored))
}

/// The tables (besides responses, answers and scores) whose rows the audit trail binds: the
/// event that writes a row records the row's facts (`row_binding`), and `epro audit verify`
/// compares each stored row with the latest facts recorded of it (#29.5).
pub const BOUND_TABLES: &[&str] = &[
    "participant",
    "participant_event",
    "visit",
    "lesion",
    "response_query",
    "analgesic_dose",
];

/// One stored row that an export or the completion view reads, as the audit trail binds it:
/// its table, its primary key, and the columns those readers use, as stored (timestamps as
/// `format_at`, dates as ISO 8601, enums as their codes).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RowFacts {
    pub table: &'static str,
    pub id: String,
    pub columns: BTreeMap<&'static str, Value>,
}

/// What the event that writes a row records as `facts`: a flat object whose keys name a column
/// (`participant.language`), with `<table>.id` naming the row.
pub fn row_binding(row: &RowFacts) -> Value {
    let mut out = serde_json::Map::new();
    out.insert(format!("{}.id", row.table), row.id.clone().into());
    for (name, value) in &row.columns {
        out.insert(format!("{}.{name}", row.table), value.clone());
    }
    Value::Object(out)
}

/// The table and row that an event's recorded `facts` bind, when they bind a row of one of the
/// `BOUND_TABLES` (a response's facts bind none: they are checked by their own rule).
pub fn bound_row(facts: &Value) -> Option<(&'static str, String)> {
    BOUND_TABLES.iter().find_map(|table| {
        let id = facts.get(format!("{table}.id"))?.as_str()?;
        Some((*table, id.to_string()))
    })
}

/// The keys whose values differ between what an event recorded and what is stored now (a key
/// on one side only differs too), in name order. Values are compared as the trail stores them
/// (JCS text), so a number recorded as `30.0` and read back from the event as `30` is equal.
pub fn columns_differ(recorded: &Value, now: &Value) -> Vec<String> {
    let (Some(recorded), Some(now)) = (recorded.as_object(), now.as_object()) else {
        return vec!["facts".into()];
    };
    let mut names: Vec<&String> = recorded.keys().chain(now.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| {
            let text = |v: Option<&Value>| v.map(|v| canonical_json(v).unwrap_or_default());
            text(recorded.get(*n)) != text(now.get(*n))
        })
        .cloned()
        .collect()
}

/// The chained hash of one event.
pub fn chain_hash(
    key: &[u8],
    prev_hash: &str,
    content: &EventContent,
) -> Result<String, ChainError> {
    let canonical = canonical_json(content)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|e| ChainError::Canonical(e.to_string()))?;
    mac.update(prev_hash.as_bytes());
    mac.update(canonical.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// The HMAC-SHA256 (hex) of an event's content without its sequence number — JCS of `content`
/// with `seq` left out — written with the event before it has a number (`content_hash`), so
/// that the sequencer and `epro audit verify` notice an unsequenced event edited or inserted in
/// the database without the key.
pub fn content_hash(key: &[u8], content: &EventContent) -> Result<String, ChainError> {
    let mut value =
        serde_json::to_value(content).map_err(|e| ChainError::Canonical(e.to_string()))?;
    if let Some(fields) = value.as_object_mut() {
        fields.remove("seq");
    }
    let canonical = canonical_json(&value)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|e| ChainError::Canonical(e.to_string()))?;
    mac.update(canonical.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// An event written without a sequence number yet, as the sequencer reads it.
#[derive(Debug, Clone)]
pub struct Unsequenced {
    /// Its row id (insertion order).
    pub id: i64,
    /// Its content; `seq` is not set yet.
    pub content: EventContent,
    pub content_hash: Option<String>,
}

/// What one sequencing pass decides: the events chained after the head, in order (row id and
/// the stored event with its number and hashes), and the row ids refused because their content
/// does not match their `content_hash` under any of the keys (edited or forged in the database):
/// they stay unsequenced, named by `epro audit verify` and counted by the unsequenced-age metric.
#[derive(Debug, Default)]
pub struct Sequencing {
    pub chained: Vec<(i64, StoredEvent)>,
    pub refused: Vec<i64>,
}

/// Give `pending` (already in the order to sequence) the numbers after `head` and chain them
/// with `key`. `keys` are those a `content_hash` may have been written with (the current one
/// and retired ones: an instance not yet restarted after a key rotation).
pub fn sequence(
    key: &[u8],
    keys: &[&[u8]],
    head: (i64, String),
    pending: Vec<Unsequenced>,
) -> Result<Sequencing, ChainError> {
    let (mut seq, mut prev) = head;
    let mut out = Sequencing::default();
    for event in pending {
        let written_with_a_key = match &event.content_hash {
            Some(stored) => std::iter::once(key)
                .chain(keys.iter().copied())
                .any(|k| content_hash(k, &event.content).is_ok_and(|h| h == *stored)),
            None => false,
        };
        if !written_with_a_key {
            out.refused.push(event.id);
            continue;
        }
        seq += 1;
        let content = EventContent {
            seq,
            ..event.content
        };
        let hash = chain_hash(key, &prev, &content)?;
        let stored = StoredEvent {
            content,
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
        };
        out.chained.push((event.id, stored));
    }
    Ok(out)
}

/// One stored event, as read back for verification.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub content: EventContent,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A sequence number is missing or repeated.
    Gap { expected: i64 },
    /// The event does not point at the hash of the event before it.
    PrevHashMismatch,
    /// The event's content does not produce its stored hash (edited, or rehashed without the key).
    HashMismatch,
    /// The head row does not name the last event.
    HeadMismatch { head_seq: i64 },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Gap { expected } => write!(f, "sequence gap: expected event {expected}"),
            Problem::PrevHashMismatch => {
                f.write_str("its previous-hash does not match the event before it")
            }
            Problem::HashMismatch => f.write_str(
                "its content does not match its hash (edited, or re-hashed without the audit key)",
            ),
            Problem::HeadMismatch { head_seq } => {
                write!(
                    f,
                    "the chain head names event {head_seq}, not the last event"
                )
            }
        }
    }
}

/// The action of the event that hands the chain over to a new key.
pub const KEY_ROTATED: &str = "keys.audit_key_rotated";

/// How a key is named in the trail: the first 16 hex digits of its sha256.
pub fn key_fingerprint(key: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key))[..16].to_string()
}

/// Incremental chain checker: feed events in sequence order, then `finish` with the head.
/// With retired keys, the chain may move from one key to the next only right after a
/// `keys.audit_key_rotated` event (hashed with the old key) that names the new key's
/// fingerprint — never back, and never to a key nobody announced.
#[derive(Debug)]
pub struct Verifier<'k> {
    /// Oldest first; the last is the current key.
    keys: Vec<&'k [u8]>,
    /// The key in force.
    at: usize,
    /// A key announced by the previous event.
    announced: Option<String>,
    expected_seq: i64,
    prev_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub seq: i64,
    pub problem: Problem,
}

impl<'k> Verifier<'k> {
    pub fn new(key: &'k [u8]) -> Self {
        Self::with_history(&[], key)
    }

    /// `retired`: the keys used before the current one, oldest first.
    pub fn with_history(retired: &[&'k [u8]], current: &'k [u8]) -> Self {
        let mut keys = retired.to_vec();
        keys.push(current);
        Self {
            keys,
            at: 0,
            announced: None,
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_string(),
        }
    }

    pub fn check(&mut self, event: &StoredEvent) -> Result<(), Broken> {
        let seq = event.content.seq;
        let broken = |problem| Broken { seq, problem };
        if seq != self.expected_seq {
            return Err(Broken {
                seq: self.expected_seq,
                problem: Problem::Gap {
                    expected: self.expected_seq,
                },
            });
        }
        if event.prev_hash != self.prev_hash {
            return Err(broken(Problem::PrevHashMismatch));
        }
        let matches = |key: &[u8]| {
            chain_hash(key, &event.prev_hash, &event.content).is_ok_and(|h| h == event.hash)
        };
        if !matches(self.keys[self.at]) {
            // Only the key the previous event announced may take over.
            let next = self.announced.as_ref().and_then(|f| {
                (self.at + 1..self.keys.len()).find(|&i| key_fingerprint(self.keys[i]) == *f)
            });
            match next {
                Some(i) if matches(self.keys[i]) => self.at = i,
                _ => return Err(broken(Problem::HashMismatch)),
            }
        }
        self.announced = (event.content.action == KEY_ROTATED)
            .then(|| {
                event
                    .content
                    .after
                    .as_deref()
                    .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
                    .and_then(|v| v["new_key"].as_str().map(String::from))
            })
            .flatten();
        self.expected_seq += 1;
        self.prev_hash = event.hash.clone();
        Ok(())
    }

    /// Number of events checked so far.
    pub fn count(&self) -> i64 {
        self.expected_seq - 1
    }

    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<i64, Broken> {
        let last = self.expected_seq - 1;
        if head_seq != last || head_hash != self.prev_hash {
            return Err(Broken {
                seq: head_seq,
                problem: Problem::HeadMismatch { head_seq },
            });
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, prev: &str, key: &[u8], action: &str, after: Option<String>) -> StoredEvent {
        let content = EventContent {
            seq,
            at: "2026-01-01T00:00:00Z".into(),
            actor_kind: "system".into(),
            actor_id: None,
            action: action.into(),
            entity_type: "x".into(),
            entity_id: None,
            before: None,
            after,
            reason: None,
        };
        let hash = chain_hash(key, prev, &content).expect("hash");
        StoredEvent {
            content,
            prev_hash: prev.into(),
            hash,
        }
    }

    fn facts() -> ResponseFacts {
        let answer = |item: &str, value: &str| AnswerRecord {
            facts: AnswerFacts {
                item: item.into(),
                lesion: String::new(),
                value: value.into(),
                mode: crate::domain::answering::EntryMode::SelfReport,
                actor_kind: "participant".into(),
                actor_id: "HER-001".into(),
            },
            answered_at: "2026-11-27T10:00:00.000001Z".into(),
        };
        ResponseFacts {
            response: [
                (
                    "submitted_at",
                    serde_json::json!("2026-11-27T10:00:00.000001Z"),
                ),
                ("late", serde_json::json!(false)),
                ("wording_sha256", serde_json::json!("ab")),
            ]
            .into_iter()
            .collect(),
            answers: vec![answer("q1", "2"), answer("q2", "3")],
            scores: [(
                "eortc/3.0/scoring-1".to_string(),
                serde_json::json!({"results": {"QL": 7.0}, "computed_at": "2026-11-27T10:00:00Z"}),
            )]
            .into_iter()
            .collect(),
        }
    }

    /// A row's binding names its table and row; each column edited (or dropped) after the
    /// event is named; a response's facts bind no row.
    #[test]
    fn a_bound_row_names_each_edited_column() {
        let row = || RowFacts {
            table: "participant",
            id: "7".into(),
            columns: [("language", "nl".into()), ("site_code", "ZAS".into())].into(),
        };
        let recorded = row_binding(&row());
        assert_eq!(bound_row(&recorded), Some(("participant", "7".to_string())));
        assert_eq!(bound_row(&facts_binding(&facts())), None);
        assert!(columns_differ(&recorded, &row_binding(&row())).is_empty());
        // A number as the event stores it (JCS: 30) equals the row's 30.0.
        assert!(
            columns_differ(
                &serde_json::json!({"d": 30}),
                &serde_json::json!({"d": 30.0})
            )
            .is_empty()
        );
        type Edit = fn(&mut RowFacts);
        let cases: &[(&str, Edit)] = &[
            ("participant.language", |r| {
                r.columns.insert("language", "fr".into());
            }),
            ("participant.site_code", |r| {
                r.columns.remove("site_code");
            }),
            ("participant.id", |r| r.id = "8".into()),
        ];
        for (column, edit) in cases {
            let mut stored = row();
            edit(&mut stored);
            assert_eq!(
                columns_differ(&recorded, &row_binding(&stored)),
                vec![column.to_string()]
            );
        }
    }

    /// Each stored fact edited after the event is named by the column that changed.
    #[test]
    fn every_bound_fact_edited_is_named() {
        type Edit = fn(&mut ResponseFacts);
        let cases: &[(&str, Edit)] = &[
            ("response.submitted_at", |f| {
                f.response
                    .insert("submitted_at", "2026-11-28T10:00:00.000001Z".into());
            }),
            ("response.late", |f| {
                f.response.insert("late", true.into());
            }),
            ("response.wording_sha256", |f| {
                f.response.insert("wording_sha256", "cd".into());
            }),
            ("answer.value", |f| f.answers[0].facts.value = "4".into()),
            ("answer.mode", |f| {
                f.answers[1].facts.mode = crate::domain::answering::EntryMode::Interviewer;
            }),
            ("answer.actor", |f| {
                f.answers[0].facts.actor_id = "someone".into()
            }),
            ("answer.answered_at", |f| {
                f.answers[1].answered_at = "2026-11-29T00:00:00.000000Z".into();
            }),
            ("score.eortc/3.0/scoring-1", |f| {
                f.scores.insert(
                    "eortc/3.0/scoring-1".into(),
                    serde_json::json!({"results": {"QL": 2.0}, "computed_at": "2026-11-27T10:00:00Z"}),
                );
            }),
            ("score.other", |f| {
                f.scores.insert("other".into(), serde_json::json!({}));
            }),
        ];
        let recorded = facts_binding(&facts());
        assert!(facts_differ(&recorded, &facts()).is_empty());
        for (column, edit) in cases {
            let mut stored = facts();
            edit(&mut stored);
            assert_eq!(
                facts_differ(&recorded, &stored),
                vec![column.to_string()],
                "{column}"
            );
        }
        // A removed answer changes which rows exist, and every answer column with it.
        let mut stored = facts();
        stored.answers.pop();
        assert!(facts_differ(&recorded, &stored).contains(&"answer.rows".to_string()));
        // The order answers are read in does not matter.
        let mut stored = facts();
        stored.answers.reverse();
        assert!(facts_differ(&recorded, &stored).is_empty());
    }

    #[test]
    fn a_new_key_takes_over_only_after_the_event_that_announces_it() {
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let announce = format!("{{\"new_key\":\"{}\"}}", key_fingerprint(&new));
        let e1 = event(1, GENESIS_HASH, &old, "a", None);
        let e2 = event(2, &e1.hash, &old, KEY_ROTATED, Some(announce));
        let e3 = event(3, &e2.hash, &new, "b", None);
        let mut v = Verifier::with_history(&[&old], &new);
        for e in [&e1, &e2, &e3] {
            v.check(e).expect("verifies");
        }
        // Without the announcement, a switch is a broken chain.
        let f2 = event(2, &e1.hash, &old, "not a rotation", None);
        let f3 = event(3, &f2.hash, &new, "b", None);
        let mut v = Verifier::with_history(&[&old], &new);
        v.check(&e1).expect("1");
        v.check(&f2).expect("2");
        assert_eq!(
            v.check(&f3).map_err(|b| b.problem),
            Err(Problem::HashMismatch)
        );
        // And never back to the old key after the switch.
        let g4 = event(4, &e3.hash, &old, "c", None);
        let mut v = Verifier::with_history(&[&old], &new);
        for e in [&e1, &e2, &e3] {
            v.check(e).expect("verifies");
        }
        assert_eq!(
            v.check(&g4).map_err(|b| b.problem),
            Err(Problem::HashMismatch)
        );
    }

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn content(seq: i64, action: &str) -> EventContent {
        EventContent {
            seq,
            at: "2026-11-27T10:00:00.000001Z".into(),
            actor_kind: "system".into(),
            actor_id: None,
            action: action.into(),
            entity_type: "site".into(),
            entity_id: Some("ZAS".into()),
            before: None,
            after: Some(r#"{"disabled":true}"#.into()),
            reason: Some("test".into()),
        }
    }

    fn chain(n: i64) -> Vec<StoredEvent> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let content = content(seq, "site.disabled");
                let hash = chain_hash(KEY, &prev, &content).expect("hash");
                let event = StoredEvent {
                    content,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                event
            })
            .collect()
    }

    fn verify(events: &[StoredEvent], head: (i64, &str)) -> Result<i64, Broken> {
        let mut v = Verifier::new(KEY);
        for e in events {
            v.check(e)?;
        }
        v.finish(head.0, head.1)
    }

    #[test]
    fn canonical_json_sorts_keys_and_is_compact() {
        let v = serde_json::json!({"b": 1, "a": [true, null], "c": 1.0});
        assert_eq!(
            canonical_json(&v).expect("jcs"),
            r#"{"a":[true,null],"b":1,"c":1}"#
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        let events = chain(5);
        let last = events.last().expect("events").hash.clone();
        assert_eq!(verify(&events, (5, &last)), Ok(5));
    }

    #[test]
    fn an_empty_chain_verifies_against_the_genesis_head() {
        assert_eq!(verify(&[], (0, GENESIS_HASH)), Ok(0));
    }

    #[test]
    fn an_edited_event_is_named() {
        let mut events = chain(5);
        events[2].content.reason = Some("edited".into());
        let last = events[4].hash.clone();
        let broken = verify(&events, (5, &last)).expect_err("broken");
        assert_eq!(broken.seq, 3);
        assert_eq!(broken.problem, Problem::HashMismatch);
    }

    #[test]
    fn rehashing_without_the_key_is_detected_at_the_edit() {
        use sha2::Digest;
        let mut events = chain(5);
        events[1].content.reason = Some("edited".into());
        // Recompute every hash from the edit on with plain SHA-256, as someone without the key would.
        let mut prev = events[0].hash.clone();
        for e in events.iter_mut().skip(1) {
            e.prev_hash = prev.clone();
            let mut h = Sha256::new();
            h.update(prev.as_bytes());
            h.update(canonical_json(&e.content).expect("jcs").as_bytes());
            e.hash = hex::encode(h.finalize());
            prev = e.hash.clone();
        }
        let broken = verify(&events, (5, &prev)).expect_err("broken");
        assert_eq!(broken.seq, 2);
    }

    #[test]
    fn a_deleted_event_is_a_gap() {
        let mut events = chain(5);
        events.remove(3);
        let last = events[3].hash.clone();
        let broken = verify(&events, (5, &last)).expect_err("broken");
        assert_eq!(broken.problem, Problem::Gap { expected: 4 });
    }

    fn unsequenced(id: i64, key: &[u8], reason: &str) -> Unsequenced {
        let content = EventContent {
            seq: 0,
            reason: Some(reason.into()),
            ..content(0, "site.disabled")
        };
        Unsequenced {
            id,
            content_hash: Some(content_hash(key, &content).expect("hash")),
            content,
        }
    }

    /// The sequencer continues the chain from the head; what it chains verifies as one log
    /// with the events before it.
    #[test]
    fn sequencing_continues_the_chain_from_the_head() {
        let before = chain(3);
        let head = (3, before[2].hash.clone());
        let pending = vec![unsequenced(10, KEY, "a"), unsequenced(12, KEY, "b")];
        let done = sequence(KEY, &[], head, pending).expect("sequenced");
        assert!(done.refused.is_empty());
        assert_eq!(
            done.chained
                .iter()
                .map(|(id, e)| (*id, e.content.seq))
                .collect::<Vec<_>>(),
            vec![(10, 4), (12, 5)]
        );
        let mut all = before;
        all.extend(done.chained.into_iter().map(|(_, e)| e));
        let last = all[4].hash.clone();
        assert_eq!(verify(&all, (5, &last)), Ok(5));
    }

    /// Table: which unsequenced events the sequencer refuses (left unsequenced, named).
    #[test]
    fn the_sequencer_refuses_events_not_written_with_a_key() {
        let retired: &[u8] = b"retired-key-retired-key-retired!";
        let other: &[u8] = b"someone-elses-key-someone-elses!";
        let edited = {
            let mut e = unsequenced(2, KEY, "a");
            e.content.reason = Some("edited in the database".into());
            e
        };
        let no_hash = Unsequenced {
            content_hash: None,
            ..unsequenced(3, KEY, "a")
        };
        let cases: Vec<(&str, Unsequenced, bool)> = vec![
            (
                "written with the current key",
                unsequenced(1, KEY, "a"),
                true,
            ),
            (
                "written with a retired key",
                unsequenced(1, retired, "a"),
                true,
            ),
            ("edited after it was written", edited, false),
            ("inserted without a content hash", no_hash, false),
            ("hashed with another key", unsequenced(4, other, "a"), false),
        ];
        for (name, event, chained) in cases {
            let id = event.id;
            let done =
                sequence(KEY, &[retired], (0, GENESIS_HASH.into()), vec![event]).expect("runs");
            assert_eq!(done.chained.len() == 1, chained, "{name}");
            assert_eq!(done.refused == vec![id], !chained, "{name}");
        }
    }

    /// The content hash does not depend on the sequence number, and covers everything else.
    #[test]
    fn the_content_hash_leaves_out_only_the_sequence_number() {
        let a = content(1, "site.disabled");
        let b = content(7, "site.disabled");
        assert_eq!(content_hash(KEY, &a).ok(), content_hash(KEY, &b).ok());
        let c = content(1, "site.enabled");
        assert_ne!(content_hash(KEY, &a).ok(), content_hash(KEY, &c).ok());
    }

    #[test]
    fn a_truncated_tail_is_caught_by_the_head() {
        let events = chain(5);
        let last = events[4].hash.clone();
        let broken = verify(&events[..4], (5, &last)).expect_err("broken");
        assert!(matches!(broken.problem, Problem::HeadMismatch { .. }));
    }
}

//! The audit chain rule: what an event's canonical content is, how its hash chains to the
//! previous one, and how a stored chain is checked. Pure: storage and locking live in `audit`.
//!
//! hash(n) = hex(HMAC-SHA256(EPRO_AUDIT_KEY, hash(n-1) as hex text ‖ JCS(content(n)))),
//! with hash(0) = 64 zeros. JCS is RFC 8785, so both databases verify byte-identically, and
//! without the key nobody can recompute a chain after editing a row.

use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
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

    #[test]
    fn a_truncated_tail_is_caught_by_the_head() {
        let events = chain(5);
        let last = events[4].hash.clone();
        let broken = verify(&events[..4], (5, &last)).expect_err("broken");
        assert!(matches!(broken.problem, Problem::HeadMismatch { .. }));
    }
}

//! Each participant's completion state (visit states, last reminders, what became of each
//! form), derived once per change and kept until the participant's records change or the
//! clock passes the next window edge. The dashboard, Call today and GET /api/v1/completion
//! read it through [`derive_all`]; [`derive`] is the pure function it keeps the result of.
//! Deriving is the writer's and the background's work, not the reader's (#29.8): after every
//! write request of this process, and every second for changes made elsewhere (another
//! instance, the CLI, SQL) and window edges passed, [`keep_fresh`] derives what changed, so a
//! dashboard request finds the states kept. A reader derives only a state the refresher has
//! not reached yet (counted: [`Cache::derived_on_read`]).
//!
//! A kept entry is used only while all of these hold (docs/benchmarks.md, "Dashboard"):
//! - the participant's revision is the one it was derived at: the database raises it on every
//!   change to visits, events, responses, scores and reminders (migration 11, triggers), so no
//!   write path, and no other server instance, can change them unseen;
//! - the participant row is unchanged;
//! - the clock is between the instant it was derived at and the next window start, window end
//!   or grace end after it (visit states change only there).

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::completion::{Cell, LastReminder, form_outcomes};
use crate::{
    app::App,
    domain::completion as form,
    error::Result,
    participants,
    store::{
        self,
        participants::{EventRow, ParticipantRow, VisitRow},
        reminders::ReminderRow,
        responses::ResponseRow,
    },
};

/// Participants kept at most; past it the cache starts afresh (about 2 KB each).
const CAPACITY: usize = 20_000;

/// One participant's derived state.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub status: String,
    pub arm: Option<String>,
    /// Every visit, in protocol order.
    pub cells: Vec<Cell>,
    /// For each cell (same order): each questionnaire due (`key@version`) and what became of it.
    pub forms: Vec<Vec<(String, form::Outcome)>>,
}

struct Entry {
    row: ParticipantRow,
    revision: i64,
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    derived: Arc<Derived>,
}

impl Entry {
    /// Still the participant's state at `now`: same revision, same row, no window edge passed
    /// since it was derived.
    fn valid(&self, row: &ParticipantRow, revision: i64, now: DateTime<Utc>) -> bool {
        self.revision == revision
            && self.row == *row
            && self.from <= now
            && self.until.is_none_or(|u| now < u)
    }
}

/// Renderings (e.g. the completion JSON) kept at most, each for one scope and filter.
const RENDERINGS: usize = 16;

/// The kept derived states of one server process, and renderings made from them.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<Uuid, Entry>>,
    rendered: Mutex<HashMap<String, (StateKey, bytes::Bytes)>>,
    /// Participants derived inside a reader's request (the refresher had not reached them).
    on_read: AtomicU64,
    /// Participants derived by the refresher ([`refresh`]).
    ahead: AtomicU64,
    /// Woken after a write request of this process ([`changed`]).
    wake: tokio::sync::Notify,
}

/// Who derives: a reader's request (a fallback) or the refresher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Reader,
    Refresher,
}

/// Names the kept states of a list of participants: equal keys, equal derived states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateKey([u8; 32]);

impl Cache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Entry>> {
        // A panic elsewhere while holding the lock leaves only whole entries behind.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, row: &ParticipantRow, revision: i64, now: DateTime<Utc>) -> Option<Arc<Derived>> {
        let entries = self.entries();
        let e = entries.get(&row.id)?;
        e.valid(row, revision, now).then(|| e.derived.clone())
    }

    fn put(&self, entry: Entry) {
        let mut entries = self.entries();
        if entries.len() >= CAPACITY && !entries.contains_key(&entry.row.id) {
            entries.clear();
        }
        entries.insert(entry.row.id, entry);
    }

    /// Forget everything kept (tests compare against a fresh derivation).
    pub fn clear(&self) {
        self.entries().clear();
        self.renderings().clear();
    }

    fn renderings(&self) -> std::sync::MutexGuard<'_, HashMap<String, (StateKey, bytes::Bytes)>> {
        self.rendered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key of these participants' kept states at `now`, when every one of them is kept
    /// and still valid (same revision, same row, no window edge passed); none otherwise.
    pub fn state_of(
        &self,
        people: &[ParticipantRow],
        revisions: &HashMap<Uuid, i64>,
        now: DateTime<Utc>,
    ) -> Option<StateKey> {
        use sha2::{Digest, Sha256};
        let entries = self.entries();
        let mut h = Sha256::new();
        for p in people {
            let revision = *revisions.get(&p.id)?;
            let e = entries.get(&p.id)?;
            if !e.valid(p, revision, now) {
                return None;
            }
            h.update(p.id.as_bytes());
            h.update(revision.to_le_bytes());
            h.update(e.from.timestamp_micros().to_le_bytes());
        }
        Some(StateKey(h.finalize().into()))
    }

    /// A rendering kept under `key` for exactly these states.
    pub fn rendered(&self, key: &str, state: &StateKey) -> Option<bytes::Bytes> {
        self.renderings()
            .get(key)
            .filter(|(s, _)| s == state)
            .map(|(_, b)| b.clone())
    }

    pub fn keep_rendered(&self, key: String, state: StateKey, bytes: bytes::Bytes) {
        let mut r = self.renderings();
        if r.len() >= RENDERINGS && !r.contains_key(&key) {
            r.clear();
        }
        r.insert(key, (state, bytes));
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Participants derived inside readers' requests since start: stays put while the
    /// refresher keeps up (tests read it; docs/scaling.md).
    pub fn derived_on_read(&self) -> u64 {
        self.on_read.load(Ordering::Relaxed)
    }

    /// Participants derived by the refresher since start.
    pub fn derived_ahead(&self) -> u64 {
        self.ahead.load(Ordering::Relaxed)
    }

    /// Some kept state stopped holding by the clock alone: a window edge passed since it was
    /// derived, or the clock was set back before it.
    fn clock_passed_an_edge(&self, now: DateTime<Utc>) -> bool {
        self.entries()
            .values()
            .any(|e| e.from > now || e.until.is_some_and(|u| now >= u))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The participant's state at `now`, derived from their records (pure).
pub fn derive(
    app: &App,
    visits: &[VisitRow],
    events: &[EventRow],
    responses: &[ResponseRow],
    reminders: &[ReminderRow],
    scorable: &HashSet<Uuid>,
    now: DateTime<Utc>,
) -> Derived {
    let arm = participants::arm_of(events);
    let (views, status) = participants::views_from(app, visits, events, responses, now);
    let forms: Vec<Vec<(String, form::Outcome)>> = views
        .iter()
        .map(|v| form_outcomes(v, responses, scorable))
        .collect();
    let cells = views
        .into_iter()
        .zip(&forms)
        .map(|(v, outcomes)| {
            let last_reminder = reminders
                .iter()
                .filter(|r| r.visit_code == v.code)
                .max_by_key(|r| r.sent_at.unwrap_or(r.due_at))
                .map(|r| LastReminder {
                    kind: r.kind.clone(),
                    status: r.status,
                    at: r.sent_at.unwrap_or(r.due_at),
                });
            Cell {
                started: responses.iter().any(|r| r.visit_code == v.code),
                unreceived: outcomes
                    .iter()
                    .filter(|(_, o)| !matches!(o, form::Outcome::Received(_)))
                    .map(|(q, _)| q.split('@').next().unwrap_or(q).to_string())
                    .collect(),
                visit: v.code,
                state: v.state,
                window: v.window,
                missed_reason: v.missed_reason,
                last_reminder,
            }
        })
        .collect();
    Derived {
        status,
        arm,
        cells,
        forms,
    }
}

/// The first instant after `now` at which a visit state can change by the clock alone: the
/// next window start, window end or grace end (the participant's status follows the last
/// grace end, which is among them).
pub fn next_edge(visits: &[VisitRow], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    visits
        .iter()
        .flat_map(|v| [Some(v.window_start), v.window_end, v.grace_end])
        .flatten()
        .filter(|at| *at > now)
        .min()
}

/// This process's kept states (held by `App::kept`, which does not know the type).
pub fn cache(app: &App) -> Arc<Cache> {
    app.kept.get::<Cache>()
}

/// Each participant's state at `now`, in the order given: kept states where still valid, the
/// others derived from their records, read in bulk, and kept. `revisions` must have been read
/// before this call (`store::bulk::revisions`).
pub async fn derive_all(
    app: &App,
    people: &[ParticipantRow],
    revisions: &HashMap<Uuid, i64>,
    now: DateTime<Utc>,
    by: By,
) -> Result<Vec<Arc<Derived>>> {
    let kept = cache(app);
    let mut out: Vec<Option<Arc<Derived>>> = people
        .iter()
        .map(|p| revisions.get(&p.id).and_then(|rev| kept.get(p, *rev, now)))
        .collect();
    let stale: Vec<Uuid> = people
        .iter()
        .zip(&out)
        .filter(|(_, d)| d.is_none())
        .map(|(p, _)| p.id)
        .collect();
    if stale.is_empty() {
        return Ok(out.into_iter().flatten().collect());
    }
    match by {
        By::Reader => &kept.on_read,
        By::Refresher => &kept.ahead,
    }
    .fetch_add(stale.len() as u64, Ordering::Relaxed);
    let mut records = store::bulk::records(&app.db, &stale, true).await?;
    let submitted: Vec<_> = records
        .responses
        .values()
        .flatten()
        .filter(|r| r.status.is_submitted())
        .map(|r| r.id)
        .collect();
    let scorable = store::bulk::scorable(&app.db, &submitted).await?;
    for (p, slot) in people.iter().zip(out.iter_mut()) {
        if slot.is_some() {
            continue;
        }
        let visits = records.visits.remove(&p.id).unwrap_or_default();
        let events = records.events.remove(&p.id).unwrap_or_default();
        let responses = records.responses.remove(&p.id).unwrap_or_default();
        let reminders = records.reminders.remove(&p.id).unwrap_or_default();
        let derived = Arc::new(derive(
            app, &visits, &events, &responses, &reminders, &scorable, now,
        ));
        if let Some(revision) = revisions.get(&p.id) {
            kept.put(Entry {
                row: p.clone(),
                revision: *revision,
                from: now,
                until: next_edge(&visits, now),
                derived: derived.clone(),
            });
        }
        *slot = Some(derived);
    }
    Ok(out.into_iter().flatten().collect())
}

/// Derive now every participant whose kept state no longer holds (changed records, a window
/// edge passed, never derived), as a dashboard read would find them. Returns how many.
pub async fn refresh(app: &App) -> Result<u64> {
    let kept = cache(app);
    let now = app.clock.now();
    let before = kept.derived_ahead();
    // Revisions first, as for a reader: what is derived is never older than its revision.
    let revisions = store::bulk::revisions(&app.db, None).await?;
    let people = store::participants::list(&app.db, None).await?;
    derive_all(app, &people, &revisions, now, By::Refresher).await?;
    Ok(kept.derived_ahead() - before)
}

/// A write request of this process finished: derive what it changed now, ahead of the next
/// dashboard read (the writer does not wait for it).
pub fn changed(app: &App) {
    cache(app).wake.notify_one();
}

/// How often the refresher looks for changes made outside this process and window edges passed.
const EVERY: Duration = Duration::from_secs(1);

/// How long the refresher lets the writes after a first one gather before deriving them.
const COALESCE: Duration = Duration::from_millis(50);

/// The refresher of `epro serve`: derives at start, after each write of this process, and every
/// [`EVERY`] when the participants' revisions changed (one aggregate query) or the clock passed a
/// kept state's window edge. So a dashboard request after a change reads kept states; its view
/// lags a change made elsewhere by at most about a second plus the derivation.
pub async fn keep_fresh(app: Arc<App>) {
    let kept = cache(&app);
    let mut seen: Option<(i64, i64)> = None;
    loop {
        let now = app.clock.now();
        match store::bulk::revision_total(&app.db).await {
            Ok(total) if seen != Some(total) || kept.clock_passed_an_edge(now) => {
                match refresh(&app).await {
                    Ok(_) => seen = Some(total),
                    Err(e) => tracing::warn!(error = %e, "deriving completion states failed"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading participant revisions failed"),
        }
        tokio::select! {
            () = kept.wake.notified() => {
                // A burst of writes (a submission load) is derived in one go, not one by one.
                tokio::time::sleep(COALESCE).await;
            }
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

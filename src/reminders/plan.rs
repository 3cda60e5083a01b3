//! Planning: which reminders are due, and putting them into the outbox once per participant,
//! visit and kind; a pass looks only at participants whose planning mark has passed.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Report;
use crate::{
    app::App,
    domain::reminders::ReminderStatus,
    domain::{
        reminders::{self as rule, Decision},
        schedule::VisitState,
    },
    error::Result,
    participants::{self, VisitView},
    store::{self, participants::ParticipantRow, reminders::ReminderRow},
};

/// One planning decision (for `epro reminders plan` and the outbox).
#[derive(Debug, Clone)]
pub struct Planned {
    pub study_id: String,
    pub participant: Uuid,
    pub visit: String,
    pub decision: Decision,
}

pub(super) fn questionnaires_stopped(events: &[store::participants::EventRow]) -> bool {
    events.iter().any(|e| {
        !e.entered_in_error
            && matches!(e.kind.as_str(), "withdrawal" | "death" | "pro_discontinued")
    })
}

/// What is due at `now`, for every participant still answering questionnaires who has a PIN
/// (the reminder's link asks for it; the record, call list and digest show "no PIN yet").
/// `epro reminders plan` prints this; the worker's pass plans only what changed ([`plan`]).
pub async fn decisions(app: &App, now: DateTime<Utc>) -> Result<Vec<Planned>> {
    // Only participants with a visit open (or in grace) at `now` can have a reminder due.
    let people = store::bulk::with_open_visits(&app.db, now, None).await?;
    Ok(decide(app, people, now).await?.0)
}

/// The decisions due at `now` for these participants, and for each the next instant at which
/// one of theirs can become due (`None`: none will unless their records change).
async fn decide(
    app: &App,
    people: Vec<ParticipantRow>,
    now: DateTime<Utc>,
) -> Result<(Vec<Planned>, Vec<(Uuid, Option<DateTime<Utc>>)>)> {
    let tz = app.study.time_zone;
    let mut out = Vec::new();
    let mut next = Vec::with_capacity(people.len());
    let ids: Vec<_> = people.iter().map(|p| p.id).collect();
    let mut records = store::bulk::records(&app.db, &ids, false).await?;
    // A reminder's link asks for the PIN: without one it would be a dead end.
    let with_pin = store::access::with_pin(&app.db, &ids).await?;
    for p in people {
        let events = records.events.remove(&p.id).unwrap_or_default();
        if questionnaires_stopped(&events) || !with_pin.contains(&p.id) {
            // A new PIN or a corrected event raises the revision and clears the mark.
            next.push((p.id, None));
            continue;
        }
        let visits = records.visits.remove(&p.id).unwrap_or_default();
        let responses = records.responses.remove(&p.id).unwrap_or_default();
        let (views, _) = participants::views_from(app, &visits, &events, &responses, now);
        next.push((p.id, next_edge(app, &views, now)));
        for v in views {
            if !matches!(v.state, VisitState::Open | VisitState::Late) {
                continue;
            }
            for decision in rule::due_now(
                &app.study.reminders,
                tz,
                app.study.reminders.rules_for(&v.code),
                &v.window,
                now,
            ) {
                out.push(Planned {
                    study_id: p.study_id.clone(),
                    participant: p.id,
                    visit: v.code.clone(),
                    decision,
                });
            }
        }
    }
    Ok((out, next))
}

/// The first instant after `now` at which a decision can change by the clock alone: a window
/// edge or a reminder's due instant of any visit.
fn next_edge(app: &App, views: &[VisitView], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let tz = app.study.time_zone;
    views
        .iter()
        .flat_map(|v| {
            let w = &v.window;
            [Some(w.start), w.end, w.grace_end].into_iter().chain(
                app.study
                    .reminders
                    .rules_for(&v.code)
                    .iter()
                    .map(|r| rule::due_at(&app.study.reminders, tz, r, w)),
            )
        })
        .flatten()
        .filter(|at| *at > now)
        .min()
}

/// Far enough never to come: the mark of a participant for whom only a change of their
/// records can make a reminder due.
fn never() -> DateTime<Utc> {
    // 9999-01-01T00:00:00Z
    DateTime::from_timestamp(253_370_764_800, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Participants whose reminders and marks one write transaction holds.
const CHUNK: usize = 500;

/// Why a reminder did not go out because a later one of the same visit was planned.
const SUPERSEDED: &str = "superseded by a later reminder of the same visit";

/// Put due reminders into the outbox; planning twice never makes two rows. A pass looks only
/// at participants whose planning mark has passed or was cleared by a change of their records
/// (docs/reminders.md, "Planning by window edges"), then sets each one's mark to the next
/// instant at which something of theirs can become due, in the same transaction as their
/// reminders (a few hundred participants a transaction, their rows in bulk), so the next
/// pass at the same instant looks at no one.
pub async fn plan(app: &App, now: DateTime<Utc>) -> Result<Report> {
    let mut report = Report::default();
    let due = store::bulk::plan_due(&app.db, now).await?;
    report.examined = due.len();
    if due.is_empty() {
        return Ok(report);
    }
    let ids: Vec<Uuid> = due.iter().map(|(id, _)| *id).collect();
    let people = store::bulk::with_open_visits(&app.db, now, Some(&ids)).await?;
    let open: HashSet<Uuid> = people.iter().map(|p| p.id).collect();
    let (decisions, next) = decide(app, people, now).await?;
    // Participants with no visit open: look again when the next window opens.
    let closed: Vec<Uuid> = ids
        .iter()
        .copied()
        .filter(|id| !open.contains(id))
        .collect();
    let starts = store::bulk::next_window_starts(&app.db, &closed, now).await?;
    let mut next: HashMap<Uuid, Option<DateTime<Utc>>> = next.into_iter().collect();
    next.extend(closed.iter().map(|id| (*id, starts.get(id).copied())));
    // The channel the participant has now; re-read when the reminder goes out.
    let with_decisions: Vec<Uuid> = decisions.iter().map(|d| d.participant).collect();
    let channels = store::participants::reminder_channels(&app.db, &with_decisions).await?;
    let mut by_participant: HashMap<Uuid, Vec<Planned>> = HashMap::new();
    for d in decisions {
        by_participant.entry(d.participant).or_default().push(d);
    }
    for chunk in due.chunks(CHUNK) {
        let marks: Vec<(Uuid, i64, DateTime<Utc>)> = chunk
            .iter()
            .map(|(id, revision)| {
                let at = next.get(id).copied().flatten().unwrap_or_else(never);
                (*id, *revision, at)
            })
            .collect();
        let planned: Vec<Planned> = chunk
            .iter()
            .filter_map(|(id, _)| by_participant.remove(id))
            .flatten()
            .collect();
        let written = write_chunk(app, &marks, planned, &channels, now).await?;
        report.planned += written.planned;
        report.skipped += written.skipped;
    }
    Ok(report)
}

/// One transaction: the marks of these participants (before any reminder is written: see
/// `store::bulk::set_plan_marks`), older reminders superseded by a newly planned one, and the
/// new reminders.
async fn write_chunk(
    app: &App,
    marks: &[(Uuid, i64, DateTime<Utc>)],
    planned: Vec<Planned>,
    channels: &HashMap<Uuid, String>,
    now: DateTime<Utc>,
) -> Result<Report> {
    let mut report = Report::default();
    let txn = store::begin_write(&app.db).await?;
    // Their reminders are locked before their marks, in the order a sending worker takes them
    // (reminder, then the revision its trigger raises), so the two never wait on each other.
    let mut participants: Vec<Uuid> = planned.iter().map(|d| d.participant).collect();
    participants.dedup();
    let existing = store::reminders::of_participants_for_update(&txn, &participants).await?;
    store::bulk::set_plan_marks(&txn, marks).await?;
    let taken: HashSet<(Uuid, &str, &str)> = existing
        .iter()
        .map(|r| (r.participant_id, r.visit_code.as_str(), r.kind.as_str()))
        .collect();
    let mut superseded: Vec<Uuid> = Vec::new();
    let (mut pending, mut skipped) = (Vec::new(), Vec::new());
    for d in &planned {
        let (kind, due_at, status) = match &d.decision {
            Decision::Send { kind, due_at } => (kind, *due_at, ReminderStatus::Pending),
            Decision::Skip { kind, due_at } => (kind, *due_at, ReminderStatus::Skipped),
        };
        if taken.contains(&(d.participant, d.visit.as_str(), kind.as_str())) {
            continue;
        }
        if status == ReminderStatus::Pending {
            // An older reminder of the same visit still waiting is superseded by this one.
            superseded.extend(
                existing
                    .iter()
                    .filter(|older| {
                        older.participant_id == d.participant
                            && older.visit_code == d.visit
                            && older.status == ReminderStatus::Pending
                            && older.kind != *kind
                            && older.due_at < due_at
                    })
                    .map(|older| older.id),
            );
        }
        let row = ReminderRow {
            id: Uuid::new_v4(),
            participant_id: d.participant,
            visit_code: d.visit.clone(),
            kind: kind.clone(),
            due_at,
            status,
            attempts: 0,
            next_attempt_at: due_at,
            claimed_at: None,
            last_error: None,
            sent_at: None,
            message_id: None,
            reason: (status == ReminderStatus::Skipped).then(|| SUPERSEDED.into()),
            created_at: now,
            channel: channels
                .get(&d.participant)
                .cloned()
                .unwrap_or_else(|| "email".to_string()),
            email_sent_at: None,
            sms_sent_at: None,
            delivery: None,
            delivery_at: None,
        };
        match status {
            ReminderStatus::Pending => pending.push(row),
            _ => skipped.push(row),
        }
    }
    superseded.sort();
    superseded.dedup();
    report.skipped += store::reminders::skip_pending(&txn, &superseded, SUPERSEDED).await? as usize;
    report.planned += store::reminders::insert_planned(&txn, pending).await? as usize;
    report.skipped += store::reminders::insert_planned(&txn, skipped).await? as usize;
    txn.commit().await?;
    Ok(report)
}

//! Stored visits: inserting and updating a visit row (audited), and reading its window.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    app::App,
    audit::{self, Entry},
    domain::{audit::Actor, participant::Event, schedule::Window},
    error::Result,
    store::{
        self,
        participants::{EventRow, ParticipantRow, VisitRow},
    },
};

pub(super) fn to_events(rows: &[EventRow]) -> Vec<Event> {
    rows.iter()
        .map(|r| Event {
            id: r.id.to_string(),
            kind: r.kind,
            date: r.event_date,
            recorded_at: r.recorded_at,
            entered_in_error: r.entered_in_error,
        })
        .collect()
}

pub(super) fn window_of(v: &VisitRow) -> Window {
    Window {
        target: v.target_date,
        start: v.window_start,
        end: v.window_end,
        grace_end: v.grace_end,
    }
}

pub(super) fn window_json(w: &Window) -> Value {
    json!({ "target": w.target, "start": w.start, "end": w.end, "grace_end": w.grace_end })
}

pub(super) fn set_window(v: &mut VisitRow, w: Window) {
    v.target_date = w.target;
    v.window_start = w.start;
    v.window_end = w.end;
    v.grace_end = w.grace_end;
}

/// One write on one participant: the transaction, who acts (for the audit trail), and when.
#[derive(Clone, Copy)]
pub(super) struct Change<'a> {
    pub(super) txn: &'a DatabaseTransaction,
    pub(super) app: &'a App,
    pub(super) by: &'a Actor,
    /// Staff user id recorded on events.
    pub(super) staff: &'a str,
    pub(super) p: &'a ParticipantRow,
    pub(super) now: DateTime<Utc>,
}

pub(super) async fn insert_visit(
    c: Change<'_>,
    position: i32,
    code: &str,
    questionnaires: &[String],
    w: Window,
) -> Result<()> {
    let Change {
        txn,
        app,
        by,
        p,
        now,
        ..
    } = c;
    let id = Uuid::new_v4();
    store::participants::insert_visit(
        txn,
        VisitRow {
            id,
            participant_id: p.id,
            code: code.to_string(),
            position,
            target_date: w.target,
            window_start: w.start,
            window_end: w.end,
            grace_end: w.grace_end,
            sse_triggered: false,
            final_state: None,
            final_cause: None,
            missed_reason: None,
            missed_forms: crate::store::Json(Default::default()),
            questionnaires: crate::store::Json(questionnaires.to_vec()),
        },
    )
    .await?;
    let mut after = window_json(&w);
    after["facts"] = audit::row_facts(txn, "visit", id).await?;
    audit::record(
        txn,
        &app.keys.audit,
        now,
        Entry::new(by.clone(), "visit.scheduled", "visit")
            .entity(format!("{}/{code}", p.study_id))
            .after(after),
    )
    .await?;
    Ok(())
}

pub(super) async fn update_visit(
    c: Change<'_>,
    before: &VisitRow,
    after: VisitRow,
    action: &'static str,
    reason: Option<&str>,
) -> Result<()> {
    let Change {
        txn,
        app,
        by,
        p,
        now,
        ..
    } = c;
    let describe = |v: &VisitRow| json!({ "window": window_json(&window_of(v)), "sse_triggered": v.sse_triggered, "final_state": v.final_state, "missed_reason": v.missed_reason });
    let (id, mut described) = (after.id, describe(&after));
    store::participants::update_visit(txn, after).await?;
    described["facts"] = audit::row_facts(txn, "visit", id).await?;
    let mut entry = Entry::new(by.clone(), action, "visit")
        .entity(format!("{}/{}", p.study_id, before.code))
        .before(describe(before))
        .after(described);
    if let Some(r) = reason {
        entry = entry.reason(r);
    }
    audit::record(txn, &app.keys.audit, now, entry).await?;
    Ok(())
}

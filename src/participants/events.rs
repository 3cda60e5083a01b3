//! Clinical events (randomization, SSE, PRO discontinuation, withdrawal, death): recording and
//! correcting one, and what it does to the schedule and to contact data.

use crate::domain::problem::Problem;
use chrono::NaiveDate;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Change, for_staff, insert_visit, parse_date, purge_contact, set_window, to_events, today,
    update_visit,
};
use crate::{
    app::App,
    audit::{self, Entry},
    auth::{self, StaffActor},
    domain::{
        participant::{self as rule, Event, EventKind},
        permissions::Action,
        schedule::{
            self, VisitState,
            after_event::{self, VisitChange},
        },
    },
    error::{Code, Error, Result},
    store::{self, participants::EventRow},
};

pub struct NewEvent {
    pub kind: String,
    pub date: String,
    pub reason: String,
    pub sse_type: Option<String>,
    pub lesion: Option<String>,
    /// For a randomization: the arm.
    pub arm: Option<String>,
}

/// An event the trial's rules refuse (`rule::check_new`): `invalid_event`, typed.
fn invalid_event((field, problem): (&str, Problem)) -> Error {
    Error::Invalid {
        code: Code::InvalidEvent,
        field: field.into(),
        problem,
    }
}

pub async fn record_event(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    new: NewEvent,
) -> Result<EventRow> {
    auth::authorize(actor, Action::ParticipantUpdate, None)?;
    let kind = EventKind::parse(&new.kind).ok_or_else(|| {
        let all: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        Error::invalid(
            "type",
            Problem::NotOneOf {
                given: new.kind.clone(),
                allowed: all.into_iter().map(String::from).collect(),
            },
        )
    })?;
    if !app.study.events.records(kind) {
        return Err(Error::Conflict {
            code: Code::NotInThisStudy,
            message: format!(
                "study {} does not record {} events ([events] kinds in the study file)",
                app.study.id,
                kind.as_str()
            ),
        });
    }
    let date = parse_date("date", &new.date)?;
    if new.reason.trim().is_empty() {
        return Err(Error::invalid("reason", Problem::ReasonRequired));
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let p = for_staff(&txn, actor, Action::ParticipantUpdate, study_id, true).await?;
    let rows = store::participants::events(&txn, p.id).await?;
    if kind != EventKind::Sse && rule::find(&to_events(&rows), kind).is_some() {
        // Its own code (the record page offers the correction), its words from the catalogue.
        return Err(Error::Invalid {
            code: Code::EventAlreadyRecorded,
            field: "type".into(),
            problem: Problem::AlreadyRecorded {
                kind: kind.as_str().into(),
            },
        });
    }
    rule::check_new(kind, date, &to_events(&rows), p.enrolled_on, today(app))
        .map_err(invalid_event)?;
    // After the rules of the date (as before): the fields the study file requires of this kind (`[events] required`).
    let given = |f: &str| match f {
        "sse_type" => new.sse_type.is_some(),
        "lesion" => new.lesion.is_some(),
        "arm" => new.arm.is_some(),
        _ => true,
    };
    if let Some(field) = app.study.events.missing(kind, given) {
        return Err(Error::invalid(field, Problem::Required));
    }
    let mut details = json!({});
    if kind == EventKind::Sse {
        // The type, from the study file's list (`[events] sse_types`), when it has one.
        let types = &app.study.sse_types;
        match new.sse_type.as_deref() {
            None => {}
            Some(t) if types.iter().any(|x| x.code == t) => details["sse_type"] = json!(t),
            Some(t) => {
                let all: Vec<_> = types.iter().map(|k| k.code.as_str()).collect();
                return Err(Error::invalid(
                    "sse_type",
                    Problem::NotOneOf {
                        given: t.to_string(),
                        allowed: all.into_iter().map(String::from).collect(),
                    },
                ));
            }
        }
        if let Some(l) = &new.lesion {
            let lesions = store::participants::lesions(&txn, p.id).await?;
            if !lesions.iter().any(|x| x.id.to_string() == *l) {
                return Err(Error::invalid(
                    "lesion",
                    Problem::NotOneOf {
                        given: l.to_string(),
                        allowed: vec![],
                    },
                ));
            }
            details["lesion"] = json!(l);
        }
    } else if new.sse_type.is_some() || new.lesion.is_some() {
        return Err(Error::invalid("sse_type", Problem::OnlySse));
    }
    let arm = super::enrol::checked_arm(app, new.arm.as_deref(), kind == EventKind::Randomization)?;
    super::enrol::arm_given(app, arm.as_deref(), kind == EventKind::Randomization)?;
    if let Some(a) = arm {
        details["arm"] = json!(a);
    }
    let by = actor.audit_actor();
    let staff = actor.id.to_string();
    let c = Change {
        txn: &txn,
        app,
        by: &by,
        staff: &staff,
        p: &p,
        now,
    };
    let row = record_in(c, kind, date, new.reason.trim().to_string(), details).await?;
    txn.commit().await?;
    Ok(row)
}

/// Store an event and apply what it means for the schedule, in the caller's transaction.
pub(super) async fn record_in(
    c: Change<'_>,
    kind: EventKind,
    date: NaiveDate,
    reason: String,
    details: Value,
) -> Result<EventRow> {
    let Change {
        txn,
        app,
        by,
        staff,
        p,
        now,
    } = c;
    let row = EventRow {
        id: Uuid::new_v4(),
        participant_id: p.id,
        kind,
        event_date: date,
        details: crate::store::Json(details.clone()),
        reason: reason.clone(),
        recorded_at: now,
        recorded_by: staff.to_string(),
        entered_in_error: false,
    };
    store::participants::insert_event(txn, row.clone()).await?;
    let mut after = json!({ "type": kind.as_str(), "date": date, "event": row.id });
    if let Some(o) = details.as_object() {
        for (k, v) in o {
            after[k] = v.clone();
        }
    }
    after["facts"] = audit::row_facts(txn, "participant_event", row.id).await?;
    audit::record(
        txn,
        &app.keys.audit,
        now,
        Entry::new(by.clone(), "participant.event_recorded", "participant")
            .entity(&p.study_id)
            .after(after)
            .reason(reason),
    )
    .await?;
    apply_effects(c, &row).await?;
    Ok(row)
}

/// What a (valid) event does to the schedule and the participant's data: the rules in
/// `domain::schedule::after_event` decide, this writes and audits each change.
pub(super) async fn apply_effects(c: Change<'_>, event: &EventRow) -> Result<()> {
    let Change {
        txn, app, p, now, ..
    } = c;
    let kind = event.kind;
    let evs = to_events(&store::participants::events(txn, p.id).await?);
    let protocol = &app.study.protocol;
    let rows = store::participants::visits(txn, p.id).await?;
    let responses = store::responses::of_participant(txn, p.id).await?;
    let stored: Vec<_> = rows
        .iter()
        .map(|v| after_event::StoredVisit {
            submitted: super::submitted_for(&responses, &v.code, app.study.time_zone),
            ..store::participants::stored_visit(v)
        })
        .collect();
    let changes = match kind {
        EventKind::Randomization => after_event::after_randomization(
            protocol,
            after_event::Dates {
                enrolled_on: p.enrolled_on,
                randomized: event.event_date,
                registered_at: p.created_at,
            },
            &stored,
            now,
        ),
        // Only the first SSE reshapes the schedule; later ones are recorded as events.
        EventKind::Sse
            if rule::find(&evs, EventKind::Sse)
                .is_some_and(|first| first.id != event.id.to_string()) =>
        {
            Vec::new()
        }
        EventKind::Sse => {
            let stored = with_completed(stored, event.recorded_at);
            after_event::after_first_sse(protocol, &stored, event.event_date, event.recorded_at)
        }
        EventKind::ProDiscontinued | EventKind::Withdrawal | EventKind::Death => {
            let stop = rule::questionnaires_end(&evs, app.study.time_zone);
            after_event::after_questionnaires_stop(&stored, stop, now)
        }
    };
    for change in changes {
        write_change(c, change, event).await?;
    }
    if kind.ends_participation() {
        purge_contact(c, kind.as_str()).await?;
        crate::auth::participant::revoke_all(txn, app, c.by, p, kind.as_str(), now).await?;
    }
    Ok(())
}

/// A visit whose questionnaires were all submitted is completed, whether or not that state has
/// been stored yet: the SSE rule must never re-open it.
fn with_completed(
    mut visits: Vec<after_event::StoredVisit>,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<after_event::StoredVisit> {
    for v in visits.iter_mut().filter(|v| v.final_state.is_none()) {
        let state = schedule::state(
            &schedule::VisitFacts {
                window: v.window,
                stored: None,
                due: &v.due,
                submitted: &v.submitted,
                missed_reason: v.missed_reason,
                questionnaires_end: None,
            },
            at,
        );
        if state == schedule::VisitState::Completed {
            v.final_state = Some(state);
        }
    }
    visits
}

/// Write (and audit) one change an event made to a visit, onto the visit as the earlier changes
/// left it.
async fn write_change(c: Change<'_>, change: VisitChange, event: &EventRow) -> Result<()> {
    let rows = store::participants::visits(c.txn, c.p.id).await?;
    let row = |code: &str| rows.iter().find(|v| v.code == code);
    match change {
        VisitChange::Insert {
            position,
            code,
            questionnaires,
            window,
        } => insert_visit(c, position as i32, &code, &questionnaires, window).await,
        VisitChange::Reschedule { code, window } => {
            let Some(v) = row(&code) else { return Ok(()) };
            let mut after = v.clone();
            set_window(&mut after, window);
            update_visit(c, v, after, "visit.rescheduled", Some("randomization date")).await
        }
        VisitChange::SseTriggered { code, window } => {
            let Some(v) = row(&code) else { return Ok(()) };
            let mut after = v.clone();
            set_window(&mut after, window);
            after.sse_triggered = true;
            let why = Some("symptomatic skeletal event");
            update_visit(c, v, after, "visit.sse_triggered", why).await
        }
        VisitChange::Close { code, state } => {
            let Some(v) = row(&code) else { return Ok(()) };
            let mut after = v.clone();
            after.final_state = Some(state);
            after.final_cause = Some(event.id.to_string());
            let why = match event.kind {
                EventKind::Sse => "after an SSE only survival follow-up remains",
                other => other.as_str(),
            };
            let action = if state == VisitState::NotApplicable {
                "visit.not_applicable"
            } else {
                "visit.state_recorded"
            };
            update_visit(c, v, after, action, Some(why)).await
        }
        VisitChange::NotExpected { code } => {
            let Some(v) = row(&code) else { return Ok(()) };
            let mut after = v.clone();
            after.final_state = Some(VisitState::NotExpected);
            after.final_cause = Some(schedule::BEFORE_REGISTRATION.into());
            let why = Some("the window closed before the participant was registered in epro");
            update_visit(c, v, after, "visit.not_expected", why).await
        }
    }
}

/// Undo what an event did to the schedule (before a correction or entered-in-error).
pub(super) async fn undo_effects(c: Change<'_>, event: &EventRow) -> Result<()> {
    let Change { txn, app, p, .. } = c;
    let visits = store::participants::visits(txn, p.id).await?;
    let cause = event.id.to_string();
    for v in visits
        .iter()
        .filter(|v| v.final_cause.as_deref() == Some(cause.as_str()))
    {
        let mut after = v.clone();
        after.final_state = None;
        after.final_cause = None;
        update_visit(c, v, after, "visit.restored", Some("event corrected")).await?;
    }
    if event.kind == EventKind::Sse {
        let evs = to_events(&store::participants::events(txn, p.id).await?);
        for v in visits.iter().filter(|v| v.sse_triggered) {
            let Some(spec) = app.study.visit_spec(&v.code) else {
                continue;
            };
            let Some(w) = schedule::plan(
                &app.study.protocol,
                spec,
                p.enrolled_on,
                rule::randomized_on(&evs),
            ) else {
                continue;
            };
            let mut after = v.clone();
            after.sse_triggered = false;
            set_window(&mut after, w);
            update_visit(c, v, after, "visit.rescheduled", Some("SSE corrected")).await?;
        }
    }
    Ok(())
}

pub struct Correction {
    pub date: Option<String>,
    /// For a randomization: the corrected arm.
    pub arm: Option<String>,
    pub entered_in_error: bool,
    pub reason: String,
}

/// A correction needs a reason and either a new date or entered-in-error; the new date, if any.
fn checked_correction(c: &Correction) -> Result<Option<NaiveDate>> {
    if c.reason.trim().is_empty() {
        return Err(Error::invalid("reason", Problem::ReasonRequired));
    }
    if c.date.is_none() && c.arm.is_none() && !c.entered_in_error {
        return Err(Error::invalid("date", Problem::NothingToCorrect));
    }
    c.date.as_deref().map(|d| parse_date("date", d)).transpose()
}

/// A data manager corrects an event's date or marks it entered-in-error; the schedule follows.
pub async fn correct_event(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    event_id: &str,
    correction: Correction,
) -> Result<EventRow> {
    let c = &correction;
    auth::authorize(actor, Action::ParticipantCorrect, None)?;
    let new_date = checked_correction(c)?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let p = for_staff(&txn, actor, Action::ParticipantCorrect, study_id, true).await?;
    let rows = store::participants::events(&txn, p.id).await?;
    let unknown = || Error::Unknown {
        code: Code::UnknownEvent,
        message: format!("participant {study_id} has no event {event_id:?}"),
    };
    let before = rows
        .iter()
        .find(|r| r.id.to_string() == event_id)
        .cloned()
        .ok_or_else(unknown)?;
    if before.entered_in_error {
        return Err(Error::Conflict {
            code: Code::EventEnteredInError,
            message: "this event is already marked entered-in-error".into(),
        });
    }
    let kind = before.kind;
    let mut after = before.clone();
    after.entered_in_error = c.entered_in_error;
    if let Some(arm) =
        super::enrol::checked_arm(app, c.arm.as_deref(), kind == EventKind::Randomization)?
    {
        let mut details = after.details.0.clone();
        details["arm"] = json!(arm);
        after.details = store::Json(details);
    }
    if let Some(d) = new_date {
        // The corrected date must satisfy the same rules as a new event, against the others.
        let others: Vec<Event> = to_events(&rows)
            .into_iter()
            .filter(|e| e.id != event_id)
            .collect();
        rule::check_new(kind, d, &others, p.enrolled_on, today(app)).map_err(invalid_event)?;
        after.event_date = d;
    }
    let by = actor.audit_actor();
    let staff = actor.id.to_string();
    let c = Change {
        txn: &txn,
        app,
        by: &by,
        staff: &staff,
        p: &p,
        now,
    };
    undo_effects(c, &before).await?;
    store::participants::update_event(&txn, after.clone()).await?;
    let facts = audit::row_facts(&txn, "participant_event", after.id).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "participant.event_corrected", "participant")
            .entity(&p.study_id)
            .before(json!({ "event": before.id, "type": before.kind, "date": before.event_date, "arm": before.details.0.get("arm"), "entered_in_error": before.entered_in_error }))
            .after(json!({ "event": after.id, "type": after.kind, "date": after.event_date, "arm": after.details.0.get("arm"), "entered_in_error": after.entered_in_error, "facts": facts }))
            .reason(correction.reason.trim()),
    )
    .await?;
    if !after.entered_in_error {
        apply_effects(c, &after).await?;
    }
    txn.commit().await?;
    Ok(after)
}

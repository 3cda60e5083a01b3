//! Visit schedules as staff and the CLI see them, and re-planning after a protocol amendment.

use chrono::{DateTime, Utc};

use super::{
    Change, VisitView, for_staff, not_found, set_window, to_events, update_visit, window_of,
};
use crate::{
    app::App,
    auth::StaffActor,
    domain::answering::ResponseStatus,
    domain::{
        audit::Actor,
        participant::{self as rule, Event},
        permissions::Action,
        schedule::{self, VisitFacts, VisitState},
    },
    error::Result,
    store::{
        self,
        participants::{ParticipantRow, VisitRow},
        responses::ResponseRow,
    },
};

/// Submitted questionnaires of a visit as `key@version` with their assessment instant: the
/// submission, or for a paper form the start of the day the participant filled it in
/// (`completed_on`, study time zone).
pub fn submitted_for(
    responses: &[ResponseRow],
    visit: &str,
    tz: chrono_tz::Tz,
) -> Vec<(String, DateTime<Utc>)> {
    responses
        .iter()
        .filter(|r| {
            r.visit_code == visit
                && (r.status == ResponseStatus::Completed || r.status == ResponseStatus::Amended)
        })
        .filter_map(|r| {
            let at = match r.completed_on {
                Some(day) => Some(schedule::local_midnight(tz, day)),
                None => r.submitted_at,
            };
            at.map(|at| {
                (
                    format!("{}@{}", r.questionnaire_key, r.questionnaire_version),
                    at,
                )
            })
        })
        .collect()
}

/// Why a visit is not applicable or not expected: the kind of the event that closed it, else
/// the event that stopped questionnaires.
fn cause_of(v: &VisitRow, state: VisitState, events: &[Event]) -> Option<String> {
    match state {
        VisitState::NotExpected => Some(
            v.final_cause
                .clone()
                .unwrap_or_else(|| schedule::BEFORE_REGISTRATION.into()),
        ),
        VisitState::NotApplicable => {
            let by_id = v
                .final_cause
                .as_deref()
                .and_then(|id| events.iter().find(|e| e.id == id));
            let stop = || {
                events
                    .iter()
                    .filter(|e| !e.entered_in_error && e.kind.stops_questionnaires())
                    .min_by_key(|e| e.date)
            };
            by_id.or_else(stop).map(|e| e.kind.as_str().to_string())
        }
        _ => None,
    }
}

/// The participant's visits with their states at `now` (nothing stored).
pub async fn current_views<C: sea_orm::ConnectionTrait>(
    db: &C,
    app: &App,
    p: &ParticipantRow,
    now: DateTime<Utc>,
) -> Result<Vec<VisitView>> {
    let evs = to_events(&store::participants::events(db, p.id).await?);
    let visits = store::participants::visits(db, p.id).await?;
    let responses = store::responses::of_participant(db, p.id).await?;
    Ok(visit_views(app, &visits, &evs, &responses, now)
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// Each stored visit with its state at `now` (pure over what was loaded).
pub(super) fn visit_views<'v>(
    app: &App,
    visits: &'v [VisitRow],
    events: &[Event],
    responses: &[ResponseRow],
    now: DateTime<Utc>,
) -> Vec<(&'v VisitRow, VisitView)> {
    let stop = rule::questionnaires_end(events, app.study.time_zone);
    visits
        .iter()
        .map(|v| {
            let due = store::participants::due_questionnaires(v);
            let submitted = submitted_for(responses, &v.code, app.study.time_zone);
            let state = schedule::state(
                &VisitFacts {
                    window: window_of(v),
                    stored: v.final_state,
                    due: &due,
                    submitted: &submitted,
                    missed_reason: v.missed_reason.is_some(),
                    questionnaires_end: stop,
                },
                now,
            );
            let view = VisitView {
                labels: app
                    .study
                    .visit_labels
                    .get(&v.code)
                    .cloned()
                    .unwrap_or_default(),
                code: v.code.clone(),
                window: window_of(v),
                state,
                sse_triggered: v.sse_triggered,
                missed_reason: v.missed_reason.clone(),
                missed_forms: v.missed_forms.0.clone(),
                cause: cause_of(v, state, events),
                questionnaires: due,
            };
            (v, view)
        })
        .collect()
}

/// The schedule with each visit's state now; final states reached since the last look are
/// stored (and audited, as the system's doing), never recomputed afterwards.
pub async fn schedule(app: &App, actor: &StaffActor, study_id: &str) -> Result<Vec<VisitView>> {
    let p = for_staff(&app.db, actor, Action::ParticipantRead, study_id, false).await?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let evs = to_events(&store::participants::events(&txn, p.id).await?);
    let visits = store::participants::visits(&txn, p.id).await?;
    let responses = store::responses::of_participant(&txn, p.id).await?;
    let system = Actor::system();
    let c = Change {
        txn: &txn,
        app,
        by: &system,
        staff: "",
        p: &p,
        now,
    };
    let mut out = Vec::new();
    for (row, view) in visit_views(app, &visits, &evs, &responses, now) {
        if view.state.is_final() && row.final_state.is_none() {
            let mut after = row.clone();
            after.final_state = Some(view.state);
            update_visit(c, row, after, "visit.state_recorded", None).await?;
        }
        out.push(view);
    }
    txn.commit().await?;
    Ok(out)
}

/// After a form was entered for `visit`: a missed (or partial) state stored earlier is
/// recomputed, so that forms typed in later (a paper form dated inside the window, or a late
/// entry with a reason) make the visit partial or completed, as the forms' own outcomes say.
/// A staff-recorded reason stays on the visit (for the forms still missing); event-caused
/// states (not applicable, not expected) stay.
pub async fn recheck_visit(
    txn: &sea_orm::DatabaseTransaction,
    app: &App,
    p: &ParticipantRow,
    visit: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let visits = store::participants::visits(txn, p.id).await?;
    let Some(row) = visits.iter().find(|v| v.code == visit) else {
        return Ok(());
    };
    let closed_without_forms = matches!(
        row.final_state,
        Some(VisitState::Missed | VisitState::Partial)
    ) && row.final_cause.is_none();
    if !closed_without_forms {
        return Ok(());
    }
    let evs = to_events(&store::participants::events(txn, p.id).await?);
    let responses = store::responses::of_participant(txn, p.id).await?;
    let mut fresh = row.clone();
    fresh.final_state = None;
    let Some((_, view)) = visit_views(app, &[fresh], &evs, &responses, now)
        .into_iter()
        .next()
    else {
        return Ok(());
    };
    if Some(view.state) == row.final_state || !view.state.is_final() {
        return Ok(());
    }
    let mut after = row.clone();
    after.final_state = Some(view.state);
    let system = Actor::system();
    let c = Change {
        txn,
        app,
        by: &system,
        staff: "",
        p,
        now,
    };
    let why = Some("a form was entered after the visit closed");
    update_visit(c, row, after, "visit.state_recomputed", why).await
}

/// The participant's events (for rules that read dates).
pub async fn events_of<C: sea_orm::ConnectionTrait>(
    db: &C,
    p: &ParticipantRow,
) -> Result<Vec<Event>> {
    Ok(to_events(&store::participants::events(db, p.id).await?))
}

/// The schedule as it was at `at`, for the operator's CLI (`epro schedule show --at`): each
/// visit as its audit trail stood then (window, SSE re-timing, stored state, missed reason),
/// with the events recorded and the forms submitted by then. Visits not yet scheduled then are
/// left out. Nothing is stored.
pub async fn schedule_as_of(
    app: &App,
    study_id: &str,
    at: DateTime<Utc>,
) -> Result<Vec<VisitView>> {
    let p = store::participants::find(&app.db, study_id)
        .await?
        .ok_or_else(|| not_found(study_id))?;
    let mut then = Vec::new();
    for v in store::participants::visits(&app.db, p.id).await? {
        let history =
            store::audit::for_entity(&app.db, "visit", &format!("{}/{}", p.study_id, v.code))
                .await?;
        let mut row: Option<VisitRow> = None;
        for e in history
            .iter()
            .filter(|e| chrono::DateTime::parse_from_rfc3339(&e.content.at).is_ok_and(|t| t <= at))
        {
            let after: serde_json::Value = e
                .content
                .after
                .as_deref()
                .and_then(|a| serde_json::from_str(a).ok())
                .unwrap_or_default();
            if e.content.action == "visit.scheduled" {
                let mut r = v.clone();
                r.final_state = None;
                r.final_cause = None;
                r.sse_triggered = false;
                r.missed_reason = None;
                r.missed_forms = store::Json(Default::default());
                apply_window(&mut r, &after);
                row = Some(r);
            } else if let Some(r) = row.as_mut() {
                apply_recorded(r, &after);
            }
        }
        then.extend(row);
    }
    let evs: Vec<_> = to_events(&store::participants::events(&app.db, p.id).await?)
        .into_iter()
        .filter(|e| e.recorded_at <= at)
        .collect();
    let responses: Vec<_> = store::responses::of_participant(&app.db, p.id)
        .await?
        .into_iter()
        .filter(|r| r.submitted_at.is_some_and(|s| s <= at))
        .collect();
    Ok(visit_views(app, &then, &evs, &responses, at)
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// A window recorded in the audit trail (`visits::window_json`), onto a visit row.
fn apply_window(r: &mut VisitRow, w: &serde_json::Value) {
    let instant = |k: &str| serde_json::from_value::<DateTime<Utc>>(w[k].clone()).ok();
    if let Ok(t) = serde_json::from_value(w["target"].clone()) {
        r.target_date = t;
    }
    if let Some(s) = instant("start") {
        r.window_start = s;
    }
    r.window_end = instant("end");
    r.grace_end = instant("grace_end");
}

/// The fields a visit change recorded in the audit trail, onto a visit row.
fn apply_recorded(r: &mut VisitRow, after: &serde_json::Value) {
    if after["window"].is_object() {
        apply_window(r, &after["window"]);
    }
    if let Some(b) = after["sse_triggered"].as_bool() {
        r.sse_triggered = b;
    }
    if let Some(state) = after.get("final_state") {
        r.final_state = state.as_str().and_then(VisitState::parse);
    }
    if let Some(reason) = after.get("missed_reason") {
        r.missed_reason = reason.as_str().map(str::to_string);
    }
}

/// A changed study file applies only to visits whose window has not opened (and that are not
/// final or SSE visits); each moved visit is audited as the system's doing.
pub async fn apply_amendment(app: &App) -> Result<usize> {
    let now = app.clock.now();
    let mut moved = 0;
    for p in store::participants::list(&app.db, None).await? {
        let txn = store::begin_write(&app.db).await?;
        let evs = to_events(&store::participants::events(&txn, p.id).await?);
        let visits = store::participants::visits(&txn, p.id).await?;
        let system = Actor::system();
        let c = Change {
            txn: &txn,
            app,
            by: &system,
            staff: "",
            p: &p,
            now,
        };
        for v in visits
            .iter()
            .filter(|v| v.window_start > now && v.final_state.is_none() && !v.sse_triggered)
        {
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
            set_window(&mut after, w);
            after.questionnaires = crate::store::Json(spec.questionnaires.clone());
            if after != *v {
                update_visit(c, v, after, "visit.rescheduled", Some("protocol amendment")).await?;
                moved += 1;
            }
        }
        txn.commit().await?;
    }
    Ok(moved)
}

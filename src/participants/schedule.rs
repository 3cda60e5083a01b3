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
        schedule::{self, VisitFacts},
    },
    error::Result,
    store::{
        self,
        participants::{ParticipantRow, VisitRow},
        responses::ResponseRow,
    },
};

/// Submitted questionnaires of a visit as `key@version` with their submission instant.
pub fn submitted_for(responses: &[ResponseRow], visit: &str) -> Vec<(String, DateTime<Utc>)> {
    responses
        .iter()
        .filter(|r| {
            r.visit_code == visit
                && (r.status == ResponseStatus::Completed || r.status == ResponseStatus::Amended)
        })
        .filter_map(|r| {
            r.submitted_at.map(|at| {
                (
                    format!("{}@{}", r.questionnaire_key, r.questionnaire_version),
                    at,
                )
            })
        })
        .collect()
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
pub(super) fn visit_views(
    app: &App,
    visits: &[VisitRow],
    events: &[Event],
    responses: &[ResponseRow],
    now: DateTime<Utc>,
) -> Vec<(VisitRow, VisitView)> {
    let stop = rule::questionnaires_end(events, app.study.time_zone);
    visits
        .iter()
        .map(|v| {
            let due = store::participants::due_questionnaires(v);
            let submitted = submitted_for(responses, &v.code);
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
                questionnaires: due,
            };
            (v.clone(), view)
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
            update_visit(c, &row, after, "visit.state_recorded", None).await?;
        }
        out.push(view);
    }
    txn.commit().await?;
    Ok(out)
}

/// The schedule as at the app clock's instant, for the operator's CLI; nothing is stored.
pub async fn schedule_as_of(app: &App, study_id: &str) -> Result<Vec<VisitView>> {
    let p = store::participants::find(&app.db, study_id)
        .await?
        .ok_or_else(|| not_found(study_id))?;
    current_views(&app.db, app, &p, app.clock.now()).await
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

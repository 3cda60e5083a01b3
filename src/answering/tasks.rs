//! A participant's tasks: the questionnaires of their open visit, with what is already sent.

use super::participant;
use crate::{
    app::App,
    auth::participant::ParticipantActor,
    domain::answering::TaskStatus,
    domain::schedule::VisitState,
    error::Result,
    participants::{self, VisitView},
    store::{self},
};

#[derive(Debug, Clone)]
pub struct TaskItem {
    pub key: String,
    pub version: String,
    pub status: TaskStatus,
}

#[derive(Debug, Clone)]
pub struct Task {
    pub visit: VisitView,
    pub questionnaires: Vec<TaskItem>,
}

pub(super) fn split_ref(q: &str) -> (String, String) {
    let (k, v) = q.split_once('@').unwrap_or((q, ""));
    (k.to_string(), v.to_string())
}

/// Visits open or in grace, with each questionnaire's status.
pub async fn tasks(app: &App, pa: &ParticipantActor) -> Result<Vec<Task>> {
    let p = participant(app, pa).await?;
    let views = participants::current_views(&app.db, app, &p, app.clock.now()).await?;
    let responses = store::responses::of_participant(&app.db, p.id).await?;
    Ok(views
        .into_iter()
        .filter(|v| matches!(v.state, VisitState::Open | VisitState::Late))
        .map(|v| Task {
            questionnaires: items(&v, &responses),
            visit: v,
        })
        .collect())
}

/// A visit's questionnaires, each with the status of the response stored for it.
fn items(v: &VisitView, responses: &[store::responses::ResponseRow]) -> Vec<TaskItem> {
    v.questionnaires
        .iter()
        .map(|q| {
            let (key, version) = split_ref(q);
            let status = TaskStatus::of(
                responses
                    .iter()
                    .find(|r| r.visit_code == v.code && r.questionnaire_key == key)
                    .map(|r| r.status),
            );
            TaskItem {
                key,
                version,
                status,
            }
        })
        .collect()
}

/// How many of a visit's questionnaires the participant has still to send (what a reminder
/// counts: "3 short questionnaires").
pub async fn forms_left(app: &App, participant: uuid::Uuid, v: &VisitView) -> Result<usize> {
    let responses = store::responses::of_participant(&app.db, participant).await?;
    Ok(items(v, &responses)
        .iter()
        .filter(|q| q.status != TaskStatus::Completed)
        .count())
}

/// The participant's next visit still to come (its window not yet open), if any.
pub async fn next_window(app: &App, pa: &ParticipantActor) -> Result<Option<VisitView>> {
    let p = participant(app, pa).await?;
    let views = participants::current_views(&app.db, app, &p, app.clock.now()).await?;
    Ok(views.into_iter().find(|v| v.state == VisitState::Upcoming))
}

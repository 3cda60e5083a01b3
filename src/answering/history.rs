//! A participant's responses as staff see them.

use crate::{
    app::App,
    error::Result,
    participants::{self},
    store::{
        self,
        responses::{AnswerRow, ResponseRow, ScoreRow},
    },
};

/// A response with its answers and stored scores, for staff.
pub struct ResponseDetail {
    pub row: ResponseRow,
    pub answers: Vec<AnswerRow>,
    pub scores: Vec<ScoreRow>,
}

pub async fn list_for_staff(
    app: &App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
) -> Result<Vec<ResponseDetail>> {
    let p = participants::for_staff(
        &app.db,
        actor,
        crate::domain::permissions::Action::ResponseRead,
        study_id,
        false,
    )
    .await?;
    let mut out = Vec::new();
    for row in store::responses::of_participant(&app.db, p.id).await? {
        let answers = store::responses::answers(&app.db, row.id).await?;
        let scores = store::responses::scores(&app.db, row.id).await?;
        out.push(ResponseDetail {
            row,
            answers,
            scores,
        });
    }
    Ok(out)
}

/// A visit's questionnaires (keys, in the visit's order) not sent yet: where staff entry of the
/// visit goes next.
pub async fn unsent_forms(
    app: &App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
    visit: &participants::VisitView,
) -> Result<Vec<String>> {
    let p = participants::for_staff(
        &app.db,
        actor,
        crate::domain::permissions::Action::ResponseRead,
        study_id,
        false,
    )
    .await?;
    let sent = store::responses::of_participant(&app.db, p.id).await?;
    Ok(visit
        .questionnaires
        .iter()
        .map(|q| q.split('@').next().unwrap_or(q).to_string())
        .filter(|key| {
            !sent.iter().any(|r| {
                r.visit_code == visit.code && r.questionnaire_key == *key && r.status.is_submitted()
            })
        })
        .collect())
}

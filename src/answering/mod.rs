//! Answering: a participant's tasks, the questionnaire expanded for them (one NRS per active
//! lesion), drafts that merge by (item, lesion) under a revision check, and one idempotent
//! submission that validates, stores, scores and locks the response. Also `scores recompute`.
//! Blank answers stay blank; nothing here ever turns a missing answer into 0.

mod amend;
mod drafts;
mod expand;
mod history;
mod late_offline;
mod missed;
mod scores;
mod staff_entry;
mod submit;
mod tasks;

pub use amend::amend;
pub use drafts::{Draft, Entrant, save_draft, save_draft_as, save_draft_once};
use drafts::{merge, start_or_load, write_changes};
pub use expand::{Expanded, expanded, expanded_for_staff};
use expand::{active_lesions, visit_and_version};
pub use history::{ResponseDetail, list_for_staff, unsent_forms};
pub use missed::{Missed, record_missed};
pub use scores::recompute_scores;
pub use staff_entry::{staff_entrant, staff_save_draft, staff_submit};
pub use submit::{Device, Submission, Submitted, submit, submit_as};
use submit::{refused, submitted_view};
use tasks::split_ref;
pub use tasks::{Task, TaskItem, forms_left, next_window, tasks};

pub(crate) mod calls;
pub(crate) mod completion;
pub mod derived;
pub(crate) mod pain;
pub(crate) mod queries;

use crate::{
    app::App,
    auth::participant::ParticipantActor,
    domain::questionnaire::{
        Definition,
        answers::{self, Answer},
    },
    error::{Code, Error, Result},
    questionnaires::{self},
    store::{
        self,
        participants::ParticipantRow,
        responses::{AnswerRow, ResponseRow},
    },
};

pub use crate::domain::lesions::LesionRef;

async fn participant(app: &App, pa: &ParticipantActor) -> Result<ParticipantRow> {
    store::participants::find_by_id(&app.db, pa.id)
        .await?
        .ok_or(Error::Unauthenticated)
}

/// The answers of a response as the shared answer shape.
pub fn as_answers(rows: &[AnswerRow]) -> Vec<Answer> {
    rows.iter()
        .map(|a| Answer {
            item: a.item.clone(),
            value: a.value.0.clone(),
            lesion: (!a.lesion.is_empty()).then(|| a.lesion.clone()),
        })
        .collect()
}

fn stale(current: i32) -> Error {
    Error::Conflict {
        code: Code::DraftChanged,
        message: format!(
            "the draft changed elsewhere (now revision {current}); reload it and try again"
        ),
    }
}

/// A save without If-Match while a draft exists: not "changed elsewhere", but "say which
/// revision you saved over" (#31.5).
fn if_match_required(current: i32) -> Error {
    Error::Conflict {
        code: Code::IfMatchRequired,
        message: format!(
            "a draft of this questionnaire exists (revision {current}): read it and send its \
             revision as If-Match"
        ),
    }
}

fn invalid(errors: Vec<answers::AnswerError>) -> Error {
    Error::Unprocessable {
        code: Code::InvalidAnswer,
        message: answers::summarize(&errors),
    }
}

fn definition<'a>(app: &'a App, r: &ResponseRow) -> Result<&'a Definition> {
    Ok(
        &questionnaires::find(&app.library, &r.questionnaire_key, &r.questionnaire_version)?
            .definition,
    )
}

fn lesion_ids(r: &ResponseRow) -> Vec<String> {
    r.lesions.iter().map(|l| l.id.clone()).collect()
}

// ---------- staff entry, missed visits, amendments ----------

/// Scores as stored: the scoring file they came from, the results, when.
fn score_row(
    response: uuid::Uuid,
    s: &crate::domain::questionnaire::scoring::Scores,
    now: chrono::DateTime<chrono::Utc>,
) -> store::responses::ScoreRow {
    store::responses::ScoreRow {
        response_id: response,
        scoring: s.scoring.clone(),
        results: store::Json(serde_json::to_value(s).unwrap_or_default()),
        computed_at: now,
    }
}

/// The response's answers scored with its version's latest scoring file, if it has one.
fn latest_scores(
    app: &App,
    r: &ResponseRow,
    valid: &[answers::Valid],
) -> Result<Option<crate::domain::questionnaire::scoring::Scores>> {
    let def = definition(app, r)?;
    Ok(
        questionnaires::find(&app.library, &r.questionnaire_key, &r.questionnaire_version)?
            .latest_scoring()
            .map(|rules| crate::domain::questionnaire::scoring::score(def, rules, valid)),
    )
}

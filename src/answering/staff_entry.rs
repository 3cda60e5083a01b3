//! Staff entry on a participant's behalf (teleconsultation, paper typed in later): the same
//! drafts and submission, with the entry mode recorded.

use super::{Draft, Entrant, Submission, Submitted, save_draft_as, submit_as};
use crate::domain::problem::Problem;
use crate::{
    app::App,
    domain::{answering::EntryMode, questionnaire::answers::Answer},
    error::{Code, Error, Result},
    participants::{self},
    store::{self, participants::ParticipantRow},
};

/// Staff enter answers during a teleconsultation (`interviewer`) or from paper (`paper`).
pub fn staff_entrant(actor: &crate::auth::StaffActor, mode: &str) -> Result<Entrant> {
    let mode = EntryMode::staff_entry(mode).ok_or_else(|| {
        Error::invalid(
            "mode",
            Problem::NotOneOf {
                given: mode.to_string(),
                allowed: vec!["interviewer".into(), "paper".into()],
            },
        )
    })?;
    Ok(Entrant {
        actor: actor.audit_actor(),
        mode,
    })
}

#[allow(clippy::too_many_arguments)]
pub async fn staff_save_draft(
    app: &App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
    mode: &str,
    visit: &str,
    key: &str,
    if_match: Option<i32>,
    incoming: Vec<Answer>,
) -> Result<Draft> {
    let who = staff_entrant(actor, mode)?;
    let p = participants::for_staff(
        &app.db,
        actor,
        crate::domain::permissions::Action::ResponseEnter,
        study_id,
        false,
    )
    .await?;
    ensure_active(app, &p).await?;
    save_draft_as(app, &p, who, visit, key, if_match, incoming).await
}

pub async fn staff_submit(
    app: &App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
    mode: &str,
    submission: Submission,
) -> Result<Submitted> {
    let who = staff_entrant(actor, mode)?;
    let p = participants::for_staff(
        &app.db,
        actor,
        crate::domain::permissions::Action::ResponseEnter,
        study_id,
        false,
    )
    .await?;
    ensure_active(app, &p).await?;
    submit_as(app, &p, who, submission).await
}

/// No questionnaires are entered for a participant who withdrew, died or stopped PROs.
pub(super) async fn ensure_active(app: &App, p: &ParticipantRow) -> Result<()> {
    let events = store::participants::events(&app.db, p.id).await?;
    if events.iter().any(|e| {
        !e.entered_in_error
            && matches!(e.kind.as_str(), "withdrawal" | "death" | "pro_discontinued")
    }) {
        return Err(Error::Conflict {
            code: Code::QuestionnairesStopped,
            message: format!("{} no longer answers questionnaires", p.study_id),
        });
    }
    Ok(())
}

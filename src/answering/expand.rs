//! A questionnaire expanded for one participant and visit: the pinned version, one NRS item
//! per active lesion.

use super::{LesionRef, participant, split_ref};
use crate::{
    app::App,
    auth::participant::ParticipantActor,
    error::{Code, Error, Result},
    participants::{self, VisitView},
    questionnaires::{self, Reader, Resolved},
    store::{
        self,
        participants::ParticipantRow,
        responses::{AnswerRow, ResponseRow},
    },
};

/// The questionnaire of a visit, expanded for the participant, with any draft.
pub struct Expanded<'a> {
    pub resolved: Resolved<'a>,
    pub lesions: Vec<LesionRef>,
    pub response: Option<ResponseRow>,
    pub answers: Vec<AnswerRow>,
    pub visit: VisitView,
}

/// Find the visit and questionnaire a participant asks for; the visit must be open or in grace.
pub(super) async fn visit_and_version(
    app: &App,
    p: &ParticipantRow,
    visit: &str,
    key: &str,
) -> Result<(VisitView, String)> {
    let views = participants::current_views(&app.db, app, p, app.clock.now()).await?;
    let v = views
        .into_iter()
        .find(|v| v.code == visit)
        .ok_or_else(|| Error::Unknown {
            code: Code::UnknownVisit,
            message: format!("no visit {visit:?} in your schedule"),
        })?;
    let version = v
        .questionnaires
        .iter()
        .map(|q| split_ref(q))
        .find(|(k, _)| k == key)
        .map(|(_, ver)| ver)
        .ok_or_else(|| Error::Unknown {
            code: Code::UnknownQuestionnaire,
            message: format!("visit {visit} does not ask {key:?}"),
        })?;
    Ok((v, version))
}

/// The participant's active lesions. Inside a write transaction pass the transaction: a second
/// pool connection taken while holding the write lock can wait forever for connections held by
/// requests queued behind that lock.
pub(super) async fn active_lesions<C: sea_orm::ConnectionTrait>(
    db: &C,
    p: &ParticipantRow,
) -> Result<Vec<LesionRef>> {
    Ok(store::participants::lesions(db, p.id)
        .await?
        .into_iter()
        .filter(|l| l.active)
        .map(|l| LesionRef {
            id: l.id.to_string(),
            labels: l.labels.0.clone(),
        })
        .collect())
}

pub async fn expanded<'a>(
    app: &'a App,
    pa: &ParticipantActor,
    visit: &str,
    key: &str,
) -> Result<Expanded<'a>> {
    let p = participant(app, pa).await?;
    expanded_of(app, &p, visit, key).await
}

/// The same for staff entering answers (interview, paper) for a participant of their site.
pub async fn expanded_for_staff<'a>(
    app: &'a App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
    visit: &str,
    key: &str,
) -> Result<Expanded<'a>> {
    let p = participants::for_staff(
        &app.db,
        actor,
        crate::domain::permissions::Action::ResponseEnter,
        study_id,
        false,
    )
    .await?;
    expanded_of(app, &p, visit, key).await
}

pub(super) async fn expanded_of<'a>(
    app: &'a App,
    p: &ParticipantRow,
    visit: &str,
    key: &str,
) -> Result<Expanded<'a>> {
    let p = p.clone();
    let (v, version) = visit_and_version(app, &p, visit, key).await?;
    let response = store::responses::find(&app.db, p.id, visit, key).await?;
    let (lang, version, lesions) = match &response {
        Some(r) => (
            r.language.clone(),
            r.questionnaire_version.clone(),
            r.lesions.0.clone(),
        ),
        None => (
            store::responses::visit_language(&app.db, p.id, visit)
                .await?
                .unwrap_or_else(|| p.language.clone()),
            version,
            active_lesions(&app.db, &p).await?,
        ),
    };
    let resolved =
        questionnaires::resolve(&app.library, key, &version, &lang, Reader::Authenticated)?;
    let answers = match &response {
        Some(r) => store::responses::answers(&app.db, r.id).await?,
        None => vec![],
    };
    Ok(Expanded {
        resolved,
        lesions,
        response,
        answers,
        visit: v,
    })
}

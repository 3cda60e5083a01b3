//! Amending a submitted response: a new answer with a reason, audited with old and new values;
//! scores are recomputed.

use crate::domain::problem::Problem;
use serde_json::json;
use uuid::Uuid;

use super::{
    Entrant, Submitted, as_answers, definition, invalid, lesion_ids, merge, score_row,
    submitted_view, write_changes,
};
use crate::{
    app::App,
    audit::{self, Entry},
    domain::answering::{self as entry, AmendmentBasis, EntryMode, ResponseStatus},
    domain::{
        audit::{self as audit_rule},
        questionnaire::answers::{self, Answer},
    },
    error::{Code, Error, Result},
    participants::{self},
    store::{self},
};

/// The amendment's own fields: a known basis, a reason, something to change.
fn check_request(basis: &str, reason: &str, changes: &[Answer]) -> Result<AmendmentBasis> {
    let basis = AmendmentBasis::parse(basis).ok_or_else(|| {
        Error::invalid(
            "basis",
            Problem::NotOneOf {
                given: basis.to_string(),
                allowed: vec!["participant_request".into(), "transcription_error".into()],
            },
        )
    })?;
    if reason.trim().is_empty() {
        return Err(Error::invalid("reason", Problem::ReasonRequired));
    }
    if changes.is_empty() {
        return Err(Error::invalid("answers", Problem::NoAnswers));
    }
    Ok(basis)
}

/// The participant's submitted response `response_id` (a draft is edited, not amended).
async fn submitted_response(
    txn: &sea_orm::DatabaseTransaction,
    p: &crate::store::participants::ParticipantRow,
    response_id: &str,
) -> Result<crate::store::responses::ResponseRow> {
    let unknown = || Error::Unknown {
        code: Code::UnknownResponse,
        message: format!("{} has no response {response_id:?}", p.study_id),
    };
    let id: Uuid = response_id.parse().map_err(|_| unknown())?;
    let r = store::responses::of_participant(txn, p.id)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(unknown)?;
    if r.status == ResponseStatus::Draft {
        return Err(Error::Conflict {
            code: Code::NotSubmitted,
            message: "a draft is edited, not amended".into(),
        });
    }
    Ok(r)
}

/// Every changed answer may change on this basis (`entry::may_amend`).
fn check_protected(
    rows: &[crate::store::responses::AnswerRow],
    changes: &[Answer],
    basis: AmendmentBasis,
) -> Result<()> {
    for a in changes {
        let mode = rows
            .iter()
            .find(|row| row.item == a.item && row.lesion == a.lesion.clone().unwrap_or_default())
            .map_or(EntryMode::SelfReport, |row| row.mode);
        if !entry::may_amend(mode, basis) {
            return Err(Error::Unprocessable {
                code: Code::SelfReportProtected,
                message: format!(
                    "item {}: a self-reported answer is amended only at the participant's documented request (basis participant_request)",
                    a.item
                ),
            });
        }
    }
    Ok(())
}

/// Re-score the response with every scoring file of its version, replacing each earlier result,
/// so that no stored score is left stale by the amendment.
async fn rescore(
    txn: &sea_orm::DatabaseTransaction,
    app: &App,
    r: &crate::store::responses::ResponseRow,
    valid: &[answers::Valid],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let def = definition(app, r)?;
    let version =
        crate::questionnaires::find(&app.library, &r.questionnaire_key, &r.questionnaire_version)?;
    for (rules, _) in version.scorings.values() {
        let s = crate::domain::questionnaire::scoring::score(def, rules, valid);
        store::responses::replace_score(txn, score_row(r.id, &s, now)).await?;
    }
    Ok(())
}

/// Amend a submitted response (site staff). Self-reported answers change only at the
/// participant's documented request (`basis: participant_request`); interviewer and paper
/// answers may also be corrected for transcription errors. Scores are recomputed.
pub async fn amend(
    app: &App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
    response_id: &str,
    basis: &str,
    reason: &str,
    changes_in: Vec<Answer>,
) -> Result<Submitted> {
    let p = participants::for_staff(
        &app.db,
        actor,
        crate::domain::permissions::Action::ResponseAmend,
        study_id,
        false,
    )
    .await?;
    let basis = check_request(basis, reason, &changes_in)?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let mut r = submitted_response(&txn, &p, response_id).await?;
    let def = definition(app, &r)?;
    let lesions = lesion_ids(&r);
    answers::validate(def, &changes_in, Some(&lesions)).map_err(invalid)?;
    let rows = store::responses::answers(&txn, r.id).await?;
    check_protected(&rows, &changes_in, basis)?;
    let current = as_answers(&rows);
    let (merged, changes) = merge(def, &current, &changes_in);
    let valid = answers::validate(def, &merged, Some(&lesions)).map_err(invalid)?;
    // Amended answers keep their mode; the actor and time say who changed them.
    for c in &changes {
        let item = c["item"].as_str().unwrap_or_default();
        let lesion = c["lesion"].as_str().unwrap_or_default();
        let mode = rows
            .iter()
            .find(|row| row.item == item && row.lesion == lesion)
            .map_or(EntryMode::Interviewer, |row| entry::amended_mode(row.mode));
        let by = Entrant {
            actor: actor.audit_actor(),
            mode,
        };
        write_changes(&txn, &r, std::slice::from_ref(c), &by, now).await?;
    }
    rescore(&txn, app, &r, &valid, now).await?;
    let answers_sha256 =
        audit_rule::answers_digest(&store::responses::answer_facts(&txn, r.id).await?);
    let before_status = r.status;
    r.status = ResponseStatus::Amended;
    r.revision += 1;
    store::responses::update(&txn, r.clone()).await?;
    crate::fhir::subscriptions::enqueue(&txn, app, &p, &r, now).await?;
    let facts = audit::response_facts(&txn, r.id).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "response.amended", "response")
            .entity(r.id)
            .before(json!({ "status": before_status, "answers": changes.iter().map(|c| json!({"item": c["item"], "lesion": c["lesion"], "value": c["old"]})).collect::<Vec<_>>() }))
            .after(json!({ "status": "amended", "basis": basis, "answers_sha256": answers_sha256, "answers": changes.iter().map(|c| json!({"item": c["item"], "lesion": c["lesion"], "value": c["new"]})).collect::<Vec<_>>(), "facts": facts }))
            .reason(reason.trim()),
    )
    .await?;
    txn.commit().await?;
    submitted_view(app, &r).await
}

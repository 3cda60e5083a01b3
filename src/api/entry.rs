//! Staff entry on a participant's behalf: a teleconsultation interview (mode `interviewer`) or a
//! paper questionnaire (mode `paper`, with its completion date); missed visits with their reason;
//! amendments of submitted responses; the participant's responses with answers and scores.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path},
    payload::Json,
};
use serde_json::Value;

use super::{
    ApiError, StaffToken, Tag,
    me::{AnswerOut, DraftOut, DraftResponse, SubmittedOut, submitted_out},
    questionnaires::{AnswerIn, to_answers},
};
use crate::{
    answering::{self, Submission},
    app::App,
    domain::answering::ResponseStatus,
    participants::parse_date,
};

pub struct EntryApi {
    pub app: Arc<App>,
}

/// How staff enter answers on the participant's behalf.
#[derive(Debug, Clone, Copy, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum EntryMode {
    /// During a teleconsultation, asking the participant.
    Interviewer,
    /// Transcribed from a paper questionnaire.
    Paper,
}

impl EntryMode {
    fn as_str(self) -> &'static str {
        match self {
            EntryMode::Interviewer => "interviewer",
            EntryMode::Paper => "paper",
        }
    }
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StaffDraftIn {
    /// interviewer (teleconsultation) or paper.
    pub mode: EntryMode,
    pub answers: Vec<AnswerIn>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StaffSubmitIn {
    /// interviewer (teleconsultation) or paper.
    pub mode: EntryMode,
    #[oai(default)]
    pub answers: Vec<AnswerIn>,
    /// Paper: the day the participant filled it in (YYYY-MM-DD).
    pub completed_on: Option<String>,
    /// Required for an entry after the grace period.
    pub reason: Option<String>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MissedIn {
    /// too_ill, hospitalised, declined, unable_vision, unable_cognition, unable_language,
    /// technical_problem, administrative_failure, deceased or other.
    pub reason: String,
    /// Required with `other`.
    pub text: Option<String>,
    /// One questionnaire of the visit (`key` or `key@version`) that was not done; absent: the
    /// whole visit.
    #[oai(validator(max_length = 100))]
    pub questionnaire: Option<String>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AmendIn {
    /// participant_request (required to change self-reported answers) or transcription_error.
    pub basis: String,
    /// Why; kept in the audit trail with the old and new values.
    pub reason: String,
    pub answers: Vec<AnswerIn>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StaffAnswerOut {
    pub item: String,
    pub lesion: Option<String>,
    pub value: Value,
    /// self, interviewer or paper.
    pub mode: String,
    pub actor: String,
    pub answered_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ResponseOut {
    pub id: String,
    pub visit: String,
    pub questionnaire: String,
    pub language: String,
    pub wording_sha256: String,
    /// draft, completed or amended.
    pub status: String,
    /// self, interviewer, paper or mixed.
    pub mode: Option<String>,
    pub started_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub completed_on: Option<String>,
    pub late: bool,
    pub answers: Vec<StaffAnswerOut>,
    /// Stored score sets, each naming its scoring file.
    pub scores: Vec<Value>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Done {
    pub ok: bool,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DoseIn {
    /// Oral morphine equivalent, mg/day.
    pub omed_mg_per_day: f64,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PainPointOut {
    pub visit: String,
    /// The day the NRS was filled in (YYYY-MM-DD, study time zone).
    pub day: String,
    /// Worst pain 0–10.
    pub value: i64,
    /// Change from the lesion's baseline (its last NRS on or before radiotherapy, or before
    /// randomization for a lesion not irradiated).
    pub change: Option<i64>,
    /// A rise of 2 or more from the first NRS.
    pub assess_for_sse: bool,
    pub omed_mg_per_day: Option<f64>,
    /// complete, partial, progression or indeterminate (irradiated lesions after radiotherapy,
    /// baseline pain 2 or more, known doses); otherwise not_evaluable, with the reason.
    pub consensus_category: Option<String>,
    /// Why the category is not_evaluable: before_reference, not_irradiated, no_baseline,
    /// baseline_pain_below_2 or no_analgesic_dose.
    pub not_evaluable: Option<String>,
    /// Pain progression, every followed lesion: the consensus definition, or pain alone (a rise
    /// of 2 or more) when an analgesic dose is not recorded.
    pub progression: Option<bool>,
    /// pain_and_analgesics (consensus) or pain_only (the analgesic condition was not assessed:
    /// a dose is missing).
    pub progression_basis: Option<String>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LesionPainOut {
    pub lesion: String,
    pub label: String,
    pub active: bool,
    pub irradiation_date: Option<String>,
    /// The baseline NRS's day (YYYY-MM-DD).
    pub baseline_day: Option<String>,
    pub baseline_value: Option<i64>,
    /// Days from radiotherapy (or randomization) to the first progression.
    pub time_to_progression_days: Option<i64>,
    pub points: Vec<PainPointOut>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PainFlagOut {
    pub study_id: String,
    pub site: String,
    pub lesion: LesionPainOut,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct QueryIn {
    pub text: String,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CloseQueryIn {
    pub note: String,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct QueryOut {
    pub id: String,
    pub text: String,
    pub raised_by: String,
    pub raised_at: DateTime<Utc>,
    pub closed_by: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closing_note: Option<String>,
}

fn query_out(q: crate::store::responses::QueryRow) -> QueryOut {
    QueryOut {
        id: q.id.to_string(),
        text: q.text,
        raised_by: q.raised_by,
        raised_at: q.raised_at,
        closed_by: q.closed_by,
        closed_at: q.closed_at,
        closing_note: q.closing_note,
    }
}

fn lesion_pain_out(app: &App, l: crate::answering::pain::LesionPain) -> LesionPainOut {
    let lang = app
        .study
        .languages
        .first()
        .cloned()
        .unwrap_or_else(|| "en".into());
    LesionPainOut {
        label: crate::answering::pain::label_of(&l, &lang),
        lesion: l.lesion,
        active: l.active,
        irradiation_date: l.irradiation_date.map(|d| d.to_string()),
        baseline_day: l.baseline.as_ref().map(|b| b.1.to_string()),
        baseline_value: l.baseline.as_ref().map(|b| b.2),
        time_to_progression_days: l.time_to_progression_days,
        points: l
            .points
            .into_iter()
            .map(|p| PainPointOut {
                visit: p.visit,
                day: p.day.to_string(),
                value: p.value,
                change: p.change,
                assess_for_sse: p.assess_for_sse,
                omed_mg_per_day: p.omed,
                consensus_category: p.category,
                not_evaluable: p.not_evaluable.map(str::to_string),
                progression: p.progression,
                progression_basis: p.progression_basis.map(|b| b.as_str().to_string()),
            })
            .collect(),
    }
}

#[OpenApi(tag = "Tag::Answering")]
impl EntryApi {
    /// Save a draft on the participant's behalf (interviewer or paper). If-Match as for participants.
    #[oai(
        path = "/v1/participants/:study_id/visits/:visit/responses/:key",
        method = "put"
    )]
    async fn draft(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        visit: Path<String>,
        key: Path<String>,
        #[oai(name = "If-Match", validator(pattern = r#"^(W/)?"?[0-9]{1,9}"?$"#))] if_match: Header<
            Option<String>,
        >,
        body: Json<StaffDraftIn>,
    ) -> Result<DraftResponse, ApiError> {
        let actor = token.actor(&self.app).await?;
        let rev = super::me::parse_if_match(if_match.0)?;
        let b = body.0;
        let d = answering::staff_save_draft(
            &self.app,
            &actor,
            &study_id,
            b.mode.as_str(),
            &visit,
            &key,
            rev,
            to_answers(b.answers),
        )
        .await?;
        Ok(DraftResponse::Ok(
            Json(DraftOut {
                response_id: d.response_id.to_string(),
                status: ResponseStatus::Draft.as_str().into(),
                revision: d.revision,
                answers: d
                    .answers
                    .into_iter()
                    .map(|a| AnswerOut {
                        item: a.item,
                        value: a.value,
                        lesion: a.lesion,
                    })
                    .collect(),
            }),
            format!("\"{}\"", d.revision),
        ))
    }

    /// Submit on the participant's behalf (Idempotency-Key). After the grace period a reason is required.
    #[oai(
        path = "/v1/participants/:study_id/visits/:visit/responses/:key/submit",
        method = "post"
    )]
    async fn submit(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        visit: Path<String>,
        key: Path<String>,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))]
        idempotency_key: Header<String>,
        body: Json<StaffSubmitIn>,
    ) -> Result<Json<SubmittedOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let b = body.0;
        let completed_on = b
            .completed_on
            .as_deref()
            .map(|d| parse_date("completed_on", d))
            .transpose()?;
        let s = answering::staff_submit(
            &self.app,
            &actor,
            &study_id,
            b.mode.as_str(),
            Submission {
                visit: visit.0,
                key: key.0,
                idempotency_key: idempotency_key.0,
                answers: to_answers(b.answers),
                client_utc_offset_minutes: None,
                completed_on,
                entry_reason: b.reason,
                device_completed_at: None,
            },
        )
        .await?;
        Ok(Json(submitted_out(s)))
    }

    /// Record why a visit's questionnaires (or one of them) were not done.
    #[oai(
        path = "/v1/participants/:study_id/visits/:visit/missed",
        method = "post"
    )]
    async fn missed(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        visit: Path<String>,
        body: Json<MissedIn>,
    ) -> Result<Json<Done>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let b = body.0;
        let missed = answering::Missed {
            visit: visit.0,
            questionnaire: b.questionnaire,
            reason: b.reason,
            text: b.text,
        };
        answering::record_missed(&self.app, &actor, &study_id, missed).await?;
        Ok(Json(Done { ok: true }))
    }

    /// Amend a submitted response (site staff, with a basis and a reason); scores are recomputed.
    #[oai(
        path = "/v1/participants/:study_id/responses/:response_id/amend",
        method = "post"
    )]
    async fn amend(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        response_id: Path<String>,
        body: Json<AmendIn>,
    ) -> Result<Json<SubmittedOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let b = body.0;
        let s = answering::amend(
            &self.app,
            &actor,
            &study_id,
            &response_id,
            &b.basis,
            &b.reason,
            to_answers(b.answers),
        )
        .await?;
        Ok(Json(submitted_out(s)))
    }

    /// Record the analgesic dose at a visit (oral morphine equivalent, mg/day).
    #[oai(
        path = "/v1/participants/:study_id/visits/:visit/analgesic",
        method = "post"
    )]
    async fn analgesic(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        visit: Path<String>,
        body: Json<DoseIn>,
    ) -> Result<Json<Done>, ApiError> {
        let actor = token.actor(&self.app).await?;
        crate::answering::pain::record_dose(
            &self.app,
            &actor,
            &study_id,
            &visit,
            body.omed_mg_per_day,
        )
        .await?;
        Ok(Json(Done { ok: true }))
    }

    /// Worst pain per lesion across visits: change from the first NRS, the "assess for SSE"
    /// flag, and the consensus response category for irradiated lesions.
    #[oai(path = "/v1/participants/:study_id/pain", method = "get")]
    async fn pain(
        &self,
        token: StaffToken,
        study_id: Path<String>,
    ) -> Result<Json<Vec<LesionPainOut>>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let list = crate::answering::pain::overview(&self.app, &actor, &study_id).await?;
        Ok(Json(
            list.into_iter()
                .map(|l| lesion_pain_out(&self.app, l))
                .collect(),
        ))
    }

    /// Lesions whose latest NRS rose 2 or more above their first: assess for an SSE.
    #[oai(path = "/v1/pain-flags", method = "get")]
    async fn pain_flags(&self, token: StaffToken) -> Result<Json<Vec<PainFlagOut>>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let list = crate::answering::pain::flags(&self.app, &actor).await?;
        Ok(Json(
            list.into_iter()
                .map(|(study_id, site, l)| PainFlagOut {
                    study_id,
                    site,
                    lesion: lesion_pain_out(&self.app, l),
                })
                .collect(),
        ))
    }

    /// Raise a data query on a response (data managers).
    #[oai(
        path = "/v1/participants/:study_id/responses/:response_id/queries",
        method = "post"
    )]
    async fn raise_query(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        response_id: Path<String>,
        body: Json<QueryIn>,
    ) -> Result<Json<QueryOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        Ok(Json(query_out(
            crate::answering::queries::raise_query(
                &self.app,
                &actor,
                &study_id,
                &response_id,
                &body.text,
            )
            .await?,
        )))
    }

    /// The queries on a response.
    #[oai(
        path = "/v1/participants/:study_id/responses/:response_id/queries",
        method = "get"
    )]
    async fn list_queries(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        response_id: Path<String>,
    ) -> Result<Json<Vec<QueryOut>>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let list =
            crate::answering::queries::queries(&self.app, &actor, &study_id, &response_id).await?;
        Ok(Json(list.into_iter().map(query_out).collect()))
    }

    /// Close a query (site staff), saying how it was resolved.
    #[oai(
        path = "/v1/participants/:study_id/responses/:response_id/queries/:query_id/close",
        method = "post"
    )]
    async fn close_query(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        response_id: Path<String>,
        query_id: Path<String>,
        body: Json<CloseQueryIn>,
    ) -> Result<Json<QueryOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        Ok(Json(query_out(
            crate::answering::queries::close_query(
                &self.app,
                &actor,
                &study_id,
                &response_id,
                &query_id,
                &body.note,
            )
            .await?,
        )))
    }

    /// The participant's responses with answers (mode, actor, time) and stored scores.
    #[oai(path = "/v1/participants/:study_id/responses", method = "get")]
    async fn responses(
        &self,
        token: StaffToken,
        study_id: Path<String>,
    ) -> Result<Json<Vec<ResponseOut>>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let list = answering::list_for_staff(&self.app, &actor, &study_id).await?;
        Ok(Json(
            list.into_iter()
                .map(|d| ResponseOut {
                    id: d.row.id.to_string(),
                    visit: d.row.visit_code,
                    questionnaire: format!(
                        "{}@{}",
                        d.row.questionnaire_key, d.row.questionnaire_version
                    ),
                    language: d.row.language,
                    wording_sha256: d.row.wording_sha256,
                    status: d.row.status.to_string(),
                    mode: d.row.mode.map(|m| m.to_string()),
                    started_at: d.row.started_at,
                    submitted_at: d.row.submitted_at,
                    completed_on: d.row.completed_on.map(|d| d.to_string()),
                    late: d.row.late,
                    answers: d
                        .answers
                        .into_iter()
                        .map(|a| StaffAnswerOut {
                            lesion: (!a.lesion.is_empty()).then_some(a.lesion),
                            item: a.item,
                            value: a.value.0,
                            mode: a.mode.to_string(),
                            actor: format!("{}:{}", a.actor_kind, a.actor_id),
                            answered_at: a.answered_at,
                        })
                        .collect(),
                    scores: d.scores.into_iter().map(|s| s.results.0).collect(),
                })
                .collect(),
        ))
    }
}

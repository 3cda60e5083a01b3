//! The participant's own API: log in with link + PIN, then /api/v1/me/… — tasks, the expanded
//! questionnaire of a visit, drafts (If-Match revision) and submission (Idempotency-Key).
//! Also the staff endpoints that hand out access: the link (with QR code) and the PIN.

use std::sync::Arc;

use chrono::{DateTime, Days, Utc};
use poem_openapi::{
    ApiResponse, Object, OpenApi, SecurityScheme,
    auth::Bearer,
    param::{Header, Path},
    payload::Json,
};
use serde_json::Value;

use super::{
    ApiError, StaffToken, Tag,
    questionnaires::{AnswerIn, ItemOut, ScoresOut, item_out, scale_out, to_answers},
};
use crate::{
    answering::{self, LesionRef},
    app::App,
    auth::participant::{self, ParticipantActor},
    domain::answering::ResponseStatus,
    domain::{
        questionnaire::{Entry, answers::Answer},
        schedule,
    },
};

/// A participant session token from POST /api/v1/auth/participant.
#[derive(SecurityScheme)]
#[oai(ty = "bearer")]
pub struct ParticipantToken(Bearer);

impl ParticipantToken {
    async fn actor(&self, app: &App) -> Result<ParticipantActor, ApiError> {
        Ok(participant::authenticate(app, &self.0.token).await?)
    }
}

pub struct MeApi {
    pub app: Arc<App>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PinIn {
    /// 4–8 digits; omit to have one generated (shown once).
    pub pin: Option<String>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AccessLinkOut {
    /// The personal link, shown once. Issuing a new one revokes this one.
    pub url: String,
    /// The link's token (what POST /api/v1/auth/participant takes).
    pub link_token: String,
    /// The URL as a QR code (SVG) to scan with a phone.
    pub qr_svg: String,
    /// Present only when the PIN was set now: hand it to the participant separately.
    pub pin: Option<String>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PinOut {
    /// The generated PIN (absent when you chose it).
    pub pin: Option<String>,
}

#[derive(Debug, Object)]
pub struct RevokeLinksIn {
    /// Why (recorded in the audit trail), e.g. "phone lost".
    pub reason: String,
}

#[derive(Debug, Object)]
pub struct RevokeLinksOut {
    /// Live links (staff-issued and reminder links) that were revoked.
    pub links_revoked: u64,
    /// Participant sessions that were ended.
    pub sessions_ended: u64,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ParticipantLoginIn {
    pub link_token: String,
    pub pin: String,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ParticipantLoginOut {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TaskQuestionnaire {
    pub key: String,
    pub version: String,
    /// not_started, in_progress or completed.
    pub status: String,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TaskOut {
    pub visit: String,
    /// The visit's label in the participant's language.
    pub label: String,
    /// open or late (in the grace period).
    pub state: String,
    /// Last day of the window, local date (YYYY-MM-DD).
    pub last_day: Option<String>,
    /// Answers are accepted until this instant.
    pub grace_end: Option<DateTime<Utc>>,
    pub questionnaires: Vec<TaskQuestionnaire>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MyLesionOut {
    pub id: String,
    /// The plain-language label in the response's language.
    pub label: String,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DraftOut {
    pub response_id: String,
    /// draft, completed or amended.
    pub status: String,
    /// Send it back as If-Match with the next save.
    pub revision: i32,
    pub answers: Vec<AnswerOut>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AnswerOut {
    pub item: String,
    pub value: Value,
    pub lesion: Option<String>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MyQuestionnaireOut {
    pub visit: String,
    pub key: String,
    pub version: String,
    pub language: String,
    pub title: Option<String>,
    pub instructions: Option<String>,
    /// open, licensed or demo (pages show a notice for demo wording).
    pub wording_kind: String,
    pub wording_sha256: Option<String>,
    /// The lesions this response asks about (fixed when the response starts).
    pub lesions: Vec<MyLesionOut>,
    /// Every question in order; per-lesion questions once per lesion, naming it.
    pub items: Vec<ItemOut>,
    /// The draft or submitted response, if started.
    pub response: Option<DraftOut>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DraftIn {
    pub answers: Vec<AnswerIn>,
}

#[derive(ApiResponse)]
pub enum DraftResponse {
    /// Saved; the new revision is also the ETag.
    #[oai(status = 200)]
    Ok(Json<DraftOut>, #[oai(header = "ETag")] String),
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SubmitIn {
    /// Final answers merged into the draft before submitting (optional).
    #[oai(default)]
    pub answers: Vec<AnswerIn>,
    /// The device's offset from UTC in minutes at submission (e.g. 60 in winter in Belgium).
    #[oai(validator(minimum(value = "-840"), maximum(value = "840")))]
    pub client_utc_offset_minutes: Option<i32>,
    /// When *send* was pressed, by the device's clock (an app that finished the form offline).
    /// A form received after the visit closed is taken as on time (`synced_late`) when this
    /// time is inside the window or its grace period and plausible (docs/trial-rules.md).
    pub device_completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SubmittedOut {
    pub response_id: String,
    pub status: String,
    pub submitted_at: DateTime<Utc>,
    /// Submitted after the window closed, inside the grace period.
    pub late: bool,
    /// Received after the visit closed, taken as on time by `device_completed_at`.
    pub synced_late: bool,
    /// The device's completion time as recorded (when sent and plausible).
    pub device_completed_at: Option<DateTime<Utc>>,
    /// key@version answered.
    pub questionnaire: String,
    /// sha256 of the wording shown.
    pub wording_sha256: String,
    pub scores: Option<ScoresOut>,
}

fn answers_out(list: Vec<Answer>) -> Vec<AnswerOut> {
    list.into_iter()
        .map(|a| AnswerOut {
            item: a.item,
            value: a.value,
            lesion: a.lesion,
        })
        .collect()
}

pub(crate) fn submitted_out(s: answering::Submitted) -> SubmittedOut {
    let (key_s, version) = s
        .questionnaire
        .split_once('@')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .unwrap_or_default();
    SubmittedOut {
        response_id: s.response_id.to_string(),
        status: s.status.to_string(),
        submitted_at: s.submitted_at,
        late: s.late,
        synced_late: s.synced_late,
        device_completed_at: s.device_completed_at,
        questionnaire: s.questionnaire,
        wording_sha256: s.wording_sha256,
        scores: s.scores.map(|sc| ScoresOut {
            questionnaire: key_s,
            version,
            scoring: sc.scoring,
            scales: sc.scales.into_iter().map(scale_out).collect(),
            summaries: sc.summaries.into_iter().map(scale_out).collect(),
        }),
    }
}

fn etag(revision: i32) -> String {
    format!("\"{revision}\"")
}

pub(crate) fn parse_if_match(h: Option<String>) -> Result<Option<i32>, ApiError> {
    match h {
        None => Ok(None),
        Some(v) => v
            .trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .parse::<i32>()
            .map(Some)
            .map_err(|_| {
                ApiError::from(crate::error::Error::operator(
                    "If-Match",
                    format!("{v:?} is not a draft revision"),
                ))
            }),
    }
}

#[OpenApi(tag = "Tag::Answering")]
impl MeApi {
    /// Issue the participant's access link (site staff). Issuing again revokes only the earlier
    /// staff-issued link. The first time, the PIN is set (given, or generated and returned once).
    #[oai(path = "/v1/participants/:study_id/access-link", method = "post")]
    async fn access_link(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        body: Json<PinIn>,
    ) -> Result<Json<AccessLinkOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let l = participant::issue_staff_link(&self.app, &actor, &study_id, body.0.pin).await?;
        Ok(Json(AccessLinkOut {
            url: l.url,
            link_token: l.token,
            qr_svg: l.qr_svg,
            pin: l.pin,
        }))
    }

    /// Revoke every live link of the participant (staff-issued and reminder links) and end
    /// their sessions (site staff), e.g. when a phone or an email account is lost. Issue a new
    /// link afterwards with POST …/access-link; later reminders carry new links of their own.
    #[oai(
        path = "/v1/participants/:study_id/access-link/revoke",
        method = "post"
    )]
    async fn revoke_links(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        body: Json<RevokeLinksIn>,
    ) -> Result<Json<RevokeLinksOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let (links_revoked, sessions_ended) =
            participant::revoke_by_staff(&self.app, &actor, &study_id, &body.reason).await?;
        Ok(Json(RevokeLinksOut {
            links_revoked,
            sessions_ended,
        }))
    }

    /// Reset the participant's PIN (site staff); also lifts every PIN lock and ends the
    /// participant's sessions.
    #[oai(path = "/v1/participants/:study_id/pin", method = "post")]
    async fn reset_pin(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        body: Json<PinIn>,
    ) -> Result<Json<PinOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let pin = participant::reset_pin(&self.app, &actor, &study_id, body.0.pin).await?;
        Ok(Json(PinOut { pin }))
    }

    /// Participant login: the link's token and the PIN. Five wrong PINs lock for 15 minutes.
    #[oai(path = "/v1/auth/participant", method = "post")]
    async fn login(
        &self,
        body: Json<ParticipantLoginIn>,
    ) -> Result<Json<ParticipantLoginOut>, ApiError> {
        let l = participant::login(&self.app, &body.link_token, &body.pin).await?;
        Ok(Json(ParticipantLoginOut {
            token: l.token,
            expires_at: l.expires_at,
        }))
    }

    /// What is due: visits open or in their grace period, and each questionnaire's status.
    #[oai(path = "/v1/me/tasks", method = "get")]
    async fn tasks(&self, token: ParticipantToken) -> Result<Json<Vec<TaskOut>>, ApiError> {
        let pa = token.actor(&self.app).await?;
        let tz = self.app.study.time_zone;
        let tasks = answering::tasks(&self.app, &pa).await?;
        Ok(Json(
            tasks
                .into_iter()
                .map(|t| TaskOut {
                    label: t
                        .visit
                        .labels
                        .get(&pa.language)
                        .cloned()
                        .unwrap_or_else(|| t.visit.code.clone()),
                    visit: t.visit.code,
                    state: t.visit.state.as_str().into(),
                    last_day: t
                        .visit
                        .window
                        .end
                        .and_then(|e| schedule::local_date(tz, e).checked_sub_days(Days::new(1)))
                        .map(|d| d.to_string()),
                    grace_end: t.visit.window.grace_end,
                    questionnaires: t
                        .questionnaires
                        .into_iter()
                        .map(|q| TaskQuestionnaire {
                            key: q.key,
                            version: q.version,
                            status: q.status.to_string(),
                        })
                        .collect(),
                })
                .collect(),
        ))
    }

    /// A visit's questionnaire, expanded for me: per-lesion questions once per lesion.
    #[oai(path = "/v1/me/visits/:visit/questionnaires/:key", method = "get")]
    async fn questionnaire(
        &self,
        token: ParticipantToken,
        visit: Path<String>,
        key: Path<String>,
    ) -> Result<Json<MyQuestionnaireOut>, ApiError> {
        let pa = token.actor(&self.app).await?;
        let x = answering::expanded(&self.app, &pa, &visit, &key).await?;
        let def = &x.resolved.version.definition;
        let w = x.resolved.wording;
        let lang = x.resolved.language.clone();
        let text = |k: &str| w.and_then(|w| w.get(k)).map(String::from);
        let mut items = Vec::new();
        for entry in &def.items {
            match entry {
                Entry::Item(i) => items.push(item_out(def, i, w)),
                Entry::Group(g) => {
                    for l in &x.lesions {
                        for i in &g.items {
                            let mut out = item_out(def, i, w);
                            let label = l.label(&lang);
                            out.text = out.text.map(|t| t.replace("{lesion}", &label));
                            out.lesion = Some(l.id.clone());
                            out.lesion_label = Some(label);
                            items.push(out);
                        }
                    }
                }
            }
        }
        let response = x.response.as_ref().map(|r| DraftOut {
            response_id: r.id.to_string(),
            status: r.status.to_string(),
            revision: r.revision,
            answers: answers_out(answering::as_answers(&x.answers)),
        });
        Ok(Json(MyQuestionnaireOut {
            visit: x.visit.code.clone(),
            key: def.key.clone(),
            version: def.version.clone(),
            title: text(&def.title),
            instructions: def.instructions.as_deref().and_then(text),
            wording_kind: x.resolved.kind.as_str().into(),
            wording_sha256: w.map(|w| w.sha256.clone()),
            language: lang.clone(),
            lesions: x
                .lesions
                .iter()
                .map(|l: &LesionRef| MyLesionOut {
                    id: l.id.clone(),
                    label: l.label(&lang),
                })
                .collect(),
            items,
            response,
        }))
    }

    /// Save a draft: merges by (item, lesion), `null` clears. Send the revision as If-Match;
    /// a stale revision gets 409 `draft_changed`, none while a draft exists 409
    /// `if_match_required`. Or send an Idempotency-Key made for this save
    /// (an app that saves while offline): no revision is checked, the answers sent are merged
    /// item by item, a resend gets the original result and the same key with other answers
    /// 422 `idempotency_conflict`.
    #[oai(path = "/v1/me/visits/:visit/responses/:key", method = "put")]
    async fn save_draft(
        &self,
        token: ParticipantToken,
        visit: Path<String>,
        key: Path<String>,
        #[oai(name = "If-Match", validator(pattern = r#"^(W/)?"?[0-9]{1,9}"?$"#))] if_match: Header<
            Option<String>,
        >,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))]
        idempotency_key: Header<Option<String>>,
        body: Json<DraftIn>,
    ) -> Result<DraftResponse, ApiError> {
        let pa = token.actor(&self.app).await?;
        let answers = to_answers(body.0.answers);
        let d = match idempotency_key.0 {
            Some(id) => {
                answering::save_draft_once(&self.app, &pa, &visit, &key, &id, answers).await?
            }
            None => {
                let rev = parse_if_match(if_match.0)?;
                answering::save_draft(&self.app, &pa, &visit, &key, rev, answers).await?
            }
        };
        Ok(DraftResponse::Ok(
            Json(DraftOut {
                response_id: d.response_id.to_string(),
                status: ResponseStatus::Draft.as_str().into(),
                revision: d.revision,
                answers: answers_out(d.answers),
            }),
            etag(d.revision),
        ))
    }

    /// Submit once: validates the whole response, stores, scores and locks it. The same
    /// Idempotency-Key and body return the same result; the same key with another body 422
    /// `idempotency_conflict`; another submission gets 409
    /// `already_submitted`; after the grace period 409 `window_closed`, unless
    /// `device_completed_at` shows it was finished inside the window (then taken, `synced_late`)
    /// or not (409 `offline_completion_refused`, the answers kept as a quarantined draft).
    #[oai(path = "/v1/me/visits/:visit/responses/:key/submit", method = "post")]
    async fn submit(
        &self,
        token: ParticipantToken,
        visit: Path<String>,
        key: Path<String>,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))]
        idempotency_key: Header<String>,
        body: Json<SubmitIn>,
    ) -> Result<Json<SubmittedOut>, ApiError> {
        let pa = token.actor(&self.app).await?;
        let b = body.0;
        let s = answering::submit(
            &self.app,
            &pa,
            &visit,
            &key,
            &idempotency_key,
            to_answers(b.answers),
            answering::Device {
                utc_offset_minutes: b.client_utc_offset_minutes,
                completed_at: b.device_completed_at,
            },
        )
        .await?;
        Ok(Json(submitted_out(s)))
    }
}

//! /api/v1/participants: enrolment, events and corrections, lesions, the schedule; and the
//! lesion-location vocabulary. Site-scoped: another site's participant answers 404.
//! Calendar dates travel as `YYYY-MM-DD` strings (format `date`).

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde_json::Value;

use super::{ApiError, StaffToken, Tag};
use crate::{
    app::App,
    auth,
    domain::{permissions::Action, schedule},
    participants::{
        self as service, Correction, LesionInput, NewEvent, NewParticipant, ParticipantView,
        VisitView,
    },
    store::participants::{EventRow, LesionRow},
};

pub struct ParticipantsApi {
    pub app: Arc<App>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ParticipantIn {
    /// Pseudonymous study id, in the study file's `id_pattern` for this site (e.g. STUDY-SITE-001).
    pub study_id: String,
    /// Site code.
    pub site: String,
    /// Preferred language: nl, fr or en.
    pub language: String,
    /// YYYY-MM-DD, when already randomized; not before `enrolled_on`.
    #[oai(validator(max_length = 10))]
    pub randomization_date: Option<String>,
    /// YYYY-MM-DD, the day the participant was enrolled; today when absent. May be in the past
    /// (a participant already in follow-up when the site starts using epro), never before the
    /// study's start date nor in the future. Visits whose window closed before today are
    /// `not_expected` (cause `before_registration`).
    #[oai(validator(max_length = 10))]
    pub enrolled_on: Option<String>,
    /// The arm randomized to: a code of the study file's `[[arms]]`; given with
    /// `randomization_date`.
    #[oai(validator(max_length = 40))]
    pub arm: Option<String>,
    /// Personal data: encrypted at rest, never logged.
    #[oai(validator(max_length = 254))]
    pub email: Option<String>,
    /// Personal data: encrypted at rest, never logged.
    #[oai(validator(max_length = 40))]
    pub phone: Option<String>,
    /// How reminders reach the participant: `email` (default), `sms` or `both`. SMS needs a
    /// mobile number and a configured gateway.
    #[oai(validator(max_length = 8))]
    pub reminder_channel: Option<String>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventOut {
    pub id: String,
    /// randomization, sse, pro_discontinued, withdrawal or death (the kinds the study file's
    /// `[events] kinds` records; another is refused with 409 not_in_this_study).
    #[oai(rename = "type")]
    pub kind: String,
    /// YYYY-MM-DD.
    pub date: String,
    pub reason: String,
    pub sse_type: Option<String>,
    pub lesion: Option<String>,
    /// For a randomization: the arm.
    pub arm: Option<String>,
    pub recorded_at: DateTime<Utc>,
    /// Staff user id.
    pub recorded_by: String,
    pub entered_in_error: bool,
}

fn event_out(e: EventRow) -> EventOut {
    let details: Value = e.details.0.clone();
    EventOut {
        id: e.id.to_string(),
        kind: e.kind.to_string(),
        date: e.event_date.to_string(),
        reason: e.reason,
        sse_type: details
            .get("sse_type")
            .and_then(Value::as_str)
            .map(String::from),
        lesion: details
            .get("lesion")
            .and_then(Value::as_str)
            .map(String::from),
        arm: details.get("arm").and_then(Value::as_str).map(String::from),
        recorded_at: e.recorded_at,
        recorded_by: e.recorded_by,
        entered_in_error: e.entered_in_error,
    }
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ParticipantOut {
    pub study_id: String,
    pub site: String,
    pub language: String,
    /// YYYY-MM-DD.
    pub enrolled_on: String,
    /// YYYY-MM-DD.
    pub randomization_date: Option<String>,
    /// The arm recorded with the randomization.
    pub arm: Option<String>,
    /// enrolled, randomized, post_sse, completed, pro_discontinued, withdrawn or deceased — derived from events.
    pub status: String,
    pub has_email: bool,
    pub has_phone: bool,
    /// `email`, `sms` or `both`.
    pub reminder_channel: String,
    /// Only for the participant's own site staff.
    pub email: Option<String>,
    /// Only for the participant's own site staff.
    pub phone: Option<String>,
    pub active_lesions: u32,
    pub events: Vec<EventOut>,
}

impl From<ParticipantView> for ParticipantOut {
    fn from(v: ParticipantView) -> Self {
        Self {
            study_id: v.study_id,
            site: v.site,
            language: v.language,
            enrolled_on: v.enrolled_on.to_string(),
            randomization_date: v.randomization_date.map(|d| d.to_string()),
            arm: v.arm,
            status: v.status.as_str().into(),
            has_email: v.has_email,
            has_phone: v.has_phone,
            reminder_channel: v.reminder_channel.as_str().into(),
            email: v.email,
            phone: v.phone,
            active_lesions: v.active_lesions as u32,
            events: v.events.into_iter().map(event_out).collect(),
        }
    }
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventIn {
    /// randomization, sse, pro_discontinued, withdrawal or death (the kinds the study file's
    /// `[events] kinds` records; another is refused with 409 not_in_this_study).
    #[oai(rename = "type")]
    pub kind: String,
    /// YYYY-MM-DD: when it happened (not in the future).
    pub date: String,
    pub reason: String,
    /// For an SSE: a code of the study file's `[events] sse_types` (required when `[events] required` says so).
    pub sse_type: Option<String>,
    /// For an SSE: the lesion id, if known.
    pub lesion: Option<String>,
    /// For a randomization: the arm (a code of the study file's `[[arms]]`).
    #[oai(validator(max_length = 40))]
    pub arm: Option<String>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DetailsIn {
    /// Personal data: encrypted at rest, never logged; empty erases it.
    #[oai(validator(max_length = 254))]
    pub email: Option<String>,
    /// Personal data: encrypted at rest, never logged; empty erases it.
    #[oai(validator(max_length = 40))]
    pub phone: Option<String>,
    /// nl, fr or en: the language of the participant's pages and reminders from now on.
    #[oai(validator(max_length = 8))]
    pub language: Option<String>,
    /// `email`, `sms` or `both`: how reminders reach the participant from now on.
    #[oai(validator(max_length = 8))]
    pub reminder_channel: Option<String>,
    /// Why; mandatory, kept in the audit trail.
    #[oai(validator(max_length = 500))]
    pub reason: String,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CorrectionIn {
    /// The corrected date (YYYY-MM-DD).
    pub date: Option<String>,
    /// For a randomization: the corrected arm.
    #[oai(validator(max_length = 40))]
    pub arm: Option<String>,
    /// Mark the event as entered in error.
    pub entered_in_error: Option<bool>,
    /// Why; mandatory, kept in the audit trail.
    pub reason: String,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LesionIn {
    /// A code from GET /api/v1/lesion-locations.
    pub location: String,
    /// left or right, where the location has a side.
    pub side: Option<String>,
    /// Plain-language label per study language, as participants will read it.
    pub labels: BTreeMap<String, String>,
    pub detail: Option<String>,
    /// Codes of the study file's `[lesions] reasons` (at least one when it lists reasons).
    pub high_risk_reasons: Vec<String>,
    /// YYYY-MM-DD.
    pub irradiation_date: Option<String>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LesionPatch {
    pub location: Option<String>,
    pub side: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub detail: Option<String>,
    pub high_risk_reasons: Option<Vec<String>>,
    pub irradiation_date: Option<String>,
    /// false deactivates (lesions are never deleted).
    pub active: Option<bool>,
    pub reason: Option<String>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LesionOut {
    pub id: String,
    pub location: String,
    pub side: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub detail: Option<String>,
    pub high_risk_reasons: Vec<String>,
    pub irradiation_date: Option<String>,
    pub registered_on: String,
    pub active: bool,
}

fn lesion_out(l: LesionRow) -> LesionOut {
    LesionOut {
        id: l.id.to_string(),
        location: l.location,
        side: l.side,
        labels: l.labels.0,
        detail: l.detail,
        high_risk_reasons: l.high_risk_reasons.0,
        irradiation_date: l.irradiation_date.map(|d| d.to_string()),
        registered_on: l.registered_on.to_string(),
        active: l.active,
    }
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct VisitOut {
    pub code: String,
    pub labels: BTreeMap<String, String>,
    /// YYYY-MM-DD.
    pub target: String,
    pub window_start: DateTime<Utc>,
    /// Exclusive; absent while the baseline waits for randomization.
    pub window_end: Option<DateTime<Utc>>,
    /// Last day of the window in the study's time zone (YYYY-MM-DD).
    pub last_day: Option<String>,
    /// Exclusive end of the grace period (UTC): local midnight after `grace_last_day`.
    pub grace_end: Option<DateTime<Utc>>,
    /// Last day of the grace period in the study's time zone (YYYY-MM-DD).
    pub grace_last_day: Option<String>,
    /// upcoming, open, late, completed, partial, missed, not_applicable or not_expected.
    pub state: String,
    /// Why a visit is not_applicable (death, withdrawal, pro_discontinued, sse) or
    /// not_expected (before_registration).
    pub cause: Option<String>,
    pub sse_triggered: bool,
    pub missed_reason: Option<String>,
    /// key@version, in order.
    pub questionnaires: Vec<String>,
}

fn visit_out(app: &App, v: VisitView) -> VisitOut {
    let tz = app.study.time_zone;
    VisitOut {
        code: v.code,
        labels: (*v.labels).clone(),
        target: v.window.target.to_string(),
        window_start: v.window.start,
        window_end: v.window.end,
        last_day: v
            .window
            .end
            .and_then(|e| schedule::last_day(tz, e))
            .map(|d| d.to_string()),
        grace_end: v.window.grace_end,
        grace_last_day: v
            .window
            .grace_end
            .and_then(|e| schedule::last_day(tz, e))
            .map(|d| d.to_string()),
        state: v.state.as_str().into(),
        cause: v.cause,
        sse_triggered: v.sse_triggered,
        missed_reason: v.missed_reason,
        questionnaires: v.questionnaires,
    }
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LocationOut {
    pub code: String,
    pub labels: BTreeMap<String, String>,
    /// Whether left/right must be given.
    pub sided: bool,
}

#[OpenApi(tag = "Tag::Participants")]
impl ParticipantsApi {
    /// The controlled vocabulary of lesion locations.
    #[oai(path = "/v1/lesion-locations", method = "get")]
    async fn locations(&self, token: StaffToken) -> Result<Json<Vec<LocationOut>>, ApiError> {
        let actor = token.actor(&self.app).await?;
        auth::authorize(&actor, Action::ReferenceRead, None)?;
        Ok(Json(
            self.app
                .study
                .lesion_locations
                .iter()
                .map(|l| LocationOut {
                    code: l.code.clone(),
                    labels: l.label.clone(),
                    sided: l.sided,
                })
                .collect(),
        ))
    }

    /// Enrol a participant at screening (site staff of that site). The baseline visit opens.
    #[oai(path = "/v1/participants", method = "post")]
    async fn enrol(
        &self,
        token: StaffToken,
        body: Json<ParticipantIn>,
    ) -> Result<Json<ParticipantOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let b = body.0;
        let v = service::enrol(
            &self.app,
            &actor,
            NewParticipant {
                study_id: b.study_id,
                site: b.site,
                language: b.language,
                randomization_date: b.randomization_date,
                enrolled_on: b.enrolled_on,
                arm: b.arm,
                email: b.email,
                phone: b.phone,
                reminder_channel: b.reminder_channel,
            },
        )
        .await?;
        Ok(Json(v.into()))
    }

    /// Participants on your sites, optionally filtered by site and status.
    #[oai(path = "/v1/participants", method = "get")]
    async fn list(
        &self,
        token: StaffToken,
        site: Query<Option<String>>,
        status: Query<Option<String>>,
    ) -> Result<Json<Vec<ParticipantOut>>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let list = service::list(&self.app, &actor, site.0, status.0).await?;
        Ok(Json(list.into_iter().map(Into::into).collect()))
    }

    /// One participant.
    #[oai(path = "/v1/participants/:study_id", method = "get")]
    async fn get(
        &self,
        token: StaffToken,
        study_id: Path<String>,
    ) -> Result<Json<ParticipantOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        Ok(Json(
            service::get(&self.app, &actor, &study_id).await?.into(),
        ))
    }

    /// Change a participant's email, phone or language after enrolment (site staff of that
    /// site), with a reason; an empty email or phone erases it. Audited (contact details by field
    /// name only).
    #[oai(path = "/v1/participants/:study_id", method = "patch")]
    async fn update(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        body: Json<DetailsIn>,
    ) -> Result<Json<ParticipantOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let b = body.0;
        service::update_details(
            &self.app,
            &actor,
            &study_id,
            service::DetailsChange {
                email: b.email,
                phone: b.phone,
                language: b.language,
                reminder_channel: b.reminder_channel,
                reason: b.reason,
            },
        )
        .await?;
        Ok(Json(
            service::get(&self.app, &actor, &study_id).await?.into(),
        ))
    }

    /// Record an event of a kind the study records (`[events] kinds`: randomization, sse,
    /// pro_discontinued, withdrawal or death); another kind is refused with 409 not_in_this_study.
    #[oai(path = "/v1/participants/:study_id/events", method = "post")]
    async fn record_event(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        body: Json<EventIn>,
    ) -> Result<Json<EventOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let b = body.0;
        let e = service::record_event(
            &self.app,
            &actor,
            &study_id,
            NewEvent {
                kind: b.kind,
                date: b.date,
                reason: b.reason,
                sse_type: b.sse_type,
                lesion: b.lesion,
                arm: b.arm,
            },
        )
        .await?;
        Ok(Json(event_out(e)))
    }

    /// Correct an event's date or mark it entered-in-error (data managers; reason required).
    #[oai(
        path = "/v1/participants/:study_id/events/:event_id/correct",
        method = "post"
    )]
    async fn correct_event(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        event_id: Path<String>,
        body: Json<CorrectionIn>,
    ) -> Result<Json<EventOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let b = body.0;
        let e = service::correct_event(
            &self.app,
            &actor,
            &study_id,
            &event_id,
            Correction {
                date: b.date,
                arm: b.arm,
                entered_in_error: b.entered_in_error.unwrap_or(false),
                reason: b.reason,
            },
        )
        .await?;
        Ok(Json(event_out(e)))
    }

    /// The participant's lesions (active and inactive).
    #[oai(path = "/v1/participants/:study_id/lesions", method = "get")]
    async fn lesions(
        &self,
        token: StaffToken,
        study_id: Path<String>,
    ) -> Result<Json<Vec<LesionOut>>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let list = service::lesions(&self.app, &actor, &study_id).await?;
        Ok(Json(list.into_iter().map(lesion_out).collect()))
    }

    /// Add a high-risk lesion (at most 5 active: 422 `too_many_lesions`).
    #[oai(path = "/v1/participants/:study_id/lesions", method = "post")]
    async fn add_lesion(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        body: Json<LesionIn>,
    ) -> Result<Json<LesionOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let b = body.0;
        let l = service::add_lesion(
            &self.app,
            &actor,
            &study_id,
            LesionInput {
                location: Some(b.location),
                side: b.side,
                labels: Some(b.labels),
                detail: b.detail,
                high_risk_reasons: Some(b.high_risk_reasons),
                irradiation_date: b.irradiation_date,
                active: None,
            },
        )
        .await?;
        Ok(Json(lesion_out(l)))
    }

    /// Change a lesion (labels, detail, irradiation date, reasons) or deactivate it.
    #[oai(
        path = "/v1/participants/:study_id/lesions/:lesion_id",
        method = "patch"
    )]
    async fn update_lesion(
        &self,
        token: StaffToken,
        study_id: Path<String>,
        lesion_id: Path<String>,
        body: Json<LesionPatch>,
    ) -> Result<Json<LesionOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let b = body.0;
        let l = service::update_lesion(
            &self.app,
            &actor,
            &study_id,
            &lesion_id,
            LesionInput {
                location: b.location,
                side: b.side,
                labels: b.labels,
                detail: b.detail,
                high_risk_reasons: b.high_risk_reasons,
                irradiation_date: b.irradiation_date,
                active: b.active,
            },
            b.reason,
        )
        .await?;
        Ok(Json(lesion_out(l)))
    }

    /// The visit schedule: target, window (UTC instants and the local last day), state.
    #[oai(path = "/v1/participants/:study_id/schedule", method = "get")]
    async fn schedule(
        &self,
        token: StaffToken,
        study_id: Path<String>,
    ) -> Result<Json<Vec<VisitOut>>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let visits = service::schedule(&self.app, &actor, &study_id).await?;
        Ok(Json(
            visits
                .into_iter()
                .map(|v| visit_out(&self.app, v))
                .collect(),
        ))
    }
}

//! /api/v1/reminders: the reminder outbox for sites, and resending.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{ApiError, StaffToken, Tag};
use crate::{app::App, reminders};

pub struct RemindersApi {
    pub app: Arc<App>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReminderOut {
    pub id: String,
    pub study_id: String,
    pub site: String,
    pub visit: String,
    /// window_open, follow_up, closing (the study file's plan).
    pub kind: String,
    pub due_at: DateTime<Utc>,
    /// pending, sending, sent, skipped, cancelled or failed.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub message_id: Option<String>,
    /// Why it was skipped, cancelled or resent.
    pub reason: Option<String>,
    pub last_error: Option<String>,
    /// email, sms or both: where it went (or goes).
    pub channel: String,
    pub email_sent_at: Option<DateTime<Utc>>,
    pub sms_sent_at: Option<DateTime<Utc>>,
    /// The SMS gateway's last delivery report: submitted, buffered, delivered or failed.
    pub delivery: Option<String>,
    pub delivery_at: Option<DateTime<Utc>>,
}

fn out(v: reminders::ReminderView) -> ReminderOut {
    let r = v.row;
    ReminderOut {
        id: r.id.to_string(),
        study_id: v.study_id,
        site: v.site,
        visit: r.visit_code,
        kind: r.kind,
        due_at: r.due_at,
        status: r.status.to_string(),
        attempts: r.attempts,
        next_attempt_at: r.next_attempt_at,
        sent_at: r.sent_at,
        message_id: r.message_id,
        reason: r.reason,
        last_error: r.last_error,
        channel: r.channel,
        email_sent_at: r.email_sent_at,
        sms_sent_at: r.sms_sent_at,
        delivery: r.delivery,
        delivery_at: r.delivery_at,
    }
}

#[OpenApi(tag = "Tag::Reminders")]
impl RemindersApi {
    /// Reminders on your sites, optionally of one site and status.
    #[oai(path = "/v1/reminders", method = "get")]
    async fn list(
        &self,
        token: StaffToken,
        site: Query<Option<String>>,
        status: Query<Option<String>>,
    ) -> Result<Json<Vec<ReminderOut>>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let list = reminders::list(&self.app, &actor, site.0, status.0).await?;
        Ok(Json(list.into_iter().map(out).collect()))
    }

    /// One participant's reminder history.
    #[oai(path = "/v1/participants/:study_id/reminders", method = "get")]
    async fn of_participant(
        &self,
        token: StaffToken,
        study_id: Path<String>,
    ) -> Result<Json<Vec<ReminderOut>>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let list = reminders::of_participant(&self.app, &actor, &study_id).await?;
        Ok(Json(list.into_iter().map(out).collect()))
    }

    /// Send a failed, skipped or cancelled reminder again (site staff; audited).
    #[oai(path = "/v1/reminders/:id/resend", method = "post")]
    async fn resend(
        &self,
        token: StaffToken,
        id: Path<String>,
    ) -> Result<Json<ReminderOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        Ok(Json(out(reminders::resend(&self.app, &actor, &id).await?)))
    }

    /// The SMS gateway's delivery report (Kannel's `dlr-url`, GET or POST): `reminder` is the
    /// reminder's id, `sig` its HMAC under EPRO_SMS_DLR_SECRET (set by epro in the address it
    /// gives the gateway), `status` the report type (1 delivered, 2 failed, 4 buffered, 8
    /// submitted, 16 rejected). 401 `bad_signature` when the signature does not match.
    #[oai(path = "/v1/sms/delivery", method = "get", method = "post")]
    async fn delivery(
        &self,
        reminder: Query<String>,
        sig: Query<String>,
        status: Query<i64>,
    ) -> Result<DeliveryResponse, ApiError> {
        reminders::delivery_report(&self.app, &reminder.0, &sig.0, status.0).await?;
        Ok(DeliveryResponse::Recorded)
    }
}

#[derive(poem_openapi::ApiResponse)]
pub enum DeliveryResponse {
    /// Recorded.
    #[oai(status = 204)]
    Recorded,
}

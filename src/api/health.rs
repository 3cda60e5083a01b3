//! /healthz (the process answers) and /readyz (database reachable, fully migrated, still
//! registered with this instance's study file, and no audit event waiting for its sequence
//! number longer than EPRO_AUDIT_UNSEQUENCED_MAX_SECONDS).

use std::sync::Arc;

use poem::{IntoResponse, Response, handler, http::StatusCode, web::Data};
use serde_json::json;

use crate::{app::App, store};

#[handler]
pub fn healthz() -> Response {
    poem::web::Json(json!({ "status": "ok" })).into_response()
}

#[handler]
pub async fn readyz(app: Data<&Arc<App>>) -> Response {
    match store::ready(&app.db).await {
        Ok(true) => match crate::study::still_current(&app.db, &app.study).await {
            Ok(()) => match unsequenced_too_long(&app).await {
                None => poem::web::Json(json!({ "status": "ready" })).into_response(),
                Some(reason) => not_ready(&reason),
            },
            Err(crate::error::Error::Conflict { .. }) => not_ready(
                "another instance registered another study file; restart this one with it",
            ),
            Err(e) => {
                tracing::warn!(error = %e, "readiness check failed");
                not_ready("database unreachable")
            }
        },
        Ok(false) => not_ready("database has pending migrations"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            not_ready("database unreachable")
        }
    }
}

fn not_ready(message: &str) -> Response {
    let mut resp =
        poem::web::Json(json!({ "code": "not_ready", "message": message })).into_response();
    resp.set_status(StatusCode::SERVICE_UNAVAILABLE);
    resp
}

/// Why the audit trail makes this instance not ready: an event has waited for its sequence
/// number longer than the threshold (no sequencer runs, or it keeps failing).
async fn unsequenced_too_long(app: &App) -> Option<String> {
    let max = app.settings.audit_unsequenced_max_seconds as i64;
    match crate::audit::unsequenced(&app.db, app.clock.now()).await {
        Ok(u) if u.oldest_seconds() > max => Some(format!(
            "{} audit events are not sequenced, the oldest for {} s (more than \
             EPRO_AUDIT_UNSEQUENCED_MAX_SECONDS = {max}): check that an instance runs the \
             sequencer (EPRO_AUDIT_SEQUENCE_INTERVAL_MS) and its log",
            u.count,
            u.oldest_seconds()
        )),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "readiness: unsequenced audit events not read");
            Some("database unreachable".into())
        }
    }
}

//! /healthz (the process answers) and /readyz (database reachable, fully migrated, and still
//! registered with this instance's study file).

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
            Ok(()) => poem::web::Json(json!({ "status": "ready" })).into_response(),
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

//! /healthz (the process answers) and /readyz (database reachable and fully migrated).

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
        Ok(true) => poem::web::Json(json!({ "status": "ready" })).into_response(),
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

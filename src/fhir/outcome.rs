//! FHIR errors: every refusal under /fhir/r4 is an `OperationOutcome` with the HL7 status code
//! (400 bad parameter, 401 no or bad token, 403 scope, 404 unknown or another site's resource,
//! 406 unsupported format, 500), in `application/fhir+json`. The token endpoint answers in the
//! OAuth 2.0 error shape instead (RFC 6749 §5.2), see `smart`.

use poem::{IntoResponse, Response, http::StatusCode};
use serde_json::{Value, json};

use crate::error::Error;

pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// A refused FHIR request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: StatusCode,
    /// The issue type code (http://hl7.org/fhir/issue-type): `invalid`, `not-found`, …
    pub code: &'static str,
    pub message: String,
}

impl Outcome {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found"),
        )
    }
    pub fn login(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "login", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn resource(&self) -> Value {
        json!({
            "resourceType": "OperationOutcome",
            "issue": [{
                "severity": "error",
                "code": self.code,
                "diagnostics": self.message,
            }],
        })
    }
}

impl From<crate::fhir::search::BadParam> for Outcome {
    fn from(b: crate::fhir::search::BadParam) -> Self {
        Outcome::invalid(b.to_string())
    }
}

impl From<Error> for Outcome {
    fn from(e: Error) -> Self {
        match e {
            Error::Unauthenticated | Error::InvalidCredentials | Error::Unauthorized { .. } => {
                Outcome::login(e.to_string())
            }
            Error::Forbidden(_) | Error::PasswordChangeRequired => {
                Outcome::forbidden(e.to_string())
            }
            Error::NotFound(_) | Error::Unknown { .. } => {
                Outcome::new(StatusCode::NOT_FOUND, "not-found", e.to_string())
            }
            Error::Invalid { .. } | Error::Unprocessable { .. } => Outcome::invalid(e.to_string()),
            other => {
                tracing::error!(error = %other, "FHIR request failed");
                Outcome::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "exception",
                    "internal error; the server log has the details",
                )
            }
        }
    }
}

impl From<crate::store::StoreError> for Outcome {
    fn from(e: crate::store::StoreError) -> Self {
        Error::Store(e).into()
    }
}

impl From<sea_orm::DbErr> for Outcome {
    fn from(e: sea_orm::DbErr) -> Self {
        Error::from(e).into()
    }
}

impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        let mut resp = fhir_json(self.status, &self.resource());
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                "www-authenticate",
                poem::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

/// A FHIR JSON body with its media type; never cached (responses are health data).
pub fn fhir_json(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .content_type(FHIR_JSON)
        .header("cache-control", "no-store")
        .body(body.to_string())
}

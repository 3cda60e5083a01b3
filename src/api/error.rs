//! The one API error: JSON `{"code", "message"}` with the right status. Service errors map to
//! codes here and nowhere else; poem's own errors (bad JSON, missing token, unknown route, body
//! too large) are turned into the same shape by `json_errors`. 5xx bodies carry no detail.

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{ApiResponse, Object, payload::Json};

use crate::error::Error;

/// Every error the API returns.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_credentials`.
    pub code: String,
    /// What was wrong, where, and what to do; for people.
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Json<Self> {
        Json(Self {
            code: code.into(),
            message: message.into(),
        })
    }
}

#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed (bad JSON, missing field, wrong type).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Not authenticated, or wrong credentials.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Authenticated, but not allowed (or a printed password must be changed first).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such record, or not visible to you.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The request conflicts with the current state.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The request body arrived too slowly (EPRO_REQUEST_TIMEOUT_SECONDS).
    #[oai(status = 408)]
    RequestTimeout(Json<ErrorBody>),
    /// The request body is larger than the configured limit.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not JSON (`Content-Type: application/json` is required).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// The request is well-formed but a value is not acceptable; `message` names the field.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Too many failed attempts; retry after the given number of seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] String),
    /// Something failed on the server; the request id in the logs has the details.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The request took longer than EPRO_REQUEST_TIMEOUT_SECONDS and was not completed, or the
    /// server is at its bound for password hashing (`busy`, with Retry-After).
    #[oai(status = 503)]
    Unavailable(
        Json<ErrorBody>,
        #[oai(header = "Retry-After")] Option<String>,
    ),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let message = match &e {
            Error::Unauthenticated => {
                "a valid bearer token is required; log in with POST /api/v1/auth/login".to_string()
            }
            Error::Store(_) | Error::Internal(_) => {
                tracing::error!(error = %e, "internal error");
                "internal server error".to_string()
            }
            other => other.to_string(),
        };
        let body = ErrorBody::new(e.code(), message);
        let retry_after = match &e {
            Error::Throttled { retry_after_secs } | Error::Busy { retry_after_secs } => {
                retry_after_secs.to_string()
            }
            _ => String::new(),
        };
        match e.status() {
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::Unprocessable(body),
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized(body),
            StatusCode::FORBIDDEN => ApiError::Forbidden(body),
            StatusCode::NOT_FOUND => ApiError::NotFound(body),
            StatusCode::CONFLICT => ApiError::Conflict(body),
            StatusCode::TOO_MANY_REQUESTS => ApiError::TooManyRequests(body, retry_after),
            StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(body, Some(retry_after)),
            _ => ApiError::Internal(body),
        }
    }
}

/// The stable code for a status when poem itself produced the error.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_input",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::SERVICE_UNAVAILABLE => "timeout",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

/// Turn any poem error into the JSON error shape.
pub async fn json_errors(err: poem::Error) -> Response {
    // Our own `ApiError`s arrive as errors built from their (already JSON) response.
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let message = if status == StatusCode::SERVICE_UNAVAILABLE {
        "the request took longer than the server allows and was not completed; try again".into()
    } else if status == StatusCode::REQUEST_TIMEOUT {
        "the request body arrived too slowly".into()
    } else if status.is_server_error() {
        tracing::error!(error = %err, "unhandled error");
        "internal server error".to_string()
    } else if status == StatusCode::NOT_FOUND {
        "no such endpoint; see /api/docs".to_string()
    } else if status == StatusCode::UNAUTHORIZED {
        "a valid bearer token is required; log in with POST /api/v1/auth/login".to_string()
    } else {
        err.to_string()
    };
    let mut resp = ErrorBody::new(code_for(status), message).into_response();
    resp.set_status(status);
    resp
}

/// The methods each documented path answers, read from the OpenAPI document, so that a 405 can
/// say which are allowed (`Allow`, RFC 9110).
#[derive(Debug, Default)]
pub struct AllowTable {
    paths: Vec<(Vec<String>, String)>,
}

impl AllowTable {
    /// `spec`: the OpenAPI JSON; `prefix`: where the API is mounted (`/api`).
    pub fn from_spec(spec: &str, prefix: &str) -> Self {
        let doc: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let mut paths = Vec::new();
        if let Some(map) = doc.get("paths").and_then(|p| p.as_object()) {
            for (path, ops) in map {
                let mut methods: Vec<String> = ops
                    .as_object()
                    .map(|o| o.keys().map(|m| m.to_ascii_uppercase()).collect())
                    .unwrap_or_default();
                methods.sort();
                let full = format!("{prefix}{path}");
                let segments = full.split('/').map(String::from).collect();
                paths.push((segments, methods.join(", ")));
            }
        }
        Self { paths }
    }

    /// The Allow value for a request path, when it is a documented path.
    pub fn allow(&self, path: &str) -> Option<&str> {
        let segs: Vec<&str> = path.split('/').collect();
        self.paths
            .iter()
            .find(|(tpl, _)| {
                tpl.len() == segs.len()
                    && tpl
                        .iter()
                        .zip(&segs)
                        .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
            })
            .map(|(_, m)| m.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_names_the_methods_of_the_matching_path() {
        let spec =
            r#"{"paths": {"/v1/users": {"get": {}, "post": {}}, "/v1/users/{id}": {"get": {}}}}"#;
        let t = AllowTable::from_spec(spec, "/api");
        assert_eq!(t.allow("/api/v1/users"), Some("GET, POST"));
        assert_eq!(t.allow("/api/v1/users/42"), Some("GET"));
        assert_eq!(t.allow("/api/v1/nope"), None);
        assert_eq!(t.allow("/api/v1/users/"), None);
    }
}

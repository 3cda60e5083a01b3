//! The services' error: what went wrong in terms a caller can act on. The HTTP layer maps each
//! kind to a status and a stable `code` in one place (`api::error`).

use crate::{domain::permissions::Action, store::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: `field` names where, `message` says what is wrong.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("authentication required")]
    Unauthenticated,
    /// Refused credentials, with a specific stable code (e.g. `invalid_pin`).
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    #[error("the password must be changed before anything else (PUT /api/v1/auth/password)")]
    PasswordChangeRequired,
    #[error("your role may not do {0}")]
    Forbidden(Action),
    #[error("{0} not found")]
    NotFound(String),
    /// Not found, with a specific stable code (e.g. `unknown_questionnaire`).
    #[error("{message}")]
    Unknown { code: &'static str, message: String },
    /// Well-formed but unacceptable, with a specific stable code (e.g. `invalid_answer`).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// A state conflict with a stable code (e.g. `email_taken`).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("too many failed attempts; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: i64 },
    /// The server is at a bound it keeps to stay up (e.g. password hashing); retry later.
    #[error("the server is busy; try again in {retry_after_secs} seconds")]
    Busy { retry_after_secs: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        Error::Store(StoreError::Db(e))
    }
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The services' error: what went wrong in terms a caller can act on. The HTTP layer maps each
//! kind to a status and a stable `code` in one place (`api::error`).

use crate::{
    domain::{permissions::Action, problem::Problem},
    store::StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: `field` names where, `problem` says what is wrong (typed: pages write it in
    /// the reader's language, the API in English). `code` is `InvalidInput` unless the refusal
    /// has a code of its own (e.g. `InvalidEvent`).
    #[error("{field}: {problem}")]
    Invalid {
        code: Code,
        field: String,
        problem: Problem,
    },
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("authentication required")]
    Unauthenticated,
    /// Refused credentials, with a specific stable code (e.g. `invalid_pin`).
    #[error("{message}")]
    Unauthorized { code: Code, message: String },
    #[error("the password must be changed before anything else (PUT /api/v1/auth/password)")]
    PasswordChangeRequired,
    #[error("your role may not do {0}")]
    Forbidden(Action),
    #[error("{0} not found")]
    NotFound(String),
    /// Not found, with a specific stable code (e.g. `unknown_questionnaire`).
    #[error("{message}")]
    Unknown { code: Code, message: String },
    /// Well-formed but unacceptable, with a specific stable code (e.g. `invalid_answer`).
    #[error("{message}")]
    Unprocessable { code: Code, message: String },
    /// A state conflict with a stable code (e.g. `email_taken`).
    #[error("{message}")]
    Conflict { code: Code, message: String },
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
    /// The stable code the API sends (`code`), one per kind of refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidCredentials => "invalid_credentials",
            Error::Unauthenticated => "unauthenticated",
            Error::PasswordChangeRequired => "password_change_required",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Invalid { code, .. }
            | Error::Unauthorized { code, .. }
            | Error::Unknown { code, .. }
            | Error::Unprocessable { code, .. }
            | Error::Conflict { code, .. } => code.as_str(),
            Error::Throttled { .. } => "too_many_attempts",
            Error::Busy { .. } => "busy",
            Error::Store(_) | Error::Internal(_) => "internal",
        }
    }

    /// The HTTP status of this error, for the API and the pages alike.
    pub fn status(&self) -> poem::http::StatusCode {
        use poem::http::StatusCode as S;
        match self {
            Error::Invalid { .. } | Error::Unprocessable { .. } => S::UNPROCESSABLE_ENTITY,
            Error::InvalidCredentials | Error::Unauthenticated | Error::Unauthorized { .. } => {
                S::UNAUTHORIZED
            }
            Error::PasswordChangeRequired | Error::Forbidden(_) => S::FORBIDDEN,
            Error::NotFound(_) | Error::Unknown { .. } => S::NOT_FOUND,
            Error::Conflict { .. } => S::CONFLICT,
            Error::Throttled { .. } => S::TOO_MANY_REQUESTS,
            Error::Busy { .. } => S::SERVICE_UNAVAILABLE,
            Error::Store(_) | Error::Internal(_) => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// Bad input in `field` (`invalid_input`).
    pub fn invalid(field: impl Into<String>, problem: Problem) -> Self {
        Error::Invalid {
            code: Code::InvalidInput,
            field: field.into(),
            problem,
        }
    }

    /// A configuration, command-line or protocol parameter refused, in English for the operator
    /// or the client's developer (no page sends these).
    pub fn operator(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(field, Problem::Operator(message.into()))
    }
}

/// The stable codes of refusals that carry their own code (API `code` field; pages decide by
/// variant, never by text). Each has one string form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    InvalidInput,
    AlreadySubmitted,
    CannotDisableSelf,
    DraftChanged,
    DuplicateLesionLabel,
    EmptyResponse,
    EmailTaken,
    EventEnteredInError,
    IdempotencyConflict,
    InvalidAnswer,
    InvalidEvent,
    InvalidLink,
    InvalidPin,
    NoScoring,
    NotResendable,
    NotSubmitted,
    ParticipationEnded,
    PublishedVersionChanged,
    QueryClosed,
    QuestionnairesStopped,
    SelfReportProtected,
    SiteDisabled,
    StudyIdTaken,
    TooManyLesions,
    UnknownEvent,
    UnknownLesion,
    UnknownParticipant,
    UnknownQuery,
    UnknownQuestionnaire,
    UnknownReminder,
    UnknownResponse,
    UnknownSite,
    UnknownVisit,
    UnsupportedLanguage,
    VisitNotMissable,
    WindowClosed,
    WindowNotOpen,
    WrongStudy,
    AmendmentNeedsConfirmation,
    /// Another instance registered another study file: this one must not write.
    StudySuperseded,
    NotInThisStudy,
    BadSignature,
    /// A randomization without its arm (the study file lists arms).
    ArmRequired,
    /// A second event of a kind recorded once (randomization, withdrawal, …): correct it.
    EventAlreadyRecorded,
    /// A draft exists and the save named no revision (If-Match).
    IfMatchRequired,
    /// A form finished offline that arrived after its visit closed, with a completion time that
    /// is outside the window or not plausible: kept as a quarantined draft for the site.
    OfflineCompletionRefused,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidInput => "invalid_input",
            Code::AlreadySubmitted => "already_submitted",
            Code::CannotDisableSelf => "cannot_disable_self",
            Code::DraftChanged => "draft_changed",
            Code::DuplicateLesionLabel => "duplicate_lesion_label",
            Code::EmptyResponse => "empty_response",
            Code::EmailTaken => "email_taken",
            Code::EventEnteredInError => "event_entered_in_error",
            Code::IdempotencyConflict => "idempotency_conflict",
            Code::InvalidAnswer => "invalid_answer",
            Code::InvalidEvent => "invalid_event",
            Code::InvalidLink => "invalid_link",
            Code::InvalidPin => "invalid_pin",
            Code::NoScoring => "no_scoring",
            Code::NotResendable => "not_resendable",
            Code::NotSubmitted => "not_submitted",
            Code::ParticipationEnded => "participation_ended",
            Code::PublishedVersionChanged => "published_version_changed",
            Code::QueryClosed => "query_closed",
            Code::QuestionnairesStopped => "questionnaires_stopped",
            Code::SelfReportProtected => "self_report_protected",
            Code::SiteDisabled => "site_disabled",
            Code::StudyIdTaken => "study_id_taken",
            Code::TooManyLesions => "too_many_lesions",
            Code::UnknownEvent => "unknown_event",
            Code::UnknownLesion => "unknown_lesion",
            Code::UnknownParticipant => "unknown_participant",
            Code::UnknownQuery => "unknown_query",
            Code::UnknownQuestionnaire => "unknown_questionnaire",
            Code::UnknownReminder => "unknown_reminder",
            Code::UnknownResponse => "unknown_response",
            Code::UnknownSite => "unknown_site",
            Code::UnknownVisit => "unknown_visit",
            Code::UnsupportedLanguage => "unsupported_language",
            Code::VisitNotMissable => "visit_not_missable",
            Code::WindowClosed => "window_closed",
            Code::WindowNotOpen => "window_not_open",
            Code::WrongStudy => "wrong_study",
            Code::AmendmentNeedsConfirmation => "amendment_needs_confirmation",
            Code::StudySuperseded => "study_superseded",
            Code::NotInThisStudy => "not_in_this_study",
            Code::BadSignature => "bad_signature",
            Code::ArmRequired => "arm_required",
            Code::OfflineCompletionRefused => "offline_completion_refused",
            Code::EventAlreadyRecorded => "event_already_recorded",
            Code::IfMatchRequired => "if_match_required",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The JSON API (poem-openapi): one `#[OpenApi]` struct per area, typed requests and responses,
//! one `ApiError`. Handlers authenticate, call one service function and shape its result;
//! they never query the database or judge permissions themselves.

pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod client;
pub(crate) mod completion;
pub(crate) mod entry;
pub(crate) mod error;
pub(crate) mod exports;
pub(crate) mod fhir_clients;
pub(crate) mod health;
pub(crate) mod me;
pub(crate) mod participants;
pub(crate) mod questionnaires;
pub(crate) mod reminders;
pub(crate) mod sites;
pub(crate) mod users;

use std::sync::Arc;

use poem_openapi::{OpenApiService, SecurityScheme, Tags, auth::Bearer};

use crate::{app::App, auth as auth_service, auth::StaffActor};
pub use error::{ApiError, ErrorBody};

#[derive(Tags)]
pub enum Tag {
    /// Staff login, logout, own account and password.
    Auth,
    /// Staff accounts (admin).
    Users,
    /// The study's sites.
    Sites,
    /// The tamper-evident audit trail.
    Audit,
    /// Questionnaire definitions, wording, FHIR rendering and scoring.
    Questionnaires,
    /// Participants, events, lesions and visit schedules (site-scoped).
    Participants,
    /// Participant access and answering.
    Answering,
    /// Exports for statisticians.
    Exports,
    /// Email reminders.
    Reminders,
}

/// A staff session token from POST /api/v1/auth/login, sent as `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer")]
pub struct StaffToken(Bearer);

impl StaffToken {
    /// The raw bearer token.
    pub fn token(&self) -> &str {
        &self.0.token
    }

    pub async fn actor(&self, app: &App) -> Result<StaffActor, ApiError> {
        Ok(auth_service::authenticate(app, &self.0.token).await?)
    }
}

pub type Service = OpenApiService<
    (
        auth::AuthApi,
        users::UsersApi,
        sites::SitesApi,
        audit::AuditApi,
        questionnaires::QuestionnairesApi,
        participants::ParticipantsApi,
        me::MeApi,
        entry::EntryApi,
        exports::ExportsApi,
        reminders::RemindersApi,
        completion::CompletionApi,
        fhir_clients::FhirClientsApi,
    ),
    (),
>;

pub fn service(app: Arc<App>) -> Service {
    OpenApiService::new(
        (
            auth::AuthApi { app: app.clone() },
            users::UsersApi { app: app.clone() },
            sites::SitesApi { app: app.clone() },
            audit::AuditApi { app: app.clone() },
            questionnaires::QuestionnairesApi {
                app: app.clone(),
                served: Default::default(),
            },
            participants::ParticipantsApi { app: app.clone() },
            me::MeApi { app: app.clone() },
            entry::EntryApi { app: app.clone() },
            exports::ExportsApi { app: app.clone() },
            reminders::RemindersApi { app: app.clone() },
            completion::CompletionApi { app: app.clone() },
            fhir_clients::FhirClientsApi { app },
        ),
        "epro",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Electronic patient-reported outcomes for clinical trials. Errors are JSON \
         `{\"code\", \"message\"}` with a stable code.",
    )
    .server("/api")
}

//! sea-orm entities, one module per table. Only `store` sees these types.

pub mod study {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "study")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub study_id: String,
        pub file_sha256: String,
        pub loaded_at: DateTimeUtc,
        /// The study file's text as registered (migration 12; none for older registrations).
        pub file_text: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod site_state {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "site_state")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub disabled: bool,
        pub changed_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod staff_user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "staff_user")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub email: String,
        pub password_hash: String,
        pub role: String,
        pub disabled: bool,
        pub must_change_password: bool,
        pub created_at: DateTimeUtc,
        /// The staff member's language (pages, the daily digest); unset until chosen.
        pub language: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod staff_user_site {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "staff_user_site")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub site_code: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod staff_session {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "staff_session")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub user_id: Uuid,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod login_failure {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "login_failure")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub scope: String,
        pub key_hash: String,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_event")]
    pub struct Model {
        /// Insertion order; not hashed.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The gapless sequence number, once the sequencer gave one (NULL before).
        pub seq: Option<i64>,
        pub at: String,
        pub actor_kind: String,
        pub actor_id: Option<String>,
        pub action: String,
        pub entity_type: String,
        pub entity_id: Option<String>,
        pub before: Option<String>,
        pub after: Option<String>,
        pub reason: Option<String>,
        pub prev_hash: Option<String>,
        pub hash: Option<String>,
        /// HMAC of the content without seq, written with the event (`domain::audit::content_hash`).
        pub content_hash: Option<String>,
        /// When the sequencer chained it (format_at).
        pub sequenced_at: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_head {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_head")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub seq: i64,
        pub hash: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_checkpoint {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_checkpoint")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub size: i64,
        pub root: String,
        pub time: String,
        pub signature: String,
        pub public_key: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod questionnaire_lock {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "questionnaire_lock")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub part: String,
        pub sha256: String,
        pub recorded_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod participant {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "participant")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub study_id: String,
        pub site_code: String,
        pub language: String,
        pub enrolled_on: Date,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod participant_contact {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "participant_contact")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub participant_id: Uuid,
        pub email_sealed: Option<String>,
        pub phone_sealed: Option<String>,
        /// `email`, `sms` or `both` (domain::reminders::Channel).
        pub reminder_channel: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod participant_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "participant_event")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub participant_id: Uuid,
        pub kind: crate::domain::participant::EventKind,
        pub event_date: Date,
        pub details: crate::store::Json<serde_json::Value>,
        pub reason: String,
        pub recorded_at: DateTimeUtc,
        pub recorded_by: String,
        pub entered_in_error: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod lesion {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "lesion")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub participant_id: Uuid,
        pub location: String,
        pub side: Option<String>,
        pub labels: crate::store::Json<std::collections::BTreeMap<String, String>>,
        pub detail: Option<String>,
        pub high_risk_reasons: crate::store::Json<Vec<String>>,
        pub irradiation_date: Option<Date>,
        pub registered_on: Date,
        pub active: bool,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod visit {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "visit")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub participant_id: Uuid,
        pub code: String,
        pub position: i32,
        pub target_date: Date,
        pub window_start: DateTimeUtc,
        pub window_end: Option<DateTimeUtc>,
        pub grace_end: Option<DateTimeUtc>,
        pub sse_triggered: bool,
        pub final_state: Option<crate::domain::schedule::VisitState>,
        pub final_cause: Option<String>,
        pub missed_reason: Option<String>,
        pub questionnaires: crate::store::Json<Vec<String>>,
        /// Why a questionnaire of the visit was not done, by `key@version`.
        pub missed_forms: crate::store::Json<std::collections::BTreeMap<String, String>>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod participant_pin {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "participant_pin")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub participant_id: Uuid,
        pub pin_hash: String,
        pub set_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod access_link {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "access_link")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub token_hash: String,
        pub participant_id: Uuid,
        pub kind: String,
        pub visit_code: Option<String>,
        pub created_at: DateTimeUtc,
        pub expires_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
        pub created_by: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod participant_session {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "participant_session")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub participant_id: Uuid,
        pub link_id: Uuid,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod response {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "response")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub participant_id: Uuid,
        pub visit_code: String,
        pub questionnaire_key: String,
        pub questionnaire_version: String,
        pub language: String,
        pub wording_sha256: String,
        pub lesions: crate::store::Json<Vec<crate::domain::lesions::LesionRef>>,
        pub status: crate::domain::answering::ResponseStatus,
        pub revision: i32,
        pub started_at: DateTimeUtc,
        pub submitted_at: Option<DateTimeUtc>,
        pub client_utc_offset_minutes: Option<i32>,
        pub late: bool,
        pub mode: Option<crate::domain::answering::EntryMode>,
        pub idempotency_key: Option<String>,
        pub request_sha256: Option<String>,
        pub completed_on: Option<Date>,
        pub entry_reason: Option<String>,
        /// `outside_window`, `after_randomization`, `after_sse_week`.
        pub flags: crate::store::Json<Vec<String>>,
        /// Days from the participant's first SSE to the assessment, for answers after an SSE.
        pub days_from_sse: Option<i32>,
        /// When the participant pressed *send* by the phone's clock, as the page sent it
        /// (migration 19; docs/trial-rules.md, "Answers sent from a phone that was offline").
        pub device_completed_at: Option<DateTimeUtc>,
        /// Received after the visit closed and taken as on time by `device_completed_at`.
        pub synced_late: bool,
        /// A draft holding a late offline submission that was refused: when it was received.
        pub quarantined_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod answer {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "answer")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub response_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub item: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub lesion: String,
        pub value: crate::store::Json<serde_json::Value>,
        pub mode: crate::domain::answering::EntryMode,
        pub actor_kind: String,
        pub actor_id: String,
        pub answered_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A draft save made under a client's save id (`answering::drafts`): a resend of it gets the
/// revision it made, not a second save.
pub mod draft_save {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "draft_save")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub response_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub save_id: String,
        pub request_sha256: String,
        pub revision: i32,
        pub saved_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod score {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "score")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub response_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub scoring: String,
        pub results: crate::store::Json<serde_json::Value>,
        pub computed_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod response_query {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "response_query")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub response_id: Uuid,
        pub text: String,
        pub raised_by: String,
        pub raised_at: DateTimeUtc,
        pub closed_by: Option<String>,
        pub closed_at: Option<DateTimeUtc>,
        pub closing_note: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod analgesic_dose {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "analgesic_dose")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub participant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub visit_code: String,
        pub omed_mg_per_day: f64,
        pub recorded_by: String,
        pub recorded_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod reminder {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reminder")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub participant_id: Uuid,
        pub visit_code: String,
        pub kind: String,
        pub due_at: DateTimeUtc,
        pub status: crate::domain::reminders::ReminderStatus,
        pub attempts: i32,
        pub next_attempt_at: DateTimeUtc,
        pub claimed_at: Option<DateTimeUtc>,
        pub last_error: Option<String>,
        pub sent_at: Option<DateTimeUtc>,
        pub message_id: Option<String>,
        pub reason: Option<String>,
        pub created_at: DateTimeUtc,
        /// The channel(s) planned: `email`, `sms` or `both`.
        pub channel: String,
        pub email_sent_at: Option<DateTimeUtc>,
        pub sms_sent_at: Option<DateTimeUtc>,
        /// The SMS gateway's last delivery report: submitted, buffered, delivered or failed.
        pub delivery: Option<String>,
        pub delivery_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod digest_log {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "digest_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub site_code: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        pub sent_at: DateTimeUtc,
        pub recipients: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod call_log {
    use sea_orm::entity::prelude::*;

    /// One call to a participant from the Call today list.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "call_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub participant_id: Uuid,
        pub staff_id: Uuid,
        /// reached or not_reached
        pub outcome: String,
        pub note: Option<String>,
        /// The reasons to call at the time, one key a line: a new one shows the row again.
        pub reasons: String,
        pub logged_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod participant_revision {
    use sea_orm::entity::prelude::*;

    /// Raised by database triggers on every change to a participant's visits, events,
    /// responses, scores, reminders and PIN (migration 11); the application writes only
    /// `plan_at`, and only while the revision is the one it planned from.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "participant_revision")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub participant_id: Uuid,
        pub revision: i64,
        /// Reminder planning's mark: nothing can become due before it; `None`: look again.
        pub plan_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod wording_pack {
    use sea_orm::entity::prelude::*;

    /// A wording pack as served, by the hash responses record (migration 13).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "wording_pack")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub sha256: String,
        pub key: String,
        pub version: String,
        pub language: String,
        /// open, demo or licensed
        pub kind: String,
        /// The texts by key, as JSON.
        pub texts: crate::store::Json<std::collections::BTreeMap<String, String>>,
        pub recorded_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

// ---- FHIR access for systems (#26) ----

pub mod fhir_client {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "fhir_client")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        /// The client's public keys, a JSON Web Key Set.
        pub jwks: crate::store::Json<serde_json::Value>,
        pub sites: crate::store::Json<Vec<String>>,
        /// SMART v2 system scopes, e.g. `system/QuestionnaireResponse.rs`.
        pub scopes: crate::store::Json<Vec<String>>,
        pub disabled: bool,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod fhir_jti {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "fhir_jti")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub jti: String,
        pub expires_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod fhir_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "fhir_token")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub client_id: Uuid,
        pub scopes: crate::store::Json<Vec<String>>,
        pub expires_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

// ---- FHIR rest-hook Subscriptions (#26.3) ----

pub mod fhir_subscription {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "fhir_subscription")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub client_id: Uuid,
        /// The criteria as the admin sent them (`QuestionnaireResponse?status=completed…`).
        pub criteria: String,
        /// The response events it wants: `completed`, `amended`.
        pub events: crate::store::Json<Vec<String>>,
        pub questionnaire_url: Option<String>,
        pub questionnaire_version: Option<String>,
        pub endpoint: String,
        /// `id-only` or `full-resource`.
        pub payload: String,
        /// The HMAC secret, sealed with EPRO_DATA_KEY (keys::sealed).
        pub secret_sealed: String,
        /// `active`, `error` or `off` (R4 SubscriptionStatus).
        pub status: String,
        pub error: Option<String>,
        /// Consecutive failed delivery attempts.
        pub failures: i32,
        pub next_attempt_at: DateTimeUtc,
        /// Set while a worker delivers this subscription's queue.
        pub claimed_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod fhir_delivery {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "fhir_delivery")]
    pub struct Model {
        /// The event id the receiver de-duplicates on (`X-Epro-Event-Id`); kept on replay.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub subscription_id: Uuid,
        pub response_id: Uuid,
        /// The response's revision the event produced (one event per revision).
        pub revision: i32,
        /// `completed` or `amended`.
        pub event: String,
        pub event_at: DateTimeUtc,
        /// `pending`, `delivered` or `withheld` (the client may no longer read the site).
        pub status: String,
        pub attempts: i32,
        pub delivered_at: Option<DateTimeUtc>,
        pub last_error: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

//! /api/v1/fhir/clients: SMART Backend Services clients that read /fhir/r4 (admin only):
//! register with a name, a public JWKS, sites and scopes; list; disable and enable. Their
//! rest-hook Subscriptions (#26.3): create (the secret shown once), list, disable, enable, replay.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};
use serde_json::Value;
use uuid::Uuid;

use super::{ApiError, StaffToken, Tag};
use crate::{
    app::App,
    fhir::{
        smart::{self, NewClient},
        subscriptions::{self, NewSubscription},
    },
    store::{fhir::ClientRow, fhir_subscriptions::SubscriptionRow},
};

pub struct FhirClientsApi {
    pub app: Arc<App>,
}

#[derive(Debug, Object)]
pub struct FhirClientIn {
    /// Who the client is, e.g. "UZG integration engine".
    pub name: String,
    /// The client's public keys as a JSON Web Key Set (RSA for RS384 or EC P-384 for ES384),
    /// each with a `kid`; never a private key.
    pub jwks: Value,
    /// The site codes whose data the client may read.
    pub sites: Vec<String>,
    /// SMART v2 system scopes, e.g. `system/QuestionnaireResponse.rs`.
    pub scopes: Vec<String>,
}

#[derive(Debug, Object)]
pub struct FhirClientOut {
    /// The client id: `iss` and `sub` of its assertions.
    pub id: Uuid,
    pub name: String,
    pub jwks: Value,
    pub sites: Vec<String>,
    pub scopes: Vec<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<ClientRow> for FhirClientOut {
    fn from(r: ClientRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            jwks: r.jwks.0,
            sites: r.sites.0,
            scopes: r.scopes.0,
            disabled: r.disabled,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct FhirSubscriptionIn {
    /// `QuestionnaireResponse?status=completed`, `…?status=amended` or
    /// `…?status=completed,amended`, optionally `&questionnaire=<canonical url>[|<version>]`.
    pub criteria: String,
    /// Where notifications are POSTed: https (http only to a loopback address, or when
    /// EPRO_FHIR_WEBHOOK_ALLOW_HTTP allows it).
    pub endpoint: String,
    /// `id-only` (default) or `full-resource`.
    pub payload: Option<String>,
}

#[derive(Debug, Object)]
pub struct FhirSubscriptionOut {
    pub id: Uuid,
    /// The FHIR client it notifies.
    pub client_id: Uuid,
    pub criteria: String,
    pub endpoint: String,
    pub payload: String,
    /// `active`, `error` or `off`.
    pub status: String,
    /// Why it is in `error`.
    pub error: Option<String>,
    /// Consecutive failed deliveries.
    pub failures: i32,
    pub created_at: DateTime<Utc>,
    /// The HMAC-SHA256 signing secret: returned once, at creation; keep it in the receiver.
    pub secret: Option<String>,
}

impl From<SubscriptionRow> for FhirSubscriptionOut {
    fn from(r: SubscriptionRow) -> Self {
        Self {
            id: r.id,
            client_id: r.client_id,
            criteria: r.criteria,
            endpoint: r.endpoint,
            payload: r.payload,
            status: r.status,
            error: r.error,
            failures: r.failures,
            created_at: r.created_at,
            secret: None,
        }
    }
}

#[derive(Debug, Object)]
pub struct ReplayIn {
    /// Events at or after this instant are delivered again, with their first event ids.
    pub since: DateTime<Utc>,
}

#[derive(Debug, Object)]
pub struct ReplayOut {
    /// How many events were queued again.
    pub queued: u64,
}

#[OpenApi(tag = "Tag::Users")]
impl FhirClientsApi {
    /// Register a FHIR client (SMART Backend Services; admin).
    #[oai(path = "/v1/fhir/clients", method = "post")]
    async fn register(
        &self,
        token: StaffToken,
        body: Json<FhirClientIn>,
    ) -> Result<Json<FhirClientOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let b = body.0;
        let row = smart::register(
            &self.app,
            &actor,
            NewClient {
                name: b.name,
                jwks: b.jwks,
                sites: b.sites,
                scopes: b.scopes,
            },
        )
        .await?;
        Ok(Json(row.into()))
    }

    /// The registered FHIR clients (admin).
    #[oai(path = "/v1/fhir/clients", method = "get")]
    async fn list(&self, token: StaffToken) -> Result<Json<Vec<FhirClientOut>>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let rows = smart::list(&self.app, &actor).await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// Disable a FHIR client: no new tokens, and its tokens stop working at once (admin).
    #[oai(path = "/v1/fhir/clients/:id/disable", method = "post")]
    async fn disable(
        &self,
        token: StaffToken,
        id: Path<Uuid>,
    ) -> Result<Json<FhirClientOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        Ok(Json(
            smart::set_disabled(&self.app, Some(&actor), id.0, true)
                .await?
                .into(),
        ))
    }

    /// Enable a disabled FHIR client again (admin).
    #[oai(path = "/v1/fhir/clients/:id/enable", method = "post")]
    async fn enable(
        &self,
        token: StaffToken,
        id: Path<Uuid>,
    ) -> Result<Json<FhirClientOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        Ok(Json(
            smart::set_disabled(&self.app, Some(&actor), id.0, false)
                .await?
                .into(),
        ))
    }

    /// Create a rest-hook Subscription for a FHIR client (admin). The answer carries the
    /// signing secret, shown this once.
    #[oai(path = "/v1/fhir/clients/:id/subscriptions", method = "post")]
    async fn subscribe(
        &self,
        token: StaffToken,
        id: Path<Uuid>,
        body: Json<FhirSubscriptionIn>,
    ) -> Result<Json<FhirSubscriptionOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let b = body.0;
        let created = subscriptions::create(
            &self.app,
            Some(&actor),
            id.0,
            NewSubscription {
                criteria: b.criteria,
                endpoint: b.endpoint,
                payload: b.payload,
            },
        )
        .await?;
        let mut out = FhirSubscriptionOut::from(created.row);
        out.secret = Some(created.secret);
        Ok(Json(out))
    }

    /// The rest-hook Subscriptions of every FHIR client (admin).
    #[oai(path = "/v1/fhir/subscriptions", method = "get")]
    async fn subscriptions(
        &self,
        token: StaffToken,
    ) -> Result<Json<Vec<FhirSubscriptionOut>>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let rows = subscriptions::list(&self.app, Some(&actor)).await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// Switch a Subscription off: nothing is queued or sent for it (admin).
    #[oai(path = "/v1/fhir/subscriptions/:id/disable", method = "post")]
    async fn disable_subscription(
        &self,
        token: StaffToken,
        id: Path<Uuid>,
    ) -> Result<Json<FhirSubscriptionOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let row = subscriptions::set_active(&self.app, Some(&actor), id.0, false).await?;
        Ok(Json(row.into()))
    }

    /// Set a Subscription `active` again (after `off` or `error`): what waited is delivered on
    /// the next tick (admin).
    #[oai(path = "/v1/fhir/subscriptions/:id/enable", method = "post")]
    async fn enable_subscription(
        &self,
        token: StaffToken,
        id: Path<Uuid>,
    ) -> Result<Json<FhirSubscriptionOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let row = subscriptions::set_active(&self.app, Some(&actor), id.0, true).await?;
        Ok(Json(row.into()))
    }

    /// Deliver again the events since an instant, with the same event ids (admin).
    #[oai(path = "/v1/fhir/subscriptions/:id/replay", method = "post")]
    async fn replay(
        &self,
        token: StaffToken,
        id: Path<Uuid>,
        body: Json<ReplayIn>,
    ) -> Result<Json<ReplayOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let queued = subscriptions::replay(&self.app, Some(&actor), id.0, body.0.since).await?;
        Ok(Json(ReplayOut { queued }))
    }
}

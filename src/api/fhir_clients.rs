//! /api/v1/fhir/clients: SMART Backend Services clients that read /fhir/r4 (admin only):
//! register with a name, a public JWKS, sites and scopes; list; disable and enable.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};
use serde_json::Value;
use uuid::Uuid;

use super::{ApiError, StaffToken, Tag};
use crate::{
    app::App,
    fhir::smart::{self, NewClient},
    store::fhir::ClientRow,
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
}

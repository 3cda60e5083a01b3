//! /api/v1/audit: the chain head, for anchoring outside the server.

use std::sync::Arc;

use poem_openapi::{Object, OpenApi, payload::Json};

use super::{ApiError, StaffToken, Tag};
use crate::{app::App, audit, auth, domain::permissions::Action};

pub struct AuditApi {
    pub app: Arc<App>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditHead {
    /// Sequence number of the latest event (0 when there is none).
    pub seq: i64,
    /// Its chained HMAC-SHA256, hex.
    pub hash: String,
}

#[OpenApi(tag = "Tag::Audit")]
impl AuditApi {
    /// The current head of the audit chain. Record it elsewhere (e.g. daily) to anchor the chain.
    #[oai(path = "/v1/audit/head", method = "get")]
    async fn head(&self, token: StaffToken) -> Result<Json<AuditHead>, ApiError> {
        let actor = token.actor(&self.app).await?;
        auth::authorize(&actor, Action::AuditHeadRead, None)?;
        let (seq, hash) = audit::head(&self.app.db).await?;
        Ok(Json(AuditHead { seq, hash }))
    }
}

//! /api/v1/audit: the chain head, for anchoring outside the server, and the signed checkpoints
//! anyone can check the log against with the public key (`epro audit public-key`).

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

    /// The signed checkpoints of the audit log, smallest first: each says that the first `size`
    /// events hash to `root` (RFC 6962, hex), signed with Ed25519 at `time`; `note` is the
    /// signed text (C2SP tlog-checkpoint). Keep them: `epro audit verify --public-key HEX
    /// --checkpoints FILE` fails if the log is later rewritten.
    #[oai(path = "/v1/audit/checkpoints", method = "get")]
    async fn checkpoints(&self, token: StaffToken) -> Result<Json<Vec<AuditCheckpoint>>, ApiError> {
        let actor = token.actor(&self.app).await?;
        auth::authorize(&actor, Action::AuditHeadRead, None)?;
        let list = audit::checkpoints(&self.app.db).await?;
        Ok(Json(
            list.iter()
                .map(|(c, key)| AuditCheckpoint {
                    size: c.checkpoint.size as i64,
                    root: hex::encode(c.checkpoint.root),
                    time: c.checkpoint.time.clone(),
                    public_key: key.clone(),
                    signature: c.signature.clone(),
                    note: crate::domain::ledger::signed_note(&c.checkpoint, &c.signature),
                })
                .collect(),
        ))
    }
}

/// One signed checkpoint (the same fields as `epro audit checkpoints` prints).
#[derive(Debug, Object)]
pub struct AuditCheckpoint {
    /// How many events (sequence numbers 1 to size) the tree covers.
    pub size: i64,
    /// The RFC 6962 Merkle tree root over those events, hex.
    pub root: String,
    /// When it was signed, RFC 3339 UTC.
    pub time: String,
    /// The Ed25519 public key that signed it, hex.
    pub public_key: String,
    /// Base64 of the key id (4 bytes) and the signature (64 bytes), as in the note.
    pub signature: String,
    /// The signed note: origin, size, base64 root, time line, blank line, signature line.
    pub note: String,
}

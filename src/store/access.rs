//! Participant PINs, access links and participant sessions (tokens stored as sha256 only).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
};
use uuid::Uuid;

pub use super::entities::{
    access_link::Model as LinkRow, participant_session::Model as SessionRow,
};
use super::{
    StoreError,
    entities::{access_link, participant_pin, participant_session},
};

pub async fn pin_hash<C: ConnectionTrait>(
    db: &C,
    participant: Uuid,
) -> Result<Option<String>, StoreError> {
    Ok(participant_pin::Entity::find_by_id(participant)
        .one(db)
        .await?
        .map(|p| p.pin_hash))
}

pub async fn set_pin<C: ConnectionTrait>(
    db: &C,
    participant: Uuid,
    hash: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let row = participant_pin::ActiveModel {
        participant_id: Set(participant),
        pin_hash: Set(hash.to_string()),
        set_at: Set(at),
    };
    if participant_pin::Entity::find_by_id(participant)
        .one(db)
        .await?
        .is_some()
    {
        row.update(db).await?;
    } else {
        row.insert(db).await?;
    }
    Ok(())
}

pub async fn insert_link<C: ConnectionTrait>(db: &C, row: LinkRow) -> Result<(), StoreError> {
    row.into_active_model().insert(db).await?;
    Ok(())
}

pub async fn find_link<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
) -> Result<Option<LinkRow>, StoreError> {
    Ok(access_link::Entity::find()
        .filter(access_link::Column::TokenHash.eq(token_hash))
        .one(db)
        .await?)
}

pub async fn find_link_by_id<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<LinkRow>, StoreError> {
    Ok(access_link::Entity::find_by_id(id).one(db).await?)
}

/// Revoke live links of a participant: all of them, or only those of one kind. Returns how many.
pub async fn revoke_links<C: ConnectionTrait>(
    db: &C,
    participant: Uuid,
    kind: Option<&str>,
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut q = access_link::Entity::update_many()
        .col_expr(
            access_link::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(at),
        )
        .filter(access_link::Column::ParticipantId.eq(participant))
        .filter(access_link::Column::RevokedAt.is_null());
    if let Some(k) = kind {
        q = q.filter(access_link::Column::Kind.eq(k));
    }
    Ok(q.exec(db).await?.rows_affected)
}

pub async fn insert_session<C: ConnectionTrait>(db: &C, row: SessionRow) -> Result<(), StoreError> {
    row.into_active_model().insert(db).await?;
    Ok(())
}

pub async fn find_session<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
) -> Result<Option<SessionRow>, StoreError> {
    Ok(
        participant_session::Entity::find_by_id(token_hash.to_string())
            .one(db)
            .await?,
    )
}

pub async fn delete_sessions_of<C: ConnectionTrait>(
    db: &C,
    participant: Uuid,
) -> Result<u64, StoreError> {
    Ok(participant_session::Entity::delete_many()
        .filter(participant_session::Column::ParticipantId.eq(participant))
        .exec(db)
        .await?
        .rows_affected)
}

pub async fn delete_session<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
) -> Result<(), StoreError> {
    participant_session::Entity::delete_by_id(token_hash.to_string())
        .exec(db)
        .await?;
    Ok(())
}

/// Forget participant sessions that have expired.
pub async fn delete_expired_sessions<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(participant_session::Entity::delete_many()
        .filter(participant_session::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected)
}

/// When the participant's PIN was set, if it is.
pub async fn pin_set_at<C: ConnectionTrait>(
    db: &C,
    participant: Uuid,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(participant_pin::Entity::find_by_id(participant)
        .one(db)
        .await?
        .map(|p| p.set_at))
}

/// Of the given participants, those who have a PIN.
pub async fn with_pin<C: ConnectionTrait>(
    db: &C,
    participants: &[Uuid],
) -> Result<std::collections::HashSet<Uuid>, StoreError> {
    let mut out = std::collections::HashSet::new();
    for chunk in participants.chunks(500) {
        let rows = participant_pin::Entity::find()
            .filter(participant_pin::Column::ParticipantId.is_in(chunk.to_vec()))
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|r| r.participant_id));
    }
    Ok(out)
}

/// The participant's links that still work at `now` (not revoked, not expired).
pub async fn live_links<C: ConnectionTrait>(
    db: &C,
    participant: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<LinkRow>, StoreError> {
    Ok(access_link::Entity::find()
        .filter(access_link::Column::ParticipantId.eq(participant))
        .filter(access_link::Column::RevokedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .filter(|l| l.expires_at.is_none_or(|e| e > now))
        .collect())
}

/// When the participant's staff-issued links were last revoked, if ever.
pub async fn staff_links_revoked_at<C: ConnectionTrait>(
    db: &C,
    participant: Uuid,
    kind: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(access_link::Entity::find()
        .filter(access_link::Column::ParticipantId.eq(participant))
        .filter(access_link::Column::Kind.eq(kind))
        .filter(access_link::Column::RevokedAt.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .filter_map(|l| l.revoked_at)
        .max())
}

/// How many sessions of the participant are open at `now`.
pub async fn open_sessions<C: ConnectionTrait>(
    db: &C,
    participant: Uuid,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(participant_session::Entity::find()
        .filter(participant_session::Column::ParticipantId.eq(participant))
        .filter(participant_session::Column::ExpiresAt.gt(now))
        .all(db)
        .await?
        .len())
}

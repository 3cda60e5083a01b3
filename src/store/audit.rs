//! Audit trail storage: lock and advance the chain head, append events, read them back in order.
//! The chain rule itself is `domain::audit`; the writer is the `audit` service.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, sea_query::LockType,
};

use super::{
    Db, StoreError,
    entities::{audit_checkpoint, audit_event, audit_head},
};
use crate::domain::audit::{EventContent, StoredEvent};

pub const HEAD_ID: i32 = 1;

/// Read the chain head and lock it for the rest of the transaction (FOR UPDATE on PostgreSQL;
/// on SQLite the IMMEDIATE transaction already holds the only write lock).
pub async fn lock_head(txn: &DatabaseTransaction) -> Result<(i64, String), StoreError> {
    let head = audit_head::Entity::find_by_id(HEAD_ID)
        .lock(LockType::Update)
        .one(txn)
        .await?
        .ok_or_else(|| {
            StoreError::Db(sea_orm::DbErr::RecordNotFound(
                "audit_head row (run migrations)".into(),
            ))
        })?;
    Ok((head.seq, head.hash))
}

pub async fn append(txn: &DatabaseTransaction, event: &StoredEvent) -> Result<(), StoreError> {
    let c = &event.content;
    audit_event::ActiveModel {
        seq: Set(c.seq),
        at: Set(c.at.clone()),
        actor_kind: Set(c.actor_kind.clone()),
        actor_id: Set(c.actor_id.clone()),
        action: Set(c.action.clone()),
        entity_type: Set(c.entity_type.clone()),
        entity_id: Set(c.entity_id.clone()),
        before: Set(c.before.clone()),
        after: Set(c.after.clone()),
        reason: Set(c.reason.clone()),
        prev_hash: Set(event.prev_hash.clone()),
        hash: Set(event.hash.clone()),
    }
    .insert(txn)
    .await?;
    audit_head::ActiveModel {
        id: Set(HEAD_ID),
        seq: Set(c.seq),
        hash: Set(event.hash.clone()),
    }
    .update(txn)
    .await?;
    Ok(())
}

pub async fn head<C: ConnectionTrait>(db: &C) -> Result<(i64, String), StoreError> {
    let head = audit_head::Entity::find_by_id(HEAD_ID)
        .one(db)
        .await?
        .ok_or_else(|| {
            StoreError::Db(sea_orm::DbErr::RecordNotFound(
                "audit_head row (run migrations)".into(),
            ))
        })?;
    Ok((head.seq, head.hash))
}

/// Events with seq > `after`, in order, at most `limit`: verification pages through the chain.
pub async fn page(db: &Db, after: i64, limit: u64) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = audit_event::Entity::find()
        .filter(audit_event::Column::Seq.gt(after))
        .order_by_asc(audit_event::Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(to_stored).collect())
}

/// Events about one entity, oldest first.
pub async fn for_entity(
    db: &Db,
    entity_type: &str,
    entity_id: &str,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = audit_event::Entity::find()
        .filter(audit_event::Column::EntityType.eq(entity_type))
        .filter(audit_event::Column::EntityId.eq(entity_id))
        .order_by_asc(audit_event::Column::Seq)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(to_stored).collect())
}

fn to_stored(m: audit_event::Model) -> StoredEvent {
    StoredEvent {
        content: EventContent {
            seq: m.seq,
            at: m.at,
            actor_kind: m.actor_kind,
            actor_id: m.actor_id,
            action: m.action,
            entity_type: m.entity_type,
            entity_id: m.entity_id,
            before: m.before,
            after: m.after,
            reason: m.reason,
        },
        prev_hash: m.prev_hash,
        hash: m.hash,
    }
}

pub use super::entities::audit_checkpoint::Model as CheckpointRow;

/// Store a signed checkpoint; false when one of that size is already stored (another instance
/// signed the same tree).
pub async fn insert_checkpoint<C: ConnectionTrait>(
    db: &C,
    row: CheckpointRow,
) -> Result<bool, StoreError> {
    use sea_orm::sea_query::OnConflict;
    let inserted =
        audit_checkpoint::Entity::insert(sea_orm::IntoActiveModel::into_active_model(row))
            .on_conflict(
                OnConflict::column(audit_checkpoint::Column::Size)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    Ok(inserted > 0)
}

/// Every stored checkpoint, smallest first.
pub async fn checkpoints<C: ConnectionTrait>(db: &C) -> Result<Vec<CheckpointRow>, StoreError> {
    Ok(audit_checkpoint::Entity::find()
        .order_by_asc(audit_checkpoint::Column::Size)
        .all(db)
        .await?)
}

/// The largest stored checkpoint's size (0 when there is none).
pub async fn last_checkpoint_size<C: ConnectionTrait>(db: &C) -> Result<i64, StoreError> {
    Ok(audit_checkpoint::Entity::find()
        .order_by_desc(audit_checkpoint::Column::Size)
        .one(db)
        .await?
        .map_or(0, |c| c.size))
}

//! Audit trail storage: insert events (sequenced at once on SQLite, later by the sequencer on
//! PostgreSQL), the sequencer's lock and writes, reading the log back in order. The chain rule
//! itself is `domain::audit`; the writer and the sequencer are the `audit` service.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{LockType, NullOrdering, Order},
};

use super::{
    Db, StoreError,
    entities::{audit_checkpoint, audit_event, audit_head},
};
use crate::domain::audit::{EventContent, StoredEvent, Unsequenced};

pub const HEAD_ID: i32 = 1;

/// The PostgreSQL advisory lock (transaction scope) that makes one sequencing pass at a time,
/// across instances: ASCII "eproseq1".
const SEQUENCER_LOCK: i64 = 0x6570_726f_7365_7131;

/// Whether events get their sequence number inside the writing transaction: on SQLite (one
/// writer at a time anyway, its IMMEDIATE transaction holding the only write lock). On
/// PostgreSQL an event is inserted unsequenced, without any shared lock, and the sequencer
/// numbers it after commit (docs/audit-ledger.md).
pub fn sequenced_on_write<C: ConnectionTrait>(txn: &C) -> bool {
    txn.get_database_backend() == DbBackend::Sqlite
}

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

/// Append an event that already has its number and hashes (SQLite's write path), and move the
/// head to it. The caller holds the head's lock (`lock_head`).
pub async fn append(
    txn: &DatabaseTransaction,
    event: &StoredEvent,
    content_hash: &str,
) -> Result<(), StoreError> {
    let c = &event.content;
    row(
        c,
        Some(c.seq),
        Some(event.prev_hash.clone()),
        Some(event.hash.clone()),
        content_hash,
        Some(c.at.clone()),
    )
    .insert(txn)
    .await?;
    set_head(txn, c.seq, &event.hash).await
}

/// Insert an event without a sequence number (PostgreSQL's write path): no lock is taken, so
/// concurrent transactions commit in parallel. `content.seq` is ignored.
pub async fn insert_unsequenced(
    txn: &DatabaseTransaction,
    content: &EventContent,
    content_hash: &str,
) -> Result<(), StoreError> {
    row(content, None, None, None, content_hash, None)
        .insert(txn)
        .await?;
    Ok(())
}

fn row(
    c: &EventContent,
    seq: Option<i64>,
    prev_hash: Option<String>,
    hash: Option<String>,
    content_hash: &str,
    sequenced_at: Option<String>,
) -> audit_event::ActiveModel {
    audit_event::ActiveModel {
        seq: Set(seq),
        at: Set(c.at.clone()),
        actor_kind: Set(c.actor_kind.clone()),
        actor_id: Set(c.actor_id.clone()),
        action: Set(c.action.clone()),
        entity_type: Set(c.entity_type.clone()),
        entity_id: Set(c.entity_id.clone()),
        before: Set(c.before.clone()),
        after: Set(c.after.clone()),
        reason: Set(c.reason.clone()),
        prev_hash: Set(prev_hash),
        hash: Set(hash),
        content_hash: Set(Some(content_hash.to_string())),
        sequenced_at: Set(sequenced_at),
        ..Default::default()
    }
}

async fn set_head(txn: &DatabaseTransaction, seq: i64, hash: &str) -> Result<(), StoreError> {
    audit_head::ActiveModel {
        id: Set(HEAD_ID),
        seq: Set(seq),
        hash: Set(hash.to_string()),
    }
    .update(txn)
    .await?;
    Ok(())
}

/// Begin one sequencing pass: a write transaction holding the sequencer's lock (PostgreSQL: a
/// transaction-scoped advisory lock, released at commit, rollback, or when the connection dies
/// with its instance; SQLite: the IMMEDIATE transaction's write lock). With `wait` false, `None`
/// when another instance is sequencing right now (it will pick these events up).
pub async fn begin_sequencing(db: &Db, wait: bool) -> Result<Option<super::WriteTxn>, StoreError> {
    let txn = super::begin_write(db).await?;
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(Some(txn));
    }
    let sql = if wait {
        format!("SELECT pg_advisory_xact_lock({SEQUENCER_LOCK}) IS NULL AS locked")
    } else {
        format!("SELECT pg_try_advisory_xact_lock({SEQUENCER_LOCK}) AS locked")
    };
    let locked = txn
        .query_one_raw(sea_orm::Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .map(|r| r.try_get::<bool>("", "locked"))
        .transpose()?
        .unwrap_or(false);
    // `pg_advisory_xact_lock` returns void (NULL): having returned, it holds the lock.
    if locked || wait {
        Ok(Some(txn))
    } else {
        txn.rollback().await?;
        Ok(None)
    }
}

/// The committed events not sequenced yet, in insertion order, at most `limit`. Read in the
/// sequencer's transaction: every row it sees was committed before this statement began.
pub async fn unsequenced<C: ConnectionTrait>(
    db: &C,
    limit: u64,
) -> Result<Vec<Unsequenced>, StoreError> {
    let rows = audit_event::Entity::find()
        .filter(audit_event::Column::Seq.is_null())
        .order_by_asc(audit_event::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|m| Unsequenced {
            id: m.id,
            content_hash: m.content_hash.clone(),
            content: content_of(m, 0),
        })
        .collect())
}

/// Record the sequencer's decision for one event, and (after the last) move the head.
pub async fn set_sequenced(
    txn: &DatabaseTransaction,
    id: i64,
    event: &StoredEvent,
    sequenced_at: &str,
) -> Result<(), StoreError> {
    audit_event::Entity::update_many()
        .col_expr(audit_event::Column::Seq, event.content.seq.into())
        .col_expr(
            audit_event::Column::PrevHash,
            event.prev_hash.clone().into(),
        )
        .col_expr(audit_event::Column::Hash, event.hash.clone().into())
        .col_expr(audit_event::Column::SequencedAt, sequenced_at.into())
        .filter(audit_event::Column::Id.eq(id))
        .filter(audit_event::Column::Seq.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

pub async fn move_head(txn: &DatabaseTransaction, seq: i64, hash: &str) -> Result<(), StoreError> {
    set_head(txn, seq, hash).await
}

/// How many events wait for a sequence number, and the oldest one's id and time (`at`).
pub async fn unsequenced_figures<C: ConnectionTrait>(
    db: &C,
) -> Result<(u64, Option<(i64, String)>), StoreError> {
    let count = audit_event::Entity::find()
        .filter(audit_event::Column::Seq.is_null())
        .count(db)
        .await?;
    let oldest = audit_event::Entity::find()
        .filter(audit_event::Column::Seq.is_null())
        .order_by_asc(audit_event::Column::At)
        .one(db)
        .await?
        .map(|m| (m.id, m.at));
    Ok((count, oldest))
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
    Ok(rows.into_iter().filter_map(to_stored).collect())
}

/// Events about one entity, oldest first: sequenced ones in sequence order, then those not
/// sequenced yet (their `seq` reads 0) in insertion order.
pub async fn for_entity(
    db: &Db,
    entity_type: &str,
    entity_id: &str,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = audit_event::Entity::find()
        .filter(audit_event::Column::EntityType.eq(entity_type))
        .filter(audit_event::Column::EntityId.eq(entity_id))
        .order_by_with_nulls(audit_event::Column::Seq, Order::Asc, NullOrdering::Last)
        .order_by_asc(audit_event::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|m| {
            let (prev_hash, hash) = (m.prev_hash.clone(), m.hash.clone());
            let seq = m.seq.unwrap_or(0);
            StoredEvent {
                content: content_of(m, seq),
                prev_hash: prev_hash.unwrap_or_default(),
                hash: hash.unwrap_or_default(),
            }
        })
        .collect())
}

/// A sequenced row as the chain reads it (`None` for a row not sequenced yet).
fn to_stored(m: audit_event::Model) -> Option<StoredEvent> {
    let (seq, prev_hash, hash) = (m.seq?, m.prev_hash.clone()?, m.hash.clone()?);
    Some(StoredEvent {
        content: content_of(m, seq),
        prev_hash,
        hash,
    })
}

fn content_of(m: audit_event::Model, seq: i64) -> EventContent {
    EventContent {
        seq,
        at: m.at,
        actor_kind: m.actor_kind,
        actor_id: m.actor_id,
        action: m.action,
        entity_type: m.entity_type,
        entity_id: m.entity_id,
        before: m.before,
        after: m.after,
        reason: m.reason,
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

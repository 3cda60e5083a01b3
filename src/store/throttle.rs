//! Failed-attempt records for throttling. Keys are keyed hashes, never emails or addresses.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QuerySelect, Set, Statement,
};

use super::{StoreError, entities::login_failure};

/// Serialize decisions about these keys until the transaction ends. PostgreSQL: one advisory
/// transaction lock per key (taken in sorted order, so two callers never deadlock). SQLite: the
/// IMMEDIATE write transaction already holds the only write lock.
pub async fn lock_keys(txn: &DatabaseTransaction, keys: &[(&str, &str)]) -> Result<(), StoreError> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let mut names: Vec<String> = keys.iter().map(|(s, k)| format!("{s}:{k}")).collect();
    names.sort();
    names.dedup();
    for name in names {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7130))",
            [name.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Record one failed (or reserved) attempt; returns its id.
pub async fn record_failure<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    key_hash: &str,
    at: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let row = login_failure::ActiveModel {
        scope: Set(scope.to_string()),
        key_hash: Set(key_hash.to_string()),
        at: Set(at),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(row.id)
}

/// Forget these attempt records (an attempt that succeeded, or was never checked).
pub async fn delete_ids<C: ConnectionTrait>(db: &C, ids: &[i64]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    login_failure::Entity::delete_many()
        .filter(login_failure::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// Forget the failures of every key of `scope` that starts with `prefix` (e.g. all the links of
/// one participant).
pub async fn clear_prefix<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    prefix: &str,
) -> Result<(), StoreError> {
    login_failure::Entity::delete_many()
        .filter(login_failure::Column::Scope.eq(scope))
        .filter(login_failure::Column::KeyHash.starts_with(prefix))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn failures_since<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    key_hash: &str,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, StoreError> {
    Ok(login_failure::Entity::find()
        .select_only()
        .column(login_failure::Column::At)
        .filter(login_failure::Column::Scope.eq(scope))
        .filter(login_failure::Column::KeyHash.eq(key_hash))
        .filter(login_failure::Column::At.gt(since))
        .into_tuple::<DateTime<Utc>>()
        .all(db)
        .await?)
}

pub async fn clear<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    key_hash: &str,
) -> Result<(), StoreError> {
    login_failure::Entity::delete_many()
        .filter(login_failure::Column::Scope.eq(scope))
        .filter(login_failure::Column::KeyHash.eq(key_hash))
        .exec(db)
        .await?;
    Ok(())
}

/// Forget failures older than `before` (housekeeping).
pub async fn prune<C: ConnectionTrait>(db: &C, before: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(login_failure::Entity::delete_many()
        .filter(login_failure::Column::At.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

//! Failed-attempt records for throttling. Keys are keyed hashes, never emails or addresses.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};

use super::{StoreError, entities::login_failure};

pub async fn record_failure<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    key_hash: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    login_failure::ActiveModel {
        scope: Set(scope.to_string()),
        key_hash: Set(key_hash.to_string()),
        at: Set(at),
        ..Default::default()
    }
    .insert(db)
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

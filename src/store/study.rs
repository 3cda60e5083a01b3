//! The study this database belongs to (its id and the sha256 of the study file last loaded),
//! and which of the study file's sites are disabled.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
    sea_query::LockType,
};

use super::{
    StoreError,
    entities::{site_state, study},
};

const STUDY_ROW: i32 = 1;

/// (study id, file sha256) recorded for this database, if any.
pub async fn recorded<C: ConnectionTrait>(db: &C) -> Result<Option<(String, String)>, StoreError> {
    Ok(study::Entity::find_by_id(STUDY_ROW)
        .one(db)
        .await?
        .map(|s| (s.study_id, s.file_sha256)))
}

pub async fn record<C: ConnectionTrait>(
    db: &C,
    study_id: &str,
    sha256: &str,
    at: DateTime<Utc>,
    first: bool,
) -> Result<(), StoreError> {
    let row = study::ActiveModel {
        id: Set(STUDY_ROW),
        study_id: Set(study_id.to_string()),
        file_sha256: Set(sha256.to_string()),
        loaded_at: Set(at),
    };
    if first {
        row.insert(db).await?;
    } else {
        row.update(db).await?;
    }
    Ok(())
}

pub async fn disabled_sites<C: ConnectionTrait>(db: &C) -> Result<Vec<String>, StoreError> {
    Ok(site_state::Entity::find()
        .filter(site_state::Column::Disabled.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.code)
        .collect())
}

/// Set a site's disabled flag; returns the previous value. Inside a write transaction the row
/// is locked first, so concurrent changes queue and each sees the true previous value.
pub async fn set_site_disabled<C: ConnectionTrait>(
    db: &C,
    code: &str,
    disabled: bool,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    // Make sure the row exists (a site starts enabled), without racing another inserter.
    site_state::Entity::insert(site_state::ActiveModel {
        code: Set(code.to_string()),
        disabled: Set(false),
        changed_at: Set(at),
    })
    .on_conflict_do_nothing_on([site_state::Column::Code])
    .exec(db)
    .await?;
    let before = site_state::Entity::find_by_id(code.to_string())
        .lock(LockType::Update)
        .one(db)
        .await?
        .is_some_and(|s| s.disabled);
    site_state::ActiveModel {
        code: Set(code.to_string()),
        disabled: Set(disabled),
        changed_at: Set(at),
    }
    .update(db)
    .await?;
    Ok(before)
}

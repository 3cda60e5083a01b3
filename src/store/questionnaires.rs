//! Hashes of the questionnaire versions (and scoring files) this database has served.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

use super::{StoreError, entities::questionnaire_lock};

/// (key, version, part, sha256) for everything recorded.
pub async fn recorded<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<(String, String, String, String)>, StoreError> {
    Ok(questionnaire_lock::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.key, r.version, r.part, r.sha256))
        .collect())
}

pub async fn record<C: ConnectionTrait>(
    db: &C,
    key: &str,
    version: &str,
    part: &str,
    sha256: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    questionnaire_lock::ActiveModel {
        key: Set(key.into()),
        version: Set(version.into()),
        part: Set(part.into()),
        sha256: Set(sha256.into()),
        recorded_at: Set(at),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub use super::entities::wording_pack::Model as WordingPackRow;

/// Every wording pack recorded, oldest first.
pub async fn wording_packs<C: ConnectionTrait>(db: &C) -> Result<Vec<WordingPackRow>, StoreError> {
    use sea_orm::QueryOrder;
    Ok(super::entities::wording_pack::Entity::find()
        .order_by_asc(super::entities::wording_pack::Column::RecordedAt)
        .order_by_asc(super::entities::wording_pack::Column::Key)
        .order_by_asc(super::entities::wording_pack::Column::Language)
        .all(db)
        .await?)
}

pub async fn record_wording_pack<C: ConnectionTrait>(
    db: &C,
    row: WordingPackRow,
) -> Result<(), StoreError> {
    super::entities::wording_pack::ActiveModel::from(row)
        .insert(db)
        .await?;
    Ok(())
}

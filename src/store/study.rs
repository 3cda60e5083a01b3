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

/// The study registered in this database (id, file sha256, file text when kept), if any.
pub async fn recorded<C: ConnectionTrait>(db: &C) -> Result<Option<study::Model>, StoreError> {
    Ok(study::Entity::find_by_id(STUDY_ROW).one(db).await?)
}

pub async fn record<C: ConnectionTrait>(
    db: &C,
    study: &crate::domain::study::Study,
    at: DateTime<Utc>,
    first: bool,
) -> Result<(), StoreError> {
    let row = study::ActiveModel {
        id: Set(STUDY_ROW),
        study_id: Set(study.id.clone()),
        file_sha256: Set(study.sha256.clone()),
        loaded_at: Set(at),
        file_text: Set(Some(study.source.clone())),
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

/// What enrolled participants use: sites with participants, their languages and those of
/// their responses, and the visit codes they have.
pub async fn in_use<C: ConnectionTrait>(
    db: &C,
) -> Result<crate::domain::study::amendment::InUse, StoreError> {
    use super::entities::{lesion, participant, participant_event, response, visit};
    let sites: Vec<String> = participant::Entity::find()
        .select_only()
        .column(participant::Column::SiteCode)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    let mut languages: Vec<String> = participant::Entity::find()
        .select_only()
        .column(participant::Column::Language)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    languages.extend(
        response::Entity::find()
            .select_only()
            .column(response::Column::Language)
            .distinct()
            .into_tuple::<String>()
            .all(db)
            .await?,
    );
    let visits: Vec<String> = visit::Entity::find()
        .select_only()
        .column(visit::Column::Code)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    let lesions: Vec<(String, crate::store::Json<Vec<String>>)> = lesion::Entity::find()
        .select_only()
        .column(lesion::Column::Location)
        .column(lesion::Column::HighRiskReasons)
        .into_tuple()
        .all(db)
        .await?;
    let details: Vec<crate::store::Json<serde_json::Value>> = participant_event::Entity::find()
        .select_only()
        .column(participant_event::Column::Details)
        .into_tuple()
        .all(db)
        .await?;
    let detail = |key: &str| -> std::collections::BTreeSet<String> {
        details
            .iter()
            .filter_map(|d| d.0.get(key).and_then(|v| v.as_str()).map(String::from))
            .collect()
    };
    Ok(crate::domain::study::amendment::InUse {
        participants: !sites.is_empty(),
        sites: sites.into_iter().collect(),
        languages: languages.into_iter().collect(),
        visits: visits.into_iter().collect(),
        lesion_locations: lesions.iter().map(|(l, _)| l.clone()).collect(),
        high_risk_reasons: lesions.iter().flat_map(|(_, r)| r.0.clone()).collect(),
        sse_types: detail("sse_type"),
        arms: detail("arm"),
    })
}

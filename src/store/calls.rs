//! The call log of the "call today" list.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

pub use super::entities::call_log::Model as CallRow;
use super::{StoreError, entities::call_log};

pub async fn insert<C: ConnectionTrait>(db: &C, row: CallRow) -> Result<(), StoreError> {
    row.into_active_model().insert(db).await?;
    Ok(())
}

/// Each given participant's latest logged call.
pub async fn latest<C: ConnectionTrait>(
    db: &C,
    participants: &[Uuid],
) -> Result<HashMap<Uuid, CallRow>, StoreError> {
    let mut out = HashMap::new();
    for chunk in participants.chunks(500) {
        let rows = call_log::Entity::find()
            .filter(call_log::Column::ParticipantId.is_in(chunk.to_vec()))
            .order_by_asc(call_log::Column::LoggedAt)
            .all(db)
            .await?;
        // Ascending: the latest of each participant is inserted last.
        out.extend(rows.into_iter().map(|r| (r.participant_id, r)));
    }
    Ok(out)
}

/// The reasons (one key a line) logged with calls of `outcome`, by participant: e.g. the
/// "assess for SSE" flags a nurse assessed as no SSE.
pub async fn reasons_logged_as<C: ConnectionTrait>(
    db: &C,
    participants: &[Uuid],
    outcome: &str,
) -> Result<HashMap<Uuid, std::collections::HashSet<String>>, StoreError> {
    let mut out: HashMap<Uuid, std::collections::HashSet<String>> = HashMap::new();
    for chunk in participants.chunks(500) {
        let rows = call_log::Entity::find()
            .filter(call_log::Column::ParticipantId.is_in(chunk.to_vec()))
            .filter(call_log::Column::Outcome.eq(outcome))
            .all(db)
            .await?;
        for r in rows {
            out.entry(r.participant_id)
                .or_default()
                .extend(r.reasons.lines().map(str::to_string));
        }
    }
    Ok(out)
}

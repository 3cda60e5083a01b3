//! Participants, their sealed contact data, events, lesions and visits.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, sea_query::LockType,
};
use uuid::Uuid;

pub use super::entities::{
    lesion::Model as LesionRow, participant::Model as ParticipantRow,
    participant_contact::Model as ContactRow, participant_event::Model as EventRow,
    visit::Model as VisitRow,
};
use super::{
    StoreError,
    entities::{lesion, participant, participant_contact, participant_event, visit},
};

pub async fn insert<C: ConnectionTrait>(db: &C, row: ParticipantRow) -> Result<(), StoreError> {
    row.into_active_model()
        .insert(db)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    study_id: &str,
) -> Result<Option<ParticipantRow>, StoreError> {
    Ok(participant::Entity::find()
        .filter(participant::Column::StudyId.eq(study_id))
        .one(db)
        .await?)
}

pub async fn find_by_id<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<ParticipantRow>, StoreError> {
    Ok(participant::Entity::find_by_id(id).one(db).await?)
}

/// Read a participant and lock the row for the rest of the write transaction, so concurrent
/// changes to one participant (events, lesions) queue.
pub async fn find_for_update<C: ConnectionTrait>(
    db: &C,
    study_id: &str,
) -> Result<Option<ParticipantRow>, StoreError> {
    Ok(participant::Entity::find()
        .filter(participant::Column::StudyId.eq(study_id))
        .lock(LockType::Update)
        .one(db)
        .await?)
}

/// Participants, optionally only those of some sites, ordered by study id.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    sites: Option<&[String]>,
) -> Result<Vec<ParticipantRow>, StoreError> {
    let mut q = participant::Entity::find().order_by_asc(participant::Column::StudyId);
    if let Some(sites) = sites {
        q = q.filter(participant::Column::SiteCode.is_in(sites.iter().cloned()));
    }
    Ok(q.all(db).await?)
}

pub async fn contact<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<ContactRow>, StoreError> {
    Ok(participant_contact::Entity::find_by_id(id).one(db).await?)
}

/// The reminder channel of each of these participants that has a contact row.
pub async fn reminder_channels<C: ConnectionTrait>(
    db: &C,
    participants: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, String>, StoreError> {
    let mut out = std::collections::HashMap::new();
    for chunk in participants.chunks(1000) {
        let rows: Vec<(Uuid, String)> = participant_contact::Entity::find()
            .select_only()
            .column(participant_contact::Column::ParticipantId)
            .column(participant_contact::Column::ReminderChannel)
            .filter(participant_contact::Column::ParticipantId.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(rows);
    }
    Ok(out)
}

/// Whether a contact row lets a reminder reach its participant on their channel: an email
/// address for email (or both), a phone for SMS (or both).
pub fn reachable(c: &ContactRow) -> bool {
    let channel = crate::domain::reminders::Channel::parse(&c.reminder_channel)
        .unwrap_or(crate::domain::reminders::Channel::Email);
    channel.reaches(c.email_sealed.is_some(), c.phone_sealed.is_some())
}

/// Of the given participants, those no reminder can reach (no email address, or no phone for
/// SMS reminders).
pub async fn unreachable<C: ConnectionTrait>(
    db: &C,
    participants: &[Uuid],
) -> Result<std::collections::HashSet<Uuid>, StoreError> {
    let mut with = std::collections::HashSet::new();
    for chunk in participants.chunks(500) {
        let rows = participant_contact::Entity::find()
            .filter(participant_contact::Column::ParticipantId.is_in(chunk.to_vec()))
            .all(db)
            .await?;
        with.extend(rows.into_iter().filter(reachable).map(|r| r.participant_id));
    }
    Ok(participants
        .iter()
        .filter(|p| !with.contains(p))
        .copied()
        .collect())
}

/// Every participant's contact row (with the study id), for end-of-trial purging and key rotation.
pub async fn all_contacts<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<(ParticipantRow, ContactRow)>, StoreError> {
    let contacts = participant_contact::Entity::find().all(db).await?;
    let mut out = Vec::new();
    for c in contacts {
        if let Some(p) = participant::Entity::find_by_id(c.participant_id)
            .one(db)
            .await?
        {
            out.push((p, c));
        }
    }
    out.sort_by(|a, b| a.0.study_id.cmp(&b.0.study_id));
    Ok(out)
}

pub async fn save_contact<C: ConnectionTrait>(db: &C, row: ContactRow) -> Result<(), StoreError> {
    let exists = participant_contact::Entity::find_by_id(row.participant_id)
        .one(db)
        .await?
        .is_some();
    let mut am = row.into_active_model();
    if exists {
        am = am.reset_all();
        am.update(db).await?;
    } else {
        am.insert(db).await?;
    }
    Ok(())
}

pub async fn events<C: ConnectionTrait>(
    db: &C,
    participant_id: Uuid,
) -> Result<Vec<EventRow>, StoreError> {
    Ok(participant_event::Entity::find()
        .filter(participant_event::Column::ParticipantId.eq(participant_id))
        .order_by_asc(participant_event::Column::RecordedAt)
        .order_by_asc(participant_event::Column::Id)
        .all(db)
        .await?)
}

pub async fn insert_event<C: ConnectionTrait>(db: &C, row: EventRow) -> Result<(), StoreError> {
    row.into_active_model().insert(db).await?;
    Ok(())
}

pub async fn update_event<C: ConnectionTrait>(db: &C, row: EventRow) -> Result<(), StoreError> {
    row.into_active_model().reset_all().update(db).await?;
    Ok(())
}

pub async fn lesions<C: ConnectionTrait>(
    db: &C,
    participant_id: Uuid,
) -> Result<Vec<LesionRow>, StoreError> {
    Ok(lesion::Entity::find()
        .filter(lesion::Column::ParticipantId.eq(participant_id))
        .order_by_asc(lesion::Column::CreatedAt)
        .order_by_asc(lesion::Column::Id)
        .all(db)
        .await?)
}

pub async fn insert_lesion<C: ConnectionTrait>(db: &C, row: LesionRow) -> Result<(), StoreError> {
    row.into_active_model().insert(db).await?;
    Ok(())
}

pub async fn update_lesion<C: ConnectionTrait>(db: &C, row: LesionRow) -> Result<(), StoreError> {
    row.into_active_model().reset_all().update(db).await?;
    Ok(())
}

/// Whether any answer (draft or submitted) was given about this lesion.
pub async fn lesion_has_answers<C: ConnectionTrait>(
    db: &C,
    lesion_id: Uuid,
) -> Result<bool, StoreError> {
    use super::entities::answer;
    Ok(answer::Entity::find()
        .filter(answer::Column::Lesion.eq(lesion_id.to_string()))
        .one(db)
        .await?
        .is_some())
}

pub async fn visits<C: ConnectionTrait>(
    db: &C,
    participant_id: Uuid,
) -> Result<Vec<VisitRow>, StoreError> {
    Ok(visit::Entity::find()
        .filter(visit::Column::ParticipantId.eq(participant_id))
        .order_by_asc(visit::Column::Position)
        .all(db)
        .await?)
}

pub async fn insert_visit<C: ConnectionTrait>(db: &C, row: VisitRow) -> Result<(), StoreError> {
    row.into_active_model()
        .insert(db)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

pub async fn update<C: ConnectionTrait>(db: &C, row: ParticipantRow) -> Result<(), StoreError> {
    row.into_active_model().reset_all().update(db).await?;
    Ok(())
}

pub async fn update_visit<C: ConnectionTrait>(db: &C, row: VisitRow) -> Result<(), StoreError> {
    row.into_active_model().reset_all().update(db).await?;
    Ok(())
}

/// The questionnaires due at a stored visit.
pub fn due_questionnaires(v: &VisitRow) -> Vec<String> {
    v.questionnaires.0.clone()
}

/// A stored visit as the schedule rules see it.
pub fn stored_visit(v: &VisitRow) -> crate::domain::schedule::after_event::StoredVisit {
    crate::domain::schedule::after_event::StoredVisit {
        code: v.code.clone(),
        position: v.position,
        window: crate::domain::schedule::Window {
            target: v.target_date,
            start: v.window_start,
            end: v.window_end,
            grace_end: v.grace_end,
        },
        final_state: v.final_state,
        sse_triggered: v.sse_triggered,
        missed_reason: v.missed_reason.is_some(),
        due: due_questionnaires(v),
        recomputable: matches!(
            v.final_state,
            Some(
                crate::domain::schedule::VisitState::Missed
                    | crate::domain::schedule::VisitState::Partial
            )
        ) && v.missed_reason.is_none()
            && v.final_cause.is_none(),
        submitted: Vec::new(),
    }
}

//! Reading many participants at once: a few queries per thousand participants instead of a few
//! per participant, for the site dashboard and reminder planning (docs/benchmarks.md).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{participant, participant_event, reminder, response, visit},
    participants::{EventRow, ParticipantRow, VisitRow},
    reminders::ReminderRow,
    responses::ResponseRow,
};

/// IN-lists stay well under every backend's bound on bind parameters.
const CHUNK: usize = 1000;

/// What the pure schedule and reminder rules need about each participant, by participant id.
#[derive(Debug, Default)]
pub struct Records {
    pub visits: HashMap<Uuid, Vec<VisitRow>>,
    pub events: HashMap<Uuid, Vec<EventRow>>,
    pub responses: HashMap<Uuid, Vec<ResponseRow>>,
    pub reminders: HashMap<Uuid, Vec<ReminderRow>>,
}

fn group<T>(rows: Vec<T>, key: impl Fn(&T) -> Uuid, into: &mut HashMap<Uuid, Vec<T>>) {
    for r in rows {
        into.entry(key(&r)).or_default().push(r);
    }
}

/// Visits, events, responses (and reminders when asked) of the given participants, each list in
/// the same order as the one-participant queries give it.
pub async fn records<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
    with_reminders: bool,
) -> Result<Records, StoreError> {
    let mut out = Records::default();
    for chunk in ids.chunks(CHUNK) {
        let chunk = chunk.to_vec();
        let visits = visit::Entity::find()
            .filter(visit::Column::ParticipantId.is_in(chunk.clone()))
            .order_by_asc(visit::Column::ParticipantId)
            .order_by_asc(visit::Column::Position)
            .all(db)
            .await?;
        group(visits, |v| v.participant_id, &mut out.visits);
        let events = participant_event::Entity::find()
            .filter(participant_event::Column::ParticipantId.is_in(chunk.clone()))
            .order_by_asc(participant_event::Column::ParticipantId)
            .order_by_asc(participant_event::Column::RecordedAt)
            .order_by_asc(participant_event::Column::Id)
            .all(db)
            .await?;
        group(events, |e| e.participant_id, &mut out.events);
        let responses = response::Entity::find()
            .filter(response::Column::ParticipantId.is_in(chunk.clone()))
            .order_by_asc(response::Column::ParticipantId)
            .order_by_asc(response::Column::StartedAt)
            .all(db)
            .await?;
        group(responses, |r| r.participant_id, &mut out.responses);
        if with_reminders {
            let reminders = reminder::Entity::find()
                .filter(reminder::Column::ParticipantId.is_in(chunk))
                .order_by_asc(reminder::Column::ParticipantId)
                .order_by_asc(reminder::Column::DueAt)
                .all(db)
                .await?;
            group(reminders, |r| r.participant_id, &mut out.reminders);
        }
    }
    Ok(out)
}

/// Of the given responses, those whose stored scores yield at least one scale score (CONSORT-PRO
/// "scorable").
pub async fn scorable<C: ConnectionTrait>(
    db: &C,
    responses: &[Uuid],
) -> Result<std::collections::HashSet<Uuid>, StoreError> {
    let mut out = std::collections::HashSet::new();
    for chunk in responses.chunks(CHUNK) {
        let rows = super::entities::score::Entity::find()
            .filter(super::entities::score::Column::ResponseId.is_in(chunk.to_vec()))
            .all(db)
            .await?;
        for r in rows {
            let any = r.results.0["scales"]
                .as_array()
                .is_some_and(|scales| scales.iter().any(|s| s["score"].is_number()));
            if any {
                out.insert(r.response_id);
            }
        }
    }
    Ok(out)
}

/// Participants with a visit whose window has opened and whose grace period has not ended (or
/// has no end yet), not already settled: the only ones reminder planning needs to look at, so
/// its cost follows the work due, not the size of the history.
pub async fn with_open_visits<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<Vec<ParticipantRow>, StoreError> {
    let open = visit::Entity::find()
        .filter(visit::Column::WindowStart.lte(now))
        .filter(visit::Column::FinalState.is_null())
        .filter(
            Condition::any()
                .add(visit::Column::GraceEnd.is_null())
                .add(visit::Column::GraceEnd.gt(now)),
        )
        .all(db)
        .await?;
    let mut ids: Vec<Uuid> = open.iter().map(|v| v.participant_id).collect();
    ids.sort();
    ids.dedup();
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        out.extend(
            participant::Entity::find()
                .filter(participant::Column::Id.is_in(chunk.to_vec()))
                .order_by_asc(participant::Column::StudyId)
                .all(db)
                .await?,
        );
    }
    out.sort_by(|a, b| a.study_id.cmp(&b.study_id));
    Ok(out)
}

/// Each given participant's revision (raised by the database on any change to the rows their
/// visit states are derived from; migration 11). Read before those rows, so that what is
/// derived from them is never older than the revision it is kept under.
pub async fn revisions<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, i64>, StoreError> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let rows = super::entities::participant_revision::Entity::find()
            .filter(
                super::entities::participant_revision::Column::ParticipantId.is_in(chunk.to_vec()),
            )
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|r| (r.participant_id, r.revision)));
    }
    Ok(out)
}

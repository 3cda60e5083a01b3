//! Reading many participants at once: a few queries per thousand participants instead of a few
//! per participant, for the site dashboard and reminder planning (docs/benchmarks.md).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{participant, participant_event, participant_revision, reminder, response, visit},
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
            .order_by_asc(response::Column::Id)
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
/// its cost follows the work due, not the size of the history. `among`: only these.
pub async fn with_open_visits<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    among: Option<&[Uuid]>,
) -> Result<Vec<ParticipantRow>, StoreError> {
    let open = || {
        visit::Entity::find()
            .select_only()
            .column(visit::Column::ParticipantId)
            .distinct()
            .filter(visit::Column::WindowStart.lte(now))
            .filter(visit::Column::FinalState.is_null())
            .filter(
                Condition::any()
                    .add(visit::Column::GraceEnd.is_null())
                    .add(visit::Column::GraceEnd.gt(now)),
            )
    };
    let mut ids: Vec<Uuid> = Vec::new();
    match among {
        None => ids = open().into_tuple().all(db).await?,
        Some(among) => {
            for chunk in among.chunks(CHUNK) {
                let rows: Vec<Uuid> = open()
                    .filter(visit::Column::ParticipantId.is_in(chunk.to_vec()))
                    .into_tuple()
                    .all(db)
                    .await?;
                ids.extend(rows);
            }
        }
    }
    ids.sort();
    ids.dedup();
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        out.extend(
            participant::Entity::find()
                .filter(participant::Column::Id.is_in(chunk.to_vec()))
                .all(db)
                .await?,
        );
    }
    out.sort_by(|a, b| a.study_id.cmp(&b.study_id));
    Ok(out)
}

/// Of the given participants, the first window start after `now` of each (participants with
/// no later window are absent).
pub async fn next_window_starts<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, DateTime<Utc>>, StoreError> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let rows: Vec<(Uuid, DateTime<Utc>)> = visit::Entity::find()
            .select_only()
            .column(visit::Column::ParticipantId)
            .column(visit::Column::WindowStart)
            .filter(visit::Column::ParticipantId.is_in(chunk.to_vec()))
            .filter(visit::Column::WindowStart.gt(now))
            .into_tuple()
            .all(db)
            .await?;
        for (id, at) in rows {
            out.entry(id)
                .and_modify(|e: &mut DateTime<Utc>| *e = (*e).min(at))
                .or_insert(at);
        }
    }
    Ok(out)
}

/// Participants whose reminder-planning mark has passed or was cleared by a change (migration
/// 11), with the revision read: the only ones a planning pass looks at.
pub async fn plan_due<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<Vec<(Uuid, i64)>, StoreError> {
    Ok(participant_revision::Entity::find()
        .select_only()
        .column(participant_revision::Column::ParticipantId)
        .column(participant_revision::Column::Revision)
        .filter(
            Condition::any()
                .add(participant_revision::Column::PlanAt.is_null())
                .add(participant_revision::Column::PlanAt.lte(now)),
        )
        .into_tuple()
        .all(db)
        .await?)
}

/// Set planning marks (participant, revision read before planning, next instant to look) in
/// the caller's transaction, each only while the participant's revision is still the one read:
/// a change of their records made meanwhile leaves the mark cleared, so the next pass looks
/// again. Call it before writing their reminders in the same transaction: a reminder written
/// raises the revision (migration 19 keeps the mark). One statement per 500 participants.
pub async fn set_plan_marks<C: ConnectionTrait>(
    db: &C,
    marks: &[(Uuid, i64, DateTime<Utc>)],
) -> Result<(), StoreError> {
    // `UPDATE … FROM (VALUES …)`: one statement joins the rows to their marks (SQLite ≥ 3.33 and
    // PostgreSQL both name the columns of VALUES column1, column2, …).
    let backend = db.get_database_backend();
    for chunk in marks.chunks(500) {
        let mut values = Vec::with_capacity(chunk.len() * 3);
        let mut rows = Vec::with_capacity(chunk.len());
        for (id, revision, at) in chunk {
            let n = values.len();
            rows.push(match backend {
                sea_orm::DbBackend::Postgres => format!("(${}, ${}, ${})", n + 1, n + 2, n + 3),
                _ => "(?, ?, ?)".to_string(),
            });
            values.extend([
                sea_orm::Value::from(*id),
                sea_orm::Value::from(*revision),
                sea_orm::Value::from(*at),
            ]);
        }
        let sql = format!(
            "UPDATE participant_revision SET plan_at = v.column3 FROM (VALUES {}) AS v \
             WHERE participant_revision.participant_id = v.column1 \
             AND participant_revision.revision = v.column2",
            rows.join(", ")
        );
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            backend, sql, values,
        ))
        .await?;
    }
    Ok(())
}

/// Clear every planning mark: the next pass looks at every participant with an open visit
/// (after the study's reminder rules changed).
pub async fn clear_plan_marks<C: ConnectionTrait>(db: &C) -> Result<(), StoreError> {
    participant_revision::Entity::update_many()
        .col_expr(
            participant_revision::Column::PlanAt,
            sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// The revision of every participant in scope (all sites, or these), raised by the database on
/// any change to the rows their visit states are derived from (migration 11). One query with
/// the site filter as a subquery: a list of thousands of ids as bind parameters costs
/// PostgreSQL far more than the rows. Read before those rows, so that what is derived from
/// them is never older than the revision it is kept under.
pub async fn revisions<C: ConnectionTrait>(
    db: &C,
    sites: Option<&[String]>,
) -> Result<HashMap<Uuid, i64>, StoreError> {
    let mut q = participant_revision::Entity::find()
        .select_only()
        .column(participant_revision::Column::ParticipantId)
        .column(participant_revision::Column::Revision);
    if let Some(sites) = sites {
        q = q.filter(
            participant_revision::Column::ParticipantId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(participant::Column::Id)
                    .from(participant::Entity)
                    .and_where(participant::Column::SiteCode.is_in(sites.to_vec()))
                    .to_owned(),
            ),
        );
    }
    Ok(q.into_tuple::<(Uuid, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// The number of participants and the sum of their revisions: changes whenever any
/// participant's rows change (revisions only grow) or a participant comes or goes. One
/// aggregate query, for a refresher that looks every second.
pub async fn revision_total<C: ConnectionTrait>(db: &C) -> Result<(i64, i64), StoreError> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(revision), 0) AS BIGINT) AS s \
             FROM participant_revision",
        ))
        .await?;
    Ok(match row {
        Some(r) => (r.try_get::<i64>("", "n")?, r.try_get::<i64>("", "s")?),
        None => (0, 0),
    })
}

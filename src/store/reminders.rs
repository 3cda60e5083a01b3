//! The reminder outbox. Claiming locks due rows with FOR UPDATE SKIP LOCKED on PostgreSQL (so
//! several workers never claim the same row); on SQLite the IMMEDIATE write transaction makes
//! the claim the only writer.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::{LockBehavior, LockType},
};
use uuid::Uuid;

pub use super::entities::reminder::Model as ReminderRow;
use super::{StoreError, entities::reminder};

/// Rows not yet in the outbox by bulk insert: a row whose (participant, visit, kind) is already
/// there is left out by the unique key (`reminder_once_key`), so planning twice never makes
/// two rows. Returns how many were inserted. A few statements per thousand rows.
pub async fn insert_planned<C: ConnectionTrait>(
    db: &C,
    rows: Vec<ReminderRow>,
) -> Result<u64, StoreError> {
    use sea_orm::sea_query::OnConflict;
    // 20 columns a row: well under SQLite's 32,766 and PostgreSQL's 65,535 bind parameters.
    const ROWS: usize = 500;
    let mut inserted = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<reminder::ActiveModel> = rows
            .by_ref()
            .take(ROWS)
            .map(IntoActiveModel::into_active_model)
            .collect();
        inserted += reminder::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([
                    reminder::Column::ParticipantId,
                    reminder::Column::VisitCode,
                    reminder::Column::Kind,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(inserted)
}

/// Mark these reminders skipped with `reason`, each only while it is still pending (a worker
/// may have claimed one meanwhile). Returns how many changed.
pub async fn skip_pending<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
    reason: &str,
) -> Result<u64, StoreError> {
    use crate::domain::reminders::ReminderStatus;
    use sea_orm::sea_query::Expr;
    let mut changed = 0;
    for chunk in ids.chunks(1000) {
        changed += reminder::Entity::update_many()
            .col_expr(
                reminder::Column::Status,
                Expr::value(ReminderStatus::Skipped),
            )
            .col_expr(reminder::Column::Reason, Expr::value(reason))
            .filter(reminder::Column::Id.is_in(chunk.to_vec()))
            .filter(reminder::Column::Status.eq(ReminderStatus::Pending))
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(changed)
}

/// The reminders of these participants (any status), locked for this transaction
/// (PostgreSQL: `FOR UPDATE`; SQLite's write transaction is already the only writer).
pub async fn of_participants_for_update<C: ConnectionTrait>(
    db: &C,
    participants: &[Uuid],
) -> Result<Vec<ReminderRow>, StoreError> {
    let mut out = Vec::new();
    for chunk in participants.chunks(1000) {
        out.extend(
            reminder::Entity::find()
                .filter(reminder::Column::ParticipantId.is_in(chunk.to_vec()))
                .order_by_asc(reminder::Column::Id)
                .lock(LockType::Update)
                .all(db)
                .await?,
        );
    }
    Ok(out)
}

/// Pending rows due at `now`, locked for this transaction (skipping rows other workers hold).
pub async fn claimable<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<ReminderRow>, StoreError> {
    Ok(reminder::Entity::find()
        .filter(reminder::Column::Status.eq("pending"))
        .filter(reminder::Column::NextAttemptAt.lte(now))
        .order_by_asc(reminder::Column::NextAttemptAt)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(db)
        .await?)
}

/// Rows left `sending` by a worker that stopped before recording the outcome.
pub async fn stale_sending<C: ConnectionTrait>(
    db: &C,
    claimed_before: DateTime<Utc>,
) -> Result<Vec<ReminderRow>, StoreError> {
    Ok(reminder::Entity::find()
        .filter(reminder::Column::Status.eq("sending"))
        .filter(reminder::Column::ClaimedAt.lt(claimed_before))
        .all(db)
        .await?)
}

/// Write a reminder row, all but its delivery report: the gateway's reports arrive on their own
/// (`set_delivery`) at any moment, also while a worker holds the row, and are never written over.
pub async fn update<C: ConnectionTrait>(db: &C, row: ReminderRow) -> Result<(), StoreError> {
    let mut am = row.into_active_model().reset_all();
    am.delivery = sea_orm::ActiveValue::NotSet;
    am.delivery_at = sea_orm::ActiveValue::NotSet;
    am.update(db).await?;
    Ok(())
}

/// Record a delivery report on a reminder: only its two delivery columns change, and only from
/// a state the report moves forward (`Delivery::earlier`), so of two writers with the same report
/// one changes the row. Returns whether the row changed.
pub async fn set_delivery<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    delivery: crate::domain::reminders::Delivery,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<bool, StoreError> {
    use sea_orm::sea_query::{Condition, Expr};
    let earlier: Vec<&str> = delivery.earlier().into_iter().map(|d| d.as_str()).collect();
    let q = reminder::Entity::update_many()
        .col_expr(reminder::Column::Delivery, Expr::value(delivery.as_str()))
        .col_expr(reminder::Column::DeliveryAt, Expr::value(at))
        .filter(reminder::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(reminder::Column::Delivery.is_null())
                .add(reminder::Column::Delivery.is_in(earlier)),
        );
    Ok(q.exec(db).await?.rows_affected > 0)
}

/// One reminder, locked for this transaction (PostgreSQL: `FOR UPDATE`; SQLite's write
/// transaction is already the only writer).
pub async fn find_for_update<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<ReminderRow>, StoreError> {
    Ok(reminder::Entity::find_by_id(id)
        .lock(LockType::Update)
        .one(db)
        .await?)
}

pub async fn of_participant<C: ConnectionTrait>(
    db: &C,
    participant: Uuid,
) -> Result<Vec<ReminderRow>, StoreError> {
    Ok(reminder::Entity::find()
        .filter(reminder::Column::ParticipantId.eq(participant))
        .order_by_asc(reminder::Column::DueAt)
        .all(db)
        .await?)
}

pub async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<ReminderRow>, StoreError> {
    Ok(reminder::Entity::find_by_id(id).one(db).await?)
}

pub async fn all<C: ConnectionTrait>(db: &C) -> Result<Vec<ReminderRow>, StoreError> {
    Ok(reminder::Entity::find()
        .order_by_asc(reminder::Column::DueAt)
        .all(db)
        .await?)
}

use super::entities::digest_log;

pub async fn digest_sent<C: ConnectionTrait>(
    db: &C,
    site: &str,
    day: chrono::NaiveDate,
) -> Result<bool, StoreError> {
    Ok(digest_log::Entity::find_by_id((site.to_string(), day))
        .one(db)
        .await?
        .is_some())
}

pub async fn record_digest<C: ConnectionTrait>(
    db: &C,
    site: &str,
    day: chrono::NaiveDate,
    at: DateTime<Utc>,
    recipients: i32,
) -> Result<(), StoreError> {
    digest_log::Model {
        site_code: site.into(),
        day,
        sent_at: at,
        recipients,
    }
    .into_active_model()
    .insert(db)
    .await?;
    Ok(())
}

/// The outbox as metrics see it: reminders by status, SMS by the gateway's last report, and the
/// age of the oldest reminder that is due and not sent.
#[derive(Debug, Default)]
pub struct OutboxFigures {
    pub by_status: Vec<(crate::domain::reminders::ReminderStatus, i64)>,
    pub sms_by_delivery: Vec<(&'static str, i64)>,
    pub oldest_due_seconds: i64,
}

pub async fn outbox_figures<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<OutboxFigures, StoreError> {
    use crate::domain::reminders::ReminderStatus;
    use sea_orm::{ExprTrait, sea_query::Expr};
    let counted: Vec<(String, i64)> = reminder::Entity::find()
        .select_only()
        .column(reminder::Column::Status)
        .column_as(Expr::col(reminder::Column::Id).count(), "n")
        .group_by(reminder::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let by_status = ReminderStatus::ALL
        .iter()
        .map(|&s| {
            let n = counted
                .iter()
                .filter(|(c, _)| c == s.as_str())
                .map(|(_, n)| n)
                .sum();
            (s, n)
        })
        .collect();
    let reports: Vec<(Option<String>, i64)> = reminder::Entity::find()
        .select_only()
        .column(reminder::Column::Delivery)
        .column_as(Expr::col(reminder::Column::Id).count(), "n")
        .filter(reminder::Column::SmsSentAt.is_not_null())
        .group_by(reminder::Column::Delivery)
        .into_tuple()
        .all(db)
        .await?;
    // Only the known report states become labels; anything else counts as unreported.
    let mut sms_by_delivery: Vec<(&'static str, i64)> =
        ["unreported", "submitted", "buffered", "delivered", "failed"]
            .into_iter()
            .map(|d| (d, 0))
            .collect();
    for (delivery, n) in reports {
        let label = delivery
            .as_deref()
            .and_then(|d| sms_by_delivery.iter().position(|(l, _)| *l == d))
            .unwrap_or(0);
        sms_by_delivery[label].1 += n;
    }
    let oldest: Option<DateTime<Utc>> = reminder::Entity::find()
        .select_only()
        .column_as(Expr::col(reminder::Column::DueAt).min(), "oldest")
        .filter(reminder::Column::Status.is_in([ReminderStatus::Pending, ReminderStatus::Sending]))
        .filter(reminder::Column::DueAt.lte(now))
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    Ok(OutboxFigures {
        by_status,
        sms_by_delivery,
        oldest_due_seconds: oldest.map_or(0, |t| std::cmp::Ord::max((now - t).num_seconds(), 0)),
    })
}

//! FHIR rest-hook Subscriptions and their delivery outbox (#26.3). A delivery row is unique per
//! (subscription, response, revision), so an event is queued once however often it is offered.
//! A subscription's queue is worked by one worker at a time: the claim is a conditional update
//! (`claimed_at` empty or stale), which exactly one of several instances wins.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

pub use super::entities::{
    fhir_delivery::Model as DeliveryRow, fhir_subscription::Model as SubscriptionRow,
};
use super::{
    StoreError,
    entities::{fhir_delivery, fhir_subscription},
};

pub async fn insert<C: ConnectionTrait>(db: &C, row: SubscriptionRow) -> Result<(), StoreError> {
    row.into_active_model().insert(db).await?;
    Ok(())
}

pub async fn update<C: ConnectionTrait>(db: &C, row: SubscriptionRow) -> Result<(), StoreError> {
    row.into_active_model().reset_all().update(db).await?;
    Ok(())
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<SubscriptionRow>, StoreError> {
    Ok(fhir_subscription::Entity::find_by_id(id).one(db).await?)
}

/// Every subscription, or one client's, oldest first.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    client: Option<Uuid>,
) -> Result<Vec<SubscriptionRow>, StoreError> {
    let mut q = fhir_subscription::Entity::find();
    if let Some(c) = client {
        q = q.filter(fhir_subscription::Column::ClientId.eq(c));
    }
    Ok(q.order_by_asc(fhir_subscription::Column::CreatedAt)
        .order_by_asc(fhir_subscription::Column::Id)
        .all(db)
        .await?)
}

/// Subscriptions that record events: `active`, and `error` (its events wait for re-enabling).
pub async fn recording<C: ConnectionTrait>(db: &C) -> Result<Vec<SubscriptionRow>, StoreError> {
    Ok(fhir_subscription::Entity::find()
        .filter(fhir_subscription::Column::Status.is_in(["active", "error"]))
        .all(db)
        .await?)
}

/// Active subscriptions due for an attempt and not held by a live worker.
pub async fn due<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<Vec<SubscriptionRow>, StoreError> {
    Ok(fhir_subscription::Entity::find()
        .filter(fhir_subscription::Column::Status.eq("active"))
        .filter(fhir_subscription::Column::NextAttemptAt.lte(now))
        .filter(unclaimed(stale_before))
        .all(db)
        .await?)
}

fn unclaimed(stale_before: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(fhir_subscription::Column::ClaimedAt.is_null())
        .add(fhir_subscription::Column::ClaimedAt.lt(stale_before))
}

/// Take a subscription's queue for this worker. Returns whether this worker won it.
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let r = fhir_subscription::Entity::update_many()
        .col_expr(fhir_subscription::Column::ClaimedAt, Expr::value(now))
        .filter(fhir_subscription::Column::Id.eq(id))
        .filter(fhir_subscription::Column::Status.eq("active"))
        .filter(unclaimed(stale_before))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Queue one event for one subscription; a second offer of the same event is ignored.
pub async fn queue<C: ConnectionTrait>(db: &C, row: DeliveryRow) -> Result<(), StoreError> {
    fhir_delivery::Entity::insert(row.into_active_model())
        .on_conflict(
            OnConflict::columns([
                fhir_delivery::Column::SubscriptionId,
                fhir_delivery::Column::ResponseId,
                fhir_delivery::Column::Revision,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// A subscription's undelivered events, oldest first.
pub async fn pending<C: ConnectionTrait>(
    db: &C,
    subscription: Uuid,
    limit: u64,
) -> Result<Vec<DeliveryRow>, StoreError> {
    Ok(fhir_delivery::Entity::find()
        .filter(fhir_delivery::Column::SubscriptionId.eq(subscription))
        .filter(fhir_delivery::Column::Status.eq("pending"))
        .order_by_asc(fhir_delivery::Column::EventAt)
        .order_by_asc(fhir_delivery::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

pub async fn update_delivery<C: ConnectionTrait>(
    db: &C,
    row: DeliveryRow,
) -> Result<(), StoreError> {
    row.into_active_model().reset_all().update(db).await?;
    Ok(())
}

/// Queue again (same ids) every event of `subscription` at or after `since`. Returns how many.
pub async fn requeue_since<C: ConnectionTrait>(
    db: &C,
    subscription: Uuid,
    since: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let r = fhir_delivery::Entity::update_many()
        .col_expr(fhir_delivery::Column::Status, Expr::value("pending"))
        .col_expr(fhir_delivery::Column::Attempts, Expr::value(0))
        .filter(fhir_delivery::Column::SubscriptionId.eq(subscription))
        .filter(fhir_delivery::Column::EventAt.gte(since))
        .exec(db)
        .await?;
    Ok(r.rows_affected)
}

/// Let go of a subscription's queue.
pub async fn release<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<(), StoreError> {
    fhir_subscription::Entity::update_many()
        .col_expr(
            fhir_subscription::Column::ClaimedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(fhir_subscription::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Record the consecutive failure count and the next attempt; with `error`, an active
/// subscription is set to `error` with that text (one switched off meanwhile stays off).
pub async fn fail<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    failures: i32,
    next_attempt_at: DateTime<Utc>,
    error: Option<String>,
) -> Result<(), StoreError> {
    fhir_subscription::Entity::update_many()
        .col_expr(fhir_subscription::Column::Failures, Expr::value(failures))
        .col_expr(
            fhir_subscription::Column::NextAttemptAt,
            Expr::value(next_attempt_at),
        )
        .filter(fhir_subscription::Column::Id.eq(id))
        .exec(db)
        .await?;
    if let Some(text) = error {
        fhir_subscription::Entity::update_many()
            .col_expr(fhir_subscription::Column::Status, Expr::value("error"))
            .col_expr(fhir_subscription::Column::Error, Expr::value(text))
            .filter(fhir_subscription::Column::Id.eq(id))
            .filter(fhir_subscription::Column::Status.eq("active"))
            .exec(db)
            .await?;
    }
    Ok(())
}

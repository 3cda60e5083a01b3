//! FHIR R4 access (#26): registered SMART clients, accepted assertion ids (`jti`), client access
//! tokens, and the keyset page query behind `QuestionnaireResponse` search.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Query},
};
use uuid::Uuid;

pub use super::entities::{fhir_client::Model as ClientRow, fhir_token::Model as TokenRow};
use super::{
    StoreError,
    entities::{answer, fhir_client, fhir_jti, fhir_token, participant, response, score},
    responses::{ResponseRow, ScoreRow},
};

pub async fn insert_client<C: ConnectionTrait>(db: &C, row: ClientRow) -> Result<(), StoreError> {
    row.into_active_model().insert(db).await?;
    Ok(())
}

pub async fn update_client<C: ConnectionTrait>(db: &C, row: ClientRow) -> Result<(), StoreError> {
    row.into_active_model().reset_all().update(db).await?;
    Ok(())
}

pub async fn find_client<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<ClientRow>, StoreError> {
    Ok(fhir_client::Entity::find_by_id(id).one(db).await?)
}

pub async fn clients<C: ConnectionTrait>(db: &C) -> Result<Vec<ClientRow>, StoreError> {
    Ok(fhir_client::Entity::find()
        .order_by_asc(fhir_client::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Record an accepted assertion id. The primary key (client, jti) makes this the one atomic
/// replay check: a second insert of the same pair fails with `Duplicate`, however concurrent.
pub async fn consume_jti<C: ConnectionTrait>(
    db: &C,
    client: Uuid,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    fhir_jti::ActiveModel {
        client_id: sea_orm::Set(client),
        jti: sea_orm::Set(jti.to_string()),
        expires_at: sea_orm::Set(expires_at),
    }
    .insert(db)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

pub async fn insert_token<C: ConnectionTrait>(db: &C, row: TokenRow) -> Result<(), StoreError> {
    row.into_active_model().insert(db).await?;
    Ok(())
}

pub async fn find_token<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
) -> Result<Option<TokenRow>, StoreError> {
    Ok(fhir_token::Entity::find_by_id(token_hash.to_string())
        .one(db)
        .await?)
}

/// What a `QuestionnaireResponse` search asks of the store (already parsed and checked).
#[derive(Debug, Clone, Default)]
pub struct ResponseFilter {
    /// Only participants of these sites (`None` = every site).
    pub sites: Option<Vec<String>>,
    pub participant: Option<Uuid>,
    pub questionnaire: Option<(String, Option<String>)>,
    /// Stored status codes (`completed`, `amended`); empty = both.
    pub statuses: Vec<&'static str>,
    /// Submission instant bounds: (lower, inclusive), (upper, inclusive).
    pub after: Vec<(DateTime<Utc>, bool)>,
    pub before: Vec<(DateTime<Utc>, bool)>,
    pub descending: bool,
    /// The last row of the previous page (keyset): its submission instant and id.
    pub cursor: Option<(DateTime<Utc>, Uuid)>,
    /// Only responses of these questionnaires (`None` = any; Observation `code`).
    pub keys: Option<Vec<String>>,
    /// Only this response (Observation `derived-from`).
    pub response: Option<Uuid>,
    /// Bounds on the last change (`_lastUpdated`, see [`last_changes`]): (lower, inclusive),
    /// (upper, inclusive).
    pub changed_after: Vec<(DateTime<Utc>, bool)>,
    pub changed_before: Vec<(DateTime<Utc>, bool)>,
}

/// `response.id` in a correlated subquery.
fn outer_response_id() -> Expr {
    Expr::col((response::Entity, response::Column::Id))
}

/// Whether the response has a write at or after `at` (`inclusive`) or after it: an answer
/// written (an amendment) or a score computed then, or the submission itself.
fn changed_since(at: DateTime<Utc>, inclusive: bool) -> Condition {
    let later = |col: Expr| {
        if inclusive { col.gte(at) } else { col.gt(at) }
    };
    Condition::any()
        .add(later(Expr::col((
            response::Entity,
            response::Column::SubmittedAt,
        ))))
        .add(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(answer::Entity)
                .and_where(
                    Expr::col((answer::Entity, answer::Column::ResponseId)).eq(outer_response_id()),
                )
                .and_where(later(Expr::col((
                    answer::Entity,
                    answer::Column::AnsweredAt,
                ))))
                .to_owned(),
        ))
        .add(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(score::Entity)
                .and_where(
                    Expr::col((score::Entity, score::Column::ResponseId)).eq(outer_response_id()),
                )
                .and_where(later(Expr::col((score::Entity, score::Column::ComputedAt))))
                .to_owned(),
        ))
}

fn condition(f: &ResponseFilter) -> Condition {
    let statuses: Vec<&str> = if f.statuses.is_empty() {
        vec!["completed", "amended"]
    } else {
        f.statuses.clone()
    };
    let mut c = Condition::all()
        .add(response::Column::Status.is_in(statuses))
        .add(response::Column::SubmittedAt.is_not_null());
    if let Some(sites) = &f.sites {
        c = c.add(
            response::Column::ParticipantId.in_subquery(
                Query::select()
                    .column(participant::Column::Id)
                    .from(participant::Entity)
                    .and_where(participant::Column::SiteCode.is_in(sites.clone()))
                    .to_owned(),
            ),
        );
    }
    if let Some(p) = f.participant {
        c = c.add(response::Column::ParticipantId.eq(p));
    }
    if let Some(keys) = &f.keys {
        c = c.add(response::Column::QuestionnaireKey.is_in(keys.clone()));
    }
    if let Some(id) = f.response {
        c = c.add(response::Column::Id.eq(id));
    }
    // The last change is after a lower bound when some write is; before an upper bound when
    // no write is at or after it.
    for (at, inclusive) in &f.changed_after {
        c = c.add(changed_since(*at, *inclusive));
    }
    for (at, inclusive) in &f.changed_before {
        c = c.add(changed_since(*at, !*inclusive).not());
    }
    if let Some((key, version)) = &f.questionnaire {
        c = c.add(response::Column::QuestionnaireKey.eq(key.clone()));
        if let Some(v) = version {
            c = c.add(response::Column::QuestionnaireVersion.eq(v.clone()));
        }
    }
    for (at, inclusive) in &f.after {
        c = c.add(if *inclusive {
            response::Column::SubmittedAt.gte(*at)
        } else {
            response::Column::SubmittedAt.gt(*at)
        });
    }
    for (at, inclusive) in &f.before {
        c = c.add(if *inclusive {
            response::Column::SubmittedAt.lte(*at)
        } else {
            response::Column::SubmittedAt.lt(*at)
        });
    }
    c
}

/// How many submitted responses match (for `_summary=count` and `Bundle.total`).
pub async fn count_responses<C: ConnectionTrait>(
    db: &C,
    f: &ResponseFilter,
) -> Result<u64, StoreError> {
    Ok(response::Entity::find()
        .filter(condition(f))
        .count(db)
        .await?)
}

/// One page of matching responses in (submission instant, id) order after the cursor: `limit`
/// rows at most. Keyset paging: a response submitted meanwhile never shifts a later page.
pub async fn page_responses<C: ConnectionTrait>(
    db: &C,
    f: &ResponseFilter,
    limit: u64,
) -> Result<Vec<ResponseRow>, StoreError> {
    let mut c = condition(f);
    if let Some((at, id)) = f.cursor {
        c = c.add(if f.descending {
            Condition::any()
                .add(response::Column::SubmittedAt.lt(at))
                .add(
                    Condition::all()
                        .add(response::Column::SubmittedAt.eq(at))
                        .add(response::Column::Id.lt(id)),
                )
        } else {
            Condition::any()
                .add(response::Column::SubmittedAt.gt(at))
                .add(
                    Condition::all()
                        .add(response::Column::SubmittedAt.eq(at))
                        .add(response::Column::Id.gt(id)),
                )
        });
    }
    let q = response::Entity::find().filter(c);
    let q = if f.descending {
        q.order_by_desc(response::Column::SubmittedAt)
            .order_by_desc(response::Column::Id)
    } else {
        q.order_by_asc(response::Column::SubmittedAt)
            .order_by_asc(response::Column::Id)
    };
    Ok(q.limit(limit).all(db).await?)
}

/// Each response's last change: the latest of its submission, its answers' writes (an
/// amendment writes the answers it changes) and its score computations (an amendment re-scores
/// with every scoring file). `meta.lastUpdated` of the QuestionnaireResponse and of the
/// Observations derived from it; `_lastUpdated` searches the same ([`ResponseFilter`]).
pub async fn last_changes<C: ConnectionTrait>(
    db: &C,
    rows: &[ResponseRow],
) -> Result<HashMap<Uuid, DateTime<Utc>>, StoreError> {
    let mut out: HashMap<Uuid, DateTime<Utc>> = rows
        .iter()
        .filter_map(|r| Some((r.id, r.submitted_at?)))
        .collect();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut later = |id: Uuid, at: Option<DateTime<Utc>>| {
        if let Some(at) = at {
            let e = out.entry(id).or_insert(at);
            *e = Ord::max(*e, at);
        }
    };
    for chunk in ids.chunks(500) {
        let answered: Vec<(Uuid, Option<DateTime<Utc>>)> = answer::Entity::find()
            .select_only()
            .column(answer::Column::ResponseId)
            .column_as(answer::Column::AnsweredAt.max(), "at")
            .filter(answer::Column::ResponseId.is_in(chunk.to_vec()))
            .group_by(answer::Column::ResponseId)
            .into_tuple()
            .all(db)
            .await?;
        let scored: Vec<(Uuid, Option<DateTime<Utc>>)> = score::Entity::find()
            .select_only()
            .column(score::Column::ResponseId)
            .column_as(score::Column::ComputedAt.max(), "at")
            .filter(score::Column::ResponseId.is_in(chunk.to_vec()))
            .group_by(score::Column::ResponseId)
            .into_tuple()
            .all(db)
            .await?;
        for (id, at) in answered.into_iter().chain(scored) {
            later(id, at);
        }
    }
    Ok(out)
}

/// The stored scores of these responses (every scoring file), by response.
pub async fn scores_of<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<ScoreRow>>, StoreError> {
    let mut out: HashMap<Uuid, Vec<ScoreRow>> = HashMap::new();
    for chunk in ids.chunks(500) {
        for s in score::Entity::find()
            .filter(score::Column::ResponseId.is_in(chunk.to_vec()))
            .order_by_asc(score::Column::Scoring)
            .all(db)
            .await?
        {
            out.entry(s.response_id).or_default().push(s);
        }
    }
    Ok(out)
}

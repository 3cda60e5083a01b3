//! Responses, their answers and their scores.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, sea_query::LockType,
};
use uuid::Uuid;

pub use super::entities::{
    answer::Model as AnswerRow, draft_save::Model as DraftSaveRow, response::Model as ResponseRow,
    score::Model as ScoreRow,
};
use super::{
    StoreError,
    entities::{answer, draft_save, response, score},
};

pub async fn find<C: ConnectionTrait>(
    db: &C,
    participant: Uuid,
    visit: &str,
    key: &str,
) -> Result<Option<ResponseRow>, StoreError> {
    Ok(response::Entity::find()
        .filter(response::Column::ParticipantId.eq(participant))
        .filter(response::Column::VisitCode.eq(visit))
        .filter(response::Column::QuestionnaireKey.eq(key))
        .one(db)
        .await?)
}

/// As `find`, locking the row for the rest of the write transaction.
pub async fn find_for_update<C: ConnectionTrait>(
    db: &C,
    participant: Uuid,
    visit: &str,
    key: &str,
) -> Result<Option<ResponseRow>, StoreError> {
    Ok(response::Entity::find()
        .filter(response::Column::ParticipantId.eq(participant))
        .filter(response::Column::VisitCode.eq(visit))
        .filter(response::Column::QuestionnaireKey.eq(key))
        .lock(LockType::Update)
        .one(db)
        .await?)
}

pub async fn of_participant<C: ConnectionTrait>(
    db: &C,
    participant: Uuid,
) -> Result<Vec<ResponseRow>, StoreError> {
    Ok(response::Entity::find()
        .filter(response::Column::ParticipantId.eq(participant))
        .order_by_asc(response::Column::StartedAt)
        .order_by_asc(response::Column::Id)
        .all(db)
        .await?)
}

/// The language a participant's visit was started in: that of its first response, if any.
/// A visit's questionnaires all come in that language, whatever was chosen since.
pub async fn visit_language<C: ConnectionTrait>(
    db: &C,
    participant: Uuid,
    visit: &str,
) -> Result<Option<String>, StoreError> {
    Ok(response::Entity::find()
        .filter(response::Column::ParticipantId.eq(participant))
        .filter(response::Column::VisitCode.eq(visit))
        .order_by_asc(response::Column::StartedAt)
        .order_by_asc(response::Column::Id)
        .one(db)
        .await?
        .map(|r| r.language))
}

/// Submitted responses (completed or amended) of one questionnaire version.
pub async fn submitted_of<C: ConnectionTrait>(
    db: &C,
    key: &str,
    version: &str,
) -> Result<Vec<ResponseRow>, StoreError> {
    Ok(response::Entity::find()
        .filter(response::Column::QuestionnaireKey.eq(key))
        .filter(response::Column::QuestionnaireVersion.eq(version))
        .filter(response::Column::Status.is_in(["completed", "amended"]))
        .order_by_asc(response::Column::Id)
        .all(db)
        .await?)
}

pub async fn insert<C: ConnectionTrait>(db: &C, row: ResponseRow) -> Result<(), StoreError> {
    row.into_active_model()
        .insert(db)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

/// Insert the response unless one exists for its participant, visit and questionnaire, then
/// return the stored row locked for the rest of the transaction, and whether it was this call
/// that inserted it. Two first saves at once never fail: on PostgreSQL the second waits for the
/// first to commit and then gets its row (ON CONFLICT DO NOTHING + SELECT … FOR UPDATE); on
/// SQLite the IMMEDIATE transaction already serializes them.
pub async fn insert_or_lock<C: ConnectionTrait>(
    db: &C,
    row: ResponseRow,
) -> Result<(ResponseRow, bool), StoreError> {
    let (participant, visit, key, id) = (
        row.participant_id,
        row.visit_code.clone(),
        row.questionnaire_key.clone(),
        row.id,
    );
    response::Entity::insert(row.into_active_model())
        .on_conflict_do_nothing_on([
            response::Column::ParticipantId,
            response::Column::VisitCode,
            response::Column::QuestionnaireKey,
        ])
        .exec_without_returning(db)
        .await?;
    let stored = find_for_update(db, participant, &visit, &key)
        .await?
        .ok_or_else(|| {
            StoreError::Db(sea_orm::DbErr::RecordNotFound(format!(
                "response of {participant} {visit} {key}"
            )))
        })?;
    let created = stored.id == id;
    Ok((stored, created))
}

/// The draft save a client made under `save_id` for this response, if any.
pub async fn draft_save<C: ConnectionTrait>(
    db: &C,
    response: Uuid,
    save_id: &str,
) -> Result<Option<DraftSaveRow>, StoreError> {
    Ok(
        draft_save::Entity::find_by_id((response, save_id.to_string()))
            .one(db)
            .await?,
    )
}

pub async fn insert_draft_save<C: ConnectionTrait>(
    db: &C,
    row: DraftSaveRow,
) -> Result<(), StoreError> {
    row.into_active_model()
        .insert(db)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

pub async fn update<C: ConnectionTrait>(db: &C, row: ResponseRow) -> Result<(), StoreError> {
    row.into_active_model().reset_all().update(db).await?;
    Ok(())
}

/// A response by id.
pub async fn find_by_id<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<ResponseRow>, StoreError> {
    Ok(response::Entity::find_by_id(id).one(db).await?)
}

/// Ids of every submitted response (completed or amended), oldest first.
pub async fn submitted_ids<C: ConnectionTrait>(db: &C) -> Result<Vec<Uuid>, StoreError> {
    Ok(response::Entity::find()
        .select_only()
        .column(response::Column::Id)
        .filter(response::Column::Status.is_in(["completed", "amended"]))
        .order_by_asc(response::Column::StartedAt)
        .order_by_asc(response::Column::Id)
        .into_tuple::<Uuid>()
        .all(db)
        .await?)
}

/// A response's stored answers as the audit trail binds them.
pub async fn answer_facts<C: ConnectionTrait>(
    db: &C,
    response: Uuid,
) -> Result<Vec<crate::domain::audit::AnswerFacts>, StoreError> {
    Ok(answers(db, response)
        .await?
        .into_iter()
        .map(|a| crate::domain::audit::AnswerFacts {
            item: a.item,
            lesion: a.lesion,
            value: a.value.text(),
            mode: a.mode,
            actor_kind: a.actor_kind,
            actor_id: a.actor_id,
        })
        .collect())
}

/// Everything exports and the completion view read of one response, as the audit trail binds
/// it (`domain::audit::facts_binding`); `None` when no such response is stored.
pub async fn facts<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<crate::domain::audit::ResponseFacts>, StoreError> {
    use crate::domain::audit::{AnswerFacts, AnswerRecord, ResponseFacts, format_at};
    use serde_json::{Value, json};
    let Some(r) = find_by_id(db, id).await? else {
        return Ok(None);
    };
    let at = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(format_at);
    let response = [
        ("participant_id", json!(r.participant_id)),
        ("visit_code", json!(r.visit_code)),
        ("questionnaire_key", json!(r.questionnaire_key)),
        ("questionnaire_version", json!(r.questionnaire_version)),
        ("language", json!(r.language)),
        ("wording_sha256", json!(r.wording_sha256)),
        ("lesions", json!(r.lesions.0)),
        ("status", json!(r.status)),
        ("revision", json!(r.revision)),
        ("started_at", json!(at(Some(r.started_at)))),
        ("submitted_at", json!(at(r.submitted_at))),
        (
            "client_utc_offset_minutes",
            json!(r.client_utc_offset_minutes),
        ),
        ("late", json!(r.late)),
        ("mode", json!(r.mode)),
        ("completed_on", json!(r.completed_on.map(|d| d.to_string()))),
        ("entry_reason", json!(r.entry_reason)),
        ("flags", json!(r.flags.0)),
        ("days_from_sse", json!(r.days_from_sse)),
    ]
    .into_iter()
    // Columns added later (migration 19) are bound only when set, so what events recorded
    // before them still matches; setting or clearing one is then a difference like any other.
    .chain(
        [
            ("device_completed_at", json!(at(r.device_completed_at))),
            ("synced_late", json!(r.synced_late)),
            ("quarantined_at", json!(at(r.quarantined_at))),
        ]
        .into_iter()
        .filter(|(_, v)| !matches!(v, Value::Null | Value::Bool(false))),
    )
    .collect();
    let answers = answers(db, id)
        .await?
        .into_iter()
        .map(|a| AnswerRecord {
            answered_at: format_at(a.answered_at),
            facts: AnswerFacts {
                item: a.item,
                lesion: a.lesion,
                value: a.value.text(),
                mode: a.mode,
                actor_kind: a.actor_kind,
                actor_id: a.actor_id,
            },
        })
        .collect();
    let scores = scores(db, id)
        .await?
        .into_iter()
        .map(|s| {
            let stored: Value =
                json!({ "results": s.results.0, "computed_at": format_at(s.computed_at) });
            (s.scoring, stored)
        })
        .collect();
    Ok(Some(ResponseFacts {
        response,
        answers,
        scores,
    }))
}

pub async fn answers<C: ConnectionTrait>(
    db: &C,
    response: Uuid,
) -> Result<Vec<AnswerRow>, StoreError> {
    Ok(answer::Entity::find()
        .filter(answer::Column::ResponseId.eq(response))
        .all(db)
        .await?)
}

/// Write a response's changed answers: the new and changed ones in one `INSERT … ON CONFLICT
/// DO UPDATE`, the blanked ones in one `DELETE` (chunked far below either database's parameter
/// limit), instead of a find and a write per answer.
pub async fn write_answers<C: ConnectionTrait>(
    db: &C,
    response: Uuid,
    upserts: Vec<AnswerRow>,
    deletes: Vec<(String, String)>,
) -> Result<(), StoreError> {
    use sea_orm::{Condition, sea_query::OnConflict};
    const CHUNK: usize = 500;
    let mut upserts = upserts.into_iter().peekable();
    while upserts.peek().is_some() {
        let chunk: Vec<answer::ActiveModel> = upserts
            .by_ref()
            .take(CHUNK)
            .map(IntoActiveModel::into_active_model)
            .collect();
        answer::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([
                    answer::Column::ResponseId,
                    answer::Column::Item,
                    answer::Column::Lesion,
                ])
                .update_columns([
                    answer::Column::Value,
                    answer::Column::Mode,
                    answer::Column::ActorKind,
                    answer::Column::ActorId,
                    answer::Column::AnsweredAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    for chunk in deletes.chunks(CHUNK) {
        let which = chunk.iter().fold(Condition::any(), |c, (item, lesion)| {
            c.add(
                Condition::all()
                    .add(answer::Column::Item.eq(item.as_str()))
                    .add(answer::Column::Lesion.eq(lesion.as_str())),
            )
        });
        answer::Entity::delete_many()
            .filter(answer::Column::ResponseId.eq(response))
            .filter(which)
            .exec(db)
            .await?;
    }
    Ok(())
}

pub async fn scores<C: ConnectionTrait>(
    db: &C,
    response: Uuid,
) -> Result<Vec<ScoreRow>, StoreError> {
    Ok(score::Entity::find()
        .filter(score::Column::ResponseId.eq(response))
        .order_by_asc(score::Column::Scoring)
        .all(db)
        .await?)
}

/// Store a score set; returns false when that scoring was already stored for the response.
pub async fn insert_score<C: ConnectionTrait>(db: &C, row: ScoreRow) -> Result<bool, StoreError> {
    if score::Entity::find_by_id((row.response_id, row.scoring.clone()))
        .one(db)
        .await?
        .is_some()
    {
        return Ok(false);
    }
    row.into_active_model().insert(db).await?;
    Ok(true)
}

/// Store a score set, replacing an earlier result of the same scoring file (amendments).
pub async fn replace_score<C: ConnectionTrait>(db: &C, row: ScoreRow) -> Result<(), StoreError> {
    score::Entity::delete_by_id((row.response_id, row.scoring.clone()))
        .exec(db)
        .await?;
    row.into_active_model().insert(db).await?;
    Ok(())
}

use super::entities::{analgesic_dose, response_query};
pub use super::entities::{analgesic_dose::Model as DoseRow, response_query::Model as QueryRow};

pub async fn insert_query<C: ConnectionTrait>(db: &C, row: QueryRow) -> Result<(), StoreError> {
    row.into_active_model().insert(db).await?;
    Ok(())
}

pub async fn update_query<C: ConnectionTrait>(db: &C, row: QueryRow) -> Result<(), StoreError> {
    row.into_active_model().reset_all().update(db).await?;
    Ok(())
}

pub async fn queries<C: ConnectionTrait>(
    db: &C,
    response: Uuid,
) -> Result<Vec<QueryRow>, StoreError> {
    Ok(response_query::Entity::find()
        .filter(response_query::Column::ResponseId.eq(response))
        .order_by_asc(response_query::Column::RaisedAt)
        .all(db)
        .await?)
}

pub async fn doses<C: ConnectionTrait>(
    db: &C,
    participant: Uuid,
) -> Result<Vec<DoseRow>, StoreError> {
    Ok(analgesic_dose::Entity::find()
        .filter(analgesic_dose::Column::ParticipantId.eq(participant))
        .all(db)
        .await?)
}

/// Record (or replace) a visit's dose; returns the earlier value.
pub async fn save_dose<C: ConnectionTrait>(
    db: &C,
    row: DoseRow,
) -> Result<Option<f64>, StoreError> {
    let before = analgesic_dose::Entity::find_by_id((row.participant_id, row.visit_code.clone()))
        .one(db)
        .await?;
    let am = row.into_active_model();
    if before.is_some() {
        am.reset_all().update(db).await?;
    } else {
        am.insert(db).await?;
    }
    Ok(before.map(|b| b.omed_mg_per_day))
}

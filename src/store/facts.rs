//! The stored rows of the bound tables (`domain::audit::BOUND_TABLES`) as the audit trail binds
//! them: the columns exports and the completion view read, in canonical form (timestamps as
//! `format_at`, dates ISO 8601, enums as their codes). Reading only; what is recorded and
//! compared is decided in `domain::audit` and `audit`.

use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
use serde_json::json;
use uuid::Uuid;

use super::{
    StoreError,
    entities::{analgesic_dose, lesion, participant, participant_event, response_query, visit},
    participants::{EventRow, LesionRow, ParticipantRow, VisitRow},
    responses::{DoseRow, QueryRow},
};
use crate::domain::audit::{RowFacts, format_at};

/// A participant row: what records, visits, answers, scores, amendments, ODM and the archive
/// read of it.
fn participant(p: ParticipantRow) -> RowFacts {
    RowFacts {
        table: "participant",
        id: p.id.to_string(),
        columns: [
            ("study_id", json!(p.study_id)),
            ("site_code", json!(p.site_code)),
            ("language", json!(p.language)),
            ("enrolled_on", json!(p.enrolled_on.to_string())),
            ("created_at", json!(format_at(p.created_at))),
        ]
        .into(),
    }
}

/// A participant event (randomization with its arm, SSE, withdrawal…): what records, visits
/// and the schedule read of it.
fn event(e: EventRow) -> RowFacts {
    RowFacts {
        table: "participant_event",
        id: e.id.to_string(),
        columns: [
            ("participant_id", json!(e.participant_id.to_string())),
            ("kind", json!(e.kind.as_str())),
            ("event_date", json!(e.event_date.to_string())),
            ("details", e.details.0),
            ("reason", json!(e.reason)),
            ("recorded_at", json!(format_at(e.recorded_at))),
            ("recorded_by", json!(e.recorded_by)),
            ("entered_in_error", json!(e.entered_in_error)),
        ]
        .into(),
    }
}

/// A visit: what visits.csv, the completion view and the reminders read of it (its window,
/// its recorded state and why, the forms it expects and why one was not done).
fn visit(v: VisitRow) -> RowFacts {
    let at = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(format_at);
    RowFacts {
        table: "visit",
        id: v.id.to_string(),
        columns: [
            ("participant_id", json!(v.participant_id.to_string())),
            ("code", json!(v.code)),
            ("position", json!(v.position)),
            ("target_date", json!(v.target_date.to_string())),
            ("window_start", json!(format_at(v.window_start))),
            ("window_end", json!(at(v.window_end))),
            ("grace_end", json!(at(v.grace_end))),
            ("sse_triggered", json!(v.sse_triggered)),
            ("final_state", json!(v.final_state.map(|s| s.as_str()))),
            ("final_cause", json!(v.final_cause)),
            ("missed_reason", json!(v.missed_reason)),
            ("questionnaires", json!(v.questionnaires.0)),
            ("missed_forms", json!(v.missed_forms.0)),
        ]
        .into(),
    }
}

/// A lesion: what records, qs (`registered_on`), ODM and the per-lesion completion read of it.
fn lesion(l: LesionRow) -> RowFacts {
    RowFacts {
        table: "lesion",
        id: l.id.to_string(),
        columns: [
            ("participant_id", json!(l.participant_id.to_string())),
            ("location", json!(l.location)),
            ("side", json!(l.side)),
            ("labels", json!(l.labels.0)),
            ("detail", json!(l.detail)),
            ("high_risk_reasons", json!(l.high_risk_reasons.0)),
            (
                "irradiation_date",
                json!(l.irradiation_date.map(|d| d.to_string())),
            ),
            ("registered_on", json!(l.registered_on.to_string())),
            ("active", json!(l.active)),
            ("created_at", json!(format_at(l.created_at))),
        ]
        .into(),
    }
}

/// A data query on a response: what the staff record (and the archive) read of it.
fn query(q: QueryRow) -> RowFacts {
    let at = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(format_at);
    RowFacts {
        table: "response_query",
        id: q.id.to_string(),
        columns: [
            ("response_id", json!(q.response_id.to_string())),
            ("text", json!(q.text)),
            ("raised_by", json!(q.raised_by)),
            ("raised_at", json!(format_at(q.raised_at))),
            ("closed_by", json!(q.closed_by)),
            ("closed_at", json!(at(q.closed_at))),
            ("closing_note", json!(q.closing_note)),
        ]
        .into(),
    }
}

/// An analgesic dose of a visit (its id is `participant id/visit code`): what records read.
fn dose(d: DoseRow) -> RowFacts {
    RowFacts {
        table: "analgesic_dose",
        id: format!("{}/{}", d.participant_id, d.visit_code),
        columns: [
            ("omed_mg_per_day", json!(d.omed_mg_per_day)),
            ("recorded_by", json!(d.recorded_by)),
            ("recorded_at", json!(format_at(d.recorded_at))),
        ]
        .into(),
    }
}

/// One row's facts, read in `db` (inside the writing transaction); `None` when `table` is not
/// bound or no such row is stored.
pub async fn row<C: ConnectionTrait>(
    db: &C,
    table: &str,
    id: &str,
) -> Result<Option<RowFacts>, StoreError> {
    if table == "analgesic_dose" {
        let Some((participant, visit)) = id.split_once('/') else {
            return Ok(None);
        };
        let Ok(participant) = Uuid::parse_str(participant) else {
            return Ok(None);
        };
        return Ok(
            analgesic_dose::Entity::find_by_id((participant, visit.to_string()))
                .one(db)
                .await?
                .map(dose),
        );
    }
    let Ok(id) = Uuid::parse_str(id) else {
        return Ok(None);
    };
    Ok(match table {
        "participant" => participant::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(participant),
        "participant_event" => participant_event::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(event),
        "visit" => visit::Entity::find_by_id(id).one(db).await?.map(visit),
        "lesion" => lesion::Entity::find_by_id(id).one(db).await?.map(lesion),
        "response_query" => response_query::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(query),
        _ => None,
    })
}

/// Every stored row of `table` (one of `BOUND_TABLES`), for `epro audit verify`.
pub async fn rows<C: ConnectionTrait>(db: &C, table: &str) -> Result<Vec<RowFacts>, StoreError> {
    Ok(match table {
        "participant" => participant::Entity::find()
            .order_by_asc(participant::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .map(participant)
            .collect(),
        "participant_event" => participant_event::Entity::find()
            .order_by_asc(participant_event::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .map(event)
            .collect(),
        "visit" => visit::Entity::find()
            .order_by_asc(visit::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .map(visit)
            .collect(),
        "lesion" => lesion::Entity::find()
            .order_by_asc(lesion::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .map(lesion)
            .collect(),
        "response_query" => response_query::Entity::find()
            .order_by_asc(response_query::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .map(query)
            .collect(),
        "analgesic_dose" => analgesic_dose::Entity::find()
            .order_by_asc(analgesic_dose::Column::ParticipantId)
            .order_by_asc(analgesic_dose::Column::VisitCode)
            .all(db)
            .await?
            .into_iter()
            .map(dose)
            .collect(),
        _ => Vec::new(),
    })
}

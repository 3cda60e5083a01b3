//! Data queries on responses: a data manager raises one, the site sees it and closes it with a
//! note; both are audited.

use crate::domain::problem::Problem;
use serde_json::json;
use uuid::Uuid;

use crate::{
    app::App,
    audit::{self, Entry},
    auth::StaffActor,
    domain::permissions::Action,
    error::{Code, Error, Result},
    store::{self, participants::ParticipantRow, responses::QueryRow},
};

async fn response_of(app: &App, p: &ParticipantRow, response_id: &str) -> Result<Uuid> {
    let unknown = || Error::Unknown {
        code: Code::UnknownResponse,
        message: format!("{} has no response {response_id:?}", p.study_id),
    };
    let id: Uuid = response_id.parse().map_err(|_| unknown())?;
    store::responses::of_participant(&app.db, p.id)
        .await?
        .iter()
        .find(|r| r.id == id)
        .map(|r| r.id)
        .ok_or_else(unknown)
}

/// A data manager raises a query on a response; the site sees it and closes it.
pub async fn raise_query(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    response_id: &str,
    text: &str,
) -> Result<QueryRow> {
    let p =
        crate::participants::for_staff(&app.db, actor, Action::QueryRaise, study_id, false).await?;
    let response = response_of(app, &p, response_id).await?;
    if text.trim().is_empty() {
        return Err(Error::invalid("text", Problem::Required));
    }
    let now = app.clock.now();
    let row = QueryRow {
        id: Uuid::new_v4(),
        response_id: response,
        text: text.trim().into(),
        raised_by: actor.id.to_string(),
        raised_at: now,
        closed_by: None,
        closed_at: None,
        closing_note: None,
    };
    let txn = store::begin_write(&app.db).await?;
    store::responses::insert_query(&txn, row.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "query.raised", "response")
            .entity(response)
            .after(json!({ "query": row.id, "text": row.text, "facts": audit::row_facts(&txn, "response_query", row.id).await? })),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

pub async fn queries(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    response_id: &str,
) -> Result<Vec<QueryRow>> {
    let p = crate::participants::for_staff(&app.db, actor, Action::ResponseRead, study_id, false)
        .await?;
    let response = response_of(app, &p, response_id).await?;
    Ok(store::responses::queries(&app.db, response).await?)
}

pub async fn close_query(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    response_id: &str,
    query_id: &str,
    note: &str,
) -> Result<QueryRow> {
    let p = crate::participants::for_staff(&app.db, actor, Action::ResponseEnter, study_id, false)
        .await?;
    let response = response_of(app, &p, response_id).await?;
    if note.trim().is_empty() {
        return Err(Error::invalid("note", Problem::Required));
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let mut q = store::responses::queries(&txn, response)
        .await?
        .into_iter()
        .find(|q| q.id.to_string() == query_id)
        .ok_or_else(|| Error::Unknown {
            code: Code::UnknownQuery,
            message: format!("no query {query_id:?} on this response"),
        })?;
    if q.closed_at.is_some() {
        return Err(Error::Conflict {
            code: Code::QueryClosed,
            message: "this query is already closed".into(),
        });
    }
    q.closed_by = Some(actor.id.to_string());
    q.closed_at = Some(now);
    q.closing_note = Some(note.trim().into());
    store::responses::update_query(&txn, q.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "query.closed", "response")
            .entity(response)
            .after(json!({ "query": q.id, "note": q.closing_note, "facts": audit::row_facts(&txn, "response_query", q.id).await? })),
    )
    .await?;
    txn.commit().await?;
    Ok(q)
}

//! Drafts: started on first save, merged by (item, lesion) under a revision check, so two
//! tabs or a retried request never lose an answer.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    Definition, active_lesions, as_answers, definition, invalid, lesion_ids, participant, refused,
    stale, visit_and_version,
};
use crate::{
    app::App,
    audit::{self, Entry},
    auth::participant::ParticipantActor,
    domain::answering::{EntryMode, ResponseStatus},
    domain::{
        audit::{Actor, canonical_json},
        questionnaire::answers::{self, Answer},
    },
    error::{Code, Error, Result},
    questionnaires::{self, Reader},
    store::{
        self,
        participants::ParticipantRow,
        responses::{AnswerRow, ResponseRow},
    },
};

/// Who enters answers and how (self-report now; interviewer and paper come with staff entry).
#[derive(Debug, Clone)]
pub struct Entrant {
    pub actor: Actor,
    pub mode: EntryMode,
}

impl Entrant {
    pub fn participant(pa: &ParticipantActor) -> Self {
        Self {
            actor: pa.audit_actor(),
            mode: EntryMode::SelfReport,
        }
    }
}

/// Start (or load) the response of a visit's questionnaire inside a write transaction: the first
/// save fixes its lesion set, language, version and wording.
pub(super) async fn start_or_load(
    txn: &DatabaseTransaction,
    app: &App,
    p: &ParticipantRow,
    visit: &str,
    key: &str,
    version: &str,
    now: DateTime<Utc>,
) -> Result<(ResponseRow, bool)> {
    if let Some(r) = store::responses::find_for_update(txn, p.id, visit, key).await? {
        return Ok((r, false));
    }
    // A visit already started keeps its language, whatever was chosen since.
    let language = store::responses::visit_language(txn, p.id, visit)
        .await?
        .unwrap_or_else(|| p.language.clone());
    let resolved =
        questionnaires::resolve(&app.library, key, version, &language, Reader::Authenticated)?;
    let wording = resolved
        .wording
        .map(|w| w.sha256.clone())
        .unwrap_or_default();
    let lesions = active_lesions(txn, p).await?;
    let row = ResponseRow {
        id: Uuid::new_v4(),
        participant_id: p.id,
        visit_code: visit.into(),
        questionnaire_key: key.into(),
        questionnaire_version: version.into(),
        language,
        wording_sha256: wording,
        lesions: crate::store::Json(lesions.clone()),
        status: ResponseStatus::Draft,
        revision: 0,
        started_at: now,
        submitted_at: None,
        client_utc_offset_minutes: None,
        late: false,
        mode: None,
        idempotency_key: None,
        request_sha256: None,
        completed_on: None,
        entry_reason: None,
        flags: crate::store::Json(Vec::new()),
        days_from_sse: None,
        device_completed_at: None,
        synced_late: false,
        quarantined_at: None,
    };
    // A concurrent first save may have created it meanwhile: then this one continues on that
    // row, as if it had been found above.
    Ok(store::responses::insert_or_lock(txn, row).await?)
}

/// Merge `incoming` into `current` by (item, lesion); `null` clears. Both sides are taken in
/// the one stored coding (`answers::canonical`: yes/no as 0/1), so `true` over a stored `1` is
/// no change. Returns the merged set and the changes (for the audit trail).
pub(super) fn merge(
    def: &Definition,
    current: &[Answer],
    incoming: &[Answer],
) -> (Vec<Answer>, Vec<Value>) {
    let coded = |a: &Answer| Answer {
        value: answers::canonical(def, &a.item, &a.value),
        ..a.clone()
    };
    let mut merged: Vec<Answer> = current.iter().map(coded).collect();
    let mut changes = Vec::new();
    for a in incoming.iter().map(coded) {
        let before = merged
            .iter()
            .position(|m| m.item == a.item && m.lesion == a.lesion);
        let old = before
            .map(|i| merged[i].value.clone())
            .unwrap_or(Value::Null);
        if old == a.value {
            continue;
        }
        changes.push(json!({ "item": a.item, "lesion": a.lesion, "old": old, "new": a.value }));
        match (before, a.value.is_null()) {
            (Some(i), true) => {
                merged.remove(i);
            }
            (Some(i), false) => merged[i].value = a.value,
            (None, false) => merged.push(a),
            (None, true) => {}
        }
    }
    (merged, changes)
}

/// Write the answers that changed.
pub(super) async fn write_changes(
    txn: &DatabaseTransaction,
    r: &ResponseRow,
    changes: &[Value],
    who: &Entrant,
    now: DateTime<Utc>,
) -> Result<()> {
    let (mut upserts, mut deletes) = (Vec::new(), Vec::new());
    for c in changes {
        let item = c["item"].as_str().unwrap_or_default();
        let lesion = c["lesion"].as_str().unwrap_or_default();
        if c["new"].is_null() {
            deletes.push((item.to_string(), lesion.to_string()));
        } else {
            upserts.push(AnswerRow {
                response_id: r.id,
                item: item.into(),
                lesion: lesion.into(),
                value: crate::store::Json(c["new"].clone()),
                mode: who.mode,
                actor_kind: who.actor.kind.as_str().into(),
                actor_id: who.actor.id.clone().unwrap_or_default(),
                answered_at: now,
            });
        }
    }
    store::responses::write_answers(txn, r.id, upserts, deletes).await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Draft {
    pub response_id: Uuid,
    pub revision: i32,
    pub answers: Vec<Answer>,
}

/// Save a draft: merge, validate the incoming answers, bump the revision.
pub async fn save_draft(
    app: &App,
    pa: &ParticipantActor,
    visit: &str,
    key: &str,
    if_match: Option<i32>,
    incoming: Vec<Answer>,
) -> Result<Draft> {
    let p = participant(app, pa).await?;
    save_draft_as(
        app,
        &p,
        Entrant::participant(pa),
        visit,
        key,
        if_match,
        incoming,
    )
    .await
}

/// Save a draft for `p`, entered by `who` (the participant, or staff in an interview or from paper).
pub async fn save_draft_as(
    app: &App,
    p: &ParticipantRow,
    who: Entrant,
    visit: &str,
    key: &str,
    if_match: Option<i32>,
    incoming: Vec<Answer>,
) -> Result<Draft> {
    save_checked(
        app,
        p,
        who,
        visit,
        key,
        SaveCheck::Revision(if_match),
        incoming,
    )
    .await
}

/// Save a draft under a save id the participant's page made (docs/trial-rules.md, "Answers
/// sent from a phone that was offline"): the same id with the same answers is answered with
/// the revision that save made, without saving again; the same id with other answers is
/// refused (422 `idempotency_conflict`). No revision is checked: the save merges the answers it
/// carries by (item, lesion), so two tabs of one form both keep what they changed, and an item
/// changed in both holds the value of the save received last.
pub async fn save_draft_once(
    app: &App,
    pa: &ParticipantActor,
    visit: &str,
    key: &str,
    save_id: &str,
    incoming: Vec<Answer>,
) -> Result<Draft> {
    let p = participant(app, pa).await?;
    let check = SaveCheck::ClientId(save_id.trim());
    save_checked(
        app,
        &p,
        Entrant::participant(pa),
        visit,
        key,
        check,
        incoming,
    )
    .await
}

/// How a save is matched to the draft it changes.
#[derive(Debug, Clone, Copy)]
enum SaveCheck<'a> {
    /// The revision the client saw (`If-Match`); none is only for the first save.
    Revision(Option<i32>),
    /// A save id made by the client: a resend is recognised, no revision is needed.
    ClientId(&'a str),
}

/// A save already made under `save_id` for `r`: its result again, or 422 when the answers differ.
async fn saved_before<C: sea_orm::ConnectionTrait>(
    db: &C,
    r: &ResponseRow,
    save_id: &str,
    request_sha: &str,
) -> Result<Option<Draft>> {
    let Some(done) = store::responses::draft_save(db, r.id, save_id).await? else {
        return Ok(None);
    };
    if done.request_sha256 != request_sha {
        return Err(Error::Unprocessable {
            code: Code::IdempotencyConflict,
            message: format!(
                "save id {save_id} was used with other answers; make a new id for every save"
            ),
        });
    }
    Ok(Some(Draft {
        response_id: r.id,
        revision: done.revision,
        answers: as_answers(&store::responses::answers(db, r.id).await?),
    }))
}

fn save_digest(save_id: &str, incoming: &[Answer]) -> Result<String> {
    if save_id.is_empty() || save_id.len() > 200 {
        return Err(Error::operator(
            "save_id",
            "send a unique id (1–200 characters) with every save",
        ));
    }
    let body = canonical_json(&json!({ "answers": incoming }))
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(hex::encode(Sha256::digest(body.as_bytes())))
}

async fn save_checked(
    app: &App,
    p: &ParticipantRow,
    who: Entrant,
    visit: &str,
    key: &str,
    check: SaveCheck<'_>,
    incoming: Vec<Answer>,
) -> Result<Draft> {
    let client = match check {
        SaveCheck::ClientId(id) => Some((id, save_digest(id, &incoming)?)),
        SaveCheck::Revision(_) => None,
    };
    // A resend is answered as before even when the form has been sent or the window closed since.
    if let Some((id, sha)) = &client
        && let Some(r) = store::responses::find(&app.db, p.id, visit, key).await?
        && let Some(d) = saved_before(&app.db, &r, id, sha).await?
    {
        return Ok(d);
    }
    let (v, version) = visit_and_version(app, p, visit, key).await?;
    crate::domain::answering::may_draft(v.state, who.mode).map_err(|why| refused(&v, why))?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let (mut r, created) = start_or_load(&txn, app, p, visit, key, &version, now).await?;
    if let Some((id, sha)) = &client
        && let Some(d) = saved_before(&txn, &r, id, sha).await?
    {
        return Ok(d);
    }
    if r.status != ResponseStatus::Draft {
        return Err(Error::Conflict {
            code: Code::AlreadySubmitted,
            message: format!("{key} of visit {visit} was already submitted"),
        });
    }
    match check {
        SaveCheck::Revision(Some(rev)) if rev != r.revision => return Err(stale(r.revision)),
        SaveCheck::Revision(None) if !created && r.revision > 0 => {
            return Err(super::if_match_required(r.revision));
        }
        _ => {}
    }
    let def = definition(app, &r)?;
    answers::validate(def, &incoming, Some(&lesion_ids(&r))).map_err(invalid)?;
    let current = as_answers(&store::responses::answers(&txn, r.id).await?);
    let (merged, changes) = merge(def, &current, &incoming);
    write_changes(&txn, &r, &changes, &who, now).await?;
    r.revision += 1;
    store::responses::update(&txn, r.clone()).await?;
    let save_id = client.as_ref().map(|(id, _)| id.to_string());
    if let Some((id, sha)) = client {
        store::responses::insert_draft_save(
            &txn,
            store::responses::DraftSaveRow {
                response_id: r.id,
                save_id: id.to_string(),
                request_sha256: sha,
                revision: r.revision,
                saved_at: now,
            },
        )
        .await?;
    }
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(who.actor.clone(), "response.draft_saved", "response")
            .entity(r.id)
            .after(json!({ "participant": p.study_id, "visit": visit, "questionnaire": format!("{key}@{}", r.questionnaire_version), "revision": r.revision, "answered_at": now, "changes": changes, "save_id": save_id })),
    )
    .await?;
    txn.commit().await?;
    Ok(Draft {
        response_id: r.id,
        revision: r.revision,
        answers: merged,
    })
}

//! Answering: a participant's tasks, the questionnaire expanded for them (one NRS per active
//! lesion), drafts that merge by (item, lesion) under a revision check, and one idempotent
//! submission that validates, stores, scores and locks the response. Also `scores recompute`.
//! Blank answers stay blank; nothing here ever turns a missing answer into 0.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    access::ParticipantActor,
    app::App,
    audit::{self, Entry},
    domain::{
        audit::{self as audit_rule, Actor, canonical_json},
        questionnaire::{
            Definition,
            answers::{self, Answer, AnswerValue},
            scoring::{self, Scores},
        },
        schedule::VisitState,
    },
    error::{Error, Result},
    participants::{self, VisitView},
    questionnaires::{self, Reader, Resolved},
    store::{
        self,
        participants::ParticipantRow,
        responses::{AnswerRow, ResponseRow, ScoreRow},
    },
};

/// A lesion as fixed in a response: its id and its labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LesionRef {
    pub id: String,
    pub labels: BTreeMap<String, String>,
}

impl LesionRef {
    pub fn label(&self, lang: &str) -> String {
        self.labels
            .get(lang)
            .cloned()
            .unwrap_or_else(|| self.id.clone())
    }
}

#[derive(Debug, Clone)]
pub struct TaskItem {
    pub key: String,
    pub version: String,
    /// not_started, in_progress or completed.
    pub status: &'static str,
}

#[derive(Debug, Clone)]
pub struct Task {
    pub visit: VisitView,
    pub questionnaires: Vec<TaskItem>,
}

fn split_ref(q: &str) -> (String, String) {
    let (k, v) = q.split_once('@').unwrap_or((q, ""));
    (k.to_string(), v.to_string())
}

async fn participant(app: &App, pa: &ParticipantActor) -> Result<ParticipantRow> {
    store::participants::find_by_id(&app.db, pa.id)
        .await?
        .ok_or(Error::Unauthenticated)
}

/// Visits open or in grace, with each questionnaire's status.
pub async fn tasks(app: &App, pa: &ParticipantActor) -> Result<Vec<Task>> {
    let p = participant(app, pa).await?;
    let views = participants::current_views(&app.db, app, &p, app.clock.now()).await?;
    let responses = store::responses::of_participant(&app.db, p.id).await?;
    Ok(views
        .into_iter()
        .filter(|v| matches!(v.state, VisitState::Open | VisitState::Late))
        .map(|v| {
            let questionnaires = v
                .questionnaires
                .iter()
                .map(|q| {
                    let (key, version) = split_ref(q);
                    let status = match responses
                        .iter()
                        .find(|r| r.visit_code == v.code && r.questionnaire_key == key)
                    {
                        None => "not_started",
                        Some(r) if r.status == "draft" => "in_progress",
                        Some(_) => "completed",
                    };
                    TaskItem {
                        key,
                        version,
                        status,
                    }
                })
                .collect();
            Task {
                visit: v,
                questionnaires,
            }
        })
        .collect())
}

/// The questionnaire of a visit, expanded for the participant, with any draft.
pub struct Expanded<'a> {
    pub resolved: Resolved<'a>,
    pub lesions: Vec<LesionRef>,
    pub response: Option<ResponseRow>,
    pub answers: Vec<AnswerRow>,
    pub visit: VisitView,
}

/// Find the visit and questionnaire a participant asks for; the visit must be open or in grace.
async fn visit_and_version(
    app: &App,
    p: &ParticipantRow,
    visit: &str,
    key: &str,
) -> Result<(VisitView, String)> {
    let views = participants::current_views(&app.db, app, p, app.clock.now()).await?;
    let v = views
        .into_iter()
        .find(|v| v.code == visit)
        .ok_or_else(|| Error::Unknown {
            code: "unknown_visit",
            message: format!("no visit {visit:?} in your schedule"),
        })?;
    let version = v
        .questionnaires
        .iter()
        .map(|q| split_ref(q))
        .find(|(k, _)| k == key)
        .map(|(_, ver)| ver)
        .ok_or_else(|| Error::Unknown {
            code: "unknown_questionnaire",
            message: format!("visit {visit} does not ask {key:?}"),
        })?;
    Ok((v, version))
}

/// The participant's active lesions. Inside a write transaction pass the transaction: a second
/// pool connection taken while holding the write lock can wait forever for connections held by
/// requests queued behind that lock.
async fn active_lesions<C: sea_orm::ConnectionTrait>(
    db: &C,
    p: &ParticipantRow,
) -> Result<Vec<LesionRef>> {
    Ok(store::participants::lesions(db, p.id)
        .await?
        .into_iter()
        .filter(|l| l.active)
        .map(|l| LesionRef {
            id: l.id.to_string(),
            labels: serde_json::from_str(&l.labels).unwrap_or_default(),
        })
        .collect())
}

pub async fn expanded<'a>(
    app: &'a App,
    pa: &ParticipantActor,
    visit: &str,
    key: &str,
) -> Result<Expanded<'a>> {
    let p = participant(app, pa).await?;
    expanded_of(app, &p, visit, key).await
}

/// The same for staff entering answers (interview, paper) for a participant of their site.
pub async fn expanded_for_staff<'a>(
    app: &'a App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
    visit: &str,
    key: &str,
) -> Result<Expanded<'a>> {
    let p = participants::for_staff(
        &app.db,
        actor,
        crate::domain::permissions::Action::ResponseEnter,
        study_id,
        false,
    )
    .await?;
    expanded_of(app, &p, visit, key).await
}

/// The participant's next visit still to come (its window not yet open), if any.
pub async fn next_window(app: &App, pa: &ParticipantActor) -> Result<Option<VisitView>> {
    let p = participant(app, pa).await?;
    let views = participants::current_views(&app.db, app, &p, app.clock.now()).await?;
    Ok(views.into_iter().find(|v| v.state == VisitState::Upcoming))
}

async fn expanded_of<'a>(
    app: &'a App,
    p: &ParticipantRow,
    visit: &str,
    key: &str,
) -> Result<Expanded<'a>> {
    let p = p.clone();
    let (v, version) = visit_and_version(app, &p, visit, key).await?;
    let response = store::responses::find(&app.db, p.id, visit, key).await?;
    let (lang, version, lesions) = match &response {
        Some(r) => (
            r.language.clone(),
            r.questionnaire_version.clone(),
            serde_json::from_str(&r.lesions).unwrap_or_default(),
        ),
        None => (
            p.language.clone(),
            version,
            active_lesions(&app.db, &p).await?,
        ),
    };
    let resolved =
        questionnaires::resolve(&app.library, key, &version, &lang, Reader::Authenticated)?;
    let answers = match &response {
        Some(r) => store::responses::answers(&app.db, r.id).await?,
        None => vec![],
    };
    Ok(Expanded {
        resolved,
        lesions,
        response,
        answers,
        visit: v,
    })
}

/// The answers of a response as the shared answer shape.
pub fn as_answers(rows: &[AnswerRow]) -> Vec<Answer> {
    rows.iter()
        .map(|a| Answer {
            item: a.item.clone(),
            value: serde_json::from_str(&a.value).unwrap_or(Value::Null),
            lesion: (!a.lesion.is_empty()).then(|| a.lesion.clone()),
        })
        .collect()
}

fn stale(current: i32) -> Error {
    Error::Conflict {
        code: "draft_changed",
        message: format!(
            "the draft changed elsewhere (now revision {current}); reload it and try again"
        ),
    }
}

fn invalid(errors: Vec<answers::AnswerError>) -> Error {
    Error::Unprocessable {
        code: "invalid_answer",
        message: answers::summarize(&errors),
    }
}

/// Who enters answers and how (self-report now; interviewer and paper come with staff entry).
#[derive(Debug, Clone)]
pub struct Entrant {
    pub actor: Actor,
    pub mode: &'static str,
}

impl Entrant {
    pub fn participant(pa: &ParticipantActor) -> Self {
        Self {
            actor: pa.audit_actor(),
            mode: "self",
        }
    }
}

/// Start (or load) the response of a visit's questionnaire inside a write transaction: the first
/// save fixes its lesion set, language, version and wording.
async fn start_or_load(
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
    let resolved = questionnaires::resolve(
        &app.library,
        key,
        version,
        &p.language,
        Reader::Authenticated,
    )?;
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
        language: p.language.clone(),
        wording_sha256: wording,
        lesions: serde_json::to_string(&lesions).unwrap_or_else(|_| "[]".into()),
        status: "draft".into(),
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
    };
    // A concurrent first save may have created it meanwhile: then this one continues on that
    // row, as if it had been found above.
    Ok(store::responses::insert_or_lock(txn, row).await?)
}

fn definition<'a>(app: &'a App, r: &ResponseRow) -> Result<&'a Definition> {
    Ok(
        &questionnaires::find(&app.library, &r.questionnaire_key, &r.questionnaire_version)?
            .definition,
    )
}

fn lesion_ids(r: &ResponseRow) -> Vec<String> {
    serde_json::from_str::<Vec<LesionRef>>(&r.lesions)
        .unwrap_or_default()
        .into_iter()
        .map(|l| l.id)
        .collect()
}

/// Merge `incoming` into `current` by (item, lesion); `null` clears. Returns the merged set and
/// the changes (for the audit trail).
fn merge(current: &[Answer], incoming: &[Answer]) -> (Vec<Answer>, Vec<Value>) {
    let mut merged: Vec<Answer> = current.to_vec();
    let mut changes = Vec::new();
    for a in incoming {
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
            (Some(i), false) => merged[i].value = a.value.clone(),
            (None, false) => merged.push(a.clone()),
            (None, true) => {}
        }
    }
    (merged, changes)
}

/// Write the answers that changed.
async fn write_changes(
    txn: &DatabaseTransaction,
    r: &ResponseRow,
    changes: &[Value],
    who: &Entrant,
    now: DateTime<Utc>,
) -> Result<()> {
    for c in changes {
        let item = c["item"].as_str().unwrap_or_default();
        let lesion = c["lesion"].as_str().unwrap_or_default();
        if c["new"].is_null() {
            store::responses::delete_answer(txn, r.id, item, lesion).await?;
        } else {
            store::responses::upsert_answer(
                txn,
                AnswerRow {
                    response_id: r.id,
                    item: item.into(),
                    lesion: lesion.into(),
                    value: c["new"].to_string(),
                    mode: who.mode.into(),
                    actor_kind: who.actor.kind.as_str().into(),
                    actor_id: who.actor.id.clone().unwrap_or_default(),
                    answered_at: now,
                },
            )
            .await?;
        }
    }
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
    let (v, version) = visit_and_version(app, p, visit, key).await?;
    if !matches!(v.state, VisitState::Open | VisitState::Late) && who.mode == "self" {
        return Err(window_closed(&v));
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let (mut r, created) = start_or_load(&txn, app, p, visit, key, &version, now).await?;
    if r.status != "draft" {
        return Err(Error::Conflict {
            code: "already_submitted",
            message: format!("{key} of visit {visit} was already submitted"),
        });
    }
    match if_match {
        Some(rev) if rev != r.revision => return Err(stale(r.revision)),
        None if !created && r.revision > 0 => return Err(stale(r.revision)),
        _ => {}
    }
    let def = definition(app, &r)?;
    answers::validate(def, &incoming, Some(&lesion_ids(&r))).map_err(invalid)?;
    let current = as_answers(&store::responses::answers(&txn, r.id).await?);
    let (merged, changes) = merge(&current, &incoming);
    write_changes(&txn, &r, &changes, &who, now).await?;
    r.revision += 1;
    store::responses::update(&txn, r.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(who.actor.clone(), "response.draft_saved", "response")
            .entity(r.id)
            .after(json!({ "participant": p.study_id, "visit": visit, "questionnaire": format!("{key}@{}", r.questionnaire_version), "revision": r.revision, "answered_at": now, "changes": changes })),
    )
    .await?;
    txn.commit().await?;
    Ok(Draft {
        response_id: r.id,
        revision: r.revision,
        answers: merged,
    })
}

fn window_closed(v: &VisitView) -> Error {
    Error::Conflict {
        code: "window_closed",
        message: format!(
            "visit {} is {} — answers are accepted only while it is open or in its grace period",
            v.code,
            v.state.as_str()
        ),
    }
}

#[derive(Debug, Clone)]
pub struct Submitted {
    pub response_id: Uuid,
    pub status: String,
    pub submitted_at: DateTime<Utc>,
    pub late: bool,
    pub questionnaire: String,
    pub wording_sha256: String,
    pub scores: Option<Scores>,
}

async fn submitted_view(app: &App, r: &ResponseRow) -> Result<Submitted> {
    let stored = store::responses::scores(&app.db, r.id).await?;
    let scores = stored
        .last()
        .and_then(|s| serde_json::from_str::<Value>(&s.results).ok())
        .and_then(|v| scores_from_json(&v));
    Ok(Submitted {
        response_id: r.id,
        status: r.status.clone(),
        submitted_at: r.submitted_at.unwrap_or(r.started_at),
        late: r.late,
        questionnaire: format!("{}@{}", r.questionnaire_key, r.questionnaire_version),
        wording_sha256: r.wording_sha256.clone(),
        scores,
    })
}

fn scores_from_json(v: &Value) -> Option<Scores> {
    serde_json::from_value(v.clone()).ok()
}

/// Submit once. Same Idempotency-Key and body → the same result; another submission → 409.
pub async fn submit(
    app: &App,
    pa: &ParticipantActor,
    visit: &str,
    key: &str,
    idempotency_key: &str,
    final_answers: Vec<Answer>,
    client_utc_offset_minutes: Option<i32>,
) -> Result<Submitted> {
    let p = participant(app, pa).await?;
    let request = Submission {
        visit: visit.into(),
        key: key.into(),
        idempotency_key: idempotency_key.into(),
        answers: final_answers,
        client_utc_offset_minutes,
        completed_on: None,
        entry_reason: None,
    };
    submit_as(app, &p, Entrant::participant(pa), request).await
}

/// What a submission carries besides who makes it.
#[derive(Debug, Clone)]
pub struct Submission {
    pub visit: String,
    pub key: String,
    pub idempotency_key: String,
    pub answers: Vec<Answer>,
    pub client_utc_offset_minutes: Option<i32>,
    /// Paper: the day the participant filled it in.
    pub completed_on: Option<chrono::NaiveDate>,
    /// Staff entry after the grace period needs a reason.
    pub entry_reason: Option<String>,
}

/// A submission for a response that is already submitted: the same key and body get the same
/// result (idempotent retry); anything else is a conflict.
async fn resubmitted(
    app: &App,
    r: &ResponseRow,
    idempotency_key: &str,
    request_sha: &str,
) -> Result<Submitted> {
    if r.idempotency_key.as_deref() == Some(idempotency_key)
        && r.request_sha256.as_deref() == Some(request_sha)
    {
        submitted_view(app, r).await
    } else if r.idempotency_key.as_deref() == Some(idempotency_key) {
        Err(Error::Conflict {
            code: "idempotency_conflict",
            message: "this Idempotency-Key was used with a different body".into(),
        })
    } else {
        Err(Error::Conflict {
            code: "already_submitted",
            message: format!(
                "{} of visit {} was already submitted",
                r.questionnaire_key, r.visit_code
            ),
        })
    }
}

/// Submit for `p`, entered by `who`.
pub async fn submit_as(
    app: &App,
    p: &ParticipantRow,
    who: Entrant,
    s: Submission,
) -> Result<Submitted> {
    let Submission {
        visit,
        key,
        idempotency_key,
        answers: final_answers,
        client_utc_offset_minutes,
        completed_on,
        entry_reason,
    } = s;
    let (visit, key) = (visit.as_str(), key.as_str());
    let idempotency_key = idempotency_key.as_str();
    let idempotency_key = idempotency_key.trim();
    if idempotency_key.is_empty() || idempotency_key.len() > 200 {
        return Err(Error::invalid(
            "Idempotency-Key",
            "send a unique key (1–200 characters) with every submission",
        ));
    }
    if client_utc_offset_minutes.is_some_and(|o| !(-14 * 60..=14 * 60).contains(&o)) {
        return Err(Error::invalid(
            "client_utc_offset_minutes",
            "must be between -840 and 840",
        ));
    }
    let request = canonical_json(&json!({ "answers": final_answers, "client_utc_offset_minutes": client_utc_offset_minutes, "completed_on": completed_on, "mode": who.mode }))
        .map_err(|e| Error::Internal(e.to_string()))?;
    let request_sha = hex::encode(Sha256::digest(request.as_bytes()));
    let (v, version) = visit_and_version(app, p, visit, key).await?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    if let Some(r) = store::responses::find_for_update(&txn, p.id, visit, key).await?
        && r.status != "draft"
    {
        drop(txn);
        return resubmitted(app, &r, idempotency_key, &request_sha).await;
    }
    let entry_reason = entry_reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    let late = match (v.state, who.mode, &entry_reason) {
        (VisitState::Open, _, _) => false,
        (VisitState::Late, _, _) => true,
        // Staff may enter a questionnaire after the grace period, with a reason.
        (VisitState::Missed | VisitState::Upcoming, "interviewer" | "paper", Some(_)) => true,
        (VisitState::Missed, "interviewer" | "paper", None) => {
            return Err(Error::Conflict {
                code: "window_closed",
                message: format!(
                    "visit {} is past its grace period: a late entry needs a reason",
                    v.code
                ),
            });
        }
        _ => return Err(window_closed(&v)),
    };
    if completed_on.is_some() && who.mode != "paper" {
        return Err(Error::invalid(
            "completed_on",
            "only paper questionnaires have a completion date",
        ));
    }
    if who.mode == "paper" && completed_on.is_none() {
        return Err(Error::invalid(
            "completed_on",
            "the date the participant filled in the paper questionnaire is required",
        ));
    }
    let (mut r, _) = start_or_load(&txn, app, p, visit, key, &version, now).await?;
    if r.status != "draft" {
        // Submitted by a concurrent request since the check above.
        drop(txn);
        return resubmitted(app, &r, idempotency_key, &request_sha).await;
    }
    let def = definition(app, &r)?;
    let lesions = lesion_ids(&r);
    answers::validate(def, &final_answers, Some(&lesions)).map_err(invalid)?;
    let current = as_answers(&store::responses::answers(&txn, r.id).await?);
    let (merged, changes) = merge(&current, &final_answers);
    let valid = answers::validate(def, &merged, Some(&lesions)).map_err(invalid)?;
    // Required items (rare in PRO instruments) must be answered.
    for placed in def.all_items().into_iter().filter(|p| p.item.required) {
        let keys: Vec<Option<String>> = if placed.group.is_some() {
            lesions.iter().cloned().map(Some).collect()
        } else {
            vec![None]
        };
        for lesion in keys {
            if !valid.iter().any(|a| {
                a.item == placed.item.id && a.lesion == lesion && a.value != AnswerValue::Blank
            }) {
                return Err(Error::Unprocessable {
                    code: "invalid_answer",
                    message: format!("item {}: required", placed.item.id),
                });
            }
        }
    }
    write_changes(&txn, &r, &changes, &who, now).await?;
    let scores =
        questionnaires::find(&app.library, &r.questionnaire_key, &r.questionnaire_version)?
            .latest_scoring()
            .map(|rules| scoring::score(def, rules, &valid));
    if let Some(s) = &scores {
        store::responses::insert_score(
            &txn,
            ScoreRow {
                response_id: r.id,
                scoring: s.scoring.clone(),
                results: serde_json::to_string(s).unwrap_or_default(),
                computed_at: now,
            },
        )
        .await?;
    }
    let stored = store::responses::answer_facts(&txn, r.id).await?;
    let answers_sha256 = audit_rule::answers_digest(&stored);
    let modes: std::collections::BTreeSet<String> = stored.into_iter().map(|a| a.mode).collect();
    r.status = "completed".into();
    r.submitted_at = Some(now);
    r.late = late;
    r.mode = Some(match modes.len() {
        0 => who.mode.to_string(),
        1 => modes.into_iter().next().unwrap_or_default(),
        _ => "mixed".to_string(),
    });
    r.completed_on = completed_on;
    r.entry_reason = entry_reason.clone();
    r.client_utc_offset_minutes = client_utc_offset_minutes;
    r.idempotency_key = Some(idempotency_key.into());
    r.request_sha256 = Some(request_sha);
    r.revision += 1;
    store::responses::update(&txn, r.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(who.actor.clone(), "response.submitted", "response").entity(r.id).after(json!({
            "participant": p.study_id, "visit": visit, "questionnaire": format!("{key}@{}", r.questionnaire_version),
            "language": r.language, "wording_sha256": r.wording_sha256, "late": late, "mode": r.mode,
            "answered": merged.len(), "changes": changes, "scoring": scores.as_ref().map(|s| s.scoring.clone()),
            "completed_on": completed_on, "answers_sha256": answers_sha256,
        }))
        .reason(entry_reason.unwrap_or_default()),
    )
    .await?;
    txn.commit().await?;
    Ok(Submitted {
        response_id: r.id,
        status: r.status,
        submitted_at: now,
        late,
        questionnaire: format!("{key}@{}", r.questionnaire_version),
        wording_sha256: r.wording_sha256,
        scores,
    })
}

/// Apply a scoring file to every submitted response of its questionnaire version that does not
/// have it yet (audited per response). Returns how many responses were scored.
pub async fn recompute_scores(app: &App, scoring_id: &str) -> Result<usize> {
    let parts: Vec<&str> = scoring_id.split('/').collect();
    let [key, version, file] = parts.as_slice() else {
        return Err(Error::invalid(
            "--scoring",
            format!("{scoring_id:?} is not <key>/<version>/scoring-<n>"),
        ));
    };
    let v = questionnaires::find(&app.library, key, version)?;
    let n: u32 = file
        .strip_prefix("scoring-")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::invalid("--scoring", format!("{file:?} is not scoring-<n>")))?;
    let (rules, _) = v.scorings.get(&n).ok_or_else(|| {
        Error::invalid(
            "--scoring",
            format!("{key} {version} has no scoring-{n}.json"),
        )
    })?;
    let now = app.clock.now();
    let mut scored = 0;
    for r in store::responses::submitted_of(&app.db, key, version).await? {
        let rows = store::responses::answers(&app.db, r.id).await?;
        let valid = answers::validate(&v.definition, &as_answers(&rows), None).map_err(invalid)?;
        let result = scoring::score(&v.definition, rules, &valid);
        let txn = store::begin_write(&app.db).await?;
        let inserted = store::responses::insert_score(
            &txn,
            ScoreRow {
                response_id: r.id,
                scoring: result.scoring.clone(),
                results: serde_json::to_string(&result).unwrap_or_default(),
                computed_at: now,
            },
        )
        .await?;
        if inserted {
            audit::record(
                &txn,
                &app.keys.audit,
                now,
                Entry::new(Actor::system(), "score.recomputed", "response")
                    .entity(r.id)
                    .after(json!({ "scoring": result.scoring })),
            )
            .await?;
            scored += 1;
        }
        txn.commit().await?;
    }
    Ok(scored)
}

// ---------- staff entry, missed visits, amendments ----------

/// Staff enter answers during a teleconsultation (`interviewer`) or from paper (`paper`).
pub fn staff_entrant(actor: &crate::auth::StaffActor, mode: &str) -> Result<Entrant> {
    let mode = match mode {
        "interviewer" => "interviewer",
        "paper" => "paper",
        other => {
            return Err(Error::invalid(
                "mode",
                format!("{other:?} is not interviewer or paper"),
            ));
        }
    };
    Ok(Entrant {
        actor: actor.audit_actor(),
        mode,
    })
}

#[allow(clippy::too_many_arguments)]
pub async fn staff_save_draft(
    app: &App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
    mode: &str,
    visit: &str,
    key: &str,
    if_match: Option<i32>,
    incoming: Vec<Answer>,
) -> Result<Draft> {
    let who = staff_entrant(actor, mode)?;
    let p = participants::for_staff(
        &app.db,
        actor,
        crate::domain::permissions::Action::ResponseEnter,
        study_id,
        false,
    )
    .await?;
    ensure_active(app, &p).await?;
    save_draft_as(app, &p, who, visit, key, if_match, incoming).await
}

pub async fn staff_submit(
    app: &App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
    mode: &str,
    submission: Submission,
) -> Result<Submitted> {
    let who = staff_entrant(actor, mode)?;
    let p = participants::for_staff(
        &app.db,
        actor,
        crate::domain::permissions::Action::ResponseEnter,
        study_id,
        false,
    )
    .await?;
    ensure_active(app, &p).await?;
    submit_as(app, &p, who, submission).await
}

/// No questionnaires are entered for a participant who withdrew, died or stopped PROs.
async fn ensure_active(app: &App, p: &ParticipantRow) -> Result<()> {
    let events = store::participants::events(&app.db, p.id).await?;
    if events.iter().any(|e| {
        !e.entered_in_error
            && matches!(e.kind.as_str(), "withdrawal" | "death" | "pro_discontinued")
    }) {
        return Err(Error::Conflict {
            code: "questionnaires_stopped",
            message: format!("{} no longer answers questionnaires", p.study_id),
        });
    }
    Ok(())
}

/// Why a visit's questionnaires were not done.
pub const MISSED_REASONS: [&str; 10] = [
    "too_ill",
    "hospitalised",
    "declined",
    "unable_vision",
    "unable_cognition",
    "unable_language",
    "technical_problem",
    "administrative_failure",
    "deceased",
    "other",
];

/// Record why a visit was missed (site staff); the visit becomes `missed`, stored.
pub async fn record_missed(
    app: &App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
    visit: &str,
    reason: &str,
    text: Option<String>,
) -> Result<()> {
    let p = participants::for_staff(
        &app.db,
        actor,
        crate::domain::permissions::Action::ResponseEnter,
        study_id,
        false,
    )
    .await?;
    if !MISSED_REASONS.contains(&reason) {
        return Err(Error::invalid(
            "reason",
            format!("{reason:?} is not one of {}", MISSED_REASONS.join(", ")),
        ));
    }
    let text = text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    if reason == "other" && text.is_none() {
        return Err(Error::invalid("text", "say what the other reason is"));
    }
    let now = app.clock.now();
    let views = participants::current_views(&app.db, app, &p, now).await?;
    let view = views
        .iter()
        .find(|v| v.code == visit)
        .ok_or_else(|| Error::Unknown {
            code: "unknown_visit",
            message: format!("{study_id} has no visit {visit:?}"),
        })?;
    if matches!(
        view.state,
        VisitState::Completed | VisitState::NotApplicable | VisitState::Upcoming
    ) {
        return Err(Error::Conflict {
            code: "visit_not_missable",
            message: format!("visit {visit} is {}", view.state.as_str()),
        });
    }
    let label = match &text {
        Some(t) => format!("{reason}: {t}"),
        None => reason.to_string(),
    };
    let txn = store::begin_write(&app.db).await?;
    let visits = store::participants::visits(&txn, p.id).await?;
    let Some(before) = visits.into_iter().find(|v| v.code == visit) else {
        return Err(Error::Unknown {
            code: "unknown_visit",
            message: format!("{study_id} has no visit {visit:?}"),
        });
    };
    let mut after = before.clone();
    after.missed_reason = Some(label.clone());
    after.final_state = Some(VisitState::Missed.as_str().into());
    store::participants::update_visit(&txn, after).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "visit.missed", "visit")
            .entity(format!("{study_id}/{visit}"))
            .before(
                json!({ "final_state": before.final_state, "missed_reason": before.missed_reason }),
            )
            .after(json!({ "final_state": "missed", "missed_reason": label })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Amend a submitted response (site staff). Self-reported answers change only at the
/// participant's documented request (`basis: participant_request`); interviewer and paper
/// answers may also be corrected for transcription errors. Scores are recomputed.
pub async fn amend(
    app: &App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
    response_id: &str,
    basis: &str,
    reason: &str,
    changes_in: Vec<Answer>,
) -> Result<Submitted> {
    let p = participants::for_staff(
        &app.db,
        actor,
        crate::domain::permissions::Action::ResponseAmend,
        study_id,
        false,
    )
    .await?;
    if !matches!(basis, "participant_request" | "transcription_error") {
        return Err(Error::invalid(
            "basis",
            "must be participant_request or transcription_error",
        ));
    }
    if reason.trim().is_empty() {
        return Err(Error::invalid("reason", "every amendment needs a reason"));
    }
    if changes_in.is_empty() {
        return Err(Error::invalid("answers", "give the answers to amend"));
    }
    let unknown = || Error::Unknown {
        code: "unknown_response",
        message: format!("{study_id} has no response {response_id:?}"),
    };
    let id: Uuid = response_id.parse().map_err(|_| unknown())?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let mut r = store::responses::of_participant(&txn, p.id)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(unknown)?;
    if r.status == "draft" {
        return Err(Error::Conflict {
            code: "not_submitted",
            message: "a draft is edited, not amended".into(),
        });
    }
    let def = definition(app, &r)?;
    let lesions = lesion_ids(&r);
    answers::validate(def, &changes_in, Some(&lesions)).map_err(invalid)?;
    let rows = store::responses::answers(&txn, r.id).await?;
    for a in &changes_in {
        let mode = rows
            .iter()
            .find(|row| row.item == a.item && row.lesion == a.lesion.clone().unwrap_or_default())
            .map_or("self", |row| row.mode.as_str());
        if mode == "self" && basis != "participant_request" {
            return Err(Error::Unprocessable {
                code: "self_report_protected",
                message: format!(
                    "item {}: a self-reported answer is amended only at the participant's documented request (basis participant_request)",
                    a.item
                ),
            });
        }
    }
    let current = as_answers(&rows);
    let (merged, changes) = merge(&current, &changes_in);
    let valid = answers::validate(def, &merged, Some(&lesions)).map_err(invalid)?;
    // Amended answers keep their mode; the actor and time say who changed them.
    for c in &changes {
        let item = c["item"].as_str().unwrap_or_default();
        let lesion = c["lesion"].as_str().unwrap_or_default();
        let mode = rows
            .iter()
            .find(|row| row.item == item && row.lesion == lesion)
            .map_or("interviewer", |row| row.mode.as_str());
        let mode: &'static str = match mode {
            "self" => "self",
            "paper" => "paper",
            _ => "interviewer",
        };
        write_changes(
            &txn,
            &r,
            std::slice::from_ref(c),
            &Entrant {
                actor: actor.audit_actor(),
                mode,
            },
            now,
        )
        .await?;
    }
    if let Some(rules) =
        questionnaires::find(&app.library, &r.questionnaire_key, &r.questionnaire_version)?
            .latest_scoring()
    {
        let s = scoring::score(def, rules, &valid);
        store::responses::replace_score(
            &txn,
            ScoreRow {
                response_id: r.id,
                scoring: s.scoring.clone(),
                results: serde_json::to_string(&s).unwrap_or_default(),
                computed_at: now,
            },
        )
        .await?;
    }
    let answers_sha256 =
        audit_rule::answers_digest(&store::responses::answer_facts(&txn, r.id).await?);
    let before_status = r.status.clone();
    r.status = "amended".into();
    r.revision += 1;
    store::responses::update(&txn, r.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "response.amended", "response")
            .entity(r.id)
            .before(json!({ "status": before_status, "answers": changes.iter().map(|c| json!({"item": c["item"], "lesion": c["lesion"], "value": c["old"]})).collect::<Vec<_>>() }))
            .after(json!({ "status": "amended", "basis": basis, "answers_sha256": answers_sha256, "answers": changes.iter().map(|c| json!({"item": c["item"], "lesion": c["lesion"], "value": c["new"]})).collect::<Vec<_>>() }))
            .reason(reason.trim()),
    )
    .await?;
    txn.commit().await?;
    submitted_view(app, &r).await
}

/// A response with its answers and stored scores, for staff.
pub struct ResponseDetail {
    pub row: ResponseRow,
    pub answers: Vec<AnswerRow>,
    pub scores: Vec<ScoreRow>,
}

pub async fn list_for_staff(
    app: &App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
) -> Result<Vec<ResponseDetail>> {
    let p = participants::for_staff(
        &app.db,
        actor,
        crate::domain::permissions::Action::ResponseRead,
        study_id,
        false,
    )
    .await?;
    let mut out = Vec::new();
    for row in store::responses::of_participant(&app.db, p.id).await? {
        let answers = store::responses::answers(&app.db, row.id).await?;
        let scores = store::responses::scores(&app.db, row.id).await?;
        out.push(ResponseDetail {
            row,
            answers,
            scores,
        });
    }
    Ok(out)
}

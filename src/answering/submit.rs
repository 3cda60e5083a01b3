//! Submission: one idempotent request validates, stores, scores and locks the response; a
//! repeat returns the stored result.

use crate::domain::problem::Problem;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    Definition, Entrant, as_answers, definition, invalid, late_offline, latest_scores, lesion_ids,
    merge, participant, score_row, start_or_load, visit_and_version, write_changes,
};
use crate::{
    app::App,
    audit::{self, Entry},
    auth::participant::ParticipantActor,
    domain::answering::{self as entry, EntryMode, ResponseStatus},
    domain::{
        audit::{self as audit_rule, canonical_json},
        questionnaire::{
            answers::{self, Answer, AnswerValue},
            scoring::Scores,
        },
    },
    error::{Code, Error, Result},
    participants::VisitView,
    store::{self, participants::ParticipantRow, responses::ResponseRow},
};

pub(super) fn window_closed(v: &VisitView) -> Error {
    Error::Conflict {
        code: Code::WindowClosed,
        message: format!(
            "visit {} is {} — answers are accepted only while it is open or in its grace period",
            v.code,
            v.state.as_str()
        ),
    }
}

/// Nothing is entered before a visit's window opens.
pub(super) fn window_not_open(v: &VisitView) -> Error {
    Error::Conflict {
        code: Code::WindowNotOpen,
        message: format!(
            "visit {} has not opened yet (its target day is {}); nothing is entered before its window opens",
            v.code, v.window.target
        ),
    }
}

/// A refusal of `entry` as the caller's error.
pub(super) fn refused(v: &VisitView, why: entry::Refusal) -> Error {
    match why {
        entry::Refusal::NotOpen => window_not_open(v),
        entry::Refusal::Closed => window_closed(v),
        entry::Refusal::OutsideWindow => Error::invalid(
            "completed_on",
            Problem::FormOutsideWindow {
                visit: v.code.clone(),
            },
        ),
        entry::Refusal::NeedsReason => Error::Conflict {
            code: Code::WindowClosed,
            message: format!(
                "visit {} is past its grace period: a late entry needs a reason",
                v.code
            ),
        },
    }
}

#[derive(Debug, Clone)]
pub struct Submitted {
    pub response_id: Uuid,
    pub status: ResponseStatus,
    pub submitted_at: DateTime<Utc>,
    pub late: bool,
    /// Received after the visit closed, taken as on time by the phone's completion time.
    pub synced_late: bool,
    pub device_completed_at: Option<DateTime<Utc>>,
    pub questionnaire: String,
    pub wording_sha256: String,
    pub scores: Option<Scores>,
}

pub(super) async fn submitted_view(app: &App, r: &ResponseRow) -> Result<Submitted> {
    let stored = store::responses::scores(&app.db, r.id).await?;
    let scores = stored.last().and_then(|s| scores_from_json(&s.results));
    Ok(Submitted {
        response_id: r.id,
        status: r.status,
        submitted_at: r.submitted_at.unwrap_or(r.started_at),
        late: r.late,
        synced_late: r.synced_late,
        device_completed_at: r.device_completed_at,
        questionnaire: format!("{}@{}", r.questionnaire_key, r.questionnaire_version),
        wording_sha256: r.wording_sha256.clone(),
        scores,
    })
}

pub(super) fn scores_from_json(v: &Value) -> Option<Scores> {
    serde_json::from_value(v.clone()).ok()
}

/// Submit once. Same Idempotency-Key and body → the same result; the same key with another
/// body → 422; another submission → 409.
pub async fn submit(
    app: &App,
    pa: &ParticipantActor,
    visit: &str,
    key: &str,
    idempotency_key: &str,
    final_answers: Vec<Answer>,
    device: Device,
) -> Result<Submitted> {
    let p = participant(app, pa).await?;
    let request = Submission {
        visit: visit.into(),
        key: key.into(),
        idempotency_key: idempotency_key.into(),
        answers: final_answers,
        client_utc_offset_minutes: device.utc_offset_minutes,
        completed_on: None,
        entry_reason: None,
        device_completed_at: device.completed_at,
    };
    submit_as(app, &p, Entrant::participant(pa), request).await
}

/// What the participant's phone says about a submission.
#[derive(Debug, Clone, Copy, Default)]
pub struct Device {
    /// The phone's offset from UTC in minutes.
    pub utc_offset_minutes: Option<i32>,
    /// When *send* was pressed, by the phone's clock (a form finished offline).
    pub completed_at: Option<DateTime<Utc>>,
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
    /// When *send* was pressed, by the phone's clock (`late_offline`).
    pub device_completed_at: Option<DateTime<Utc>>,
}

/// A submission for a response that is already submitted: the same key and body get the same
/// result (idempotent retry); anything else is a conflict.
pub(super) async fn resubmitted(
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
        // draft-ietf-httpapi-idempotency-key-header §2.7: a key reused with another payload is
        // 422, the request itself being wrong (not a conflict with the resource's state).
        Err(Error::Unprocessable {
            code: Code::IdempotencyConflict,
            message: "this Idempotency-Key was used with a different body".into(),
        })
    } else {
        Err(Error::Conflict {
            code: Code::AlreadySubmitted,
            message: format!(
                "{} of visit {} was already submitted",
                r.questionnaire_key, r.visit_code
            ),
        })
    }
}

/// The submission's own fields: an idempotency key, a plausible time-zone offset.
fn check_request(idempotency_key: &str, client_utc_offset_minutes: Option<i32>) -> Result<()> {
    if idempotency_key.is_empty() || idempotency_key.len() > 200 {
        return Err(Error::operator(
            "Idempotency-Key",
            "send a unique key (1–200 characters) with every submission",
        ));
    }
    if client_utc_offset_minutes.is_some_and(|o| !(-14 * 60..=14 * 60).contains(&o)) {
        return Err(Error::operator(
            "client_utc_offset_minutes",
            "must be between -840 and 840",
        ));
    }
    Ok(())
}

/// Whether the visit takes this entry now (`entry::completion_date`, `entry::accepts`), as the
/// caller's error; `Ok(late)`.
fn entry_allowed(
    app: &App,
    v: &VisitView,
    mode: EntryMode,
    has_reason: bool,
    completed_on: Option<NaiveDate>,
    (today, enrolled_on): (NaiveDate, NaiveDate),
) -> Result<bool> {
    check_completion_date(mode, completed_on, (today, enrolled_on))?;
    let paper = completed_on
        .filter(|_| mode == EntryMode::Paper)
        .map(|d| entry::timing(app.study.time_zone, &v.window, d));
    entry::accepts(v.state, mode, has_reason, paper).map_err(|why| match why {
        entry::Refusal::OutsideWindow => Error::invalid(
            "completed_on",
            Problem::OutsideWindow {
                date: completed_on.unwrap_or(today),
                visit: v.code.clone(),
            },
        ),
        other => refused(v, other),
    })
}

/// A paper form's completion day (`entry::completion_date`), as the caller's error.
fn check_completion_date(
    mode: EntryMode,
    completed_on: Option<NaiveDate>,
    (today, enrolled_on): (NaiveDate, NaiveDate),
) -> Result<()> {
    match entry::completion_date(mode, completed_on, today, enrolled_on) {
        Ok(()) => Ok(()),
        Err(entry::DateRule::InTheFuture) => Err(Error::invalid(
            "completed_on",
            Problem::InTheFuture {
                date: completed_on.unwrap_or(today),
                today,
            },
        )),
        Err(entry::DateRule::BeforeEnrolment) => Err(Error::invalid(
            "completed_on",
            Problem::BeforeEnrolment {
                date: completed_on.unwrap_or(today),
                enrolled_on,
            },
        )),
        Err(entry::DateRule::OnlyPaper) => {
            Err(Error::invalid("completed_on", Problem::OnlyPaperHasDate))
        }
        Err(entry::DateRule::PaperNeedsDate) => {
            Err(Error::invalid("completed_on", Problem::PaperNeedsDate))
        }
    }
}

/// The flags of a form about to be submitted, and its days from the SSE (`entry::flags`).
pub(super) async fn assessment_flags<C: sea_orm::ConnectionTrait>(
    app: &App,
    db: &C,
    p: &ParticipantRow,
    v: &VisitView,
    mode: EntryMode,
    completed_on: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<(Vec<entry::ResponseFlag>, Option<i32>)> {
    use crate::domain::participant::{self as rule, EventKind};
    let events = crate::participants::events_of(db, p).await?;
    let day = completed_on.unwrap_or(today);
    let paper = completed_on
        .filter(|_| mode == EntryMode::Paper)
        .map(|d| entry::timing(app.study.time_zone, &v.window, d));
    let outside_window = match paper {
        Some(t) => matches!(t, entry::Timing::Before | entry::Timing::After),
        None => matches!(
            v.state,
            crate::domain::schedule::VisitState::Missed
                | crate::domain::schedule::VisitState::Partial
        ),
    };
    let baseline = app
        .study
        .visit_spec(&v.code)
        .is_some_and(|s| s.is_baseline());
    Ok(entry::flags(&entry::Assessment {
        day,
        outside_window,
        baseline,
        randomized_on: rule::randomized_on(&events),
        sse_on: v
            .sse_triggered
            .then(|| rule::find(&events, EventKind::Sse).map(|e| e.date))
            .flatten(),
        sse_target_days: app.study.protocol.sse_target_days,
    }))
}

/// Required items (rare in PRO instruments) must be answered, once per lesion in a group.
fn check_required(def: &Definition, lesions: &[String], valid: &[answers::Valid]) -> Result<()> {
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
                    code: Code::InvalidAnswer,
                    message: format!("item {}: required", placed.item.id),
                });
            }
        }
    }
    Ok(())
}

/// Score with the version's latest scoring file and store the result.
async fn store_scores(
    txn: &sea_orm::DatabaseTransaction,
    app: &App,
    r: &ResponseRow,
    valid: &[answers::Valid],
    now: DateTime<Utc>,
) -> Result<Option<Scores>> {
    let scores = latest_scores(app, r, valid)?;
    if let Some(s) = &scores {
        store::responses::insert_score(txn, score_row(r.id, s, now)).await?;
    }
    Ok(scores)
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
        device_completed_at,
    } = s;
    let (visit, key) = (visit.as_str(), key.as_str());
    let idempotency_key = idempotency_key.trim();
    check_request(idempotency_key, client_utc_offset_minutes)?;
    let request = canonical_json(&json!({ "answers": final_answers, "client_utc_offset_minutes": client_utc_offset_minutes, "completed_on": completed_on, "mode": who.mode, "device_completed_at": device_completed_at }))
        .map_err(|e| Error::Internal(e.to_string()))?;
    let request_sha = hex::encode(Sha256::digest(request.as_bytes()));
    let (v, version) = visit_and_version(app, p, visit, key).await?;
    let now = app.clock.now();
    let today = crate::domain::schedule::local_date(app.study.time_zone, now);
    // Reads that need no lock come before the write transaction (docs/benchmarks.md).
    let (mut flags, mut days_from_sse) =
        assessment_flags(app, &app.db, p, &v, who.mode, completed_on, today).await?;
    let txn = store::begin_write(&app.db).await?;
    let found = store::responses::find_for_update(&txn, p.id, visit, key).await?;
    if let Some(r) = &found
        && r.status != ResponseStatus::Draft
    {
        drop(txn);
        return resubmitted(app, r, idempotency_key, &request_sha).await;
    }
    let entry_reason = entry_reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    let days = (today, p.enrolled_on);
    let has_reason = entry_reason.is_some();
    let allowed = entry_allowed(app, &v, who.mode, has_reason, completed_on, days);
    let opened = found.map(|r| r.started_at);
    let (late, device_completed_at, synced_late) =
        match late_offline::decide(&v, who.mode, device_completed_at, opened, now, allowed) {
            late_offline::Decision::Take {
                late,
                device,
                synced_late,
            } => (late, device, synced_late),
            late_offline::Decision::Refuse(e) => return Err(e),
            late_offline::Decision::Quarantine { device, why } => {
                drop(txn);
                let form = (key, version.as_str());
                let (answers, when) = (&final_answers, (device, why));
                let e = late_offline::quarantine(app, p, &who, &v, form, answers, when, now);
                return Err(e.await?);
            }
        };
    if synced_late {
        // Judged by the day the phone finished it, which is inside the window.
        let day = crate::domain::schedule::local_date(
            app.study.time_zone,
            device_completed_at.unwrap_or(now),
        );
        (flags, days_from_sse) = late_offline::flags_in_window(
            assessment_flags(app, &txn, p, &v, who.mode, None, day).await?,
        );
    }
    let (mut r, _) = start_or_load(&txn, app, p, visit, key, &version, now).await?;
    if r.status != ResponseStatus::Draft {
        // Submitted by a concurrent request since the check above.
        drop(txn);
        return resubmitted(app, &r, idempotency_key, &request_sha).await;
    }
    let def = definition(app, &r)?;
    let lesions = lesion_ids(&r);
    answers::validate(def, &final_answers, Some(&lesions)).map_err(invalid)?;
    let current = as_answers(&store::responses::answers(&txn, r.id).await?);
    let (merged, changes) = merge(def, &current, &final_answers);
    let valid = answers::validate(def, &merged, Some(&lesions)).map_err(invalid)?;
    // A form with something to ask (items outside per-lesion groups, or a lesion to ask about)
    // is received only when at least one item is answered.
    let askable = !lesions.is_empty() || def.all_items().iter().any(|p| p.group.is_none());
    if askable && !answers::any_answered(&valid) {
        return Err(Error::Unprocessable {
            code: Code::EmptyResponse,
            message: format!(
                "{key}: no item is answered; a questionnaire that was not done is recorded as \
                 missed (with a reason), not sent empty"
            ),
        });
    }
    check_required(def, &lesions, &valid)?;
    write_changes(&txn, &r, &changes, &who, now).await?;
    let scores = store_scores(&txn, app, &r, &valid, now).await?;
    let stored = store::responses::answer_facts(&txn, r.id).await?;
    let answers_sha256 = audit_rule::answers_digest(&stored);
    r.status = ResponseStatus::Completed;
    r.submitted_at = Some(now);
    r.late = late;
    r.mode = Some(EntryMode::of_answers(stored.iter().map(|a| a.mode)).unwrap_or(who.mode));
    r.completed_on = completed_on;
    r.entry_reason = entry_reason.clone();
    r.flags = store::Json(flags.iter().map(|f| f.to_string()).collect());
    r.days_from_sse = days_from_sse;
    r.device_completed_at = device_completed_at;
    r.synced_late = synced_late;
    r.client_utc_offset_minutes = client_utc_offset_minutes;
    r.idempotency_key = Some(idempotency_key.into());
    r.request_sha256 = Some(request_sha);
    r.revision += 1;
    store::responses::update(&txn, r.clone()).await?;
    crate::participants::recheck_visit(&txn, app, p, visit, now).await?;
    crate::fhir::subscriptions::enqueue(&txn, app, p, &r, now).await?;
    let facts = audit::response_facts(&txn, r.id).await?;
    // The audit chain's lock is taken last and held only until the commit.
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(who.actor.clone(), "response.submitted", "response").entity(r.id).after(json!({
            "participant": p.study_id, "visit": visit, "questionnaire": format!("{key}@{}", r.questionnaire_version),
            "language": r.language, "wording_sha256": r.wording_sha256, "late": late, "mode": r.mode,
            "answered": merged.len(), "changes": changes, "scoring": scores.as_ref().map(|s| s.scoring.clone()),
            "completed_on": completed_on, "answers_sha256": answers_sha256,
            "flags": r.flags.0, "days_from_sse": days_from_sse, "facts": facts,
        }))
        .reason(entry_reason.unwrap_or_default()),
    )
    .await?;
    txn.commit().await?;
    crate::telemetry::metrics::submitted(r.mode.unwrap_or(who.mode).as_str());
    Ok(Submitted {
        response_id: r.id,
        status: r.status,
        submitted_at: now,
        late,
        synced_late,
        device_completed_at,
        questionnaire: format!("{key}@{}", r.questionnaire_version),
        wording_sha256: r.wording_sha256,
        scores,
    })
}

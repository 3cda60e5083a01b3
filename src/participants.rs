//! Participants: enrolment (site-scoped), contact data sealed at rest, events and the status
//! they imply, corrections by data managers, high-risk lesions, and the stored visit schedule
//! (created at enrolment and randomization, moved by corrections only while not yet open,
//! reshaped by the SSE rule). Contact data never enters logs or the audit trail.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DatabaseTransaction;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    app::App,
    audit::{self, Entry},
    auth::{self, StaffActor},
    domain::{
        audit::Actor,
        lesions,
        participant::{self as rule, Event, EventKind, SseType, Status},
        permissions::Action,
        schedule::{self, Anchor, VisitFacts, VisitState, Window},
    },
    error::{Error, Result},
    keys::sealed,
    store::{
        self,
        participants::{ContactRow, EventRow, LesionRow, ParticipantRow, VisitRow},
        responses::ResponseRow,
    },
};

pub fn parse_date(field: &str, s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| Error::invalid(field, format!("{s:?} is not a date as YYYY-MM-DD")))
}

fn today(app: &App) -> NaiveDate {
    schedule::local_date(app.study.time_zone, app.clock.now())
}

fn not_found(study_id: &str) -> Error {
    Error::Unknown {
        code: "unknown_participant",
        message: format!("no participant {study_id:?} on your sites"),
    }
}

/// Load a participant the actor may act on for `action`; another site's participant answers
/// 404 (so ids do not leak), a role without the permission 403. `lock` locks the row for the
/// rest of a write transaction. The one way every staff service finds a participant.
pub async fn for_staff<C: sea_orm::ConnectionTrait>(
    db: &C,
    actor: &StaffActor,
    action: Action,
    study_id: &str,
    lock: bool,
) -> Result<ParticipantRow> {
    // Roles with no access at all are refused before anything is looked up.
    if crate::domain::permissions::access(actor.role, action)
        == crate::domain::permissions::Access::Denied
    {
        auth::authorize(actor, action, None)?;
    }
    let p = if lock {
        store::participants::find_for_update(db, study_id).await?
    } else {
        store::participants::find(db, study_id).await?
    }
    .ok_or_else(|| not_found(study_id))?;
    auth::authorize(actor, action, Some(&p.site_code)).map_err(|e| match e {
        Error::NotFound(_) => not_found(study_id),
        other => other,
    })?;
    Ok(p)
}

fn to_events(rows: &[EventRow]) -> Vec<Event> {
    rows.iter()
        .filter_map(|r| {
            Some(Event {
                id: r.id.to_string(),
                kind: EventKind::parse(&r.kind)?,
                date: r.event_date,
                recorded_at: r.recorded_at,
                entered_in_error: r.entered_in_error,
            })
        })
        .collect()
}

fn window_of(v: &VisitRow) -> Window {
    Window {
        target: v.target_date,
        start: v.window_start,
        end: v.window_end,
        grace_end: v.grace_end,
    }
}

fn window_json(w: &Window) -> Value {
    json!({ "target": w.target, "start": w.start, "end": w.end, "grace_end": w.grace_end })
}

fn set_window(v: &mut VisitRow, w: Window) {
    v.target_date = w.target;
    v.window_start = w.start;
    v.window_end = w.end;
    v.grace_end = w.grace_end;
}

// ---------- views ----------

#[derive(Debug, Clone)]
pub struct ParticipantView {
    pub study_id: String,
    pub site: String,
    pub language: String,
    pub enrolled_on: NaiveDate,
    pub randomization_date: Option<NaiveDate>,
    pub status: Status,
    pub has_email: bool,
    pub has_phone: bool,
    /// Only for the participant's own site staff.
    pub email: Option<String>,
    pub phone: Option<String>,
    pub active_lesions: usize,
    pub events: Vec<EventRow>,
}

#[derive(Debug, Clone)]
pub struct VisitView {
    pub code: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub window: Window,
    pub state: VisitState,
    pub sse_triggered: bool,
    pub missed_reason: Option<String>,
    pub questionnaires: Vec<String>,
}

async fn view(app: &App, actor: &StaffActor, p: &ParticipantRow) -> Result<ParticipantView> {
    let events = store::participants::events(&app.db, p.id).await?;
    let evs = to_events(&events);
    let visits = store::participants::visits(&app.db, p.id).await?;
    let contact = store::participants::contact(&app.db, p.id).await?;
    let may_see_contact =
        auth::authorize(actor, Action::ParticipantContact, Some(&p.site_code)).is_ok();
    let open = |field: &str, sealed_value: &Option<String>| -> Option<String> {
        let s = sealed_value.as_ref()?;
        sealed::open(&app.keys.data, s, &format!("{}:{field}", p.id)).ok()
    };
    let lesions = store::participants::lesions(&app.db, p.id).await?;
    Ok(ParticipantView {
        study_id: p.study_id.clone(),
        site: p.site_code.clone(),
        language: p.language.clone(),
        enrolled_on: p.enrolled_on,
        randomization_date: rule::randomized_on(&evs),
        status: rule::status(&evs, follow_up_over(&visits, app.clock.now())),
        has_email: contact.as_ref().is_some_and(|c| c.email_sealed.is_some()),
        has_phone: contact.as_ref().is_some_and(|c| c.phone_sealed.is_some()),
        email: may_see_contact
            .then(|| {
                contact
                    .as_ref()
                    .and_then(|c| open("email", &c.email_sealed))
            })
            .flatten(),
        phone: may_see_contact
            .then(|| {
                contact
                    .as_ref()
                    .and_then(|c| open("phone", &c.phone_sealed))
            })
            .flatten(),
        active_lesions: lesions.iter().filter(|l| l.active).count(),
        events,
    })
}

/// Visit views and status from records loaded in bulk (`store::bulk`); nothing is stored.
pub fn views_from(
    app: &App,
    visits: &[VisitRow],
    events: &[EventRow],
    responses: &[ResponseRow],
    now: DateTime<Utc>,
) -> (Vec<VisitView>, String) {
    let evs = to_events(events);
    let views = visit_views(app, visits, &evs, responses, now)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let status = rule::status(&evs, follow_up_over(visits, now))
        .as_str()
        .to_string();
    (views, status)
}

/// The participant's status (on study, withdrawn, …) at `now`.
pub async fn status_of<C: sea_orm::ConnectionTrait>(
    db: &C,
    p: &ParticipantRow,
    now: DateTime<Utc>,
) -> Result<String> {
    let evs = to_events(&store::participants::events(db, p.id).await?);
    let visits = store::participants::visits(db, p.id).await?;
    Ok(rule::status(&evs, follow_up_over(&visits, now))
        .as_str()
        .to_string())
}

/// Follow-up is over once the last visit's grace period has passed.
fn follow_up_over(visits: &[VisitRow], now: DateTime<Utc>) -> bool {
    visits.len() > 1
        && visits
            .last()
            .and_then(|v| v.grace_end)
            .is_some_and(|g| g <= now)
}

// ---------- enrolment ----------

pub struct NewParticipant {
    pub study_id: String,
    pub site: String,
    pub language: String,
    pub randomization_date: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

pub async fn enrol(app: &App, actor: &StaffActor, new: NewParticipant) -> Result<ParticipantView> {
    let site = new.site.trim().to_uppercase();
    auth::authorize(actor, Action::ParticipantEnrol, None)?;
    if app.study.site(&site).is_none() {
        return Err(Error::invalid("site", format!("unknown site {site:?}")));
    }
    auth::authorize(actor, Action::ParticipantEnrol, Some(&site))
        .map_err(|_| Error::invalid("site", format!("you do not work at site {site}")))?;
    if store::study::disabled_sites(&app.db).await?.contains(&site) {
        return Err(Error::Conflict {
            code: "site_disabled",
            message: format!("site {site} is disabled; it enrols no new participants"),
        });
    }
    let study_id = new.study_id.trim().to_string();
    app.study
        .check_study_id(&study_id, &site)
        .map_err(|m| Error::invalid("study_id", m))?;
    if !app.study.languages.contains(&new.language) {
        return Err(Error::invalid(
            "language",
            format!(
                "{:?} is not a study language ({})",
                new.language,
                app.study.languages.join(", ")
            ),
        ));
    }
    let email = match new
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        Some(e) => Some(
            crate::domain::contact::ParticipantEmail::parse(e)
                .map_err(|m| Error::invalid("email", m))?
                .as_str()
                .to_string(),
        ),
        None => None,
    };
    let phone = new
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    if phone.as_ref().is_some_and(|p| {
        p.len() > 40
            || !p
                .chars()
                .all(|c| c.is_ascii_digit() || " +-()./".contains(c))
    }) {
        return Err(Error::invalid(
            "phone",
            "may contain only digits, spaces and + - ( ) . /",
        ));
    }
    let randomization = new
        .randomization_date
        .as_deref()
        .map(|d| parse_date("randomization_date", d))
        .transpose()?;
    let now = app.clock.now();
    let enrolled_on = today(app);
    if let Some(r) = randomization {
        rule::check_new(EventKind::Randomization, r, &[], enrolled_on, enrolled_on).map_err(
            |(f, m)| {
                Error::invalid(
                    if f == "date" {
                        "randomization_date".into()
                    } else {
                        f
                    },
                    m,
                )
            },
        )?;
    }
    let id = Uuid::new_v4();
    let row = ParticipantRow {
        id,
        study_id: study_id.clone(),
        site_code: site.clone(),
        language: new.language.clone(),
        enrolled_on,
        created_at: now,
    };
    let txn = store::begin_write(&app.db).await?;
    store::participants::insert(&txn, row.clone())
        .await
        .map_err(|e| match e {
            store::StoreError::Duplicate(_) => Error::Conflict {
                code: "study_id_taken",
                message: format!("participant {study_id} already exists"),
            },
            other => other.into(),
        })?;
    let mut contact_fields = vec![];
    if email.is_some() || phone.is_some() {
        let seal = |field: &str, v: &Option<String>| {
            v.as_ref()
                .map(|v| sealed::seal(&app.keys.data, v, &format!("{id}:{field}")))
        };
        store::participants::save_contact(
            &txn,
            ContactRow {
                participant_id: id,
                email_sealed: seal("email", &email),
                phone_sealed: seal("phone", &phone),
            },
        )
        .await?;
        if email.is_some() {
            contact_fields.push("email");
        }
        if phone.is_some() {
            contact_fields.push("phone");
        }
    }
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "participant.enrolled", "participant")
            .entity(&study_id)
            .after(json!({ "site": site, "language": new.language, "enrolled_on": enrolled_on, "contact_fields": contact_fields })),
    )
    .await?;
    let by = actor.audit_actor();
    let staff = actor.id.to_string();
    let c = Change {
        txn: &txn,
        app,
        by: &by,
        staff: &staff,
        p: &row,
        now,
    };
    // Baseline visit, open from enrolment.
    if let Some(bl) = app
        .study
        .protocol
        .visits
        .iter()
        .find(|v| v.anchor == Anchor::Enrolment)
        && let Some(w) = schedule::plan(&app.study.protocol, bl, enrolled_on, None)
    {
        insert_visit(c, 0, &bl.code, &bl.questionnaires, w).await?;
    }
    if let Some(r) = randomization {
        record_in(
            c,
            EventKind::Randomization,
            r,
            "randomized at enrolment".into(),
            json!({}),
        )
        .await?;
    }
    txn.commit().await?;
    tracing::info!(participant = %study_id, site = %site, "participant enrolled");
    view(app, actor, &row).await
}

/// One write on one participant: the transaction, who acts (for the audit trail), and when.
#[derive(Clone, Copy)]
struct Change<'a> {
    txn: &'a DatabaseTransaction,
    app: &'a App,
    by: &'a Actor,
    /// Staff user id recorded on events.
    staff: &'a str,
    p: &'a ParticipantRow,
    now: DateTime<Utc>,
}

async fn insert_visit(
    c: Change<'_>,
    position: i32,
    code: &str,
    questionnaires: &[String],
    w: Window,
) -> Result<()> {
    let Change {
        txn,
        app,
        by,
        p,
        now,
        ..
    } = c;
    let id = Uuid::new_v4();
    store::participants::insert_visit(
        txn,
        VisitRow {
            id,
            participant_id: p.id,
            code: code.to_string(),
            position,
            target_date: w.target,
            window_start: w.start,
            window_end: w.end,
            grace_end: w.grace_end,
            sse_triggered: false,
            final_state: None,
            final_cause: None,
            missed_reason: None,
            questionnaires: serde_json::to_string(questionnaires).unwrap_or_else(|_| "[]".into()),
        },
    )
    .await?;
    audit::record(
        txn,
        &app.keys.audit,
        now,
        Entry::new(by.clone(), "visit.scheduled", "visit")
            .entity(format!("{}/{code}", p.study_id))
            .after(window_json(&w)),
    )
    .await?;
    Ok(())
}

async fn update_visit(
    c: Change<'_>,
    before: &VisitRow,
    after: VisitRow,
    action: &'static str,
    reason: Option<&str>,
) -> Result<()> {
    let Change {
        txn,
        app,
        by,
        p,
        now,
        ..
    } = c;
    let describe = |v: &VisitRow| json!({ "window": window_json(&window_of(v)), "sse_triggered": v.sse_triggered, "final_state": v.final_state, "missed_reason": v.missed_reason });
    let mut entry = Entry::new(by.clone(), action, "visit")
        .entity(format!("{}/{}", p.study_id, before.code))
        .before(describe(before))
        .after(describe(&after));
    if let Some(r) = reason {
        entry = entry.reason(r);
    }
    store::participants::update_visit(txn, after).await?;
    audit::record(txn, &app.keys.audit, now, entry).await?;
    Ok(())
}

// ---------- reading ----------

pub async fn list(
    app: &App,
    actor: &StaffActor,
    site: Option<String>,
    status: Option<String>,
) -> Result<Vec<ParticipantView>> {
    auth::authorize(actor, Action::ParticipantRead, None)?;
    let wanted = status
        .as_deref()
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                let all: Vec<_> = Status::ALL.iter().map(|s| s.as_str()).collect();
                Error::invalid("status", format!("{s:?} is not one of {}", all.join(", ")))
            })
        })
        .transpose()?;
    let scope = crate::auth::site_scope(actor, site);
    let rows = store::participants::list(&app.db, scope.as_deref()).await?;
    let mut out = Vec::new();
    for p in rows {
        let v = view(app, actor, &p).await?;
        if wanted.is_none_or(|w| w == v.status) {
            out.push(v);
        }
    }
    Ok(out)
}

pub async fn get(app: &App, actor: &StaffActor, study_id: &str) -> Result<ParticipantView> {
    let p = for_staff(&app.db, actor, Action::ParticipantRead, study_id, false).await?;
    view(app, actor, &p).await
}

/// Submitted questionnaires of a visit as `key@version` with their submission instant.
pub fn submitted_for(responses: &[ResponseRow], visit: &str) -> Vec<(String, DateTime<Utc>)> {
    responses
        .iter()
        .filter(|r| r.visit_code == visit && (r.status == "completed" || r.status == "amended"))
        .filter_map(|r| {
            r.submitted_at.map(|at| {
                (
                    format!("{}@{}", r.questionnaire_key, r.questionnaire_version),
                    at,
                )
            })
        })
        .collect()
}

/// The participant's visits with their states at `now` (nothing stored).
pub async fn current_views<C: sea_orm::ConnectionTrait>(
    db: &C,
    app: &App,
    p: &ParticipantRow,
    now: DateTime<Utc>,
) -> Result<Vec<VisitView>> {
    let evs = to_events(&store::participants::events(db, p.id).await?);
    let visits = store::participants::visits(db, p.id).await?;
    let responses = store::responses::of_participant(db, p.id).await?;
    Ok(visit_views(app, &visits, &evs, &responses, now)
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// Each stored visit with its state at `now` (pure over what was loaded).
fn visit_views(
    app: &App,
    visits: &[VisitRow],
    events: &[Event],
    responses: &[ResponseRow],
    now: DateTime<Utc>,
) -> Vec<(VisitRow, VisitView)> {
    let stop = rule::questionnaires_end(events, app.study.time_zone);
    visits
        .iter()
        .map(|v| {
            let due: Vec<String> = serde_json::from_str(&v.questionnaires).unwrap_or_default();
            let submitted = submitted_for(responses, &v.code);
            let state = schedule::state(
                &VisitFacts {
                    window: window_of(v),
                    stored: v.final_state.as_deref().and_then(VisitState::parse),
                    due: &due,
                    submitted: &submitted,
                    missed_reason: v.missed_reason.is_some(),
                    questionnaires_end: stop,
                },
                now,
            );
            let view = VisitView {
                labels: app
                    .study
                    .visit_labels
                    .get(&v.code)
                    .cloned()
                    .unwrap_or_default(),
                code: v.code.clone(),
                window: window_of(v),
                state,
                sse_triggered: v.sse_triggered,
                missed_reason: v.missed_reason.clone(),
                questionnaires: due,
            };
            (v.clone(), view)
        })
        .collect()
}

/// The schedule with each visit's state now; final states reached since the last look are
/// stored (and audited, as the system's doing), never recomputed afterwards.
pub async fn schedule(app: &App, actor: &StaffActor, study_id: &str) -> Result<Vec<VisitView>> {
    let p = for_staff(&app.db, actor, Action::ParticipantRead, study_id, false).await?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let evs = to_events(&store::participants::events(&txn, p.id).await?);
    let visits = store::participants::visits(&txn, p.id).await?;
    let responses = store::responses::of_participant(&txn, p.id).await?;
    let system = Actor::system();
    let c = Change {
        txn: &txn,
        app,
        by: &system,
        staff: "",
        p: &p,
        now,
    };
    let mut out = Vec::new();
    for (row, view) in visit_views(app, &visits, &evs, &responses, now) {
        if view.state.is_final() && row.final_state.is_none() {
            let mut after = row.clone();
            after.final_state = Some(view.state.as_str().into());
            update_visit(c, &row, after, "visit.state_recorded", None).await?;
        }
        out.push(view);
    }
    txn.commit().await?;
    Ok(out)
}

/// The schedule as at the app clock's instant, for the operator's CLI; nothing is stored.
pub async fn schedule_as_of(app: &App, study_id: &str) -> Result<Vec<VisitView>> {
    let p = store::participants::find(&app.db, study_id)
        .await?
        .ok_or_else(|| not_found(study_id))?;
    current_views(&app.db, app, &p, app.clock.now()).await
}

/// A changed study file applies only to visits whose window has not opened (and that are not
/// final or SSE visits); each moved visit is audited as the system's doing.
pub async fn apply_amendment(app: &App) -> Result<usize> {
    let now = app.clock.now();
    let mut moved = 0;
    for p in store::participants::list(&app.db, None).await? {
        let txn = store::begin_write(&app.db).await?;
        let evs = to_events(&store::participants::events(&txn, p.id).await?);
        let visits = store::participants::visits(&txn, p.id).await?;
        let system = Actor::system();
        let c = Change {
            txn: &txn,
            app,
            by: &system,
            staff: "",
            p: &p,
            now,
        };
        for v in visits
            .iter()
            .filter(|v| v.window_start > now && v.final_state.is_none() && !v.sse_triggered)
        {
            let Some(spec) = app.study.visit_spec(&v.code) else {
                continue;
            };
            let Some(w) = schedule::plan(
                &app.study.protocol,
                spec,
                p.enrolled_on,
                rule::randomized_on(&evs),
            ) else {
                continue;
            };
            let mut after = v.clone();
            set_window(&mut after, w);
            after.questionnaires =
                serde_json::to_string(&spec.questionnaires).unwrap_or_else(|_| "[]".into());
            if after != *v {
                update_visit(c, v, after, "visit.rescheduled", Some("protocol amendment")).await?;
                moved += 1;
            }
        }
        txn.commit().await?;
    }
    Ok(moved)
}

// ---------- events ----------

pub struct NewEvent {
    pub kind: String,
    pub date: String,
    pub reason: String,
    pub sse_type: Option<String>,
    pub lesion: Option<String>,
}

pub async fn record_event(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    new: NewEvent,
) -> Result<EventRow> {
    auth::authorize(actor, Action::ParticipantUpdate, None)?;
    let kind = EventKind::parse(&new.kind).ok_or_else(|| {
        let all: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        Error::invalid(
            "type",
            format!("{:?} is not one of {}", new.kind, all.join(", ")),
        )
    })?;
    let date = parse_date("date", &new.date)?;
    if new.reason.trim().is_empty() {
        return Err(Error::invalid("reason", "a reason is required"));
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let p = for_staff(&txn, actor, Action::ParticipantUpdate, study_id, true).await?;
    let rows = store::participants::events(&txn, p.id).await?;
    rule::check_new(kind, date, &to_events(&rows), p.enrolled_on, today(app)).map_err(
        |(f, m)| Error::Unprocessable {
            code: "invalid_event",
            message: format!("{f}: {m}"),
        },
    )?;
    let mut details = json!({});
    if kind == EventKind::Sse {
        let t = new
            .sse_type
            .as_deref()
            .ok_or_else(|| Error::invalid("sse_type", "required for an SSE"))?;
        let t = SseType::parse(t).ok_or_else(|| {
            let all: Vec<_> = SseType::ALL.iter().map(|k| k.as_str()).collect();
            Error::invalid(
                "sse_type",
                format!("{t:?} is not one of {}", all.join(", ")),
            )
        })?;
        details["sse_type"] = json!(t.as_str());
        if let Some(l) = &new.lesion {
            let lesions = store::participants::lesions(&txn, p.id).await?;
            if !lesions.iter().any(|x| x.id.to_string() == *l) {
                return Err(Error::invalid(
                    "lesion",
                    format!("{l:?} is not one of the participant's lesions"),
                ));
            }
            details["lesion"] = json!(l);
        }
    } else if new.sse_type.is_some() || new.lesion.is_some() {
        return Err(Error::invalid(
            "sse_type",
            "only an SSE takes sse_type and lesion",
        ));
    }
    let by = actor.audit_actor();
    let staff = actor.id.to_string();
    let c = Change {
        txn: &txn,
        app,
        by: &by,
        staff: &staff,
        p: &p,
        now,
    };
    let row = record_in(c, kind, date, new.reason.trim().to_string(), details).await?;
    txn.commit().await?;
    Ok(row)
}

/// Store an event and apply what it means for the schedule, in the caller's transaction.
async fn record_in(
    c: Change<'_>,
    kind: EventKind,
    date: NaiveDate,
    reason: String,
    details: Value,
) -> Result<EventRow> {
    let Change {
        txn,
        app,
        by,
        staff,
        p,
        now,
    } = c;
    let row = EventRow {
        id: Uuid::new_v4(),
        participant_id: p.id,
        kind: kind.as_str().into(),
        event_date: date,
        details: details.to_string(),
        reason: reason.clone(),
        recorded_at: now,
        recorded_by: staff.to_string(),
        entered_in_error: false,
    };
    store::participants::insert_event(txn, row.clone()).await?;
    let mut after = json!({ "type": kind.as_str(), "date": date, "event": row.id });
    if let Some(o) = details.as_object() {
        for (k, v) in o {
            after[k] = v.clone();
        }
    }
    audit::record(
        txn,
        &app.keys.audit,
        now,
        Entry::new(by.clone(), "participant.event_recorded", "participant")
            .entity(&p.study_id)
            .after(after)
            .reason(reason),
    )
    .await?;
    apply_effects(c, &row).await?;
    Ok(row)
}

/// What a (valid) event does to the schedule and the participant's data.
async fn apply_effects(c: Change<'_>, event: &EventRow) -> Result<()> {
    let Change {
        txn, app, p, now, ..
    } = c;
    let Some(kind) = EventKind::parse(&event.kind) else {
        return Ok(());
    };
    let evs = to_events(&store::participants::events(txn, p.id).await?);
    let protocol = &app.study.protocol;
    let visits = store::participants::visits(txn, p.id).await?;
    match kind {
        EventKind::Randomization => {
            let r = event.event_date;
            for (position, spec) in protocol.visits.iter().enumerate() {
                let Some(w) = schedule::plan(protocol, spec, p.enrolled_on, Some(r)) else {
                    continue;
                };
                match visits.iter().find(|v| v.code == spec.code) {
                    None => {
                        insert_visit(c, position as i32, &spec.code, &spec.questionnaires, w)
                            .await?
                    }
                    // Baseline learns when it ends; other visits move only while not yet open.
                    Some(v)
                        if v.final_state.is_none()
                            && !v.sse_triggered
                            && (v.window_start > now
                                || (spec.anchor == Anchor::Enrolment
                                    && v.window_end.is_none())) =>
                    {
                        let mut after = v.clone();
                        if spec.anchor == Anchor::Enrolment && v.window_start <= now {
                            after.window_end = w.end;
                            after.grace_end = w.grace_end;
                        } else {
                            set_window(&mut after, w);
                        }
                        if after != *v {
                            update_visit(
                                c,
                                v,
                                after,
                                "visit.rescheduled",
                                Some("randomization date"),
                            )
                            .await?;
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        EventKind::Sse => {
            // Only the first SSE reshapes the schedule; later ones are recorded as events.
            if rule::find(&evs, EventKind::Sse)
                .is_some_and(|first| first.id != event.id.to_string())
            {
                return Ok(());
            }
            let follow_ups: Vec<&VisitRow> = visits.iter().filter(|v| v.position > 0).collect();
            let keyed: Vec<(NaiveDate, Option<VisitState>)> = follow_ups
                .iter()
                .map(|v| {
                    (
                        v.target_date,
                        v.final_state.as_deref().and_then(VisitState::parse),
                    )
                })
                .collect();
            if let Some(i) = schedule::sse_visit_index(&keyed, event.event_date) {
                let v = follow_ups[i];
                let grace = app.study.visit_spec(&v.code).map_or(7, |s| s.grace_days);
                let mut after = v.clone();
                set_window(
                    &mut after,
                    schedule::sse_window(protocol, event.event_date, event.recorded_at, grace),
                );
                after.sse_triggered = true;
                update_visit(
                    c,
                    v,
                    after,
                    "visit.sse_triggered",
                    Some("symptomatic skeletal event"),
                )
                .await?;
                for later in follow_ups
                    .iter()
                    .skip(i + 1)
                    .filter(|l| l.final_state.is_none())
                {
                    let mut after = (*later).clone();
                    after.final_state = Some(VisitState::NotApplicable.as_str().into());
                    after.final_cause = Some(event.id.to_string());
                    update_visit(
                        c,
                        later,
                        after,
                        "visit.not_applicable",
                        Some("after an SSE only survival follow-up remains"),
                    )
                    .await?;
                }
            }
        }
        EventKind::ProDiscontinued | EventKind::Withdrawal | EventKind::Death => {
            let stop = rule::questionnaires_end(&evs, app.study.time_zone);
            for v in visits.iter().filter(|v| v.final_state.is_none()) {
                let due: Vec<String> = serde_json::from_str(&v.questionnaires).unwrap_or_default();
                let state = schedule::state(
                    &VisitFacts {
                        window: window_of(v),
                        stored: None,
                        due: &due,
                        submitted: &[],
                        missed_reason: v.missed_reason.is_some(),
                        questionnaires_end: stop,
                    },
                    now,
                );
                if state.is_final() {
                    let mut after = v.clone();
                    after.final_state = Some(state.as_str().into());
                    after.final_cause = Some(event.id.to_string());
                    update_visit(c, v, after, "visit.not_applicable", Some(kind.as_str())).await?;
                }
            }
            if kind.ends_participation() {
                purge_contact(c, kind.as_str()).await?;
                crate::access::revoke_all(txn, app, c.by, p, kind.as_str(), now).await?;
            }
        }
    }
    Ok(())
}

async fn purge_contact(c: Change<'_>, why: &str) -> Result<()> {
    let Change {
        txn,
        app,
        by,
        p,
        now,
        ..
    } = c;
    let Some(c) = store::participants::contact(txn, p.id).await? else {
        return Ok(());
    };
    let mut fields = vec![];
    if c.email_sealed.is_some() {
        fields.push("email");
    }
    if c.phone_sealed.is_some() {
        fields.push("phone");
    }
    if fields.is_empty() {
        return Ok(());
    }
    store::participants::save_contact(
        txn,
        ContactRow {
            participant_id: p.id,
            email_sealed: None,
            phone_sealed: None,
        },
    )
    .await?;
    audit::record(
        txn,
        &app.keys.audit,
        now,
        Entry::new(by.clone(), "participant.contact_purged", "participant")
            .entity(&p.study_id)
            .before(json!({ "fields": fields }))
            .after(json!({ "fields": [] }))
            .reason(why),
    )
    .await?;
    Ok(())
}

/// Undo what an event did to the schedule (before a correction or entered-in-error).
async fn undo_effects(c: Change<'_>, event: &EventRow) -> Result<()> {
    let Change { txn, app, p, .. } = c;
    let visits = store::participants::visits(txn, p.id).await?;
    let cause = event.id.to_string();
    for v in visits
        .iter()
        .filter(|v| v.final_cause.as_deref() == Some(cause.as_str()))
    {
        let mut after = v.clone();
        after.final_state = None;
        after.final_cause = None;
        update_visit(c, v, after, "visit.restored", Some("event corrected")).await?;
    }
    if event.kind == EventKind::Sse.as_str() {
        let evs = to_events(&store::participants::events(txn, p.id).await?);
        for v in visits.iter().filter(|v| v.sse_triggered) {
            let Some(spec) = app.study.visit_spec(&v.code) else {
                continue;
            };
            let Some(w) = schedule::plan(
                &app.study.protocol,
                spec,
                p.enrolled_on,
                rule::randomized_on(&evs),
            ) else {
                continue;
            };
            let mut after = v.clone();
            after.sse_triggered = false;
            set_window(&mut after, w);
            update_visit(c, v, after, "visit.rescheduled", Some("SSE corrected")).await?;
        }
    }
    Ok(())
}

pub struct Correction {
    pub date: Option<String>,
    pub entered_in_error: bool,
    pub reason: String,
}

/// A data manager corrects an event's date or marks it entered-in-error; the schedule follows.
pub async fn correct_event(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    event_id: &str,
    correction: Correction,
) -> Result<EventRow> {
    let c = &correction;
    auth::authorize(actor, Action::ParticipantCorrect, None)?;
    if c.reason.trim().is_empty() {
        return Err(Error::invalid(
            "reason",
            "a reason is required for every correction",
        ));
    }
    if c.date.is_none() && !c.entered_in_error {
        return Err(Error::invalid(
            "date",
            "give a corrected date, or entered_in_error: true",
        ));
    }
    let new_date = c
        .date
        .as_deref()
        .map(|d| parse_date("date", d))
        .transpose()?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let p = for_staff(&txn, actor, Action::ParticipantCorrect, study_id, true).await?;
    let rows = store::participants::events(&txn, p.id).await?;
    let unknown = || Error::Unknown {
        code: "unknown_event",
        message: format!("participant {study_id} has no event {event_id:?}"),
    };
    let before = rows
        .iter()
        .find(|r| r.id.to_string() == event_id)
        .cloned()
        .ok_or_else(unknown)?;
    if before.entered_in_error {
        return Err(Error::Conflict {
            code: "event_entered_in_error",
            message: "this event is already marked entered-in-error".into(),
        });
    }
    let kind = EventKind::parse(&before.kind).ok_or_else(unknown)?;
    let mut after = before.clone();
    after.entered_in_error = c.entered_in_error;
    if let Some(d) = new_date {
        // The corrected date must satisfy the same rules as a new event, against the others.
        let others: Vec<Event> = to_events(&rows)
            .into_iter()
            .filter(|e| e.id != event_id)
            .collect();
        rule::check_new(kind, d, &others, p.enrolled_on, today(app)).map_err(|(f, m)| {
            Error::Unprocessable {
                code: "invalid_event",
                message: format!("{f}: {m}"),
            }
        })?;
        after.event_date = d;
    }
    let by = actor.audit_actor();
    let staff = actor.id.to_string();
    let c = Change {
        txn: &txn,
        app,
        by: &by,
        staff: &staff,
        p: &p,
        now,
    };
    undo_effects(c, &before).await?;
    store::participants::update_event(&txn, after.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "participant.event_corrected", "participant")
            .entity(&p.study_id)
            .before(json!({ "event": before.id, "type": before.kind, "date": before.event_date, "entered_in_error": before.entered_in_error }))
            .after(json!({ "event": after.id, "type": after.kind, "date": after.event_date, "entered_in_error": after.entered_in_error }))
            .reason(correction.reason.trim()),
    )
    .await?;
    if !after.entered_in_error {
        apply_effects(c, &after).await?;
    }
    txn.commit().await?;
    Ok(after)
}

// ---------- lesions ----------

pub struct LesionInput {
    pub location: Option<String>,
    pub side: Option<String>,
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    pub detail: Option<String>,
    pub high_risk_reasons: Option<Vec<String>>,
    pub irradiation_date: Option<String>,
    pub active: Option<bool>,
}

fn lesion_json(l: &LesionRow) -> Value {
    json!({
        "location": l.location, "side": l.side,
        "labels": serde_json::from_str::<Value>(&l.labels).unwrap_or(Value::Null),
        "detail": l.detail,
        "high_risk_reasons": serde_json::from_str::<Value>(&l.high_risk_reasons).unwrap_or(Value::Null),
        "irradiation_date": l.irradiation_date, "active": l.active,
    })
}

fn check_labels(
    app: &App,
    labels: &std::collections::BTreeMap<String, String>,
    others: &[LesionRow],
) -> Result<()> {
    for lang in &app.study.languages {
        let label = labels.get(lang).map(|l| l.trim()).unwrap_or_default();
        if label.is_empty() {
            return Err(Error::invalid(
                format!("labels.{lang}"),
                "a plain-language label is required in every study language",
            ));
        }
        if label.chars().count() > 80 {
            return Err(Error::invalid(
                format!("labels.{lang}"),
                "at most 80 characters",
            ));
        }
        for o in others {
            let theirs: std::collections::BTreeMap<String, String> =
                serde_json::from_str(&o.labels).unwrap_or_default();
            if theirs
                .get(lang)
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(label))
            {
                return Err(Error::Conflict {
                    code: "duplicate_lesion_label",
                    message: format!(
                        "labels.{lang}: {label:?} is already used for another lesion of this participant"
                    ),
                });
            }
        }
    }
    if let Some(extra) = labels.keys().find(|k| !app.study.languages.contains(k)) {
        return Err(Error::invalid(
            format!("labels.{extra}"),
            "not a study language",
        ));
    }
    Ok(())
}

pub async fn add_lesion(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    input: LesionInput,
) -> Result<LesionRow> {
    auth::authorize(actor, Action::ParticipantUpdate, None)?;
    let location = input
        .location
        .clone()
        .ok_or_else(|| Error::invalid("location", "required"))?;
    let reasons = input.high_risk_reasons.clone().unwrap_or_default();
    let side = lesions::check(&location, input.side.as_deref(), &reasons)
        .map_err(|(f, m)| Error::invalid(f, m))?;
    let labels = input.labels.clone().unwrap_or_default();
    let irradiation = input
        .irradiation_date
        .as_deref()
        .map(|d| parse_date("irradiation_date", d))
        .transpose()?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let p = for_staff(&txn, actor, Action::ParticipantUpdate, study_id, true).await?;
    let existing = store::participants::lesions(&txn, p.id).await?;
    check_labels(app, &labels, &existing)?;
    let active = input.active.unwrap_or(true);
    if active && existing.iter().filter(|l| l.active).count() >= lesions::MAX_ACTIVE_LESIONS {
        return Err(Error::Unprocessable {
            code: "too_many_lesions",
            message: format!(
                "a participant has at most {} active high-risk lesions; deactivate one first",
                lesions::MAX_ACTIVE_LESIONS
            ),
        });
    }
    let row = LesionRow {
        id: Uuid::new_v4(),
        participant_id: p.id,
        location,
        side: side.map(|s| {
            if s == lesions::Side::Left {
                "left".into()
            } else {
                "right".into()
            }
        }),
        labels: serde_json::to_string(&labels).unwrap_or_default(),
        detail: input
            .detail
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty()),
        high_risk_reasons: serde_json::to_string(&reasons).unwrap_or_default(),
        irradiation_date: irradiation,
        registered_on: today(app),
        active,
        created_at: now,
    };
    store::participants::insert_lesion(&txn, row.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "lesion.added", "lesion")
            .entity(row.id)
            .after(json!({ "participant": p.study_id, "lesion": lesion_json(&row) })),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

pub async fn lesions(app: &App, actor: &StaffActor, study_id: &str) -> Result<Vec<LesionRow>> {
    let p = for_staff(&app.db, actor, Action::ParticipantRead, study_id, false).await?;
    Ok(store::participants::lesions(&app.db, p.id).await?)
}

pub async fn update_lesion(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    lesion_id: &str,
    input: LesionInput,
    reason: Option<String>,
) -> Result<LesionRow> {
    auth::authorize(actor, Action::ParticipantUpdate, None)?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let p = for_staff(&txn, actor, Action::ParticipantUpdate, study_id, true).await?;
    let all = store::participants::lesions(&txn, p.id).await?;
    let before = all
        .iter()
        .find(|l| l.id.to_string() == lesion_id)
        .cloned()
        .ok_or_else(|| Error::Unknown {
            code: "unknown_lesion",
            message: format!("participant {study_id} has no lesion {lesion_id:?}"),
        })?;
    let mut after = before.clone();
    if input.location.is_some() || input.side.is_some() || input.high_risk_reasons.is_some() {
        let location = input.location.clone().unwrap_or(before.location.clone());
        let side = input.side.clone().or(before.side.clone());
        let reasons = input
            .high_risk_reasons
            .clone()
            .unwrap_or_else(|| serde_json::from_str(&before.high_risk_reasons).unwrap_or_default());
        let side = lesions::check(&location, side.as_deref(), &reasons)
            .map_err(|(f, m)| Error::invalid(f, m))?;
        after.location = location;
        after.side = side.map(|s| {
            if s == lesions::Side::Left {
                "left".into()
            } else {
                "right".into()
            }
        });
        after.high_risk_reasons = serde_json::to_string(&reasons).unwrap_or_default();
    }
    if let Some(labels) = &input.labels {
        let others: Vec<LesionRow> = all.iter().filter(|l| l.id != before.id).cloned().collect();
        check_labels(app, labels, &others)?;
        after.labels = serde_json::to_string(labels).unwrap_or_default();
    }
    if let Some(d) = input.detail {
        after.detail = Some(d.trim().to_string()).filter(|d| !d.is_empty());
    }
    if let Some(d) = input.irradiation_date {
        after.irradiation_date = Some(parse_date("irradiation_date", &d)?);
    }
    if let Some(active) = input.active {
        if active
            && !before.active
            && all.iter().filter(|l| l.active).count() >= lesions::MAX_ACTIVE_LESIONS
        {
            return Err(Error::Unprocessable {
                code: "too_many_lesions",
                message: format!(
                    "a participant has at most {} active high-risk lesions",
                    lesions::MAX_ACTIVE_LESIONS
                ),
            });
        }
        after.active = active;
    }
    if after == before {
        return Ok(before);
    }
    store::participants::update_lesion(&txn, after.clone()).await?;
    let mut entry = Entry::new(actor.audit_actor(), "lesion.updated", "lesion")
        .entity(before.id)
        .before(lesion_json(&before))
        .after(lesion_json(&after));
    if let Some(r) = reason.filter(|r| !r.trim().is_empty()) {
        entry = entry.reason(r);
    }
    audit::record(&txn, &app.keys.audit, now, entry).await?;
    txn.commit().await?;
    Ok(after)
}

// ---------- end of trial, key rotation ----------

/// End of the trial: erase every participant's email and phone number (no more reminders can be
/// sent). Each erasure is audited per participant, without the values. Returns how many
/// participants had contact details.
pub async fn purge_contact_data(app: &App, reason: &str) -> Result<usize> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid(
            "reason",
            "say why (for example: end of follow-up, per protocol section …)",
        ));
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let mut n = 0;
    for (p, mut c) in store::participants::all_contacts(&txn).await? {
        let (had_email, had_phone) = (c.email_sealed.is_some(), c.phone_sealed.is_some());
        if !had_email && !had_phone {
            continue;
        }
        c.email_sealed = None;
        c.phone_sealed = None;
        store::participants::save_contact(&txn, c).await?;
        audit::record(
            &txn,
            &app.keys.audit,
            now,
            Entry::new(Actor::system(), "participant.contact_purged", "participant")
                .entity(&p.study_id)
                .before(json!({ "email": had_email, "phone": had_phone }))
                .after(json!({ "email": false, "phone": false }))
                .reason(reason),
        )
        .await?;
        n += 1;
    }
    txn.commit().await?;
    Ok(n)
}

/// Re-encrypt every contact detail from the current EPRO_DATA_KEY to `new`, in one transaction:
/// either all are moved or none. Afterwards the server must run with the new key.
pub async fn rotate_data_key(app: &App, new: &crate::keys::Key) -> Result<usize> {
    if new.bytes() == app.keys.data.bytes() {
        return Err(Error::invalid(
            "EPRO_NEW_DATA_KEY",
            "is the same as EPRO_DATA_KEY",
        ));
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let mut n = 0;
    for (p, mut c) in store::participants::all_contacts(&txn).await? {
        let reseal = |field: &str, value: &Option<String>| -> Result<Option<String>> {
            let aad = format!("{}:{field}", p.id);
            value
                .as_ref()
                .map(|v| {
                    sealed::open(&app.keys.data, v, &aad)
                        .map(|plain| sealed::seal(new, &plain, &aad))
                        .map_err(|_| {
                            Error::Internal(format!(
                                "{}'s {field} does not open with EPRO_DATA_KEY; nothing was changed",
                                p.study_id
                            ))
                        })
                })
                .transpose()
        };
        c.email_sealed = reseal("email", &c.email_sealed)?;
        c.phone_sealed = reseal("phone", &c.phone_sealed)?;
        store::participants::save_contact(&txn, c).await?;
        n += 1;
    }
    let fingerprint =
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(new.bytes()))[..16].to_string();
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(Actor::system(), "keys.data_key_rotated", "deployment")
            .after(json!({ "participants": n, "new_key_sha256_prefix": fingerprint })),
    )
    .await?;
    txn.commit().await?;
    Ok(n)
}

//! Participants: enrolment (site-scoped), contact data sealed at rest, events and the status
//! they imply, corrections by data managers, high-risk lesions, and the stored visit schedule
//! (created at enrolment and randomization, moved by corrections only while not yet open,
//! reshaped by the SSE rule). Contact data never enters logs or the audit trail.

mod contact;
mod enrol;
mod events;
mod lesions;
mod schedule;
mod visits;

use crate::domain::problem::Problem;
use contact::purge_contact;
pub use contact::{
    DetailsChange, data_key_opens, purge_contact_data, rotate_data_key, update_details,
};
pub use enrol::{NewParticipant, enrol};
use events::record_in;
pub use events::{Correction, NewEvent, correct_event, record_event};
pub use lesions::{LesionInput, add_lesion, lesions, update_lesion};
use schedule::visit_views;
pub use schedule::{
    apply_amendment, current_views, events_of, recheck_visit, schedule, schedule_as_of,
    submitted_for,
};
use visits::{Change, insert_visit, set_window, to_events, update_visit, window_of};

use chrono::{DateTime, NaiveDate, Utc};

use crate::{
    app::App,
    auth::{self, StaffActor},
    domain::{
        participant::{self as rule, Status},
        permissions::Action,
        schedule::{self as plan, VisitState, Window},
    },
    error::{Error, Result},
    keys::sealed,
    store::{
        self,
        participants::{EventRow, ParticipantRow, VisitRow},
        responses::ResponseRow,
    },
};

pub fn parse_date(field: &str, s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| Error::invalid(field, Problem::NotADate { given: s.into() }))
}

fn today(app: &App) -> NaiveDate {
    plan::local_date(app.study.time_zone, app.clock.now())
}

pub(crate) use crate::auth::{for_staff, unknown_participant as not_found};

// ---------- views ----------

#[derive(Debug, Clone)]
pub struct ParticipantView {
    pub study_id: String,
    pub site: String,
    pub language: String,
    pub enrolled_on: NaiveDate,
    pub randomization_date: Option<NaiveDate>,
    /// The arm recorded with the randomization (a study-file arm code).
    pub arm: Option<String>,
    pub status: Status,
    pub has_email: bool,
    pub has_phone: bool,
    pub reminder_channel: crate::domain::reminders::Channel,
    /// Only for the participant's own site staff.
    pub email: Option<String>,
    pub phone: Option<String>,
    pub active_lesions: usize,
    pub events: Vec<EventRow>,
}

#[derive(Debug, Clone)]
pub struct VisitView {
    pub code: String,
    pub labels: std::sync::Arc<std::collections::BTreeMap<String, String>>,
    pub window: Window,
    pub state: VisitState,
    pub sse_triggered: bool,
    pub missed_reason: Option<String>,
    /// Why single questionnaires were not done, by `key@version`.
    pub missed_forms: std::collections::BTreeMap<String, String>,
    /// Why the visit is not applicable (`death`, `withdrawal`, `pro_discontinued`, `sse`) or
    /// not expected (`before_registration`).
    pub cause: Option<String>,
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
        arm: arm_of(&events),
        status: rule::status(&evs, follow_up_over(&visits, app.clock.now())),
        has_email: contact.as_ref().is_some_and(|c| c.email_sealed.is_some()),
        has_phone: contact.as_ref().is_some_and(|c| c.phone_sealed.is_some()),
        reminder_channel: contact
            .as_ref()
            .and_then(|c| crate::domain::reminders::Channel::parse(&c.reminder_channel))
            .unwrap_or(crate::domain::reminders::Channel::Email),
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

/// The arm recorded with the participant's randomization (the valid randomization event), if
/// any.
pub fn arm_of(events: &[EventRow]) -> Option<String> {
    events
        .iter()
        .filter(|e| e.kind == rule::EventKind::Randomization && !e.entered_in_error)
        .min_by_key(|e| (e.event_date, e.recorded_at))
        .and_then(|e| e.details.0.get("arm")?.as_str().map(str::to_string))
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
                Error::invalid(
                    "status",
                    Problem::NotOneOf {
                        given: s.into(),
                        allowed: all.into_iter().map(String::from).collect(),
                    },
                )
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

// ---------- events ----------

// ---------- lesions ----------

// ---------- end of trial, key rotation ----------

//! Completion: each participant's visits with their states, last reminder and missed reason,
//! and per visit a CONSORT-PRO style count. The site dashboard, the "call today" list and
//! GET /api/v1/completion all read it from here; nothing is stored by reading.

use crate::domain::problem::Problem;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::{
    app::App,
    auth::{self, StaffActor},
    domain::completion as form,
    domain::reminders::ReminderStatus,
    domain::{
        permissions::Action,
        schedule::{VisitState, Window},
    },
    error::{Error, Result},
    participants, store,
};

/// What to show: one site, one visit, one state (each optional).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub site: Option<String>,
    pub visit: Option<String>,
    pub state: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LastReminder {
    pub kind: String,
    pub status: ReminderStatus,
    pub at: DateTime<Utc>,
}

/// One participant's visit.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub visit: String,
    pub state: VisitState,
    pub window: Window,
    /// Some questionnaire of the visit has a saved draft or a submission.
    pub started: bool,
    /// The questionnaires of the visit not received (keys, in the visit's order).
    pub unreceived: Vec<String>,
    pub missed_reason: Option<String>,
    pub last_reminder: Option<LastReminder>,
}

#[derive(Debug, Clone)]
pub struct Row {
    pub study_id: String,
    pub site: String,
    pub status: String,
    pub cells: Vec<Cell>,
}

/// Count of one visit's states (`domain::schedule::state`, the one visit status the record
/// page, the forms' outcomes and the exports read too). `expected` = `received` (completed:
/// every form came in, in time or late) + `partial` (some forms) + `missed` (none) +
/// `awaited` (window closed, grace running); `pending`: open and not yet completed; `rate` =
/// received / expected, absent while nothing is expected. Not applicable and not expected
/// visits are outside the denominator.
#[derive(Debug, Clone, Default)]
pub struct VisitCount {
    pub visit: String,
    pub expected: u32,
    pub received: u32,
    pub partial: u32,
    pub missed: u32,
    pub awaited: u32,
    pub pending: u32,
    pub missed_reasons: BTreeMap<String, u32>,
    pub not_applicable: u32,
    pub not_expected: u32,
    pub rate: Option<f64>,
}

/// CONSORT-PRO: one visit × instrument × arm.
#[derive(Debug, Clone, Default)]
pub struct FormCount {
    pub visit: String,
    /// The questionnaire key (e.g. `eortc-qlq-c30`).
    pub instrument: String,
    /// The arm code; none for participants not (yet) randomized to an arm.
    pub arm: Option<String>,
    pub count: form::Count,
}

#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub rows: Vec<Row>,
    pub counts: Vec<VisitCount>,
    pub forms: Vec<FormCount>,
    /// Visits and forms missed without a reason: the site's to-do list.
    pub todo: Vec<Todo>,
}

/// A visit (or one questionnaire of it) missed without a recorded reason.
#[derive(Debug, Clone)]
pub struct Todo {
    pub study_id: String,
    pub site: String,
    pub visit: String,
    pub questionnaire: String,
}

fn check_filter(app: &App, f: &Filter) -> Result<Option<VisitState>> {
    if let Some(v) = &f.visit
        && !app.study.visit_labels.contains_key(v)
    {
        let all: Vec<_> = app
            .study
            .protocol
            .visits
            .iter()
            .map(|v| v.code.as_str())
            .collect();
        return Err(Error::invalid(
            "visit",
            Problem::NotOneOf {
                given: v.clone(),
                allowed: all.into_iter().map(String::from).collect(),
            },
        ));
    }
    f.state
        .as_deref()
        .map(|s| {
            VisitState::parse(s).ok_or_else(|| {
                Error::invalid(
                    "state",
                    Problem::NotOneOf {
                        given: s.to_string(),
                        allowed: VisitState::ALL.iter().map(|s| s.as_str().into()).collect(),
                    },
                )
            })
        })
        .transpose()
}

/// Completion on the actor's sites (or the one asked for, when the actor may see it).
pub async fn overview(app: &App, actor: &StaffActor, filter: &Filter) -> Result<Completion> {
    auth::authorize(actor, Action::ParticipantRead, None)?;
    let wanted_state = check_filter(app, filter)?;
    let scope = auth::site_scope(actor, filter.site.clone());
    let now = app.clock.now();
    let revisions = store::bulk::revisions(&app.db, scope.as_deref()).await?;
    let people = store::participants::list(&app.db, scope.as_deref()).await?;
    overview_of(app, people, &revisions, filter, wanted_state, now).await
}

/// Completion rendered by `render` (e.g. to JSON), kept until a participant in scope changes or
/// the clock passes a window edge of theirs (`derived::Cache::state_of`): a dashboard read
/// again with nothing changed is served the same bytes without being computed again.
pub async fn overview_rendered(
    app: &App,
    actor: &StaffActor,
    filter: &Filter,
    render: impl FnOnce(Completion) -> Result<bytes::Bytes>,
) -> Result<bytes::Bytes> {
    auth::authorize(actor, Action::ParticipantRead, None)?;
    let wanted_state = check_filter(app, filter)?;
    let scope = auth::site_scope(actor, filter.site.clone());
    let now = app.clock.now();
    let revisions = store::bulk::revisions(&app.db, scope.as_deref()).await?;
    let people = store::participants::list(&app.db, scope.as_deref()).await?;
    let key = format!(
        "{scope:?}|{:?}|{:?}|{:?}",
        filter.site, filter.visit, filter.state
    );
    let kept = super::derived::cache(app);
    if let Some(state) = kept.state_of(&people, &revisions, now)
        && let Some(bytes) = kept.rendered(&key, &state)
    {
        return Ok(bytes);
    }
    let c = overview_of(app, people.clone(), &revisions, filter, wanted_state, now).await?;
    let bytes = render(c)?;
    // The states just derived were kept: what they were derived from names this rendering
    // (when a participant changed meanwhile, nothing is kept).
    if let Some(state) = kept.state_of(&people, &revisions, now) {
        kept.keep_rendered(key, state, bytes.clone());
    }
    Ok(bytes)
}

async fn overview_of(
    app: &App,
    people: Vec<store::participants::ParticipantRow>,
    revisions: &std::collections::HashMap<uuid::Uuid, i64>,
    filter: &Filter,
    wanted_state: Option<VisitState>,
    now: DateTime<Utc>,
) -> Result<Completion> {
    let mut rows = Vec::new();
    let mut counts: Vec<VisitCount> = app
        .study
        .protocol
        .visits
        .iter()
        .filter(|v| filter.visit.as_ref().is_none_or(|f| *f == v.code))
        .map(|v| VisitCount {
            visit: v.code.clone(),
            ..Default::default()
        })
        .collect();
    let derived =
        super::derived::derive_all(app, &people, revisions, now, super::derived::By::Reader)
            .await?;
    let mut forms: BTreeMap<(usize, usize, Option<String>), FormCount> = BTreeMap::new();
    let mut todo = Vec::new();
    let wanted_visit = |code: &str| filter.visit.as_ref().is_none_or(|f| f == code);
    for (p, d) in people.into_iter().zip(derived) {
        for (cell, outcomes) in d.cells.iter().zip(&d.forms) {
            if !wanted_visit(&cell.visit) {
                continue;
            }
            let visit_pos = position(app, &cell.visit);
            for (q, outcome) in outcomes {
                let key = q.split('@').next().unwrap_or(q);
                if *outcome == form::Outcome::Missed(None) {
                    todo.push(Todo {
                        study_id: p.study_id.clone(),
                        site: p.site_code.clone(),
                        visit: cell.visit.clone(),
                        questionnaire: q.clone(),
                    });
                }
                let instrument_pos = instrument_position(app, key);
                forms
                    .entry((visit_pos, instrument_pos, d.arm.clone()))
                    .or_insert_with(|| FormCount {
                        visit: cell.visit.clone(),
                        instrument: key.to_string(),
                        arm: d.arm.clone(),
                        ..Default::default()
                    })
                    .count
                    .add(outcome);
            }
        }
        let cells: Vec<Cell> = d
            .cells
            .iter()
            .filter(|c| wanted_visit(&c.visit))
            .cloned()
            .collect();
        for c in &cells {
            if let Some(n) = counts.iter_mut().find(|n| n.visit == c.visit) {
                count_visit(n, c);
            }
        }
        if wanted_state.is_some_and(|s| !cells.iter().any(|c| c.state == s)) {
            continue;
        }
        rows.push(Row {
            study_id: p.study_id,
            site: p.site_code,
            status: d.status.clone(),
            cells,
        });
    }
    for n in &mut counts {
        n.rate = (n.expected > 0).then(|| f64::from(n.received) / f64::from(n.expected));
    }
    Ok(Completion {
        rows,
        counts,
        forms: forms.into_values().collect(),
        todo,
    })
}

/// One visit's state in its per-visit count.
fn count_visit(n: &mut VisitCount, c: &Cell) {
    match c.state {
        VisitState::Completed => {
            n.expected += 1;
            n.received += 1;
        }
        VisitState::Partial => {
            n.expected += 1;
            n.partial += 1;
        }
        VisitState::Missed => {
            n.expected += 1;
            n.missed += 1;
            let reason = c
                .missed_reason
                .clone()
                .unwrap_or_else(|| form::NO_REASON.into());
            *n.missed_reasons.entry(reason).or_default() += 1;
        }
        VisitState::Late => {
            n.expected += 1;
            n.awaited += 1;
        }
        VisitState::Open => n.pending += 1,
        VisitState::NotApplicable => n.not_applicable += 1,
        VisitState::NotExpected => n.not_expected += 1,
        VisitState::Upcoming => {}
    }
}

/// What became of each questionnaire due at a visit (`key@version`, outcome).
pub(crate) fn form_outcomes(
    v: &participants::VisitView,
    responses: &[store::responses::ResponseRow],
    scorable: &std::collections::HashSet<uuid::Uuid>,
) -> Vec<(String, form::Outcome)> {
    v.questionnaires
        .iter()
        .map(|q| {
            let (key, version) = q.split_once('@').unwrap_or((q, ""));
            let received = responses
                .iter()
                .find(|r| {
                    r.visit_code == v.code
                        && r.questionnaire_key == key
                        && (version.is_empty() || r.questionnaire_version == version)
                        && r.status.is_submitted()
                })
                .map(|r| form::Received {
                    arrival: form::Arrival::of(
                        r.late,
                        r.flags.0.iter().any(|f| {
                            f == crate::domain::answering::ResponseFlag::OutsideWindow.as_str()
                        }),
                    ),
                    scorable: scorable.contains(&r.id),
                });
            let missed_reason = v
                .missed_forms
                .get(q)
                .cloned()
                .or_else(|| v.missed_reason.clone());
            let outcome = form::outcome(&form::Form {
                visit_state: v.state,
                cause: v.cause.clone(),
                received,
                missed_reason,
            });
            (q.clone(), outcome)
        })
        .collect()
}

/// A visit's place in the protocol (for ordering the counts).
fn position(app: &App, visit: &str) -> usize {
    app.study
        .protocol
        .visits
        .iter()
        .position(|v| v.code == visit)
        .unwrap_or(usize::MAX)
}

/// An instrument's place: the first visit listing it, then its place in that visit's list.
fn instrument_position(app: &App, key: &str) -> usize {
    app.study
        .protocol
        .visits
        .iter()
        .flat_map(|v| v.questionnaires.iter())
        .position(|q| q.split('@').next() == Some(key))
        .unwrap_or(usize::MAX)
}

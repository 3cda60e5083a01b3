//! Completion: each participant's visits with their states, last reminder and missed reason,
//! and per visit a CONSORT-PRO style count. The site dashboard, the "call today" list and
//! GET /api/v1/completion all read it from here; nothing is stored by reading.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::{
    app::App,
    auth::{self, StaffActor},
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

#[derive(Debug, Clone)]
pub struct LastReminder {
    pub kind: String,
    pub status: ReminderStatus,
    pub at: DateTime<Utc>,
}

/// One participant's visit.
#[derive(Debug, Clone)]
pub struct Cell {
    pub visit: String,
    pub state: VisitState,
    pub window: Window,
    /// Some questionnaire of the visit has a saved draft or a submission.
    pub started: bool,
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

/// CONSORT-PRO style count of one visit. `expected`: windows that have closed or were completed
/// (completed + missed + late); `pending`: open and not yet completed; `rate` = received /
/// expected, absent while nothing is expected.
#[derive(Debug, Clone, Default)]
pub struct VisitCount {
    pub visit: String,
    pub expected: u32,
    pub received: u32,
    pub missed: u32,
    pub pending: u32,
    pub missed_reasons: BTreeMap<String, u32>,
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub rows: Vec<Row>,
    pub counts: Vec<VisitCount>,
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
            format!("{v:?} is not a visit of this study ({})", all.join(", ")),
        ));
    }
    f.state
        .as_deref()
        .map(|s| {
            VisitState::parse(s).ok_or_else(|| {
                Error::invalid(
                    "state",
                    format!(
                        "{s:?} is not one of upcoming, open, late, completed, missed, not_applicable"
                    ),
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
    let people = store::participants::list(&app.db, scope.as_deref()).await?;
    let ids: Vec<_> = people.iter().map(|p| p.id).collect();
    let mut records = store::bulk::records(&app.db, &ids, true).await?;
    for p in people {
        let visits = records.visits.remove(&p.id).unwrap_or_default();
        let events = records.events.remove(&p.id).unwrap_or_default();
        let responses = records.responses.remove(&p.id).unwrap_or_default();
        let reminders = records.reminders.remove(&p.id).unwrap_or_default();
        let (views, status) = participants::views_from(app, &visits, &events, &responses, now);
        let cells: Vec<Cell> = views
            .into_iter()
            .filter(|v| filter.visit.as_ref().is_none_or(|f| *f == v.code))
            .map(|v| {
                let last_reminder = reminders
                    .iter()
                    .filter(|r| r.visit_code == v.code)
                    .max_by_key(|r| r.sent_at.unwrap_or(r.due_at))
                    .map(|r| LastReminder {
                        kind: r.kind.clone(),
                        status: r.status,
                        at: r.sent_at.unwrap_or(r.due_at),
                    });
                Cell {
                    started: responses.iter().any(|r| r.visit_code == v.code),
                    visit: v.code,
                    state: v.state,
                    window: v.window,
                    missed_reason: v.missed_reason,
                    last_reminder,
                }
            })
            .collect();
        for c in &cells {
            if let Some(n) = counts.iter_mut().find(|n| n.visit == c.visit) {
                match c.state {
                    VisitState::Completed => {
                        n.expected += 1;
                        n.received += 1;
                    }
                    VisitState::Missed => {
                        n.expected += 1;
                        n.missed += 1;
                        let reason = c.missed_reason.clone().unwrap_or_else(|| "unknown".into());
                        *n.missed_reasons.entry(reason).or_default() += 1;
                    }
                    VisitState::Late => n.expected += 1,
                    VisitState::Open => n.pending += 1,
                    VisitState::Upcoming | VisitState::NotApplicable => {}
                }
            }
        }
        if wanted_state.is_some_and(|s| !cells.iter().any(|c| c.state == s)) {
            continue;
        }
        rows.push(Row {
            study_id: p.study_id,
            site: p.site_code,
            status,
            cells,
        });
    }
    for n in &mut counts {
        n.rate = (n.expected > 0).then(|| f64::from(n.received) / f64::from(n.expected));
    }
    Ok(Completion { rows, counts })
}

/// Why a participant is on the "call today" list.
#[derive(Debug, Clone)]
pub struct Call {
    pub study_id: String,
    pub site: String,
    /// not_started_closing, late, reminder_failed or assess_for_sse.
    pub reason: &'static str,
    pub visit: Option<String>,
    pub detail: Option<String>,
    /// For the participant's own site staff only.
    pub phone: Option<String>,
}

/// Days before a window's end from which an unstarted open visit is worth a call.
pub const CLOSING_DAYS: i64 = 3;

/// Whom to call today: open visits not started near their end, late visits, failed reminders
/// and "assess for SSE" pain flags, on the actor's sites.
pub async fn call_today(
    app: &App,
    actor: &StaffActor,
    site: Option<String>,
    lang: &str,
) -> Result<Vec<Call>> {
    let now = app.clock.now();
    let c = overview(
        app,
        actor,
        &Filter {
            site: site.clone(),
            ..Default::default()
        },
    )
    .await?;
    let flags = crate::answering::pain::flags(app, actor).await?;
    let mut calls = Vec::new();
    for row in &c.rows {
        let mut push = |reason: &'static str, visit: Option<String>, detail: Option<String>| {
            calls.push(Call {
                study_id: row.study_id.clone(),
                site: row.site.clone(),
                reason,
                visit,
                detail,
                phone: None,
            })
        };
        for cell in &row.cells {
            match cell.state {
                VisitState::Open
                    if !cell.started
                        && cell
                            .window
                            .end
                            .is_some_and(|e| e - now <= Duration::days(CLOSING_DAYS)) =>
                {
                    push("not_started_closing", Some(cell.visit.clone()), None)
                }
                VisitState::Late => push("late", Some(cell.visit.clone()), None),
                _ => {}
            }
            if let Some(r) = &cell.last_reminder
                && r.status == ReminderStatus::Failed
                && !matches!(cell.state, VisitState::Completed)
            {
                push(
                    "reminder_failed",
                    Some(cell.visit.clone()),
                    Some(r.kind.clone()),
                );
            }
        }
        for (study_id, _, lesion) in &flags {
            if *study_id == row.study_id {
                push(
                    "assess_for_sse",
                    lesion.points.last().map(|p| p.visit.clone()),
                    Some(crate::answering::pain::label_of(lesion, lang)),
                );
            }
        }
    }
    // The phone number, only where the actor may see this participant's contact details.
    let mut phones: BTreeMap<String, Option<String>> = BTreeMap::new();
    for call in &mut calls {
        if !phones.contains_key(&call.study_id) {
            let phone =
                if auth::authorize(actor, Action::ParticipantContact, Some(&call.site)).is_ok() {
                    participants::get(app, actor, &call.study_id).await?.phone
                } else {
                    None
                };
            phones.insert(call.study_id.clone(), phone);
        }
        call.phone = phones.get(&call.study_id).cloned().flatten();
    }
    Ok(calls)
}

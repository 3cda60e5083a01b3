//! The site dashboard (each participant's visits and a CONSORT-PRO style count) and the
//! "call today" list.

use std::sync::Arc;

use minijinja::context;
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form},
};
use serde::Serialize;

use super::{
    Pairs, Web, csrf_ok, failed, field, fmt_date, last_day, local_day, local_time, opt,
    query_param, redirect, signed_in, sv,
};
use crate::{
    answering::{calls, completion},
    app::App,
    auth,
    domain::permissions::Action,
};

#[derive(Serialize)]
pub(super) struct CellView {
    state: &'static str,
    text: String,
    title: String,
}

#[derive(Serialize)]
pub(super) struct RowView {
    study_id: String,
    site: String,
    status: String,
    cells: Vec<CellView>,
}

#[derive(Serialize)]
pub(super) struct CountView {
    visit: String,
    expected: u32,
    received: u32,
    partial: u32,
    missed: u32,
    awaited: u32,
    pending: u32,
    reasons: String,
    rate: String,
}

/// One CONSORT-PRO row: a visit × instrument × arm.
#[derive(Serialize)]
pub(super) struct FormView {
    visit: String,
    instrument: String,
    arm: String,
    expected: u32,
    in_window: u32,
    late: u32,
    scorable: u32,
    missed: u32,
    reasons: String,
    awaited: u32,
    pending: u32,
    not_applicable: String,
    not_expected: u32,
    rate: String,
}

pub(super) const STATES: [&str; 8] = [
    "upcoming",
    "open",
    "late",
    "completed",
    "partial",
    "missed",
    "not_applicable",
    "not_expected",
];

#[handler]
pub(super) async fn dashboard(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    let lang = page.lang.clone();
    let filter = completion::Filter {
        site: query_param(req, "site").filter(|s| !s.is_empty()),
        visit: query_param(req, "visit").filter(|s| !s.is_empty()),
        state: query_param(req, "state").filter(|s| !s.is_empty()),
    };
    let c = match completion::overview(app, &actor, &filter).await {
        Ok(c) => c,
        Err(e) => return failed(web, &page, &e),
    };
    let label = |code: &str| app.study.visit_label(code, &lang);
    let visits: Vec<String> = c.counts.iter().map(|n| label(&n.visit)).collect();
    let rows = row_views(web, app, &lang, &c.rows);
    let mut counts = count_views(web, &lang, &c.counts);
    for n in &mut counts {
        n.visit = label(&n.visit);
    }
    let forms = form_views(web, app, &lang, &c.forms);
    let todo = c.todo.len();
    let legend: Vec<(String, String)> = STATES
        .iter()
        .map(|s| (s.to_string(), web.t(&lang, &format!("state_{s}"), &[])))
        .collect();
    let sites: Vec<String> = match auth::site_scope(&actor, None) {
        Some(s) => s,
        None => app.study.sites.iter().map(|s| s.code.clone()).collect(),
    };
    let all_visits: Vec<(String, String)> = app
        .study
        .protocol
        .visits
        .iter()
        .map(|v| (v.code.clone(), label(&v.code)))
        .collect();
    web.render(
        "s_dashboard.html",
        &page,
        context! {
            visits => visits,
            rows => sv(&rows),
            counts => sv(&counts),
            forms => sv(&forms),
            todo => todo,
            legend => legend,
            sites => sites,
            all_visits => all_visits,
            states => STATES.to_vec(),
            f_site => filter.site.unwrap_or_default(),
            f_visit => filter.visit.unwrap_or_default(),
            f_state => filter.state.unwrap_or_default(),
        },
    )
}

#[derive(Serialize)]
pub(super) struct CallView {
    study_id: String,
    site: String,
    /// Why to call, one line each with its numbers, in the reader's language.
    reasons: Vec<String>,
    phone: String,
    /// Where a teleconsultation starts: the first form of the visit to call about.
    start: Option<String>,
    /// "Last call: 2 December 2026, 10:05, not reached – note".
    last_call: Option<String>,
    /// Whether this reader may log a call (sees the participant's contact details).
    may_log: bool,
    /// The call outcomes offered: "reached – no SSE" only where a pain flag is listed.
    outcomes: Vec<&'static str>,
}

/// One reason to call, with its numbers, in the reader's language.
fn call_line(web: &Web, app: &App, lang: &str, c: &calls::Call) -> String {
    let visit = c
        .visit
        .as_deref()
        .map(|v| app.study.visit_label(v, lang))
        .unwrap_or_default();
    let date = c.until.map(|d| fmt_date(d, lang)).unwrap_or_default();
    let kind = c
        .reminder_kind
        .as_deref()
        .map(|k| web.t(lang, &format!("remind_{k}"), &[]))
        .unwrap_or_default();
    let (from, to) = c
        .pain
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap_or_default();
    web.t(
        lang,
        &format!("call_{}", c.reason),
        &[
            ("visit", &visit),
            ("date", &date),
            ("kind", &kind),
            ("from", &from),
            ("to", &to),
            ("lesion", c.lesion.as_deref().unwrap_or("")),
            (
                "n",
                &c.forms_missed.map(|n| n.to_string()).unwrap_or_default(),
            ),
        ],
    )
}

#[handler]
pub(super) async fn call_today(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    let lang = page.lang.clone();
    let site = query_param(req, "site").filter(|s| !s.is_empty());
    let list = match calls::call_today(app, &actor, site, &lang).await {
        Ok(c) => c,
        Err(e) => return failed(web, &page, &e),
    };
    // One row per participant, the reasons listed in it.
    let mut views: Vec<CallView> = Vec::new();
    for c in list {
        let line = call_line(web, app, &lang, &c);
        // A teleconsultation starts on the visit's first form not received, while the visit
        // is answerable (a closed one goes through the late-entry step from the record).
        let start = c
            .visit
            .as_deref()
            .zip(c.form.as_deref())
            .filter(|_| {
                matches!(
                    c.reason,
                    "not_started_closing" | "late" | "no_pin" | "no_email" | "reminder_failed"
                )
            })
            .map(|(v, form)| format!("/staff/participants/{}/interviewer/{v}/{form}", c.study_id));
        let flagged = c.reason == "assess_for_sse";
        match views.iter_mut().find(|v| v.study_id == c.study_id) {
            Some(v) => {
                if !v.reasons.contains(&line) {
                    v.reasons.push(line);
                }
                if v.start.is_none() {
                    v.start = start;
                }
                if flagged {
                    v.outcomes = calls::OUTCOMES.to_vec();
                }
            }
            None => views.push(CallView {
                last_call: c.last_call.as_ref().map(|l| {
                    let outcome = web.t(&lang, &format!("call_outcome_{}", l.outcome), &[]);
                    let mut text = web.t(
                        &lang,
                        "call_last",
                        &[("at", &local_time(app, l.at, &lang)), ("outcome", &outcome)],
                    );
                    if let Some(n) = &l.note {
                        text.push_str(" – ");
                        text.push_str(n);
                    }
                    text
                }),
                outcomes: calls::OUTCOMES
                    .iter()
                    .copied()
                    .filter(|o| flagged || *o != calls::NO_SSE)
                    .collect(),
                may_log: auth::authorize(&actor, Action::ParticipantContact, Some(&c.site)).is_ok(),
                study_id: c.study_id,
                site: c.site,
                reasons: vec![line],
                phone: c
                    .phone
                    .as_deref()
                    .map(crate::domain::contact::display_phone)
                    .unwrap_or_default(),
                start,
            }),
        }
    }
    let notice = match query_param(req, "outcome").as_deref() {
        Some("not_reached") => "call_logged_notice_not_reached",
        _ => "call_logged_notice",
    };
    let logged = query_param(req, "logged")
        .filter(|id| !id.is_empty())
        .map(|id| web.t(&lang, notice, &[("id", &id)]));
    web.render(
        "s_call.html",
        &page,
        context! { calls => sv(&views), logged => logged },
    )
}

/// Log a call from the list (post/redirect/get): the row leaves today's list.
#[handler]
pub(super) async fn log_call(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    if !csrf_ok(req, field(&form, "csrf")) {
        return crate::web::message_page(
            web,
            &page,
            StatusCode::FORBIDDEN,
            web.t(&page.lang, "csrf_failed", &[]),
        );
    }
    let study_id = field(&form, "study_id");
    let note = opt(&form, "note");
    let outcome = field(&form, "outcome");
    match calls::log_call(app, &actor, study_id, outcome, note.as_deref()).await {
        Ok(()) => redirect(&format!(
            "/staff/call-today?logged={}&outcome={}",
            url::form_urlencoded::byte_serialize(study_id.as_bytes()).collect::<String>(),
            url::form_urlencoded::byte_serialize(outcome.as_bytes()).collect::<String>()
        )),
        Err(e) => failed(web, &page, &e),
    }
}

/// The dashboard's rows: per participant, each visit's state with its window as a tooltip.
fn row_views(web: &Web, app: &App, lang: &str, rows: &[completion::Row]) -> Vec<RowView> {
    rows.iter()
        .map(|r| RowView {
            study_id: r.study_id.clone(),
            site: r.site.clone(),
            status: r.status.clone(),
            cells: r
                .cells
                .iter()
                .map(|cell| {
                    let st = cell.state.as_str();
                    // Open cells say how many days are left in the window.
                    let left = (cell.state == crate::domain::schedule::VisitState::Open)
                        .then_some(cell.window.end)
                        .flatten()
                        .map(|e| (last_day(app, e) - local_day(app, app.clock.now())).num_days());
                    let text = web.t(lang, &format!("state_{st}"), &[]);
                    CellView {
                        state: st,
                        text: match left {
                            Some(n) => format!(
                                "{text} · {}",
                                web.t(lang, "days_left", &[("n", &n.to_string())])
                            ),
                            None => text,
                        },
                        title: format!(
                            "{}{}",
                            super::window_text(web, app, lang, &cell.window),
                            cell.missed_reason
                                .as_ref()
                                .map(|m| format!(" ({})", super::missed_reason_text(web, lang, m)))
                                .unwrap_or_default()
                        ),
                    }
                })
                .collect(),
        })
        .collect()
}

/// The counts per visit.
fn count_views(web: &Web, lang: &str, counts: &[completion::VisitCount]) -> Vec<CountView> {
    counts
        .iter()
        .map(|n| CountView {
            visit: n.visit.clone(),
            expected: n.expected,
            received: n.received,
            partial: n.partial,
            missed: n.missed,
            awaited: n.awaited,
            pending: n.pending,
            reasons: labelled(web, lang, "reason", &n.missed_reasons),
            rate: percent(n.rate),
        })
        .collect()
}

/// CONSORT-PRO per visit × instrument × arm, in the reader's language.
fn form_views(web: &Web, app: &App, lang: &str, forms: &[completion::FormCount]) -> Vec<FormView> {
    forms
        .iter()
        .map(|f| {
            let n = &f.count;
            let version = app
                .study
                .protocol
                .visits
                .iter()
                .flat_map(|v| v.questionnaires.iter())
                .find_map(|q| q.strip_prefix(&format!("{}@", f.instrument)))
                .unwrap_or("");
            FormView {
                visit: app.study.visit_label(&f.visit, lang),
                instrument: crate::web::participant::title_of(app, &f.instrument, version, lang),
                arm: f
                    .arm
                    .as_deref()
                    .and_then(|a| app.study.arm(a))
                    .and_then(|a| a.label.get(lang).cloned())
                    .unwrap_or_else(|| web.t(lang, "arm_none", &[])),
                expected: n.expected,
                in_window: n.received_in_window,
                late: n.received_late,
                scorable: n.scorable,
                missed: n.missed,
                reasons: labelled(web, lang, "reason", &n.missed_reasons),
                awaited: n.awaited,
                pending: n.pending,
                not_applicable: labelled(web, lang, "cause", &n.not_applicable),
                not_expected: n.not_expected,
                rate: percent(n.rate()),
            }
        })
        .collect()
}

/// "label: n, …" for counts by code, each code's label from the page text (`{prefix}_{code}`).
fn labelled(
    web: &Web,
    lang: &str,
    prefix: &str,
    counts: &std::collections::BTreeMap<String, u32>,
) -> String {
    counts
        .iter()
        .map(|(code, n)| {
            // A reason recorded with free text ("other: …") is labelled by its code.
            let code = code.split(':').next().unwrap_or(code);
            format!("{}: {n}", web.t(lang, &format!("{prefix}_{code}"), &[]))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn percent(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.0} %", r * 100.0))
        .unwrap_or_else(|| "–".into())
}

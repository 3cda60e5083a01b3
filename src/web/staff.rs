//! The site's pages: login, password, completion dashboard, "call today", the participant's
//! record with its forms, staff entry on the questionnaire pages, and export downloads.
//! Every read and write goes through the same services (and permission gate) as the API.

use std::{collections::BTreeMap, sync::Arc};

use minijinja::{Value, context};
use poem::{
    Endpoint, EndpointExt, Request, Response, Route, get, handler,
    http::{StatusCode, header},
    web::{Data, Form, Path},
};
use serde::Serialize;

use super::{
    PageContext, STAFF_COOKIE, StaffInfo, Web,
    answering::{self, Who},
    chart, choose_lang, csrf_ok, error_page, fmt_date, last_day, local_day, local_time,
    query_param, redirect, remember_lang, sv,
};
use crate::{
    access, app::App, auth, completion, domain::lesions, error::Error, export, pain, participants,
    reminders, responses,
};

pub fn routes() -> impl Endpoint {
    Route::new()
        .at("/", get(dashboard))
        .at("/login", get(login_page).post(login_post))
        .at("/logout", poem::post(logout))
        .at("/password", get(password_page).post(password_post))
        .at("/call-today", get(call_today))
        .at("/enrol", get(enrol_page).post(enrol_post))
        .at("/exports", get(exports_page))
        .at("/exports/:file", get(export_download))
        .at("/archive/:site", get(archive_download))
        .at("/participants/:id", get(participant_page))
        .at("/participants/:id/:form", poem::post(participant_form))
        .at(
            "/participants/:id/:mode/:visit/:key",
            get(q_show).post(q_post),
        )
        .at(
            "/participants/:id/:mode/:visit/:key/review",
            get(q_review).post(q_submit),
        )
        .map_to_response()
}

type Pairs = Vec<(String, String)>;

fn field<'f>(form: &'f [(String, String)], name: &str) -> &'f str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn opt(form: &[(String, String)], name: &str) -> Option<String> {
    Some(field(form, name).trim().to_string()).filter(|s| !s.is_empty())
}

/// The signed-in staff member and the page frame; otherwise a redirect to the login page.
async fn signed_in(
    web: &Web,
    app: &App,
    req: &Request,
) -> Result<(auth::StaffActor, PageContext), Response> {
    let token = req
        .cookie()
        .get(STAFF_COOKIE)
        .map(|c| c.value_str().to_string());
    let actor = match token {
        Some(t) => auth::authenticate(app, &t).await.ok(),
        None => None,
    };
    let Some(actor) = actor else {
        return Err(redirect("/staff/login"));
    };
    let (lang, chosen) = choose_lang(app, req, None);
    remember_lang(web, req.cookie(), &lang, chosen);
    let mut page = PageContext::new(web, app, req, lang);
    page.staff = Some(StaffInfo {
        email: String::new(),
        role: actor.role.as_str().into(),
    });
    Ok((actor, page))
}

/// Service errors on staff pages: a required password change goes to that page.
fn failed(web: &Web, page: &PageContext, e: &Error) -> Response {
    match e {
        Error::PasswordChangeRequired => redirect("/staff/password"),
        Error::Unauthenticated => redirect("/staff/login"),
        _ => error_page(web, page, e),
    }
}

macro_rules! staff {
    ($web:expr, $app:expr, $req:expr) => {
        match signed_in($web, $app, $req).await {
            Ok(x) => x,
            Err(r) => return r,
        }
    };
}

// ---------- login, logout, password ----------

fn anon_page(web: &Web, app: &App, req: &Request) -> PageContext {
    let (lang, chosen) = choose_lang(app, req, None);
    remember_lang(web, req.cookie(), &lang, chosen);
    PageContext::new(web, app, req, lang)
}

#[handler]
async fn login_page(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let page = anon_page(web, app, req);
    web.render(
        "s_login.html",
        &page,
        context! { error => Option::<String>::None },
    )
}

#[handler]
async fn login_post(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    let page = anon_page(web, app, req);
    let lang = page.lang.clone();
    let again = |msg: String, status: StatusCode| {
        let mut r = web.render(
            "s_login.html",
            &page,
            context! { error => msg, email => field(&form, "email") },
        );
        r.set_status(status);
        r
    };
    if !csrf_ok(req, field(&form, "csrf")) {
        return again(web.t(&lang, "csrf_failed", &[]), StatusCode::FORBIDDEN);
    }
    let ip = crate::api::client::client_address(
        req.remote_addr().as_socket_addr().map(|a| a.ip()),
        req.header("x-forwarded-for"),
        &app.trusted_proxies,
    );
    match auth::login(app, field(&form, "email"), field(&form, "password"), ip).await {
        Ok(login) => {
            let age = (login.expires_at - app.clock.now())
                .to_std()
                .unwrap_or_default();
            req.cookie()
                .add(web.cookie(STAFF_COOKIE, &login.token, Some(age)));
            redirect(if login.must_change_password {
                "/staff/password"
            } else {
                "/staff/"
            })
        }
        Err(Error::Throttled { retry_after_secs }) => again(
            web.t(
                &lang,
                "login_throttled",
                &[("minutes", &((retry_after_secs + 59) / 60).to_string())],
            ),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(Error::InvalidCredentials) => {
            again(web.t(&lang, "login_failed", &[]), StatusCode::UNAUTHORIZED)
        }
        Err(e) => error_page(web, &page, &e),
    }
}

#[handler]
async fn logout(req: &Request, Data(app): Data<&Arc<App>>, Form(form): Form<Pairs>) -> Response {
    if csrf_ok(req, field(&form, "csrf"))
        && let Some(c) = req.cookie().get(STAFF_COOKIE)
        && let Ok(actor) = auth::authenticate(app, c.value_str()).await
    {
        let _ = auth::logout(app, &actor).await;
        req.cookie().remove(STAFF_COOKIE);
    }
    redirect("/staff/login")
}

#[handler]
async fn password_page(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    web.render(
        "s_password.html",
        &page,
        context! { must_change => actor.must_change_password },
    )
}

#[handler]
async fn password_post(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    let lang = page.lang.clone();
    let again = |msg: String, status: StatusCode| {
        let mut r = web.render(
            "s_password.html",
            &page,
            context! { must_change => actor.must_change_password, error => msg },
        );
        r.set_status(status);
        r
    };
    if !csrf_ok(req, field(&form, "csrf")) {
        return again(web.t(&lang, "csrf_failed", &[]), StatusCode::FORBIDDEN);
    }
    match auth::change_password(app, &actor, field(&form, "current"), field(&form, "new")).await {
        // Other sessions end, this one included: sign in again with the new password.
        Ok(()) => redirect("/staff/login"),
        Err(e @ (Error::Invalid { .. } | Error::InvalidCredentials)) => {
            again(e.to_string(), StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => failed(web, &page, &e),
    }
}

// ---------- dashboard and call list ----------

#[derive(Serialize)]
struct CellView {
    state: &'static str,
    text: String,
    title: String,
}

#[derive(Serialize)]
struct RowView {
    study_id: String,
    site: String,
    status: String,
    cells: Vec<CellView>,
}

#[derive(Serialize)]
struct CountView {
    visit: String,
    expected: u32,
    received: u32,
    missed: u32,
    pending: u32,
    reasons: String,
    rate: String,
}

const STATES: [&str; 6] = [
    "upcoming",
    "open",
    "late",
    "completed",
    "missed",
    "not_applicable",
];

#[handler]
async fn dashboard(
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
    let visits: Vec<String> = c.counts.iter().map(|n| n.visit.clone()).collect();
    let rows: Vec<RowView> = c
        .rows
        .iter()
        .map(|r| RowView {
            study_id: r.study_id.clone(),
            site: r.site.clone(),
            status: r.status.clone(),
            cells: r
                .cells
                .iter()
                .map(|cell| {
                    let st = cell.state.as_str();
                    let end = cell.window.end.map(|e| fmt_date(last_day(app, e), &lang));
                    CellView {
                        state: st,
                        text: web.t(&lang, &format!("state_{st}"), &[]),
                        title: format!(
                            "{} – {}{}",
                            fmt_date(local_day(app, cell.window.start), &lang),
                            end.unwrap_or_default(),
                            cell.missed_reason
                                .as_ref()
                                .map(|m| format!(" ({m})"))
                                .unwrap_or_default()
                        ),
                    }
                })
                .collect(),
        })
        .collect();
    let counts: Vec<CountView> = c
        .counts
        .iter()
        .map(|n| CountView {
            visit: n.visit.clone(),
            expected: n.expected,
            received: n.received,
            missed: n.missed,
            pending: n.pending,
            reasons: n
                .missed_reasons
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            rate: n
                .rate
                .map(|r| format!("{:.0} %", r * 100.0))
                .unwrap_or_else(|| "–".into()),
        })
        .collect();
    let legend: Vec<(String, String)> = STATES
        .iter()
        .map(|s| (s.to_string(), web.t(&lang, &format!("state_{s}"), &[])))
        .collect();
    let sites: Vec<String> = match auth::site_scope(&actor, None) {
        Some(s) => s,
        None => app.study.sites.iter().map(|s| s.code.clone()).collect(),
    };
    let all_visits: Vec<String> = app
        .study
        .protocol
        .visits
        .iter()
        .map(|v| v.code.clone())
        .collect();
    web.render(
        "s_dashboard.html",
        &page,
        context! {
            visits => visits,
            rows => sv(&rows),
            counts => sv(&counts),
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
struct CallView {
    study_id: String,
    site: String,
    reason: String,
    visit: String,
    detail: String,
    phone: String,
}

#[handler]
async fn call_today(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    let lang = page.lang.clone();
    let site = query_param(req, "site").filter(|s| !s.is_empty());
    let calls = match completion::call_today(app, &actor, site, &lang).await {
        Ok(c) => c,
        Err(e) => return failed(web, &page, &e),
    };
    let views: Vec<CallView> = calls
        .into_iter()
        .map(|c| CallView {
            study_id: c.study_id,
            site: c.site,
            reason: web.t(&lang, &format!("call_{}", c.reason), &[]),
            visit: c.visit.unwrap_or_default(),
            detail: c.detail.unwrap_or_default(),
            phone: c.phone.unwrap_or_default(),
        })
        .collect();
    web.render("s_call.html", &page, context! { calls => sv(&views) })
}

// ---------- participant ----------

#[derive(Serialize)]
struct VisitRow {
    code: String,
    label: String,
    window: String,
    state: &'static str,
    state_text: String,
    missed_reason: String,
    enterable: bool,
    questionnaires: Vec<String>,
}

#[derive(Serialize)]
struct ResponseView {
    visit: String,
    questionnaire: String,
    status: String,
    submitted: String,
    mode: String,
    late: bool,
    scores: Vec<(String, String)>,
    queries: Vec<(String, String)>,
}

#[allow(clippy::too_many_arguments)]
async fn render_participant(
    web: &Web,
    app: &App,
    actor: &auth::StaffActor,
    page: &PageContext,
    study_id: &str,
    notice: Option<String>,
    error: Option<String>,
    link: Option<access::IssuedLink>,
) -> Response {
    let lang = page.lang.clone();
    let p = match participants::get(app, actor, study_id).await {
        Ok(p) => p,
        Err(e) => return failed(web, page, &e),
    };
    let schedule = match participants::schedule(app, actor, study_id).await {
        Ok(s) => s,
        Err(e) => return failed(web, page, &e),
    };
    let may_enter = auth::authorize(
        actor,
        crate::domain::permissions::Action::ResponseEnter,
        Some(&p.site),
    )
    .is_ok();
    let visits: Vec<VisitRow> = schedule
        .iter()
        .map(|v| {
            let st = v.state.as_str();
            VisitRow {
                code: v.code.clone(),
                label: v.labels.get(&lang).cloned().unwrap_or(v.code.clone()),
                window: format!(
                    "{} – {}",
                    fmt_date(local_day(app, v.window.start), &lang),
                    v.window
                        .end
                        .map(|e| fmt_date(last_day(app, e), &lang))
                        .unwrap_or_default()
                ),
                state: st,
                state_text: web.t(&lang, &format!("state_{st}"), &[]),
                missed_reason: v.missed_reason.clone().unwrap_or_default(),
                enterable: may_enter
                    && matches!(
                        v.state,
                        crate::domain::schedule::VisitState::Open
                            | crate::domain::schedule::VisitState::Late
                            | crate::domain::schedule::VisitState::Missed
                    ),
                questionnaires: v
                    .questionnaires
                    .iter()
                    .map(|q| q.split('@').next().unwrap_or(q).to_string())
                    .collect(),
            }
        })
        .collect();
    let lesion_rows = participants::lesions(app, actor, study_id)
        .await
        .unwrap_or_default();
    let lesion_views: Vec<BTreeMap<&str, String>> = lesion_rows
        .iter()
        .map(|l| {
            let labels: BTreeMap<String, String> =
                serde_json::from_str(&l.labels).unwrap_or_default();
            BTreeMap::from([
                ("id", l.id.to_string()),
                (
                    "label",
                    labels.get(&lang).cloned().unwrap_or(l.location.clone()),
                ),
                ("location", l.location.clone()),
                ("side", l.side.clone().unwrap_or_default()),
                (
                    "irradiation_date",
                    l.irradiation_date
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                ),
                (
                    "active",
                    web.t(&lang, if l.active { "active" } else { "inactive" }, &[]),
                ),
            ])
        })
        .collect();
    let events: Vec<BTreeMap<&str, String>> = p
        .events
        .iter()
        .map(|e| {
            BTreeMap::from([
                ("id", e.id.to_string()),
                ("kind", e.kind.clone()),
                ("date", e.event_date.to_string()),
                (
                    "details",
                    if e.details.trim() == "{}" {
                        String::new()
                    } else {
                        e.details.clone()
                    },
                ),
                ("reason", e.reason.clone()),
                (
                    "error",
                    if e.entered_in_error {
                        "1".into()
                    } else {
                        String::new()
                    },
                ),
            ])
        })
        .collect();
    let mut resp_views = Vec::new();
    if let Ok(list) = responses::list_for_staff(app, actor, study_id).await {
        for d in list {
            let scores: Vec<(String, String)> = d
                .scores
                .last()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s.results).ok())
                .and_then(|v| v.get("scales").and_then(|s| s.as_array()).cloned())
                .unwrap_or_default()
                .iter()
                .map(|s| {
                    let code = s.get("code").and_then(|c| c.as_str()).unwrap_or("");
                    // A per-lesion scale is named with the lesion's label.
                    let lesion = s
                        .get("lesion")
                        .and_then(|l| l.as_str())
                        .and_then(|id| lesion_rows.iter().find(|l| l.id.to_string() == id))
                        .and_then(|l| {
                            serde_json::from_str::<BTreeMap<String, String>>(&l.labels)
                                .ok()
                                .and_then(|m| m.get(&lang).cloned())
                        });
                    (
                        match lesion {
                            Some(label) => format!("{code} ({label})"),
                            None => code.to_string(),
                        },
                        s.get("score")
                            .and_then(|x| x.as_f64())
                            .map(|x| format!("{x:.1}"))
                            .unwrap_or_else(|| "–".into()),
                    )
                })
                .collect();
            let queries = pain::queries(app, actor, study_id, &d.row.id.to_string())
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|q| {
                    (
                        q.text,
                        if q.closed_at.is_some() {
                            web.t(&lang, "closed_queries", &[])
                        } else {
                            web.t(&lang, "open_queries", &[])
                        },
                    )
                })
                .collect();
            resp_views.push(ResponseView {
                visit: d.row.visit_code.clone(),
                questionnaire: format!(
                    "{}@{}",
                    d.row.questionnaire_key, d.row.questionnaire_version
                ),
                status: d.row.status.clone(),
                submitted: d
                    .row
                    .submitted_at
                    .map(|t| local_time(app, t))
                    .unwrap_or_default(),
                mode: d.row.mode.clone().unwrap_or_default(),
                late: d.row.late,
                scores,
                queries,
            });
        }
    }
    let pain_chart = pain::overview(app, actor, study_id)
        .await
        .ok()
        .map(|o| chart::pain_svg(&o, &lang, &web.t(&lang, "pain_chart", &[])));
    let reminder_rows: Vec<BTreeMap<&str, String>> =
        reminders::of_participant(app, actor, study_id)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                BTreeMap::from([
                    ("visit", r.row.visit_code),
                    ("kind", r.row.kind),
                    ("due", local_time(app, r.row.due_at)),
                    ("status", r.row.status),
                    (
                        "sent",
                        r.row
                            .sent_at
                            .map(|t| local_time(app, t))
                            .unwrap_or_default(),
                    ),
                    ("error", r.row.last_error.unwrap_or_default()),
                ])
            })
            .collect();
    let locations: Vec<(String, String)> = lesions::locations()
        .into_iter()
        .map(|l| {
            let label = l
                .labels
                .get(lang.as_str())
                .cloned()
                .unwrap_or(l.code.clone());
            (l.code, label)
        })
        .collect();
    let reasons: Vec<&str> = lesions::HIGH_RISK_REASONS.iter().map(|(c, _)| *c).collect();
    web.render(
        "s_participant.html",
        page,
        context! {
            p => context! {
                study_id => p.study_id.clone(),
                site => p.site.clone(),
                language => p.language.clone(),
                status => p.status.as_str(),
                enrolled_on => fmt_date(p.enrolled_on, &lang),
                randomization_date => p.randomization_date.map(|d| fmt_date(d, &lang)),
                randomized => p.randomization_date.is_some(),
                email => p.email.clone(),
                phone => p.phone.clone(),
            },
            visits => sv(&visits),
            lesions => sv(&lesion_views),
            events => sv(&events),
            responses => sv(&resp_views),
            pain_chart => pain_chart.map(Value::from_safe_string),
            reminders => sv(&reminder_rows),
            locations => locations,
            reasons => reasons,
            languages => app.study.languages.clone(),
            missed_reasons => responses::MISSED_REASONS.to_vec(),
            event_kinds => ["randomization", "sse", "pro_discontinued", "withdrawal", "death"].to_vec(),
            sse_types => ["pathological_fracture", "spinal_cord_compression", "palliative_radiotherapy", "orthopaedic_surgery"].to_vec(),
            may_enter => may_enter,
            notice => notice,
            error => error,
            link => link.map(|l| context! {
                url => l.url,
                pin => l.pin,
                qr => Value::from_safe_string(l.qr_svg.find("<svg").map_or(l.qr_svg.clone(), |i| l.qr_svg[i..].to_string())),
            }),
        },
    )
}

#[handler]
async fn participant_page(
    req: &Request,
    Path(id): Path<String>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    let notice = query_param(req, "saved").map(|_| web.t(&page.lang, "saved_ok", &[]));
    render_participant(web, app, &actor, &page, &id, notice, None, None).await
}

/// The forms on the participant's page, each calling one service.
#[handler]
async fn participant_form(
    req: &Request,
    Path((id, form_name)): Path<(String, String)>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    let lang = page.lang.clone();
    if !csrf_ok(req, field(&form, "csrf")) {
        let msg = web.t(&lang, "csrf_failed", &[]);
        let mut r = render_participant(web, app, &actor, &page, &id, None, Some(msg), None).await;
        r.set_status(StatusCode::FORBIDDEN);
        return r;
    }
    let result: Result<Option<access::IssuedLink>, Error> = match form_name.as_str() {
        "event" => participants::record_event(
            app,
            &actor,
            &id,
            participants::NewEvent {
                kind: field(&form, "kind").into(),
                date: field(&form, "date").into(),
                reason: field(&form, "reason").into(),
                sse_type: opt(&form, "sse_type"),
                lesion: opt(&form, "lesion"),
            },
        )
        .await
        .map(|_| None),
        "correct" => participants::correct_event(
            app,
            &actor,
            &id,
            field(&form, "event"),
            participants::Correction {
                date: opt(&form, "date"),
                entered_in_error: field(&form, "entered_in_error") == "1",
                reason: field(&form, "reason").into(),
            },
        )
        .await
        .map(|_| None),
        "lesion" => {
            let labels: BTreeMap<String, String> = app
                .study
                .languages
                .iter()
                .filter_map(|l| opt(&form, &format!("label_{l}")).map(|v| (l.clone(), v)))
                .collect();
            let reasons: Vec<String> = form
                .iter()
                .filter(|(k, _)| k == "high_risk")
                .map(|(_, v)| v.clone())
                .collect();
            participants::add_lesion(
                app,
                &actor,
                &id,
                participants::LesionInput {
                    location: opt(&form, "location"),
                    side: opt(&form, "side"),
                    labels: (!labels.is_empty()).then_some(labels),
                    detail: opt(&form, "detail"),
                    high_risk_reasons: Some(reasons),
                    irradiation_date: opt(&form, "irradiation_date"),
                    active: Some(true),
                },
            )
            .await
            .map(|_| None)
        }
        "missed" => responses::record_missed(
            app,
            &actor,
            &id,
            field(&form, "visit"),
            field(&form, "reason"),
            opt(&form, "text"),
        )
        .await
        .map(|_| None),
        "dose" => match field(&form, "omed").trim().replace(',', ".").parse::<f64>() {
            Ok(omed) => pain::record_dose(app, &actor, &id, field(&form, "visit"), omed)
                .await
                .map(|_| None),
            Err(_) => Err(Error::invalid(
                "omed_mg_per_day",
                "give a number of mg per day",
            )),
        },
        "link" => access::issue_staff_link(app, &actor, &id, opt(&form, "pin"))
            .await
            .map(Some),
        _ => Err(Error::NotFound(format!("form {form_name}"))),
    };
    match result {
        Ok(None) => redirect(&format!("/staff/participants/{id}?saved=1")),
        // The link and PIN are shown once, on this response only (never in a URL).
        Ok(Some(link)) => {
            render_participant(web, app, &actor, &page, &id, None, None, Some(link)).await
        }
        Err(e @ (Error::Invalid { .. } | Error::Unprocessable { .. } | Error::Conflict { .. })) => {
            let msg = format!("{} {e}", web.t(&lang, "error_prefix", &[]));
            let mut r =
                render_participant(web, app, &actor, &page, &id, None, Some(msg), None).await;
            r.set_status(StatusCode::UNPROCESSABLE_ENTITY);
            r
        }
        Err(e) => failed(web, &page, &e),
    }
}

// ---------- enrolment ----------

#[handler]
async fn enrol_page(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    render_enrol(web, app, &actor, &page, None, &[])
}

fn render_enrol(
    web: &Web,
    app: &App,
    actor: &auth::StaffActor,
    page: &PageContext,
    error: Option<String>,
    form: &[(String, String)],
) -> Response {
    let sites: Vec<String> = match auth::site_scope(actor, None) {
        Some(s) => s,
        None => app.study.sites.iter().map(|s| s.code.clone()).collect(),
    };
    let values: BTreeMap<String, String> =
        form.iter().filter(|(k, _)| k != "csrf").cloned().collect();
    web.render(
        "s_enrol.html",
        page,
        context! { sites => sites, languages => app.study.languages.clone(), error => error, v => values },
    )
}

#[handler]
async fn enrol_post(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    if !csrf_ok(req, field(&form, "csrf")) {
        let msg = web.t(&page.lang, "csrf_failed", &[]);
        return render_enrol(web, app, &actor, &page, Some(msg), &form);
    }
    let new = participants::NewParticipant {
        study_id: field(&form, "study_id").trim().into(),
        site: field(&form, "site").into(),
        language: field(&form, "language").into(),
        randomization_date: opt(&form, "randomization_date"),
        email: opt(&form, "email"),
        phone: opt(&form, "phone"),
    };
    match participants::enrol(app, &actor, new).await {
        Ok(p) => redirect(&format!("/staff/participants/{}?saved=1", p.study_id)),
        Err(e @ (Error::Invalid { .. } | Error::Unprocessable { .. } | Error::Conflict { .. })) => {
            let msg = format!("{} {e}", web.t(&page.lang, "error_prefix", &[]));
            let mut r = render_enrol(web, app, &actor, &page, Some(msg), &form);
            r.set_status(StatusCode::UNPROCESSABLE_ENTITY);
            r
        }
        Err(e) => failed(web, &page, &e),
    }
}

// ---------- exports ----------

const EXPORTS: [&str; 6] = [
    "answers.csv",
    "visits.csv",
    "scores.csv",
    "audit.csv",
    "dictionary.csv",
    "fhir.ndjson",
];

/// The investigator archive of one site: one signed file (see `epro archive verify`).
#[handler]
async fn archive_download(
    req: &Request,
    Path(site): Path<String>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    match crate::archive::for_staff(app.clone(), &actor, &site).await {
        Ok(bytes) => Response::builder()
            .content_type("application/x-tar")
            .header(
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"epro-archive-{site}-{}.tar\"",
                    app.clock.now().format("%Y%m%dT%H%M%SZ")
                ),
            )
            .body(bytes),
        Err(e) => failed(web, &page, &e),
    }
}

#[handler]
async fn exports_page(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    let sites: Vec<String> = match auth::site_scope(&actor, None) {
        Some(s) => s,
        None => app.study.sites.iter().map(|s| s.code.clone()).collect(),
    };
    web.render(
        "s_exports.html",
        &page,
        context! {
            files => EXPORTS.to_vec(),
            sites => sites,
            public_key => crate::archive::public_key_hex(app),
        },
    )
}

#[handler]
async fn export_download(
    req: &Request,
    Path(file): Path<String>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    let dialect = match export::Dialect::parse(query_param(req, "dialect").as_deref()) {
        Ok(d) => d,
        Err(e) => return failed(web, &page, &e),
    };
    let stream = match file.as_str() {
        "answers.csv" => export::answers_csv(app.clone(), &actor, dialect).await,
        "visits.csv" => export::visits_csv(app.clone(), &actor, dialect).await,
        "scores.csv" => export::scores_csv(app.clone(), &actor, dialect).await,
        "audit.csv" => export::audit_csv(app.clone(), &actor, dialect).await,
        "fhir.ndjson" => export::fhir_ndjson(app.clone(), &actor).await,
        "dictionary.csv" => {
            if let Err(e) = auth::authorize(
                &actor,
                crate::domain::permissions::Action::ResponseRead,
                None,
            ) {
                return failed(web, &page, &e);
            }
            let bytes = export::dictionary_csv(app, dialect);
            Ok(Box::pin(futures::stream::once(async move { Ok(bytes) })) as export::ByteStream)
        }
        _ => Err(Error::NotFound(format!("export {file}"))),
    };
    match stream {
        Ok(s) => {
            let kind = if file.ends_with(".ndjson") {
                "application/fhir+ndjson"
            } else {
                "text/csv; charset=utf-8"
            };
            Response::builder()
                .content_type(kind)
                .header(
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file}\""),
                )
                .body(poem::Body::from_bytes_stream(s))
        }
        Err(e) => failed(web, &page, &e),
    }
}

// ---------- staff entry on the questionnaire pages ----------

async fn who(
    web: &Web,
    app: &App,
    req: &Request,
    id: &str,
    mode: &str,
) -> Result<(Who, String), Response> {
    let (actor, page) = signed_in(web, app, req).await?;
    if !matches!(mode, "interviewer" | "paper") {
        return Err(error_page(
            web,
            &page,
            &Error::NotFound(format!("mode {mode}")),
        ));
    }
    Ok((
        Who::Staff {
            actor,
            study_id: id.to_string(),
            mode: mode.to_string(),
        },
        page.lang,
    ))
}

#[handler]
async fn q_show(
    req: &Request,
    Path((id, mode, visit, key)): Path<(String, String, String, String)>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    match who(web, app, req, &id, &mode).await {
        Ok((w, lang)) => answering::show(web, app, req, lang, &w, &visit, &key).await,
        Err(r) => r,
    }
}

#[handler]
async fn q_post(
    req: &Request,
    Path((id, mode, visit, key)): Path<(String, String, String, String)>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    match who(web, app, req, &id, &mode).await {
        Ok((w, lang)) => answering::post(web, app, req, lang, &w, &visit, &key, form).await,
        Err(r) => r,
    }
}

#[handler]
async fn q_review(
    req: &Request,
    Path((id, mode, visit, key)): Path<(String, String, String, String)>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    match who(web, app, req, &id, &mode).await {
        Ok((w, lang)) => answering::review(web, app, req, lang, &w, &visit, &key).await,
        Err(r) => r,
    }
}

#[handler]
async fn q_submit(
    req: &Request,
    Path((id, mode, visit, key)): Path<(String, String, String, String)>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    match who(web, app, req, &id, &mode).await {
        Ok((w, lang)) => answering::submit(web, app, req, lang, &w, &visit, &key, form).await,
        Err(r) => r,
    }
}

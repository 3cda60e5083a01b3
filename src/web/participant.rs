//! The participant's pages: link → PIN → what is due → questionnaire pages → review → thanks.
//! The session lives in an HttpOnly, SameSite=Strict cookie; every page carries the safety text.

use std::sync::Arc;

use minijinja::context;
use poem::{
    Endpoint, EndpointExt, Request, Response, Route, get, handler,
    http::StatusCode,
    web::{Data, Form, Path},
};
use serde::Serialize;

use super::{
    PARTICIPANT_COOKIE, PageContext, SafetyView, Web,
    answer_form::{self, Who},
    choose_lang, csrf_ok, error_page, fmt_date, local_day, redirect, remember_lang, sv,
};
use crate::{
    answering,
    app::App,
    auth::participant,
    domain::answering::TaskStatus,
    error::{Code, Error},
    questionnaires,
};

pub fn routes() -> impl Endpoint {
    Route::new()
        .at("/tasks", get(tasks))
        .at("/logout", poem::post(logout))
        .at("/q/:visit/:key", get(q_show).post(q_post))
        .at("/q/:visit/:key/review", get(q_review).post(q_submit))
        .at("/done/:visit", get(done))
        .at("/:token", get(pin_page).post(pin_post))
        .map_to_response()
}

type Pairs = Vec<(String, String)>;

/// The signed-in participant, or the "signed out" page.
async fn signed_in(
    web: &Web,
    app: &App,
    req: &Request,
) -> Result<(participant::ParticipantActor, String), Response> {
    let token = req
        .cookie()
        .get(PARTICIPANT_COOKIE)
        .map(|c| c.value_str().to_string());
    let actor = match token {
        Some(t) => participant::authenticate(app, &t).await.ok(),
        None => None,
    };
    match actor {
        Some(mut pa) => {
            let (lang, chosen) = choose_lang(app, req, Some(&pa.language));
            remember_lang(web, req.cookie(), &lang, chosen);
            // A language the participant picks is theirs from now on (questionnaires not yet
            // started, emails), not only this browser's.
            if chosen
                && lang != pa.language
                && participant::set_language(app, &pa, &lang).await.is_ok()
            {
                pa.language = lang.clone();
            }
            Ok((pa, lang))
        }
        None => {
            let (lang, chosen) = choose_lang(app, req, None);
            remember_lang(web, req.cookie(), &lang, chosen);
            let mut page = PageContext::new(web, app, req, lang.clone());
            page.safety = SafetyView::of(app, &lang, None);
            let mut r = web.render(
                "error.html",
                &page,
                context! { message => web.t(&lang, "session_expired", &[]) },
            );
            r.set_status(StatusCode::UNAUTHORIZED);
            Err(r)
        }
    }
}

fn pin_context(web: &Web, app: &App, req: &Request, lang: &str, site: Option<&str>) -> PageContext {
    let mut page = PageContext::new(web, app, req, lang.to_string());
    page.safety = SafetyView::of(app, lang, site);
    page
}

#[handler]
async fn pin_page(
    req: &Request,
    Path(token): Path<String>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let link = participant::link_site(app, &token).await.ok().flatten();
    // Before sign-in, a language this browser chose wins over the participant's recorded one
    // (it becomes theirs at sign-in).
    let remembered = super::remembered_lang(app, req);
    let own = remembered
        .as_deref()
        .or(link.as_ref().map(|(_, l)| l.as_str()));
    let (lang, chosen) = choose_lang(app, req, own);
    remember_lang(web, req.cookie(), &lang, chosen);
    let page = pin_context(web, app, req, &lang, link.as_ref().map(|(s, _)| s.as_str()));
    if link.is_none() {
        let mut r = web.render(
            "error.html",
            &page,
            context! { message => web.t(&lang, "link_invalid", &[]) },
        );
        r.set_status(StatusCode::NOT_FOUND);
        return r;
    }
    web.render(
        "p_pin.html",
        &page,
        context! { error => Option::<String>::None },
    )
}

#[handler]
async fn pin_post(
    req: &Request,
    Path(token): Path<String>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    let link = participant::link_site(app, &token).await.ok().flatten();
    // Before sign-in, a language this browser chose wins over the participant's recorded one
    // (it becomes theirs at sign-in).
    let remembered = super::remembered_lang(app, req);
    let own = remembered
        .as_deref()
        .or(link.as_ref().map(|(_, l)| l.as_str()));
    let (lang, _) = choose_lang(app, req, own);
    let page = pin_context(web, app, req, &lang, link.as_ref().map(|(s, _)| s.as_str()));
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let again = |msg: String, status: StatusCode| {
        let mut r = web.render("p_pin.html", &page, context! { error => msg });
        r.set_status(status);
        r
    };
    if !csrf_ok(req, &field("csrf")) {
        return again(web.t(&lang, "csrf_failed", &[]), StatusCode::FORBIDDEN);
    }
    match participant::login(app, &token, &field("pin")).await {
        Ok(login) => {
            // A language picked on the PIN page becomes the participant's.
            if let Some(chosen) = super::remembered_lang(app, req)
                && let Ok(pa) = participant::authenticate(app, &login.token).await
                && pa.language != chosen
            {
                let _ = participant::set_language(app, &pa, &chosen).await;
            }
            let age = (login.expires_at - app.clock.now())
                .to_std()
                .unwrap_or_default();
            req.cookie()
                .add(web.cookie(PARTICIPANT_COOKIE, &login.token, Some(age)));
            redirect("/p/tasks")
        }
        Err(Error::Throttled { retry_after_secs }) => again(
            web.t(
                &lang,
                "pin_throttled",
                &[("minutes", &((retry_after_secs + 59) / 60).to_string())],
            ),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(Error::Unauthorized {
            code: Code::InvalidPin,
            ..
        }) => again(web.t(&lang, "pin_wrong", &[]), StatusCode::UNAUTHORIZED),
        Err(Error::Unauthorized { .. }) => {
            again(web.t(&lang, "link_invalid", &[]), StatusCode::NOT_FOUND)
        }
        Err(e) => error_page(web, &page, &e),
    }
}

#[derive(Serialize)]
struct QView {
    title: String,
    status: &'static str,
    status_text: String,
    href: String,
    action: String,
}

#[derive(Serialize)]
struct TaskView {
    label: String,
    due: String,
    late: bool,
    questionnaires: Vec<QView>,
}

fn frame(
    web: &Web,
    app: &App,
    req: &Request,
    lang: &str,
    pa: &participant::ParticipantActor,
) -> PageContext {
    let mut page = PageContext::new(web, app, req, lang.to_string());
    page.safety = SafetyView::of(app, lang, Some(&pa.site));
    page
}

pub(crate) fn title_of(app: &App, key: &str, version: &str, lang: &str) -> String {
    questionnaires::resolve(
        &app.library,
        key,
        version,
        lang,
        questionnaires::Reader::Authenticated,
    )
    .ok()
    .and_then(|r| {
        r.wording
            .and_then(|w| w.get(&r.version.definition.title))
            .map(String::from)
    })
    .unwrap_or_else(|| key.to_string())
}

#[handler]
async fn tasks(req: &Request, Data(web): Data<&Arc<Web>>, Data(app): Data<&Arc<App>>) -> Response {
    let (pa, lang) = match signed_in(web, app, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let page = frame(web, app, req, &lang, &pa);
    let tasks = match answering::tasks(app, &pa).await {
        Ok(t) => t,
        Err(e) => return error_page(web, &page, &e),
    };
    let views: Vec<TaskView> = tasks
        .into_iter()
        .map(|t| {
            let late = t.visit.state == crate::domain::schedule::VisitState::Late;
            let date = answer_form::answer_by(app, &t.visit, &lang);
            TaskView {
                label: t
                    .visit
                    .labels
                    .get(&lang)
                    .cloned()
                    .unwrap_or(t.visit.code.clone()),
                // Before randomization the baseline has no last day yet: no empty date.
                due: match &date {
                    Some(d) => web.t(
                        &lang,
                        if late {
                            "tasks_late"
                        } else {
                            "tasks_answer_by"
                        },
                        &[("date", d)],
                    ),
                    None => web.t(&lang, "tasks_answer_soon", &[]),
                },
                late,
                questionnaires: t
                    .questionnaires
                    .iter()
                    .map(|q| QView {
                        title: title_of(app, &q.key, &q.version, &lang),
                        status: q.status.as_str(),
                        status_text: web.t(&lang, &format!("status_{}", q.status), &[]),
                        href: format!("/p/q/{}/{}", t.visit.code, q.key),
                        action: web.t(
                            &lang,
                            if q.status == TaskStatus::InProgress {
                                "continue"
                            } else {
                                "start"
                            },
                            &[],
                        ),
                    })
                    .collect(),
            }
        })
        .collect();
    let next = next_window_text(web, app, &pa, &lang).await;
    web.render(
        "p_tasks.html",
        &page,
        context! { tasks => sv(&views), next => next },
    )
}

async fn next_window_text(
    web: &Web,
    app: &App,
    pa: &participant::ParticipantActor,
    lang: &str,
) -> String {
    match answering::next_window(app, pa).await.ok().flatten() {
        Some(v) => {
            let start = fmt_date(local_day(app, v.window.start), lang);
            let end = v
                .window
                .end
                .map(|e| fmt_date(super::last_day(app, e), lang))
                .unwrap_or_default();
            let label = v.labels.get(lang).cloned().unwrap_or(v.code.clone());
            web.t(
                lang,
                "next_window",
                &[("visit", &label), ("start", &start), ("end", &end)],
            )
        }
        None => web.t(lang, "no_next_window", &[]),
    }
}

#[handler]
async fn done(
    req: &Request,
    Path(visit): Path<String>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (pa, lang) = match signed_in(web, app, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let page = frame(web, app, req, &lang, &pa);
    let more = answering::tasks(app, &pa)
        .await
        .map(|t| {
            t.iter().any(|t| {
                t.questionnaires
                    .iter()
                    .any(|q| q.status != TaskStatus::Completed)
            })
        })
        .unwrap_or(false);
    let next = next_window_text(web, app, &pa, &lang).await;
    let _ = visit;
    web.render(
        "p_thanks.html",
        &page,
        context! { next => next, more => more },
    )
}

#[handler]
async fn logout(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    let token = form
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if csrf_ok(req, token)
        && let Some(c) = req.cookie().get(PARTICIPANT_COOKIE)
    {
        let _ = participant::logout(app, c.value_str()).await;
        req.cookie().remove(PARTICIPANT_COOKIE);
    }
    let _ = web;
    redirect("/p/tasks")
}

async fn who(web: &Web, app: &App, req: &Request) -> Result<(Who, String), Response> {
    signed_in(web, app, req)
        .await
        .map(|(pa, lang)| (Who::Participant(pa), lang))
}

#[handler]
async fn q_show(
    req: &Request,
    Path((visit, key)): Path<(String, String)>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    match who(web, app, req).await {
        Ok((w, lang)) => answer_form::show(web, app, req, lang, &w, &visit, &key).await,
        Err(r) => r,
    }
}

#[handler]
async fn q_post(
    req: &Request,
    Path((visit, key)): Path<(String, String)>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    match who(web, app, req).await {
        Ok((w, lang)) => answer_form::post(web, app, req, lang, &w, &visit, &key, form).await,
        Err(r) => r,
    }
}

#[handler]
async fn q_review(
    req: &Request,
    Path((visit, key)): Path<(String, String)>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    match who(web, app, req).await {
        Ok((w, lang)) => answer_form::review(web, app, req, lang, &w, &visit, &key).await,
        Err(r) => r,
    }
}

#[handler]
async fn q_submit(
    req: &Request,
    Path((visit, key)): Path<(String, String)>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    match who(web, app, req).await {
        Ok((w, lang)) => answer_form::submit(web, app, req, lang, &w, &visit, &key, form).await,
        Err(r) => r,
    }
}

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
    LINK_COOKIE, PARTICIPANT_COOKIE, PARTICIPANT_COOKIES, PageContext, SafetyView, Web,
    answer_form::{self, Who},
    choose_lang, csrf_ok, error_page, field, fmt_date, local_day, redirect, remember_lang, sv,
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
        .at("/resume", poem::post(resume))
        .at("/language", poem::post(language))
        .at("/q/:visit/:key", get(q_show).post(q_post))
        .at("/q/:visit/:key/review", get(q_review).post(q_submit))
        .at("/done/:visit", get(done))
        .at("/:token", get(pin_page).post(pin_post))
        .map_to_response()
}

type Pairs = Vec<(String, String)>;

/// The sealed personal link this browser signed in with (`LINK_COOKIE`), so that a session
/// that ends mid-questionnaire can ask for the PIN right there and resume.
const LINK_AAD: &str = "epro participant link cookie";

fn remember_link(web: &Web, app: &App, req: &Request, token: &str) {
    let sealed = crate::keys::sealed::seal(&app.keys.data, token, LINK_AAD);
    req.cookie().add(web.cookie(
        LINK_COOKIE,
        &sealed,
        Some(std::time::Duration::from_secs(180 * 24 * 3600)),
    ));
}

/// The link this browser signed in with, while it is still valid: (token, site, language).
async fn remembered_link(app: &App, req: &Request) -> Option<(String, String, String)> {
    let sealed = req.cookie().get(LINK_COOKIE)?;
    let token = crate::keys::sealed::open(&app.keys.data, sealed.value_str(), LINK_AAD).ok()?;
    let (site, lang) = participant::link_site(app, &token).await.ok().flatten()?;
    Some((token, site, lang))
}

/// Where a participant may be sent back to after signing in again: one of their own pages,
/// written as a plain local path (visible ASCII only, no `\\`, no `..` segment), so that it is
/// always a valid `Location` — `next=/p/%01` decodes to a control character, which no header may
/// carry. Anything else: `None` (the caller goes to the default page).
fn safe_next(next: &str) -> Option<&str> {
    let path = next.split(['?', '#']).next().unwrap_or("");
    let local = next.starts_with("/p/") && next.len() <= 1024;
    let plain = next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    let no_climb = !path.split('/').any(|seg| seg == ".." || seg == ".");
    (local && plain && no_climb).then_some(next)
}

/// A participant page's language: `?lang=`, then the language this browser chose earlier, then
/// `own` (the participant's, or the language of the link this browser holds), then the browser's.
/// A choice made in this browser is asked about before it becomes the participant's.
fn page_lang(app: &App, req: &Request, own: Option<&str>) -> (String, bool) {
    let remembered = super::remembered_lang(app, req);
    choose_lang(app, req, remembered.as_deref().or(own))
}

fn participant_lang(
    app: &App,
    req: &Request,
    pa: &participant::ParticipantActor,
) -> (String, bool) {
    page_lang(app, req, Some(&pa.language))
}

/// What a language link asks before the choice holds for the participant (emails, questionnaires
/// not started yet). Asked in the newly chosen language and in the participant's own, so that
/// whoever holds the phone understands it; each button says what it does, and the big one only
/// keeps the choice on this device (nothing the participant did not read changes for good).
#[derive(Debug, Clone, Serialize)]
pub struct LangPrompt {
    pub lang: String,
    pub back: String,
    /// The question and the two answers, in the chosen language, then in the participant's.
    pub asks: Vec<LangAsk>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LangAsk {
    pub lang: String,
    pub question: String,
    pub keep: String,
    pub only_here: String,
}

pub(crate) fn lang_prompt(
    web: &Web,
    app: &App,
    req: &Request,
    pa: &participant::ParticipantActor,
) -> Option<LangPrompt> {
    let asked =
        super::query_param(req, "lang").filter(|l| app.study.languages.iter().any(|s| s == l))?;
    if asked == pa.language {
        return None;
    }
    let others = super::query_without(req, "lang");
    let path = req.original_uri().path().to_string();
    let back = if others.is_empty() {
        path
    } else {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(others.iter())
            .finish();
        format!("{path}?{q}")
    };
    let ask = |lang: &str| {
        let was = web.language_label(lang, &pa.language);
        let new = web.language_label(lang, &asked);
        let names = [("new", new.as_str()), ("was", was.as_str())];
        LangAsk {
            lang: lang.to_string(),
            question: web.t(lang, "lang_prompt", &names),
            keep: web.t(lang, "lang_prompt_yes", &names),
            only_here: web.t(lang, "lang_prompt_no", &names),
        }
    };
    Some(LangPrompt {
        asks: vec![ask(&asked), ask(&pa.language)],
        lang: asked,
        back,
    })
}

/// The signed-in participant, or the "signed out" page. When this browser signed in with a
/// link that is still valid, that page is the PIN form, which resumes at this page (with the
/// answers just posted, `carry`).
async fn signed_in(
    web: &Web,
    app: &App,
    req: &Request,
    carry: Option<&Pairs>,
) -> Result<(participant::ParticipantActor, String), Response> {
    let token = req
        .cookie()
        .get(PARTICIPANT_COOKIE)
        .map(|c| c.value_str().to_string());
    let actor = match token {
        Some(t) => participant::authenticate(app, &t).await.ok(),
        None => None,
    };
    if let Some(pa) = actor {
        let (lang, chosen) = participant_lang(app, req, &pa);
        remember_lang(web, req.cookie(), &lang, chosen);
        return Ok((pa, lang));
    }
    let link = remembered_link(app, req).await;
    let (lang, chosen) = page_lang(app, req, link.as_ref().map(|(_, _, l)| l.as_str()));
    remember_lang(web, req.cookie(), &lang, chosen);
    let mut page = PageContext::new(web, app, req, lang.clone());
    page.safety = SafetyView::of(app, &lang, link.as_ref().map(|(_, s, _)| s.as_str()));
    let mut r = if link.is_some() {
        let next = req
            .original_uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/p/tasks".into());
        resume_form(web, &page, &next, carry, None)
    } else {
        web.render(
            "error.html",
            &page,
            context! { message => web.t(&lang, "session_expired", &[]) },
        )
    };
    r.set_status(StatusCode::UNAUTHORIZED);
    Err(r)
}

/// The PIN form that signs in again and goes on to `next` (saving the `carry` answers first).
/// The page's draft revision travels with its answers, so that the save after the PIN is the
/// one the page would have made (a draft changed nowhere else is not "changed elsewhere").
fn resume_form(
    web: &Web,
    page: &PageContext,
    next: &str,
    carry: Option<&Pairs>,
    error: Option<String>,
) -> Response {
    let carried: Pairs = carry
        .map(|form| {
            form.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "csrf" | "pin" | "next"))
                .map(|(k, v)| (format!("carry.{k}"), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    web.render(
        "p_pin.html",
        page,
        context! {
            resume => true,
            action => "/p/resume",
            next => safe_next(next).unwrap_or("/p/tasks"),
            carried => carried,
            error => error,
        },
    )
}

fn pin_context(web: &Web, app: &App, req: &Request, lang: &str, site: Option<&str>) -> PageContext {
    let mut page = PageContext::new(web, app, req, lang.to_string());
    page.safety = SafetyView::of(app, lang, site);
    page
}

/// The page of a link: whether the link signs in, the page language and the frame. A link that
/// no longer works still names its participant's site and language: the page gives that
/// hospital's phone number.
async fn link_page(
    web: &Web,
    app: &App,
    req: &Request,
    token: &str,
) -> (bool, String, PageContext) {
    let holder = participant::link_holder(app, token).await.ok().flatten();
    let (lang, chosen) = page_lang(app, req, holder.as_ref().map(|h| h.language.as_str()));
    remember_lang(web, req.cookie(), &lang, chosen);
    let page = pin_context(
        web,
        app,
        req,
        &lang,
        holder.as_ref().map(|h| h.site.as_str()),
    );
    (holder.is_some_and(|h| h.usable), lang, page)
}

#[handler]
async fn pin_page(
    req: &Request,
    Path(token): Path<String>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (usable, lang, page) = link_page(web, app, req, &token).await;
    if !usable {
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
    let (_, lang, page) = link_page(web, app, req, &token).await;
    let again = |msg: String, status: StatusCode| {
        let mut r = web.render("p_pin.html", &page, context! { error => msg });
        r.set_status(status);
        r
    };
    if !csrf_ok(req, field(&form, "csrf")) {
        return again(web.t(&lang, "csrf_failed", &[]), StatusCode::FORBIDDEN);
    }
    match participant::login(app, &token, field(&form, "pin").trim()).await {
        Ok(login) => {
            let to = signed_in_at(web, app, req, &token, &login).await;
            // A language picked on the PIN page is asked about on the next page.
            match to {
                Some(chosen) => redirect(&format!("/p/tasks?lang={chosen}")),
                None => redirect("/p/tasks"),
            }
        }
        Err(e) => pin_refused(web, app, &page, &lang, &token, e, again).await,
    }
}

/// After a good PIN: the session and link cookies. Returns the language this browser chose
/// before signing in when it differs from the participant's (to be asked about).
async fn signed_in_at(
    web: &Web,
    app: &App,
    req: &Request,
    link_token: &str,
    login: &participant::ParticipantLogin,
) -> Option<String> {
    let age = (login.expires_at - app.clock.now())
        .to_std()
        .unwrap_or_default();
    req.cookie()
        .add(web.cookie(PARTICIPANT_COOKIE, &login.token, Some(age)));
    remember_link(web, app, req, link_token);
    let chosen = super::remembered_lang(app, req)?;
    let pa = participant::authenticate(app, &login.token).await.ok()?;
    (pa.language != chosen).then_some(chosen)
}

/// The PIN given again after a session ended: sign in, save the answers carried from the page
/// being left (if any), and go on where the participant was.
#[handler]
async fn resume(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    let link = remembered_link(app, req).await;
    let (lang, _) = page_lang(app, req, link.as_ref().map(|(_, _, l)| l.as_str()));
    let page = pin_context(
        web,
        app,
        req,
        &lang,
        link.as_ref().map(|(_, s, _)| s.as_str()),
    );
    let Some((token, _, _)) = link else {
        let mut r = web.render(
            "error.html",
            &page,
            context! { message => web.t(&lang, "session_expired", &[]) },
        );
        r.set_status(StatusCode::UNAUTHORIZED);
        return r;
    };
    let next = safe_next(field(&form, "next"))
        .unwrap_or("/p/tasks")
        .to_string();
    let carried: Pairs = form
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("carry.").map(|k| (k.to_string(), v.clone())))
        .collect();
    let again = |msg: String, status: StatusCode| {
        let mut r = resume_form(web, &page, &next, Some(&carried), Some(msg));
        r.set_status(status);
        r
    };
    if !csrf_ok(req, field(&form, "csrf")) {
        return again(web.t(&lang, "csrf_failed", &[]), StatusCode::FORBIDDEN);
    }
    let login = match participant::login(app, &token, field(&form, "pin").trim()).await {
        Ok(l) => l,
        Err(e) => return pin_refused(web, app, &page, &lang, &token, e, again).await,
    };
    signed_in_at(web, app, req, &token, &login).await;
    // The page being left when the session ended: its answers are saved now, as that page
    // would have, and the buttons lead on from there.
    let path = next.split('?').next().unwrap_or("");
    if !carried.is_empty()
        && let Some(rest) = path.strip_prefix("/p/q/")
        && let Some((visit, key)) = rest.split_once('/')
        && !key.contains('/')
        && let Ok(pa) = participant::authenticate(app, &login.token).await
    {
        let (lang, _) = participant_lang(app, req, &pa);
        let mut replay = carried;
        replay.push(("csrf".into(), field(&form, "csrf").to_string()));
        return answer_form::post(
            web,
            app,
            req,
            lang,
            &Who::Participant(pa),
            visit,
            key,
            replay,
        )
        .await;
    }
    redirect(&next)
}

/// A PIN refused: wrong (saying how many tries are left), throttled, or the link no longer
/// valid.
async fn pin_refused(
    web: &Web,
    app: &App,
    page: &PageContext,
    lang: &str,
    token: &str,
    e: Error,
    again: impl Fn(String, StatusCode) -> Response,
) -> Response {
    let throttled = |secs: i64| {
        web.t(
            lang,
            "pin_throttled",
            &[("minutes", &((secs.max(0) + 59) / 60).to_string())],
        )
    };
    match e {
        Error::Throttled { retry_after_secs } => {
            again(throttled(retry_after_secs), StatusCode::TOO_MANY_REQUESTS)
        }
        Error::Unauthorized {
            code: Code::InvalidPin,
            ..
        } => {
            let tries = participant::link_pin_tries(app, token).await.ok().flatten();
            let msg = match tries {
                // The wrong PIN that reached the limit: say so now, not on the next try.
                Some(participant::PinTries {
                    locked_for: Some(wait),
                    ..
                }) => throttled(wait.num_seconds()),
                Some(participant::PinTries { left: 1, .. }) => {
                    web.t(lang, "pin_wrong_one_left", &[])
                }
                Some(participant::PinTries { left, .. }) => {
                    web.t(lang, "pin_wrong_left", &[("n", &left.to_string())])
                }
                None => web.t(lang, "pin_wrong", &[]),
            };
            again(msg, StatusCode::UNAUTHORIZED)
        }
        Error::Unauthorized { .. } => {
            again(web.t(lang, "link_invalid", &[]), StatusCode::NOT_FOUND)
        }
        e => error_page(web, page, &e),
    }
}

/// The answer to the language prompt: hold from now on (the participant's language, audited),
/// or only on this device (the browser's choice, already remembered).
#[handler]
async fn language(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    let (pa, _) = match signed_in(web, app, req, None).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let back = safe_next(field(&form, "back"))
        .unwrap_or("/p/tasks")
        .to_string();
    if csrf_ok(req, field(&form, "csrf")) && field(&form, "keep") == "1" {
        let lang = field(&form, "lang");
        if let Err(e) = participant::set_language(app, &pa, lang).await {
            let page = frame(web, app, req, &pa.language.clone(), &pa);
            return error_page(web, &page, &e);
        }
    }
    redirect(&back)
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
    page.lang_prompt = lang_prompt(web, app, req, pa);
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
    let (pa, lang) = match signed_in(web, app, req, None).await {
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
    let (pa, lang) = match signed_in(web, app, req, None).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let page = frame(web, app, req, &lang, &pa);
    let due = answering::tasks(app, &pa).await.unwrap_or_default();
    let more = due.iter().any(|t| {
        t.questionnaires
            .iter()
            .any(|q| q.status != TaskStatus::Completed)
    });
    // The visit's next form not sent yet: "part 2 of 3", opened from here.
    let next_form = due.iter().find(|t| t.visit.code == visit).and_then(|t| {
        let count = t.questionnaires.len();
        t.questionnaires
            .iter()
            .enumerate()
            .find(|(_, q)| q.status != TaskStatus::Completed)
            .map(|(i, q)| {
                let title = title_of(app, &q.key, &q.version, &lang);
                context! {
                    href => format!("/p/q/{visit}/{}", q.key),
                    text => web.t(&lang, "thanks_next_form", &[
                        ("title", &title),
                        ("n", &(i + 1).to_string()),
                        ("count", &count.to_string()),
                    ]),
                    button => web.t(&lang, "thanks_continue", &[("title", &title)]),
                }
            })
    });
    let next = next_window_text(web, app, &pa, &lang).await;
    web.render(
        "p_thanks.html",
        &page,
        context! { next => next, more => more, next_form => next_form },
    )
}

#[handler]
async fn logout(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    if csrf_ok(req, field(&form, "csrf")) {
        if let Some(c) = req.cookie().get(PARTICIPANT_COOKIE) {
            let _ = participant::logout(app, c.value_str()).await;
        }
        // Signing out forgets the link too (also when the session had already ended): the
        // next sign-in starts from the link, so the next person cannot resume with it.
        web.forget(req.cookie(), PARTICIPANT_COOKIES);
    }
    redirect("/p/tasks")
}

async fn who(
    web: &Web,
    app: &App,
    req: &Request,
    carry: Option<&Pairs>,
) -> Result<(Who, String), Response> {
    signed_in(web, app, req, carry)
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
    match who(web, app, req, None).await {
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
    match who(web, app, req, Some(&form)).await {
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
    match who(web, app, req, None).await {
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
    match who(web, app, req, None).await {
        Ok((w, lang)) => answer_form::submit(web, app, req, lang, &w, &visit, &key, form).await,
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_a_plain_local_participant_path_or_nothing() {
        for (next, ok) in [
            ("/p/tasks", true),
            ("/p/q/BL/eortc-qlq-c30?page=2", true),
            ("/p/%01", true),
            ("/p/\u{1}", false),
            ("/p/\r\nSet-Cookie:x", false),
            ("/p/t\tx", false),
            ("/p/é", false),
            ("/p/ x", false),
            ("//evil.example/p/", false),
            ("https://evil.example/p/", false),
            ("/p/../staff/", false),
            ("/p/./tasks", false),
            ("/p\\evil", false),
            ("/staff/", false),
            ("", false),
        ] {
            assert_eq!(safe_next(next).is_some(), ok, "{next:?}");
            if let Some(n) = safe_next(next) {
                assert!(
                    poem::http::HeaderValue::from_str(n).is_ok(),
                    "{n:?} is a valid Location"
                );
            }
        }
    }
}

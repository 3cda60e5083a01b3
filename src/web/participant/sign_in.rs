//! Signing in and out: the link's PIN page, the PIN given again after a session ended (with the
//! answers the page being left carried over), refusals, and sign-out. Sessions themselves belong
//! to `auth::participant`; this file only shapes the pages and cookies.

use std::sync::Arc;

use minijinja::context;
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Path},
};

use super::{Pairs, page_lang, participant_lang};
use crate::web::{
    LINK_COOKIE, PARTICIPANT_COOKIE, PARTICIPANT_COOKIES, PageContext, SafetyView, Web,
    answer_form::{self, Who},
    csrf_ok, error_page, field, redirect, remember_lang,
};
use crate::{
    app::App,
    auth::participant,
    error::{Code, Error},
};

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
pub(super) async fn remembered_link(app: &App, req: &Request) -> Option<(String, String, String)> {
    let sealed = req.cookie().get(LINK_COOKIE)?;
    let token = crate::keys::sealed::open(&app.keys.data, sealed.value_str(), LINK_AAD).ok()?;
    let (site, lang) = participant::link_site(app, &token).await.ok().flatten()?;
    Some((token, site, lang))
}

/// Where a participant may be sent back to after signing in again: one of their own pages,
/// written as a plain local path (visible ASCII only, no `\\`, no `..` segment), so that it is
/// always a valid `Location` — `next=/p/%01` decodes to a control character, which no header may
/// carry. Anything else: `None` (the caller goes to the default page).
pub(super) fn safe_next(next: &str) -> Option<&str> {
    let path = next.split(['?', '#']).next().unwrap_or("");
    let local = next.starts_with("/p/") && next.len() <= 1024;
    let plain = next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    let no_climb = !path.split('/').any(|seg| seg == ".." || seg == ".");
    (local && plain && no_climb).then_some(next)
}

/// The PIN form that signs in again and goes on to `next` (saving the `carry` answers first).
/// The page's draft revision travels with its answers, so that the save after the PIN is the
/// one the page would have made (a draft changed nowhere else is not "changed elsewhere").
pub(super) fn resume_form(
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
pub(super) async fn pin_page(
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
            // The link was revoked: the page script forgets what it kept on this phone.
            context! { message => web.t(&lang, "link_invalid", &[]), forget => true },
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
pub(super) async fn pin_post(
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
    let chosen = crate::web::remembered_lang(app, req)?;
    let pa = participant::authenticate(app, &login.token).await.ok()?;
    (pa.language != chosen).then_some(chosen)
}

/// The PIN given again after a session ended: sign in, save the answers carried from the page
/// being left (if any), and go on where the participant was.
#[handler]
pub(super) async fn resume(
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

#[handler]
pub(super) async fn logout(
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

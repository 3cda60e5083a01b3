//! The site's pages: login, password, completion dashboard, "call today", the participant's
//! record with its forms, staff entry on the questionnaire pages, and export downloads.
//! Every read and write goes through the same services (and permission gate) as the API.

use completion_pages::{call_today, dashboard, log_call};
use enrol::{enrol_page, enrol_post};
pub(crate) use entry::late_entry;
use entry::{late_page, late_post, q_post, q_review, q_show, q_submit};
use export_pages::{archive_download, export_download, exports_page};
use participant_record::{participant_form, participant_page};
use sign_in::{login_page, login_post, logout, password_page, password_post};

use poem::{Endpoint, EndpointExt, Request, Response, Route, get};

use super::{
    LATE_COOKIE, PageContext, STAFF_COOKIE, STAFF_COOKIES, StaffInfo, Web,
    answer_form::{self},
    choose_lang, csrf_ok, error_page, field, fmt_date, last_day, local_day, local_time,
    query_param, redirect, refusal, remember_lang, remembered_lang, sv,
};
use crate::{app::App, auth, error::Error};

pub fn routes() -> impl Endpoint {
    Route::new()
        .at("/", get(dashboard))
        .at("/login", get(login_page).post(login_post))
        .at("/logout", poem::post(logout))
        .at("/password", get(password_page).post(password_post))
        .at("/call-today", get(call_today))
        .at("/call-today/log", poem::post(log_call))
        .at("/enrol", get(enrol_page).post(enrol_post))
        .at("/exports", get(exports_page))
        .at("/exports/:file", get(export_download))
        .at("/archive/:site", get(archive_download))
        .at("/participants/:id", get(participant_page))
        .at("/participants/:id/:form", poem::post(participant_form))
        .at(
            "/participants/:id/late/:visit",
            get(late_page).post(late_post),
        )
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
    // The language a staff member picks is also that of their daily digest.
    if chosen {
        let _ = crate::store::staff::set_language(&app.db, actor.id, &lang).await;
    }
    let mut page = PageContext::new(web, app, req, lang);
    page.staff = Some(StaffInfo {
        email: String::new(),
        role: actor.role.as_str().into(),
    });
    Ok((actor, page))
}

/// A stored missed reason ("too_ill", or "other: <what staff wrote>") in the reader's words.
fn missed_reason_text(web: &Web, lang: &str, stored: &str) -> String {
    let (code, text) = stored
        .split_once(": ")
        .map_or((stored, None), |(c, t)| (c, Some(t)));
    let key = format!("reason_{code}");
    let words = web.t(
        lang,
        if web.has(lang, &key) {
            &key
        } else {
            "reason_unknown"
        },
        &[],
    );
    match text {
        Some(t) => format!("{words}: {t}"),
        None => words,
    }
}

/// Service errors on staff pages: a required password change goes to that page.
fn failed(web: &Web, page: &PageContext, e: &Error) -> Response {
    match e {
        Error::PasswordChangeRequired => redirect("/staff/password"),
        Error::Unauthenticated => redirect("/staff/login"),
        _ => error_page(web, page, e),
    }
}

/// A visit's window as staff read it: first and last local day; the baseline while
/// randomization is not recorded (its end follows from it) says so instead of ending on a dash.
fn window_text(web: &Web, app: &App, lang: &str, w: &crate::domain::schedule::Window) -> String {
    let start = fmt_date(local_day(app, w.start), lang);
    match w.end {
        Some(e) => format!("{start} – {}", fmt_date(last_day(app, e), lang)),
        None => web.t(lang, "window_until_randomization", &[("start", &start)]),
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

mod completion_pages;
mod enrol;
mod entry;
mod export_pages;
mod participant_record;
mod sign_in;

//! The participant's pages: link → PIN → what is due → questionnaire pages → review → thanks.
//! The session lives in an HttpOnly, SameSite=Strict cookie; every page carries the safety text.
//! This file holds the routes and what every page shares (who is signed in, the page frame and
//! its language); each screen lives in its own file.

mod forms;
mod language_prompt;
mod sign_in;
mod task_list;

use minijinja::context;
use poem::{Endpoint, EndpointExt, Request, Response, Route, get, http::StatusCode};

use super::{
    PARTICIPANT_COOKIE, PageContext, SafetyView, Web, answer_form::Who, choose_lang, remember_lang,
};
use crate::{app::App, auth::participant};

use forms::{q_post, q_review, q_show, q_submit};
pub use language_prompt::LangPrompt;
pub(crate) use language_prompt::lang_prompt;
use language_prompt::language;
use sign_in::{logout, pin_page, pin_post, remembered_link, resume, resume_form};
pub(crate) use task_list::title_of;
use task_list::{done, tasks};

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

/// A participant page's language: `?lang=`, then the language this browser chose earlier, then
/// `own` (the participant's, or the language of the link this browser holds), then the browser's.
/// A choice made in this browser is asked about before it becomes the participant's.
fn page_lang(app: &App, req: &Request, own: Option<&str>) -> (String, bool) {
    let remembered = crate::web::remembered_lang(app, req);
    choose_lang(app, req, remembered.as_deref().or(own))
}

fn participant_lang(
    app: &App,
    req: &Request,
    pa: &participant::ParticipantActor,
) -> (String, bool) {
    page_lang(app, req, Some(&pa.language))
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

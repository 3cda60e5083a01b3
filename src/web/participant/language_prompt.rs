//! The language prompt: a language link asks whether the choice holds for the participant or
//! only on this device, and the answer to it. It must not change a language nobody read about.

use std::sync::Arc;

use poem::{
    Request, Response, handler,
    web::{Data, Form},
};
use serde::Serialize;

use super::{Pairs, frame, sign_in::safe_next, signed_in};
use crate::web::{Web, csrf_ok, error_page, field, redirect};
use crate::{app::App, auth::participant};

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
    let asked = crate::web::query_param(req, "lang")
        .filter(|l| app.study.languages.iter().any(|s| s == l))?;
    if asked == pa.language {
        return None;
    }
    let others = crate::web::query_without(req, "lang");
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

/// The answer to the language prompt: hold from now on (the participant's language, audited),
/// or only on this device (the browser's choice, already remembered).
#[handler]
pub(super) async fn language(
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

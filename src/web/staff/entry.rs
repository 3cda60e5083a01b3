//! Staff entry of a questionnaire on a participant's behalf (teleconsultation, paper), on
//! the shared answering pages.

use std::sync::Arc;

use poem::{
    Request, Response, handler,
    web::{Data, Form, Path},
};

use super::{Pairs, signed_in};
use super::{
    Web,
    answer_form::{self, Who},
    error_page,
};
use crate::{app::App, domain::answering::EntryMode, error::Error};

pub(super) async fn who(
    web: &Web,
    app: &App,
    req: &Request,
    id: &str,
    mode: &str,
) -> Result<(Who, String), Response> {
    let (actor, page) = signed_in(web, app, req).await?;
    if EntryMode::staff_entry(mode).is_none() {
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
pub(super) async fn q_show(
    req: &Request,
    Path((id, mode, visit, key)): Path<(String, String, String, String)>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    match who(web, app, req, &id, &mode).await {
        Ok((w, lang)) => answer_form::show(web, app, req, lang, &w, &visit, &key).await,
        Err(r) => r,
    }
}

#[handler]
pub(super) async fn q_post(
    req: &Request,
    Path((id, mode, visit, key)): Path<(String, String, String, String)>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    match who(web, app, req, &id, &mode).await {
        Ok((w, lang)) => answer_form::post(web, app, req, lang, &w, &visit, &key, form).await,
        Err(r) => r,
    }
}

#[handler]
pub(super) async fn q_review(
    req: &Request,
    Path((id, mode, visit, key)): Path<(String, String, String, String)>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    match who(web, app, req, &id, &mode).await {
        Ok((w, lang)) => answer_form::review(web, app, req, lang, &w, &visit, &key).await,
        Err(r) => r,
    }
}

#[handler]
pub(super) async fn q_submit(
    req: &Request,
    Path((id, mode, visit, key)): Path<(String, String, String, String)>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    match who(web, app, req, &id, &mode).await {
        Ok((w, lang)) => answer_form::submit(web, app, req, lang, &w, &visit, &key, form).await,
        Err(r) => r,
    }
}

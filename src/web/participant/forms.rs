//! The questionnaire pages of the participant: show, save a page, review, send. The form itself is
//! `web::answer_form`, shared with staff entry; here only who answers is decided.

use std::sync::Arc;

use poem::{
    Request, Response, handler,
    web::{Data, Form, Path},
};

use super::{Pairs, who};
use crate::app::App;
use crate::web::{Web, answer_form};

#[handler]
pub(super) async fn q_show(
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
pub(super) async fn q_post(
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
pub(super) async fn q_review(
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
pub(super) async fn q_submit(
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

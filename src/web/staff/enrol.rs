//! The enrolment form.

use std::{collections::BTreeMap, sync::Arc};

use minijinja::context;
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form},
};

use super::{PageContext, Pairs, Web, csrf_ok, failed, field, opt, redirect, refusal, signed_in};
use crate::{app::App, auth, error::Error, participants};

#[handler]
pub(super) async fn enrol_page(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    render_enrol(web, app, &actor, &page, None, &[])
}

pub(super) fn render_enrol(
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
        context! {
            sites => sites.clone(),
            languages => app.study.languages.iter().map(|l| (l.clone(), web.language_label(&page.lang, l))).collect::<Vec<_>>(),
            arms => app.study.arms.iter().map(|a| context! { code => a.code.clone(), label => a.label.get(&page.lang).cloned().unwrap_or_else(|| a.code.clone()) }).collect::<Vec<_>>(),
            channels => (app.sms.is_some()).then(|| crate::domain::reminders::Channel::ALL.iter().map(|c| (c.as_str(), web.t(&page.lang, &format!("channel_{}", c.as_str()), &[]))).collect::<Vec<_>>()),
            error => error,
            // The pattern in words, with this site's first number as the example.
            study_id_help => web.t(&page.lang, "study_id_help", &[("example", &app.study.example_study_id(sites.first().map_or("", String::as_str)))]),
            v => values,
        },
    )
}

#[handler]
pub(super) async fn enrol_post(
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
        enrolled_on: opt(&form, "enrolled_on"),
        arm: opt(&form, "arm"),
        email: opt(&form, "email"),
        phone: opt(&form, "phone"),
        reminder_channel: opt(&form, "reminder_channel"),
    };
    match participants::enrol(app, &actor, new).await {
        Ok(p) => redirect(&format!("/staff/participants/{}?saved=1", p.study_id)),
        Err(e @ (Error::Invalid { .. } | Error::Unprocessable { .. } | Error::Conflict { .. })) => {
            let msg = format!(
                "{} {}",
                web.t(&page.lang, "error_prefix", &[]),
                refusal(web, &page.lang, &e)
            );
            let mut r = render_enrol(web, app, &actor, &page, Some(msg), &form);
            r.set_status(StatusCode::UNPROCESSABLE_ENTITY);
            r
        }
        Err(e) => failed(web, &page, &e),
    }
}

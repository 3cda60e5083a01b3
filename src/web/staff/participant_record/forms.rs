//! The forms on the participant's page, each calling one service; a refused form comes back
//! open with what was typed.

use std::{collections::BTreeMap, sync::Arc};

use minijinja::{Value, context};
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Path},
};

use super::super::{Pairs, Web, csrf_ok, failed, field, opt, redirect, refusal, signed_in};
use super::{Shown, render_participant};
use crate::{
    answering, answering::pain, app::App, auth, auth::participant, error::Error, participants,
};

/// The forms on the participant's page, each calling one service.
#[handler]
pub(in crate::web::staff) async fn participant_form(
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
        let mut r =
            render_participant(web, app, &actor, &page, &id, None, Some(msg), None, None).await;
        r.set_status(StatusCode::FORBIDDEN);
        return r;
    }
    let result = submit_form(app, &actor, &id, &form_name, &form).await;
    match result {
        Ok(None) => redirect(&format!("/staff/participants/{id}?saved=1")),
        // Post/redirect/get: a reload shows the new link or PIN again for a few minutes but
        // never issues another; they travel sealed (encrypted, bound to this staff member and
        // participant), never in clear.
        Ok(Some(shown)) => {
            let token: String =
                url::form_urlencoded::byte_serialize(shown.seal(app, &actor, &id).as_bytes())
                    .collect();
            redirect(&format!("/staff/participants/{id}?shown={token}#access-h"))
        }
        Err(e @ (Error::Invalid { .. } | Error::Unprocessable { .. } | Error::Conflict { .. })) => {
            let msg = format!(
                "{} {}",
                web.t(&lang, "error_prefix", &[]),
                refusal(web, &lang, &e)
            );
            // The form again, open, with what was typed (nothing is lost on a refusal).
            let kept = kept_values(&form_name, &form);
            let mut r = render_participant(
                web,
                app,
                &actor,
                &page,
                &id,
                None,
                Some(msg),
                None,
                Some(kept),
            )
            .await;
            r.set_status(e.status());
            r
        }
        Err(e) => failed(web, &page, &e),
    }
}

/// A refused form's typed values, for the page to show it again: `form` (its name), `v` (each
/// field's value) and `high_risk` (the reasons ticked).
pub(super) fn kept_values(form_name: &str, form: &[(String, String)]) -> Value {
    let values: BTreeMap<String, String> =
        form.iter().filter(|(k, _)| k != "csrf").cloned().collect();
    let ticked: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "high_risk")
        .map(|(_, v)| v.clone())
        .collect();
    context! { form => form_name, v => values, high_risk => ticked }
}

/// Apply one of the participant page's forms; a new access link or PIN is returned to be
/// shown once.
async fn submit_form(
    app: &App,
    actor: &auth::StaffActor,
    id: &str,
    form_name: &str,
    form: &[(String, String)],
) -> Result<Option<Shown>, Error> {
    match form_name {
        "event" => participants::record_event(
            app,
            actor,
            id,
            participants::NewEvent {
                kind: field(form, "kind").into(),
                date: field(form, "date").into(),
                reason: field(form, "reason").into(),
                sse_type: opt(form, "sse_type"),
                lesion: opt(form, "lesion"),
                arm: opt(form, "arm"),
            },
        )
        .await
        .map(|_| None),
        "correct" => participants::correct_event(
            app,
            actor,
            id,
            field(form, "event"),
            participants::Correction {
                date: opt(form, "date"),
                arm: opt(form, "arm"),
                entered_in_error: field(form, "entered_in_error") == "1",
                reason: field(form, "reason").into(),
            },
        )
        .await
        .map(|_| None),
        "lesion" => participants::add_lesion(app, actor, id, lesion_input(app, form))
            .await
            .map(|_| None),
        "missed" => answering::record_missed(
            app,
            actor,
            id,
            answering::Missed {
                visit: field(form, "visit").into(),
                questionnaire: opt(form, "questionnaire"),
                reason: field(form, "reason").into(),
                text: opt(form, "text"),
            },
        )
        .await
        .map(|_| None),
        "dose" => match field(form, "omed").trim().replace(',', ".").parse::<f64>() {
            Ok(omed) => pain::record_dose(app, actor, id, field(form, "visit"), omed)
                .await
                .map(|_| None),
            Err(_) => Err(Error::invalid(
                "omed_mg_per_day",
                crate::domain::problem::Problem::NotANumber,
            )),
        },
        "link" => participant::issue_staff_link(app, actor, id, opt(form, "pin"))
            .await
            .map(|l| Some(Shown::new(app, Some(l.url), l.pin))),
        // A reset locks the participant out of the PIN they know: ticked to confirm first.
        "pin" if field(form, "confirm") != "1" => Err(Error::invalid(
            "confirm",
            crate::domain::problem::Problem::ConfirmNeeded,
        )),
        "pin" => participant::reset_pin(app, actor, id, opt(form, "pin"))
            .await
            .map(|pin| Some(Shown::new(app, None, pin))),
        "lesion_edit" => {
            let labels: BTreeMap<String, String> = app
                .study
                .languages
                .iter()
                .filter_map(|l| opt(form, &format!("label_{l}")).map(|v| (l.clone(), v)))
                .collect();
            participants::update_lesion(
                app,
                actor,
                id,
                field(form, "lesion"),
                participants::LesionInput {
                    location: None,
                    side: opt(form, "side"),
                    labels: (!labels.is_empty()).then_some(labels),
                    detail: None,
                    high_risk_reasons: None,
                    irradiation_date: opt(form, "irradiation_date"),
                    active: Some(field(form, "active") == "1"),
                },
                opt(form, "reason"),
            )
            .await
            .map(|_| None)
        }
        "revoke" => participant::revoke_by_staff(app, actor, id, field(form, "reason"))
            .await
            .map(|_| None),
        "details" => participants::update_details(
            app,
            actor,
            id,
            participants::DetailsChange {
                email: Some(field(form, "email").to_string()),
                phone: Some(field(form, "phone").to_string()),
                language: opt(form, "language"),
                reminder_channel: opt(form, "reminder_channel"),
                reason: field(form, "reason").into(),
            },
        )
        .await
        .map(|_| None),
        _ => Err(Error::NotFound(format!("form {form_name}"))),
    }
}

/// The lesion form: labels per study language, the high-risk reasons ticked.
fn lesion_input(app: &App, form: &[(String, String)]) -> participants::LesionInput {
    let labels: BTreeMap<String, String> = app
        .study
        .languages
        .iter()
        .filter_map(|l| opt(form, &format!("label_{l}")).map(|v| (l.clone(), v)))
        .collect();
    let reasons: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "high_risk")
        .map(|(_, v)| v.clone())
        .collect();
    participants::LesionInput {
        location: opt(form, "location"),
        side: opt(form, "side"),
        labels: (!labels.is_empty()).then_some(labels),
        detail: opt(form, "detail"),
        high_risk_reasons: Some(reasons),
        irradiation_date: opt(form, "irradiation_date"),
        active: Some(true),
    }
}

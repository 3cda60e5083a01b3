//! Staff entry of a questionnaire on a participant's behalf (teleconsultation, paper), on
//! the shared answering pages.

use std::sync::Arc;

use minijinja::context;
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Path},
};
use serde::{Deserialize, Serialize};

use super::{
    LATE_COOKIE, Web,
    answer_form::{self, Who},
    csrf_ok, error_page, redirect,
};
use super::{Pairs, field, signed_in};
use crate::{
    answering,
    app::App,
    auth::StaffActor,
    domain::{
        answering::{self as entry_rule, EntryMode},
        schedule::VisitState,
    },
    error::Error,
    participants::{self, VisitView},
};

/// A late entry begun on the late-entry step: its reason (and paper date) travel sealed in a
/// cookie bound to the staff member, participant and visit, and fill in the review.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LateEntry {
    pub reason: String,
    pub completed_on: Option<String>,
}

fn late_aad(actor: &StaffActor, study_id: &str, visit: &str) -> String {
    format!("late entry|{}|{study_id}|{visit}", actor.id)
}

/// The late entry begun for this participant's visit by this staff member, if any.
pub(crate) fn late_entry(
    app: &App,
    req: &Request,
    actor: &StaffActor,
    study_id: &str,
    visit: &str,
) -> Option<LateEntry> {
    let sealed = req.cookie().get(LATE_COOKIE)?;
    let text = crate::keys::sealed::open(
        &app.keys.data,
        sealed.value_str(),
        &late_aad(actor, study_id, visit),
    )
    .ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether a visit's window (and grace) has closed: entering it is a late entry.
fn closed(v: &VisitView) -> bool {
    !matches!(v.state, VisitState::Open | VisitState::Late)
}

async fn visit_of(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    visit: &str,
) -> Result<VisitView, Error> {
    participants::schedule(app, actor, study_id)
        .await?
        .into_iter()
        .find(|v| v.code == visit)
        .ok_or_else(|| Error::NotFound(format!("visit {visit}")))
}

/// The late-entry step: a closed visit is entered only after saying why (and, for paper, when
/// it was filled in).
#[handler]
pub(super) async fn late_page(
    req: &Request,
    Path((id, visit)): Path<(String, String)>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = match signed_in(web, app, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // Sent here from a form already received: say so (by its title, in the page's language).
    let notice = super::query_param(req, "received").and_then(|key| {
        let version = app.study.visit_spec(&visit).and_then(|spec| {
            spec.questionnaires
                .iter()
                .find_map(|q| q.strip_prefix(&format!("{key}@")))
        })?;
        let title = crate::web::participant::title_of(app, &key, version, &page.lang);
        Some(web.t(&page.lang, "entry_form_received", &[("form", &title)]))
    });
    render_late(web, app, &actor, &page, &id, &visit, notice, None, &[]).await
}

/// The late-entry step, with a notice above it (a form already received) or an error.
#[allow(clippy::too_many_arguments)]
async fn render_late(
    web: &Web,
    app: &App,
    actor: &StaffActor,
    page: &super::PageContext,
    id: &str,
    visit: &str,
    notice: Option<String>,
    error: Option<String>,
    form: &[(String, String)],
) -> Response {
    let v = match visit_of(app, actor, id, visit).await {
        Ok(v) => v,
        Err(e) => return super::failed(web, page, &e),
    };
    let lang = page.lang.clone();
    let label = v.labels.get(&lang).cloned().unwrap_or(v.code.clone());
    let window = super::window_text(web, app, &lang, &v.window);
    // Nothing left to enter (every form of the visit came in): say so, offer nothing.
    let unsent = answering::unsent_forms(app, actor, id, &v)
        .await
        .unwrap_or_default();
    let completed = (unsent.is_empty() || v.state == VisitState::Completed)
        .then(|| web.t(&lang, "entry_visit_completed", &[("visit", &label)]));
    let mut r = web.render(
        "s_late.html",
        page,
        context! {
            header => match &completed {
                Some(_) => format!("{id} · {label}"),
                None => format!("{id} · {label} · {}", web.t(&lang, "late_entry", &[])),
            },
            notice => notice,
            intro => web.t(&lang, "late_intro", &[("visit", &label), ("window", &window)]),
            completed => completed,
            study_id => id,
            visit => visit,
            error => error,
            mode => field(form, "mode"),
            reason => field(form, "entry_reason"),
            completed_on => field(form, "completed_on"),
        },
    );
    if r.status() == StatusCode::OK && !field(form, "csrf").is_empty() {
        r.set_status(StatusCode::UNPROCESSABLE_ENTITY);
    }
    r
}

#[handler]
pub(super) async fn late_post(
    req: &Request,
    Path((id, visit)): Path<(String, String)>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    let (actor, page) = match signed_in(web, app, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let lang = page.lang.clone();
    let again = async |key: &str| {
        let msg = web.t(&lang, key, &[]);
        render_late(web, app, &actor, &page, &id, &visit, None, Some(msg), &form).await
    };
    if !csrf_ok(req, field(&form, "csrf")) {
        return again("csrf_failed").await;
    }
    let mode = field(&form, "mode");
    let Some(entry_mode) = EntryMode::staff_entry(mode) else {
        return again("late_mode_missing").await;
    };
    let v = match visit_of(app, &actor, &id, &visit).await {
        Ok(v) => v,
        Err(e) => return super::failed(web, &page, &e),
    };
    let completed_on =
        Some(field(&form, "completed_on").trim().to_string()).filter(|s| !s.is_empty());
    let day = match (&completed_on, entry_mode) {
        (Some(d), _) => match participants::parse_date("completed_on", d) {
            Ok(d) => Some(d),
            Err(_) => return again("late_date_invalid").await,
        },
        (None, EntryMode::Paper) => return again("late_date_missing").await,
        (None, _) => None,
    };
    // The same acceptance rule as the submission (paper filled in within the window or its
    // grace needs no reason), asked here first.
    let reason = field(&form, "entry_reason").trim().to_string();
    let paper = day
        .filter(|_| entry_mode == EntryMode::Paper)
        .map(|d| entry_rule::timing(app.study.time_zone, &v.window, d));
    match entry_rule::accepts(v.state, entry_mode, !reason.is_empty(), paper) {
        Ok(_) => {}
        Err(entry_rule::Refusal::NeedsReason | entry_rule::Refusal::OutsideWindow) => {
            return again("late_reason_missing").await;
        }
        Err(_) => return again("late_refused").await,
    }
    let keys = answering::unsent_forms(app, &actor, &id, &v)
        .await
        .unwrap_or_default();
    let Some(first) = keys.first() else {
        return redirect(&format!("/staff/participants/{id}#schedule-h"));
    };
    let late = LateEntry {
        reason,
        completed_on,
    };
    let sealed = crate::keys::sealed::seal(
        &app.keys.data,
        &serde_json::to_string(&late).unwrap_or_default(),
        &late_aad(&actor, &id, &visit),
    );
    req.cookie().add(web.cookie(
        LATE_COOKIE,
        &sealed,
        Some(std::time::Duration::from_secs(12 * 3600)),
    ));
    redirect(&format!("/staff/participants/{id}/{mode}/{visit}/{first}"))
}

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
        Ok((w, lang)) => {
            // A closed visit is entered through the late-entry step, which asks why first; a
            // form already received (whatever the visit's state) is not entered again: that
            // step says the visit's forms are in.
            if let Who::Staff { actor, .. } = &w
                && let Ok(v) = visit_of(app, actor, &id, &visit).await
            {
                let received = answering::unsent_forms(app, actor, &id, &v)
                    .await
                    .is_ok_and(|unsent| !unsent.contains(&key));
                if closed(&v) && received {
                    return redirect(&format!(
                        "/staff/participants/{id}/late/{visit}?received={key}"
                    ));
                }
                if closed(&v) && late_entry(app, req, actor, &id, &visit).is_none() {
                    return redirect(&format!("/staff/participants/{id}/late/{visit}"));
                }
            }
            answer_form::show(web, app, req, lang, &w, &visit, &key).await
        }
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

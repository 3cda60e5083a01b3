//! The review page (every answer before sending, blanks marked) and the submission, for the
//! participant and for staff alike.

use std::sync::Arc;

use minijinja::context;
use poem::{Request, Response, http::StatusCode};

use super::{
    Blank, Loaded, Web, Who, csrf_ok, error_page, form_value, load_for_page, mode_banner,
    page_frame, position, redirect, sv,
};
use crate::{
    answering::{self, Submission},
    app::App,
    domain::questionnaire::text::WordingKind,
    error::{Code, Error},
};

pub(super) fn back_target(who: &Who) -> String {
    match who {
        Who::Participant(_) => "/p/tasks".into(),
        Who::Staff { study_id, .. } => format!("/staff/participants/{study_id}"),
    }
}

/// Where to go after a submission: the thank-you page, which leads on to the visit's next
/// questionnaire (participant); the visit's next form not yet sent, or the record (staff).
pub(super) async fn after_submit_target(who: &Who, app: &App, visit: &str) -> String {
    match who {
        // A confirmation between forms: the thank-you page says what was sent and opens the
        // visit's next form from there.
        Who::Participant(_) => format!("/p/done/{visit}"),
        // Staff: the next form of the same visit not sent yet, in the same mode; else the record.
        Who::Staff {
            actor,
            study_id,
            mode,
        } => {
            let visit_view = crate::participants::schedule(app, actor, study_id)
                .await
                .ok()
                .and_then(|views| views.into_iter().find(|v| v.code == visit));
            let next = match visit_view {
                Some(v) => answering::unsent_forms(app, actor, study_id, &v)
                    .await
                    .ok()
                    .and_then(|keys| keys.into_iter().next()),
                None => None,
            };
            match next {
                Some(key) => format!("/staff/participants/{study_id}/{mode}/{visit}/{key}"),
                None => format!("/staff/participants/{study_id}?saved=1#schedule-h"),
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn render_review(
    web: &Web,
    app: &App,
    req: &Request,
    lang: String,
    who: &Who,
    l: &Loaded<'_>,
    visit: &str,
    key: &str,
    error: Option<String>,
) -> Response {
    let page = page_frame(
        web,
        app,
        req,
        lang,
        who,
        l.x.resolved.kind == WordingKind::Demo,
    );
    let base = who.base(visit, key);
    let mut blanks = Vec::new();
    for (p, range) in l.pages.iter().enumerate() {
        for item in l.items(web, range.clone()) {
            if !item.answered && !item.hidden {
                blanks.push(Blank {
                    number: item.number,
                    text: item.text.clone(),
                    lesion_label: item.lesion_label.clone(),
                    href: format!("{base}?page={}#{}", p + 1, item.id),
                });
            }
        }
    }
    let idem = match &l.x.response {
        Some(r) => format!("web:{}:{}", r.id, r.revision),
        None => format!("web:{}", uuid::Uuid::new_v4()),
    };
    let (n, count) = position(&l.x, key);
    let lang = page.lang.clone();
    let staff_mode = match who {
        Who::Staff { mode, .. } => Some(mode.clone()),
        Who::Participant(_) => None,
    };
    let late_visit = !matches!(
        l.x.visit.state,
        crate::domain::schedule::VisitState::Open | crate::domain::schedule::VisitState::Late
    );
    let title = l
        .word(&l.x.resolved.version.definition.title)
        .unwrap_or_else(|| key.to_string());
    // A late entry's reason and paper date, given on the late-entry step.
    let late = match who {
        Who::Staff {
            actor, study_id, ..
        } => crate::web::staff::late_entry(app, req, actor, study_id, visit),
        Who::Participant(_) => None,
    };
    web.render(
        "review.html",
        &page,
        context! {
            entry_header => super::entry_header(web, &lang, who, &l.x, &title),
            title => title,
            blanks => sv(&blanks),
            go_back => blanks.first().map(|b| web.t(&lang, "review_go_back", &[("n", &b.number.to_string())])),
            go_back_href => blanks.first().map(|b| b.href.clone()),
            last_page_href => format!("{base}?page={}", l.pages.len().max(1)),
            action => format!("{base}/review"),
            idem => idem,
            keep => who.device_store(app),
            questionnaire_of => web.t(&lang, "questionnaire_of", &[("n", &n.to_string()), ("count", &count.to_string())]),
            mode_banner => mode_banner(web, &lang, who),
            staff_mode => staff_mode,
            needs_reason => late_visit,
            entry_reason => late.as_ref().map(|l| l.reason.clone()),
            completed_on => late.and_then(|l| l.completed_on),
            error => error,
            notice => super::page_notice(web, req, &lang),
        },
    )
}

pub async fn review(
    web: &Web,
    app: &Arc<App>,
    req: &Request,
    lang: String,
    who: &Who,
    visit: &str,
    key: &str,
) -> Response {
    let l = match load_for_page(web, app, req, &lang, who, visit, key, true).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    render_review(web, app, req, lang, who, &l, visit, key, None).await
}

/// POST the review: submit once (the idempotency key makes a double tap harmless).
#[allow(clippy::too_many_arguments)]
pub async fn submit(
    web: &Web,
    app: &Arc<App>,
    req: &Request,
    lang: String,
    who: &Who,
    visit: &str,
    key: &str,
    form: Vec<(String, String)>,
) -> Response {
    let l = match load_for_page(web, app, req, &lang, who, visit, key, false).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    // The review again, with what went wrong (nothing was sent).
    let again = async |status: StatusCode, msg: String| {
        let mut r =
            render_review(web, app, req, lang.clone(), who, &l, visit, key, Some(msg)).await;
        r.set_status(status);
        r
    };
    if !csrf_ok(req, form_value(&form, "csrf").unwrap_or("")) {
        return again(StatusCode::FORBIDDEN, web.t(&lang, "csrf_failed", &[])).await;
    }
    let completed_on = match form_value(&form, "completed_on").filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(s) => match crate::participants::parse_date("completed_on", s.trim()) {
            Ok(d) => Some(d),
            Err(e) => {
                let msg = crate::web::refusal(web, &lang, &e);
                return again(StatusCode::UNPROCESSABLE_ENTITY, msg).await;
            }
        },
    };
    let submission = Submission {
        visit: visit.into(),
        key: key.into(),
        idempotency_key: form_value(&form, "idem").unwrap_or("").to_string(),
        answers: vec![],
        client_utc_offset_minutes: None,
        completed_on,
        entry_reason: form_value(&form, "entry_reason").map(String::from),
        // The page script's record of when *send* was pressed (a form finished offline).
        device_completed_at: form_value(&form, "device_completed_at")
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t.trim()).ok())
            .map(|t| t.with_timezone(&chrono::Utc)),
    };
    match who.submit(app, submission).await {
        Ok(()) => redirect(&after_submit_target(who, app, visit).await),
        Err(Error::Conflict {
            code: Code::AlreadySubmitted,
            ..
        }) => redirect(&after_submit_target(who, app, visit).await),
        Err(e @ (Error::Invalid { .. } | Error::Unprocessable { .. } | Error::Conflict { .. })) => {
            let msg = crate::web::refusal(web, &lang, &e);
            again(StatusCode::UNPROCESSABLE_ENTITY, msg).await
        }
        Err(e) => error_page(
            web,
            &page_frame(web, app, req, lang.clone(), who, false),
            &e,
        ),
    }
}

//! What is due (the task list) and the thanks page after a form was sent, with the next window.
//! Read-only pages: they never change a draft or a response.

use std::sync::Arc;

use minijinja::context;
use poem::{
    Request, Response, handler,
    web::{Data, Path},
};
use serde::Serialize;

use super::{frame, signed_in};
use crate::web::{Web, answer_form, error_page, fmt_date, local_day, sv};
use crate::{
    answering, app::App, auth::participant, domain::answering::TaskStatus, questionnaires,
};

#[derive(Serialize)]
struct QView {
    title: String,
    status: &'static str,
    status_text: String,
    href: String,
    action: String,
}

#[derive(Serialize)]
struct TaskView {
    label: String,
    due: String,
    late: bool,
    questionnaires: Vec<QView>,
}

pub(crate) fn title_of(app: &App, key: &str, version: &str, lang: &str) -> String {
    questionnaires::resolve(
        &app.library,
        key,
        version,
        lang,
        questionnaires::Reader::Authenticated,
    )
    .ok()
    .and_then(|r| {
        r.wording
            .and_then(|w| w.get(&r.version.definition.title))
            .map(String::from)
    })
    .unwrap_or_else(|| key.to_string())
}

#[handler]
pub(super) async fn tasks(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (pa, lang) = match signed_in(web, app, req, None).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let page = frame(web, app, req, &lang, &pa);
    let tasks = match answering::tasks(app, &pa).await {
        Ok(t) => t,
        Err(e) => return error_page(web, &page, &e),
    };
    let views: Vec<TaskView> = tasks
        .into_iter()
        .map(|t| {
            let late = t.visit.state == crate::domain::schedule::VisitState::Late;
            let date = answer_form::answer_by(app, &t.visit, &lang);
            TaskView {
                label: t
                    .visit
                    .labels
                    .get(&lang)
                    .cloned()
                    .unwrap_or(t.visit.code.clone()),
                // Before randomization the baseline has no last day yet: no empty date.
                due: match &date {
                    Some(d) => web.t(
                        &lang,
                        if late {
                            "tasks_late"
                        } else {
                            "tasks_answer_by"
                        },
                        &[("date", d)],
                    ),
                    None => web.t(&lang, "tasks_answer_soon", &[]),
                },
                late,
                questionnaires: t
                    .questionnaires
                    .iter()
                    .map(|q| QView {
                        title: title_of(app, &q.key, &q.version, &lang),
                        status: q.status.as_str(),
                        status_text: web.t(&lang, &format!("status_{}", q.status), &[]),
                        href: format!("/p/q/{}/{}", t.visit.code, q.key),
                        action: web.t(
                            &lang,
                            if q.status == TaskStatus::InProgress {
                                "continue"
                            } else {
                                "start"
                            },
                            &[],
                        ),
                    })
                    .collect(),
            }
        })
        .collect();
    let next = next_window_text(web, app, &pa, &lang).await;
    web.render(
        "p_tasks.html",
        &page,
        context! { tasks => sv(&views), next => next },
    )
}

async fn next_window_text(
    web: &Web,
    app: &App,
    pa: &participant::ParticipantActor,
    lang: &str,
) -> String {
    match answering::next_window(app, pa).await.ok().flatten() {
        Some(v) => {
            let start = fmt_date(local_day(app, v.window.start), lang);
            let end = v
                .window
                .end
                .map(|e| fmt_date(crate::web::last_day(app, e), lang))
                .unwrap_or_default();
            let label = v.labels.get(lang).cloned().unwrap_or(v.code.clone());
            web.t(
                lang,
                "next_window",
                &[("visit", &label), ("start", &start), ("end", &end)],
            )
        }
        None => web.t(lang, "no_next_window", &[]),
    }
}

#[handler]
pub(super) async fn done(
    req: &Request,
    Path(visit): Path<String>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (pa, lang) = match signed_in(web, app, req, None).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let page = frame(web, app, req, &lang, &pa);
    let due = answering::tasks(app, &pa).await.unwrap_or_default();
    let more = due.iter().any(|t| {
        t.questionnaires
            .iter()
            .any(|q| q.status != TaskStatus::Completed)
    });
    // The visit's next form not sent yet: "part 2 of 3", opened from here.
    let next_form = due.iter().find(|t| t.visit.code == visit).and_then(|t| {
        let count = t.questionnaires.len();
        t.questionnaires
            .iter()
            .enumerate()
            .find(|(_, q)| q.status != TaskStatus::Completed)
            .map(|(i, q)| {
                let title = title_of(app, &q.key, &q.version, &lang);
                context! {
                    href => format!("/p/q/{visit}/{}", q.key),
                    text => web.t(&lang, "thanks_next_form", &[
                        ("title", &title),
                        ("n", &(i + 1).to_string()),
                        ("count", &count.to_string()),
                    ]),
                    button => web.t(&lang, "thanks_continue", &[("title", &title)]),
                }
            })
    });
    let next = next_window_text(web, app, &pa, &lang).await;
    web.render(
        "p_thanks.html",
        &page,
        context! { next => next, more => more, next_form => next_form },
    )
}

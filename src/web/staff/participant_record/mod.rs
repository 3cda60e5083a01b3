//! One participant's page: visits, responses, lesions, events, access link and PIN, and
//! the forms that change them. The page's sections in the reader's words are in `sections.rs`,
//! the forms in `forms.rs`, the access panel and the once-shown link or PIN in `access.rs`.

mod access;
mod forms;
mod sections;

use std::sync::Arc;

use minijinja::{Value, context};
use poem::{
    Request, Response, handler,
    web::{Data, Path},
};

use super::{PageContext, Web, failed, fmt_date, query_param, signed_in, sv};
use crate::web::chart;
use crate::{
    answering::pain, app::App, auth, auth::participant, domain::answering::MissedReason,
    participants,
};
use access::Shown;
use access::access_view;
use forms::kept_values;
pub(super) use forms::participant_form;
use sections::{
    event_views, instruments, lesion_views, location_options, reminder_rows, response_views,
    visit_rows,
};

#[allow(clippy::too_many_arguments)]
pub(super) async fn render_participant(
    web: &Web,
    app: &App,
    actor: &auth::StaffActor,
    page: &PageContext,
    study_id: &str,
    notice: Option<String>,
    error: Option<String>,
    shown: Option<Shown>,
    kept: Option<Value>,
) -> Response {
    let lang = page.lang.clone();
    let p = match participants::get(app, actor, study_id).await {
        Ok(p) => p,
        Err(e) => return failed(web, page, &e),
    };
    let schedule = match participants::schedule(app, actor, study_id).await {
        Ok(s) => s,
        Err(e) => return failed(web, page, &e),
    };
    let may_enter = auth::authorize(
        actor,
        crate::domain::permissions::Action::ResponseEnter,
        Some(&p.site),
    )
    .is_ok();
    let visits = visit_rows(web, app, &lang, &schedule, may_enter);
    let lesion_rows = participants::lesions(app, actor, study_id)
        .await
        .unwrap_or_default();
    let lesion_views = lesion_views(web, app, &lang, &lesion_rows);
    let events = event_views(web, app, &lang, &p, &lesion_rows);
    let resp_views = response_views(web, app, actor, study_id, &lang, &lesion_rows).await;
    let pain_course = pain::overview(app, actor, study_id).await.ok();
    let visit_name = |v: &str| app.study.visit_label(v, &lang);
    let pain_chart = pain_course
        .as_ref()
        .map(|o| chart::pain_svg(o, &lang, &web.t(&lang, "pain_chart", &[]), &visit_name));
    // The readings flagged for SSE assessment, in words beside the chart (not only a tooltip).
    let pain_flags: Vec<String> = pain_course
        .iter()
        .flatten()
        .flat_map(|l| {
            let first = l.points.first().map(|p| p.value);
            l.points
                .iter()
                .filter(|p| p.assess_for_sse)
                .map(move |p| (l, first.unwrap_or(p.value), p))
        })
        .map(|(l, from, p)| {
            web.t(
                &lang,
                "call_assess_for_sse",
                &[
                    ("from", &from.to_string()),
                    ("to", &p.value.to_string()),
                    ("lesion", &pain::label_of(l, &lang)),
                    ("visit", &visit_name(&p.visit)),
                ],
            )
        })
        .collect();
    // Pain progression needs the dose at each visit with a reading (docs/pain-response.md).
    let dose_missing: Vec<String> = pain_course
        .as_deref()
        .map(pain::visits_without_dose)
        .unwrap_or_default()
        .iter()
        .map(|v| visit_name(v))
        .collect();
    let reminder_rows = reminder_rows(web, app, &lang, actor, study_id).await;
    let access = access_view(web, app, &lang, actor, study_id).await;
    let locations = location_options(app, &lang);
    let coded = |list: &str, codes: &[&str]| -> Vec<(String, String)> {
        codes
            .iter()
            .map(|c| (c.to_string(), web.t(&lang, &format!("{list}_{c}"), &[])))
            .collect()
    };
    let reasons: Vec<(String, String)> = app
        .study
        .high_risk_reasons
        .iter()
        .map(|t| (t.code.clone(), t.label(&lang)))
        .collect();
    let languages = coded(
        "lang",
        &app.study
            .languages
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    web.render(
        "s_participant.html",
        page,
        context! {
            p => context! {
                study_id => p.study_id.clone(),
                site => p.site.clone(),
                language => web.language_label(&lang, &p.language),
                language_code => p.language.clone(),
                status => web.t(&lang, &format!("pstatus_{}", p.status.as_str()), &[]),
                enrolled_on => fmt_date(p.enrolled_on, &lang),
                randomization_date => p.randomization_date.map(|d| fmt_date(d, &lang)),
                randomized => p.randomization_date.is_some(),
                arm => p.arm.as_deref().and_then(|a| app.study.arm(a)).map(|a| a.label.get(&lang).cloned().unwrap_or_else(|| a.code.clone())),
                email => p.email.clone(),
                phone => p.phone.as_deref().map(crate::domain::contact::display_phone),
                reminder_channel => web.t(&lang, &format!("channel_{}", p.reminder_channel.as_str()), &[]),
                reminder_channel_code => p.reminder_channel.as_str(),
            },
            channels => (app.sms.is_some()).then(|| crate::domain::reminders::Channel::ALL.iter().map(|c| (c.as_str(), web.t(&lang, &format!("channel_{}", c.as_str()), &[]))).collect::<Vec<_>>()),
            visits => sv(&visits),
            lesions => sv(&lesion_views),
            events => sv(&events),
            responses => sv(&resp_views),
            pain_chart => pain_chart.map(Value::from_safe_string),
            pain_flags => pain_flags,
            reminders => sv(&reminder_rows),
            locations => locations,
            reasons => reasons,
            languages => languages,
            missed_reasons => MissedReason::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            instruments => instruments(app, &lang),
            lesion_edits => lesion_rows.iter().map(|l| context! {
                id => l.id.to_string(),
                label => l.labels.get(&lang).cloned().unwrap_or_else(|| l.location.clone()),
                labels => l.labels.0.clone(),
                side => l.side.clone().unwrap_or_default(),
                sided => app.study.lesion_locations.iter().any(|v| v.code == l.location && v.sided),
                irradiation_date => l.irradiation_date.map(|d| d.to_string()).unwrap_or_default(),
                active => l.active,
            }).collect::<Vec<_>>(),
            arms => app.study.arms.iter().map(|a| context! { code => a.code.clone(), label => a.label.get(&lang).cloned().unwrap_or_else(|| a.code.clone()) }).collect::<Vec<_>>(),
            event_kinds => coded("event", &app.study.events.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>()),
            sse_types => app.study.sse_types.iter().map(|t| (t.code.clone(), t.label(&lang))).collect::<Vec<_>>(),
            sides => coded("side", &["left", "right"]),
            may_enter => may_enter,
            may_correct => auth::authorize(actor, crate::domain::permissions::Action::ParticipantCorrect, Some(&p.site)).is_ok(),
            lesions_apply => app.study.lesion_limits.apply,
            analgesics_apply => app.study.analgesics.apply,
            dose_missing => dose_missing,
            notice => notice,
            error => error,
            kept => kept.unwrap_or_else(|| kept_values("", &[])),
            access => access,
            link => shown.map(|s| context! {
                qr => s.url.as_deref().and_then(|u| participant::qr_svg(u).ok()).map(|q| Value::from_safe_string(q.find("<svg").map_or(q.clone(), |i| q[i..].to_string()))),
                url => s.url,
                pin => s.pin,
            }),
        },
    )
}

#[handler]
pub(super) async fn participant_page(
    req: &Request,
    Path(id): Path<String>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    let notice = query_param(req, "saved").map(|_| web.t(&page.lang, "saved_ok", &[]));
    let shown = query_param(req, "shown").and_then(|t| Shown::open(app, &actor, &id, &t));
    render_participant(web, app, &actor, &page, &id, notice, None, shown, None).await
}

//! One participant's page: visits, responses, lesions, events, access link and PIN, and
//! the forms that change them.

use std::{collections::BTreeMap, sync::Arc};

use minijinja::{Value, context};
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Path},
};
use serde::Serialize;

use super::{
    PageContext, Pairs, Web, chart, csrf_ok, failed, field, fmt_date, local_time,
    missed_reason_text, opt, query_param, redirect, refusal, signed_in, sv,
};
use crate::{
    answering,
    answering::pain,
    app::App,
    auth,
    auth::participant,
    domain::{answering::MissedReason, participant::EventKind},
    error::Error,
    participants, reminders,
    store::participants::LesionRow,
};

#[derive(Serialize)]
pub(super) struct VisitRow {
    code: String,
    label: String,
    window: String,
    state: &'static str,
    state_text: String,
    missed_reason: String,
    enterable: bool,
    late_enterable: bool,
    /// (key, title in the page's language).
    questionnaires: Vec<(String, String)>,
}

#[derive(Serialize)]
pub(super) struct ResponseView {
    visit: String,
    questionnaire: String,
    status: String,
    submitted: String,
    mode: String,
    late: bool,
    /// A paper form: the day the participant filled it in ("Ingevuld op 3 februari 2027").
    filled_in: Option<String>,
    /// Why it was entered late or outside the window, as staff gave it.
    entry_reason: Option<String>,
    scores: Vec<(String, String)>,
    queries: Vec<(String, String)>,
}

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
            event_kinds => coded("event", &EventKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>()),
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

fn visit_rows(
    web: &Web,
    app: &App,
    lang: &str,
    schedule: &[participants::VisitView],
    may_enter: bool,
) -> Vec<VisitRow> {
    let lang = lang.to_string();
    schedule
        .iter()
        .map(|v| {
            let st = v.state.as_str();
            VisitRow {
                code: v.code.clone(),
                label: v.labels.get(&lang).cloned().unwrap_or(v.code.clone()),
                window: super::window_text(web, app, &lang, &v.window),
                state: st,
                state_text: web.t(&lang, &format!("state_{st}"), &[]),
                missed_reason: v
                    .missed_reason
                    .as_deref()
                    .map(|r| missed_reason_text(web, &lang, r))
                    .unwrap_or_default(),
                // Open visits are entered directly; a closed one through the late-entry step.
                enterable: may_enter
                    && matches!(
                        v.state,
                        crate::domain::schedule::VisitState::Open
                            | crate::domain::schedule::VisitState::Late
                    ),
                late_enterable: may_enter
                    && matches!(
                        v.state,
                        crate::domain::schedule::VisitState::Missed
                            | crate::domain::schedule::VisitState::Partial
                            | crate::domain::schedule::VisitState::NotExpected
                    ),
                questionnaires: v
                    .questionnaires
                    .iter()
                    .map(|q| {
                        let (key, version) = q.split_once('@').unwrap_or((q, ""));
                        (
                            key.to_string(),
                            crate::web::participant::title_of(app, key, version, &lang),
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

fn lesion_views(
    web: &Web,
    app: &App,
    lang: &str,
    lesion_rows: &[LesionRow],
) -> Vec<BTreeMap<&'static str, String>> {
    let vocab = &app.study.lesion_locations;
    let reason = |r: &str| {
        app.study
            .high_risk_reasons
            .iter()
            .find(|t| t.code == r)
            .map_or_else(|| r.to_string(), |t| t.label(lang))
    };
    lesion_rows
        .iter()
        .map(|l| {
            let location = vocab
                .iter()
                .find(|v| v.code == l.location)
                .map_or_else(|| l.location.clone(), |v| v.label(lang));
            BTreeMap::from([
                ("id", l.id.to_string()),
                (
                    "label",
                    l.labels.get(lang).cloned().unwrap_or(location.clone()),
                ),
                ("location", location),
                (
                    "side",
                    l.side
                        .as_deref()
                        .map(|s| web.t(lang, &format!("side_{s}"), &[]))
                        .unwrap_or_default(),
                ),
                (
                    "reasons",
                    l.high_risk_reasons
                        .iter()
                        .map(|r| reason(r))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                (
                    "irradiation_date",
                    l.irradiation_date
                        .map(|d| fmt_date(d, lang))
                        .unwrap_or_default(),
                ),
                (
                    "active",
                    web.t(lang, if l.active { "active" } else { "inactive" }, &[]),
                ),
            ])
        })
        .collect()
}

/// The events in the page's language: kind, date, SSE type, lesion and arm by name.
fn event_views(
    web: &Web,
    app: &App,
    lang: &str,
    p: &participants::ParticipantView,
    lesion_rows: &[LesionRow],
) -> Vec<BTreeMap<&'static str, String>> {
    p.events
        .iter()
        .map(|e| {
            let d = &e.details.0;
            let mut details = Vec::new();
            if let Some(t) = d["sse_type"].as_str() {
                details.push(
                    app.study
                        .sse_types
                        .iter()
                        .find(|x| x.code == t)
                        .map_or_else(|| t.to_string(), |x| x.label(lang)),
                );
            }
            if let Some(l) = d["lesion"]
                .as_str()
                .and_then(|id| lesion_rows.iter().find(|l| l.id.to_string() == id))
            {
                details.push(l.labels.get(lang).cloned().unwrap_or_default());
            }
            if let Some(a) = d["arm"].as_str().and_then(|a| app.study.arm(a)) {
                details.push(a.label.get(lang).cloned().unwrap_or_default());
            }
            BTreeMap::from([
                ("id", e.id.to_string()),
                (
                    "kind",
                    web.t(lang, &format!("event_{}", e.kind.as_str()), &[]),
                ),
                ("date", fmt_date(e.event_date, lang)),
                ("details", details.join(", ")),
                ("reason", e.reason.clone()),
                (
                    "error",
                    if e.entered_in_error {
                        "1".into()
                    } else {
                        String::new()
                    },
                ),
            ])
        })
        .collect()
}

/// The participant's responses with their latest scores (per-lesion scales named by lesion)
/// and data queries.
async fn response_views(
    web: &Web,
    app: &App,
    actor: &auth::StaffActor,
    study_id: &str,
    lang: &str,
    lesion_rows: &[LesionRow],
) -> Vec<ResponseView> {
    let lang = lang.to_string();
    let mut resp_views = Vec::new();
    if let Ok(list) = answering::list_for_staff(app, actor, study_id).await {
        for d in list {
            let scores: Vec<(String, String)> = d
                .scores
                .last()
                .map(|s| s.results.0.clone())
                .and_then(|v| v.get("scales").and_then(|s| s.as_array()).cloned())
                .unwrap_or_default()
                .iter()
                .map(|s| {
                    let code = s.get("code").and_then(|c| c.as_str()).unwrap_or("");
                    // A per-lesion scale is named with the lesion's label.
                    let lesion = s
                        .get("lesion")
                        .and_then(|l| l.as_str())
                        .and_then(|id| lesion_rows.iter().find(|l| l.id.to_string() == id))
                        .and_then(|l| Some(l.labels.0.clone()).and_then(|m| m.get(&lang).cloned()));
                    let name = web.t(
                        &lang,
                        &format!(
                            "scale_{}",
                            crate::domain::questionnaire::scoring::scale_key(
                                &d.row.questionnaire_key,
                                code
                            )
                        ),
                        &[],
                    );
                    (
                        match lesion {
                            Some(label) => format!("{name} ({label})"),
                            None => name,
                        },
                        s.get("score")
                            .and_then(|x| x.as_f64())
                            .map(|x| crate::web::fmt_number(x, 1, &lang))
                            .unwrap_or_else(|| "–".into()),
                    )
                })
                .collect();
            let queries = answering::queries::queries(app, actor, study_id, &d.row.id.to_string())
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|q| {
                    (
                        q.text,
                        if q.closed_at.is_some() {
                            web.t(&lang, "closed_queries", &[])
                        } else {
                            web.t(&lang, "open_queries", &[])
                        },
                    )
                })
                .collect();
            resp_views.push(ResponseView {
                visit: app.study.visit_label(&d.row.visit_code, &lang),
                questionnaire: crate::web::participant::title_of(
                    app,
                    &d.row.questionnaire_key,
                    &d.row.questionnaire_version,
                    &lang,
                ),
                status: web.t(&lang, &format!("rstatus_{}", d.row.status), &[]),
                submitted: d
                    .row
                    .submitted_at
                    .map(|t| local_time(app, t, &lang))
                    .unwrap_or_default(),
                mode: d
                    .row
                    .mode
                    .map(|m| web.t(&lang, &format!("how_{m}"), &[]))
                    .unwrap_or_default(),
                late: d.row.late,
                filled_in: d
                    .row
                    .completed_on
                    .map(|day| web.t(&lang, "resp_filled_in", &[("date", &fmt_date(day, &lang))])),
                entry_reason: d.row.entry_reason.clone(),
                scores,
                queries,
            });
        }
    }
    resp_views
}

async fn reminder_rows(
    web: &Web,
    app: &App,
    lang: &str,
    actor: &auth::StaffActor,
    study_id: &str,
) -> Vec<BTreeMap<&'static str, String>> {
    reminders::of_participant(app, actor, study_id)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            BTreeMap::from([
                ("visit", app.study.visit_label(&r.row.visit_code, lang)),
                ("kind", web.t(lang, &format!("remind_{}", r.row.kind), &[])),
                ("due", local_time(app, r.row.due_at, lang)),
                ("status", web.t(lang, &format!("rem_{}", r.row.status), &[])),
                (
                    "sent",
                    r.row
                        .sent_at
                        .map(|t| local_time(app, t, lang))
                        .unwrap_or_default(),
                ),
                ("error", r.row.last_error.unwrap_or_default()),
                (
                    "via",
                    match r.row.delivery.as_deref() {
                        Some(d) => format!(
                            "{} ({})",
                            web.t(lang, &format!("channel_{}", r.row.channel), &[]),
                            web.t(lang, &format!("delivery_{d}"), &[])
                        ),
                        None => web.t(lang, &format!("channel_{}", r.row.channel), &[]),
                    },
                ),
            ])
        })
        .collect()
}

/// The lesion-location choices of the study file, labelled in the page's language.
fn location_options(app: &App, lang: &str) -> Vec<(String, String)> {
    app.study
        .lesion_locations
        .iter()
        .map(|l| (l.code.clone(), l.label(lang)))
        .collect()
}

/// The questionnaires of the protocol (`key@version`, title in `lang`), once each, in order.
fn instruments(app: &App, lang: &str) -> Vec<minijinja::Value> {
    let mut seen = std::collections::BTreeSet::new();
    app.study
        .protocol
        .visits
        .iter()
        .flat_map(|v| v.questionnaires.iter())
        .filter(|q| seen.insert(q.to_string()))
        .map(|q| {
            let (key, version) = q.split_once('@').unwrap_or((q, ""));
            context! { code => q.clone(), title => crate::web::participant::title_of(app, key, version, lang) }
        })
        .collect()
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

/// The forms on the participant's page, each calling one service.
#[handler]
pub(super) async fn participant_form(
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
fn kept_values(form_name: &str, form: &[(String, String)]) -> Value {
    let values: BTreeMap<String, String> =
        form.iter().filter(|(k, _)| k != "csrf").cloned().collect();
    let ticked: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "high_risk")
        .map(|(_, v)| v.clone())
        .collect();
    context! { form => form_name, v => values, high_risk => ticked }
}

/// What a form shows once after it ran: a new link (with the PIN set the first time) or a new PIN.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Shown {
    url: Option<String>,
    pin: Option<String>,
    /// Shown until then (a reload within minutes shows it again, later never).
    until: chrono::DateTime<chrono::Utc>,
}

impl Shown {
    /// How long a new link or PIN stays shown after its form ran.
    const MINUTES: i64 = 10;

    fn new(app: &App, url: Option<String>, pin: Option<String>) -> Self {
        Shown {
            url,
            pin,
            until: app.clock.now() + chrono::Duration::minutes(Self::MINUTES),
        }
    }

    fn aad(actor: &auth::StaffActor, study_id: &str) -> String {
        format!("shown:{study_id}:{}", actor.id)
    }

    fn seal(&self, app: &App, actor: &auth::StaffActor, study_id: &str) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        crate::keys::sealed::seal(&app.keys.data, &text, &Self::aad(actor, study_id))
    }

    fn open(app: &App, actor: &auth::StaffActor, study_id: &str, token: &str) -> Option<Self> {
        let text =
            crate::keys::sealed::open(&app.keys.data, token, &Self::aad(actor, study_id)).ok()?;
        let shown: Shown = serde_json::from_str(&text).ok()?;
        (shown.until > app.clock.now()).then_some(shown)
    }
}

/// The access panel: link, PIN, lock and sessions, in the page's language (staff who manage
/// access only).
async fn access_view(
    web: &Web,
    app: &App,
    lang: &str,
    actor: &auth::StaffActor,
    study_id: &str,
) -> Option<Value> {
    let a = participant::access_status(app, actor, study_id)
        .await
        .ok()?;
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| local_time(app, t, lang));
    Some(context! {
        link => match (when(a.staff_link_at), when(a.staff_links_revoked_at)) {
            (Some(t), _) => web.t(lang, "access_link_at", &[("when", &t)]),
            (None, Some(t)) => web.t(lang, "access_links_revoked", &[("when", &t)]),
            (None, None) => web.t(lang, "access_no_link", &[]),
        },
        pin => when(a.pin_set_at).map(|t| web.t(lang, "access_pin_at", &[("when", &t)])).unwrap_or_else(|| web.t(lang, "access_no_pin", &[])),
        has_pin => a.pin_set_at.is_some(),
        locked => when(a.locked_until).map(|t| web.t(lang, "access_locked", &[("until", &t)])),
        sessions => web.t(lang, "access_sessions", &[("n", &a.open_sessions.to_string())]),
        live_links => a.live_links,
    })
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

//! The record page's sections in the reader's words: visits, lesions, events, responses with
//! their scores and queries, reminders, and the choices its forms offer.

use std::collections::BTreeMap;

use minijinja::context;
use serde::Serialize;

use super::super::{Web, fmt_date, local_time, missed_reason_text};
use crate::{answering, app::App, auth, participants, reminders, store::participants::LesionRow};

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
    /// A form finished offline that arrived after the visit closed: taken by the phone's time,
    /// or refused and waiting as a quarantined draft (both times, docs/trial-rules.md).
    offline: Option<String>,
    scores: Vec<(String, String)>,
    queries: Vec<(String, String)>,
}

pub(super) fn visit_rows(
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
                window: super::super::window_text(web, app, &lang, &v.window),
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

pub(super) fn lesion_views(
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
pub(super) fn event_views(
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
pub(super) async fn response_views(
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
                offline: offline_note(web, app, &d.row, &lang),
                scores,
                queries,
            });
        }
    }
    resp_views
}

/// The line under a response received late from a phone that was offline (#28.4): when the
/// phone finished it and when the server received it, and whether it was taken or waits.
fn offline_note(
    web: &Web,
    app: &App,
    r: &crate::store::responses::ResponseRow,
    lang: &str,
) -> Option<String> {
    let device = local_time(app, r.device_completed_at?, lang);
    let (key, received) = match (r.status.is_submitted(), r.synced_late, r.quarantined_at) {
        (true, true, _) => ("resp_synced_late", r.submitted_at?),
        (false, _, Some(at)) => ("resp_quarantined", at),
        _ => return None,
    };
    let received = local_time(app, received, lang);
    Some(web.t(lang, key, &[("finished", &device), ("received", &received)]))
}

pub(super) async fn reminder_rows(
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
pub(super) fn location_options(app: &App, lang: &str) -> Vec<(String, String)> {
    app.study
        .lesion_locations
        .iter()
        .map(|l| (l.code.clone(), l.label(lang)))
        .collect()
}

/// The questionnaires of the protocol (`key@version`, title in `lang`), once each, in order.
pub(super) fn instruments(app: &App, lang: &str) -> Vec<minijinja::Value> {
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

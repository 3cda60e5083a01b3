//! fhir.ndjson: each submitted response as a FHIR R4 QuestionnaireResponse.

use std::sync::Arc;

use bytes::Bytes;
use chrono::SecondsFormat;
use futures::{StreamExt, stream};
use serde_json::{Value, json};

use super::{ByteStream, Options, exported};
use crate::{
    answering::as_answers,
    app::App,
    domain::answering::{EntryMode, ResponseStatus},
    domain::questionnaire::{Definition, Entry, ItemType, fhir},
    store::{self, participants::ParticipantRow},
};

/// One FHIR R4 QuestionnaireResponse per submitted response (and drafts when asked), one JSON
/// object per line.
pub fn fhir_ndjson_of(app: Arc<App>, people: Vec<ParticipantRow>, opts: Options) -> ByteStream {
    let body = stream::iter(people).then(move |p| {
        let app = app.clone();
        async move {
            let mut out = Vec::new();
            let rows = store::responses::of_participant(&app.db, p.id)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            for r in rows.into_iter().filter(|r| exported(r, opts)) {
                let line = response_resource(&app, &p, &r)
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                out.extend_from_slice(line.to_string().as_bytes());
                out.push(b'\n');
            }
            Ok(Bytes::from(out))
        }
    });
    Box::pin(body)
}

/// One stored response as a QuestionnaireResponse, the one builder behind fhir.ndjson and the
/// FHIR REST endpoint: loads its answers; staff entry names its author.
pub(crate) async fn response_resource(
    app: &App,
    p: &ParticipantRow,
    r: &store::responses::ResponseRow,
) -> Result<Value, store::StoreError> {
    let answers = store::responses::answers(&app.db, r.id).await?;
    let mut q = questionnaire_response(app, p, r, &as_answers(&answers));
    // Staff entry names its author (the staff member who entered the answers).
    if matches!(
        r.mode,
        Some(EntryMode::Interviewer | EntryMode::Paper | EntryMode::Mixed)
    ) && let Some(a) = answers.iter().find(|a| a.actor_kind == "staff")
    {
        let base = app.settings.base_url.trim_end_matches('/');
        q["author"] = json!({ "identifier": { "system": format!("{base}/fhir/staff-id"), "value": a.actor_id } });
    }
    Ok(q)
}

pub(super) fn questionnaire_response(
    app: &App,
    p: &ParticipantRow,
    r: &store::responses::ResponseRow,
    answers: &[crate::domain::questionnaire::answers::Answer],
) -> Value {
    let base = app.settings.base_url.trim_end_matches('/');
    let def = app
        .library
        .get(&r.questionnaire_key, &r.questionnaire_version)
        .map(|v| &v.definition);
    let items = def
        .map(|def| response_items(def, base, r, answers))
        .unwrap_or_default();
    let status = match r.status {
        ResponseStatus::Draft => "in-progress",
        ResponseStatus::Amended => "amended",
        ResponseStatus::Completed => "completed",
    };
    let subject =
        json!({ "identifier": { "system": format!("{base}/fhir/study-id"), "value": p.study_id } });
    let mut q = json!({
        "resourceType": "QuestionnaireResponse",
        "id": r.id.to_string(),
        "questionnaire": format!("{}|{}", fhir::canonical_url(base, &r.questionnaire_key), r.questionnaire_version),
        "status": status,
        "language": r.language,
        "subject": subject,
    });
    if !items.is_empty() {
        q["item"] = json!(items);
    }
    // The visit it answers, as an extension (QuestionnaireResponse has no visit element).
    q["extension"] = json!([{ "url": format!("{base}/fhir/StructureDefinition/visit"), "valueCode": r.visit_code }]);
    q["authored"] = authored(r);
    if r.mode == Some(crate::domain::answering::EntryMode::SelfReport) {
        q["source"] = subject;
    }
    q
}

/// When the response was authored: a paper form the day the participant filled it in, else the
/// submission instant (a draft: when it was started). Also each derived Observation's
/// `effectiveDateTime`.
pub(crate) fn authored(r: &store::responses::ResponseRow) -> Value {
    match r.completed_on {
        Some(day) => json!(day.to_string()),
        None => json!(
            r.submitted_at
                .unwrap_or(r.started_at)
                .to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
    }
}

/// A FHIR answer value for an item of `def` (None when the stored value does not fit it).
fn answer_value(def: &Definition, base: &str, item: &str, v: &Value) -> Option<Value> {
    let placed = def.item(item)?;
    let v = &crate::domain::questionnaire::answers::canonical(def, item, v);
    Some(match placed.item.kind {
        ItemType::SingleChoice => {
            let set = placed.item.options.clone().unwrap_or_default();
            json!({ "valueCoding": { "system": fhir::option_system(base, def, &set), "code": v.as_i64()?.to_string() } })
        }
        ItemType::Nrs | ItemType::Integer => json!({ "valueInteger": v.as_i64()? }),
        ItemType::YesNo => json!({ "valueBoolean": v.as_i64()? == 1 }),
        ItemType::Date => json!({ "valueDate": v.as_str()? }),
        ItemType::Text => json!({ "valueString": v.as_str()? }),
    })
}

/// The response's items in the definition's order; a per-lesion group once per lesion, named
/// by the lesion's label and id.
fn response_items(
    def: &Definition,
    base: &str,
    r: &store::responses::ResponseRow,
    answers: &[crate::domain::questionnaire::answers::Answer],
) -> Vec<Value> {
    let value_of = |item: &str, v: &Value| answer_value(def, base, item, v);
    let mut items = Vec::new();
    for entry in &def.items {
        match entry {
            Entry::Item(i) => {
                if let Some(a) = answers
                    .iter()
                    .find(|a| a.item == i.id && a.lesion.is_none())
                    && let Some(v) = value_of(&i.id, &a.value)
                {
                    items.push(json!({ "linkId": i.id, "answer": [v] }));
                }
            }
            Entry::Group(g) => {
                for l in r.lesions.iter() {
                    let inner: Vec<Value> = g
                        .items
                        .iter()
                        .filter_map(|i| {
                            let a = answers.iter().find(|a| {
                                a.item == i.id && a.lesion.as_deref() == Some(l.id.as_str())
                            })?;
                            Some(json!({ "linkId": i.id, "answer": [value_of(&i.id, &a.value)?] }))
                        })
                        .collect();
                    if !inner.is_empty() {
                        items.push(json!({
                            "linkId": g.id,
                            "text": l.label(&r.language),
                            "extension": [{ "url": format!("{base}/fhir/StructureDefinition/lesion"), "valueString": l.id }],
                            "item": inner,
                        }));
                    }
                }
            }
        }
    }
    items
}

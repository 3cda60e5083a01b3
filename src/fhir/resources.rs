//! Read and search of each resource type served: QuestionnaireResponse (keyset-paged from the
//! store), Questionnaire (from the library), Patient (pseudonymous: study id and site only);
//! Observation in `observations`.
//! Another site's resource is "not found", never "forbidden", so ids do not leak.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    access::{Kind, Reader},
    bundle,
    outcome::Outcome,
    search::{self, Bounds},
    smart::fhir_base,
};
use crate::{
    app::App,
    domain::questionnaire::fhir as qfhir,
    exports::fhir_responses::response_resource,
    questionnaires::Version,
    store::{self, fhir::ResponseFilter, participants::ParticipantRow},
};

/// The parameters each type understands (others are ignored, or refused when strict).
fn known(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::QuestionnaireResponse => &[
            "patient",
            "subject",
            "questionnaire",
            "authored",
            "status",
            "_lastUpdated",
            "_count",
            "_sort",
            "_summary",
            "_cursor",
            "_format",
        ],
        Kind::Questionnaire => &[
            "url", "version", "name", "status", "_count", "_summary", "_format",
        ],
        Kind::Patient => &["identifier", "_id", "_count", "_summary", "_format"],
        Kind::Observation => super::observations::PARAMS,
    }
}

fn check_known(kind: Kind, params: &[(String, String)], strict: bool) -> Result<(), Outcome> {
    if !strict {
        return Ok(());
    }
    match params
        .iter()
        .find(|(k, _)| !known(kind).contains(&k.as_str()))
    {
        Some((k, _)) => Err(Outcome::invalid(format!(
            "search parameter {k} is not supported for {} (sent with Prefer: handling=strict)",
            kind.as_str()
        ))),
        None => Ok(()),
    }
}

pub(super) fn summary_count(params: &[(String, String)]) -> Result<bool, Outcome> {
    match params.iter().find(|(k, _)| k == "_summary") {
        None => Ok(false),
        Some((_, v)) if v == "count" => Ok(true),
        Some((_, v)) if v == "false" => Ok(false),
        Some((_, v)) => Err(Outcome::invalid(format!(
            "search parameter _summary: {v:?} is not supported (count and false are)"
        ))),
    }
}

pub async fn search(
    app: &App,
    reader: &Reader,
    kind: Kind,
    params: &[(String, String)],
    strict: bool,
) -> Result<Value, Outcome> {
    check_known(kind, params, strict)?;
    match kind {
        Kind::QuestionnaireResponse => search_responses(app, reader, params).await,
        Kind::Questionnaire => search_questionnaires(app, reader, params),
        Kind::Patient => search_patients(app, reader, params).await,
        Kind::Observation => super::observations::search(app, reader, params).await,
    }
}

pub async fn read(app: &App, reader: &Reader, kind: Kind, id: &str) -> Result<Value, Outcome> {
    let missing = || Outcome::not_found(format!("{}/{id}", kind.as_str()));
    match kind {
        Kind::QuestionnaireResponse => {
            let id: Uuid = id.parse().map_err(|_| missing())?;
            let r = store::responses::find_by_id(&app.db, id)
                .await?
                .filter(|r| r.submitted_at.is_some() && r.status.is_submitted())
                .ok_or_else(missing)?;
            let p = visible_participant(app, reader, r.participant_id)
                .await?
                .ok_or_else(missing)?;
            let last = store::fhir::last_changes(&app.db, std::slice::from_ref(&r)).await?;
            response(app, &p, &r, last.get(&r.id).copied()).await
        }
        Kind::Questionnaire => app
            .library
            .versions()
            .find(|v| questionnaire_id(v) == id)
            .map(|v| questionnaire(app, reader, v))
            .ok_or_else(missing),
        Kind::Patient => {
            let id: Uuid = id.parse().map_err(|_| missing())?;
            let p = visible_participant(app, reader, id)
                .await?
                .ok_or_else(missing)?;
            Ok(patient(app, &p))
        }
        Kind::Observation => super::observations::read(app, reader, id)
            .await?
            .ok_or_else(missing),
    }
}

/// A participant, when the reader sees their site.
pub(super) async fn visible_participant(
    app: &App,
    reader: &Reader,
    id: Uuid,
) -> Result<Option<ParticipantRow>, Outcome> {
    Ok(store::participants::find_by_id(&app.db, id)
        .await?
        .filter(|p| reader.sees_site(&p.site_code)))
}

// ---- QuestionnaireResponse ----

/// `meta.lastUpdated`: the response's last change (`store::fhir::last_changes`).
pub(super) fn meta(last: Option<DateTime<Utc>>) -> Value {
    last.map_or(
        Value::Null,
        |at| json!({ "lastUpdated": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true) }),
    )
}

pub(crate) async fn response(
    app: &App,
    p: &ParticipantRow,
    r: &store::responses::ResponseRow,
    last: Option<DateTime<Utc>>,
) -> Result<Value, Outcome> {
    let mut q = response_resource(app, p, r).await?;
    // Over REST the subject is also a reference to the pseudonymous Patient resource.
    q["subject"]["reference"] = json!(format!("Patient/{}", p.id));
    if last.is_some() {
        q["meta"] = meta(last);
    }
    Ok(q)
}

/// The questionnaire key a canonical url names on this server (None: not one of ours).
fn questionnaire_key(app: &App, url: &str) -> Option<String> {
    let prefix = qfhir::canonical_url(&app.settings.base_url, "");
    url.strip_prefix(&prefix)
        .filter(|k| !k.is_empty() && !k.contains('/'))
        .map(str::to_string)
}

async fn search_responses(
    app: &App,
    reader: &Reader,
    params: &[(String, String)],
) -> Result<Value, Outcome> {
    let mut f = ResponseFilter {
        sites: reader.sites(),
        ..Default::default()
    };
    let mut count = search::DEFAULT_COUNT;
    let mut bounds = Bounds::default();
    let mut changed = Bounds::default();
    let mut matches_nothing = false;
    for (k, v) in params {
        match k.as_str() {
            "patient" | "subject" => {
                matches_nothing |= !patient_param(&mut f, k, v)?;
            }
            "_lastUpdated" => search::date(k, v, app.study.time_zone, &mut changed)?,
            "questionnaire" => {
                let (url, version) = search::canonical(v);
                match questionnaire_key(app, &url) {
                    Some(key) => f.questionnaire = Some((key, version)),
                    None => matches_nothing = true,
                }
            }
            "authored" => search::date(k, v, app.study.time_zone, &mut bounds)?,
            "status" => {
                for s in v.split(',') {
                    match s {
                        "completed" => f.statuses.push("completed"),
                        "amended" => f.statuses.push("amended"),
                        // Valid codes epro never serves (drafts stay inside).
                        "in-progress" | "stopped" | "entered-in-error" => {}
                        other => {
                            return Err(Outcome::invalid(format!(
                                "search parameter status: {other:?} is not a QuestionnaireResponse status"
                            )));
                        }
                    }
                }
                if f.statuses.is_empty() {
                    matches_nothing = true;
                }
            }
            "_count" => count = search::count(v)?,
            "_sort" => f.descending = search::sort(v)?,
            "_cursor" => f.cursor = Some(search::cursor(v)?),
            _ => {}
        }
    }
    f.after = bounds.after;
    f.before = bounds.before;
    f.changed_after = changed.after;
    f.changed_before = changed.before;
    let base = fhir_base(app);
    let kind = "QuestionnaireResponse";
    if matches_nothing {
        return Ok(bundle::counted(&base, kind, params, 0));
    }
    let total = store::fhir::count_responses(&app.db, &f).await?;
    if summary_count(params)? || count == 0 {
        return Ok(bundle::counted(&base, kind, params, total));
    }
    let mut rows = store::fhir::page_responses(&app.db, &f, count + 1).await?;
    let more = rows.len() as u64 > count;
    rows.truncate(count as usize);
    let next = more
        .then(|| rows.last())
        .flatten()
        .and_then(|r| Some(search::cursor_text(r.submitted_at?, r.id)));
    let people = participants_of(app, &rows).await?;
    let last = store::fhir::last_changes(&app.db, &rows).await?;
    let mut resources = Vec::with_capacity(rows.len());
    for r in &rows {
        if let Some(p) = people.get(&r.participant_id) {
            resources.push(response(app, p, r, last.get(&r.id).copied()).await?);
        }
    }
    Ok(bundle::searchset(
        &base,
        kind,
        params,
        Some(total),
        resources,
        next,
    ))
}

/// `patient`/`subject` into the filter; false when it contradicts an earlier one (then nothing
/// matches).
pub(super) fn patient_param(f: &mut ResponseFilter, k: &str, v: &str) -> Result<bool, Outcome> {
    let id = search::reference(k, v, "Patient")?;
    let consistent = f.participant.is_none_or(|p| p == id);
    f.participant = Some(id);
    Ok(consistent)
}

/// The participants of a page of responses, each loaded once.
pub(super) async fn participants_of(
    app: &App,
    rows: &[store::responses::ResponseRow],
) -> Result<HashMap<Uuid, ParticipantRow>, Outcome> {
    let mut people: HashMap<Uuid, ParticipantRow> = HashMap::new();
    for r in rows {
        if !people.contains_key(&r.participant_id)
            && let Some(p) = store::participants::find_by_id(&app.db, r.participant_id).await?
        {
            people.insert(p.id, p);
        }
    }
    Ok(people)
}

// ---- Questionnaire ----

/// One search parameter's test of a questionnaire version.
type Wanted = Box<dyn Fn(&Version) -> bool>;

fn questionnaire_id(v: &Version) -> String {
    format!("{}-{}", v.definition.key, v.definition.version)
}

fn questionnaire(app: &App, reader: &Reader, v: &Version) -> Value {
    let def = &v.definition;
    // The study's first language the questionnaire has.
    let lang = app
        .study
        .languages
        .iter()
        .find(|l| def.languages.contains(l))
        .or(def.languages.first())
        .cloned()
        .unwrap_or_else(|| "en".into());
    let reader = if reader.sees_licensed_wording() {
        crate::questionnaires::Reader::Authenticated
    } else {
        crate::questionnaires::Reader::Anonymous
    };
    let wording =
        crate::questionnaires::resolve(&app.library, &def.key, &def.version, &lang, reader)
            .ok()
            .and_then(|r| r.wording);
    qfhir::questionnaire(def, wording, &app.settings.base_url, &lang)
}

fn search_questionnaires(
    app: &App,
    reader: &Reader,
    params: &[(String, String)],
) -> Result<Value, Outcome> {
    let mut wanted: Vec<Wanted> = Vec::new();
    for (k, v) in params {
        let v = v.clone();
        match k.as_str() {
            "url" => {
                let (url, version) = search::canonical(&v);
                let base = app.settings.base_url.clone();
                wanted.push(Box::new(move |q| {
                    qfhir::canonical_url(&base, &q.definition.key) == url
                        && version
                            .as_ref()
                            .is_none_or(|ver| *ver == q.definition.version)
                }));
            }
            "version" => wanted.push(Box::new(move |q| q.definition.version == v)),
            "name" => {
                let v = v.to_lowercase();
                wanted.push(Box::new(move |q| {
                    let name = qfhir::name(&q.definition.key).to_lowercase();
                    name.starts_with(&v)
                }));
            }
            "status" => wanted.push(Box::new(move |_| v.split(',').any(|s| s == "active"))),
            _ => {}
        }
    }
    let found: Vec<Value> = app
        .library
        .versions()
        .filter(|q| wanted.iter().all(|w| w(q)))
        .map(|q| questionnaire(app, reader, q))
        .collect();
    listed(app, Kind::Questionnaire, params, found)
}

/// A searchset of every match at once (few: the library's versions, one participant).
fn listed(
    app: &App,
    kind: Kind,
    params: &[(String, String)],
    found: Vec<Value>,
) -> Result<Value, Outcome> {
    let total = found.len() as u64;
    let found = if summary_count(params)? {
        vec![]
    } else {
        found
    };
    Ok(bundle::searchset(
        &fhir_base(app),
        kind.as_str(),
        params,
        Some(total),
        found,
        None,
    ))
}

// ---- Patient ----

fn patient(app: &App, p: &ParticipantRow) -> Value {
    let base = app.settings.base_url.trim_end_matches('/');
    json!({
        "resourceType": "Patient",
        "id": p.id.to_string(),
        "identifier": [{ "system": format!("{base}/fhir/study-id"), "value": p.study_id }],
        "managingOrganization": {
            "identifier": { "system": format!("{base}/fhir/site"), "value": p.site_code },
            "display": p.site_code,
        },
    })
}

async fn search_patients(
    app: &App,
    reader: &Reader,
    params: &[(String, String)],
) -> Result<Value, Outcome> {
    let base = app.settings.base_url.trim_end_matches('/').to_string();
    let system = format!("{base}/fhir/study-id");
    let mut found: Option<ParticipantRow> = None;
    let mut asked = false;
    for (k, v) in params {
        match k.as_str() {
            "identifier" => {
                asked = true;
                let value = match v.split_once('|') {
                    Some((s, value)) if s.is_empty() || s == system => value,
                    Some(_) => "",
                    None => v.as_str(),
                };
                found = store::participants::find(&app.db, value).await?;
            }
            "_id" => {
                asked = true;
                found = match v.parse::<Uuid>() {
                    Ok(id) => store::participants::find_by_id(&app.db, id).await?,
                    Err(_) => None,
                };
            }
            _ => {}
        }
    }
    if !asked {
        return Err(Outcome::invalid(
            "Patient search needs identifier (the study id) or _id; listing every participant is not offered",
        ));
    }
    let found: Vec<Value> = found
        .filter(|p| reader.sees_site(&p.site_code))
        .map(|p| patient(app, &p))
        .into_iter()
        .collect();
    listed(app, Kind::Patient, params, found)
}

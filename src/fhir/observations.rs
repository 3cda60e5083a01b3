//! Observations derived from submitted responses (the SDC `$extract` idea, docs/fhir.md): each
//! stored scale score of a response's current scoring file — one per lesion for a per-lesion
//! scale such as the NRS — as an R4 Observation. Never stored: built from the stored scores on
//! every read, so an amendment's re-scoring shows at once; a scale without a score is left out.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    access::{Kind, Reader},
    bundle,
    outcome::Outcome,
    resources::{meta, participants_of, patient_param, summary_count, visible_participant},
    search::{self, Bounds},
    smart::fhir_base,
};
use crate::{
    app::App,
    domain::{answering::ResponseStatus, questionnaire::scoring::scale_key},
    exports::{fhir_responses::authored, scores::describe},
    store::{
        self,
        fhir::ResponseFilter,
        participants::ParticipantRow,
        responses::{ResponseRow, ScoreRow},
    },
};

/// The search parameters Observation understands.
pub const PARAMS: &[&str] = &[
    "patient",
    "subject",
    "code",
    "date",
    "derived-from",
    "_lastUpdated",
    "_count",
    "_summary",
    "_cursor",
    "_format",
];

/// The study's code system of scale keys (the `scale_key` column of scores.csv).
pub fn code_system(app: &App) -> String {
    format!(
        "{}/fhir/CodeSystem/{}-scales",
        app.settings.base_url.trim_end_matches('/'),
        app.study.id
    )
}

/// Every scale key the library's scoring files define, with the questionnaire it belongs to.
fn scale_keys(app: &App) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for v in app.library.versions() {
        let key = &v.definition.key;
        for (s, _) in v.scorings.values() {
            let codes = s
                .scales
                .iter()
                .map(|x| &x.code)
                .chain(s.summaries.iter().map(|x| &x.code));
            for code in codes {
                out.insert(scale_key(key, code), key.clone());
            }
        }
    }
    out
}

/// The Observation id: the response id and a digest of the scale key and lesion, within FHIR's
/// id rule (`[A-Za-z0-9\-\.]{1,64}`: 36 + 1 + 16 characters), stable across reads and
/// amendments.
fn observation_id(response: Uuid, key: &str, lesion: Option<&str>) -> String {
    let digest = Sha256::digest(format!("{key}|{}", lesion.unwrap_or_default()));
    format!("{response}-{}", &hex::encode(digest)[..16])
}

/// The stored score set an Observation comes from: the version's current scoring file when the
/// response has it, else the latest stored one.
fn current<'a>(app: &App, r: &ResponseRow, scores: &'a [ScoreRow]) -> Option<&'a ScoreRow> {
    let latest = app
        .library
        .get(&r.questionnaire_key, &r.questionnaire_version)
        .and_then(|v| v.latest_scoring())
        .map(|s| s.id());
    scores
        .iter()
        .find(|s| Some(&s.scoring) == latest.as_ref())
        .or(scores.last())
}

/// The Observations derived from one submitted response, in the scoring file's order.
fn derive(
    app: &App,
    p: &ParticipantRow,
    r: &ResponseRow,
    scores: &[ScoreRow],
    last: Option<DateTime<Utc>>,
) -> Vec<Value> {
    let Some(s) = current(app, r, scores) else {
        return vec![];
    };
    let base = app.settings.base_url.trim_end_matches('/');
    let system = code_system(app);
    let results = &s.results.0;
    let scales = results["scales"].as_array().into_iter().flatten();
    let summaries = results["summaries"].as_array().into_iter().flatten();
    let mut out = Vec::new();
    for scale in scales.chain(summaries) {
        let (Some(code), Some(score)) = (scale["code"].as_str(), scale["score"].as_f64()) else {
            // Not computable (too few items answered): no Observation (docs/fhir.md).
            continue;
        };
        let key = scale_key(&r.questionnaire_key, code);
        let label = scale["label"].as_str().unwrap_or(code);
        let lesion = scale["lesion"].as_str();
        let [kind, ..] = describe(
            app,
            &r.questionnaire_key,
            &r.questionnaire_version,
            &s.scoring,
            code,
        );
        let mut o = json!({
            "resourceType": "Observation",
            "id": observation_id(r.id, &key, lesion),
            "status": if r.status == ResponseStatus::Amended { "amended" } else { "final" },
            "category": [{ "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "survey",
                "display": "Survey",
            }] }],
            "code": { "coding": [{ "system": system, "code": key, "display": label }], "text": label },
            "subject": {
                "reference": format!("Patient/{}", p.id),
                "identifier": { "system": format!("{base}/fhir/study-id"), "value": p.study_id },
            },
            "effectiveDateTime": authored(r),
            "method": { "text": s.scoring },
            "derivedFrom": [{ "reference": format!("QuestionnaireResponse/{}", r.id) }],
        });
        if last.is_some() {
            o["meta"] = meta(last);
        }
        // A raw scale is the answer itself (the 0–10 NRS): an integer, as answered.
        if kind == "raw" && score.fract() == 0.0 {
            o["valueInteger"] = json!(score as i64);
        } else {
            o["valueQuantity"] = json!({
                "value": score,
                "unit": "score",
                "system": "http://unitsofmeasure.org",
                "code": "{score}",
            });
        }
        if let Some(lesion) = lesion {
            let label = r
                .lesions
                .iter()
                .find(|l| l.id == lesion)
                .map_or_else(|| lesion.to_string(), |l| l.label(&r.language));
            o["bodySite"] = json!({
                "extension": [{ "url": format!("{base}/fhir/StructureDefinition/lesion"), "valueString": lesion }],
                "text": label,
            });
        }
        out.push(o);
    }
    out
}

fn code_of(o: &Value) -> &str {
    o["code"]["coding"][0]["code"].as_str().unwrap_or_default()
}

/// Read one Observation: the response its id names, visible to the reader, derived again.
pub async fn read(app: &App, reader: &Reader, id: &str) -> Result<Option<Value>, Outcome> {
    let Some(response) = id.get(..36).and_then(|r| r.parse::<Uuid>().ok()) else {
        return Ok(None);
    };
    let Some(r) = store::responses::find_by_id(&app.db, response)
        .await?
        .filter(|r| r.submitted_at.is_some() && r.status.is_submitted())
    else {
        return Ok(None);
    };
    let Some(p) = visible_participant(app, reader, r.participant_id).await? else {
        return Ok(None);
    };
    let scores = store::responses::scores(&app.db, r.id).await?;
    let last = store::fhir::last_changes(&app.db, std::slice::from_ref(&r)).await?;
    Ok(derive(app, &p, &r, &scores, last.get(&r.id).copied())
        .into_iter()
        .find(|o| o["id"] == id))
}

/// `code` values: `system|code`, `code`, or `system|` (every code of the system); a system other
/// than the study's matches nothing.
fn codes(app: &App, value: &str, known: &HashMap<String, String>) -> BTreeSet<String> {
    let system = code_system(app);
    value
        .split(',')
        .flat_map(|v| match v.split_once('|') {
            Some((s, "")) if s == system => known.keys().cloned().collect(),
            Some((s, code)) if s == system || s.is_empty() => vec![code.to_string()],
            Some(_) => vec![],
            None => vec![v.to_string()],
        })
        .filter(|c| known.contains_key(c))
        .collect()
}

/// A search, parsed: which responses, which codes, where to start, how many.
#[derive(Clone)]
struct Query {
    filter: ResponseFilter,
    codes: Option<BTreeSet<String>>,
    start: Option<(DateTime<Utc>, Uuid, usize)>,
    count: u64,
    nothing: bool,
}

fn parse(app: &App, reader: &Reader, params: &[(String, String)]) -> Result<Query, Outcome> {
    let known = scale_keys(app);
    let mut q = Query {
        filter: ResponseFilter {
            sites: reader.sites(),
            ..Default::default()
        },
        codes: None,
        start: None,
        count: search::DEFAULT_COUNT,
        nothing: false,
    };
    let (mut date, mut changed) = (Bounds::default(), Bounds::default());
    let tz = app.study.time_zone;
    for (k, v) in params {
        match k.as_str() {
            "patient" | "subject" => q.nothing |= !patient_param(&mut q.filter, k, v)?,
            "code" => {
                let these = codes(app, v, &known);
                q.codes = Some(match q.codes.take() {
                    Some(before) => before.intersection(&these).cloned().collect(),
                    None => these,
                });
            }
            "date" => search::date(k, v, tz, &mut date)?,
            "_lastUpdated" => search::date(k, v, tz, &mut changed)?,
            "derived-from" => {
                let id = search::reference(k, v, "QuestionnaireResponse")?;
                q.nothing |= q.filter.response.is_some_and(|r| r != id);
                q.filter.response = Some(id);
            }
            "_count" => q.count = search::count(v)?,
            "_cursor" => q.start = Some(search::position(v)?),
            _ => {}
        }
    }
    if let Some(codes) = &q.codes {
        q.nothing |= codes.is_empty();
        let keys: BTreeSet<String> = codes.iter().filter_map(|c| known.get(c).cloned()).collect();
        q.filter.keys = Some(keys.into_iter().collect());
    }
    (q.filter.after, q.filter.before) = (date.after, date.before);
    (q.filter.changed_after, q.filter.changed_before) = (changed.after, changed.before);
    Ok(q)
}

/// One derived Observation and where the next page starts after it.
type Found = (Value, (DateTime<Utc>, Uuid, usize));

/// Responses fetched per store query while walking.
const BATCH: u64 = 100;

/// Walk the matching responses in (submission instant, id) order from `q.start`, deriving the
/// wanted Observations, until `limit` are found (`None`: all of them).
async fn walk(app: &App, q: &Query, limit: Option<usize>) -> Result<Vec<Found>, Outcome> {
    let mut found: Vec<Found> = Vec::new();
    let mut f = q.filter.clone();
    // The response a cursor points into comes first, without what earlier pages gave of it.
    if let Some((at, id, given)) = q.start {
        let mut first = q.filter.clone();
        if first.response.is_some_and(|r| r != id) {
            return Ok(found);
        }
        first.response = Some(id);
        let rows = store::fhir::page_responses(&app.db, &first, 1).await?;
        collect(app, q, &rows, &mut found).await?;
        found.retain(|(_, (_, _, n))| *n > given);
        f.cursor = Some((at, id));
    }
    loop {
        if limit.is_some_and(|l| found.len() >= l) {
            break;
        }
        let rows = store::fhir::page_responses(&app.db, &f, BATCH).await?;
        collect(app, q, &rows, &mut found).await?;
        match rows.last() {
            Some(r) if rows.len() as u64 == BATCH => f.cursor = r.submitted_at.map(|at| (at, r.id)),
            _ => break,
        }
    }
    if let Some(l) = limit {
        found.truncate(l);
    }
    Ok(found)
}

/// The wanted Observations of `rows`, each with its position in its response.
async fn collect(
    app: &App,
    q: &Query,
    rows: &[ResponseRow],
    found: &mut Vec<Found>,
) -> Result<(), Outcome> {
    let people = participants_of(app, rows).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let scores = store::fhir::scores_of(&app.db, &ids).await?;
    let last = store::fhir::last_changes(&app.db, rows).await?;
    for r in rows {
        let (Some(p), Some(at)) = (people.get(&r.participant_id), r.submitted_at) else {
            continue;
        };
        let derived = derive(
            app,
            p,
            r,
            scores.get(&r.id).map_or(&[][..], Vec::as_slice),
            last.get(&r.id).copied(),
        );
        let wanted = derived
            .into_iter()
            .filter(|o| q.codes.as_ref().is_none_or(|c| c.contains(code_of(o))));
        for (n, o) in wanted.enumerate() {
            found.push((o, (at, r.id, n + 1)));
        }
    }
    Ok(())
}

pub async fn search(
    app: &App,
    reader: &Reader,
    params: &[(String, String)],
) -> Result<Value, Outcome> {
    let q = parse(app, reader, params)?;
    let base = fhir_base(app);
    let kind = Kind::Observation.as_str();
    if q.nothing {
        return Ok(bundle::counted(&base, kind, params, 0));
    }
    // The total needs every matching response derived: given for one participant or response
    // and for `_summary=count`, left out of a search across participants (FHIR makes it
    // optional) so that paging through them stays one page of work per page.
    let only_count = summary_count(params)? || q.count == 0;
    let narrow = q.filter.participant.is_some() || q.filter.response.is_some();
    let total = if only_count || narrow {
        let all = Query {
            start: None,
            ..q.clone()
        };
        Some(walk(app, &all, None).await?.len() as u64)
    } else {
        None
    };
    if only_count {
        return Ok(bundle::searchset(&base, kind, params, total, vec![], None));
    }
    let mut page = walk(app, &q, Some(q.count as usize + 1)).await?;
    let more = page.len() as u64 > q.count;
    page.truncate(q.count as usize);
    let next = more
        .then(|| page.last())
        .flatten()
        .map(|(_, (at, id, n))| search::position_text(*at, *id, *n));
    let resources = page.into_iter().map(|(o, _)| o).collect();
    Ok(bundle::searchset(
        &base, kind, params, total, resources, next,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observation_ids_are_fhir_ids_and_tell_lesions_apart() {
        let r = Uuid::new_v4();
        let a = observation_id(r, "NRS_WORST_PAIN", Some("lesion-a"));
        let b = observation_id(r, "NRS_WORST_PAIN", Some("lesion-b"));
        let c = observation_id(r, "C30_QL2", None);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, observation_id(r, "NRS_WORST_PAIN", Some("lesion-a")));
        for id in [a, b, c] {
            assert!(id.len() <= 64, "{id}");
            assert!(
                id.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '.')
            );
            assert!(id.starts_with(&r.to_string()));
        }
    }
}

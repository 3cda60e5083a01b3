//! Exports for statisticians: answers (long), visits, scores, the audit trail, a data
//! dictionary, and FHIR R4 QuestionnaireResponses. CSV is UTF-8 with a header row and ISO 8601
//! times; the `excel` dialect adds a BOM and `;` separators for Belgian Excel. Exports stream
//! participant by participant, so memory stays flat however large the trial grows.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::{Stream, StreamExt, stream};
use serde_json::{Value, json};

use crate::{
    app::App,
    auth::{self, StaffActor},
    domain::{
        permissions::{Access, Action, access},
        questionnaire::{Entry, ItemType, fhir},
        schedule,
    },
    error::{Error, Result},
    participants,
    responses::{LesionRef, as_answers},
    store::{self, participants::ParticipantRow},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Standard,
    Excel,
}

impl Dialect {
    pub fn parse(s: Option<&str>) -> Result<Self> {
        match s {
            None | Some("standard") => Ok(Dialect::Standard),
            Some("excel") => Ok(Dialect::Excel),
            Some(other) => Err(Error::invalid(
                "dialect",
                format!("{other:?} is not standard or excel"),
            )),
        }
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A cell as written to CSV: text that a spreadsheet would run as a formula (it begins with
/// `=`, `+`, `-`, `@`, a tab or a carriage return; OWASP "CSV injection") gets a leading `'`.
/// Numbers (`-1.5`, `+2`) are written as they are: they cannot run, and analysts need them.
pub fn neutralize(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell
        .chars()
        .next()
        .is_some_and(|c| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r'));
    if risky && !is_plain_number(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// `[+-]digits[.digits][e[+-]digits]`, nothing else.
fn is_plain_number(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((i, f)) => digits(i) && digits(f),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(digits)
}

/// Encode rows as CSV in the dialect (no BOM; the stream adds it once). Every cell goes
/// through `neutralize`.
pub(crate) fn csv_bytes(dialect: Dialect, rows: &[Vec<String>]) -> Bytes {
    let mut w = csv::WriterBuilder::new()
        .delimiter(if dialect == Dialect::Excel {
            b';'
        } else {
            b','
        })
        .from_writer(Vec::new());
    for r in rows {
        // Writing to a Vec cannot fail.
        let _ = w.write_record(r.iter().map(|c| neutralize(c).into_owned()));
    }
    Bytes::from(w.into_inner().unwrap_or_default())
}

/// The start of a CSV file: a BOM for the Excel dialect, then `rows` (usually the header).
pub(crate) fn csv_start(dialect: Dialect, rows: &[Vec<String>]) -> Vec<u8> {
    let mut out = Vec::new();
    if dialect == Dialect::Excel {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    out.extend_from_slice(&csv_bytes(dialect, rows));
    out
}

pub type ByteStream = std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// The participants the actor may export, checked against the permission table.
async fn scope(app: &App, actor: &StaffActor) -> Result<Vec<ParticipantRow>> {
    auth::authorize(actor, Action::ResponseRead, None)?;
    let sites = auth::site_scope(actor, None);
    Ok(store::participants::list(&app.db, sites.as_deref()).await?)
}

/// Header, then one chunk per participant produced by `rows`.
fn stream_rows<F, Fut>(
    app: Arc<App>,
    dialect: Dialect,
    header: Vec<&'static str>,
    people: Vec<ParticipantRow>,
    rows: F,
) -> ByteStream
where
    F: Fn(Arc<App>, ParticipantRow) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Vec<Vec<String>>>> + Send + 'static,
{
    let head = csv_start(dialect, &[header.iter().map(|s| s.to_string()).collect()]);
    let rows = Arc::new(rows);
    let body = stream::iter(people).then(move |p| {
        let (app, rows) = (app.clone(), rows.clone());
        async move {
            rows(app, p)
                .await
                .map(|r| csv_bytes(dialect, &r))
                .map_err(|e| std::io::Error::other(e.to_string()))
        }
    });
    Box::pin(stream::once(async move { Ok(Bytes::from(head)) }).chain(body))
}

pub const ANSWER_COLUMNS: [&str; 16] = [
    "study_id",
    "site",
    "visit",
    "questionnaire",
    "version",
    "language",
    "wording_sha256",
    "item",
    "lesion_id",
    "lesion_label",
    "value",
    "mode",
    "answered_at",
    "submitted_at",
    "late",
    "status",
];

pub async fn answers_csv_of(
    app: Arc<App>,
    people: Vec<ParticipantRow>,
    dialect: Dialect,
) -> Result<ByteStream> {
    Ok(stream_rows(
        app,
        dialect,
        ANSWER_COLUMNS.to_vec(),
        people,
        |app, p| async move {
            let mut out = Vec::new();
            for r in store::responses::of_participant(&app.db, p.id).await? {
                let lesions: Vec<LesionRef> = serde_json::from_str(&r.lesions).unwrap_or_default();
                let mut answers = store::responses::answers(&app.db, r.id).await?;
                answers.sort_by(|a, b| {
                    (natural(&a.item), &a.lesion).cmp(&(natural(&b.item), &b.lesion))
                });
                for a in answers {
                    let label = lesions
                        .iter()
                        .find(|l| l.id == a.lesion)
                        .map(|l| l.label(&r.language))
                        .unwrap_or_default();
                    let value: Value = serde_json::from_str(&a.value).unwrap_or(Value::Null);
                    out.push(vec![
                        p.study_id.clone(),
                        p.site_code.clone(),
                        r.visit_code.clone(),
                        r.questionnaire_key.clone(),
                        r.questionnaire_version.clone(),
                        r.language.clone(),
                        r.wording_sha256.clone(),
                        a.item.clone(),
                        a.lesion.clone(),
                        label,
                        match value {
                            Value::String(s) => s,
                            other => other.to_string(),
                        },
                        a.mode.clone(),
                        iso(a.answered_at),
                        r.submitted_at.map(iso).unwrap_or_default(),
                        r.late.to_string(),
                        r.status.clone(),
                    ]);
                }
            }
            Ok(out)
        },
    ))
}

/// Sort key that puts q2 before q10.
fn natural(s: &str) -> (String, u64) {
    let digits: String = s
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (
        s.trim_end_matches(|c: char| c.is_ascii_digit()).to_string(),
        digits.parse().unwrap_or(0),
    )
}

pub const VISIT_COLUMNS: [&str; 11] = [
    "study_id",
    "site",
    "visit",
    "target",
    "window_start",
    "window_end",
    "last_day",
    "state",
    "days_from_randomization",
    "missed_reason",
    "modes",
];

pub async fn visits_csv_of(
    app: Arc<App>,
    people: Vec<ParticipantRow>,
    dialect: Dialect,
) -> Result<ByteStream> {
    Ok(stream_rows(
        app,
        dialect,
        VISIT_COLUMNS.to_vec(),
        people,
        |app, p| async move {
            let now = app.clock.now();
            let views = participants::current_views(&app.db, &app, &p, now).await?;
            let events = store::participants::events(&app.db, p.id).await?;
            let randomized = events
                .iter()
                .find(|e| e.kind == "randomization" && !e.entered_in_error)
                .map(|e| e.event_date);
            let responses = store::responses::of_participant(&app.db, p.id).await?;
            let tz = app.study.time_zone;
            Ok(views
                .into_iter()
                .map(|v| {
                    let mut modes: Vec<String> = responses
                        .iter()
                        .filter(|r| r.visit_code == v.code)
                        .filter_map(|r| r.mode.clone())
                        .collect();
                    modes.sort();
                    modes.dedup();
                    vec![
                        p.study_id.clone(),
                        p.site_code.clone(),
                        v.code.clone(),
                        v.window.target.to_string(),
                        iso(v.window.start),
                        v.window.end.map(iso).unwrap_or_default(),
                        v.window
                            .end
                            .and_then(|e| schedule::local_date(tz, e).pred_opt())
                            .map(|d| d.to_string())
                            .unwrap_or_default(),
                        v.state.as_str().to_string(),
                        randomized
                            .map(|r| (v.window.target - r).num_days().to_string())
                            .unwrap_or_default(),
                        v.missed_reason.clone().unwrap_or_default(),
                        modes.join("|"),
                    ]
                })
                .collect())
        },
    ))
}

pub const SCORE_COLUMNS: [&str; 13] = [
    "study_id",
    "site",
    "visit",
    "questionnaire",
    "version",
    "response_id",
    "scoring",
    "scale",
    "lesion_id",
    "score",
    "status",
    "answered",
    "items_used",
];

pub async fn scores_csv_of(
    app: Arc<App>,
    people: Vec<ParticipantRow>,
    dialect: Dialect,
) -> Result<ByteStream> {
    Ok(stream_rows(
        app,
        dialect,
        SCORE_COLUMNS.to_vec(),
        people,
        |app, p| async move {
            let mut out = Vec::new();
            for r in store::responses::of_participant(&app.db, p.id).await? {
                for s in store::responses::scores(&app.db, r.id).await? {
                    let v: Value = serde_json::from_str(&s.results).unwrap_or(Value::Null);
                    let scales = v["scales"].as_array().cloned().unwrap_or_default();
                    let summaries = v["summaries"].as_array().cloned().unwrap_or_default();
                    for scale in scales.iter().chain(summaries.iter()) {
                        out.push(vec![
                            p.study_id.clone(),
                            p.site_code.clone(),
                            r.visit_code.clone(),
                            r.questionnaire_key.clone(),
                            r.questionnaire_version.clone(),
                            r.id.to_string(),
                            s.scoring.clone(),
                            scale["code"].as_str().unwrap_or_default().to_string(),
                            scale["lesion"].as_str().unwrap_or_default().to_string(),
                            scale["score"]
                                .as_f64()
                                .map(|x| format!("{x:.4}"))
                                .unwrap_or_default(),
                            scale["status"].as_str().unwrap_or_default().to_string(),
                            scale["answered"].to_string(),
                            scale["items"]
                                .as_array()
                                .map(|i| {
                                    i.iter()
                                        .filter_map(Value::as_str)
                                        .collect::<Vec<_>>()
                                        .join("|")
                                })
                                .unwrap_or_default(),
                        ]);
                    }
                }
            }
            Ok(out)
        },
    ))
}

pub const AUDIT_COLUMNS: [&str; 12] = [
    "seq",
    "at",
    "actor_kind",
    "actor_id",
    "action",
    "entity_type",
    "entity_id",
    "before",
    "after",
    "reason",
    "prev_hash",
    "hash",
];

/// The whole audit trail (data managers: it spans every site).
pub async fn audit_csv(app: Arc<App>, actor: &StaffActor, dialect: Dialect) -> Result<ByteStream> {
    auth::authorize(actor, Action::ResponseRead, None)?;
    if access(actor.role, Action::ResponseRead) != Access::AllSites {
        return Err(Error::Forbidden(Action::ResponseRead));
    }
    let head = csv_start(
        dialect,
        &[AUDIT_COLUMNS.iter().map(|s| s.to_string()).collect()],
    );
    let pages = stream::unfold(Some(0i64), move |after| {
        let app = app.clone();
        async move {
            let after = after?;
            match store::audit::page(&app.db, after, 500).await {
                Ok(page) if page.is_empty() => None,
                Ok(page) => {
                    let next = page.last().map(|e| e.content.seq);
                    let rows: Vec<Vec<String>> = page
                        .into_iter()
                        .map(|e| {
                            let c = e.content;
                            vec![
                                c.seq.to_string(),
                                c.at,
                                c.actor_kind,
                                c.actor_id.unwrap_or_default(),
                                c.action,
                                c.entity_type,
                                c.entity_id.unwrap_or_default(),
                                c.before.unwrap_or_default(),
                                c.after.unwrap_or_default(),
                                c.reason.unwrap_or_default(),
                                e.prev_hash,
                                e.hash,
                            ]
                        })
                        .collect();
                    Some((Ok(csv_bytes(dialect, &rows)), next))
                }
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    });
    Ok(Box::pin(
        stream::once(async move { Ok(Bytes::from(head)) }).chain(pages),
    ))
}

/// Every column of every export, and every code, with its meaning.
pub fn dictionary_csv(app: &App, dialect: Dialect) -> Bytes {
    let mut rows: Vec<Vec<String>> = vec![vec![
        "file".into(),
        "column".into(),
        "code".into(),
        "meaning".into(),
    ]];
    let mut col = |file: &str, column: &str, meaning: &str| {
        rows.push(vec![
            file.into(),
            column.into(),
            String::new(),
            meaning.into(),
        ])
    };
    col(
        "*",
        "*",
        "Text cells that begin with =, +, -, @, a tab or a carriage return are written with a leading apostrophe (') so spreadsheet programs do not run them as formulas (OWASP CSV injection); strip it to get the value typed in. Numbers such as -1.5 are written as they are.",
    );
    for (c, m) in [
        ("study_id", "Pseudonymous participant id"),
        ("site", "Site code"),
        ("visit", "Visit code"),
        ("questionnaire", "Questionnaire key"),
        ("version", "Questionnaire version answered"),
        ("language", "Language the questionnaire was answered in"),
        ("wording_sha256", "sha256 of the wording shown"),
        ("item", "Item id"),
        ("lesion_id", "Lesion id (per-lesion items only)"),
        (
            "lesion_label",
            "The lesion's plain-language label in the response language",
        ),
        (
            "value",
            "Answer code or value; items left blank have no row",
        ),
        ("mode", "self, interviewer or paper"),
        (
            "answered_at",
            "When the answer was last saved (UTC, ISO 8601)",
        ),
        (
            "submitted_at",
            "When the response was submitted (UTC, ISO 8601)",
        ),
        (
            "late",
            "Submitted after the window, inside the grace period",
        ),
        ("status", "draft, completed or amended"),
    ] {
        col("answers.csv", c, m);
    }
    for (c, m) in [
        ("target", "Target date (study time zone)"),
        ("window_start", "Window start (UTC)"),
        ("window_end", "Window end, exclusive (UTC)"),
        ("last_day", "Last day of the window (study time zone)"),
        (
            "state",
            "upcoming, open, late, completed, missed or not_applicable",
        ),
        (
            "days_from_randomization",
            "Target date minus randomization date, in days",
        ),
        (
            "missed_reason",
            "Why the visit was missed, when staff recorded it",
        ),
        ("modes", "Modes of the visit's responses"),
    ] {
        col("visits.csv", c, m);
    }
    for (c, m) in [
        ("response_id", "Response id"),
        ("scoring", "Scoring file used: key/version/scoring-n"),
        ("scale", "Scale code"),
        (
            "score",
            "0–100 (raw value for raw scales); empty when too few items were answered",
        ),
        ("status", "complete, half_rule or missing"),
        ("answered", "Items answered"),
        (
            "items_used",
            "Items (or scales, for summaries) of the score",
        ),
    ] {
        col("scores.csv", c, m);
    }
    for v in app.library.versions() {
        let def = &v.definition;
        let wording = v.wording("en").or_else(|| v.wording(&def.languages[0]));
        for entry in &def.items {
            let items = match entry {
                Entry::Item(i) => vec![i],
                Entry::Group(g) => g.items.iter().collect(),
            };
            for item in items {
                let what = wording
                    .and_then(|w| w.get(&item.text))
                    .unwrap_or(&item.text)
                    .to_string();
                rows.push(vec![
                    format!("{}@{}", def.key, def.version),
                    item.id.clone(),
                    String::new(),
                    what,
                ]);
                if item.kind == ItemType::SingleChoice {
                    for o in def.options(item) {
                        let label = wording
                            .and_then(|w| w.get(&o.text))
                            .unwrap_or(&o.text)
                            .to_string();
                        rows.push(vec![
                            format!("{}@{}", def.key, def.version),
                            item.id.clone(),
                            o.code.to_string(),
                            label,
                        ]);
                    }
                }
            }
        }
    }
    Bytes::from(csv_start(dialect, &rows))
}

/// One FHIR R4 QuestionnaireResponse per response, one JSON object per line.
pub async fn fhir_ndjson_of(app: Arc<App>, people: Vec<ParticipantRow>) -> Result<ByteStream> {
    let body = stream::iter(people).then(move |p| {
        let app = app.clone();
        async move {
            let mut out = Vec::new();
            let rows = store::responses::of_participant(&app.db, p.id)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            for r in rows {
                let answers = store::responses::answers(&app.db, r.id)
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                let line = questionnaire_response(&app, &p, &r, &as_answers(&answers));
                out.extend_from_slice(line.to_string().as_bytes());
                out.push(b'\n');
            }
            Ok(Bytes::from(out))
        }
    });
    Ok(Box::pin(body))
}

fn questionnaire_response(
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
    let value_of = |item: &str, v: &Value| -> Option<Value> {
        let def = def?;
        let placed = def.item(item)?;
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
    };
    let mut items = Vec::new();
    let lesions: Vec<LesionRef> = serde_json::from_str(&r.lesions).unwrap_or_default();
    if let Some(def) = def {
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
                    for l in &lesions {
                        let inner: Vec<Value> = g
                            .items
                            .iter()
                            .filter_map(|i| {
                                let a = answers.iter().find(|a| a.item == i.id && a.lesion.as_deref() == Some(l.id.as_str()))?;
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
    }
    let status = match r.status.as_str() {
        "draft" => "in-progress",
        "amended" => "amended",
        _ => "completed",
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
    if let Some(at) = r.submitted_at.or(Some(r.started_at)) {
        q["authored"] = json!(at.to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    if r.mode.as_deref() == Some("self") {
        q["source"] = subject;
    }
    q
}

pub async fn answers_csv(
    app: Arc<App>,
    actor: &StaffActor,
    dialect: Dialect,
) -> Result<ByteStream> {
    let people = scope(&app, actor).await?;
    answers_csv_of(app, people, dialect).await
}

pub async fn visits_csv(app: Arc<App>, actor: &StaffActor, dialect: Dialect) -> Result<ByteStream> {
    let people = scope(&app, actor).await?;
    visits_csv_of(app, people, dialect).await
}

pub async fn scores_csv(app: Arc<App>, actor: &StaffActor, dialect: Dialect) -> Result<ByteStream> {
    let people = scope(&app, actor).await?;
    scores_csv_of(app, people, dialect).await
}

pub async fn fhir_ndjson(app: Arc<App>, actor: &StaffActor) -> Result<ByteStream> {
    let people = scope(&app, actor).await?;
    fhir_ndjson_of(app, people).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralized_and_numbers_kept() {
        let cases = [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+31 6", "'+31 6"),
            ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("-1.5", "-1.5"),
            ("+2", "+2"),
            ("-3e-2", "-3e-2"),
            ("-", "'-"),
            ("-.5", "'-.5"),
            ("left femur", "left femur"),
            ("", ""),
        ];
        for (cell, expected) in cases {
            assert_eq!(neutralize(cell), expected, "{cell:?}");
        }
    }

    #[test]
    fn both_dialects_write_neutralized_cells() {
        for d in [Dialect::Standard, Dialect::Excel] {
            let out = csv_bytes(d, &[vec!["=1+1".into(), "-2".into()]]);
            let text = String::from_utf8(out.to_vec()).expect("utf8");
            assert!(text.starts_with("'=1+1"), "{text}");
            assert!(text.contains("-2"), "{text}");
        }
    }
}

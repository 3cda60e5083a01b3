//! qs.csv: one row per item per expected form, in the shape of the CDISC SDTM QS domain
//! (SDTM-like, not certified: docs/exports.md). Items of submitted forms carry their result (or
//! QSSTAT NOT DONE when left blank), also forms transcribed for a not_expected visit; every item
//! of a missed form is NOT DONE with the reason, per-lesion items once per lesion active then.
//! Test codes come from an optional mapping file per questionnaire version
//! (`questionnaires/<key>/<version>/sdtm.json`) where a data manager sets the official codes;
//! without one they are generated (instrument code + item id, at most 8 characters).

use std::{collections::BTreeMap, sync::Arc};

use serde::Deserialize;

use super::{ByteStream, Options, answers::assessment_date, stream_rows};
use crate::{
    answering::completion::form_outcomes,
    app::App,
    domain::{completion::Outcome, questionnaire::scoring::instrument_code, schedule},
    error::{Error, Result},
    participants,
    store::{self, participants::ParticipantRow, responses::ResponseRow},
};

pub const QS_COLUMNS: [&str; 18] = [
    "STUDYID", "DOMAIN", "USUBJID", "QSSEQ", "QSGRPID", "QSSPID", "QSTESTCD", "QSTEST", "QSCAT",
    "QSORRES", "QSSTRESC", "QSSTRESN", "QSSTAT", "QSREASND", "VISITNUM", "VISIT", "QSDTC",
    "QSEVLINT",
];

/// A version's mapping file: the category and, per item, the official test code and name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub items: BTreeMap<String, TestCode>,
    /// Evaluation interval per recall key (ISO 8601 duration, e.g. `-P1W`).
    #[serde(default)]
    pub evaluation_intervals: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCode {
    pub testcd: String,
    pub test: String,
}

/// The mapping file of a version, if the deployment has one; a bad one names the file.
pub fn mapping(app: &App, key: &str, version: &str) -> Result<Mapping> {
    let path = app
        .settings
        .questionnaires_dir
        .join(key)
        .join(version)
        .join("sdtm.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str::<Mapping>(&text)
            .map_err(|e| e.to_string())
            .and_then(|m| m.check().map(|()| m))
            .map_err(|e| Error::operator(path.display().to_string(), e)),
        Err(_) => Ok(Mapping::default()),
    }
}

impl Mapping {
    /// Test codes are SDTM names (a letter, then letters, digits or `_`, at most 8) and
    /// evaluation intervals ISO 8601 durations: neither column is neutralised in qs.csv
    /// (`exports::carries_text`), so neither may hold anything else.
    fn check(&self) -> std::result::Result<(), String> {
        for (item, t) in &self.items {
            let ok = t.testcd.len() <= 8
                && t.testcd.starts_with(|c: char| c.is_ascii_alphabetic())
                && t.testcd
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(format!(
                    "items.{item}.testcd {:?} must be a letter then letters, digits or '_', at most 8",
                    t.testcd
                ));
            }
        }
        for (recall, d) in &self.evaluation_intervals {
            if !is_iso_duration(d) {
                return Err(format!(
                    "evaluation_intervals.{recall} {d:?} is not an ISO 8601 duration (e.g. -P1W, -PT24H)"
                ));
            }
        }
        Ok(())
    }
}

/// An ISO 8601 duration, optionally negative: `-P1W`, `P2D`, `-PT24H`, `P1Y2M3DT4H5M6S`.
fn is_iso_duration(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('-').unwrap_or(s).strip_prefix('P') else {
        return false;
    };
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    // Each part: number-designator pairs, designators in order, at least one pair overall.
    let pairs = |part: &str, designators: &str| -> Option<usize> {
        let mut order = designators.chars();
        let mut n = 0;
        let mut digits = 0;
        for c in part.chars() {
            if c.is_ascii_digit() {
                digits += 1;
            } else if digits > 0 && order.by_ref().any(|d| d == c) {
                digits = 0;
                n += 1;
            } else {
                return None;
            }
        }
        (digits == 0).then_some(n)
    };
    match (pairs(date, "YMWD"), time.map(|t| pairs(t, "HMS"))) {
        (Some(d), None) => d > 0,
        (Some(_), Some(Some(t))) => t > 0,
        _ => false,
    }
}

/// The default test code: instrument code and item id, upper case, letters and digits, at most 8.
pub fn default_testcd(key: &str, item: &str) -> String {
    let raw = format!("{}{}", instrument_code(key), item.to_uppercase());
    raw.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect()
}

/// The evaluation interval of a recall period key (the mapping may say otherwise).
fn evlint(m: &Mapping, recall: Option<&str>) -> String {
    let Some(r) = recall else {
        return String::new();
    };
    if let Some(v) = m.evaluation_intervals.get(r) {
        return v.clone();
    }
    if r.contains("week") {
        "-P1W".into()
    } else if r.contains("24h") {
        "-PT24H".into()
    } else {
        String::new()
    }
}

pub fn qs_csv_of(app: Arc<App>, people: Vec<ParticipantRow>, opts: Options) -> ByteStream {
    stream_rows(
        app,
        opts.dialect,
        QS_COLUMNS.to_vec(),
        people,
        |app, p| async move {
            let now = app.clock.now();
            let tz = app.study.time_zone;
            let views = participants::current_views(&app.db, &app, &p, now).await?;
            let responses = store::responses::of_participant(&app.db, p.id).await?;
            let mut lesions = Vec::new();
            for l in store::participants::lesions(&app.db, p.id).await? {
                let changes = super::records::activity_changes(&app, l.id).await?;
                lesions.push((l.id.to_string(), l.registered_on, changes));
            }
            let mut out = Vec::new();
            let mut seq = 0u32;
            for (num, v) in views.iter().enumerate() {
                for (q, outcome) in form_outcomes(v, &responses, &Default::default()) {
                    let (key, version) = q.split_once('@').unwrap_or((&q, ""));
                    // Every submitted form has its rows, whatever the visit's outcome (a paper
                    // form transcribed for a not_expected visit too); a missed form has NOT DONE
                    // rows, per-lesion items once per lesion active on the visit's last day.
                    let response = responses.iter().find(|r| {
                        r.visit_code == v.code
                            && r.questionnaire_key == key
                            && r.status.is_submitted()
                    });
                    let (asked, reason): (Vec<String>, _) = match (response, &outcome) {
                        (Some(r), _) => (r.lesions.0.iter().map(|l| l.id.clone()).collect(), None),
                        (None, Outcome::Missed(reason)) => {
                            let today = schedule::local_date(tz, now);
                            let day = v
                                .window
                                .end
                                .and_then(|e| schedule::local_date(tz, e).pred_opt())
                                .map_or(today, |d| d.min(today));
                            let active = lesions
                                .iter()
                                .filter(|(_, on, changes)| {
                                    super::records::active_on(*on, changes, day)
                                })
                                .map(|(id, _, _)| id.clone())
                                .collect();
                            let why = reason
                                .clone()
                                .unwrap_or_else(|| "no reason recorded".into());
                            (active, Some(why))
                        }
                        (None, _) => continue,
                    };
                    let version = response.map_or(version, |r| r.questionnaire_version.as_str());
                    let form = Form {
                        app: &app,
                        study_id: &p.study_id,
                        visit: (num, &v.code),
                        key,
                        version,
                    };
                    for row in form.rows(response, &asked, reason.as_deref()).await? {
                        seq += 1;
                        let mut r = row;
                        r[3] = seq.to_string();
                        out.push(r);
                    }
                }
            }
            Ok(out)
        },
    )
}

/// One submitted or missed form of one visit.
struct Form<'a> {
    app: &'a App,
    study_id: &'a str,
    visit: (usize, &'a str),
    key: &'a str,
    version: &'a str,
}

impl Form<'_> {
    /// The form's item rows (QSSEQ filled in by the caller): per-lesion items once per lesion
    /// in `lesions` (those the response asked about, or for a missed form those active then).
    async fn rows(
        &self,
        r: Option<&ResponseRow>,
        lesions: &[String],
        reason: Option<&str>,
    ) -> Result<Vec<Vec<String>>> {
        let app = self.app;
        let Some(v) = app.library.get(self.key, self.version) else {
            return Ok(Vec::new());
        };
        let m = mapping(app, self.key, self.version)?;
        let answers = match r {
            Some(r) => store::responses::answers(&app.db, r.id).await?,
            None => Vec::new(),
        };
        let category = m.category.clone().unwrap_or_else(|| self.key.to_string());
        let date = r.map(|r| assessment_date(app, r)).unwrap_or_default();
        let mut out = Vec::new();
        for placed in v.definition.all_items() {
            let item = placed.item;
            let (testcd, test) = m
                .items
                .get(&item.id)
                .map(|t| (t.testcd.clone(), t.test.clone()))
                .unwrap_or_else(|| (default_testcd(self.key, &item.id), item.id.clone()));
            let spids: Vec<String> = if placed.group.is_some() {
                lesions.to_vec()
            } else {
                vec![String::new()]
            };
            for spid in spids {
                let value = answers
                    .iter()
                    .find(|a| a.item == item.id && a.lesion == spid)
                    .map(|a| super::amendments::cell(&a.value.0));
                let (stat, reasnd) = match (&value, reason) {
                    (Some(_), _) => (String::new(), String::new()),
                    (None, Some(why)) => ("NOT DONE".to_string(), why.to_string()),
                    (None, None) => ("NOT DONE".to_string(), "not answered".to_string()),
                };
                let numeric = value
                    .as_deref()
                    .and_then(|s| s.parse::<f64>().ok())
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                out.push(vec![
                    app.study.id.clone(),
                    "QS".into(),
                    self.study_id.to_string(),
                    String::new(),
                    r.map(|r| r.id.to_string()).unwrap_or_default(),
                    spid,
                    testcd.clone(),
                    test.clone(),
                    category.clone(),
                    value.clone().unwrap_or_default(),
                    value.unwrap_or_default(),
                    numeric,
                    stat,
                    reasnd,
                    self.visit.0.to_string(),
                    self.visit.1.to_string(),
                    date.clone(),
                    evlint(&m, item.recall.as_deref()),
                ]);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_test_codes_fit_sdtm() {
        assert_eq!(default_testcd("eortc-qlq-c30", "q1"), "C30Q1");
        assert_eq!(default_testcd("eortc-qlq-bm22", "q52"), "BM22Q52");
        assert_eq!(default_testcd("nrs-lesion-pain", "worst_pain"), "NRSWORST");
        let m = Mapping::default();
        assert_eq!(evlint(&m, Some("recall.past_week")), "-P1W");
        assert_eq!(evlint(&m, Some("recall.24h")), "-PT24H");
        assert_eq!(evlint(&m, None), "");
    }

    #[test]
    fn mapping_intervals_are_iso_durations_and_test_codes_sdtm_names() {
        let cases = [
            ("-P1W", true),
            ("P2D", true),
            ("-PT24H", true),
            ("P1Y2M3DT4H5M6S", true),
            ("P", false),
            ("PT", false),
            ("P1DT", false),
            ("-P1", false),
            ("=HYPERLINK(1)", false),
            ("P1W2Y", false),
            ("", false),
        ];
        for (d, ok) in cases {
            assert_eq!(is_iso_duration(d), ok, "{d}");
        }
        let bad: Mapping =
            serde_json::from_str(r#"{"evaluation_intervals": {"recall.past_week": "=1+1"}}"#)
                .expect("json");
        assert!(bad.check().is_err());
        let bad: Mapping =
            serde_json::from_str(r#"{"items": {"q1": {"testcd": "=X", "test": "t"}}}"#)
                .expect("json");
        assert!(bad.check().is_err());
        let good: Mapping = serde_json::from_str(
            r#"{"items": {"q1": {"testcd": "EOR0101", "test": "=t"}}, "evaluation_intervals": {"r": "-P1W"}}"#,
        )
        .expect("json");
        assert_eq!(good.check(), Ok(()));
    }
}

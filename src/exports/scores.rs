//! scores.csv: one row per score of a submitted response, naming the scoring file it came from
//! (and whether that file is the version's current one), with an instrument-qualified scale key,
//! the scale's kind, direction and range.

use std::sync::Arc;

use serde_json::Value;

use super::{ByteStream, Options, exported, stream_rows};
use crate::{
    app::App,
    domain::questionnaire::scoring::{ScaleKind, scale_key},
    store::{self, participants::ParticipantRow},
};

pub const SCORE_COLUMNS: [&str; 20] = [
    "response_id",
    "study_id",
    "site",
    "visit",
    "questionnaire",
    "version",
    "scoring",
    "current",
    "scale",
    "scale_key",
    "scale_label",
    "kind",
    "direction",
    "score_min",
    "score_max",
    "lesion_id",
    "score",
    "status",
    "answered",
    "items_used",
];

/// What the scoring file says of a scale: kind, direction and score range (0–100, or the item's
/// own range for a raw scale). Summaries are 0–100, higher is better.
pub(crate) fn describe(
    app: &App,
    key: &str,
    version: &str,
    scoring: &str,
    code: &str,
) -> [String; 4] {
    let v = app.library.get(key, version);
    let file = v.and_then(|v| {
        v.scorings
            .values()
            .map(|(s, _)| s)
            .find(|s| s.id() == scoring)
    });
    let scale = file.and_then(|f| f.scales.iter().find(|s| s.code == code));
    match scale {
        Some(s) if s.kind == ScaleKind::Raw => {
            let item = s
                .items
                .first()
                .and_then(|i| v.and_then(|v| v.definition.item(i)));
            [
                s.kind.as_str().into(),
                s.kind.direction().into(),
                item.and_then(|p| p.item.min)
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
                item.and_then(|p| p.item.max)
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            ]
        }
        // Sums, looked-up values and formulas have the range their scoring file gives them.
        Some(s)
            if matches!(
                s.kind,
                ScaleKind::Sum | ScaleKind::Lookup | ScaleKind::Computed
            ) =>
        {
            [
                s.kind.as_str().into(),
                s.kind.direction().into(),
                String::new(),
                String::new(),
            ]
        }
        Some(s) => [
            s.kind.as_str().into(),
            s.kind.direction().into(),
            "0".into(),
            "100".into(),
        ],
        None if file.is_some_and(|f| f.summaries.iter().any(|x| x.code == code)) => [
            "summary".into(),
            "higher_is_better".into(),
            "0".into(),
            "100".into(),
        ],
        None => Default::default(),
    }
}

/// The version's current (latest) scoring file.
fn current_scoring(app: &App, key: &str, version: &str) -> Option<String> {
    app.library
        .get(key, version)
        .and_then(|v| v.latest_scoring())
        .map(|s| s.id())
}

pub fn scores_csv_of(app: Arc<App>, people: Vec<ParticipantRow>, opts: Options) -> ByteStream {
    stream_rows(
        app,
        opts.dialect,
        SCORE_COLUMNS.to_vec(),
        people,
        move |app, p| async move {
            let mut out = Vec::new();
            for r in store::responses::of_participant(&app.db, p.id).await? {
                if !exported(&r, opts) {
                    continue;
                }
                let (key, version) = (&r.questionnaire_key, &r.questionnaire_version);
                let current = current_scoring(&app, key, version);
                for s in store::responses::scores(&app.db, r.id).await? {
                    let v: &Value = &s.results;
                    let scales = v["scales"].as_array().cloned().unwrap_or_default();
                    let summaries = v["summaries"].as_array().cloned().unwrap_or_default();
                    for scale in scales.iter().chain(summaries.iter()) {
                        let code = scale["code"].as_str().unwrap_or_default();
                        let [kind, direction, min, max] =
                            describe(&app, key, version, &s.scoring, code);
                        out.push(vec![
                            r.id.to_string(),
                            p.study_id.clone(),
                            p.site_code.clone(),
                            r.visit_code.clone(),
                            key.clone(),
                            version.clone(),
                            s.scoring.clone(),
                            (current.as_deref() == Some(s.scoring.as_str())).to_string(),
                            code.to_string(),
                            scale_key(key, code),
                            scale["label"].as_str().unwrap_or_default().to_string(),
                            kind,
                            direction,
                            min,
                            max,
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
    )
}

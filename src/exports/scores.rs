//! scores.csv: one row per score, naming the scoring file it came from.

use std::sync::Arc;

use serde_json::Value;

use super::{ByteStream, Dialect, scope, stream_rows};
use crate::{
    app::App,
    auth::StaffActor,
    error::Result,
    store::{self, participants::ParticipantRow},
};

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
                    let v: &Value = &s.results;
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

pub async fn scores_csv(app: Arc<App>, actor: &StaffActor, dialect: Dialect) -> Result<ByteStream> {
    let people = scope(&app, actor).await?;
    scores_csv_of(app, people, dialect).await
}

//! answers.csv: one row per answer (long format), each with its questionnaire version,
//! language, entry mode and lesion.

use std::sync::Arc;

use serde_json::Value;

use super::{ByteStream, Dialect, iso, scope, stream_rows};
use crate::{
    answering::LesionRef,
    app::App,
    auth::StaffActor,
    error::Result,
    store::{self, participants::ParticipantRow},
};

pub const ANSWER_COLUMNS: [&str; 19] = [
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
    "completed_on",
    "flags",
    "days_from_sse",
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
                let lesions: &[LesionRef] = &r.lesions;
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
                    let value: &Value = &a.value;
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
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        },
                        a.mode.to_string(),
                        iso(a.answered_at),
                        r.submitted_at.map(iso).unwrap_or_default(),
                        r.late.to_string(),
                        r.status.to_string(),
                        r.completed_on.map(|d| d.to_string()).unwrap_or_default(),
                        r.flags.0.join("|"),
                        r.days_from_sse.map(|d| d.to_string()).unwrap_or_default(),
                    ]);
                }
            }
            Ok(out)
        },
    ))
}

/// Sort key that puts q2 before q10.
pub(super) fn natural(s: &str) -> (String, u64) {
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

pub async fn answers_csv(
    app: Arc<App>,
    actor: &StaffActor,
    dialect: Dialect,
) -> Result<ByteStream> {
    let people = scope(&app, actor).await?;
    answers_csv_of(app, people, dialect).await
}

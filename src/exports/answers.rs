//! answers.csv: one row per answer of a submitted response (long format), each with its response,
//! questionnaire version, language, lesion, entry mode and actor, and the assessment date.

use std::sync::Arc;

use serde_json::Value;

use super::{ByteStream, Options, exported, iso, stream_rows};
use crate::{
    answering::LesionRef,
    app::App,
    domain::schedule::local_date,
    store::{self, participants::ParticipantRow, responses::ResponseRow},
};

pub const ANSWER_COLUMNS: [&str; 26] = [
    "response_id",
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
    "actor_kind",
    "actor_id",
    "answered_at",
    "submitted_at",
    "assessment_date",
    "completed_on",
    "late",
    "status",
    "amended",
    "flags",
    "days_from_sse",
    "synced_late",
    "device_completed_at",
];

/// The day a form was filled in (study time zone): a paper form's `completed_on`, a `synced_late`
/// form's day on the phone, else the local day of its submission.
pub(super) fn assessment_date(app: &App, r: &ResponseRow) -> String {
    let finished = r.device_completed_at.filter(|_| r.synced_late);
    r.completed_on
        .or_else(|| {
            finished
                .or(r.submitted_at)
                .map(|t| local_date(app.study.time_zone, t))
        })
        .map(|d| d.to_string())
        .unwrap_or_default()
}

pub fn answers_csv_of(app: Arc<App>, people: Vec<ParticipantRow>, opts: Options) -> ByteStream {
    stream_rows(
        app,
        opts.dialect,
        ANSWER_COLUMNS.to_vec(),
        people,
        move |app, p| async move {
            let mut out = Vec::new();
            for r in store::responses::of_participant(&app.db, p.id).await? {
                if !exported(&r, opts) {
                    continue;
                }
                let lesions: &[LesionRef] = &r.lesions;
                let amended = amended_answers(&app, &r).await?;
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
                        r.id.to_string(),
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
                        super::amendments::cell(value),
                        a.mode.to_string(),
                        a.actor_kind.clone(),
                        a.actor_id.clone(),
                        iso(a.answered_at),
                        r.submitted_at.map(iso).unwrap_or_default(),
                        assessment_date(&app, &r),
                        r.completed_on.map(|d| d.to_string()).unwrap_or_default(),
                        r.late.to_string(),
                        r.status.to_string(),
                        amended
                            .contains(&(a.item.clone(), a.lesion.clone()))
                            .to_string(),
                        r.flags.0.join("|"),
                        r.days_from_sse.map(|d| d.to_string()).unwrap_or_default(),
                        r.synced_late.to_string(),
                        r.device_completed_at.map(iso).unwrap_or_default(),
                    ]);
                }
            }
            Ok(out)
        },
    )
}

/// The (item, lesion) of every answer an amendment changed (from the audit trail).
async fn amended_answers(
    app: &App,
    r: &ResponseRow,
) -> crate::error::Result<std::collections::HashSet<(String, String)>> {
    let mut out = std::collections::HashSet::new();
    if r.status != crate::domain::answering::ResponseStatus::Amended {
        return Ok(out);
    }
    for (_, _, after) in super::amendments::amendment_entries(app, r.id).await? {
        for a in after["answers"].as_array().into_iter().flatten() {
            out.insert((
                a["item"].as_str().unwrap_or_default().to_string(),
                a["lesion"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    Ok(out)
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

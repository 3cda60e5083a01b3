//! amendments.csv: every amended answer with its old and new value, when, by whom, on what basis
//! and why — read from the audit trail, where each amendment is recorded.

use std::sync::Arc;

use serde_json::Value;

use super::{ByteStream, Options, iso, stream_rows};
use crate::{
    app::App,
    store::{self, participants::ParticipantRow},
};

pub const AMENDMENT_COLUMNS: [&str; 14] = [
    "response_id",
    "study_id",
    "site",
    "visit",
    "questionnaire",
    "version",
    "item",
    "lesion_id",
    "old_value",
    "new_value",
    "amended_at",
    "amended_by",
    "basis",
    "reason",
];

/// An amendment's audit event with its `before` and `after` parsed (`None` for other events).
pub(super) fn amendment_of(
    c: &crate::domain::audit::EventContent,
) -> Option<(crate::domain::audit::EventContent, Value, Value)> {
    if c.action != "response.amended" {
        return None;
    }
    let parse = |s: &Option<String>| -> Value {
        s.as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    };
    Some((c.clone(), parse(&c.before), parse(&c.after)))
}

/// A response's amendments from the audit trail: each event with its `before` and `after`.
pub(super) async fn amendment_entries(
    app: &App,
    response: uuid::Uuid,
) -> crate::error::Result<Vec<(crate::domain::audit::EventContent, Value, Value)>> {
    Ok(
        store::audit::for_entity(&app.db, "response", &response.to_string())
            .await?
            .iter()
            .filter_map(|e| amendment_of(&e.content))
            .collect(),
    )
}

/// A stored answer value as a CSV cell (blank when cleared), in the one exported coding: yes/no
/// as 0/1 also for answers stored as `false`/`true` before that coding was enforced on entry
/// (only yes/no items ever accepted a JSON boolean; stored rows are never rewritten, their
/// digests are in the audit trail).
pub(super) fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => i64::from(*b).to_string(),
        other => other.to_string(),
    }
}

pub fn amendments_csv_of(app: Arc<App>, people: Vec<ParticipantRow>, opts: Options) -> ByteStream {
    stream_rows(
        app,
        opts.dialect,
        AMENDMENT_COLUMNS.to_vec(),
        people,
        |app, p| async move {
            let mut out = Vec::new();
            for r in store::responses::of_participant(&app.db, p.id).await? {
                if !r.status.is_submitted() {
                    continue;
                }
                for (e, before, after) in amendment_entries(&app, r.id).await? {
                    let olds = before["answers"].as_array().cloned().unwrap_or_default();
                    for new in after["answers"].as_array().cloned().unwrap_or_default() {
                        let old = olds
                            .iter()
                            .find(|o| o["item"] == new["item"] && o["lesion"] == new["lesion"])
                            .map(|o| cell(&o["value"]))
                            .unwrap_or_default();
                        let at = chrono::DateTime::parse_from_rfc3339(&e.at)
                            .map(|t| iso(t.with_timezone(&chrono::Utc)))
                            .unwrap_or_else(|_| e.at.clone());
                        out.push(vec![
                            r.id.to_string(),
                            p.study_id.clone(),
                            p.site_code.clone(),
                            r.visit_code.clone(),
                            r.questionnaire_key.clone(),
                            r.questionnaire_version.clone(),
                            new["item"].as_str().unwrap_or_default().to_string(),
                            new["lesion"].as_str().unwrap_or_default().to_string(),
                            old,
                            cell(&new["value"]),
                            at,
                            e.actor_id.clone().unwrap_or_default(),
                            after["basis"].as_str().unwrap_or_default().to_string(),
                            e.reason.clone().unwrap_or_default(),
                        ]);
                    }
                }
            }
            Ok(out)
        },
    )
}

//! dictionary.csv: every column of every export, and every item and code, described.

use bytes::Bytes;

use super::{Dialect, csv_start};
use crate::{
    app::App,
    domain::questionnaire::{Entry, ItemType},
};

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
        (
            "completed_on",
            "Paper forms: the day the participant filled it in (study time zone); it decides in-window or late",
        ),
        (
            "flags",
            "|-separated: outside_window (filled in outside window and grace, with a reason), after_randomization (baseline filled in after the randomization day), after_sse_week (SSE visit filled in more than the SSE target after the SSE)",
        ),
        (
            "days_from_sse",
            "SSE visit only: assessment day minus the first SSE's day",
        ),
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
            "upcoming, open, late, completed, partial, missed, not_applicable or not_expected",
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
        (
            "arm",
            "The arm recorded with the randomization (study file arms)",
        ),
        (
            "cause",
            "not_applicable: death, withdrawal, pro_discontinued or sse; not_expected: before_registration",
        ),
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

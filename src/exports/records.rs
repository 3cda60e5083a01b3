//! The participants' clinical records as exports: participants.csv, events.csv (with
//! corrections), lesions.csv (with their active periods) and analgesics.csv (OMED per visit).
//! Contact details are never exported: they are not trial data.

use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::Value;

use super::{ByteStream, Options, iso, stream_rows};
use crate::{
    app::App,
    domain::schedule::local_date,
    participants,
    store::{self, participants::ParticipantRow},
};

pub const PARTICIPANT_COLUMNS: [&str; 7] = [
    "study_id",
    "site",
    "language",
    "enrolled_on",
    "registered_at",
    "randomization_date",
    "arm",
];

pub const EVENT_COLUMNS: [&str; 14] = [
    "event_id",
    "study_id",
    "site",
    "type",
    "date",
    "sse_type",
    "lesion_id",
    "arm",
    "reason",
    "recorded_at",
    "recorded_by",
    "entered_in_error",
    "corrections",
    "last_corrected_at",
];

pub const LESION_COLUMNS: [&str; 13] = [
    "lesion_id",
    "study_id",
    "site",
    "location",
    "location_label",
    "side",
    "label",
    "high_risk_reasons",
    "irradiation_date",
    "registered_on",
    "active",
    "active_periods",
    "detail",
];

pub const ANALGESIC_COLUMNS: [&str; 6] = [
    "study_id",
    "site",
    "visit",
    "omed_mg_per_day",
    "recorded_at",
    "recorded_by",
];

fn parse(s: &Option<String>) -> Value {
    s.as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

pub fn participants_csv_of(
    app: Arc<App>,
    people: Vec<ParticipantRow>,
    opts: Options,
) -> ByteStream {
    stream_rows(
        app,
        opts.dialect,
        PARTICIPANT_COLUMNS.to_vec(),
        people,
        |app, p| async move {
            let events = store::participants::events(&app.db, p.id).await?;
            let randomized = crate::domain::participant::randomized_on(
                &participants::events_of(&app.db, &p).await?,
            );
            Ok(vec![vec![
                p.study_id.clone(),
                p.site_code.clone(),
                p.language.clone(),
                p.enrolled_on.to_string(),
                iso(p.created_at),
                randomized.map(|d| d.to_string()).unwrap_or_default(),
                participants::arm_of(&events).unwrap_or_default(),
            ]])
        },
    )
}

pub fn events_csv_of(app: Arc<App>, people: Vec<ParticipantRow>, opts: Options) -> ByteStream {
    stream_rows(
        app,
        opts.dialect,
        EVENT_COLUMNS.to_vec(),
        people,
        |app, p| async move {
            let trail = store::audit::for_entity(&app.db, "participant", &p.study_id).await?;
            let corrections: Vec<(String, String)> = trail
                .iter()
                .filter(|e| e.content.action == "participant.event_corrected")
                .map(|e| {
                    let after = parse(&e.content.after);
                    (
                        after["event"].as_str().unwrap_or_default().to_string(),
                        e.content.at.clone(),
                    )
                })
                .collect();
            let mut out = Vec::new();
            for e in store::participants::events(&app.db, p.id).await? {
                let id = e.id.to_string();
                let mine: Vec<&String> = corrections
                    .iter()
                    .filter(|(event, _)| *event == id)
                    .map(|(_, at)| at)
                    .collect();
                let detail = |k: &str| e.details.0[k].as_str().unwrap_or_default().to_string();
                out.push(vec![
                    id.clone(),
                    p.study_id.clone(),
                    p.site_code.clone(),
                    e.kind.to_string(),
                    e.event_date.to_string(),
                    detail("sse_type"),
                    detail("lesion"),
                    detail("arm"),
                    e.reason.clone(),
                    iso(e.recorded_at),
                    e.recorded_by.clone(),
                    e.entered_in_error.to_string(),
                    mine.len().to_string(),
                    mine.last()
                        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                        .map(|t| iso(t.with_timezone(&chrono::Utc)))
                        .unwrap_or_default(),
                ]);
            }
            Ok(out)
        },
    )
}

/// A lesion's active periods from its audit trail: `from..to` days (study time zone), the last
/// open-ended while active, `|`-separated.
fn active_periods(
    registered_on: NaiveDate,
    changes: &[(NaiveDate, bool)],
    active_now: bool,
) -> String {
    let mut periods = Vec::new();
    let mut start = Some(registered_on);
    for (day, active) in changes {
        match (start, active) {
            (Some(s), false) => {
                periods.push(format!("{s}..{day}"));
                start = None;
            }
            (None, true) => start = Some(*day),
            _ => {}
        }
    }
    if let Some(s) = start.filter(|_| active_now) {
        periods.push(format!("{s}.."));
    }
    periods.join("|")
}

/// The days a lesion was made active or inactive, from its audit trail (study time zone).
pub(super) async fn activity_changes(
    app: &App,
    lesion: uuid::Uuid,
) -> crate::error::Result<Vec<(NaiveDate, bool)>> {
    let tz = app.study.time_zone;
    let trail = store::audit::for_entity(&app.db, "lesion", &lesion.to_string()).await?;
    Ok(trail
        .iter()
        .filter(|e| e.content.action == "lesion.updated")
        .filter_map(|e| {
            let (before, after) = (parse(&e.content.before), parse(&e.content.after));
            let active = after["active"].as_bool()?;
            let at = chrono::DateTime::parse_from_rfc3339(&e.content.at).ok()?;
            (before["active"].as_bool() != Some(active))
                .then(|| (local_date(tz, at.with_timezone(&chrono::Utc)), active))
        })
        .collect())
}

/// Whether a lesion registered on `registered_on`, with these activity changes, was active on
/// `day` (a change takes effect on its day).
pub(super) fn active_on(
    registered_on: NaiveDate,
    changes: &[(NaiveDate, bool)],
    day: NaiveDate,
) -> bool {
    day >= registered_on
        && changes
            .iter()
            .rev()
            .find(|(d, _)| *d <= day)
            .is_none_or(|(_, active)| *active)
}

pub fn lesions_csv_of(app: Arc<App>, people: Vec<ParticipantRow>, opts: Options) -> ByteStream {
    stream_rows(
        app,
        opts.dialect,
        LESION_COLUMNS.to_vec(),
        people,
        |app, p| async move {
            let vocab = &app.study.lesion_locations;
            let mut out = Vec::new();
            for l in store::participants::lesions(&app.db, p.id).await? {
                let changes = activity_changes(&app, l.id).await?;
                let location_label = vocab
                    .iter()
                    .find(|v| v.code == l.location)
                    .map(|v| v.label("en"))
                    .unwrap_or_default();
                out.push(vec![
                    l.id.to_string(),
                    p.study_id.clone(),
                    p.site_code.clone(),
                    l.location.clone(),
                    location_label,
                    l.side.clone().unwrap_or_default(),
                    l.labels.0.get(&p.language).cloned().unwrap_or_default(),
                    l.high_risk_reasons.0.join("|"),
                    l.irradiation_date
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                    l.registered_on.to_string(),
                    l.active.to_string(),
                    active_periods(l.registered_on, &changes, l.active),
                    l.detail.clone().unwrap_or_default(),
                ]);
            }
            Ok(out)
        },
    )
}

pub fn analgesics_csv_of(app: Arc<App>, people: Vec<ParticipantRow>, opts: Options) -> ByteStream {
    stream_rows(
        app,
        opts.dialect,
        ANALGESIC_COLUMNS.to_vec(),
        people,
        |app, p| async move {
            let mut doses = store::responses::doses(&app.db, p.id).await?;
            let order = |v: &str| {
                app.study
                    .protocol
                    .visits
                    .iter()
                    .position(|s| s.code == v)
                    .unwrap_or(usize::MAX)
            };
            doses.sort_by_key(|d| order(&d.visit_code));
            Ok(doses
                .into_iter()
                .map(|d| {
                    vec![
                        p.study_id.clone(),
                        p.site_code.clone(),
                        d.visit_code.clone(),
                        d.omed_mg_per_day.to_string(),
                        iso(d.recorded_at),
                        d.recorded_by.clone(),
                    ]
                })
                .collect())
        },
    )
}

pub const PAIN_COLUMNS: [&str; 21] = [
    "study_id",
    "site",
    "arm",
    "lesion_id",
    "location",
    "irradiation_date",
    "reference_date",
    "visit",
    "response_id",
    "asked",
    "assessment_date",
    "nrs",
    "baseline_date",
    "baseline_nrs",
    "change_from_baseline",
    "omed_mg_per_day",
    "category",
    "not_evaluable",
    "progression",
    "progression_basis",
    "time_to_progression_days",
];

/// pain.csv: per lesion and submitted NRS form, whether the lesion was asked, its worst pain (blank
/// when asked and left blank), and the endpoints of docs/pain-response.md.
pub fn pain_csv_of(app: Arc<App>, people: Vec<ParticipantRow>, opts: Options) -> ByteStream {
    stream_rows(
        app,
        opts.dialect,
        PAIN_COLUMNS.to_vec(),
        people,
        |app, p| async move {
            let events = store::participants::events(&app.db, p.id).await?;
            let arm = participants::arm_of(&events).unwrap_or_default();
            let lesions = store::participants::lesions(&app.db, p.id).await?;
            let course = crate::answering::pain::overview_of(&app, &p).await?;
            let forms: Vec<_> = store::responses::of_participant(&app.db, p.id)
                .await?
                .into_iter()
                .filter(|r| {
                    r.questionnaire_key == crate::answering::pain::NRS_KEY
                        && r.status.is_submitted()
                })
                .collect();
            let mut out = Vec::new();
            for l in &lesions {
                let id = l.id.to_string();
                let Some(c) = course.iter().find(|c| c.lesion == id) else {
                    continue;
                };
                for r in &forms {
                    let asked = r.lesions.0.iter().any(|x| x.id == id);
                    let point = c.points.iter().find(|pt| pt.visit == r.visit_code);
                    let text = |o: Option<String>| o.unwrap_or_default();
                    out.push(vec![
                        p.study_id.clone(),
                        p.site_code.clone(),
                        arm.clone(),
                        id.clone(),
                        l.location.clone(),
                        text(l.irradiation_date.map(|d| d.to_string())),
                        text(c.reference.map(|d| d.to_string())),
                        r.visit_code.clone(),
                        r.id.to_string(),
                        asked.to_string(),
                        super::answers::assessment_date(&app, r),
                        text(point.map(|pt| pt.value.to_string())),
                        text(c.baseline.as_ref().map(|b| b.1.to_string())),
                        text(c.baseline.as_ref().map(|b| b.2.to_string())),
                        text(point.and_then(|pt| pt.change).map(|x| x.to_string())),
                        text(point.and_then(|pt| pt.omed).map(|x| x.to_string())),
                        text(point.and_then(|pt| pt.category.clone())),
                        text(point.and_then(|pt| pt.not_evaluable.map(str::to_string))),
                        text(point.and_then(|pt| pt.progression).map(|x| x.to_string())),
                        text(
                            point
                                .and_then(|pt| pt.progression_basis)
                                .map(|b| b.as_str().to_string()),
                        ),
                        text(c.time_to_progression_days.map(|x| x.to_string())),
                    ]);
                }
            }
            Ok(out)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lesion_is_active_on_a_day_by_its_trail() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("d");
        let changes = [(d("2026-03-01"), false), (d("2026-05-01"), true)];
        // (day, active?)
        let cases = [
            ("2026-01-14", false), // before it was registered
            ("2026-01-15", true),
            ("2026-02-28", true),
            ("2026-03-01", false),
            ("2026-04-30", false),
            ("2026-05-01", true),
        ];
        for (day, want) in cases {
            assert_eq!(active_on(d("2026-01-15"), &changes, d(day)), want, "{day}");
        }
    }

    #[test]
    fn active_periods_follow_the_trail() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("d");
        let reg = d("2026-01-15");
        assert_eq!(active_periods(reg, &[], true), "2026-01-15..");
        assert_eq!(
            active_periods(reg, &[(d("2026-03-01"), false)], false),
            "2026-01-15..2026-03-01"
        );
        assert_eq!(
            active_periods(
                reg,
                &[(d("2026-03-01"), false), (d("2026-05-01"), true)],
                true
            ),
            "2026-01-15..2026-03-01|2026-05-01.."
        );
    }
}

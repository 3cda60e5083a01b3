//! visits.csv: one row per participant, visit and questionnaire (CONSORT-PRO grain): the visit's
//! window and state, whether the form was expected and why not, what became of it, and the
//! response that answered it with its assessment date and flags.

use std::sync::Arc;

use super::{ByteStream, Options, answers::assessment_date, iso, stream_rows};
use crate::{
    answering::completion::form_outcomes,
    app::App,
    domain::{
        completion::Outcome,
        participant::{self as rule, EventKind},
        schedule,
    },
    participants,
    store::{self, participants::ParticipantRow},
};

/// Time columns: `target`, `first_day`, `last_day` and `grace_last_day` are local calendar
/// dates in the study time zone (inclusive); `window_start`, `window_end` and `grace_end` are
/// UTC instants (the ends exclusive), as the schedule API gives them.
pub const VISIT_COLUMNS: [&str; 30] = [
    "study_id",
    "site",
    "arm",
    "visit",
    "visit_num",
    "questionnaire",
    "target",
    "first_day",
    "last_day",
    "grace_last_day",
    "window_start",
    "window_end",
    "grace_end",
    "visit_state",
    "expected",
    "outcome",
    "cause",
    "missed_reason",
    "response_id",
    "assessment_date",
    "late",
    "scorable",
    "flags",
    "days_from_sse",
    "mode",
    "sse_triggered",
    "sse_date",
    "days_from_randomization",
    "synced_late",
    "device_completed_at",
];

/// The outcome code of a form (dictionary: `outcome`).
pub(super) fn outcome_code(o: &Outcome) -> &'static str {
    match o {
        Outcome::NotDue => "not_due",
        Outcome::Pending => "pending",
        Outcome::Awaited => "awaited",
        Outcome::Received(_) => "received",
        Outcome::Missed(_) => "missed",
        Outcome::NotApplicable(_) => "not_applicable",
        Outcome::NotExpected => "not_expected",
    }
}

pub fn visits_csv_of(app: Arc<App>, people: Vec<ParticipantRow>, opts: Options) -> ByteStream {
    stream_rows(
        app,
        opts.dialect,
        VISIT_COLUMNS.to_vec(),
        people,
        |app, p| async move {
            let now = app.clock.now();
            let views = participants::current_views(&app.db, &app, &p, now).await?;
            let event_rows = store::participants::events(&app.db, p.id).await?;
            let arm = participants::arm_of(&event_rows).unwrap_or_default();
            let events = participants::events_of(&app.db, &p).await?;
            let randomized = rule::randomized_on(&events);
            let sse = rule::find(&events, EventKind::Sse).map(|e| e.date);
            let responses = store::responses::of_participant(&app.db, p.id).await?;
            let ids: Vec<_> = responses
                .iter()
                .filter(|r| r.status.is_submitted())
                .map(|r| r.id)
                .collect();
            let scorable = store::bulk::scorable(&app.db, &ids).await?;
            let tz = app.study.time_zone;
            let day_before = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.and_then(|e| schedule::last_day(tz, e))
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            };
            let mut out = Vec::new();
            for (num, v) in views.iter().enumerate() {
                for (q, outcome) in form_outcomes(v, &responses, &scorable) {
                    let (key, version) = q.split_once('@').unwrap_or((&q, ""));
                    let r = responses.iter().find(|r| {
                        r.visit_code == v.code
                            && r.questionnaire_key == key
                            && r.questionnaire_version == version
                            && r.status.is_submitted()
                    });
                    let expected = matches!(
                        outcome,
                        Outcome::Awaited | Outcome::Received(_) | Outcome::Missed(_)
                    );
                    let missed_reason = match &outcome {
                        Outcome::Missed(reason) => reason.clone().unwrap_or_default(),
                        _ => String::new(),
                    };
                    out.push(vec![
                        p.study_id.clone(),
                        p.site_code.clone(),
                        arm.clone(),
                        v.code.clone(),
                        num.to_string(),
                        q.clone(),
                        v.window.target.to_string(),
                        schedule::local_date(tz, v.window.start).to_string(),
                        day_before(v.window.end),
                        day_before(v.window.grace_end),
                        iso(v.window.start),
                        v.window.end.map(iso).unwrap_or_default(),
                        v.window.grace_end.map(iso).unwrap_or_default(),
                        v.state.as_str().to_string(),
                        expected.to_string(),
                        outcome_code(&outcome).to_string(),
                        v.cause.clone().unwrap_or_default(),
                        missed_reason,
                        r.map(|r| r.id.to_string()).unwrap_or_default(),
                        r.map(|r| assessment_date(&app, r)).unwrap_or_default(),
                        r.map(|r| r.late.to_string()).unwrap_or_default(),
                        match outcome {
                            Outcome::Received(x) => x.scorable.to_string(),
                            _ => String::new(),
                        },
                        r.map(|r| r.flags.0.join("|")).unwrap_or_default(),
                        r.and_then(|r| r.days_from_sse)
                            .map(|d| d.to_string())
                            .unwrap_or_default(),
                        r.and_then(|r| r.mode)
                            .map(|m| m.to_string())
                            .unwrap_or_default(),
                        v.sse_triggered.to_string(),
                        sse.map(|d| d.to_string()).unwrap_or_default(),
                        randomized
                            .map(|d| (v.window.target - d).num_days().to_string())
                            .unwrap_or_default(),
                        r.map(|r| r.synced_late.to_string()).unwrap_or_default(),
                        r.and_then(|r| r.device_completed_at)
                            .map(iso)
                            .unwrap_or_default(),
                    ]);
                }
            }
            Ok(out)
        },
    )
}

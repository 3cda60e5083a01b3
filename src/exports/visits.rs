//! visits.csv: one row per participant visit, with its window, state and missed reason.

use std::sync::Arc;

use super::{ByteStream, Dialect, iso, scope, stream_rows};
use crate::{
    app::App,
    auth::StaffActor,
    domain::participant::EventKind,
    domain::schedule,
    error::Result,
    participants,
    store::{self, participants::ParticipantRow},
};

pub const VISIT_COLUMNS: [&str; 13] = [
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
    "arm",
    "cause",
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
                .find(|e| e.kind == EventKind::Randomization && !e.entered_in_error)
                .map(|e| e.event_date);
            let responses = store::responses::of_participant(&app.db, p.id).await?;
            let tz = app.study.time_zone;
            let arm = participants::arm_of(&events).unwrap_or_default();
            Ok(views
                .into_iter()
                .map(|v| {
                    let mut modes: Vec<String> = responses
                        .iter()
                        .filter(|r| r.visit_code == v.code)
                        .filter_map(|r| r.mode.map(|m| m.to_string()))
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
                        arm.clone(),
                        v.cause.clone().unwrap_or_default(),
                    ]
                })
                .collect())
        },
    ))
}

pub async fn visits_csv(app: Arc<App>, actor: &StaffActor, dialect: Dialect) -> Result<ByteStream> {
    let people = scope(&app, actor).await?;
    visits_csv_of(app, people, dialect).await
}

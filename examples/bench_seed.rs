//! Benchmarks only (docs/benchmarks.md): fill the configured database with COUNT participants
//! spread over every site, enrolled and randomized on days spread over the past MONTHS months,
//! through the real enrolment service (visits, audit events and all), so the history is real;
//! each gets the PIN 4826 (reminders need one).
//! The study file must allow six-digit numbers (benches/run.sh makes such a copy).
//!
//!   EPRO_DATABASE_URL=… EPRO_STUDY_FILE=… cargo run --release --example bench_seed -- COUNT [MONTHS]

use std::sync::Arc;

use chrono::{Duration, Utc};
use epro::{admin::users, auth, clock::ManualClock, config::Settings, participants, startup};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: bench_seed COUNT [MONTHS]"))?
        .parse()?;
    let months: i64 = args.next().map(|m| m.parse()).transpose()?.unwrap_or(24);
    let settings = Settings::load()?;
    let now = Utc::now();
    let clock = ManualClock::new(now);
    let app = startup::prepare(settings, Arc::new(clock.clone())).await?;
    let sites: Vec<String> = app.study.sites.iter().map(|s| s.code.clone()).collect();
    let email = format!("bench-{}@example.org", uuid::Uuid::new_v4().simple());
    let (_, first) = users::create_from_cli(&app, &email, "site_staff", sites.clone()).await?;
    let login = auth::login(&app, &email, &first, None).await?;
    let actor = auth::authenticate(&app, &login.token).await?;
    let password = "bench-password-0123456789";
    auth::change_password(&app, &actor, &first, password).await?;
    let login = auth::login(&app, &email, password, None).await?;
    let actor = auth::authenticate(&app, &login.token).await?;
    // Randomization days spread over the past MONTHS months, but never before the study started
    // (enrolment refuses those).
    let span = Duration::minutes(months * 30 * 24 * 60);
    let span = match app.study.start_date {
        Some(start) => {
            let since = now - start.and_hms_opt(12, 0, 0).unwrap_or_default().and_utc();
            span.min(since - Duration::days(1))
        }
        None => span,
    };
    let started = std::time::Instant::now();
    for i in 0..count {
        let day = now - span * (i as i32) / (count.max(1) as i32);
        clock.set(day);
        let site = &sites[i % sites.len()];
        let date = epro::domain::schedule::local_date(app.study.time_zone, day);
        participants::enrol(
            &app,
            &actor,
            participants::NewParticipant {
                study_id: format!("HERMES-{site}-{:06}", i / sites.len() + 1),
                site: site.clone(),
                language: "nl".into(),
                randomization_date: Some(date.to_string()),
                enrolled_on: None,
                arm: Some(if i % 2 == 0 { "A" } else { "B" }.into()),
                email: Some(format!("p{i}@example.org")),
                phone: None,
                reminder_channel: None,
            },
        )
        .await?;
        if (i + 1) % 10_000 == 0 {
            eprintln!("{} participants, {:?}", i + 1, started.elapsed());
        }
    }
    // Every participant gets the PIN 4826 (reminders go only to participants with one), hashed
    // once and stored for all in one statement: hashing per participant would take hours.
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let hash = app.hasher.hash("4826".into()).await?;
    let backend = app.db.get_database_backend();
    let params = match backend {
        DbBackend::Postgres => "$1, $2",
        _ => "?, ?",
    };
    app.db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "INSERT INTO participant_pin (participant_id, pin_hash, set_at) \
                 SELECT id, {params} FROM participant \
                 WHERE id NOT IN (SELECT participant_id FROM participant_pin)"
            ),
            [hash.into(), now.into()],
        ))
        .await?;
    println!("seeded {count} participants in {:?}", started.elapsed());
    Ok(())
}

//! `epro schedule show|simulate`.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use epro::{
    config::Settings,
    domain::schedule::{self, Window, local_date},
};

use super::{Outcome, parse_instant, prepare_at};

#[derive(Subcommand)]
pub enum Command {
    /// Print a participant's visit table as it was at --at (default now): windows, states and
    /// reasons as the audit trail stood then, events and forms recorded by then; nothing is
    /// stored.
    Show {
        /// Study id, e.g. HERMES-ZAS-001.
        study_id: String,
        /// An instant, RFC 3339 (e.g. 2026-03-01T10:00:00+01:00).
        #[arg(long)]
        at: Option<String>,
    },
    /// Print the schedule a participant randomized on that day would have.
    Simulate {
        /// Randomization date, YYYY-MM-DD (also taken as the enrolment date).
        #[arg(long)]
        randomized: String,
        /// Date of a symptomatic skeletal event, YYYY-MM-DD (recorded on that day).
        #[arg(long)]
        sse: Option<String>,
        /// An instant, RFC 3339 (default now).
        #[arg(long)]
        at: Option<String>,
    },
}

pub async fn run(settings: Settings, command: Command) -> Outcome {
    match command {
        Command::Simulate {
            randomized,
            sse,
            at,
        } => {
            let study = epro::study::load(&settings.study_file)?;
            let r = epro::participants::parse_date("--randomized", &randomized)?;
            let sse = sse
                .map(|d| epro::participants::parse_date("--sse", &d))
                .transpose()?;
            let at = parse_instant(at)?;
            let rows: Vec<_> = schedule::simulate(&study.protocol, r, sse, at)
                .into_iter()
                .map(|s| (s.code, s.window, s.state.as_str(), s.sse_triggered))
                .collect();
            print_schedule(study.time_zone, at, &rows);
        }
        Command::Show { study_id, at } => {
            let at = parse_instant(at)?;
            let app = prepare_at(settings, at).await?;
            let visits = epro::participants::schedule_as_of(&app, &study_id, at).await?;
            let rows: Vec<_> = visits
                .into_iter()
                .map(|v| (v.code, v.window, v.state.as_str(), v.sse_triggered))
                .collect();
            println!("{study_id}");
            print_schedule(app.study.time_zone, at, &rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_schedule(tz: chrono_tz::Tz, at: DateTime<Utc>, rows: &[(String, Window, &str, bool)]) {
    let day = |t: Option<DateTime<Utc>>, back: u64| {
        t.and_then(|t| local_date(tz, t).checked_sub_days(chrono::Days::new(back)))
            .map_or_else(|| "(until randomization)".to_string(), |d| d.to_string())
    };
    println!(
        "as at {} ({tz})",
        at.with_timezone(&tz).format("%Y-%m-%d %H:%M %:z")
    );
    println!(
        "{:<6} {:<10} {:<10} {:<21} {:<21} {:<15} SSE",
        "visit", "target", "opens", "last day", "grace until", "state"
    );
    for (code, w, state, sse) in rows {
        println!(
            "{:<6} {:<10} {:<10} {:<21} {:<21} {:<15} {}",
            code,
            w.target,
            local_date(tz, w.start),
            day(w.end, 1),
            day(w.grace_end, 1),
            state,
            if *sse { "yes" } else { "" }
        );
    }
}

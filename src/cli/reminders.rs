//! `epro reminders run|plan`.

use std::process::ExitCode;

use clap::Subcommand;
use epro::{config::Settings, domain::reminders::Decision};

use super::{Outcome, parse_instant, prepare, prepare_at};

#[derive(Subcommand)]
pub enum Command {
    /// Plan and send what is due now, one pass (the jobs inside `epro serve` do this every
    /// interval).
    Run,
    /// Print what would be sent at that instant, without sending or storing anything.
    Plan {
        /// An instant, RFC 3339 (default now).
        #[arg(long)]
        at: Option<String>,
        /// Instead: run the worker's planning step once (into the outbox, nothing sent), and
        /// print how many participants it looked at and how long it took.
        #[arg(long)]
        store: bool,
    },
}

pub async fn run(settings: Settings, command: Command) -> Outcome {
    match command {
        Command::Run => {
            let app = prepare(settings).await?;
            let mail = epro::notify::mail::Mail::from_settings(&app.settings)?;
            let r = epro::reminders::run_once(&app, &mail).await?;
            println!(
                "planned {}, skipped {}, sent {}, postponed {}, retrying {}, failed {}, cancelled {}, digests sent {}",
                r.planned,
                r.skipped,
                r.sent,
                r.postponed,
                r.retrying,
                r.failed,
                r.cancelled,
                r.digests
            );
            // What decides when things go out (study time zone): postponed reminders wait for
            // the sending hours, the digest for its hour.
            let rem = &app.study.reminders;
            println!(
                "sending hours {}–{} ({}), digest at {}",
                rem.send_from.format("%H:%M"),
                rem.send_until.format("%H:%M"),
                app.study.time_zone,
                rem.digest_at.format("%H:%M")
            );
        }
        Command::Plan { at, store: true } => {
            let at = parse_instant(at)?;
            let app = prepare_at(settings, at).await?;
            let started = std::time::Instant::now();
            let r = epro::reminders::plan(&app, at).await?;
            println!(
                "planning pass as at {at}: looked at {} participants, planned {}, skipped {}, in {} ms",
                r.examined,
                r.planned,
                r.skipped,
                started.elapsed().as_millis()
            );
        }
        Command::Plan { at, store: false } => {
            let at = parse_instant(at)?;
            let app = prepare_at(settings, at).await?;
            let list = epro::reminders::decisions(&app, at).await?;
            println!("as at {at}: {} reminder decisions", list.len());
            for d in list {
                let (what, kind, due) = match d.decision {
                    Decision::Send { kind, due_at } => ("send", kind, due_at),
                    Decision::Skip { kind, due_at } => ("skip", kind, due_at),
                };
                println!(
                    "{what:<5} {:<16} {:<5} {:<12} due {}",
                    d.study_id,
                    d.visit,
                    kind,
                    due.with_timezone(&app.study.time_zone)
                        .format("%Y-%m-%d %H:%M %:z")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

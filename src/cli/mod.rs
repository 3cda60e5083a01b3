//! The `epro` command line: one noun, then a verb (`epro users create`, `epro archive verify`);
//! `epro` alone serves. One file per noun. A failure ends the process with one line on stderr
//! and a non-zero exit code, never a backtrace; a verifier of stored data (`audit verify`,
//! `archive verify`) prints a `BROKEN` or `FAILED` line per finding on stdout and exits 1.

mod archive;
mod audit;
mod database;
mod fhir;
mod keys;
mod participants;
mod questionnaires;
mod reminders;
mod schedule;
mod scores;
mod serve;
mod study;
mod texts;
mod users;
mod validate;

use std::{process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};
use epro::{
    app::App,
    clock::{Clock, ManualClock, SystemClock},
    config::Settings,
    startup, telemetry,
};

/// A command's outcome: the exit code, or the one line printed on stderr.
pub type Outcome = anyhow::Result<ExitCode>;

/// epro — electronic patient-reported outcomes for clinical trials.
///
/// Settings come from epro.toml (or the file in EPRO_CONFIG) and EPRO_* environment variables;
/// see the Configuration table in README.md for every setting.
#[derive(Parser)]
#[command(name = "epro", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default): migrate, load the study, create the first admin if none.
    Serve,
    /// The database: migrations and backups.
    Database {
        #[command(subcommand)]
        command: database::Command,
    },
    /// The study file.
    Study {
        #[command(subcommand)]
        command: study::Command,
    },
    /// The page, email and SMS texts per language (texts/<lang>/*.ftl, EPRO_TEXTS_DIR).
    Texts {
        #[command(subcommand)]
        command: texts::Command,
    },
    /// Questionnaire definitions: check, publish, render as FHIR.
    Questionnaires {
        #[command(subcommand)]
        command: questionnaires::Command,
    },
    /// Visit schedules.
    Schedule {
        #[command(subcommand)]
        command: schedule::Command,
    },
    /// Email reminders.
    Reminders {
        #[command(subcommand)]
        command: reminders::Command,
    },
    /// Stored scores.
    Scores {
        #[command(subcommand)]
        command: scores::Command,
    },
    /// Staff accounts.
    Users {
        #[command(subcommand)]
        command: users::Command,
    },
    /// Participants' personal data.
    Participants {
        #[command(subcommand)]
        command: participants::Command,
    },
    /// The investigator archive of a site: create one signed file, verify one offline.
    Archive {
        #[command(subcommand)]
        command: archive::Command,
    },
    /// Key rotation.
    Keys {
        #[command(subcommand)]
        command: keys::Command,
    },
    /// The tamper-evident audit trail.
    Audit {
        #[command(subcommand)]
        command: audit::Command,
    },
    /// The installation check (installation qualification): configuration, database, study
    /// and questionnaire files, keys, audit trail, mail relay, SMS gateway, clock, disk and time
    /// zone database, written as a report signed with the archive key. Exits 1 on any failure.
    Validate(validate::Command),
    /// FHIR R4 access for systems: SMART Backend Services clients.
    Fhir {
        #[command(subcommand)]
        command: fhir::Command,
    },
}

/// Parse the command line and run it on a fresh runtime.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("epro: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("epro: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Outcome {
    let settings = Settings::load()?;
    telemetry::init(settings.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve::run(settings).await,
        Command::Database { command } => database::run(settings, command).await,
        Command::Study { command } => study::run(&settings, command),
        Command::Texts { command } => texts::run(&settings, command),
        Command::Questionnaires { command } => questionnaires::run(&settings, command),
        Command::Schedule { command } => schedule::run(settings, command).await,
        Command::Reminders { command } => reminders::run(settings, command).await,
        Command::Scores { command } => scores::run(settings, command).await,
        Command::Users { command } => users::run(settings, command).await,
        Command::Participants { command } => participants::run(settings, command).await,
        Command::Archive { command } => archive::run(settings, command).await,
        Command::Keys { command } => keys::run(settings, command).await,
        Command::Audit { command } => audit::run(settings, command).await,
        Command::Validate(command) => validate::run(settings, command).await,
        Command::Fhir { command } => fhir::run(settings, command).await,
    }
}

/// The application without its HTTP server, on the system clock.
async fn prepare(settings: Settings) -> anyhow::Result<Arc<App>> {
    Ok(startup::prepare(settings, Arc::new(SystemClock)).await?)
}

/// The application with its clock stopped at `at` (for commands that show a state "as at").
async fn prepare_at(
    settings: Settings,
    at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Arc<App>> {
    Ok(startup::prepare(settings, Arc::new(ManualClock::new(at))).await?)
}

/// `--at`: an RFC 3339 instant, default now.
fn parse_instant(at: Option<String>) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    match at {
        None => Ok(SystemClock.now()),
        Some(s) => chrono::DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|_| {
                anyhow::anyhow!(
                    "--at: {s:?} is not an RFC 3339 instant such as 2026-03-01T10:00:00+01:00"
                )
            }),
    }
}

//! `epro database migrate|backup`.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, bail};
use clap::Subcommand;
use epro::{config::Settings, store};

use super::Outcome;

#[derive(Subcommand)]
pub enum Command {
    /// Apply database migrations and exit.
    Migrate,
    /// A consistent backup while the server runs. SQLite: one database file (VACUUM INTO);
    /// PostgreSQL: pg_dump's custom format (pg_dump must be installed). See docs/operations.md.
    Backup {
        /// Output file (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
}

pub async fn run(settings: Settings, command: Command) -> Outcome {
    match command {
        Command::Migrate => {
            let db = store::connect(&settings.database_url).await?;
            store::migrate(&db, &settings.database_url).await?;
            println!(
                "migrations applied to {}",
                store::describe_target(&settings.database_url)
            );
        }
        Command::Backup { out } => {
            if out.exists() {
                bail!("{} exists; choose a new file", out.display());
            }
            if settings.database_url.starts_with("postgres") {
                let status = std::process::Command::new("pg_dump")
                    .args(["--format=custom", "--no-owner", "--file"])
                    .arg(&out)
                    .arg(&settings.database_url)
                    .status()
                    .context("pg_dump could not be started; install the PostgreSQL client tools")?;
                if !status.success() {
                    bail!("pg_dump failed ({status})");
                }
            } else {
                let db = store::connect(&settings.database_url).await?;
                store::backup_sqlite(&db, &out)
                    .await
                    .context("backup failed")?;
            }
            println!("wrote {}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `epro database migrate|backup|restore`.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

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
    /// Restore a backup made by `epro database backup` into the empty database at
    /// EPRO_DATABASE_URL (SQLite: a file that does not exist yet or has no tables; PostgreSQL:
    /// an existing empty database, with pg_restore installed), bring it to this release's
    /// schema, and check it with this installation's keys (`epro audit verify`) before
    /// declaring success. A non-empty target is refused; nothing is overwritten.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
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
        Command::Restore { from } => return restore(&settings, &from).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// The restore drill as one command: refuse a non-empty target, restore, migrate, verify.
async fn restore(settings: &Settings, from: &Path) -> Outcome {
    let url = settings.database_url.as_str();
    let target = store::describe_target(url);
    if !from.is_file() {
        bail!("{}: no such backup file", from.display());
    }
    if let Some(path) = store::sqlite_path(url) {
        if path.exists() {
            let db = store::connect(url).await?;
            let tables = store::table_count(&db).await?;
            db.close().await?;
            if tables > 0 {
                bail!("{target} is not empty ({tables} tables): restore only into a new database");
            }
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot replace the empty file {}", path.display()))?;
        }
        let mut header = [0u8; 16];
        std::fs::File::open(from)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
            .with_context(|| format!("cannot read {}", from.display()))?;
        if &header != b"SQLite format 3\0" {
            bail!(
                "{} is not an SQLite backup (epro database backup on SQLite writes one database \
                 file); a PostgreSQL backup restores into a postgres:// EPRO_DATABASE_URL",
                from.display()
            );
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        // Copy beside the target, then rename: the database appears whole or not at all.
        let partial = path.with_extension("restoring");
        std::fs::copy(from, &partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        std::fs::rename(&partial, &path)?;
    } else {
        let db = store::connect(url).await?;
        let tables = store::table_count(&db).await?;
        db.close().await?;
        if tables > 0 {
            bail!("{target} is not empty ({tables} tables): restore only into a new database");
        }
        let status = std::process::Command::new("pg_restore")
            .args(["--no-owner", "--exit-on-error", "--dbname"])
            .arg(url)
            .arg(from)
            .status()
            .context("pg_restore could not be started; install the PostgreSQL client tools")?;
        if !status.success() {
            bail!(
                "pg_restore failed ({status}); the database may hold part of the backup: drop and create it again before retrying"
            );
        }
    }
    let db = store::connect(url).await?;
    store::migrate(&db, url).await?;
    println!("restored {} into {target}", from.display());
    for (what, n) in store::restored_summary(&db).await? {
        println!("  {what}: {n}");
    }
    if super::audit::check(settings, &db).await? {
        println!("OK: restore complete; start epro on this database with the same keys");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "FAILED: the restored audit trail does not verify with this installation's keys \
             (EPRO_AUDIT_KEY, EPRO_AUDIT_KEYS_RETIRED): use the keys of the installation the \
             backup came from; do not start epro on this database until it verifies"
        );
        Ok(ExitCode::FAILURE)
    }
}

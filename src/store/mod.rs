//! The only code that touches sea-orm: connecting, transactions, and one query function per need.
//! SQLite/PostgreSQL differences (pragmas, IMMEDIATE transactions, row locks) are decided here.

pub(crate) mod access;
pub mod audit;
pub(crate) mod bulk;
pub mod calls;
mod columns;
pub use columns::Json;
pub(crate) mod entities;
pub(crate) mod participants;
pub(crate) mod questionnaires;
pub mod reminders;
pub mod responses;
pub(crate) mod staff;
pub(crate) mod study;
pub(crate) mod throttle;

use std::{path::PathBuf, time::Duration};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqlErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

pub use sea_orm::DatabaseConnection as Db;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write. The caller knows which one its write can hit and
    /// maps it to its own error (`email_taken`, `study_id_taken`, …); no message text is read.
    #[error("a record with this key already exists")]
    Duplicate,
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

impl StoreError {
    /// Turn a unique-constraint violation into `Duplicate` (sea-orm recognises it by the
    /// backend's error code, on SQLite and PostgreSQL alike).
    pub fn classify(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Duplicate,
            _ => StoreError::Db(err),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot open the database at {target}: {reason}")]
    Unreachable { target: String, reason: String },
    #[error("cannot migrate the database at {target}: {reason}")]
    Migration { target: String, reason: String },
}

/// Where a database URL points, for messages: host and port, or the SQLite file. Never the
/// user name or password.
pub fn describe_target(url: &str) -> String {
    if let Some(path) = sqlite_path(url) {
        return format!("SQLite file {}", path.display());
    }
    match url::Url::parse(url) {
        Ok(u) => format!(
            "PostgreSQL host {}:{} database {}",
            u.host_str().unwrap_or("localhost"),
            u.port().unwrap_or(5432),
            u.path().trim_start_matches('/')
        ),
        Err(_) => "the configured EPRO_DATABASE_URL (unparsable)".into(),
    }
}

/// The file behind a `sqlite://` URL, when it is a file.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Connect, choosing the backend from the URL scheme. For SQLite: the file and its folder are
/// created, WAL on, foreign keys on, a busy timeout so writers queue instead of failing.
pub async fn connect(url: &str) -> Result<Db, ConnectError> {
    let target = describe_target(url);
    let unreachable = |reason: String| ConnectError::Unreachable {
        target: target.clone(),
        reason,
    };
    let mut url = url.to_string();
    if let Some(path) = sqlite_path(&url) {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| unreachable(e.to_string()))?;
        }
        if !url.contains("mode=") {
            url.push_str(if url.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            });
        }
    }
    let mut options = ConnectOptions::new(url);
    options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .max_connections(16)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
        });
    Database::connect(options)
        .await
        .map_err(|e| unreachable(short_reason(&e)))
}

/// The first line of a driver error, without connection strings.
fn short_reason(e: &DbErr) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or("unknown error");
    line.replace("Connection Error: ", "")
}

pub async fn migrate(db: &Db, url: &str) -> Result<(), ConnectError> {
    Migrator::up(db, None)
        .await
        .map_err(|e| ConnectError::Migration {
            target: describe_target(url),
            reason: short_reason(&e),
        })
}

/// Reachable and every migration applied.
pub async fn ready(db: &Db) -> Result<bool, DbErr> {
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT 1",
    ))
    .await?;
    Ok(Migrator::get_pending_migrations(db).await?.is_empty())
}

/// Begin a transaction that will write. On SQLite it is IMMEDIATE: it takes the write lock at
/// BEGIN, so a read that later upgrades to a write never fails with "database is locked".
pub async fn begin_write(db: &Db) -> Result<DatabaseTransaction, DbErr> {
    if db.get_database_backend() == DbBackend::Sqlite {
        db.begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await
    } else {
        db.begin().await
    }
}

pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// A consistent copy of a SQLite database in one file (`VACUUM INTO`), taken while the server
/// runs. The target must not exist.
pub async fn backup_sqlite(db: &Db, target: &std::path::Path) -> Result<(), DbErr> {
    let path = target.to_string_lossy().replace('\'', "''");
    db.execute_raw(Statement::from_string(
        DbBackend::Sqlite,
        format!("VACUUM INTO '{path}'"),
    ))
    .await?;
    Ok(())
}

//! The only code that touches sea-orm: connecting, transactions, and one query function per need.
//! SQLite/PostgreSQL differences (pragmas, IMMEDIATE transactions, row locks) are decided here.

pub(crate) mod access;
pub mod audit;
pub(crate) mod bulk;
pub mod calls;
mod columns;
pub use columns::Json;
pub(crate) mod entities;
pub(crate) mod facts;
pub mod fhir;
pub mod fhir_subscriptions;
pub(crate) mod participants;
pub(crate) mod questionnaires;
pub mod reminders;
pub mod responses;
pub(crate) mod staff;
pub(crate) mod study;
pub(crate) mod throttle;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

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

/// How the connection pool is used now (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUse {
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
}

pub fn pool_use(db: &Db) -> PoolUse {
    let (size, idle, max) = match db.get_database_backend() {
        DbBackend::Postgres => {
            let p = db.get_postgres_connection_pool();
            (p.size(), p.num_idle(), p.options().get_max_connections())
        }
        _ => {
            let p = db.get_sqlite_connection_pool();
            (p.size(), p.num_idle(), p.options().get_max_connections())
        }
    };
    let idle = u32::try_from(idle).unwrap_or(u32::MAX);
    PoolUse {
        in_use: size.saturating_sub(idle),
        idle,
        max,
    }
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

/// The schema's state for the installation check: the migrations applied (oldest first) and
/// those this build has that the database lacks.
pub async fn schema_state(db: &Db) -> Result<(Vec<String>, Vec<String>), DbErr> {
    let applied = Migrator::get_applied_migrations(db)
        .await?
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    let pending = Migrator::get_pending_migrations(db)
        .await?
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    Ok((applied, pending))
}

/// The database server's own clock (PostgreSQL `now()`; SQLite reads the machine's clock).
pub async fn server_time(db: &Db) -> Result<chrono::DateTime<chrono::Utc>, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS ms"
        }
        _ => "SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) AS ms",
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| DbErr::Custom("the clock query returned no row".into()))?;
    let ms: i64 = row.try_get("", "ms")?;
    chrono::DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| DbErr::Custom(format!("the database clock reads {ms} ms")))
}

/// A write transaction (see [`begin_write`]): a `DatabaseTransaction` that, on SQLite, holds
/// this process's turn to write until it is committed, rolled back or dropped.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        // The turn passes on once the commit is done (the permit drops after it).
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<sea_orm::ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }
}

/// How long a writer waits for its turn before giving up with an error (a writer never waits
/// on another that cannot finish; this only bounds a pathological queue).
const WRITE_TURN_TIMEOUT: Duration = Duration::from_secs(30);

/// This process's writers to one SQLite file take turns through one FIFO queue (a semaphore
/// per file): a writer waits in the queue, holding no connection, and starts the moment the one
/// before it commits — instead of many connections polling SQLite's busy handler, whose growing
/// sleeps (up to 100 ms a step) made the tail of concurrent writes long. Other processes on the
/// same file still meet at SQLite's lock, as before.
fn sqlite_turns(db: &Db) -> Arc<tokio::sync::Semaphore> {
    static TURNS: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Semaphore>>>> = OnceLock::new();
    let file = db
        .get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_path_buf();
    let mut turns = TURNS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    turns
        .entry(file)
        .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(1)))
        .clone()
}

/// Begin a transaction that will write. On SQLite it waits for this process's turn to write
/// (see [`sqlite_turns`]), then is IMMEDIATE: it takes the write lock at BEGIN, so a read that
/// later upgrades to a write never fails with "database is locked".
pub async fn begin_write(db: &Db) -> Result<WriteTxn, DbErr> {
    if db.get_database_backend() == DbBackend::Sqlite {
        let turn = tokio::time::timeout(WRITE_TURN_TIMEOUT, sqlite_turns(db).acquire_owned())
            .await
            .map_err(|_| DbErr::Custom("timed out waiting for the turn to write".into()))?
            .map_err(|_| DbErr::Custom("the write queue is closed".into()))?;
        let txn = db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await?;
        Ok(WriteTxn {
            txn,
            _turn: Some(turn),
        })
    } else {
        Ok(WriteTxn {
            txn: db.begin().await?,
            _turn: None,
        })
    }
}

pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// A consistent copy of a SQLite database in one file (`VACUUM INTO`), taken while the server
/// runs. The target must not exist.
/// How many tables the database holds (0: an empty database a restore may fill). SQLite's own
/// tables and PostgreSQL's catalogs are not counted.
pub async fn table_count(db: &Db) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT COUNT(*) AS n FROM information_schema.tables \
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        }
        _ => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?;
    row.map_or(Ok(0), |r| r.try_get::<i64>("", "n"))
}

/// What a restored database holds, for the operator: participants, submitted responses,
/// audit events.
pub async fn restored_summary(db: &Db) -> Result<Vec<(&'static str, i64)>, DbErr> {
    let backend = db.get_database_backend();
    let mut out = Vec::new();
    for (what, sql) in [
        ("participants", "SELECT COUNT(*) AS n FROM participant"),
        (
            "submitted responses",
            "SELECT COUNT(*) AS n FROM response WHERE status <> 'draft'",
        ),
        ("audit events", "SELECT COUNT(*) AS n FROM audit_event"),
    ] {
        let row = db
            .query_one_raw(Statement::from_string(backend, sql))
            .await?;
        out.push((what, row.map_or(Ok(0), |r| r.try_get::<i64>("", "n"))?));
    }
    Ok(out)
}

pub async fn backup_sqlite(db: &Db, target: &std::path::Path) -> Result<(), DbErr> {
    let path = target.to_string_lossy().replace('\'', "''");
    db.execute_raw(Statement::from_string(
        DbBackend::Sqlite,
        format!("VACUUM INTO '{path}'"),
    ))
    .await?;
    Ok(())
}

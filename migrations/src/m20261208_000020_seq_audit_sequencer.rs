//! The audit trail written without the chain head's lock (#29.1, #29.2; docs/audit-ledger.md,
//! "Write path and sequencer"): an event is inserted with its transaction under its own `id`,
//! with no sequence number yet (`seq`, `prev_hash`, `hash` NULL) and its `content_hash` (HMAC of
//! its content without seq); the sequencer gives it `seq`, chains it and stamps `sequenced_at`.
//! The existing chain is carried over as it is: every existing event keeps its `seq`, `prev_hash`
//! and `hash` (and gets `id` = `seq`), so old and new events verify as one log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE audit_event DROP CONSTRAINT audit_event_pkey",
    "ALTER TABLE audit_event ALTER COLUMN seq DROP NOT NULL, \
     ALTER COLUMN prev_hash DROP NOT NULL, ALTER COLUMN hash DROP NOT NULL",
    "ALTER TABLE audit_event ADD COLUMN id BIGINT",
    "UPDATE audit_event SET id = seq",
    "CREATE SEQUENCE audit_event_id_seq OWNED BY audit_event.id",
    "SELECT setval('audit_event_id_seq', COALESCE((SELECT max(id) FROM audit_event), 0) + 1, false)",
    "ALTER TABLE audit_event ALTER COLUMN id SET DEFAULT nextval('audit_event_id_seq'), \
     ALTER COLUMN id SET NOT NULL, ADD PRIMARY KEY (id)",
    "CREATE UNIQUE INDEX idx_audit_event_seq ON audit_event (seq)",
    "ALTER TABLE audit_event ADD COLUMN content_hash VARCHAR NULL, \
     ADD COLUMN sequenced_at VARCHAR NULL",
    "UPDATE audit_event SET sequenced_at = at",
    // What the sequencer looks for on every pass: the few events not sequenced yet.
    "CREATE INDEX idx_audit_event_unsequenced ON audit_event (id) WHERE seq IS NULL",
];

/// SQLite cannot change a primary key: the table is rebuilt, rows copied as they are.
const SQLITE_UP: &[&str] = &[
    "CREATE TABLE audit_event_seq ( \
       id INTEGER NOT NULL PRIMARY KEY, seq BIGINT NULL UNIQUE, at VARCHAR NOT NULL, \
       actor_kind VARCHAR NOT NULL, actor_id VARCHAR NULL, action VARCHAR NOT NULL, \
       entity_type VARCHAR NOT NULL, entity_id VARCHAR NULL, before TEXT NULL, after TEXT NULL, \
       reason TEXT NULL, prev_hash VARCHAR NULL, hash VARCHAR NULL, content_hash VARCHAR NULL, \
       sequenced_at VARCHAR NULL)",
    "INSERT INTO audit_event_seq (id, seq, at, actor_kind, actor_id, action, entity_type, \
       entity_id, before, after, reason, prev_hash, hash, sequenced_at) \
     SELECT seq, seq, at, actor_kind, actor_id, action, entity_type, entity_id, before, after, \
       reason, prev_hash, hash, at FROM audit_event",
    "DROP TABLE audit_event",
    "ALTER TABLE audit_event_seq RENAME TO audit_event",
    "CREATE INDEX idx_audit_event_entity ON audit_event (entity_type, entity_id)",
    "CREATE INDEX idx_audit_event_unsequenced ON audit_event (id) WHERE seq IS NULL",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for sql in POSTGRES_UP {
                db.execute_unprepared(sql).await?;
            }
            return Ok(());
        }
        // SQLite: one batch on one connection (the rebuild must not meet another pooled
        // connection's older schema between the DROP and the RENAME), in one transaction.
        let batch = format!("BEGIN; {}; COMMIT;", SQLITE_UP.join("; "));
        db.execute_unprepared(&batch).await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Events written after this migration may have no sequence number yet; the old shape
        // (seq as the key, hash NOT NULL) cannot hold them. Restore a backup instead.
        Err(DbErr::Migration(
            "the sequenced audit trail cannot be migrated down; restore a backup".into(),
        ))
    }
}

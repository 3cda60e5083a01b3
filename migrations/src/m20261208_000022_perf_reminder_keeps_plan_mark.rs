//! Writing a participant's reminders no longer clears their reminder-planning mark (#29.8;
//! docs/reminders.md, "Planning by window edges"). Migration 11's triggers cleared
//! `participant_revision.plan_at` on every change of a reminder row, so the pass after a
//! planning pass looked again at everyone it had just planned for (its own inserts cleared the
//! marks), and so did the pass after every send. What is due depends on the participant's
//! visits, events, responses, scores and PIN, not on their outbox: an inserted or updated
//! reminder now only raises the revision (the completion cache still sees it). A deleted
//! reminder still clears the mark, so a row removed by a repair is planned again on the next
//! pass. Every other trigger of migration 11 is unchanged.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const RAISE: &str = "UPDATE participant_revision SET revision = revision + 1";
const RAISE_AND_CLEAR: &str =
    "UPDATE participant_revision SET revision = revision + 1, plan_at = NULL";

/// SQLite: migration 11's insert and update triggers on `reminder` replaced by ones that keep
/// the mark (`up`), or the reverse. New names: SQLite refused to create a trigger under the
/// name of one just dropped in the same migration run.
fn sqlite(up: bool) -> Vec<String> {
    let mut out = Vec::new();
    for (op, row) in [("INSERT", "NEW"), ("UPDATE", "NEW")] {
        let (old, new, set) = if up {
            (
                format!("epro_revision_reminder_{op}"),
                format!("epro_revision_reminder_keeps_plan_{op}"),
                RAISE,
            )
        } else {
            (
                format!("epro_revision_reminder_keeps_plan_{op}"),
                format!("epro_revision_reminder_{op}"),
                RAISE_AND_CLEAR,
            )
        };
        out.push(format!("DROP TRIGGER IF EXISTS {old}"));
        out.push(format!(
            "CREATE TRIGGER {new} AFTER {op} ON reminder BEGIN \
             {set} WHERE participant_id = {row}.participant_id; END"
        ));
    }
    out
}

fn postgres_up() -> Vec<String> {
    vec![
        format!(
            "CREATE FUNCTION epro_revision_bump_reminder() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN \
               IF TG_OP = 'DELETE' THEN \
                 {RAISE_AND_CLEAR} WHERE participant_id = OLD.participant_id; \
               ELSE \
                 {RAISE} WHERE participant_id = NEW.participant_id; \
               END IF; \
               RETURN NULL; \
             END $$"
        ),
        "DROP TRIGGER IF EXISTS epro_revision ON reminder".to_string(),
        "CREATE TRIGGER epro_revision AFTER INSERT OR UPDATE OR DELETE ON reminder \
         FOR EACH ROW EXECUTE FUNCTION epro_revision_bump_reminder()"
            .to_string(),
    ]
}

fn postgres_down() -> Vec<String> {
    vec![
        "DROP TRIGGER IF EXISTS epro_revision ON reminder".to_string(),
        "CREATE TRIGGER epro_revision AFTER INSERT OR UPDATE OR DELETE ON reminder \
         FOR EACH ROW EXECUTE FUNCTION epro_revision_bump()"
            .to_string(),
        "DROP FUNCTION IF EXISTS epro_revision_bump_reminder()".to_string(),
    ]
}

async fn run(manager: &SchemaManager<'_>, up: bool) -> Result<(), DbErr> {
    let statements = match (manager.get_database_backend(), up) {
        (DatabaseBackend::Postgres, true) => postgres_up(),
        (DatabaseBackend::Postgres, false) => postgres_down(),
        (_, up) => sqlite(up),
    };
    // One call, so one connection runs them all (each call may take another pooled connection,
    // and SQLite's CREATE then saw the trigger the DROP had just removed on another).
    manager
        .get_connection()
        .execute_unprepared(&statements.join(";\n"))
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, false).await
    }
}

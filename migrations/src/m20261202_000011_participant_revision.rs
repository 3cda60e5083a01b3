//! A revision number per participant, raised by the database itself on every change to the
//! rows a participant's visit states are derived from (visits, events, responses, scores,
//! reminders). Services that keep derived state (the completion cache, docs/benchmarks.md)
//! compare it instead of re-reading those rows; because triggers raise it, no write path can
//! forget to, and every server instance on the database sees the same number.
//!
//! `plan_at` is reminder planning's mark (docs/reminders.md, "Planning by window edges"): the
//! next instant at which a reminder of the participant can become due; `NULL` means "look at
//! this participant on the next pass". The same triggers (and a changed PIN) clear it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ParticipantRevision {
    Table,
    ParticipantId,
    Revision,
    PlanAt,
}

/// Tables whose rows carry `participant_id` and feed the derived visit states.
const DIRECT: [&str; 5] = [
    "visit",
    "participant_event",
    "response",
    "reminder",
    "participant_pin",
];

fn sqlite_triggers() -> Vec<String> {
    let mut out = vec![
        "CREATE TRIGGER epro_revision_new_participant AFTER INSERT ON participant BEGIN \
         INSERT INTO participant_revision (participant_id, revision) VALUES (NEW.id, 0); END"
            .to_string(),
        "CREATE TRIGGER epro_revision_gone_participant AFTER DELETE ON participant BEGIN \
         DELETE FROM participant_revision WHERE participant_id = OLD.id; END"
            .to_string(),
    ];
    let bump = |who: &str| {
        format!(
            "UPDATE participant_revision SET revision = revision + 1, plan_at = NULL \
             WHERE participant_id = {who};"
        )
    };
    for table in DIRECT {
        for (op, row) in [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")] {
            out.push(format!(
                "CREATE TRIGGER epro_revision_{table}_{op} AFTER {op} ON {table} BEGIN {} END",
                bump(&format!("{row}.participant_id"))
            ));
        }
    }
    for (op, row) in [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")] {
        out.push(format!(
            "CREATE TRIGGER epro_revision_score_{op} AFTER {op} ON score BEGIN {} END",
            bump(&format!(
                "(SELECT participant_id FROM response WHERE id = {row}.response_id)"
            ))
        ));
    }
    out
}

fn postgres_triggers() -> Vec<String> {
    let mut out = vec![
        "CREATE FUNCTION epro_revision_new_participant() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN \
           IF TG_OP = 'DELETE' THEN \
             DELETE FROM participant_revision WHERE participant_id = OLD.id; \
           ELSE \
             INSERT INTO participant_revision (participant_id, revision) VALUES (NEW.id, 0); \
           END IF; \
           RETURN NULL; \
         END $$"
            .to_string(),
        "CREATE TRIGGER epro_revision AFTER INSERT OR DELETE ON participant \
         FOR EACH ROW EXECUTE FUNCTION epro_revision_new_participant()"
            .to_string(),
        "CREATE FUNCTION epro_revision_bump() RETURNS trigger LANGUAGE plpgsql AS $$ \
         DECLARE pid uuid; \
         BEGIN \
           IF TG_OP = 'DELETE' THEN pid := OLD.participant_id; ELSE pid := NEW.participant_id; END IF; \
           UPDATE participant_revision SET revision = revision + 1, plan_at = NULL \
             WHERE participant_id = pid; \
           RETURN NULL; \
         END $$"
            .to_string(),
        "CREATE FUNCTION epro_revision_bump_score() RETURNS trigger LANGUAGE plpgsql AS $$ \
         DECLARE rid uuid; \
         BEGIN \
           IF TG_OP = 'DELETE' THEN rid := OLD.response_id; ELSE rid := NEW.response_id; END IF; \
           UPDATE participant_revision SET revision = revision + 1, plan_at = NULL \
             WHERE participant_id = (SELECT participant_id FROM response WHERE id = rid); \
           RETURN NULL; \
         END $$"
            .to_string(),
        "CREATE TRIGGER epro_revision AFTER INSERT OR UPDATE OR DELETE ON score \
         FOR EACH ROW EXECUTE FUNCTION epro_revision_bump_score()"
            .to_string(),
    ];
    for table in DIRECT {
        out.push(format!(
            "CREATE TRIGGER epro_revision AFTER INSERT OR UPDATE OR DELETE ON {table} \
             FOR EACH ROW EXECUTE FUNCTION epro_revision_bump()"
        ));
    }
    out
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ParticipantRevision::Table)
                    .col(
                        ColumnDef::new(ParticipantRevision::ParticipantId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ParticipantRevision::Revision)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(ParticipantRevision::PlanAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_participant_revision_plan_at")
                    .table(ParticipantRevision::Table)
                    .col(ParticipantRevision::PlanAt)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO participant_revision (participant_id, revision) \
             SELECT id, 0 FROM participant",
        )
        .await?;
        let statements = match manager.get_database_backend() {
            DatabaseBackend::Postgres => postgres_triggers(),
            _ => sqlite_triggers(),
        };
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                for table in DIRECT.iter().chain(&["score", "participant"]) {
                    db.execute_unprepared(&format!(
                        "DROP TRIGGER IF EXISTS epro_revision ON {table}"
                    ))
                    .await?;
                }
                for f in [
                    "epro_revision_new_participant",
                    "epro_revision_bump",
                    "epro_revision_bump_score",
                ] {
                    db.execute_unprepared(&format!("DROP FUNCTION IF EXISTS {f}()"))
                        .await?;
                }
            }
            _ => {
                let mut names = vec![
                    "epro_revision_new_participant".to_string(),
                    "epro_revision_gone_participant".to_string(),
                ];
                for table in DIRECT.iter().chain(&["score"]) {
                    for op in ["INSERT", "UPDATE", "DELETE"] {
                        names.push(format!("epro_revision_{table}_{op}"));
                    }
                }
                for n in names {
                    db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {n}"))
                        .await?;
                }
            }
        }
        manager
            .drop_table(Table::drop().table(ParticipantRevision::Table).to_owned())
            .await
    }
}

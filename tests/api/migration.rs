//! Stored data survive a schema change: a database at the previous schema, with a participant,
//! a visit the system had closed as missed and a submitted response, is migrated by the server's
//! start and reads back whole.

use chrono::{NaiveDate, TimeZone, Utc};
use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement, Value as Db};
use serde_json::{Value, json};

use crate::helpers::{fresh_database, start, test_settings};

/// `INSERT INTO table (cols) VALUES (placeholders)` in the backend's placeholder style.
fn insert(backend: DbBackend, table: &str, cols: &[&str], values: Vec<Db>) -> Statement {
    let marks: Vec<String> = (1..=cols.len())
        .map(|i| match backend {
            DbBackend::Postgres => format!("${i}"),
            _ => "?".to_string(),
        })
        .collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        cols.join(", "),
        marks.join(", ")
    );
    Statement::from_sql_and_values(backend, sql, values)
}

fn instant(y: i32, m: u32, d: u32) -> Db {
    Db::from(Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).single().expect("t"))
}

fn day(s: &str) -> Db {
    Db::from(NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date"))
}

fn text(s: &str) -> Db {
    Db::String(Some(s.to_string()))
}

#[tokio::test]
async fn data_stored_before_the_trial_rules_schema_migrate_without_loss() {
    let dir = tempfile::tempdir().expect("dir");
    let url = fresh_database(&dir).await;
    let db = Database::connect(&url).await.expect("connect");
    // The schema as it was before the trial-rules migration (the first eight migrations).
    migration::Migrator::up(&db, Some(8))
        .await
        .expect("old schema");
    let backend = db.get_database_backend();
    let participant = uuid::Uuid::new_v4();
    let response = uuid::Uuid::new_v4();
    let uuid = Db::from;
    let statements = [
        insert(
            backend,
            "participant",
            &[
                "id",
                "study_id",
                "site_code",
                "language",
                "enrolled_on",
                "created_at",
            ],
            vec![
                uuid(participant),
                text("HERMES-ZAS-301"),
                text("ZAS"),
                text("nl"),
                day("2026-01-15"),
                instant(2026, 1, 15),
            ],
        ),
        insert(
            backend,
            "participant_event",
            &[
                "id",
                "participant_id",
                "kind",
                "event_date",
                "details",
                "reason",
                "recorded_at",
                "recorded_by",
                "entered_in_error",
            ],
            vec![
                uuid(uuid::Uuid::new_v4()),
                uuid(participant),
                text("randomization"),
                day("2026-01-15"),
                text("{}"),
                text("randomized"),
                instant(2026, 1, 15),
                text("nurse"),
                Db::Bool(Some(false)),
            ],
        ),
        insert(
            backend,
            "visit",
            &[
                "id",
                "participant_id",
                "code",
                "position",
                "target_date",
                "window_start",
                "window_end",
                "grace_end",
                "sse_triggered",
                "final_state",
                "final_cause",
                "missed_reason",
                "questionnaires",
            ],
            vec![
                uuid(uuid::Uuid::new_v4()),
                uuid(participant),
                text("M1"),
                Db::Int(Some(1)),
                day("2026-02-15"),
                instant(2026, 2, 7),
                instant(2026, 2, 22),
                instant(2026, 3, 1),
                Db::Bool(Some(false)),
                text("missed"),
                Db::String(None),
                text("too_ill: in hospital"),
                text(r#"["eortc-qlq-c30@3.0"]"#),
            ],
        ),
        insert(
            backend,
            "response",
            &[
                "id",
                "participant_id",
                "visit_code",
                "questionnaire_key",
                "questionnaire_version",
                "language",
                "wording_sha256",
                "lesions",
                "status",
                "revision",
                "started_at",
                "submitted_at",
                "late",
                "mode",
            ],
            vec![
                uuid(response),
                uuid(participant),
                text("M1"),
                text("eortc-qlq-c30"),
                text("3.0"),
                text("nl"),
                text("0"),
                text("[]"),
                text("completed"),
                Db::Int(Some(1)),
                instant(2026, 2, 10),
                instant(2026, 2, 10),
                Db::Bool(Some(false)),
                text("self"),
            ],
        ),
    ];
    for s in statements {
        db.execute_raw(s).await.expect("old row");
    }
    let _ = db.close().await;

    // The server migrates at start and reads everything back.
    let settings = test_settings(&dir, url);
    let app = start(settings, dir).await;
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let p: Value = app
        .get("/api/v1/participants/HERMES-ZAS-301", Some(&nurse))
        .await
        .json()
        .await
        .expect("participant");
    assert_eq!(p["enrolled_on"], "2026-01-15", "{p}");
    assert_eq!(p["randomization_date"], "2026-01-15");
    let s: Value = app
        .get("/api/v1/participants/HERMES-ZAS-301/schedule", Some(&nurse))
        .await
        .json()
        .await
        .expect("schedule");
    let m1 = s
        .as_array()
        .and_then(|a| a.iter().find(|v| v["code"] == "M1"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(m1["state"], "missed", "{s}");
    assert_eq!(m1["missed_reason"], "too_ill: in hospital");
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM response WHERE status = 'completed' AND flags = '[]' AND days_from_sse IS NULL AND visit_code = 'M1'")
        .await,
        1
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM visit WHERE missed_forms = '{}'")
            .await,
        1
    );
    let c: Value = app
        .get("/api/v1/completion", Some(&nurse))
        .await
        .json()
        .await
        .expect("completion");
    let form = c["forms"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|f| f["visit"] == "M1" && f["instrument"] == "eortc-qlq-c30")
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(form["received_in_window"], 1, "{c}");
    assert_eq!(form["arm"], json!(null));
}

//! Backup while the server runs, the restore drill (`epro database restore`: refused with the
//! wrong keys or into a non-empty database, then into a fresh one), then: the audit chain verifies
//! and every export is byte-for-byte what the original gave. On SQLite (`VACUUM INTO`) and, when
//! EPRO_TEST_DATABASE_URL is set, on PostgreSQL (pg_dump / pg_restore).

use chrono::{TimeZone, Utc};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, run_cli, run_cli_env, spawn_app_with, start};

async fn some_trial_data(app: &TestApp, nurse: &str) {
    for id in ["HERMES-ZAS-801", "HERMES-ZAS-802"] {
        app.enrol(
            nurse,
            id,
            json!({"language": "fr", "randomization_date": "2026-01-20", "email": "p@example.be"}),
        )
        .await;
        let lesion: Value = app
            .post(
                &format!("/api/v1/participants/{id}/lesions"),
                Some(nurse),
                json!({"location": "L3", "labels": {"nl": "onderrug", "fr": "bas du dos", "en": "lower back"}, "high_risk_reasons": ["size_2cm"]}),
            )
            .await
            .json()
            .await
            .expect("lesion");
        let resp = app
            .client
            .post(format!(
                "{}/api/v1/participants/{id}/visits/BL/responses/nrs-lesion-pain/submit",
                app.address
            ))
            .bearer_auth(nurse)
            .header("Idempotency-Key", format!("b-{id}"))
            .json(&json!({"mode": "interviewer", "answers": [{"item": "worst_pain", "lesion": lesion["id"], "value": 5}]}))
            .send()
            .await
            .expect("submit");
        assert_eq!(
            resp.status(),
            200,
            "{}",
            resp.text().await.unwrap_or_default()
        );
    }
}

/// A new, empty database of the test's kind: a PostgreSQL database created empty, or an SQLite
/// file that does not exist yet.
async fn empty_database(app: &TestApp, dir: &tempfile::TempDir) -> String {
    if app.settings.database_url.starts_with("postgres") {
        let admin_url = std::env::var("EPRO_TEST_DATABASE_URL").expect("pg url");
        let name = format!("epro_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url).await.expect("connect");
        admin
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("CREATE DATABASE \"{name}\""),
            ))
            .await
            .expect("create");
        let mut url = url::Url::parse(&admin_url).expect("url");
        url.set_path(&name);
        url.to_string()
    } else {
        format!("sqlite://{}/epro.db?mode=rwc", dir.path().display())
    }
}

const EXPORTS: [&str; 5] = [
    "answers.csv",
    "visits.csv",
    "scores.csv",
    "audit.csv",
    "fhir.ndjson",
];

async fn exports(app: &TestApp, token: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in EXPORTS {
        let resp = app.get(&format!("/api/v1/exports/{e}"), Some(token)).await;
        assert_eq!(resp.status(), 200, "{e}");
        out.push((e.to_string(), resp.bytes().await.expect("bytes").to_vec()));
    }
    out
}

#[tokio::test]
async fn backup_restore_verify_and_identical_exports() {
    let app = spawn_app_with(|s| s.session_hours = 24 * 365).await;
    let at = Utc
        .with_ymd_and_hms(2026, 1, 20, 9, 0, 0)
        .single()
        .expect("t");
    app.clock.set(at);
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let dm = app.staff_token("data_manager", &[]).await;
    some_trial_data(&app, &nurse).await;
    let before = exports(&app, &dm).await;

    let backup = app.dir.path().join("backup.bin");
    let out = app.cli(&[
        "database",
        "backup",
        "--out",
        backup.to_str().expect("path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second backup to the same file is refused (nothing overwritten).
    let again = app.cli(&[
        "database",
        "backup",
        "--out",
        backup.to_str().expect("path"),
    ]);
    assert!(!again.status.success());

    // The restore drill, through the command: into a fresh, empty database.
    let dir = tempfile::tempdir().expect("dir");
    let url = empty_database(&app, &dir).await;
    let mut target = app.settings.clone();
    target.database_url = url.clone();
    target.data_dir = dir.path().join("data");
    let backup_arg = backup.to_str().expect("path");

    // With another installation's audit key the restore does not declare success.
    let other_key = epro::keys::Key::generate().to_hex();
    let wrong = run_cli_env(
        &target,
        dir.path(),
        &["database", "restore", "--from", backup_arg],
        &[("EPRO_AUDIT_KEY", other_key.as_str())],
    );
    let text = String::from_utf8_lossy(&wrong.stdout).to_string();
    assert!(
        !wrong.status.success() && text.contains("FAILED") && text.contains("EPRO_AUDIT_KEY"),
        "{text}"
    );
    // That restore filled the target: a second restore into it is refused, naming why.
    let full = run_cli(
        &target,
        dir.path(),
        &["database", "restore", "--from", backup_arg],
    );
    let err = String::from_utf8_lossy(&full.stderr).to_string();
    assert!(!full.status.success() && err.contains("not empty"), "{err}");

    // Into a new empty database with the right keys: restored, migrated, verified.
    let dir = tempfile::tempdir().expect("dir");
    let url = empty_database(&app, &dir).await;
    target.database_url = url.clone();
    target.data_dir = dir.path().join("data");
    let out = run_cli(
        &target,
        dir.path(),
        &["database", "restore", "--from", backup_arg],
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("participants: 2") && text.contains("OK: audit chain intact"),
        "{text}"
    );
    let mut settings = app.settings.clone();
    settings.database_url = url;
    settings.data_dir = dir.path().join("data");
    let restored = start(settings, dir).await;
    restored.clock.set(at);

    let out = restored.cli(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success() && text.starts_with("OK"), "{text}");
    // The same session works (sessions are data too), and every export is identical.
    let after = exports(&restored, &dm).await;
    for ((name, a), (_, b)) in before.iter().zip(&after) {
        assert!(a == b, "{name} differs after restore");
    }
}

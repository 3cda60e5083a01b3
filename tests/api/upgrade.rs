//! Upgrades proven on real data: a database written by the previous release (the seeded two-site
//! trial of `exports.rs`, made through the API and kept in `tests/fixtures/upgrade/`: an SQLite
//! backup and a PostgreSQL dump, with that release's exports and keys) is upgraded by this build's
//! start, then every export still says what it said (no value changed; a new release may add
//! columns, rows of the data dictionary and audit events after the old ones) and
//! `epro audit verify` passes. On SQLite and, with EPRO_TEST_DATABASE_URL, PostgreSQL.
//!
//! The fixture is made by the ignored test `make_upgrade_fixture` at each release (docs/operations.md,
//! upgrades).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use chrono::{DateTime, Utc};
use epro::clock::Clock;
use serde_json::{Value, json};

use crate::{
    exports::{nrs_with_two_scorings, seeded, table},
    helpers::{fresh_database, start, test_settings},
};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

fn backend() -> &'static str {
    match std::env::var("EPRO_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => "postgres",
        _ => "sqlite",
    }
}

/// Every export file (`exports::FILES`), as the data manager downloads them.
async fn download(app: &crate::helpers::TestApp, token: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for file in epro::exports::FILES {
        let resp = app
            .get(&format!("/api/v1/exports/{file}"), Some(token))
            .await;
        assert_eq!(resp.status(), 200, "{file}");
        out.insert(file.to_string(), resp.text().await.expect("text"));
    }
    out
}

/// Write the previous release's side of the test: run once per backend, with the build of the
/// release being made, before its schema changes (`EPRO_UPGRADE_FIXTURE=1 cargo test --test api
/// make_upgrade_fixture -- --ignored`, then again with EPRO_TEST_DATABASE_URL set).
#[tokio::test]
#[ignore = "makes tests/fixtures/upgrade at a release"]
async fn make_upgrade_fixture() {
    let (app, dm, _dir) = seeded().await;
    let out = fixture().join(backend());
    std::fs::create_dir_all(out.join("exports")).expect("dir");
    for (file, text) in download(&app, &dm).await {
        std::fs::write(out.join("exports").join(file), text).expect("write");
    }
    if backend() == "postgres" {
        let dump = std::process::Command::new("pg_dump")
            .args(["--format=plain", "--no-owner", "--no-privileges", "--file"])
            .arg(out.join("dump.sql"))
            .arg(&app.settings.database_url)
            .status()
            .expect("pg_dump");
        assert!(dump.success());
    } else {
        let target = out.join("epro.db");
        let _ = std::fs::remove_file(&target);
        let backup = app.cli(&[
            "database",
            "backup",
            "--out",
            target.to_str().expect("path"),
        ]);
        assert!(backup.status.success());
    }
    let key = |k: &Option<epro::config::Secret>| k.as_ref().map(|s| s.expose().to_string());
    let meta = json!({
        "made_by": "epro at commit b9e5740 (schema m20261202_000014_sms)",
        "clock": app.clock.now(),
        "audit_key": key(&app.settings.audit_key),
        "data_key": key(&app.settings.data_key),
    });
    std::fs::write(
        out.join("meta.json"),
        serde_json::to_string_pretty(&meta).expect("json"),
    )
    .expect("write");
}

/// `old`'s rows, limited to `old`'s columns, as read from `new`: each old column must still be
/// there.
fn old_columns_of(
    file: &str,
    old: &[String],
    new: &(Vec<String>, Vec<Vec<String>>),
) -> Vec<Vec<String>> {
    let index: Vec<usize> = old
        .iter()
        .map(|c| {
            new.0
                .iter()
                .position(|n| n == c)
                .unwrap_or_else(|| panic!("{file}: column {c} is gone after the upgrade"))
        })
        .collect();
    new.1
        .iter()
        .map(|row| index.iter().map(|&i| row[i].clone()).collect())
        .collect()
}

/// Whether every field of `old` is in `new` with the same value (`new` may have more fields).
fn contained(old: &Value, new: &Value) -> bool {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => o
            .iter()
            .all(|(k, v)| n.get(k).is_some_and(|nv| contained(v, nv))),
        (Value::Array(o), Value::Array(n)) => {
            o.len() == n.len() && o.iter().zip(n).all(|(a, b)| contained(a, b))
        }
        _ => old == new,
    }
}

fn compare(file: &str, old: &str, new: &str) {
    if file.ends_with(".ndjson") {
        let old: Vec<Value> = old
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        let new: Vec<Value> = new
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(old.len(), new.len(), "{file}: resources");
        for o in &old {
            assert!(
                new.iter().any(|n| contained(o, n)),
                "{file}: {o}\nis not in the upgraded export"
            );
        }
        return;
    }
    let (old_header, old_rows) = table(old);
    let new = table(new);
    let rows = old_columns_of(file, &old_header, &new);
    match file {
        // A release may document new columns and reword a description: every column the
        // previous release documented (file, column, code) is still documented.
        "dictionary.csv" => {
            let key = |r: &Vec<String>| r.iter().take(3).cloned().collect::<Vec<_>>();
            for row in &old_rows {
                assert!(
                    rows.iter().any(|n| key(n) == key(row)),
                    "{file}: {row:?} is no longer documented"
                );
            }
        }
        // The test signs a new data manager in: the old rows stay, in any order.
        "staff.csv" => {
            for row in &old_rows {
                assert!(rows.contains(row), "{file}: {row:?} is gone");
            }
        }
        // Starting the new release audits (e.g. its migration); the old events come first, unchanged.
        "audit.csv" => {
            assert!(rows.len() >= old_rows.len(), "{file}: events lost");
            for (i, row) in old_rows.iter().enumerate() {
                assert_eq!(&rows[i], row, "{file}: event {} changed", i + 1);
            }
        }
        // Data files: the same rows (their order among equal keys is no promise of the schema).
        _ => {
            let (mut old_rows, mut rows) = (old_rows, rows);
            old_rows.sort();
            rows.sort();
            assert_eq!(rows.len(), old_rows.len(), "{file}: rows");
            for (o, n) in old_rows.iter().zip(&rows) {
                assert_eq!(o, n, "{file}: a row changed by the upgrade");
            }
        }
    }
}

/// Load the previous release's database into a new database of this run's kind.
async fn previous_release_database(dir: &tempfile::TempDir, from: &Path) -> String {
    let url = fresh_database(dir).await;
    if backend() == "postgres" {
        let load = std::process::Command::new("psql")
            .args(["--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "--file"])
            .arg(from.join("dump.sql"))
            .arg(&url)
            .output()
            .expect("psql (the PostgreSQL client tools)");
        assert!(
            load.status.success(),
            "{}",
            String::from_utf8_lossy(&load.stderr)
        );
    } else {
        std::fs::copy(from.join("epro.db"), dir.path().join("epro.db")).expect("copy");
    }
    url
}

#[tokio::test]
async fn a_previous_release_database_upgrades_with_every_export_unchanged() {
    let from = fixture().join(backend());
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(from.join("meta.json")).expect("meta"))
            .expect("json");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = previous_release_database(&dir, &from).await;
    let mut settings = test_settings(&dir, url);
    let key = |name: &str| Some(epro::config::Secret::new(meta[name].as_str().expect("key")));
    settings.audit_key = key("audit_key");
    settings.data_key = key("data_key");
    settings.session_hours = 24 * 365 * 3;
    settings.questionnaires_dir = nrs_with_two_scorings(&dir);
    // This build's start migrates the previous release's schema.
    let app = start(settings, dir).await;
    let clock: DateTime<Utc> = serde_json::from_value(meta["clock"].clone()).expect("clock");
    app.clock.set(clock);
    let dm = app.staff_token("data_manager", &[]).await;
    let now = download(&app, &dm).await;
    // Every file the previous release exported (a later release may export more).
    let old_files = std::fs::read_dir(from.join("exports")).expect("exports");
    let mut compared = 0;
    for entry in old_files {
        let path = entry.expect("entry").path();
        let file = path.file_name().and_then(|f| f.to_str()).expect("name");
        let old = std::fs::read_to_string(&path).expect("read");
        let new = now
            .get(file)
            .unwrap_or_else(|| panic!("{file} is no longer exported"));
        compare(file, &old, new);
        compared += 1;
    }
    assert!(
        compared >= 12,
        "the fixture holds every export ({compared})"
    );
    let verify = app.cli(&["audit", "verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

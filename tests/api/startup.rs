use std::process::Command;

use serde_json::Value;

use crate::helpers::{fresh_database, run_cli, start, test_settings};

#[tokio::test]
async fn an_unreachable_postgres_exits_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_epro"))
        .current_dir(dir.path())
        .env(
            "EPRO_DATABASE_URL",
            "postgres://epro:s3cretpw@127.0.0.1:1/epro",
        )
        .env("EPRO_STUDY_FILE", crate::helpers::study_file())
        .env(
            "EPRO_QUESTIONNAIRES_DIR",
            crate::helpers::questionnaires_dir(),
        )
        .env("EPRO_DATA_DIR", dir.path().join("data"))
        .env("RUST_LOG", "off")
        .arg("serve")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("127.0.0.1:1"), "{stderr}");
    assert!(!stderr.contains("s3cretpw"), "password leaked: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn a_changed_study_file_is_audited_as_an_amendment_and_another_study_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let study = dir.path().join("study.toml");
    let original = std::fs::read_to_string(crate::helpers::study_file()).expect("study");
    std::fs::write(&study, &original).expect("write");
    let url = fresh_database(&dir).await;
    let mut settings = test_settings(&dir, url);
    settings.study_file = study.clone();

    // First start registers the study.
    let out = run_cli(&settings, dir.path(), &["database", "migrate"]);
    assert!(out.status.success());
    let app = start(settings.clone(), tempfile::tempdir().expect("tempdir")).await;
    let actions = |rows: Vec<Value>| {
        rows.iter()
            .filter_map(|r| r["action"].as_str().map(String::from))
            .collect::<Vec<_>>()
    };
    assert!(actions(app.audit_rows().await).contains(&"study.registered".to_string()));
    drop(app);

    // A new phone number for one site is a protocol amendment.
    std::fs::write(
        &study,
        original.replace("+32 9 000 00 03", "+32 9 332 00 00"),
    )
    .expect("write");
    let app = start(settings.clone(), tempfile::tempdir().expect("tempdir")).await;
    let rows = app.audit_rows().await;
    let amended = rows
        .iter()
        .find(|r| r["action"] == "study.amended")
        .expect("amendment audited");
    assert!(
        amended["before"]
            .as_str()
            .unwrap_or_default()
            .contains("file_sha256")
    );
    let admin = app.admin_token().await;
    let uzg: Value = app
        .get("/api/v1/sites/UZG", Some(&admin))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(uzg["phone"], "+32 9 332 00 00");
    drop(app);

    // The same database with another study's file is refused, with a clear message.
    std::fs::write(
        &study,
        original.replace("id = \"HERMES\"", "id = \"OTHER\""),
    )
    .expect("write");
    let result =
        epro::startup::Server::build(settings, std::sync::Arc::new(epro::clock::SystemClock)).await;
    let err = result.err().expect("refused").to_string();
    assert!(err.contains("HERMES") && err.contains("OTHER"), "{err}");
}

#[tokio::test]
async fn study_check_names_file_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    let original = std::fs::read_to_string(crate::helpers::study_file()).expect("study");
    std::fs::write(&bad, original.replace("Europe/Brussels", "Mars/Olympus")).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_epro"))
        .current_dir(dir.path())
        .args(["study", "check"])
        .arg(&bad)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("study.time_zone"),
        "{stderr}"
    );
}

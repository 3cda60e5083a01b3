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
    let (dir, study, original, settings) = with_own_study_file().await;

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

/// An amendment that removes a site with participants, or moves a visit enrolled participants
/// have, is refused with what it would change, and nothing is stored; confirmed with the new
/// file's sha256 it is taken, and the change set (not only a checksum) is in the audit trail.
/// Removing a site nobody uses needs no confirmation.
#[tokio::test]
async fn an_amendment_touching_enrolled_participants_needs_an_explicit_confirmation() {
    let (_dir, study, original, settings) = with_own_study_file().await;
    let app = start(settings.clone(), tempfile::tempdir().expect("tempdir")).await;
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    app.enrol(
        &nurse,
        "HERMES-ZAS-001",
        serde_json::json!({"randomization_date": "2026-03-01"}),
    )
    .await;
    drop(app);

    let site_block = |code: &str| {
        let at = original
            .find(&format!("[[sites]]\ncode = \"{code}\""))
            .expect("site");
        let end = original[at + 1..]
            .find("[[sites]]")
            .map_or(original.len(), |e| at + 1 + e);
        original[at..end].to_string()
    };
    let without = |code: &str| original.replace(&site_block(code), "");
    let sha = |text: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    };
    let build = |s: epro::config::Settings| async move {
        epro::startup::Server::build(s, std::sync::Arc::new(epro::clock::SystemClock)).await
    };

    // ZAS has a participant: refused, named, nothing stored.
    let no_zas = without("ZAS");
    std::fs::write(&study, &no_zas).expect("write");
    let err = build(settings.clone())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("site ZAS is removed") && err.contains(&sha(&no_zas)),
        "{err}"
    );
    // Moving M3 (3 → 4 months) touches everyone who has it.
    let moved = original.replacen("months = 3\n", "months = 4\n", 1);
    std::fs::write(&study, &moved).expect("write");
    let err = build(settings.clone())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("visit M3 is moved"), "{err}");
    // A confirmation for another file does not count.
    let mut confirmed = settings.clone();
    confirmed.confirm_amendment = Some(sha(&no_zas));
    assert!(build(confirmed.clone()).await.is_err());
    // The original file starts as before: nothing was recorded by the refusals.
    std::fs::write(&study, &original).expect("write");
    let app = start(settings.clone(), tempfile::tempdir().expect("tempdir")).await;
    assert!(
        !app.audit_rows()
            .await
            .iter()
            .any(|r| r["action"] == "study.amended")
    );
    drop(app);

    // Removing UZG (no participants) needs no confirmation; its change set is audited.
    let no_uzg = without("UZG");
    std::fs::write(&study, &no_uzg).expect("write");
    let app = start(settings.clone(), tempfile::tempdir().expect("tempdir")).await;
    let rows = app.audit_rows().await;
    let amended = rows
        .iter()
        .rfind(|r| r["action"] == "study.amended")
        .expect("audited");
    let after: Value =
        serde_json::from_str(amended["after"].as_str().unwrap_or("{}")).expect("after json");
    assert_eq!(
        after["changes"]["sites_removed"],
        serde_json::json!(["UZG"])
    );
    assert_eq!(after["confirmed"], false);
    drop(app);

    // The move, confirmed with its own sha256: taken, and audited as confirmed.
    let moved_no_uzg = no_uzg.replacen("months = 3\n", "months = 4\n", 1);
    std::fs::write(&study, &moved_no_uzg).expect("write");
    let mut confirmed = settings.clone();
    confirmed.confirm_amendment = Some(sha(&moved_no_uzg));
    let app = start(confirmed, tempfile::tempdir().expect("tempdir")).await;
    let rows = app.audit_rows().await;
    let amended = rows
        .iter()
        .rfind(|r| r["action"] == "study.amended")
        .expect("audited");
    let after: Value =
        serde_json::from_str(amended["after"].as_str().unwrap_or("{}")).expect("after json");
    assert_eq!(after["changes"]["visits_moved"], serde_json::json!(["M3"]));
    assert_eq!(after["confirmed"], true);
}

/// A study language without page and email texts in this build is refused by `study check`
/// and at start, naming the file, the field and the languages that have them; never a crash,
/// never found out by an enrolled participant.
#[tokio::test]
async fn a_study_language_without_page_and_email_texts_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = std::fs::read_to_string(crate::helpers::study_file()).expect("study");
    // German everywhere the study file has words, so that only the build's texts are missing.
    let mut german: String = original
        .replace(
            "languages = [\"nl\", \"fr\", \"en\"]",
            "languages = [\"nl\", \"fr\", \"en\", \"de\"]",
        )
        .lines()
        // Every label (visits, arms, vocabularies) gains a German one after its English one.
        .map(|l| match l.find(", en = \"") {
            Some(at) => {
                let value = at + ", en = \"".len();
                let close = value + l[value..].find('"').expect("closing quote") + 1;
                format!("{}, de = \"de\"{}", &l[..close], &l[close..])
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let at = original.find("[safety.en]").expect("safety");
    let end = original[at + 1..]
        .find("\n[")
        .map_or(original.len(), |e| at + 1 + e);
    german.push_str(&format!(
        "\n{}\n",
        original[at..end].replace("[safety.en]", "[safety.de]")
    ));
    let file = dir.path().join("de.toml");
    std::fs::write(&file, &german).expect("write");

    let stderr = study_check_refuses(dir.path(), &file);
    assert!(
        stderr.contains("de.toml: study.languages[3]")
            && stderr.contains("\"de\" has no page, email and SMS texts")
            && stderr.contains("languages with texts: en, fr, nl"),
        "{stderr}"
    );

    let url = fresh_database(&dir).await;
    let mut settings = test_settings(&dir, url);
    settings.study_file = file;
    let err = epro::startup::Server::build(settings, std::sync::Arc::new(epro::clock::SystemClock))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("study.languages[3]"), "{err}");
}

/// `study check` cross-checks the questionnaires: a version that is not published is refused,
/// naming the visit and the questionnaire.
#[tokio::test]
async fn study_check_refuses_a_questionnaire_version_that_does_not_exist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = std::fs::read_to_string(crate::helpers::study_file()).expect("study");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        original.replacen("eortc-qlq-c30@3.0", "eortc-qlq-c30@9.9", 1),
    )
    .expect("write");
    let stderr = study_check_refuses(dir.path(), &file);
    assert!(
        stderr.contains("visits[0].questionnaires[0]") && stderr.contains("eortc-qlq-c30@9.9"),
        "{stderr}"
    );
}

/// `epro study check FILE` with the repository's questionnaires: asserts it fails; its stderr.
fn study_check_refuses(cwd: &std::path::Path, file: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_epro"))
        .current_dir(cwd)
        .env(
            "EPRO_QUESTIONNAIRES_DIR",
            crate::helpers::questionnaires_dir(),
        )
        .args(["study", "check"])
        .arg(file)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    stderr
}

/// A fresh database and settings pointing at a copy of the HERMES study file (which the test
/// may change between starts): the folder, the copy's path, its text and the settings.
async fn with_own_study_file() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    String,
    epro::config::Settings,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let study = dir.path().join("study.toml");
    let original = std::fs::read_to_string(crate::helpers::study_file()).expect("study");
    std::fs::write(&study, &original).expect("write");
    let url = fresh_database(&dir).await;
    let mut settings = test_settings(&dir, url);
    settings.study_file = study.clone();
    (dir, study, original, settings)
}

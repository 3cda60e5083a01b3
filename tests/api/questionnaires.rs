use std::path::Path;

use serde_json::{Value, json};

use crate::helpers::{
    fresh_database, licensed_fixture_dir, questionnaires_dir, spawn_app, spawn_app_with, start,
    test_settings,
};

#[tokio::test]
async fn lists_every_published_version_with_its_wording_kind() {
    let app = spawn_app().await;
    let list: Value = app
        .get("/api/v1/questionnaires?lang=nl", None)
        .await
        .json()
        .await
        .expect("json");
    let list = list.as_array().expect("array");
    let find = |key: &str| {
        list.iter()
            .find(|q| q["key"] == key)
            .unwrap_or_else(|| panic!("{key}"))
    };
    assert_eq!(find("eortc-qlq-c30")["item_count"], 30);
    assert_eq!(find("eortc-qlq-c30")["wording_kind"], "demo");
    assert_eq!(find("eortc-qlq-bm22")["item_count"], 22);
    assert_eq!(find("nrs-lesion-pain")["wording_kind"], "open");
    assert_eq!(
        find("nrs-lesion-pain")["title"],
        "Pijn op de plaatsen die we opvolgen"
    );
    assert_eq!(
        find("eortc-qlq-c30")["scorings"],
        json!(["eortc-qlq-c30/3.0/scoring-1"])
    );
    assert_eq!(
        find("eortc-qlq-c30")["sha256"].as_str().map(str::len),
        Some(64)
    );
}

#[tokio::test]
async fn a_definition_resolves_per_language_with_etag_and_errors() {
    let app = spawn_app().await;
    let resp = app
        .get("/api/v1/questionnaires/nrs-lesion-pain/1.0.0?lang=fr", None)
        .await;
    assert_eq!(resp.status(), 200);
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("etag")
        .to_string();
    assert!(
        resp.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("public"))
    );
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["wording_kind"], "open");
    let group = &body["items"][0];
    assert_eq!(group["type"], "group");
    assert_eq!(group["repeat"], "per_active_lesion");
    assert_eq!(group["items"][0]["anchors"]["min"], "Aucune douleur");
    assert_eq!(group["items"][0]["max"], 10);

    let again = app
        .client
        .get(format!(
            "{}/api/v1/questionnaires/nrs-lesion-pain/1.0.0?lang=fr",
            app.address
        ))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), 304);
    let other_lang = app
        .get("/api/v1/questionnaires/nrs-lesion-pain/1.0.0?lang=nl", None)
        .await;
    assert_ne!(
        other_lang
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok()),
        Some(etag.as_str())
    );

    let cases = [
        (
            "/api/v1/questionnaires/nope/1.0",
            404,
            "unknown_questionnaire",
        ),
        (
            "/api/v1/questionnaires/eortc-qlq-c30/9.9",
            404,
            "unknown_questionnaire",
        ),
        (
            "/api/v1/questionnaires/eortc-qlq-c30/3.0?lang=de",
            422,
            "unsupported_language",
        ),
    ];
    for (path, status, code) in cases {
        let resp = app.get(path, None).await;
        assert_eq!(resp.status(), status, "{path}");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["code"], code, "{path}");
    }
}

#[tokio::test]
async fn licensed_wording_is_served_only_to_authenticated_readers() {
    let app = spawn_app_with(|s| s.licensed_text_dir = Some(licensed_fixture_dir())).await;
    for path in [
        "/api/v1/questionnaires/eortc-qlq-c30/3.0?lang=en",
        "/api/v1/questionnaires/eortc-qlq-c30/3.0/fhir?lang=en",
        "/api/v1/questionnaires?lang=en",
    ] {
        let anonymous = app.get(path, None).await;
        assert_eq!(anonymous.status(), 200);
        let text = anonymous.text().await.expect("body");
        assert!(
            !text.contains("INVENTED-LICENSED"),
            "{path} leaked licensed wording to an anonymous reader"
        );
    }
    let anonymous: Value = app
        .get("/api/v1/questionnaires/eortc-qlq-c30/3.0?lang=en", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(anonymous["wording_kind"], "licensed");
    assert_eq!(anonymous["wording_included"], false);
    assert_eq!(
        anonymous["items"][0]["options"][0]["code"], 1,
        "structure still served"
    );

    let token = app.admin_token().await;
    let resp = app
        .get(
            "/api/v1/questionnaires/eortc-qlq-c30/3.0?lang=en",
            Some(&token),
        )
        .await;
    assert!(
        resp.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("private"))
    );
    let text = resp.text().await.expect("body");
    assert!(text.contains("INVENTED-LICENSED q1"));
    let fhir = app
        .get(
            "/api/v1/questionnaires/eortc-qlq-c30/3.0/fhir?lang=en",
            Some(&token),
        )
        .await
        .text()
        .await
        .expect("body");
    assert!(fhir.contains("INVENTED-LICENSED q1"));
    // Languages without an installed licensed pack keep the public demo wording.
    let nl: Value = app
        .get("/api/v1/questionnaires/eortc-qlq-c30/3.0?lang=nl", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(nl["wording_kind"], "demo");
    assert_eq!(nl["wording_included"], true);

    // A bad token is refused, not treated as anonymous.
    assert_eq!(
        app.get(
            "/api/v1/questionnaires/eortc-qlq-c30/3.0?lang=en",
            Some("nonsense")
        )
        .await
        .status(),
        401
    );
}

#[tokio::test]
async fn scoring_endpoint_scores_and_names_bad_items() {
    let app = spawn_app().await;
    let answers: Vec<Value> = (1..=30)
        .map(|n| json!({ "item": format!("q{n}"), "value": if n >= 29 { 7 } else { 1 } }))
        .collect();
    let resp = app
        .post(
            "/api/v1/questionnaires/eortc-qlq-c30/3.0/score",
            None,
            json!({ "answers": answers }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["scoring"], "eortc-qlq-c30/3.0/scoring-1");
    let scale = |code: &str| {
        body["scales"]
            .as_array()
            .and_then(|s| s.iter().find(|x| x["code"] == code))
            .cloned()
            .expect("scale")
    };
    assert_eq!(scale("QL2")["score"], 100.0);
    assert_eq!(scale("PF2")["score"], 100.0);
    assert_eq!(scale("PF2")["status"], "complete");

    let resp = app
        .post(
            "/api/v1/questionnaires/eortc-qlq-c30/3.0/score",
            None,
            json!({ "answers": [{ "item": "q1", "value": 1 }, { "item": "q2", "value": 9 }] }),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "invalid_answer");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("item q2"),
        "{body}"
    );

    let nrs = app
        .post(
            "/api/v1/questionnaires/nrs-lesion-pain/1.0.0/score",
            None,
            json!({ "answers": [{ "item": "worst_pain", "value": 6, "lesion": "L1" }, { "item": "worst_pain", "value": null, "lesion": "L2" }] }),
        )
        .await;
    let body: Value = nrs.json().await.expect("json");
    assert_eq!(body["scales"][0]["lesion"], "L1");
    assert_eq!(body["scales"][0]["score"], 6.0);
    assert_eq!(
        body["scales"][1]["score"],
        Value::Null,
        "blank stays blank, never 0"
    );
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_epro"))
        .args(args)
        .env_remove("EPRO_LICENSED_TEXT_DIR")
        .output()
        .expect("run")
}

#[tokio::test]
async fn check_names_the_file_and_pointer_and_guards_published_versions() {
    let ok = cli(&[
        "questionnaires",
        "check",
        &questionnaires_dir().display().to_string(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    // A broken file: the error names the file and the JSON pointer.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("questionnaires");
    copy_dir(&questionnaires_dir(), &copy);
    let def = copy.join("eortc-qlq-bm22/1.0/definition.json");
    let original = std::fs::read_to_string(&def).expect("read");
    std::fs::write(
        &def,
        original.replacen("\"type\": \"single_choice\"", "\"type\": \"dial\"", 1),
    )
    .expect("write");
    let out = cli(&["questionnaires", "check", &copy.display().to_string()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("eortc-qlq-bm22/1.0/definition.json") && stderr.contains("/items/0"),
        "{stderr}"
    );

    // One option code changed without a new version: the lock catches it…
    std::fs::write(&def, original.replacen("\"code\": 4", "\"code\": 5", 1)).expect("write");
    let out = cli(&["questionnaires", "check", &copy.display().to_string()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("eortc-qlq-bm22 1.0 definition changed after it was published"),
        "{stderr}"
    );

    // …and the server refuses to start on it.
    let url = fresh_database(&dir).await;
    let mut settings = test_settings(&dir, url);
    settings.questionnaires_dir = copy.clone();
    let err = epro::startup::Server::build(settings, std::sync::Arc::new(epro::clock::SystemClock))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("eortc-qlq-bm22 1.0") && err.contains("publish a new version"),
        "{err}"
    );
}

#[tokio::test]
async fn the_database_remembers_published_hashes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("questionnaires");
    copy_dir(&questionnaires_dir(), &copy);
    let url = fresh_database(&dir).await;
    let mut settings = test_settings(&dir, url);
    settings.questionnaires_dir = copy.clone();
    let app = start(settings.clone(), tempfile::tempdir().expect("tempdir")).await;
    let rows = app.audit_rows().await;
    assert!(
        rows.iter()
            .any(|r| r["action"] == "questionnaire.registered")
    );
    drop(app);

    // Someone edits a published version AND rewrites the lock file to match.
    let def = copy.join("nrs-lesion-pain/1.0.0/definition.json");
    let text = std::fs::read_to_string(&def).expect("read");
    std::fs::write(&def, text.replacen("\"max\": 10", "\"max\": 9", 1)).expect("write");
    let lock = copy.join("published.lock");
    let kept: String = std::fs::read_to_string(&lock)
        .expect("lock")
        .lines()
        .filter(|l| !l.starts_with("nrs-lesion-pain 1.0.0 definition"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&lock, kept).expect("write");
    let published = cli(&["questionnaires", "publish", &copy.display().to_string()]);
    assert!(published.status.success());

    let err = epro::startup::Server::build(settings, std::sync::Arc::new(epro::clock::SystemClock))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("nrs-lesion-pain 1.0.0") && err.contains("publish a new version"),
        "{err}"
    );
}

#[tokio::test]
async fn require_licensed_text_refuses_to_start_without_every_language() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database(&dir).await;
    let mut settings = test_settings(&dir, url);
    settings.require_licensed_text = true;
    settings.licensed_text_dir = Some(licensed_fixture_dir()); // only C30 in English
    let err = epro::startup::Server::build(settings, std::sync::Arc::new(epro::clock::SystemClock))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("eortc-qlq-c30 3.0 (nl)") && err.contains("eortc-qlq-bm22 1.0 (en)"),
        "{err}"
    );
    assert!(!err.contains("eortc-qlq-c30 3.0 (en)"), "{err}");
}

/// `questionnaires check` takes the root, one instrument or one version folder and says what
/// it checked; a folder with no version in it is an error, never "OK: 0".
#[tokio::test]
async fn check_takes_a_root_an_instrument_or_a_version_and_refuses_an_empty_folder() {
    let root = questionnaires_dir();
    for (dir, what, count) in [
        (root.clone(), "checked root", None),
        (root.join("eortc-qlq-bm22"), "checked instrument", Some(1)),
        (root.join("eortc-qlq-bm22/1.0"), "checked version", Some(1)),
    ] {
        let out = cli(&["questionnaires", "check", &dir.display().to_string()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(what), "{stdout}");
        if let Some(n) = count {
            assert_eq!(
                stdout.lines().filter(|l| l.starts_with("ok ")).count(),
                n,
                "{stdout}"
            );
            assert!(stdout.contains("ok eortc-qlq-bm22 1.0"), "{stdout}");
        }
    }
    let empty = tempfile::tempdir().expect("tempdir");
    let out = cli(&[
        "questionnaires",
        "check",
        &empty.path().display().to_string(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no questionnaire version found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Published wording is locked like definitions: an edited shipped pack fails
/// `questionnaires check` (naming the pack). A licensed pack installed anew is a new pack:
/// recorded with its words, audited with the hash it replaces, and wording.csv maps both hashes
/// to their words, so every response's `wording_sha256` can be read back.
#[tokio::test]
async fn published_wording_is_locked_and_every_pack_served_is_recorded_and_exported() {
    // A shipped (open) pack edited after publication.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("questionnaires");
    copy_dir(&questionnaires_dir(), &copy);
    let nl = copy.join("nrs-lesion-pain/1.0.0/text/nl.json");
    let text = std::fs::read_to_string(&nl).expect("read");
    std::fs::write(&nl, text.replacen("Geen pijn", "Helemaal geen pijn", 1)).expect("write");
    let out = cli(&["questionnaires", "check", &copy.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("nrs-lesion-pain 1.0.0 text-nl changed after it was published"),
        "{stderr}"
    );

    // A deployment installs licensed C30 English wording, later a corrected one.
    let licensed = dir.path().join("licensed");
    copy_dir(&licensed_fixture_dir(), &licensed);
    let url = fresh_database(&dir).await;
    let mut settings = test_settings(&dir, url);
    settings.licensed_text_dir = Some(licensed.clone());
    let app = start(settings.clone(), tempfile::tempdir().expect("tempdir")).await;
    let first = app
        .sql_count(
            "SELECT COUNT(*) FROM wording_pack WHERE key = 'eortc-qlq-c30' AND language = 'en'",
        )
        .await;
    assert_eq!(first, 1);
    drop(app);
    let en = licensed.join("eortc-qlq-c30/3.0/text/en.json");
    let pack: Value =
        serde_json::from_str(&std::fs::read_to_string(&en).expect("read")).expect("json");
    let mut corrected = pack.clone();
    let first_key = pack["texts"]
        .as_object()
        .and_then(|t| t.keys().next().cloned())
        .expect("a text");
    corrected["texts"][&first_key] = json!("Corrected wording");
    std::fs::write(&en, corrected.to_string()).expect("write");
    let app = start(settings, tempfile::tempdir().expect("tempdir")).await;
    let packs = app
        .sql_count(
            "SELECT COUNT(*) FROM wording_pack WHERE key = 'eortc-qlq-c30' AND language = 'en'",
        )
        .await;
    assert_eq!(packs, 2, "the corrected pack is a new pack");
    let recorded: Vec<Value> = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| {
            r["action"] == "questionnaire.wording_recorded"
                && r["entity_id"] == "eortc-qlq-c30/3.0/en"
        })
        .collect();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    let after: Value =
        serde_json::from_str(recorded[1]["after"].as_str().unwrap_or("{}")).expect("after json");
    assert_eq!(
        after["replaces"].as_array().map(Vec::len),
        Some(1),
        "{after}"
    );
    let dm = app.staff_token("data_manager", &[]).await;
    let csv = app
        .get("/api/v1/exports/wording.csv", Some(&dm))
        .await
        .text()
        .await
        .expect("csv");
    assert!(
        csv.contains("Corrected wording"),
        "the new words are exported"
    );
    let hashes: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .filter(|l| l.contains(",eortc-qlq-c30,3.0,en,"))
        .filter_map(|l| l.split(',').next())
        .collect();
    assert_eq!(hashes.len(), 2, "both packs, by hash");
}

//! Texts at run time (#31.1): a language added by files only. The fixture DE-3
//! (tests/fixtures/german) is a study in German and Dutch (Netherlands); its German page, email
//! and SMS texts come from `EPRO_TEXTS_DIR` (tests/fixtures/german/texts/de/*.ftl), not from the
//! build, and its `nl-NL` falls back to the built-in `nl`. Without the files the study is
//! refused at start and by `study check`, naming the language.

use std::path::PathBuf;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{TestApp, run_cli, run_cli_env, spawn_app_with};
use crate::new_trial::{copy_dir, text as output};
use crate::pages::{browser, csrf_of, page};

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/")).join(path)
}

/// DE-3 laid out in a fresh folder: DEMO-2's questionnaire with the German wording pack added
/// (and "de" declared), published; the study file; the German texts folder.
struct Layout {
    _dir: TempDir,
    study: PathBuf,
    questionnaires: PathBuf,
    texts: PathBuf,
}

fn lay_out() -> Layout {
    let dir = tempfile::tempdir().expect("tempdir");
    let questionnaires = dir.path().join("questionnaires");
    copy_dir(&fixture("demo2/questionnaires"), &questionnaires);
    let _ = std::fs::remove_file(questionnaires.join("published.lock"));
    let version = questionnaires.join("generic-health-5/1.0.0");
    std::fs::copy(
        fixture("german/generic-health-5.de.json"),
        version.join("text/de.json"),
    )
    .expect("German wording");
    let definition = version.join("definition.json");
    let mut def: Value =
        serde_json::from_str(&std::fs::read_to_string(&definition).expect("read")).expect("json");
    def["languages"]
        .as_array_mut()
        .expect("languages")
        .push(json!("de"));
    std::fs::write(
        &definition,
        serde_json::to_string_pretty(&def).expect("json"),
    )
    .expect("write");
    let texts = dir.path().join("texts");
    copy_dir(&fixture("german/texts"), &texts);
    let study = dir.path().join("study.toml");
    std::fs::copy(fixture("german/study.toml"), &study).expect("study");
    let settings = epro::config::Settings::default();
    let q = questionnaires.to_string_lossy().to_string();
    let publish = run_cli(&settings, dir.path(), &["questionnaires", "publish", &q]);
    assert!(publish.status.success(), "{}", output(&publish));
    Layout {
        _dir: dir,
        study,
        questionnaires,
        texts,
    }
}

async fn serve(l: &Layout) -> TestApp {
    let (study, q, texts) = (l.study.clone(), l.questionnaires.clone(), l.texts.clone());
    spawn_app_with(move |s| {
        s.study_file = study;
        s.questionnaires_dir = q;
        s.texts_dir = Some(texts);
    })
    .await
}

/// A participant of DE-3 enrolled in `language`, signed in on the pages: the PIN page's HTML,
/// the browser and the link token.
async fn participant(
    app: &TestApp,
    nurse: &str,
    id: &str,
    language: &str,
) -> (String, reqwest::Client, String) {
    let resp = app
        .post(
            "/api/v1/participants",
            Some(nurse),
            json!({ "study_id": id, "site": "BER", "language": language, "email": "p@example.de" }),
        )
        .await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let link: Value = app
        .post_ok(
            &format!("/api/v1/participants/{id}/access-link"),
            Some(nurse),
            json!({ "pin": "4826" }),
        )
        .await;
    let url = link["url"].as_str().expect("url").to_string();
    let path = &url[url.find("/p/").expect("/p/")..];
    let c = browser();
    let (status, pin_page) = page(&c, app, path).await;
    assert_eq!(status, 200);
    let resp = c
        .post(format!("{}{path}", app.address))
        .form(&[("csrf", csrf_of(&pin_page).as_str()), ("pin", "4826")])
        .send()
        .await
        .expect("pin");
    assert_eq!(resp.status(), 303);
    let token = link["link_token"].as_str().expect("link token").to_string();
    (pin_page, c, token)
}

#[tokio::test]
async fn german_added_by_files_only_serves_a_study_in_de() {
    let l = lay_out();

    // The build has no German: the study is refused by `study check` and at start, naming it.
    let settings = epro::config::Settings {
        study_file: l.study.clone(),
        questionnaires_dir: l.questionnaires.clone(),
        ..epro::config::Settings::default()
    };
    let study = l.study.to_string_lossy().to_string();
    let refused = run_cli(
        &settings,
        l.texts.parent().expect("dir"),
        &["study", "check", &study],
    );
    assert!(!refused.status.success());
    assert!(
        output(&refused).contains("\"de\" has no page, email and SMS texts"),
        "{}",
        output(&refused)
    );
    let start = epro::startup::prepare(
        settings.clone(),
        std::sync::Arc::new(epro::clock::SystemClock),
    )
    .await;
    let e = start.err().expect("refused at start").to_string();
    assert!(
        e.contains("study.languages[0]") && e.contains("\"de\""),
        "{e}"
    );

    // With the files: `texts check` and `study check` pass.
    let texts = l.texts.to_string_lossy().to_string();
    let env = [("EPRO_TEXTS_DIR", texts.as_str())];
    let check = run_cli_env(
        &settings,
        l.texts.parent().expect("dir"),
        &["texts", "check", "de", "nl-NL"],
        &env,
    );
    assert!(check.status.success(), "{}", output(&check));
    assert!(output(&check).contains("OK de") && output(&check).contains("OK nl-NL"));
    let ok = run_cli_env(
        &settings,
        l.texts.parent().expect("dir"),
        &["study", "check", &study],
        &env,
    );
    assert!(ok.status.success(), "{}", output(&ok));

    // Served: a participant in German gets German pages — the PIN page, the questionnaire with
    // its German wording, a yes/no question whose wording has no yes/no in the catalogue's
    // "Ja"/"Nein", German month names — and no English page word.
    let app = serve(&l).await;
    assert_eq!(app.app.study.id, "DE-3");
    let nurse = app.staff_token("site_staff", &["BER"]).await;
    let (pin_page, c, link) = participant(&app, &nurse, "DE3-BER-001", "de").await;
    assert!(pin_page.contains("lang=\"de\""), "{pin_page}");
    assert!(
        pin_page.contains("Willkommen") && pin_page.contains("Geben Sie die PIN ein"),
        "{pin_page}"
    );
    assert!(pin_page.contains("Ihre Antworten werden nicht sofort gelesen"));
    let (status, tasks) = page(&c, &app, "/p/tasks").await;
    assert_eq!(status, 200);
    assert!(
        tasks.contains("Ihre Fragebögen") && tasks.contains("Allgemeine Gesundheit"),
        "{tasks}"
    );
    let (status, q) = page(&c, &app, "/p/q/BL/generic-health-5").await;
    assert_eq!(status, 200, "{q}");
    for words in [
        "Allgemeine Gesundheit",
        "Schmerzen oder Beschwerden",
        "Keine Probleme",
        "Seite 1 von",
        "Weiter",
        ">Ja<",
        ">Nein<",
    ] {
        assert!(q.contains(words), "{words}: {q}");
    }
    for english in [">Next<", "Page 1 of", ">yes<", ">no<", ">Yes<", "Sign out"] {
        assert!(!q.contains(english), "{english}: {q}");
    }

    // The answers go in (the API the page's form calls too) and the tasks page says so.
    let token = app.session_token(&link, "4826").await;
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/me/visits/BL/responses/generic-health-5/submit",
            app.address
        ))
        .bearer_auth(&token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&json!({ "answers": [
            { "item": "mobility", "value": 1 }, { "item": "self_care", "value": 1 },
            { "item": "activities", "value": 2 }, { "item": "pain", "value": 2 },
            { "item": "pain_medicine", "value": 1 }, { "item": "mood", "value": 1 },
            { "item": "health_today", "value": 70 }
        ], "client_utc_offset_minutes": 60 }))
        .send()
        .await
        .expect("submit");
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let (_, tasks) = page(&c, &app, "/p/tasks").await;
    assert!(tasks.contains("Zurzeit liegen keine Fragebögen"), "{tasks}");

    // A participant in nl-NL reads the built-in Dutch and the questionnaire's nl wording.
    let (pin_page, c, _) = participant(&app, &nurse, "DE3-BER-002", "nl-NL").await;
    assert!(pin_page.contains("lang=\"nl-NL\"") && pin_page.contains("Welkom"));
    let (status, q) = page(&c, &app, "/p/q/BL/generic-health-5").await;
    assert_eq!(status, 200, "{q}");
    assert!(
        q.contains("Algemene gezondheid") && q.contains("Volgende"),
        "{q}"
    );
}

#[tokio::test]
async fn texts_check_names_what_a_translation_lacks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let de = dir.path().join("texts/de");
    std::fs::create_dir_all(&de).expect("mkdir");
    let pages = std::fs::read_to_string(fixture("german/texts/de/pages.ftl")).expect("read");
    let pages = pages
        .lines()
        .filter(|l| !l.starts_with("pin_title"))
        .map(|l| {
            if l.starts_with("pin_throttled") {
                "pin_throttled = Zu viele Versuche. Warten Sie { $minuten } Minuten."
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(de.join("pages.ftl"), pages).expect("write");
    let settings = epro::config::Settings::default();
    let texts = dir.path().join("texts").to_string_lossy().to_string();
    let out = run_cli(
        &settings,
        dir.path(),
        &["texts", "check", "--dir", &texts, "de"],
    );
    assert!(!out.status.success());
    let text = output(&out);
    assert!(
        text.contains("missing") && text.contains("pin_title"),
        "{text}"
    );
    assert!(
        text.contains("reminder_subject"),
        "messages.ftl missing: {text}"
    );
    assert!(text.contains("pin_throttled: uses {$minuten}"), "{text}");
    assert!(text.contains("FAILED de"), "{text}");
}

/// Two instruments whose wording packs are byte-identical (#31.5): the server starts (one
/// wording row, recorded with the first), and both instruments are served with those words.
#[tokio::test]
async fn two_instruments_with_byte_identical_wording_packs_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let questionnaires = dir.path().join("questionnaires");
    copy_dir(&fixture("demo2/questionnaires"), &questionnaires);
    let _ = std::fs::remove_file(questionnaires.join("published.lock"));
    let twin = questionnaires.join("generic-health-6");
    copy_dir(&questionnaires.join("generic-health-5"), &twin);
    for file in ["definition.json", "scoring-1.json"] {
        let path = twin.join("1.0.0").join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, text.replace("generic-health-5", "generic-health-6")).expect("write");
    }
    let q = questionnaires.to_string_lossy().to_string();
    let publish = run_cli(
        &epro::config::Settings::default(),
        dir.path(),
        &["questionnaires", "publish", &q],
    );
    assert!(publish.status.success(), "{}", output(&publish));
    let study = fixture("demo2/study.toml");
    let app = spawn_app_with(move |s| {
        s.study_file = study;
        s.questionnaires_dir = questionnaires;
    })
    .await;
    let rows = app
        .sql_count("SELECT COUNT(*) FROM wording_pack WHERE key LIKE 'generic-health-%'")
        .await;
    assert_eq!(rows, 2, "nl and en, each once");
    for key in ["generic-health-5", "generic-health-6"] {
        let resp = app
            .get(&format!("/api/v1/questionnaires/{key}/1.0.0?lang=nl"), None)
            .await;
        assert_eq!(resp.status(), 200, "{key}");
    }
}

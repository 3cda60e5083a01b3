//! A second trial set up from scratch, as docs/new-trial.md walks through it: the fixture DEMO-2
//! (tests/fixtures/demo2) is checked, published and served beside HERMES — visits in weeks and
//! months, no lesions, no analgesic form, its own instrument with a conditional question and a
//! sum, a lookup and a computed score, emails with its own sender and safety text.

use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{TestApp, run_cli};
use crate::reminders::{SmtpServer, app_with_smtp_settings, decoded, local};

fn fixture() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/demo2"))
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The fixture trial laid out in a fresh folder, as a data manager would have it before
/// publishing: the study file and the questionnaire folder without published.lock.
fn lay_out(dir: &TempDir) -> (PathBuf, PathBuf) {
    let root = dir.path().join("demo2");
    copy_dir(&fixture(), &root);
    let _ = std::fs::remove_file(root.join("questionnaires/published.lock"));
    (root.join("study.toml"), root.join("questionnaires"))
}

pub(crate) fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn submit(app: &TestApp, token: &str, visit: &str, answers: Value) -> (u16, Value) {
    let resp = app
        .client
        .request(
            Method::POST,
            format!(
                "{}/api/v1/me/visits/{visit}/responses/generic-health-5/submit",
                app.address
            ),
        )
        .bearer_auth(token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&json!({ "answers": answers, "client_utc_offset_minutes": 60 }))
        .send()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn scale(body: &Value, code: &str) -> Value {
    body["scores"]["scales"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["code"] == code))
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_second_trial_is_set_up_from_files_alone_and_runs_beside_hermes() {
    // 1. Check, publish, check again, check the study file: the walk-through's commands.
    let work = tempfile::tempdir().expect("tempdir");
    let (study, questionnaires) = lay_out(&work);
    let settings = epro::config::Settings {
        study_file: study.clone(),
        questionnaires_dir: questionnaires.clone(),
        ..epro::config::Settings::default()
    };
    let q = questionnaires.to_string_lossy().to_string();
    let before = run_cli(&settings, work.path(), &["questionnaires", "check", &q]);
    assert!(!before.status.success(), "unpublished: {}", text(&before));
    assert!(
        text(&before).contains("not in published.lock"),
        "{}",
        text(&before)
    );
    let publish = run_cli(&settings, work.path(), &["questionnaires", "publish", &q]);
    assert!(publish.status.success(), "{}", text(&publish));
    let after = run_cli(&settings, work.path(), &["questionnaires", "check", &q]);
    assert!(after.status.success(), "{}", text(&after));
    assert!(
        text(&after).contains("generic-health-5 1.0.0"),
        "{}",
        text(&after)
    );
    let check = run_cli(
        &settings,
        work.path(),
        &["study", "check", &study.to_string_lossy()],
    );
    assert!(check.status.success(), "{}", text(&check));
    assert!(text(&check).contains("DEMO-2"), "{}", text(&check));

    // 2. Serve it: a server on its own database, with the DEMO-2 files.
    let smtp = SmtpServer::start();
    let (s_study, s_q) = (study.clone(), questionnaires.clone());
    let app = app_with_smtp_settings(smtp.port, move |s| {
        s.study_file = s_study;
        s.questionnaires_dir = s_q;
    })
    .await;
    assert_eq!(app.app.study.id, "DEMO-2");
    app.clock.set(local("2026-03-02".parse().expect("d"), 10));
    let nurse = app.staff_token("site_staff", &["NORD"]).await;
    let id = "DEMO2-NORD-001";
    let body = json!({ "study_id": id, "site": "NORD", "language": "nl", "randomization_date": "2026-03-02", "email": "deelnemer@example.be" });
    let resp = app.post("/api/v1/participants", Some(&nurse), body).await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );

    // Visits in weeks and calendar months after randomization.
    let schedule: Value = app
        .get(&format!("/api/v1/participants/{id}/schedule"), Some(&nurse))
        .await
        .json()
        .await
        .expect("schedule");
    let target = |code: &str| {
        schedule
            .as_array()
            .and_then(|a| a.iter().find(|v| v["code"] == code))
            .map(|v| v["target"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        target("W6"),
        "2026-04-13",
        "6 weeks after 2 March: {schedule}"
    );
    assert_eq!(target("M3"), "2026-06-02", "3 calendar months: {schedule}");

    // No lesions and no analgesic form in this study: refused with a stable code.
    let lesion = app
        .post(
            &format!("/api/v1/participants/{id}/lesions"),
            Some(&nurse),
            json!({"location": "T7", "labels": {"nl": "rug"}, "high_risk_reasons": ["size_2cm"]}),
        )
        .await;
    assert_eq!(lesion.status(), 409);
    let lesion: Value = lesion.json().await.expect("json");
    assert_eq!(lesion["code"], "not_in_this_study", "{lesion}");

    // 3. The participant answers the baseline: pain level 2 asks about pain medicine.
    let token = app.participant_token(&nurse, id).await;
    let not_asked = json!([
        {"item": "pain", "value": 1},
        {"item": "pain_medicine", "value": 1}
    ]);
    let (status, refused) = submit(&app, &token, "BL", not_asked).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("pain_medicine")),
        "{refused}"
    );
    let answers = json!([
        {"item": "mobility", "value": 1},
        {"item": "self_care", "value": 1},
        {"item": "activities", "value": 2},
        {"item": "pain", "value": 2},
        {"item": "pain_medicine", "value": true},
        {"item": "mood", "value": 3},
        {"item": "health_today", "value": 70}
    ]);
    let (status, done) = submit(&app, &token, "BL", answers).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "completed");
    assert_eq!(scale(&done, "LEVELS")["score"], 9.0, "{done}");
    // The value set shipped in scoring-1.json: key "11223".
    let scoring: Value = serde_json::from_str(
        &std::fs::read_to_string(questionnaires.join("generic-health-5/1.0.0/scoring-1.json"))
            .expect("scoring"),
    )
    .expect("json");
    let expected = scoring["scales"][1]["table"]["11223"]
        .as_f64()
        .expect("key");
    assert_eq!(scale(&done, "INDEX")["score"].as_f64(), Some(expected));
    assert_eq!(scale(&done, "RATING")["score"], 70.0);
    assert_eq!(
        scale(&done, "PROBLEMS")["score"],
        40.0,
        "(9 - 5) / 10 * 100"
    );

    // 4. Week 6 opens: the reminder comes from the study's sender, with its safety text and
    // hospital, and nothing of HERMES.
    app.clock.set(local("2026-04-08".parse().expect("d"), 10));
    let mail = epro::notify::mail::Mail::from_settings(&app.settings).expect("mail");
    epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    let sent = smtp.messages();
    assert_eq!(sent.len(), 1, "one reminder for week 6");
    let m = decoded(&sent[0].data);
    assert!(
        m.contains("From: \"DEMO-2 studieteam\"") || m.contains("From: DEMO-2 studieteam"),
        "{m}"
    );
    assert!(
        m.contains("Ziekenhuis Noord") && m.contains("Week 6"),
        "{m}"
    );
    assert!(
        m.contains("pijn op de borst") && m.contains("+32 3 000 00 21"),
        "{m}"
    );
    assert!(!m.contains("HERMES") && !m.contains("rugpijn"), "{m}");

    // 5. The same questionnaire on the pages, without the page script, for a second
    // participant: the conditional question appears on its page when its answer makes it apply,
    // and an answer that no longer applies is cleared with a notice, never refused.
    let id2 = "DEMO2-ZUID-001";
    let zuid = app.staff_token("site_staff", &["ZUID"]).await;
    let body = json!({ "study_id": id2, "site": "ZUID", "language": "nl", "randomization_date": "2026-04-08" });
    assert_eq!(
        app.post("/api/v1/participants", Some(&zuid), body)
            .await
            .status(),
        200
    );
    let p = crate::pages::participant_browser(&app, &zuid, id2).await;
    let path = "/p/q/BL/generic-health-5";
    let (status, html) = crate::pages::page(&p, &app, path).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Neemt u geneesmiddelen voor deze pijn?"),
        "{html}"
    );
    assert!(
        html.contains("data-show-field=\"q.pain\" data-show-values=\"2 3\" hidden"),
        "hidden until pain is 2 or 3: {html}"
    );
    assert!(
        !html.contains("HERMES"),
        "nothing of HERMES on DEMO-2's pages: {html}"
    );
    let post = |html: String, fields: Vec<(&'static str, &'static str)>| {
        let p = p.clone();
        let url = format!("{}{path}", app.address);
        async move {
            let revision = html
                .split("name=\"revision\" value=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("0")
                .to_string();
            let mut form = vec![
                ("csrf".to_string(), crate::pages::csrf_of(&html)),
                ("revision".into(), revision),
                ("page".into(), "1".into()),
                ("go".into(), "next".into()),
            ];
            form.extend(
                fields
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            );
            let resp = p.post(url).form(&form).send().await.expect("post");
            let status = resp.status().as_u16();
            let to = resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap_or_default()
                .to_string();
            (status, to)
        }
    };
    let (status, to) = post(html, vec![("q.mobility", "1"), ("q.pain", "2")]).await;
    assert_eq!(
        (status, to.as_str()),
        (303, "/p/q/BL/generic-health-5?page=1&more=1")
    );
    let (_, html) = crate::pages::page(&p, &app, &to).await;
    assert!(
        html.contains("op deze pagina een vraag bijgekomen"),
        "{html}"
    );
    assert!(
        html.contains("data-show-values=\"2 3\">"),
        "now shown: {html}"
    );
    let (status, to) = post(html, vec![("q.pain", "2"), ("q.pain_medicine", "1")]).await;
    assert_eq!(
        (status, to.as_str()),
        (303, "/p/q/BL/generic-health-5?page=2")
    );
    // Back on page 1, pain becomes "no problems": the medicine answer is cleared, named.
    let (_, html) = crate::pages::page(&p, &app, "/p/q/BL/generic-health-5?page=1").await;
    let (status, to) = post(
        html,
        vec![("q.pain", "1"), ("q.pain_medicine", "1"), ("q.mood", "2")],
    )
    .await;
    assert_eq!(status, 303);
    assert!(to.contains("notice=cleared&cleared=5"), "{to}");
    let (_, html) = crate::pages::page(&p, &app, &to).await;
    assert!(html.contains("Uw antwoord op vraag 5 is gewist"), "{html}");
    let stored = app
        .sql_count(
            "SELECT COUNT(*) FROM answer a JOIN response r ON r.id = a.response_id \
             JOIN participant p ON p.id = r.participant_id \
             WHERE p.study_id = 'DEMO2-ZUID-001' AND a.item = 'pain_medicine'",
        )
        .await;
    assert_eq!(stored, 0, "the cleared answer is not stored");
    let mood = app
        .sql_count(
            "SELECT COUNT(*) FROM answer a JOIN response r ON r.id = a.response_id \
             JOIN participant p ON p.id = r.participant_id \
             WHERE p.study_id = 'DEMO2-ZUID-001' AND a.item IN ('mood', 'pain', 'mobility')",
        )
        .await;
    assert_eq!(mood, 3, "the rest of the page is kept");

    // 6. The exports carry the new scores with their kinds.
    let dm = app.staff_token("data_manager", &[]).await;
    let scores = app.get("/api/v1/exports/scores.csv", Some(&dm)).await;
    let csv = scores.text().await.expect("csv");
    assert!(csv.contains("INDEX") && csv.contains("lookup"), "{csv}");
}

/// A study file that asks what it cannot have is refused by `study check`, naming the field:
/// a language without page and email texts, and a per-lesion questionnaire in a study without
/// lesions.
#[test]
fn a_study_file_that_asks_the_impossible_is_refused_with_the_field_named() {
    let work = tempfile::tempdir().expect("tempdir");
    let (study, questionnaires) = lay_out(&work);
    let settings = epro::config::Settings {
        study_file: study.clone(),
        questionnaires_dir: questionnaires.clone(),
        ..epro::config::Settings::default()
    };
    let q = questionnaires.to_string_lossy().to_string();
    assert!(
        run_cli(&settings, work.path(), &["questionnaires", "publish", &q])
            .status
            .success()
    );
    let original = std::fs::read_to_string(&study).expect("study");
    let german = work.path().join("german.toml");
    std::fs::write(
        &german,
        original
            .replace(
                "languages = [\"nl\", \"en\"]",
                "languages = [\"nl\", \"de\"]",
            )
            .replace("en = \"Baseline\"", "de = \"Baseline\"")
            .replace("en = \"Week 6\"", "de = \"Woche 6\"")
            .replace("en = \"Month 3\"", "de = \"Monat 3\"")
            .replace("[safety.en]", "[safety.de]"),
    )
    .expect("write");
    let out = run_cli(
        &settings,
        work.path(),
        &["study", "check", &german.to_string_lossy()],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("\"de\"") && text(&out).contains("study.languages"),
        "{}",
        text(&out)
    );

    let hermes_q = crate::helpers::questionnaires_dir();
    let with_nrs = work.path().join("nrs.toml");
    std::fs::write(
        &with_nrs,
        original.replace("\"generic-health-5@1.0.0\"", "\"nrs-lesion-pain@1.0.0\""),
    )
    .expect("write");
    let settings = epro::config::Settings {
        questionnaires_dir: hermes_q,
        ..settings
    };
    let out = run_cli(
        &settings,
        work.path(),
        &["study", "check", &with_nrs.to_string_lossy()],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("visits[0].questionnaires[0]") && text(&out).contains("per lesion"),
        "{}",
        text(&out)
    );
}

/// #31.2: a study file without `[schedule]` and without SSE (DEMO-2 as docs/new-trial.md
/// writes it) passes `study check`, serves, never offers an SSE on the record page and refuses
/// one in the API with 409 naming the study; randomization and withdrawal are still recorded.
#[tokio::test]
async fn a_study_without_schedule_or_sse_passes_check_serves_and_refuses_an_sse() {
    let work = tempfile::tempdir().expect("tempdir");
    let (study, questionnaires) = lay_out(&work);
    let text_of_study = std::fs::read_to_string(&study).expect("study");
    assert!(
        !text_of_study.contains("[schedule]"),
        "the fixture has no [schedule]"
    );
    assert!(
        !text_of_study.contains("[events]"),
        "the fixture declares no SSE"
    );
    let settings = epro::config::Settings {
        study_file: study.clone(),
        questionnaires_dir: questionnaires.clone(),
        ..epro::config::Settings::default()
    };
    let q = questionnaires.to_string_lossy().to_string();
    let publish = run_cli(&settings, work.path(), &["questionnaires", "publish", &q]);
    assert!(publish.status.success(), "{}", text(&publish));
    let check = run_cli(
        &settings,
        work.path(),
        &["study", "check", &study.to_string_lossy()],
    );
    assert!(check.status.success(), "{}", text(&check));

    let (s_study, s_q) = (study.clone(), questionnaires.clone());
    let app = crate::helpers::spawn_app_with(move |s| {
        s.study_file = s_study;
        s.questionnaires_dir = s_q;
    })
    .await;
    assert_eq!(app.app.study.id, "DEMO-2");
    app.clock.set(local("2026-03-02".parse().expect("d"), 10));
    let (email, password, _) = app.staff_account("site_staff", &["NORD"]).await;
    let nurse = app.login_token(&email, &password).await;
    let id = "DEMO2-NORD-002";
    let body = json!({ "study_id": id, "site": "NORD", "language": "nl", "randomization_date": "2026-03-02" });
    assert_eq!(
        app.post("/api/v1/participants", Some(&nurse), body)
            .await
            .status(),
        200
    );
    let before: Value = app
        .get(&format!("/api/v1/participants/{id}/schedule"), Some(&nurse))
        .await
        .json()
        .await
        .expect("schedule");

    let sse = app
        .post(
            &format!("/api/v1/participants/{id}/events"),
            Some(&nurse),
            json!({"type": "sse", "date": "2026-03-20", "reason": "fracture"}),
        )
        .await;
    assert_eq!(sse.status(), 409);
    let sse: Value = sse.json().await.expect("json");
    assert_eq!(sse["code"], "not_in_this_study", "{sse}");
    assert!(
        sse["message"]
            .as_str()
            .is_some_and(|m| m.contains("DEMO-2")),
        "names the study: {sse}"
    );
    let after: Value = app
        .get(&format!("/api/v1/participants/{id}/schedule"), Some(&nurse))
        .await
        .json()
        .await
        .expect("schedule");
    assert_eq!(before, after, "the refused SSE moved no visit");

    // The record page offers the study's events only: no SSE, no SSE type.
    let c = crate::pages::sign_in(&app, &email, &password).await;
    let (status, html) = crate::pages::page(&c, &app, &format!("/staff/participants/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("value=\"withdrawal\""), "{html}");
    assert!(!html.contains("value=\"sse\""), "no SSE offered: {html}");
    assert!(
        !html.contains("name=\"sse_type\""),
        "no SSE type asked: {html}"
    );

    // Events the study records are still recorded.
    let w = app
        .post(
            &format!("/api/v1/participants/{id}/events"),
            Some(&nurse),
            json!({"type": "withdrawal", "date": "2026-03-02", "reason": "consent withdrawn"}),
        )
        .await;
    assert_eq!(w.status(), 200, "{}", w.text().await.unwrap_or_default());
}

/// #31.2: HERMES declares the SSE type required: an SSE without it is refused and moves nothing.
#[tokio::test]
async fn hermes_refuses_an_sse_without_its_required_type() {
    let app = crate::helpers::spawn_app().await;
    app.clock.set(local("2026-03-02".parse().expect("d"), 10));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let id = "HERMES-ZAS-031";
    app.enrol(
        &nurse,
        id,
        json!({"randomization_date": "2026-03-02", "arm": "A"}),
    )
    .await;
    let sse = app
        .post(
            &format!("/api/v1/participants/{id}/events"),
            Some(&nurse),
            json!({"type": "sse", "date": "2026-03-02", "reason": "fracture"}),
        )
        .await;
    assert_eq!(sse.status(), 422);
    let sse: Value = sse.json().await.expect("json");
    assert!(
        sse["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("sse_type")),
        "{sse}"
    );
    let status: Value = app
        .get(&format!("/api/v1/participants/{id}"), Some(&nurse))
        .await
        .json()
        .await
        .expect("participant");
    assert_eq!(status["status"], "randomized", "{status}");
}

/// A copy of the fixture's instrument under another key, with `edit` applied to its scoring
/// file (a draft: not published).
fn copy_instrument(questionnaires: &Path, key: &str, edit: impl Fn(String) -> String) {
    let to = questionnaires.join(key);
    copy_dir(&questionnaires.join("generic-health-5"), &to);
    for file in ["definition.json", "scoring-1.json"] {
        let path = to.join("1.0.0").join(file);
        let text = std::fs::read_to_string(&path)
            .expect("read")
            .replace("\"generic-health-5\"", &format!("\"{key}\""));
        let text = if file == "scoring-1.json" {
            edit(text)
        } else {
            text
        };
        std::fs::write(&path, text).expect("write");
    }
}

/// #31.3: two instruments whose scale keys would collide are refused by `questionnaires check`,
/// naming both; #31.5: checking one version is not failed by another instrument's draft.
#[tokio::test]
async fn questionnaires_check_refuses_colliding_scale_keys_and_ignores_other_drafts() {
    let work = tempfile::tempdir().expect("tempdir");
    let (study, questionnaires) = lay_out(&work);
    let settings = epro::config::Settings {
        study_file: study,
        questionnaires_dir: questionnaires.clone(),
        ..epro::config::Settings::default()
    };
    let q = questionnaires.to_string_lossy().to_string();
    let publish = run_cli(&settings, work.path(), &["questionnaires", "publish", &q]);
    assert!(publish.status.success(), "{}", text(&publish));

    // Another instrument's draft (same scales under its own key: no collision).
    copy_instrument(&questionnaires, "generic-health-6", |s| s);
    let one = questionnaires.join("generic-health-5/1.0.0");
    let check = run_cli(
        &settings,
        work.path(),
        &["questionnaires", "check", &one.to_string_lossy()],
    );
    assert!(check.status.success(), "{}", text(&check));
    let all = run_cli(&settings, work.path(), &["questionnaires", "check", &q]);
    assert!(!all.status.success(), "the root includes the draft");
    assert!(
        text(&all).contains("generic-health-6 1.0.0")
            && text(&all).contains("not in published.lock"),
        "{}",
        text(&all)
    );
    std::fs::remove_dir_all(questionnaires.join("generic-health-6")).expect("rm");

    // `generic-health` with a scale `5_RATING` would export GENERIC_HEALTH_5_RATING, as
    // generic-health-5's RATING does.
    copy_instrument(&questionnaires, "generic-health", |s| {
        s.replace("\"code\": \"RATING\"", "\"code\": \"5_RATING\"")
    });
    let publish = run_cli(&settings, work.path(), &["questionnaires", "publish", &q]);
    assert!(!publish.status.success(), "{}", text(&publish));
    let check = run_cli(&settings, work.path(), &["questionnaires", "check", &q]);
    assert!(!check.status.success(), "{}", text(&check));
    let out = text(&check);
    assert!(
        out.contains("GENERIC_HEALTH_5_RATING")
            && out.contains("generic-health-5")
            && out.contains("5_RATING of generic-health"),
        "{out}"
    );
}

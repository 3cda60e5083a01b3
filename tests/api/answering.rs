use chrono::{TimeZone, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

async fn spawn() -> TestApp {
    spawn_app_with(|s| s.session_hours = 24 * 365 * 3).await
}

struct Enrolled {
    nurse: String,
    lesions: Vec<String>,
    link_token: String,
    pin: String,
}

/// Enrol HERMES-ZAS-101 with two lesions, randomized today, and issue a link.
async fn enrolled(app: &TestApp) -> Enrolled {
    enrolled_in(app, "nl").await
}

async fn enrolled_in(app: &TestApp, language: &str) -> Enrolled {
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    app.enrol(
        &nurse,
        "HERMES-ZAS-101",
        json!({"language": language, "email": "an@example.be"}),
    )
    .await;
    for (loc, side, nl, fr, en) in [
        (
            "femoral_neck",
            Some("right"),
            "rechterheup",
            "hanche droite",
            "right hip",
        ),
        ("L3", None, "onderrug", "bas du dos", "lower back"),
    ] {
        let resp = app
            .post(
                "/api/v1/participants/HERMES-ZAS-101/lesions",
                Some(&nurse),
                json!({"location": loc, "side": side, "labels": {"nl": nl, "fr": fr, "en": en}, "high_risk_reasons": ["size_2cm"]}),
            )
            .await;
        assert_eq!(resp.status(), 200);
    }
    let resp = app
        .post(
            "/api/v1/participants/HERMES-ZAS-101/events",
            Some(&nurse),
            json!({"type": "randomization", "date": "2026-01-15", "reason": "randomized", "arm": "A"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let lesions: Value = app
        .get("/api/v1/participants/HERMES-ZAS-101/lesions", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    let lesions = lesions
        .as_array()
        .expect("a")
        .iter()
        .filter_map(|l| l["id"].as_str().map(String::from))
        .collect();
    let resp = app
        .post(
            "/api/v1/participants/HERMES-ZAS-101/access-link",
            Some(&nurse),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let link: Value = resp.json().await.expect("json");
    assert!(link["url"].as_str().unwrap_or_default().contains("/p/"));
    assert!(
        !link["url"].as_str().unwrap_or_default().contains("HERMES"),
        "the link never contains the study id"
    );
    assert!(
        link["qr_svg"]
            .as_str()
            .unwrap_or_default()
            .starts_with("<?xml")
            || link["qr_svg"].as_str().unwrap_or_default().contains("<svg")
    );
    Enrolled {
        nurse,
        lesions,
        link_token: link["link_token"].as_str().expect("token").into(),
        pin: link["pin"].as_str().expect("generated pin").into(),
    }
}

async fn put_draft(
    app: &TestApp,
    token: &str,
    key: &str,
    rev: Option<i64>,
    answers: Value,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(
            Method::PUT,
            format!("{}/api/v1/me/visits/BL/responses/{key}", app.address),
        )
        .bearer_auth(token)
        .json(&json!({ "answers": answers }));
    if let Some(r) = rev {
        req = req.header("if-match", format!("\"{r}\""));
    }
    req.send().await.expect("sent")
}

async fn submit(
    app: &TestApp,
    token: &str,
    key: &str,
    idem: &str,
    answers: Value,
) -> reqwest::Response {
    app.client
        .post(format!(
            "{}/api/v1/me/visits/BL/responses/{key}/submit",
            app.address
        ))
        .bearer_auth(token)
        .header("idempotency-key", idem)
        .json(&json!({ "answers": answers, "client_utc_offset_minutes": 60 }))
        .send()
        .await
        .expect("sent")
}

fn all(range: std::ops::RangeInclusive<u32>, value: i64) -> Value {
    Value::Array(
        range
            .map(|n| json!({"item": format!("q{n}"), "value": value}))
            .collect(),
    )
}

#[tokio::test]
async fn a_participant_answers_the_baseline_from_link_to_scores() {
    let app = spawn().await;
    let e = enrolled(&app).await;

    // A wrong PIN, then the right one.
    let wrong = app.participant_login(&e.link_token, "000000").await;
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.expect("json");
    assert_eq!(body["code"], "invalid_pin");
    let resp = app.participant_login(&e.link_token, &e.pin).await;
    assert_eq!(resp.status(), 200);
    let device_a: String = resp.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("t")
        .into();
    let device_b = app.session_token(&e.link_token, &e.pin).await;

    // A participant token is not a staff token and vice versa.
    assert_eq!(
        app.get("/api/v1/participants", Some(&device_a))
            .await
            .status(),
        401
    );
    assert_eq!(
        app.get("/api/v1/me/tasks", Some(&e.nurse)).await.status(),
        401
    );

    let tasks: Value = app
        .get("/api/v1/me/tasks", Some(&device_a))
        .await
        .json()
        .await
        .expect("json");
    let bl = &tasks[0];
    assert_eq!(bl["visit"], "BL");
    assert_eq!(bl["label"], "Baseline");
    assert_eq!(bl["last_day"], "2026-01-15", "the randomization day");
    assert_eq!(bl["questionnaires"].as_array().map(Vec::len), Some(3));
    assert!(
        bl["questionnaires"]
            .as_array()
            .expect("q")
            .iter()
            .all(|q| q["status"] == "not_started")
    );

    // The NRS is asked once per lesion, naming the lesion in Dutch.
    let nrs: Value = app
        .get(
            "/api/v1/me/visits/BL/questionnaires/nrs-lesion-pain",
            Some(&device_a),
        )
        .await
        .json()
        .await
        .expect("json");
    let items = nrs["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let mut labels: Vec<&str> = items
        .iter()
        .filter_map(|i| i["lesion_label"].as_str())
        .collect();
    labels.sort();
    assert_eq!(labels, ["onderrug", "rechterheup"]);
    for i in items {
        let label = i["lesion_label"].as_str().unwrap_or_default();
        assert!(
            i["text"].as_str().unwrap_or_default().contains(label),
            "the question names its lesion: {i}"
        );
    }

    // Device A saves a partial draft; device B's stale save is refused; resuming shows the merge.
    let r = put_draft(
        &app,
        &device_a,
        "eortc-qlq-c30",
        None,
        json!([{"item": "q1", "value": 1}, {"item": "q2", "value": 2}]),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some("\"1\"")
    );
    let r = put_draft(
        &app,
        &device_b,
        "eortc-qlq-c30",
        Some(1),
        json!([{"item": "q3", "value": 3}, {"item": "q2", "value": null}]),
    )
    .await;
    assert_eq!(r.status(), 200);
    let stale = put_draft(
        &app,
        &device_a,
        "eortc-qlq-c30",
        Some(1),
        json!([{"item": "q4", "value": 4}]),
    )
    .await;
    assert_eq!(stale.status(), 409);
    let body: Value = stale.json().await.expect("json");
    assert_eq!(body["code"], "draft_changed");
    // Without If-Match while a draft exists: asked for the revision, not told it changed.
    let blind = put_draft(
        &app,
        &device_a,
        "eortc-qlq-c30",
        None,
        json!([{"item": "q4", "value": 4}]),
    )
    .await;
    assert_eq!(blind.status(), 409);
    let body: Value = blind.json().await.expect("json");
    assert_eq!(body["code"], "if_match_required", "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("If-Match") && !m.contains("changed elsewhere")),
        "{body}"
    );
    let resumed: Value = app
        .get(
            "/api/v1/me/visits/BL/questionnaires/eortc-qlq-c30",
            Some(&device_a),
        )
        .await
        .json()
        .await
        .expect("json");
    let draft = &resumed["response"];
    assert_eq!(draft["revision"], 2);
    let answered: Vec<(String, Value)> = draft["answers"]
        .as_array()
        .expect("a")
        .iter()
        .map(|a| {
            (
                a["item"].as_str().unwrap_or("").to_string(),
                a["value"].clone(),
            )
        })
        .collect();
    assert!(
        answered.contains(&("q1".into(), json!(1))) && answered.contains(&("q3".into(), json!(3))),
        "{answered:?}"
    );
    assert!(!answered.iter().any(|(i, _)| i == "q2"), "null cleared q2");

    // An out-of-range code is refused naming the item, and nothing stored changes.
    let audit_before = app.audit_rows().await.len();
    let bad = submit(
        &app,
        &device_a,
        "eortc-qlq-c30",
        "bad-1",
        json!([{"item": "q5", "value": 9}]),
    )
    .await;
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("item q5"),
        "{body}"
    );
    let after: Value = app
        .get(
            "/api/v1/me/visits/BL/questionnaires/eortc-qlq-c30",
            Some(&device_a),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(after["response"]["revision"], 2);
    assert_eq!(after["response"]["status"], "draft");
    assert_eq!(app.audit_rows().await.len(), audit_before);

    // Submit C30 (the rest of the answers, q2 left blank), BM22 and the NRS for both lesions.
    let mut rest: Vec<Value> = (4..=30)
        .map(|n| json!({"item": format!("q{n}"), "value": if n >= 29 { 7 } else { 1 }}))
        .collect();
    rest.push(json!({"item": "q2", "value": null}));
    let c30 = submit(
        &app,
        &device_a,
        "eortc-qlq-c30",
        "c30-1",
        Value::Array(rest.clone()),
    )
    .await;
    assert_eq!(c30.status(), 200);
    let c30: Value = c30.json().await.expect("json");
    assert_eq!(c30["status"], "completed");
    assert_eq!(c30["late"], false);
    assert_eq!(c30["scores"]["scoring"], "eortc-qlq-c30/3.0/scoring-1");
    let scale = |code: &str| {
        c30["scores"]["scales"]
            .as_array()
            .and_then(|s| s.iter().find(|x| x["code"] == code))
            .cloned()
            .expect("scale")
    };
    assert_eq!(scale("QL2")["score"], 100.0);
    assert_eq!(
        scale("PF2")["status"],
        "half_rule",
        "q2 blank stays blank, never 0"
    );

    // Same key and body → same response; another submission → 409.
    let again: Value = submit(
        &app,
        &device_a,
        "eortc-qlq-c30",
        "c30-1",
        Value::Array(rest.clone()),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(again["response_id"], c30["response_id"]);
    let second = submit(&app, &device_b, "eortc-qlq-c30", "c30-2", json!([])).await;
    assert_eq!(second.status(), 409);
    let body: Value = second.json().await.expect("json");
    assert_eq!(body["code"], "already_submitted");

    let bm22 = submit(&app, &device_a, "eortc-qlq-bm22", "bm22-1", all(31..=52, 2)).await;
    assert_eq!(bm22.status(), 200);
    let bm22: Value = bm22.json().await.expect("json");
    assert_eq!(bm22["scores"]["scales"].as_array().map(Vec::len), Some(4));
    let nrs_answers = json!([
        {"item": "worst_pain", "value": 2, "lesion": e.lesions[0]},
        {"item": "worst_pain", "value": 1, "lesion": e.lesions[1]},
    ]);
    let nrs = submit(&app, &device_a, "nrs-lesion-pain", "nrs-1", nrs_answers).await;
    assert_eq!(nrs.status(), 200);
    let nrs: Value = nrs.json().await.expect("json");
    assert_eq!(
        nrs["scores"]["scales"].as_array().map(Vec::len),
        Some(2),
        "one score per lesion"
    );

    // The baseline is complete; the task list is empty; the schedule says so.
    let s: Value = app
        .get(
            "/api/v1/participants/HERMES-ZAS-101/schedule",
            Some(&e.nurse),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(s[0]["state"], "completed");
    let tasks: Value = app
        .get("/api/v1/me/tasks", Some(&device_a))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(tasks.as_array().map(Vec::len), Some(0));

    // The audit chain still verifies.
    let out = app.cli(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn five_wrong_pins_lock_and_withdrawal_revokes_links() {
    let app = spawn().await;
    let e = enrolled(&app).await;
    for _ in 0..5 {
        assert_eq!(
            app.participant_login(&e.link_token, "111111")
                .await
                .status(),
            401
        );
    }
    let locked = app.participant_login(&e.link_token, &e.pin).await;
    assert_eq!(locked.status(), 429);
    let rows = app.audit_rows().await;
    assert!(rows.iter().any(|r| r["action"] == "auth.pin_locked"));
    app.clock.advance(chrono::Duration::minutes(15));
    let ok = app.participant_login(&e.link_token, &e.pin).await;
    assert_eq!(ok.status(), 200);
    let token: String = ok.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("t")
        .into();

    // A new staff link revokes only the earlier staff link.
    let new_link: Value = app
        .post(
            "/api/v1/participants/HERMES-ZAS-101/access-link",
            Some(&e.nurse),
            json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(new_link["pin"], Value::Null, "the PIN is kept");
    assert_eq!(
        app.participant_login(&e.link_token, &e.pin).await.status(),
        401
    );
    let new_token = new_link["link_token"].as_str().expect("t").to_string();
    assert_eq!(
        app.participant_login(&new_token, &e.pin).await.status(),
        200
    );

    // Withdrawal: links revoked, sessions end, no new link.
    let resp = app
        .post(
            "/api/v1/participants/HERMES-ZAS-101/events",
            Some(&e.nurse),
            json!({"type": "withdrawal", "date": "2026-01-15", "reason": "consent withdrawn"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        app.participant_login(&new_token, &e.pin).await.status(),
        401
    );
    assert_eq!(
        app.get("/api/v1/me/tasks", Some(&token)).await.status(),
        401
    );
    assert_eq!(
        app.post(
            "/api/v1/participants/HERMES-ZAS-101/access-link",
            Some(&e.nurse),
            json!({})
        )
        .await
        .status(),
        409
    );
    assert!(
        app.audit_rows()
            .await
            .iter()
            .any(|r| r["action"] == "access.revoked")
    );
}

#[tokio::test]
async fn after_grace_submission_is_refused_and_late_is_flagged() {
    let app = spawn().await;
    let e = enrolled(&app).await;
    let token = app.session_token(&e.link_token, &e.pin).await;
    // Baseline: last day 18 Jan, grace until 25 Jan (local).
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 20, 10, 0, 0)
            .single()
            .expect("t"),
    );
    let late = submit(&app, &token, "eortc-qlq-bm22", "late-1", all(31..=52, 1)).await;
    assert_eq!(late.status(), 200);
    assert_eq!(late.json::<Value>().await.expect("json")["late"], true);
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 26, 10, 0, 0)
            .single()
            .expect("t"),
    );
    let closed = submit(&app, &token, "eortc-qlq-c30", "closed-1", all(1..=30, 1)).await;
    assert_eq!(closed.status(), 409);
    assert_eq!(
        closed.json::<Value>().await.expect("json")["code"],
        "window_closed"
    );
}

#[tokio::test]
async fn scores_recompute_applies_a_newer_scoring_file() {
    // A copy of the questionnaires with a scoring-2 for the NRS (published).
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("questionnaires");
    crate::questionnaires::copy_dir(&crate::helpers::questionnaires_dir(), &copy);
    let app = spawn_app_with({
        let copy = copy.clone();
        move |s| {
            s.session_hours = 24 * 365;
            s.questionnaires_dir = copy;
        }
    })
    .await;
    let e = enrolled(&app).await;
    let token = app.session_token(&e.link_token, &e.pin).await;
    let answers = json!([{"item": "worst_pain", "value": 4, "lesion": e.lesions[0]}, {"item": "worst_pain", "value": 6, "lesion": e.lesions[1]}]);
    assert_eq!(
        submit(&app, &token, "nrs-lesion-pain", "n1", answers)
            .await
            .status(),
        200
    );

    let v1 =
        std::fs::read_to_string(copy.join("nrs-lesion-pain/1.0.0/scoring-1.json")).expect("read");
    std::fs::write(
        copy.join("nrs-lesion-pain/1.0.0/scoring-2.json"),
        v1.replace("\"scoring\": 1", "\"scoring\": 2"),
    )
    .expect("write");
    let publish = std::process::Command::new(env!("CARGO_BIN_EXE_epro"))
        .args(["questionnaires", "publish", &copy.display().to_string()])
        .output()
        .expect("run");
    assert!(publish.status.success());
    let mut settings = app.settings.clone();
    settings.questionnaires_dir = copy.clone();
    let out = crate::helpers::run_cli(
        &settings,
        app.dir.path(),
        &[
            "scores",
            "recompute",
            "--scoring",
            "nrs-lesion-pain/1.0.0/scoring-2",
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("scored 1 responses"));
    let again = crate::helpers::run_cli(
        &settings,
        app.dir.path(),
        &[
            "scores",
            "recompute",
            "--scoring",
            "nrs-lesion-pain/1.0.0/scoring-2",
        ],
    );
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("scored 0 responses"),
        "idempotent"
    );
    let rows = app.audit_rows().await;
    assert_eq!(
        rows.iter()
            .filter(|r| r["action"] == "score.recomputed")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_participant_reads_licensed_wording_but_an_anonymous_reader_does_not() {
    let app = spawn_app_with(|s| {
        s.session_hours = 24 * 365;
        s.licensed_text_dir = Some(crate::helpers::licensed_fixture_dir());
    })
    .await;
    let e = enrolled_in(&app, "en").await;
    let token = app.session_token(&e.link_token, &e.pin).await;
    let path = "/api/v1/questionnaires/eortc-qlq-c30/3.0?lang=en";
    assert!(
        !app.get(path, None)
            .await
            .text()
            .await
            .expect("body")
            .contains("INVENTED-LICENSED")
    );
    assert!(
        app.get(path, Some(&token))
            .await
            .text()
            .await
            .expect("body")
            .contains("INVENTED-LICENSED q1")
    );
    let mine: Value = app
        .get(
            "/api/v1/me/visits/BL/questionnaires/eortc-qlq-c30",
            Some(&token),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(mine["wording_kind"], "licensed");
    assert!(
        mine["items"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("INVENTED-LICENSED")
    );
}

async fn staff_submit(
    app: &TestApp,
    token: &str,
    visit: &str,
    key: &str,
    body: Value,
) -> reqwest::Response {
    app.client
        .post(format!(
            "{}/api/v1/participants/HERMES-ZAS-101/visits/{visit}/responses/{key}/submit",
            app.address
        ))
        .bearer_auth(token)
        .header(
            "idempotency-key",
            format!("{visit}-{key}-{}", uuid::Uuid::new_v4()),
        )
        .json(&body)
        .send()
        .await
        .expect("sent")
}

fn parse_csv(text: &str, delimiter: u8) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let header = r
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows = r
        .records()
        .map(|x| x.expect("row").iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// The participant answers C30 and the NRS; the nurse enters BM22 during a teleconsultation,
/// records why M1 was missed, and amends a C30 answer at the participant's request. Each step
/// is asserted; returns the enrolment, a data manager's token and another site's staff token.
async fn entered_missed_and_amended(app: &TestApp) -> (Enrolled, String, String) {
    let e = enrolled(app).await;
    let dm = app.staff_token("data_manager", &[]).await;
    let other_site = app.staff_token("site_staff", &["UZG"]).await;
    let token = app.session_token(&e.link_token, &e.pin).await;

    // The participant answers C30 and the NRS; the nurse enters BM22 during a teleconsultation.
    assert_eq!(
        submit(app, &token, "eortc-qlq-c30", "c30", all(1..=30, 1))
            .await
            .status(),
        200
    );
    let nrs = json!([{"item": "worst_pain", "value": 3, "lesion": e.lesions[0]}, {"item": "worst_pain", "value": 0, "lesion": e.lesions[1]}]);
    assert_eq!(
        submit(app, &token, "nrs-lesion-pain", "nrs", nrs)
            .await
            .status(),
        200
    );
    let resp = staff_submit(
        app,
        &e.nurse,
        "BL",
        "eortc-qlq-bm22",
        json!({"mode": "interviewer", "answers": all(31..=52, 2)}),
    )
    .await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let bad_mode = staff_submit(
        app,
        &e.nurse,
        "BL",
        "eortc-qlq-bm22",
        json!({"mode": "telepathy", "answers": []}),
    )
    .await;
    // The mode is an enum in the OpenAPI document: a schema violation, answered 400.
    assert_eq!(bad_mode.status(), 400);
    let body = bad_mode.text().await.unwrap_or_default();
    assert!(body.contains("\"code\""), "{body}");
    let dm_entry = staff_submit(
        app,
        &dm,
        "BL",
        "eortc-qlq-bm22",
        json!({"mode": "paper", "answers": [], "completed_on": "2026-01-15"}),
    )
    .await;
    assert_eq!(dm_entry.status(), 403);

    // M1 passes unanswered; the nurse records why.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 3, 5, 10, 0, 0)
            .single()
            .expect("t"),
    );
    let resp = app
        .post(
            "/api/v1/participants/HERMES-ZAS-101/visits/M1/missed",
            Some(&e.nurse),
            json!({"reason": "hospitalised", "text": "admitted for pneumonia"}),
        )
        .await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );

    // Amendments: a data manager cannot; a self-reported answer changes only at the participant's request.
    let responses: Value = app
        .get(
            "/api/v1/participants/HERMES-ZAS-101/responses",
            Some(&e.nurse),
        )
        .await
        .json()
        .await
        .expect("json");
    let c30_id = responses
        .as_array()
        .and_then(|r| r.iter().find(|x| x["questionnaire"] == "eortc-qlq-c30@3.0"))
        .and_then(|x| x["id"].as_str())
        .expect("c30")
        .to_string();
    let bm22 = responses
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|x| x["questionnaire"] == "eortc-qlq-bm22@1.0")
        })
        .expect("bm22");
    assert_eq!(bm22["mode"], "interviewer");
    let amend_path = format!("/api/v1/participants/HERMES-ZAS-101/responses/{c30_id}/amend");
    let change = json!({"basis": "participant_request", "reason": "participant called: q1 should have been 'quite a bit'", "answers": [{"item": "q1", "value": 3}]});
    assert_eq!(
        app.post(&amend_path, Some(&dm), change.clone())
            .await
            .status(),
        403
    );
    let transcription = app
        .post(&amend_path, Some(&e.nurse), json!({"basis": "transcription_error", "reason": "typo", "answers": [{"item": "q1", "value": 3}]}))
        .await;
    assert_eq!(transcription.status(), 422);
    assert_eq!(
        transcription.json::<Value>().await.expect("json")["code"],
        "self_report_protected"
    );
    let amended = app.post(&amend_path, Some(&e.nurse), change).await;
    assert_eq!(
        amended.status(),
        200,
        "{}",
        amended.text().await.unwrap_or_default()
    );
    let amended: Value = amended.json().await.expect("json");
    assert_eq!(amended["status"], "amended");
    let pf2 = amended["scores"]["scales"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["code"] == "PF2"))
        .expect("PF2");
    assert!(
        (pf2["score"].as_f64().unwrap_or_default() - (1.0 - (0.4 / 3.0)) * 100.0).abs() < 1e-6,
        "scores recomputed: {pf2}"
    );
    (e, dm, other_site)
}

#[tokio::test]
async fn staff_entry_missed_visits_and_amendments() {
    let app = spawn().await;
    entered_missed_and_amended(&app).await;
}

#[tokio::test]
async fn exports_carry_entry_modes_missed_reasons_and_amendments() {
    let app = spawn().await;
    let (e, dm, other_site) = entered_missed_and_amended(&app).await;
    // Exports.
    let answers = app.get("/api/v1/exports/answers.csv", Some(&dm)).await;
    assert_eq!(answers.status(), 200);
    assert!(
        answers
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/csv"))
    );
    let answers = answers.text().await.expect("body");
    let (header, rows) = parse_csv(&answers, b',');
    assert_eq!(header[..4], ["response_id", "study_id", "site", "visit"]);
    assert_eq!(rows.len(), 30 + 22 + 2, "one row per answer");
    let lesion_col = header
        .iter()
        .position(|h| h == "lesion_id")
        .expect("lesion_id");
    let q_col = header
        .iter()
        .position(|h| h == "questionnaire")
        .expect("questionnaire");
    for r in &rows {
        assert_eq!(
            !r[lesion_col].is_empty(),
            r[q_col] == "nrs-lesion-pain",
            "{r:?}"
        );
    }
    let mode_col = header.iter().position(|h| h == "mode").expect("mode");
    assert!(
        rows.iter().any(|r| r[mode_col] == "interviewer")
            && rows.iter().any(|r| r[mode_col] == "self")
    );

    let visits = app
        .get("/api/v1/exports/visits.csv", Some(&dm))
        .await
        .text()
        .await
        .expect("body");
    let (vh, vrows) = parse_csv(&visits, b',');
    let visit = vh.iter().position(|h| h == "visit").expect("visit");
    let m1 = vrows.iter().find(|r| r[visit] == "M1").expect("M1 row");
    let state = vh.iter().position(|h| h == "visit_state").expect("state");
    let reason = vh
        .iter()
        .position(|h| h == "missed_reason")
        .expect("missed_reason");
    assert_eq!(m1[state], "missed");
    assert_eq!(m1[reason], "hospitalised: admitted for pneumonia");
    let bl = vrows.iter().find(|r| r[visit] == "BL").expect("BL row");
    assert_eq!(bl[state], "completed");

    let audit = app
        .get("/api/v1/exports/audit.csv", Some(&dm))
        .await
        .text()
        .await
        .expect("body");
    let (ah, arows) = parse_csv(&audit, b',');
    let action = ah.iter().position(|h| h == "action").expect("action");
    let amended_row = arows
        .iter()
        .find(|r| r[action] == "response.amended")
        .expect("amendment in audit.csv");
    let (before, after) = (
        ah.iter().position(|h| h == "before").expect("b"),
        ah.iter().position(|h| h == "after").expect("a"),
    );
    assert!(
        amended_row[before].contains("\"value\":1") && amended_row[after].contains("\"value\":3"),
        "{amended_row:?}"
    );
    assert!(!audit.contains("an@example.be"));
    assert_eq!(
        app.get("/api/v1/exports/audit.csv", Some(&e.nurse))
            .await
            .status(),
        403
    );

    let scores = app
        .get("/api/v1/exports/scores.csv", Some(&dm))
        .await
        .text()
        .await
        .expect("body");
    assert!(scores.contains("eortc-qlq-c30/3.0/scoring-1") && scores.contains("WORST_PAIN"));

    let excel = app
        .get("/api/v1/exports/answers.csv?dialect=excel", Some(&dm))
        .await
        .bytes()
        .await
        .expect("body");
    assert!(excel.starts_with("\u{feff}".as_bytes()), "BOM");
    let excel_text = String::from_utf8_lossy(&excel[3..]).to_string();
    let (eh, erows) = parse_csv(&excel_text, b';');
    assert_eq!(eh.len(), header.len());
    assert_eq!(erows.len(), rows.len());

    let dictionary = app
        .get("/api/v1/exports/dictionary.csv", Some(&dm))
        .await
        .text()
        .await
        .expect("body");
    assert!(
        dictionary.contains("answers.csv,lesion_id")
            && dictionary.contains("eortc-qlq-c30@3.0,q1,1,")
    );

    let other: Value = Value::String(
        app.get("/api/v1/exports/answers.csv", Some(&other_site))
            .await
            .text()
            .await
            .expect("body"),
    );
    assert_eq!(
        other.as_str().map(|s| s.lines().count()),
        Some(1),
        "another site sees only the header"
    );

    let ndjson = app
        .get("/api/v1/exports/fhir.ndjson", Some(&dm))
        .await
        .text()
        .await
        .expect("body");
    let lines: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .iter()
            .all(|l| l["resourceType"] == "QuestionnaireResponse")
    );
    assert!(lines.iter().any(|l| l["status"] == "amended"));

    let out = app.cli(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn per_lesion_pain_flags_consensus_categories_and_queries() {
    let app = spawn().await;
    let e = enrolled(&app).await;
    let dm = app.staff_token("data_manager", &[]).await;
    let token = app.session_token(&e.link_token, &e.pin).await;
    let (irradiated, other) = (e.lesions[0].clone(), e.lesions[1].clone());
    let nrs = |a: i64, b: i64| json!([{"item": "worst_pain", "value": a, "lesion": irradiated}, {"item": "worst_pain", "value": b, "lesion": other}]);

    // Baseline: pain 4 and 0; 30 mg/day morphine equivalent. The first lesion is irradiated on 20 Jan.
    assert_eq!(
        submit(&app, &token, "nrs-lesion-pain", "bl", nrs(4, 0))
            .await
            .status(),
        200
    );
    let dose = |visit: &'static str, mg: f64| {
        let (app, nurse) = (&app, &e.nurse);
        async move {
            app.post(
                &format!("/api/v1/participants/HERMES-ZAS-101/visits/{visit}/analgesic"),
                Some(nurse),
                json!({"omed_mg_per_day": mg}),
            )
            .await
            .status()
        }
    };
    assert_eq!(dose("BL", 30.0).await, 200);
    assert_eq!(dose("BL", -1.0).await, 422);
    let resp = app
        .request(
            Method::PATCH,
            &format!("/api/v1/participants/HERMES-ZAS-101/lesions/{irradiated}"),
            Some(&e.nurse),
            Some(json!({"irradiation_date": "2026-01-20", "reason": "irradiated 1x8 Gy"})),
        )
        .await;
    assert_eq!(resp.status(), 200);

    // Month 1: the irradiated lesion is pain-free at the same dose; the other rose by 3.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 2, 15, 10, 0, 0)
            .single()
            .expect("t"),
    );
    let m1 = app
        .client
        .post(format!(
            "{}/api/v1/me/visits/M1/responses/nrs-lesion-pain/submit",
            app.address
        ))
        .bearer_auth(&token)
        .header("idempotency-key", "m1")
        .json(&json!({"answers": nrs(0, 3)}))
        .send()
        .await
        .expect("sent");
    assert_eq!(m1.status(), 200, "{}", m1.text().await.unwrap_or_default());
    assert_eq!(dose("M1", 30.0).await, 200);

    let pain: Value = app
        .get("/api/v1/participants/HERMES-ZAS-101/pain", Some(&e.nurse))
        .await
        .json()
        .await
        .expect("json");
    let lesion = |id: &str| {
        pain.as_array()
            .and_then(|l| l.iter().find(|x| x["lesion"] == id))
            .cloned()
            .expect("lesion")
    };
    let a = lesion(&irradiated);
    assert_eq!(a["points"][1]["visit"], "M1");
    assert_eq!(a["points"][1]["change"], -4);
    assert_eq!(a["points"][1]["consensus_category"], "complete");
    assert_eq!(a["points"][1]["assess_for_sse"], false);
    let b = lesion(&other);
    assert_eq!(b["points"][1]["change"], 3);
    assert_eq!(b["points"][1]["assess_for_sse"], true);
    assert_eq!(
        (
            b["points"][1]["consensus_category"].clone(),
            b["points"][1]["not_evaluable"].clone()
        ),
        (json!("not_evaluable"), json!("not_irradiated")),
        "not irradiated: not evaluable, with the reason (#32.16)"
    );

    let flags: Value = app
        .get("/api/v1/pain-flags", Some(&e.nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(flags.as_array().map(Vec::len), Some(1));
    assert_eq!(flags[0]["study_id"], "HERMES-ZAS-101");
    assert_eq!(flags[0]["lesion"]["lesion"], json!(other));

    // Queries: a data manager raises one; the site sees it and closes it.
    let responses: Value = app
        .get(
            "/api/v1/participants/HERMES-ZAS-101/responses",
            Some(&e.nurse),
        )
        .await
        .json()
        .await
        .expect("json");
    let rid = responses[0]["id"].as_str().expect("id").to_string();
    let path = format!("/api/v1/participants/HERMES-ZAS-101/responses/{rid}/queries");
    assert_eq!(
        app.post(&path, Some(&e.nurse), json!({"text": "x"}))
            .await
            .status(),
        403
    );
    let q: Value = app
        .post(
            &path,
            Some(&dm),
            json!({"text": "Pain 4 at baseline despite NRS ≤ 2 eligibility: please confirm"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let listed: Value = app
        .get(&path, Some(&e.nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed[0]["closed_at"], Value::Null);
    let close = format!("{path}/{}/close", q["id"].as_str().expect("id"));
    assert_eq!(
        app.post(
            &close,
            Some(&e.nurse),
            json!({"note": "confirmed with the participant: pain started after screening"})
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        app.post(&close, Some(&e.nurse), json!({"note": "again"}))
            .await
            .status(),
        409
    );
    let rows = app.audit_rows().await;
    for action in ["analgesic.recorded", "query.raised", "query.closed"] {
        assert!(rows.iter().any(|r| r["action"] == action), "{action}");
    }
}

/// Nothing is entered before a visit's window opens, by anyone (409 `window_not_open`), and a
/// paper form's day is neither in the future nor before enrolment (422 naming `completed_on`).
#[tokio::test]
async fn no_entry_before_the_window_opens_and_paper_days_are_plausible() {
    let app = spawn().await;
    let e = enrolled(&app).await;
    // Day 0: M24 is two years away.
    for (mode, extra) in [
        ("interviewer", json!({"reason": "typed early"})),
        (
            "paper",
            json!({"completed_on": "2026-01-15", "reason": "typed early"}),
        ),
    ] {
        let mut body = json!({"mode": mode, "answers": [{"item": "worst_pain", "value": 2, "lesion": e.lesions[0]}]});
        if let (Some(b), Some(x)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(x.clone());
        }
        let resp = staff_submit(&app, &e.nurse, "M24", "nrs-lesion-pain", body).await;
        assert_eq!(resp.status(), 409, "{mode}");
        let b: Value = resp.json().await.expect("json");
        assert_eq!(b["code"], "window_not_open", "{mode}: {b}");
    }
    let draft = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/participants/HERMES-ZAS-101/visits/M24/responses/nrs-lesion-pain",
            Some(&e.nurse),
            Some(json!({"mode": "interviewer", "answers": []})),
        )
        .await;
    assert_eq!(draft.status(), 409);
    // Paper days: tomorrow and the day before enrolment are refused, today is taken.
    for (day, status) in [
        ("2026-01-16", 422),
        ("2026-01-14", 422),
        ("2026-01-15", 200),
    ] {
        let resp = staff_submit(
            &app,
            &e.nurse,
            "BL",
            "nrs-lesion-pain",
            json!({"mode": "paper", "completed_on": day, "answers": [{"item": "worst_pain", "value": 2, "lesion": e.lesions[0]}, {"item": "worst_pain", "value": 1, "lesion": e.lesions[1]}]}),
        )
        .await;
        let s = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(s, status, "{day}: {text}");
        if status == 422 {
            assert!(text.contains("completed_on"), "{day}: {text}");
        }
    }
}

/// A questionnaire with no answered item is not a received form: 422 `empty_response`, nothing
/// stored as submitted; the same form with one answer is taken.
#[tokio::test]
async fn an_empty_form_is_refused_not_counted() {
    let app = spawn().await;
    let e = enrolled(&app).await;
    let token = app.session_token(&e.link_token, &e.pin).await;
    let blank = json!([{"item": "worst_pain", "value": null, "lesion": e.lesions[0]}]);
    let resp = submit(&app, &token, "nrs-lesion-pain", "empty", blank).await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "empty_response", "{body}");
    let tasks: Value = app
        .get("/api/v1/me/tasks", Some(&token))
        .await
        .json()
        .await
        .expect("tasks");
    assert!(
        !tasks.to_string().contains("\"completed\""),
        "nothing was submitted: {tasks}"
    );
    let one = json!([{"item": "worst_pain", "value": 0, "lesion": e.lesions[0]}]);
    let resp = submit(&app, &token, "nrs-lesion-pain", "one", one).await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
}

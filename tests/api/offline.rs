//! Answers sent from a phone that was offline (#28, docs/trial-rules.md "Answers sent from a
//! phone that was offline"): draft saves under a client save id are sent once, two tabs merge
//! item by item, a submission's key reused with other answers is refused.

use chrono::{TimeZone, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// HERMES-ZAS-281, randomized 2026-01-15 (the baseline is open that day), signed in.
async fn signed_in(app: &TestApp) -> String {
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    app.enrol(
        &nurse,
        "HERMES-ZAS-281",
        json!({"randomization_date": "2026-01-15"}),
    )
    .await;
    app.participant_token(&nurse, "HERMES-ZAS-281").await
}

async fn save(app: &TestApp, token: &str, save_id: &str, answers: Value) -> (u16, Value) {
    put(app, token, ("idempotency-key", save_id), answers).await
}

/// A draft PUT of the C30 with one header (`Idempotency-Key` or `If-Match`).
async fn put(app: &TestApp, token: &str, header: (&str, &str), answers: Value) -> (u16, Value) {
    let r = app
        .client
        .request(
            Method::PUT,
            format!(
                "{}/api/v1/me/visits/BL/responses/eortc-qlq-c30",
                app.address
            ),
        )
        .bearer_auth(token)
        .header(header.0, header.1)
        .json(&json!({ "answers": answers }))
        .send()
        .await
        .expect("sent");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn draft_saves(app: &TestApp) -> usize {
    app.audit_rows()
        .await
        .iter()
        .filter(|r| r["action"] == "response.draft_saved")
        .count()
}

fn value_of(draft: &Value, item: &str) -> Value {
    draft["answers"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["item"] == item))
        .map(|x| x["value"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_resent_draft_save_is_saved_once_and_another_body_under_its_id_is_refused() {
    let app = spawn_app().await;
    let token = signed_in(&app).await;

    let (s, first) = save(&app, &token, "tab1-1", json!([{"item": "q1", "value": 2}])).await;
    assert_eq!(s, 200, "{first}");
    // The reply was lost: the page sends the same save again, three times.
    for _ in 0..3 {
        let (s, again) = save(&app, &token, "tab1-1", json!([{"item": "q1", "value": 2}])).await;
        assert_eq!(s, 200, "{again}");
        assert_eq!(again["revision"], first["revision"], "the original result");
    }
    assert_eq!(draft_saves(&app).await, 1, "one save in the audit trail");

    // The same id with other answers: refused, nothing changes.
    let (s, body) = save(&app, &token, "tab1-1", json!([{"item": "q1", "value": 4}])).await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["code"], "idempotency_conflict");
    let (s, now) = save(&app, &token, "tab1-2", json!([])).await;
    assert_eq!(s, 200);
    assert_eq!(value_of(&now, "q1"), json!(2));
}

/// The merge rule: each save carries the items its page changed; an item changed in one tab only
/// keeps that tab's answer; an item changed in both holds the value of the save received last.
#[tokio::test]
async fn two_tabs_of_one_form_both_keep_what_they_changed() {
    let app = spawn_app().await;
    let token = signed_in(&app).await;
    // Both tabs opened the empty form; neither sends a revision.
    let steps: [(&str, Value); 4] = [
        (
            "a-1",
            json!([{"item": "q1", "value": 1}, {"item": "q3", "value": 1}]),
        ),
        ("b-1", json!([{"item": "q2", "value": 3}])),
        ("b-2", json!([{"item": "q3", "value": 4}])),
        ("a-2", json!([{"item": "q4", "value": 2}])),
    ];
    let mut last = Value::Null;
    for (id, answers) in steps {
        let (s, body) = save(&app, &token, id, answers).await;
        assert_eq!(s, 200, "{id}: {body}");
        last = body;
    }
    for (item, want) in [("q1", 1), ("q2", 3), ("q3", 4), ("q4", 2)] {
        assert_eq!(value_of(&last, item), json!(want), "{item}: {last}");
    }
    // Tab A's first save arrives again late (its reply was lost): recognised, q3 stays 4.
    let (s, again) = save(
        &app,
        &token,
        "a-1",
        json!([{"item": "q1", "value": 1}, {"item": "q3", "value": 1}]),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(value_of(&again, "q3"), json!(4), "{again}");
    // Without a save id the revision is still checked (today's rule for other clients).
    let (status, body) = put(
        &app,
        &token,
        ("if-match", "\"1\""),
        json!([{"item": "q5", "value": 1}]),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "draft_changed");
}

#[tokio::test]
async fn a_submission_key_reused_with_other_answers_is_422() {
    let app = spawn_app().await;
    let token = signed_in(&app).await;
    let submit = |answers: Value| {
        app.client
            .post(format!(
                "{}/api/v1/me/visits/BL/responses/eortc-qlq-c30/submit",
                app.address
            ))
            .bearer_auth(&token)
            .header("idempotency-key", "send-1")
            .json(&json!({ "answers": answers }))
            .send()
    };
    let first = submit(json!([{"item": "q1", "value": 2}]))
        .await
        .expect("sent");
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.expect("json");
    let again = submit(json!([{"item": "q1", "value": 2}]))
        .await
        .expect("sent");
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["response_id"], first["response_id"]);
    let other = submit(json!([{"item": "q1", "value": 3}]))
        .await
        .expect("sent");
    assert_eq!(other.status(), 422);
    let other: Value = other.json().await.expect("json");
    assert_eq!(other["code"], "idempotency_conflict");
    let submitted = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| r["action"] == "response.submitted")
        .count();
    assert_eq!(submitted, 1);
}

/// A submission with the phone's completion time (`device_completed_at`).
async fn submit_at(
    app: &TestApp,
    token: &str,
    key: &str,
    answers: Value,
    device: &str,
) -> (u16, Value) {
    let r = app
        .client
        .post(format!(
            "{}/api/v1/me/visits/BL/responses/{key}/submit",
            app.address
        ))
        .bearer_auth(token)
        .header("idempotency-key", format!("late-{key}"))
        .json(&json!({ "answers": answers, "device_completed_at": device }))
        .send()
        .await
        .expect("sent");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn items(range: std::ops::RangeInclusive<u32>) -> Value {
    range
        .map(|n| json!({"item": format!("q{n}"), "value": 1}))
        .collect()
}

/// The value of `column` in the rows of `csv` where `key_column` is `key`.
fn csv_column(csv: &str, key_column: &str, key: &str, column: &str) -> Vec<String> {
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let at = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (k, c) = (at(key_column), at(column));
    r.records()
        .map(|x| x.expect("row"))
        .filter(|row| &row[k] == key)
        .map(|row| row[c].to_string())
        .collect()
}

/// #28.4 (docs/trial-rules.md, "Answers sent from a phone that was offline"): the baseline
/// (randomized on the 15th, so its window ends that day; a week's grace) is opened on the 15th;
/// the phone goes offline and the forms arrive on the 27th, after the visit closed. Finished on the phone inside the window: taken,
/// `synced_late`, both times in the exports. Finished after the grace period by the phone's
/// clock: refused, its answers kept as a quarantined draft the site sees.
#[tokio::test]
async fn a_form_finished_offline_in_the_window_is_taken_late_and_one_outside_is_quarantined() {
    // The session outlives the twelve days offline.
    let app = crate::helpers::spawn_app_with(|s| s.session_hours = 24 * 365).await;
    let token = signed_in(&app).await;
    // Both forms opened (a first answer saved) inside the window.
    for key in ["eortc-qlq-c30", "eortc-qlq-bm22"] {
        let first = if key == "eortc-qlq-c30" { "q1" } else { "q31" };
        let r = app
            .client
            .put(format!(
                "{}/api/v1/me/visits/BL/responses/{key}",
                app.address
            ))
            .bearer_auth(&token)
            .header("idempotency-key", format!("open-{key}"))
            .json(&json!({ "answers": [{"item": first, "value": 1}] }))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), 200, "{key}");
    }
    let received = Utc
        .with_ymd_and_hms(2026, 1, 27, 10, 0, 0)
        .single()
        .expect("t");
    app.clock.set(received);

    // Finished on the 15th (inside the window), received on the 27th.
    let (s, body) = submit_at(
        &app,
        &token,
        "eortc-qlq-c30",
        items(1..=30),
        "2026-01-15T15:00:00Z",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["synced_late"], true, "{body}");
    assert_eq!(body["late"], false, "finished inside the window: not late");
    assert_eq!(body["device_completed_at"], "2026-01-15T15:00:00+00:00");
    assert_eq!(body["submitted_at"], "2026-01-27T10:00:00+00:00");

    // Finished on the 26th by the phone's clock (after the grace period): refused, kept.
    let (s, body) = submit_at(
        &app,
        &token,
        "eortc-qlq-bm22",
        items(31..=52),
        "2026-01-26T10:00:00Z",
    )
    .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["code"], "offline_completion_refused");
    let message = body["message"].as_str().unwrap_or_default();
    for part in [
        "visit BL",
        "2026-01-26T10:00:00",
        "2026-01-27T10:00:00",
        "outside the window",
    ] {
        assert!(message.contains(part), "{part} in {message}");
    }
    // A resend of the same refusal changes nothing more.
    let (s, _) = submit_at(
        &app,
        &token,
        "eortc-qlq-bm22",
        items(31..=52),
        "2026-01-26T10:00:00Z",
    )
    .await;
    assert_eq!(s, 409);
    let quarantined = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| r["action"] == "response.quarantined")
        .count();
    assert_eq!(quarantined, 1, "one quarantine event");
    assert_eq!(
        app.sql_count(
            "SELECT COUNT(*) FROM answer a JOIN response r ON r.id = a.response_id \
             WHERE r.questionnaire_key = 'eortc-qlq-bm22' AND r.status = 'draft' \
             AND r.quarantined_at IS NOT NULL"
        )
        .await,
        22,
        "every answer kept in the quarantined draft"
    );

    // A phone clock later than the receipt is not plausible (the NRS, opened by this request).
    let (s, body) = submit_at(
        &app,
        &token,
        "nrs-lesion-pain",
        json!([]),
        "2026-01-28T10:00:00Z",
    )
    .await;
    assert_eq!(s, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("later than the server"),
        "{body}"
    );

    // The exports carry both times and the flag.
    let dm = app.staff_token("data_manager", &[]).await;
    let text = |path: &'static str| {
        let (app, dm) = (&app, dm.clone());
        async move { app.get(path, Some(&dm)).await.text().await.expect("csv") }
    };
    let answers = text("/api/v1/exports/answers.csv").await;
    let synced = csv_column(&answers, "questionnaire", "eortc-qlq-c30", "synced_late");
    assert_eq!(synced.len(), 30);
    assert!(synced.iter().all(|v| v == "true"), "{synced:?}");
    let device = csv_column(
        &answers,
        "questionnaire",
        "eortc-qlq-c30",
        "device_completed_at",
    );
    assert!(
        device.iter().all(|v| v.starts_with("2026-01-15T15:00:00")),
        "{device:?}"
    );
    let day = csv_column(
        &answers,
        "questionnaire",
        "eortc-qlq-c30",
        "assessment_date",
    );
    assert!(day.iter().all(|v| v == "2026-01-15"), "{day:?}");
    let visits = text("/api/v1/exports/visits.csv").await;
    let mut synced = csv_column(&visits, "questionnaire", "eortc-qlq-c30@3.0", "synced_late");
    synced.retain(|v| !v.is_empty());
    assert_eq!(synced, ["true"], "{visits}");
    let dictionary = text("/api/v1/exports/dictionary.csv").await;
    assert!(
        dictionary.contains("visits.csv,synced_late")
            && dictionary.contains("answers.csv,device_completed_at")
    );

    // The site sees the waiting form on the participant's record, with both times.
    let (email, password, _) = app.staff_account("site_staff", &["ZAS"]).await;
    let nurse = crate::pages::sign_in(&app, &email, &password).await;
    let (_, html) = crate::pages::page(&nurse, &app, "/staff/participants/HERMES-ZAS-281").await;
    let lines: Vec<&str> = html
        .split("class=\"offline-late\">")
        .skip(1)
        .filter_map(|s| s.split('<').next())
        .collect();
    assert_eq!(
        lines.len(),
        3,
        "the taken form and the two waiting: {lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("26") && l.contains("27") && l.contains("11:00")),
        "{lines:?}"
    );

    // The audit trail still verifies, the new columns bound.
    let out = app.cli(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

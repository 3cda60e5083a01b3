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

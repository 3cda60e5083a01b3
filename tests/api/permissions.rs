//! Every staff endpoint × every actor, table-driven: the HTTP face of docs/permissions.md.

use reqwest::Method;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn endpoint_by_actor_matrix() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let dm = app.staff_token("data_manager", &[]).await;
    let monitor = app.staff_token("monitor", &["ZAS"]).await;
    let staff = app.staff_token("site_staff", &["ZAS"]).await;
    // A bystander account that the user endpoints act on.
    let target: serde_json::Value = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"email": "target@hermes.test", "password": "initial-password-1", "role": "site_staff", "sites": ["UZG"]}),
        )
        .await
        .json()
        .await
        .expect("json");
    let user_id = target["id"].as_str().expect("id").to_string();
    // One participant at ZAS (enrolled by its site staff) and one at UZG.
    let uzg_staff = app.staff_token("site_staff", &["UZG"]).await;
    for (token, body) in [
        (
            &staff,
            json!({"study_id": "HERMES-ZAS-001", "site": "ZAS", "language": "nl", "randomization_date": "2026-03-01"}),
        ),
        (
            &uzg_staff,
            json!({"study_id": "HERMES-UZG-001", "site": "UZG", "language": "nl"}),
        ),
    ] {
        assert_eq!(
            app.post("/api/v1/participants", Some(token), body)
                .await
                .status(),
            200
        );
    }
    let zas: serde_json::Value = app
        .get("/api/v1/participants/HERMES-ZAS-001", Some(&dm))
        .await
        .json()
        .await
        .expect("json");
    let event_id = zas["events"][0]["id"]
        .as_str()
        .expect("randomization event")
        .to_string();

    let reason = json!({ "reason": "permission test" });
    // (method, path, body, [admin, data_manager, monitor ZAS, site_staff ZAS, anonymous])
    let table: Vec<(Method, String, Option<serde_json::Value>, [u16; 5])> = vec![
        (
            Method::GET,
            "/api/v1/auth/me".into(),
            None,
            [200, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/users".into(),
            None,
            [200, 403, 403, 403, 401],
        ),
        (
            Method::GET,
            "/api/v1/completion".into(),
            None,
            [403, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            format!("/api/v1/users/{user_id}"),
            None,
            [200, 403, 403, 403, 401],
        ),
        (
            Method::POST,
            "/api/v1/users".into(),
            Some(
                json!({"email": "x@hermes.test", "password": "initial-password-1", "role": "monitor", "sites": ["UZG"]}),
            ),
            [200, 403, 403, 403, 401],
        ),
        (
            Method::POST,
            format!("/api/v1/users/{user_id}/enable"),
            Some(reason.clone()),
            [200, 403, 403, 403, 401],
        ),
        (
            Method::POST,
            format!("/api/v1/users/{user_id}/reset-password"),
            Some(reason.clone()),
            [200, 403, 403, 403, 401],
        ),
        (
            Method::GET,
            "/api/v1/sites".into(),
            None,
            [200, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/sites/UZG".into(),
            None,
            [200, 200, 200, 200, 401],
        ),
        (
            Method::POST,
            "/api/v1/sites/UZG/enable".into(),
            Some(reason.clone()),
            [200, 403, 403, 403, 401],
        ),
        (
            Method::GET,
            "/api/v1/audit/head".into(),
            None,
            [200, 200, 200, 403, 401],
        ),
        (
            Method::GET,
            "/api/v1/lesion-locations".into(),
            None,
            [200, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/participants".into(),
            None,
            [403, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/participants/HERMES-ZAS-001".into(),
            None,
            [403, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/participants/HERMES-UZG-001".into(),
            None,
            [403, 200, 404, 404, 401],
        ),
        (
            Method::GET,
            "/api/v1/participants/HERMES-ZAS-001/schedule".into(),
            None,
            [403, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/participants/HERMES-ZAS-001/lesions".into(),
            None,
            [403, 200, 200, 200, 401],
        ),
        (
            Method::POST,
            "/api/v1/participants".into(),
            Some(json!({"study_id": "HERMES-ZAS-002", "site": "ZAS", "language": "fr"})),
            [403, 403, 403, 200, 401],
        ),
        (
            Method::POST,
            "/api/v1/participants/HERMES-ZAS-001/lesions".into(),
            Some(
                json!({"location": "L2", "labels": {"nl": "rug", "fr": "dos", "en": "back"}, "high_risk_reasons": ["size_2cm"]}),
            ),
            [403, 403, 403, 200, 401],
        ),
        (
            Method::POST,
            "/api/v1/participants/HERMES-UZG-001/lesions".into(),
            Some(
                json!({"location": "L2", "labels": {"nl": "rug", "fr": "dos", "en": "back"}, "high_risk_reasons": ["size_2cm"]}),
            ),
            [403, 403, 403, 404, 401],
        ),
        (
            Method::POST,
            "/api/v1/participants/HERMES-ZAS-001/events".into(),
            Some(json!({"type": "pro_discontinued", "date": "2026-03-01", "reason": "too ill"})),
            [403, 403, 403, 200, 401],
        ),
        (
            Method::POST,
            "/api/v1/participants/HERMES-ZAS-001/access-link".into(),
            Some(json!({})),
            [403, 403, 403, 200, 401],
        ),
        (
            Method::POST,
            "/api/v1/participants/HERMES-UZG-001/pin".into(),
            Some(json!({})),
            [403, 403, 403, 404, 401],
        ),
        (
            Method::GET,
            "/api/v1/participants/HERMES-ZAS-001/responses".into(),
            None,
            [403, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/participants/HERMES-UZG-001/responses".into(),
            None,
            [403, 200, 404, 404, 401],
        ),
        (
            Method::GET,
            "/api/v1/exports/answers.csv".into(),
            None,
            [403, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/exports/visits.csv".into(),
            None,
            [403, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/exports/scores.csv".into(),
            None,
            [403, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/exports/fhir.ndjson".into(),
            None,
            [403, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/exports/dictionary.csv".into(),
            None,
            [403, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/exports/audit.csv".into(),
            None,
            [403, 200, 403, 403, 401],
        ),
        (
            Method::GET,
            "/api/v1/participants/HERMES-ZAS-001/pain".into(),
            None,
            [403, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/participants/HERMES-UZG-001/pain".into(),
            None,
            [403, 200, 404, 404, 401],
        ),
        (
            Method::GET,
            "/api/v1/pain-flags".into(),
            None,
            [403, 200, 200, 200, 401],
        ),
        (
            Method::POST,
            "/api/v1/participants/HERMES-ZAS-002/visits/BL/analgesic".into(),
            Some(json!({"omed_mg_per_day": 10.0})),
            [403, 403, 403, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/reminders".into(),
            None,
            [403, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/participants/HERMES-ZAS-001/reminders".into(),
            None,
            [403, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/participants/HERMES-UZG-001/reminders".into(),
            None,
            [403, 200, 404, 404, 401],
        ),
        (
            Method::POST,
            "/api/v1/reminders/00000000-0000-0000-0000-000000000000/resend".into(),
            Some(json!({})),
            [403, 403, 403, 404, 401],
        ),
        (
            Method::POST,
            "/api/v1/participants/HERMES-ZAS-002/visits/BL/missed".into(),
            Some(json!({"reason": "declined"})),
            [403, 403, 403, 200, 401],
        ),
        (
            Method::POST,
            format!("/api/v1/participants/HERMES-ZAS-001/events/{event_id}/correct"),
            Some(json!({"date": "2026-03-01", "reason": "typo"})),
            [403, 200, 403, 403, 401],
        ),
    ];
    let actors = [Some(&admin), Some(&dm), Some(&monitor), Some(&staff), None];
    let names = [
        "admin",
        "data_manager",
        "monitor",
        "site_staff",
        "anonymous",
    ];
    for (method, path, body, expected) in table {
        for ((actor, name), want) in actors.iter().zip(names).zip(expected) {
            let resp = app
                .request(
                    method.clone(),
                    &path,
                    actor.map(|s| s.as_str()),
                    body.clone(),
                )
                .await;
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            // A create that succeeded once conflicts the second time; only admin gets that far.
            assert_eq!(status, want, "{name} {method} {path}: {text}");
        }
    }
}

#[tokio::test]
async fn unknown_site_is_404_with_json() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let resp = app.get("/api/v1/sites/NOPE", Some(&admin)).await;
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "not_found");
}

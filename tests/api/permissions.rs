//! Every endpoint × every actor, table-driven: the HTTP face of docs/permissions.md. The table
//! covers every operation of the OpenAPI document (checked), and docs/permissions.md holds the
//! same table (checked; `EPRO_WRITE_PERMISSIONS_MATRIX=1 cargo test permission` rewrites it).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

/// The actors, in the table's column order.
const ACTORS: [&str; 8] = [
    "admin",
    "data manager",
    "monitor (ZAS)",
    "site staff (ZAS)",
    "site staff (UZG)",
    "participant (ZAS)",
    "participant (UZG)",
    "anonymous",
];

struct Row {
    /// What the docs show, e.g. `GET /api/v1/participants/{study_id}` (another site's).
    label: String,
    /// The OpenAPI operation it exercises: method and `/api…{param}` template.
    op: (Method, String),
    path: String,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
    expect: [u16; 8],
}

fn row(
    method: Method,
    template: &str,
    note: &str,
    path: String,
    body: Option<Value>,
    expect: &str,
) -> Row {
    let expect: Vec<u16> = expect
        .split_whitespace()
        .map(|s| s.parse().expect("status"))
        .collect();
    Row {
        label: if note.is_empty() {
            format!("{method} {template}")
        } else {
            format!("{method} {template} ({note})")
        },
        op: (method, template.to_string()),
        path,
        body,
        headers: vec![],
        expect: expect.try_into().expect("eight statuses"),
    }
}

fn with_header(mut r: Row, name: &'static str, value: &str) -> Row {
    r.headers.push((name, value.to_string()));
    r
}

async fn send(app: &TestApp, r: &Row, token: Option<&str>) -> (u16, String) {
    let mut req = app
        .client
        .request(r.op.0.clone(), format!("{}{}", app.address, r.path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in &r.headers {
        req = req.header(*k, v);
    }
    if let Some(b) = &r.body {
        req = req.json(b);
    }
    let resp = req.send().await.expect("sent");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.expect("json")
}

#[tokio::test]
async fn every_endpoint_by_every_actor() {
    let app = spawn_app_with(|s| s.session_hours = 24 * 365).await;
    let admin = app.admin_token().await;
    let dm = app.staff_token("data_manager", &[]).await;
    let monitor = app.staff_token("monitor", &["ZAS"]).await;
    let staff = app.staff_token("site_staff", &["ZAS"]).await;
    let staff_b = app.staff_token("site_staff", &["UZG"]).await;
    let target = json_of(
        app.post(
            "/api/v1/users",
            Some(&admin),
            json!({"email": "target@hermes.test", "password": "initial-password-1", "role": "site_staff", "sites": ["UZG"]}),
        )
        .await,
    )
    .await;
    let user_id = target["id"].as_str().expect("id").to_string();
    // A FHIR client (#26) to disable and enable; the key is RFC 7517's example RSA public key.
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "matrix", "e": "AQAB", "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}]});
    let fhir_client = json_of(
        app.post(
            "/api/v1/fhir/clients",
            Some(&admin),
            json!({"name": "matrix engine", "jwks": jwks, "sites": ["ZAS"], "scopes": ["system/QuestionnaireResponse.rs"]}),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .expect("client id")
        .to_string();
    // A Subscription of that client (#26.3) to disable, enable and replay.
    let hook = json!({"criteria": "QuestionnaireResponse?status=completed", "endpoint": "http://127.0.0.1:9/hook"});
    let fhir_sub = json_of(
        app.post(
            &format!("/api/v1/fhir/clients/{fhir_client}/subscriptions"),
            Some(&admin),
            hook.clone(),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .expect("subscription id")
        .to_string();
    // An account the login row signs in with (whoever calls: the bearer token is ignored there).
    let (probe_email, probe_password, _) = app.staff_account("monitor", &["ZAS"]).await;
    // ZAS-001 and UZG-001 answer; ZAS-002 is for staff entry.
    for (token, id, site) in [
        (&staff, "HERMES-ZAS-001", "ZAS"),
        (&staff, "HERMES-ZAS-002", "ZAS"),
        (&staff_b, "HERMES-UZG-001", "UZG"),
    ] {
        let resp = app
            .post(
                "/api/v1/participants",
                Some(token),
                json!({"study_id": id, "site": site, "language": "nl", "randomization_date": "2026-03-01", "arm": "A"}),
            )
            .await;
        assert_eq!(resp.status(), 200, "enrol {id}");
        let resp = app
            .post(
                &format!("/api/v1/participants/{id}/lesions"),
                Some(token),
                json!({"location": "L3", "labels": {"nl": "onderrug", "fr": "bas du dos", "en": "lower back"}, "high_risk_reasons": ["size_2cm"]}),
            )
            .await;
        assert_eq!(resp.status(), 200, "lesion {id}");
    }
    let zas = json_of(
        app.get("/api/v1/participants/HERMES-ZAS-001", Some(&dm))
            .await,
    )
    .await;
    let event_id = zas["events"][0]["id"].as_str().expect("event").to_string();
    let lesions = json_of(
        app.get("/api/v1/participants/HERMES-ZAS-001/lesions", Some(&dm))
            .await,
    )
    .await;
    let lesion_id = lesions[0]["id"].as_str().expect("lesion").to_string();
    let pa = app.participant_token(&staff, "HERMES-ZAS-001").await;
    let pb = app.participant_token(&staff_b, "HERMES-UZG-001").await;
    // Participant A sends the NRS; a data manager raises a query on it.
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/me/visits/BL/responses/nrs-lesion-pain/submit",
            app.address
        ))
        .bearer_auth(&pa)
        .header("Idempotency-Key", "setup")
        .json(&json!({"answers": [{"item": "worst_pain", "lesion": lesion_id, "value": 3}]}))
        .send()
        .await
        .expect("submit");
    assert_eq!(resp.status(), 200, "setup submission");
    let response_id = json_of(resp).await["response_id"]
        .as_str()
        .expect("response id")
        .to_string();
    let query = json_of(
        app.post(
            &format!("/api/v1/participants/HERMES-ZAS-001/responses/{response_id}/queries"),
            Some(&dm),
            json!({"text": "please confirm"}),
        )
        .await,
    )
    .await;
    let query_id = query["id"].as_str().expect("query id").to_string();

    let reason = json!({ "reason": "permission test" });
    let zas1 = "/api/v1/participants/HERMES-ZAS-001";
    let uzg1 = "/api/v1/participants/HERMES-UZG-001";
    let zas2 = "/api/v1/participants/HERMES-ZAS-002";
    use Method as M;
    //                                                       adm  dm  mon stA stB  pA  pB anon
    #[rustfmt::skip]
    let rows: Vec<Row> = vec![
        row(M::GET, "/healthz", "", "/healthz".into(), None, "200 200 200 200 200 200 200 200"),
        row(M::GET, "/readyz", "", "/readyz".into(), None, "200 200 200 200 200 200 200 200"),
        row(M::POST, "/api/v1/auth/login", "any caller", "/api/v1/auth/login".into(), Some(json!({"email": probe_email, "password": probe_password})), "200 200 200 200 200 200 200 200"),
        row(M::POST, "/api/v1/auth/participant", "unknown link", "/api/v1/auth/participant".into(), Some(json!({"link_token": "no-such-link", "pin": "0000"})), "401 401 401 401 401 401 401 401"),
        row(M::GET, "/api/v1/auth/me", "", "/api/v1/auth/me".into(), None, "200 200 200 200 200 401 401 401"),
        row(M::PUT, "/api/v1/auth/password", "too short a new one", "/api/v1/auth/password".into(), Some(json!({"current_password": "x", "new_password": "short"})), "422 422 422 422 422 401 401 401"),
        row(M::GET, "/api/v1/users", "", "/api/v1/users".into(), None, "200 403 403 403 403 401 401 401"),
        row(M::POST, "/api/v1/users", "", "/api/v1/users".into(), Some(json!({"email": "x@hermes.test", "password": "initial-password-1", "role": "monitor", "sites": ["UZG"]})), "200 403 403 403 403 401 401 401"),
        row(M::GET, "/api/v1/users/{id}", "", format!("/api/v1/users/{user_id}"), None, "200 403 403 403 403 401 401 401"),
        row(M::POST, "/api/v1/users/{id}/disable", "", format!("/api/v1/users/{user_id}/disable"), Some(reason.clone()), "200 403 403 403 403 401 401 401"),
        row(M::POST, "/api/v1/users/{id}/enable", "", format!("/api/v1/users/{user_id}/enable"), Some(reason.clone()), "200 403 403 403 403 401 401 401"),
        row(M::POST, "/api/v1/users/{id}/reset-password", "", format!("/api/v1/users/{user_id}/reset-password"), Some(reason.clone()), "200 403 403 403 403 401 401 401"),
        row(M::GET, "/api/v1/fhir/clients", "", "/api/v1/fhir/clients".into(), None, "200 403 403 403 403 401 401 401"),
        row(M::POST, "/api/v1/fhir/clients", "", "/api/v1/fhir/clients".into(), Some(json!({"name": "another engine", "jwks": jwks, "sites": ["UZG"], "scopes": ["system/Patient.rs"]})), "200 403 403 403 403 401 401 401"),
        row(M::POST, "/api/v1/fhir/clients/{id}/disable", "", format!("/api/v1/fhir/clients/{fhir_client}/disable"), None, "200 403 403 403 403 401 401 401"),
        row(M::POST, "/api/v1/fhir/clients/{id}/enable", "", format!("/api/v1/fhir/clients/{fhir_client}/enable"), None, "200 403 403 403 403 401 401 401"),
        row(M::POST, "/api/v1/fhir/clients/{id}/subscriptions", "", format!("/api/v1/fhir/clients/{fhir_client}/subscriptions"), Some(hook.clone()), "200 403 403 403 403 401 401 401"),
        row(M::GET, "/api/v1/fhir/subscriptions", "", "/api/v1/fhir/subscriptions".into(), None, "200 403 403 403 403 401 401 401"),
        row(M::POST, "/api/v1/fhir/subscriptions/{id}/disable", "", format!("/api/v1/fhir/subscriptions/{fhir_sub}/disable"), None, "200 403 403 403 403 401 401 401"),
        row(M::POST, "/api/v1/fhir/subscriptions/{id}/enable", "", format!("/api/v1/fhir/subscriptions/{fhir_sub}/enable"), None, "200 403 403 403 403 401 401 401"),
        row(M::POST, "/api/v1/fhir/subscriptions/{id}/replay", "", format!("/api/v1/fhir/subscriptions/{fhir_sub}/replay"), Some(json!({"since": "2026-01-01T00:00:00Z"})), "200 403 403 403 403 401 401 401"),
        row(M::GET, "/api/v1/sites", "", "/api/v1/sites".into(), None, "200 200 200 200 200 401 401 401"),
        row(M::GET, "/api/v1/sites/{code}", "", "/api/v1/sites/UZG".into(), None, "200 200 200 200 200 401 401 401"),
        row(M::POST, "/api/v1/sites/{code}/disable", "", "/api/v1/sites/AZORG/disable".into(), Some(reason.clone()), "200 403 403 403 403 401 401 401"),
        row(M::POST, "/api/v1/sites/{code}/enable", "", "/api/v1/sites/AZORG/enable".into(), Some(reason.clone()), "200 403 403 403 403 401 401 401"),
        row(M::GET, "/api/v1/audit/head", "", "/api/v1/audit/head".into(), None, "200 200 200 403 403 401 401 401"),
        row(M::GET, "/api/v1/audit/checkpoints", "", "/api/v1/audit/checkpoints".into(), None, "200 200 200 403 403 401 401 401"),
        row(M::GET, "/api/v1/questionnaires", "", "/api/v1/questionnaires".into(), None, "200 200 200 200 200 200 200 200"),
        row(M::GET, "/api/v1/questionnaires/{key}/{version}", "", "/api/v1/questionnaires/eortc-qlq-c30/3.0?lang=nl".into(), None, "200 200 200 200 200 200 200 200"),
        row(M::GET, "/api/v1/questionnaires/{key}/{version}/fhir", "", "/api/v1/questionnaires/eortc-qlq-c30/3.0/fhir?lang=nl".into(), None, "200 200 200 200 200 200 200 200"),
        row(M::POST, "/api/v1/questionnaires/{key}/{version}/score", "", "/api/v1/questionnaires/eortc-qlq-c30/3.0/score".into(), Some(json!({"answers": [{"item": "q1", "value": 2}]})), "200 200 200 200 200 200 200 200"),
        row(M::GET, "/api/v1/lesion-locations", "", "/api/v1/lesion-locations".into(), None, "200 200 200 200 200 401 401 401"),
        row(M::GET, "/api/v1/participants", "each sees their own sites", "/api/v1/participants".into(), None, "403 200 200 200 200 401 401 401"),
        row(M::POST, "/api/v1/participants", "at ZAS; another site's staff: 422 naming the site", "/api/v1/participants".into(), Some(json!({"study_id": "HERMES-ZAS-003", "site": "ZAS", "language": "nl"})), "403 403 403 200 422 401 401 401"),
        row(M::GET, "/api/v1/participants/{study_id}", "ZAS", zas1.into(), None, "403 200 200 200 404 401 401 401"),
        row(M::GET, "/api/v1/participants/{study_id}", "UZG", uzg1.into(), None, "403 200 404 404 200 401 401 401"),
        row(M::PATCH, "/api/v1/participants/{study_id}", "ZAS", zas1.into(), Some(json!({"language": "fr", "reason": "asked for French"})), "403 403 403 200 404 401 401 401"),
        row(M::GET, "/api/v1/participants/{study_id}/schedule", "ZAS", format!("{zas1}/schedule"), None, "403 200 200 200 404 401 401 401"),
        row(M::GET, "/api/v1/participants/{study_id}/lesions", "ZAS", format!("{zas1}/lesions"), None, "403 200 200 200 404 401 401 401"),
        row(M::POST, "/api/v1/participants/{study_id}/lesions", "ZAS", format!("{zas1}/lesions"), Some(json!({"location": "sacrum", "labels": {"nl": "heiligbeen", "fr": "sacrum", "en": "sacrum"}, "high_risk_reasons": ["size_2cm"]})), "403 403 403 200 404 401 401 401"),
        row(M::PATCH, "/api/v1/participants/{study_id}/lesions/{lesion_id}", "ZAS", format!("{zas1}/lesions/{lesion_id}"), Some(json!({"detail": "checked", "reason": "permission test"})), "403 403 403 200 404 401 401 401"),
        row(M::POST, "/api/v1/participants/{study_id}/events", "ZAS", format!("{zas2}/events"), Some(json!({"type": "sse", "date": "2026-03-01", "sse_type": "pathological_fracture", "reason": "permission test"})), "403 403 403 200 404 401 401 401"),
        row(M::POST, "/api/v1/participants/{study_id}/events/{event_id}/correct", "ZAS", format!("{zas1}/events/{event_id}/correct"), Some(json!({"date": "2026-03-01", "reason": "typo"})), "403 200 403 403 403 401 401 401"),
        row(M::POST, "/api/v1/participants/{study_id}/access-link", "ZAS", format!("{zas2}/access-link"), Some(json!({})), "403 403 403 200 404 401 401 401"),
        row(M::POST, "/api/v1/participants/{study_id}/access-link/revoke", "ZAS", format!("{zas2}/access-link/revoke"), Some(json!({"reason": "permission test"})), "403 403 403 200 404 401 401 401"),
        row(M::GET, "/api/v1/participants/{study_id}/responses", "ZAS", format!("{zas1}/responses"), None, "403 200 200 200 404 401 401 401"),
        row(M::GET, "/api/v1/participants/{study_id}/responses/{response_id}/queries", "ZAS", format!("{zas1}/responses/{response_id}/queries"), None, "403 200 200 200 404 401 401 401"),
        row(M::POST, "/api/v1/participants/{study_id}/responses/{response_id}/queries", "ZAS", format!("{zas1}/responses/{response_id}/queries"), Some(json!({"text": "another question"})), "403 200 403 403 403 401 401 401"),
        row(M::POST, "/api/v1/participants/{study_id}/responses/{response_id}/queries/{query_id}/close", "ZAS", format!("{zas1}/responses/{response_id}/queries/{query_id}/close"), Some(json!({"note": "confirmed with the participant"})), "403 403 403 200 404 401 401 401"),
        row(M::POST, "/api/v1/participants/{study_id}/responses/{response_id}/amend", "ZAS", format!("{zas1}/responses/{response_id}/amend"), Some(json!({"basis": "participant_request", "reason": "participant corrected", "answers": [{"item": "worst_pain", "lesion": lesion_id, "value": 4}]})), "403 403 403 200 404 401 401 401"),
        row(M::PUT, "/api/v1/participants/{study_id}/visits/{visit}/responses/{key}", "ZAS, interview", format!("{zas2}/visits/BL/responses/eortc-qlq-bm22"), Some(json!({"mode": "interviewer", "answers": [{"item": "q31", "value": 1}]})), "403 403 403 200 404 401 401 401"),
        with_header(row(M::POST, "/api/v1/participants/{study_id}/visits/{visit}/responses/{key}/submit", "ZAS, interview", format!("{zas2}/visits/BL/responses/eortc-qlq-bm22/submit"), Some(json!({"mode": "interviewer"})), "403 403 403 200 404 401 401 401"), "Idempotency-Key", "matrix-bm22"),
        row(M::POST, "/api/v1/participants/{study_id}/visits/{visit}/analgesic", "ZAS", format!("{zas2}/visits/BL/analgesic"), Some(json!({"omed_mg_per_day": 30.0})), "403 403 403 200 404 401 401 401"),
        row(M::POST, "/api/v1/participants/{study_id}/visits/{visit}/missed", "ZAS", format!("{zas2}/visits/M1/missed"), Some(json!({"reason": "declined"})), "403 403 403 200 404 401 401 401"),
        row(M::GET, "/api/v1/participants/{study_id}/pain", "ZAS", format!("{zas1}/pain"), None, "403 200 200 200 404 401 401 401"),
        row(M::GET, "/api/v1/participants/{study_id}/reminders", "ZAS", format!("{zas1}/reminders"), None, "403 200 200 200 404 401 401 401"),
        row(M::GET, "/api/v1/pain-flags", "", "/api/v1/pain-flags".into(), None, "403 200 200 200 200 401 401 401"),
        row(M::GET, "/api/v1/completion", "", "/api/v1/completion".into(), None, "403 200 200 200 200 401 401 401"),
        row(M::GET, "/api/v1/reminders", "", "/api/v1/reminders".into(), None, "403 200 200 200 200 401 401 401"),
        row(M::GET, "/api/v1/sms/delivery", "forged", "/api/v1/sms/delivery?reminder=00000000-0000-0000-0000-000000000000&sig=00&status=1".into(), None, "401 401 401 401 401 401 401 401"),
        row(M::POST, "/api/v1/sms/delivery", "forged", "/api/v1/sms/delivery?reminder=00000000-0000-0000-0000-000000000000&sig=00&status=1".into(), None, "401 401 401 401 401 401 401 401"),
        row(M::POST, "/api/v1/reminders/{id}/resend", "unknown id", "/api/v1/reminders/00000000-0000-0000-0000-000000000000/resend".into(), Some(reason.clone()), "403 403 403 404 404 401 401 401"),
        row(M::GET, "/api/v1/exports/{file}", "answers", "/api/v1/exports/answers.csv".into(), None, "403 200 200 200 200 401 401 401"),
        row(M::GET, "/api/v1/exports/{file}", "drafts too", "/api/v1/exports/answers.csv?include=drafts".into(), None, "403 200 403 403 403 401 401 401"),
        row(M::GET, "/api/v1/exports/{file}", "visits", "/api/v1/exports/visits.csv".into(), None, "403 200 200 200 200 401 401 401"),
        row(M::GET, "/api/v1/exports/{file}", "scores", "/api/v1/exports/scores.csv".into(), None, "403 200 200 200 200 401 401 401"),
        row(M::GET, "/api/v1/exports/{file}", "pain", "/api/v1/exports/pain.csv".into(), None, "403 200 200 200 200 401 401 401"),
        row(M::GET, "/api/v1/exports/{file}", "qs", "/api/v1/exports/qs.csv".into(), None, "403 200 200 200 200 401 401 401"),
        row(M::GET, "/api/v1/exports/{file}", "dictionary", "/api/v1/exports/dictionary.csv".into(), None, "403 200 200 200 200 401 401 401"),
        row(M::GET, "/api/v1/exports/{file}", "FHIR", "/api/v1/exports/fhir.ndjson".into(), None, "403 200 200 200 200 401 401 401"),
        row(M::GET, "/api/v1/exports/{file}", "audit", "/api/v1/exports/audit.csv".into(), None, "403 200 403 403 403 401 401 401"),
        row(M::GET, "/api/v1/me/tasks", "own", "/api/v1/me/tasks".into(), None, "401 401 401 401 401 200 200 401"),
        row(M::GET, "/api/v1/me/visits/{visit}/questionnaires/{key}", "own", "/api/v1/me/visits/BL/questionnaires/eortc-qlq-c30".into(), None, "401 401 401 401 401 200 200 401"),
        row(M::PUT, "/api/v1/me/visits/{visit}/responses/{key}", "own", "/api/v1/me/visits/BL/responses/eortc-qlq-c30".into(), Some(json!({"answers": [{"item": "q1", "value": 2}]})), "401 401 401 401 401 200 200 401"),
        with_header(row(M::POST, "/api/v1/me/visits/{visit}/responses/{key}/submit", "own", "/api/v1/me/visits/BL/responses/eortc-qlq-c30/submit".into(), Some(json!({})), "401 401 401 401 401 200 200 401"), "Idempotency-Key", "matrix-c30"),
        // A PIN reset ends the participant's sessions: it runs after the participant's own rows.
        row(M::POST, "/api/v1/participants/{study_id}/pin", "UZG", format!("{uzg1}/pin"), Some(json!({"pin": "4826"})), "403 403 403 404 200 401 401 401"),
        // Last: ends the sessions it is sent with.
        row(M::POST, "/api/v1/auth/logout", "", "/api/v1/auth/logout".into(), None, "204 204 204 204 204 401 401 401"),
    ];

    // Every operation of the OpenAPI document has a row.
    let spec = json_of(app.get("/api/openapi.json", None).await).await;
    let mut missing = Vec::new();
    for (path, ops) in spec["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("ops").keys() {
            let m = method.to_ascii_uppercase();
            let template = format!("/api{path}");
            if !rows
                .iter()
                .any(|r| r.op.0.as_str() == m && r.op.1 == template)
            {
                missing.push(format!("{m} {template}"));
            }
        }
    }
    assert!(missing.is_empty(), "operations without a row: {missing:#?}");

    let tokens = [
        Some(admin.as_str()),
        Some(dm.as_str()),
        Some(monitor.as_str()),
        Some(staff.as_str()),
        Some(staff_b.as_str()),
        Some(pa.as_str()),
        Some(pb.as_str()),
        None,
    ];
    let mut failures = Vec::new();
    for r in &rows {
        for ((token, actor), want) in tokens.iter().zip(ACTORS).zip(r.expect) {
            let (status, body) = send(&app, r, *token).await;
            if status != want {
                failures.push(format!(
                    "{} as {actor}: {status}, expected {want}: {body}",
                    r.label
                ));
            }
            if status >= 400 {
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                if !(v["code"].is_string() && v["message"].is_string()) {
                    failures.push(format!(
                        "{} as {actor}: error body is not {{code, message}}: {body}",
                        r.label
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // docs/permissions.md holds this table.
    let mut table = String::from("| Endpoint |");
    for a in ACTORS {
        table.push_str(&format!(" {a} |"));
    }
    table.push_str("\n|---|");
    table.push_str(&"---|".repeat(ACTORS.len()));
    table.push('\n');
    for r in &rows {
        table.push_str(&format!("| {} |", r.label));
        for s in r.expect {
            table.push_str(&format!(" {s} |"));
        }
        table.push('\n');
    }
    let doc_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/permissions.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/permissions.md");
    let (start, end) = ("<!-- matrix:start -->\n", "<!-- matrix:end -->");
    let (a, b) = (
        doc.find(start).expect("matrix start marker") + start.len(),
        doc.find(end).expect("matrix end marker"),
    );
    if doc[a..b] != table {
        if std::env::var_os("EPRO_WRITE_PERMISSIONS_MATRIX").is_some() {
            std::fs::write(&doc_path, format!("{}{table}{}", &doc[..a], &doc[b..])).expect("write");
        } else {
            panic!(
                "docs/permissions.md's endpoint matrix differs from this test's table; rerun with \
                 EPRO_WRITE_PERMISSIONS_MATRIX=1 to rewrite it, then review the diff"
            );
        }
    }
}

#[tokio::test]
async fn unknown_site_is_404_with_json() {
    let app = crate::helpers::spawn_app().await;
    let admin = app.admin_token().await;
    let resp = app.get("/api/v1/sites/NOPE", Some(&admin)).await;
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "not_found");
}

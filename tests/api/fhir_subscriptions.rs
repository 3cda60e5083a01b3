//! FHIR rest-hook Subscriptions (#26.3) against a real HTTP receiver on loopback (a poem server
//! in this process that records what it gets and can be told to fail), on the settable clock:
//! one signed notification per completed form, back-off while the receiver is down and each
//! form once after, `error` after N failures and `active` again, replay with the same event ids,
//! an amendment, the site filter, and refused criteria.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use chrono::Duration;
use poem::{EndpointExt, Request, handler, http::StatusCode, web::Data};
use serde_json::{Value, json};

use epro::clock::Clock;

use crate::{
    fhir::{QR_SCOPE, assertion, fhir_get, p384_key, register, token_request},
    helpers::{TestApp, answer_hermes_visit, spawn_app_with},
};

/// One notification the receiver accepted.
#[derive(Debug, Clone)]
struct Got {
    event_id: String,
    event: String,
    signature: String,
    body: String,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    failing: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    url: String,
}

impl Receiver {
    fn got(&self) -> Vec<Got> {
        self.got.lock().expect("lock").clone()
    }
    fn fail(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }
}

#[handler]
async fn hook(req: &Request, body: String, state: Data<&Receiver>) -> StatusCode {
    if state.failing.load(Ordering::SeqCst) {
        state.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let h = |n: &str| req.header(n).unwrap_or_default().to_string();
    state.got.lock().expect("lock").push(Got {
        event_id: h("x-epro-event-id"),
        event: h("x-epro-event"),
        signature: h("x-epro-signature"),
        body,
    });
    StatusCode::OK
}

async fn receiver() -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let r = Receiver {
        url: format!("http://{addr}/hook"),
        ..Default::default()
    };
    let route = poem::Route::new()
        .at("/hook", poem::post(hook))
        .data(r.clone());
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).expect("acceptor");
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(route));
    r
}

/// The receiver's check (docs/fhir.md): HMAC-SHA256 over "<t>.<body>" with the secret, by an
/// independent implementation (ring), not epro's own.
fn signed(secret: &str, g: &Got) -> bool {
    let Some((t, v1)) = g
        .signature
        .strip_prefix("t=")
        .and_then(|s| s.split_once(",v1="))
    else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let Ok(mac) = hex::decode(v1) else {
        return false;
    };
    ring::hmac::verify(&key, format!("{t}.{}", g.body).as_bytes(), &mac).is_ok()
}

/// The QuestionnaireResponse a notification is about (its focus reference).
fn focus(g: &Got) -> String {
    let b: Value = serde_json::from_str(&g.body).expect("json body");
    assert_eq!(b["resourceType"], "Bundle");
    assert_eq!(b["type"], "history");
    let status = &b["entry"][0]["resource"];
    assert_eq!(status["resourceType"], "Parameters");
    let event = status["parameter"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "notification-event"))
        .expect("notification-event");
    let r = event["part"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "focus"))
        .and_then(|p| p["valueReference"]["reference"].as_str())
        .expect("focus");
    r.rsplit('/').next().unwrap_or_default().to_string()
}

async fn deliver(app: &TestApp) -> epro::fhir::subscriptions::Report {
    epro::fhir::subscriptions::deliver_due(&app.app)
        .await
        .expect("delivery pass")
}

async fn enrol_and_answer(app: &TestApp, nurse: &str, id: &str) {
    app.enrol(nurse, id, json!({ "randomization_date": "2026-03-01" }))
        .await;
    let token = app.participant_token(nurse, id).await;
    answer_hermes_visit(app, &token, "BL", id).await;
}

async fn subscribe(app: &TestApp, admin: &str, client: &str, body: Value) -> (u16, Value) {
    let r = app
        .post(
            &format!("/api/v1/fhir/clients/{client}/subscriptions"),
            Some(admin),
            body,
        )
        .await;
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

const COMPLETED: &str = "QuestionnaireResponse?status=completed";

#[tokio::test]
async fn completed_forms_are_delivered_once_signed_through_backoff_error_and_replay() {
    let app = spawn_app_with(|s| s.fhir_webhook_max_failures = 3).await;
    let admin = app.admin_token().await;
    let nurse = app.staff_token("site_staff", &["ZAS", "UZG"]).await;
    let key = p384_key("k1");
    let client = register(&app, &admin, &key, &["ZAS"], &[QR_SCOPE]).await;
    let rx = receiver().await;

    // Criteria other than the completed/amended response searches are refused, naming them.
    for bad in [
        "QuestionnaireResponse?status=in-progress",
        "Observation?status=final",
        "QuestionnaireResponse?status=completed&patient=Patient/1",
    ] {
        let (s, b) = subscribe(
            &app,
            &admin,
            &client,
            json!({ "criteria": bad, "endpoint": rx.url }),
        )
        .await;
        // The admin API refuses a value as everywhere (422 `invalid_input`), naming it.
        assert_eq!(s, 422, "{bad}: {b}");
        assert_eq!(b["code"], "invalid_input");
        assert!(
            b["message"].as_str().unwrap_or_default().contains(bad),
            "{b}"
        );
    }
    let (s, b) = subscribe(
        &app,
        &admin,
        &client,
        json!({ "criteria": COMPLETED, "endpoint": "http://engine.uzg.example/hook" }),
    )
    .await;
    assert_eq!(s, 422, "plain http off loopback: {b}");

    let (s, sub) = subscribe(
        &app,
        &admin,
        &client,
        json!({ "criteria": COMPLETED, "endpoint": rx.url }),
    )
    .await;
    assert_eq!(s, 200, "{sub}");
    let sub_id = sub["id"].as_str().expect("id").to_string();
    let secret = sub["secret"]
        .as_str()
        .expect("secret shown once")
        .to_string();
    let listed = app.get("/api/v1/fhir/subscriptions", Some(&admin)).await;
    let listed: Value = listed.json().await.expect("json");
    assert!(
        listed[0]["secret"].is_null(),
        "the secret is not shown again"
    );

    // Three forms completed at ZAS; three at UZG, a site the client may not read.
    enrol_and_answer(&app, &nurse, "HERMES-ZAS-001").await;
    enrol_and_answer(&app, &nurse, "HERMES-UZG-001").await;
    assert_eq!(deliver(&app).await.delivered, 3);
    assert_eq!(deliver(&app).await.delivered, 0, "nothing twice");
    let first = rx.got();
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|g| signed(&secret, g)), "{first:?}");
    assert!(!signed("whsec_wrong", &first[0]));
    assert!(first.iter().all(|g| g.event == "completed"));
    let zas_responses: HashSet<String> = first.iter().map(focus).collect();
    assert_eq!(zas_responses.len(), 3);
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM fhir_delivery").await,
        3,
        "UZG's forms were never queued"
    );

    // The receiver is down: attempts back off (30 s, 60 s, …); after it is back each form
    // arrives exactly once.
    rx.fail(true);
    app.clock.advance(Duration::seconds(1));
    let before_down = app.clock.now();
    app.clock.advance(Duration::seconds(1));
    enrol_and_answer(&app, &nurse, "HERMES-ZAS-002").await;
    assert_eq!(deliver(&app).await.failed, 1, "stops at the first failure");
    app.clock.advance(Duration::seconds(29));
    assert_eq!(
        deliver(&app).await,
        Default::default(),
        "inside the back-off"
    );
    app.clock.advance(Duration::seconds(1));
    assert_eq!(deliver(&app).await.failed, 1);
    assert_eq!(rx.refused.load(Ordering::SeqCst), 2);
    rx.fail(false);
    app.clock.advance(Duration::seconds(59));
    assert_eq!(deliver(&app).await.delivered, 0, "second back-off is 60 s");
    app.clock.advance(Duration::seconds(1));
    assert_eq!(deliver(&app).await.delivered, 3);
    let after = rx.got();
    assert_eq!(after.len(), 6);
    let ids: HashSet<&str> = after.iter().map(|g| g.event_id.as_str()).collect();
    assert_eq!(ids.len(), 6, "no form twice");
    let responses: HashSet<String> = after.iter().map(focus).collect();
    assert_eq!(responses.len(), 6);

    // Replay since before ZAS-002's forms: the same three events again, with the same ids.
    let r = app
        .post(
            &format!("/api/v1/fhir/subscriptions/{sub_id}/replay"),
            Some(&admin),
            json!({ "since": before_down }),
        )
        .await;
    let r: Value = r.json().await.expect("json");
    assert_eq!(r["queued"], 3, "{r}");
    assert_eq!(deliver(&app).await.delivered, 3);
    let replayed: Vec<String> = rx.got()[6..].iter().map(|g| g.event_id.clone()).collect();
    let originals: HashSet<String> = after[3..].iter().map(|g| g.event_id.clone()).collect();
    assert_eq!(replayed.iter().cloned().collect::<HashSet<_>>(), originals);

    // Three failures in a row: the subscription is `error`, with the reason, and nothing is
    // tried until an admin enables it again.
    rx.fail(true);
    enrol_and_answer(&app, &nurse, "HERMES-ZAS-003").await;
    deliver(&app).await;
    app.clock.advance(Duration::seconds(30));
    deliver(&app).await;
    app.clock.advance(Duration::seconds(60));
    assert_eq!(deliver(&app).await.errored, 1);
    app.clock.advance(Duration::hours(2));
    assert_eq!(deliver(&app).await, Default::default());
    assert_eq!(rx.refused.load(Ordering::SeqCst), 5);

    // The client reads its Subscription over FHIR.
    let a = assertion(&app, &key, &client, "sub-read", 240, None);
    let (s, tok) = token_request(&app, &a, QR_SCOPE).await;
    assert_eq!(s, 200, "{tok}");
    let ctoken = tok["access_token"].as_str().expect("token").to_string();
    let (s, res) = fhir_get(&app, &format!("/Subscription/{sub_id}"), &ctoken).await;
    assert_eq!(s, 200, "{res}");
    assert_eq!(res["resourceType"], "Subscription");
    assert_eq!(res["status"], "error");
    assert_eq!(res["channel"]["type"], "rest-hook");
    assert!(
        res["error"]
            .as_str()
            .unwrap_or_default()
            .contains("3 consecutive"),
        "{res}"
    );
    assert!(!res.to_string().contains(&secret));
    let (_, found) = fhir_get(&app, "/Subscription?status=error", &ctoken).await;
    assert_eq!(found["total"], 1, "{found}");
    let (_, none) = fhir_get(&app, "/Subscription?status=active", &ctoken).await;
    assert_eq!(none["total"], 0, "{none}");

    rx.fail(false);
    let on = app
        .post(
            &format!("/api/v1/fhir/subscriptions/{sub_id}/enable"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(on.status(), 200);
    assert_eq!(deliver(&app).await.delivered, 3, "what waited arrives");
    let (_, res) = fhir_get(&app, &format!("/Subscription/{sub_id}"), &ctoken).await;
    assert_eq!(res["status"], "active");
    assert!(res["error"].is_null());
    let all = rx.got();
    assert_eq!(
        all.iter()
            .map(|g| &g.event_id)
            .collect::<HashSet<_>>()
            .len(),
        9,
        "ZAS-001, ZAS-002 and ZAS-003 each once (plus the replay)"
    );
    assert!(all.iter().all(|g| signed(&secret, g)));
}

#[tokio::test]
async fn an_amendment_is_one_notification_and_the_questionnaire_filter_keeps_the_version() {
    let app = spawn_app_with(|_| {}).await;
    let admin = app.admin_token().await;
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let key = p384_key("k1");
    let client = register(&app, &admin, &key, &["ZAS"], &[QR_SCOPE]).await;
    let amended_rx = receiver().await;
    let c30_rx = receiver().await;
    let c30_v2_rx = receiver().await;
    let c30 = format!(
        "{}/fhir/Questionnaire/eortc-qlq-c30",
        app.settings.base_url.trim_end_matches('/')
    );
    let (s, amended_sub) = subscribe(
        &app,
        &admin,
        &client,
        json!({ "criteria": "QuestionnaireResponse?status=amended", "endpoint": amended_rx.url, "payload": "full-resource" }),
    )
    .await;
    assert_eq!(s, 200, "{amended_sub}");
    let secret = amended_sub["secret"].as_str().expect("secret").to_string();
    for (rx, version) in [(&c30_rx, "3.0"), (&c30_v2_rx, "2.0")] {
        let criteria = format!(
            "{COMPLETED}&questionnaire={}",
            url::form_urlencoded::byte_serialize(format!("{c30}|{version}").as_bytes())
                .collect::<String>()
        );
        let (s, b) = subscribe(
            &app,
            &admin,
            &client,
            json!({ "criteria": criteria, "endpoint": rx.url }),
        )
        .await;
        assert_eq!(s, 200, "{b}");
    }

    enrol_and_answer(&app, &nurse, "HERMES-ZAS-001").await;
    assert_eq!(deliver(&app).await.delivered, 1, "only the C30 3.0 form");
    assert_eq!(c30_rx.got().len(), 1);
    assert!(
        c30_v2_rx.got().is_empty(),
        "another version is not notified"
    );
    assert!(
        amended_rx.got().is_empty(),
        "completion is not an amendment"
    );

    let response_id = focus(&c30_rx.got()[0]);
    let amend = app
        .post(
            &format!("/api/v1/participants/HERMES-ZAS-001/responses/{response_id}/amend"),
            Some(&nurse),
            json!({"basis": "participant_request", "reason": "participant called", "answers": [{"item": "q1", "value": 3}]}),
        )
        .await;
    assert_eq!(
        amend.status(),
        200,
        "{}",
        amend.text().await.unwrap_or_default()
    );
    assert_eq!(deliver(&app).await.delivered, 1);
    assert_eq!(deliver(&app).await.delivered, 0);
    let got = amended_rx.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event, "amended");
    assert!(signed(&secret, &got[0]));
    let body: Value = serde_json::from_str(&got[0].body).expect("json");
    let qr = &body["entry"][1]["resource"];
    assert_eq!(qr["resourceType"], "QuestionnaireResponse", "{body}");
    assert_eq!(qr["id"], response_id.as_str());
    assert_eq!(qr["status"], "amended");
    assert_eq!(c30_rx.got().len(), 1, "an amendment is not a completion");

    // The operator's CLI: list, then replay the amendment (same event id).
    let sub_id = amended_sub["id"].as_str().expect("id");
    let out = app.cli(&["fhir", "subscriptions", "list"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(sub_id));
    let out = app.cli(&[
        "fhir",
        "subscriptions",
        "replay",
        sub_id,
        "--since",
        "2026-01-01T00:00:00Z",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("1 events"));
    // (The CLI runs on the machine's clock, not the test's: the row is checked, not sent.)
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM fhir_delivery WHERE status = 'pending'")
            .await,
        1
    );
}

//! Security under attack, each finding reproduced concurrently (never one request at a time):
//! bounded password hashing, throttles decided before the secret is checked, lockouts a third
//! party cannot cause, races on first saves, NUL bytes, headers, CSV formulas, error sizes, and
//! answer rows bound to the audit chain. Traffic goes to 127.0.0.1 only; loops are bounded.

use chrono::{TimeZone, Utc};
use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, free_port, serve_binary, spawn_app, spawn_app_with,
    wait_healthy,
};

const STUDY_ID: &str = "HERMES-ZAS-201";

struct Participant {
    nurse: String,
    link: String,
    pin: String,
}

/// Enrol one ZAS participant (randomized today, baseline open) and issue a link with a PIN.
async fn enrolled(app: &TestApp) -> Participant {
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    app.enrol(&nurse, STUDY_ID, json!({})).await;
    let resp = app
        .post(
            &format!("/api/v1/participants/{STUDY_ID}/events"),
            Some(&nurse),
            json!({"type": "randomization", "date": "2026-01-15", "reason": "randomized", "arm": "A"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let link: Value = app
        .post(
            &format!("/api/v1/participants/{STUDY_ID}/access-link"),
            Some(&nurse),
            json!({"pin": "482613"}),
        )
        .await
        .json()
        .await
        .expect("json");
    Participant {
        nurse,
        link: link["link_token"].as_str().expect("link").into(),
        pin: "482613".into(),
    }
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// 150 logins at once for unknown emails, each from its own address (so no address throttle
/// stops them before hashing), twice: the real server's peak memory stays under 300 MB and it
/// keeps answering /healthz meanwhile; the excess is refused as busy, never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_logins_keeps_memory_flat_and_the_server_answering() {
    let app = spawn_app().await;
    let port = free_port();
    let mut child = serve_binary(
        &app.settings,
        app.dir.path(),
        port,
        &[
            ("EPRO_TRUSTED_PROXIES", "127.0.0.1".into()),
            ("EPRO_HASH_WAIT_SECONDS", "2".into()),
        ],
    );
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_healthy(&base).await, "server up");
    let pid = child.id();
    let peak_mb = || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    };
    let client = reqwest::Client::new();
    for burst in 0..2 {
        let logins = (0..150).map(|i| {
            let client = client.clone();
            let base = base.clone();
            async move {
                client
                    .post(format!("{base}/api/v1/auth/login"))
                    .header("x-forwarded-for", format!("203.0.{burst}.{i}"))
                    .json(&json!({"email": format!("nobody{i}@burst.test"), "password": "guess-guess-guess"}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            }
        });
        let health = async {
            // While the burst runs, the server still answers a health probe promptly.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let started = std::time::Instant::now();
            let ok = client
                .get(format!("{base}/healthz"))
                .timeout(std::time::Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            (ok, started.elapsed())
        };
        let (statuses, (healthy, took)) = tokio::join!(join_all(logins), health);
        assert!(healthy, "healthz answered during burst {burst} ({took:?})");
        assert!(
            statuses.iter().all(|s| matches!(s, 401 | 503)),
            "only wrong-credential or busy answers: {statuses:?}"
        );
        assert!(count(&statuses, 401) > 0, "some were checked");
    }
    let peak = peak_mb();
    let _ = child.kill();
    let _ = child.wait();
    assert!(peak > 0, "read the peak from /proc");
    assert!(peak < 300, "peak RSS {peak} MB (limit 300 MB)");
}

/// 40 wrong passwords at once for one account from one address: at most five are checked (the
/// rest wait, 429), even the right password then waits at that address, but the owner at
/// another address is not locked out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_passwords_get_at_most_five_checks_and_cannot_lock_out_the_owner() {
    let app = spawn_app_with(|s| s.trusted_proxies = "127.0.0.1".into()).await;
    let from = |ip: &'static str, password: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/api/v1/auth/login", app.address))
                .header("x-forwarded-for", ip)
                .json(&json!({"email": ADMIN_EMAIL, "password": password}))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    let statuses = join_all((0..40).map(|_| from("203.0.113.66", "wrong-password-guess"))).await;
    assert_eq!(
        count(&statuses, 401) + count(&statuses, 429),
        40,
        "{statuses:?}"
    );
    assert!(
        count(&statuses, 401) <= 5,
        "at most five checked: {statuses:?}"
    );
    let checked = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| r["action"] == "auth.login_failed")
        .count();
    assert!(checked <= 5, "{checked} failed checks audited");
    assert_eq!(from("203.0.113.66", ADMIN_PASSWORD).await, 429);
    assert_eq!(
        from("198.51.100.7", ADMIN_PASSWORD).await,
        200,
        "the owner elsewhere is not locked out"
    );
}

/// 30 wrong PINs at once on one link: at most five are checked; the right PIN on that link
/// then waits, but a fresh link from the nurse lets the participant in at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_pins_get_at_most_five_checks_and_a_fresh_link_lifts_the_lock() {
    let app = spawn_app().await;
    let p = enrolled(&app).await;
    let statuses: Vec<u16> = join_all((0..30).map(|i| {
        let (app, link) = (&app, p.link.clone());
        async move {
            app.participant_login(&link, &format!("{:06}", 100000 + i))
                .await
                .status()
                .as_u16()
        }
    }))
    .await;
    assert!(count(&statuses, 401) <= 5, "{statuses:?}");
    assert_eq!(count(&statuses, 401) + count(&statuses, 429), 30);
    assert_eq!(app.participant_login(&p.link, &p.pin).await.status(), 429);

    let fresh: Value = app
        .post(
            &format!("/api/v1/participants/{STUDY_ID}/access-link"),
            Some(&p.nurse),
            json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    let fresh = fresh["link_token"].as_str().expect("link");
    assert_eq!(app.participant_login(fresh, &p.pin).await.status(), 200);
}

/// A PIN reset ends the participant's sessions; a staff revocation ends links and sessions.
#[tokio::test]
async fn pin_reset_and_revocation_end_participant_sessions() {
    let app = spawn_app().await;
    let p = enrolled(&app).await;
    let session: Value = app
        .participant_login(&p.link, &p.pin)
        .await
        .json()
        .await
        .expect("json");
    let token = session["token"].as_str().expect("token").to_string();
    assert_eq!(
        app.get("/api/v1/me/tasks", Some(&token)).await.status(),
        200
    );
    let reset = app
        .post(
            &format!("/api/v1/participants/{STUDY_ID}/pin"),
            Some(&p.nurse),
            json!({"pin": "915372"}),
        )
        .await;
    assert_eq!(reset.status(), 200);
    assert_eq!(
        app.get("/api/v1/me/tasks", Some(&token)).await.status(),
        401,
        "the old session ended with the old PIN"
    );

    let session: Value = app
        .participant_login(&p.link, "915372")
        .await
        .json()
        .await
        .expect("json");
    let token = session["token"].as_str().expect("token").to_string();
    let refused = app
        .post(
            &format!("/api/v1/participants/{STUDY_ID}/access-link/revoke"),
            Some(&p.nurse),
            json!({"reason": " "}),
        )
        .await;
    assert_eq!(refused.status(), 422, "a reason is required");
    let revoked: Value = app
        .post(
            &format!("/api/v1/participants/{STUDY_ID}/access-link/revoke"),
            Some(&p.nurse),
            json!({"reason": "phone lost"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(revoked["links_revoked"], 1);
    assert_eq!(revoked["sessions_ended"], 1);
    assert_eq!(
        app.get("/api/v1/me/tasks", Some(&token)).await.status(),
        401
    );
    assert_eq!(app.participant_login(&p.link, "915372").await.status(), 401);
    let audit = app.audit_rows().await;
    assert!(
        audit
            .iter()
            .any(|r| r["action"] == "access.revoked" && r["reason"] == "phone lost")
    );
}

/// 12 first submissions of one questionnaire at once (half with one Idempotency-Key and body,
/// half with keys of their own): every answer is 200 with the one stored response, or 409;
/// never a 500. Likewise 12 first draft saves at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_saves_and_submissions_give_one_result_or_409() {
    let app = spawn_app().await;
    let p = enrolled(&app).await;
    let session: Value = app
        .participant_login(&p.link, &p.pin)
        .await
        .json()
        .await
        .expect("json");
    let token = session["token"].as_str().expect("token").to_string();

    let drafts: Vec<u16> = join_all((0..12).map(|i| {
        let (app, token) = (&app, token.clone());
        async move {
            app.client
                .put(format!(
                    "{}/api/v1/me/visits/BL/responses/eortc-qlq-bm22",
                    app.address
                ))
                .bearer_auth(token)
                .json(&json!({"answers": [{"item": "q31", "value": 1 + (i % 4)}]}))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    }))
    .await;
    assert!(
        drafts.iter().all(|s| matches!(s, 200 | 409)),
        "drafts: {drafts:?}"
    );
    assert_eq!(count(&drafts, 200), 1, "one first save wins: {drafts:?}");

    let submissions: Vec<(u16, Value)> = join_all((0..12).map(|i| {
        let (app, token) = (&app, token.clone());
        let key = if i < 6 {
            "same-key".to_string()
        } else {
            format!("own-key-{i}")
        };
        async move {
            let r = app
                .client
                .post(format!(
                    "{}/api/v1/me/visits/BL/responses/eortc-qlq-c30/submit",
                    app.address
                ))
                .bearer_auth(token)
                .header("idempotency-key", key)
                .json(&json!({"answers": [{"item": "q1", "value": 2}]}))
                .send()
                .await
                .expect("sent");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    }))
    .await;
    let statuses: Vec<u16> = submissions.iter().map(|(s, _)| *s).collect();
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 409)),
        "submissions: {submissions:?}"
    );
    let ids: std::collections::BTreeSet<String> = submissions
        .iter()
        .filter(|(s, _)| *s == 200)
        .filter_map(|(_, b)| b["response_id"].as_str().map(String::from))
        .collect();
    assert_eq!(ids.len(), 1, "one stored response: {submissions:?}");
    for (s, body) in &submissions {
        if *s == 409 {
            assert!(
                matches!(
                    body["code"].as_str(),
                    Some("already_submitted" | "idempotency_conflict")
                ),
                "{body}"
            );
        }
    }
}

/// A NUL character anywhere in a request is refused with 422 naming where, on the anonymous
/// login too (PostgreSQL cannot store one and answered 500).
#[tokio::test]
async fn nul_characters_are_refused_with_422_naming_the_field() {
    let app = spawn_app().await;
    let resp = app.login("admin\u{0}@hermes.test", "whatever-it-is").await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "invalid_input");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("/email"),
        "{body}"
    );
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let resp = app
        .post(
            "/api/v1/participants",
            Some(&nurse),
            json!({"study_id": "HERMES-ZAS-\u{0}1", "site": "ZAS", "language": "nl"}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let resp = app
        .get("/api/v1/participants?site=Z%00AS", Some(&nurse))
        .await;
    assert_eq!(resp.status(), 422);
    // Nothing was stored by the refused enrolment.
    let list: Value = app
        .get("/api/v1/participants", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(0));
}

/// API answers are never cached or sniffed; the docs page carries a CSP without inline-script
/// allowances and cannot be framed; production can switch the docs off.
#[tokio::test]
async fn api_and_docs_headers_and_docs_switch() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for path in [
        "/api/v1/auth/me",
        "/api/v1/no-such-thing",
        "/api/openapi.json",
    ] {
        let resp = app.get(path, Some(&admin)).await;
        let h = resp.headers();
        assert_eq!(
            h.get("cache-control").and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{path}"
        );
        assert_eq!(
            h.get("x-content-type-options")
                .and_then(|v| v.to_str().ok()),
            Some("nosniff"),
            "{path}"
        );
    }
    let docs = app.get("/api/docs", None).await;
    assert_eq!(docs.status(), 200);
    let csp = docs
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(!csp.contains("script-src 'unsafe-inline'"), "{csp}");
    assert_eq!(
        docs.headers()
            .get("x-frame-options")
            .and_then(|v| v.to_str().ok()),
        Some("DENY")
    );

    let off = spawn_app_with(|s| s.api_docs = Some(false)).await;
    assert_eq!(off.get("/api/docs", None).await.status(), 404);
    assert_eq!(off.get("/api/openapi.json", None).await.status(), 200);
}

/// Guesses of the current password on a password change are throttled like logins.
#[tokio::test]
async fn password_change_guesses_are_throttled() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let change = |current: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.request(
                reqwest::Method::PUT,
                "/api/v1/auth/password",
                Some(&admin),
                Some(json!({"current_password": current, "new_password": "a-brand-new-long-password"})),
            )
            .await
            .status()
            .as_u16()
        }
    };
    let statuses = join_all((0..12).map(|_| change("not-my-password"))).await;
    assert!(count(&statuses, 422) <= 5, "{statuses:?}");
    assert!(count(&statuses, 429) >= 7, "{statuses:?}");
    assert_eq!(change(ADMIN_PASSWORD).await, 429, "the guesser must wait");
}

/// An email address the mailer would reject is refused at enrolment, naming the field.
#[tokio::test]
async fn enrolment_refuses_an_address_the_mailer_cannot_send_to() {
    let app = spawn_app().await;
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    for bad in [
        "An Peeters <an@example.be>",
        "\"an peeters\"@example.be",
        "an@example.be, x@y.be",
    ] {
        let resp = app
            .post(
                "/api/v1/participants",
                Some(&nurse),
                json!({"study_id": "HERMES-ZAS-301", "site": "ZAS", "language": "nl", "email": bad}),
            )
            .await;
        assert_eq!(resp.status(), 422, "{bad}");
        let body: Value = resp.json().await.expect("json");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("email:"),
            "{body}"
        );
    }
}

/// Text that a spreadsheet would run as a formula is neutralized in every export and dialect.
#[tokio::test]
async fn exports_neutralize_formula_cells() {
    let app = spawn_app().await;
    let p = enrolled(&app).await;
    let resp = app
        .post(
            &format!("/api/v1/participants/{STUDY_ID}/events"),
            Some(&p.nurse),
            json!({"type": "withdrawal", "date": "2026-01-15", "reason": "=HYPERLINK(\"http://evil.test\",\"x\")"}),
        )
        .await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let dm = app.staff_token("data_manager", &[]).await;
    for dialect in ["standard", "excel"] {
        let text = app
            .get(
                &format!("/api/v1/exports/audit.csv?dialect={dialect}"),
                Some(&dm),
            )
            .await
            .text()
            .await
            .expect("text");
        assert!(text.contains("'=HYPERLINK"), "{dialect}");
        let sep = if dialect == "excel" { ';' } else { ',' };
        assert!(
            !text.contains(&format!("{sep}=HYPERLINK")) && !text.contains("\n=HYPERLINK"),
            "{dialect}: a cell begins with the formula"
        );
    }
}

/// An anonymous score request with many bad answers gets a short error, not a longer one.
#[tokio::test]
async fn error_lists_are_capped() {
    let app = spawn_app().await;
    let answers: Vec<Value> = (0..20_000)
        .map(|i| json!({"item": format!("no-such-item-{i}"), "value": 1}))
        .collect();
    let resp = app
        .post(
            "/api/v1/questionnaires/eortc-qlq-c30/3.0/score",
            None,
            json!({ "answers": answers }),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("json");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.len() < 4_000, "{} bytes", message.len());
    assert!(message.ends_with("and 19990 more problems"), "{message}");
}

/// An answer row edited directly in the database is found by `epro audit verify`, which names
/// the response; the untouched database verifies.
#[tokio::test]
async fn audit_verify_notices_an_edited_answer_row() {
    let app = spawn_app().await;
    let p = enrolled(&app).await;
    let session: Value = app
        .participant_login(&p.link, &p.pin)
        .await
        .json()
        .await
        .expect("json");
    let token = session["token"].as_str().expect("token");
    let submitted: Value = app
        .client
        .post(format!(
            "{}/api/v1/me/visits/BL/responses/eortc-qlq-c30/submit",
            app.address
        ))
        .bearer_auth(token)
        .header("idempotency-key", "verify-1")
        .json(&json!({"answers": [{"item": "q1", "value": 2}, {"item": "q2", "value": 3}]}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let response_id = submitted["response_id"].as_str().expect("id").to_string();

    let out = app.cli(&["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("1 submitted responses match"), "{stdout}");

    // The only answer to q1 in this database is that response's.
    app.sql("UPDATE answer SET value = '4' WHERE item = 'q1'")
        .await;
    let out = app.cli(&["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("BROKEN: response {response_id}")),
        "{stdout}"
    );
}

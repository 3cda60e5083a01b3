//! The third security review's findings (#33), each reproduced as the red team did it — through
//! HTTP, concurrently where the attack was concurrent — and shown to fail now: sign-out that
//! leaves the link behind, replayed delivery reports, amendments that slip through and two
//! study files on one database, IPv6 address rotation, unbounded free text, trickled headers,
//! a lesion moved without a reason, and odd addresses, numbers and `next` paths. The log
//! redaction is `startup::tests::link_tokens_never_reach_the_log_in_any_spelling`.

use chrono::{TimeZone, Utc};
use futures::future::join_all;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, fresh_database, spawn_app, spawn_app_with, start, test_settings},
    pages::{csrf_of, page, participant_browser, sign_in},
};

const ID: &str = "HERMES-ZAS-331";

/// A ZAS participant enrolled and randomized on 15 January 2026 (baseline open); the nurse's
/// token.
async fn enrolled(app: &TestApp, extra: Value) -> String {
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let mut body = json!({"randomization_date": "2026-01-15"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    app.enrol(&nurse, ID, body).await;
    nurse
}

fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(String::from))
        .collect()
}

/// #33.1: after sign-out, the browser holds neither the session nor the link: the tasks page
/// shows no PIN form for that participant and the PIN no longer resumes. Staff sign-out the same.
#[tokio::test]
async fn sign_out_forgets_the_session_and_the_link() {
    let app = spawn_app().await;
    let nurse = enrolled(&app, json!({})).await;
    let p = participant_browser(&app, &nurse, ID).await;
    let (status, html) = page(&p, &app, "/p/tasks").await;
    assert_eq!(status, 200);
    let resp = p
        .post(format!("{}/p/logout", app.address))
        .form(&[("csrf", csrf_of(&html).as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 303);
    let cookies = set_cookies(&resp);
    for name in ["epro_p=", "epro_l="] {
        let removal = cookies
            .iter()
            .find(|c| c.starts_with(name))
            .unwrap_or_else(|| panic!("{name} removed: {cookies:?}"));
        assert!(
            removal.contains("Path=/") && removal.contains("Max-Age=0"),
            "the removal carries the cookie's Path: {removal}"
        );
    }
    let csrf = csrf_of(&html);
    // The next person on this tablet: no PIN form for the previous participant…
    let (status, html) = page(&p, &app, "/p/tasks").await;
    assert_eq!(status, 401);
    assert!(!html.contains("p&#x2f;resume"), "no PIN form: {html}");
    assert!(html.contains("Open opnieuw de link"), "{html}");
    // …and the PIN no longer signs in without the link.
    let resp = p
        .post(format!("{}/p/resume", app.address))
        .form(&[
            ("csrf", csrf.as_str()),
            ("pin", "4826"),
            ("next", "/p/tasks"),
        ])
        .send()
        .await
        .expect("resume");
    assert_eq!(resp.status(), 401);
    let (status, _) = page(&p, &app, "/p/tasks").await;
    assert_eq!(status, 401, "still signed out");

    // Staff: the session cookie goes with the same attributes it came with.
    let (email, password, _) = app.staff_account("site_staff", &["ZAS"]).await;
    let s = sign_in(&app, &email, &password).await;
    let (status, html) = page(&s, &app, "/staff/").await;
    assert_eq!(status, 200);
    let resp = s
        .post(format!("{}/staff/logout", app.address))
        .form(&[("csrf", csrf_of(&html).as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 303);
    let cookies = set_cookies(&resp);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("epro_s=") && c.contains("Path=/") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );
    let (status, _) = page(&s, &app, "/staff/").await;
    assert_eq!(status, 303, "signed out: to the login page");
}

/// #33.2: the same delivery report 200 times at once changes the state once and writes one
/// audit event; delivered → failed, and any step back, is refused; a report address can cause
/// at most three changes.
#[tokio::test]
async fn a_delivery_report_replayed_200_times_at_once_changes_the_state_once() {
    const SECRET: &str = "a-delivery-report-secret";
    let app = spawn_app_with(|s| {
        // Nothing listens there: the reminders are planned, never sent (not needed here).
        s.sms_gateway_url = Some("http://127.0.0.1:9/cgi-bin/sendsms".into());
        s.sms_dlr_secret = Some(epro::config::Secret::new(SECRET));
    })
    .await;
    let nurse = enrolled(
        &app,
        json!({"phone": "0471 12 34 56", "reminder_channel": "sms"}),
    )
    .await;
    // A reminder's link asks for the PIN: one is set first.
    app.issue_link(&nurse, ID, Some("4826")).await;
    // The baseline's reminder now, the first month's when its window has opened.
    for at in [
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0),
        Utc.with_ymd_and_hms(2026, 2, 9, 9, 0, 0),
    ] {
        let at = at.single().expect("t");
        app.clock.set(at);
        epro::reminders::plan(&app.app, at).await.expect("plan");
    }
    // Back to the nurse's session.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 10, 0, 0)
            .single()
            .expect("t"),
    );
    let rows: Vec<Value> = app
        .get(
            &format!("/api/v1/participants/{ID}/reminders"),
            Some(&nurse),
        )
        .await
        .json()
        .await
        .expect("json");
    assert!(rows.len() >= 2, "{rows:#?}");
    let id = |i: usize| rows[i]["id"].as_str().expect("id").to_string();
    let report = |reminder: String, status: u8| {
        let sig = epro::notify::sms::signature(SECRET, &reminder);
        let url = format!(
            "{}/api/v1/sms/delivery?reminder={reminder}&sig={sig}&status={status}",
            app.address
        );
        let client = app.client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .map_or(0, |r| r.status().as_u16())
        }
    };
    let state = async |reminder: &str| -> (Value, i64) {
        let rows: Vec<Value> = app
            .get(
                &format!("/api/v1/participants/{ID}/reminders"),
                Some(&nurse),
            )
            .await
            .json()
            .await
            .expect("json");
        let delivery = rows
            .iter()
            .find(|r| r["id"] == reminder)
            .map(|r| r["delivery"].clone())
            .unwrap_or_default();
        let events = app
            .sql_count(&format!(
                "SELECT COUNT(*) FROM audit_event WHERE action = 'reminder.delivery' \
                 AND entity_id = '{reminder}'"
            ))
            .await;
        (delivery, events)
    };

    let first = id(0);
    let statuses = join_all((0..200).map(|_| report(first.clone(), 1))).await;
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    assert_eq!(state(&first).await, (json!("delivered"), 1), "changed once");
    // Rewritten to failed, or sent back to submitted: 204, nothing changes, nothing audited.
    let statuses = join_all(
        [2, 16, 8, 4, 1]
            .into_iter()
            .cycle()
            .take(100)
            .map(|s| report(first.clone(), s)),
    )
    .await;
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    assert_eq!(state(&first).await, (json!("delivered"), 1), "final stays");

    // The most one address can do: submitted, buffered, final — three changes.
    let second = id(1);
    for s in [8, 4, 2, 1, 4, 8, 2] {
        assert_eq!(report(second.clone(), s).await, 204);
    }
    assert_eq!(state(&second).await, (json!("failed"), 3));
    // A report for another reminder with this one's signature is refused.
    let sig = epro::notify::sms::signature(SECRET, &first);
    let forged = app
        .get(
            &format!("/api/v1/sms/delivery?reminder={second}&sig={sig}&status=1"),
            None,
        )
        .await;
    assert_eq!(forged.status(), 401);
}

/// #33.3: changing the time zone (or a vocabulary code in use…) needs the confirmation, and the
/// audited change set names it; an instance whose study file is no longer the registered one
/// refuses to write, fails readiness and skips its jobs.
#[tokio::test]
async fn amendments_that_touch_stored_data_need_confirmation_and_old_instances_stop_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = std::fs::read_to_string(crate::helpers::study_file()).expect("study");
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let url = fresh_database(&dir).await;
    let mut settings = test_settings(&dir, url);
    settings.study_file = file("a.toml", &original);
    let a = start(settings.clone(), tempfile::tempdir().expect("tempdir")).await;
    let nurse = enrolled(&a, json!({})).await;

    // A second instance with another time zone: refused without confirmation, naming the field.
    let moved = original.replace("Europe/Brussels", "Pacific/Auckland");
    let mut b_settings = settings.clone();
    b_settings.study_file = file("b.toml", &moved);
    let refused = epro::startup::Server::build(
        b_settings.clone(),
        std::sync::Arc::new(epro::clock::SystemClock),
    )
    .await;
    let err = refused.err().expect("refused").to_string();
    assert!(err.contains("study.time_zone"), "{err}");
    // A harmless change (the safety text) needs none: it registers, and is audited by name.
    let reworded = original.replace("Call your hospital now", "Call your hospital at once");
    let mut c_settings = settings.clone();
    c_settings.study_file = file("c.toml", &reworded);
    let c = start(c_settings, tempfile::tempdir().expect("tempdir")).await;
    c.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 10, 0, 0)
            .single()
            .expect("t"),
    );
    let amended = c
        .audit_rows()
        .await
        .into_iter()
        .rfind(|r| r["action"] == "study.amended")
        .expect("audited");
    assert!(
        amended["after"]
            .as_str()
            .unwrap_or_default()
            .contains("safety.en.urgent_intro"),
        "the change is named: {amended}"
    );

    // Instance A still runs the old file: it writes nothing, is not ready, runs no jobs.
    let resp = a
        .post(
            &format!("/api/v1/participants/{ID}/events"),
            Some(&nurse),
            json!({"type": "sse", "date": "2026-01-15", "reason": "fracture", "sse_type": "pathological_fracture"}),
        )
        .await;
    assert_eq!(resp.status(), 409);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "study_superseded", "{body}");
    assert_eq!(a.get("/readyz", None).await.status(), 503);
    let mail = epro::notify::mail::Mail::from_settings(&a.settings).expect("mail");
    assert_eq!(
        epro::jobs::tick(&a.app, &mail).await,
        epro::jobs::Tick::default(),
        "no job ran"
    );
    // The instance with the registered file writes.
    assert_eq!(c.get("/readyz", None).await.status(), 200);
    let resp = c
        .post(
            &format!("/api/v1/participants/{ID}/events"),
            Some(&nurse),
            json!({"type": "sse", "date": "2026-01-15", "reason": "fracture", "sse_type": "pathological_fracture"}),
        )
        .await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );

    // Removing that SSE type now needs the confirmation too; with it, the start goes on.
    let without: String = reworded
        .lines()
        .filter(|l| !l.contains("code = \"pathological_fracture\""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut d_settings = settings.clone();
    d_settings.study_file = file("d.toml", &without);
    let err = epro::startup::Server::build(
        d_settings.clone(),
        std::sync::Arc::new(epro::clock::SystemClock),
    )
    .await
    .err()
    .expect("refused")
    .to_string();
    assert!(err.contains("pathological_fracture"), "{err}");
    d_settings.confirm_amendment = Some({
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(without.as_bytes()))
    });
    let d = start(d_settings, tempfile::tempdir().expect("tempdir")).await;
    d.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 10, 0, 0)
            .single()
            .expect("t"),
    );
    assert_eq!(d.get("/readyz", None).await.status(), 200);
    assert_eq!(
        c.get("/readyz", None).await.status(),
        503,
        "C is superseded"
    );
}

/// #33.4: addresses of one IPv6 /64 share the throttle counters (40 wrong passwords at once from
/// 40 addresses of one /64: at most five checked), while 40 IPv4 addresses still count alone.
#[tokio::test]
async fn ipv6_addresses_of_one_64_share_a_throttle_counter() {
    let app = spawn_app_with(|s| s.trusted_proxies = "127.0.0.1".into()).await;
    let (email, password, _) = app.staff_account("site_staff", &["ZAS"]).await;
    let attempt = |from: String, pw: &str| {
        let req = app
            .client
            .post(format!("{}/api/v1/auth/login", app.address))
            .header("x-forwarded-for", from)
            .json(&json!({"email": email, "password": pw}));
        async move { req.send().await.map_or(0, |r| r.status().as_u16()) }
    };
    let v6 =
        join_all((1..=40).map(|i| attempt(format!("2001:db8:77:1:{i:x}::{i:x}"), "wrong"))).await;
    let checked = v6.iter().filter(|s| **s == 401).count();
    assert!(checked <= 5, "one /64 is one client: {v6:?}");
    assert!(v6.iter().all(|s| matches!(*s, 401 | 429)), "{v6:?}");
    // The owner, at another /64, is not locked out.
    assert_eq!(attempt("2001:db8:77:2::1".into(), &password).await, 200);
    // IPv4 unchanged: each address counts alone (twelve addresses, one failure each).
    let v4 = join_all((1..=12).map(|i| attempt(format!("198.51.100.{i}"), "wrong"))).await;
    assert!(v4.iter().all(|s| *s == 401), "{v4:?}");
}

/// #33.6 and #33.8: a text over its field's limit is refused with 422 naming the field; moving a
/// lesion that has answers needs a reason, which is audited.
#[tokio::test]
async fn free_text_is_bounded_and_a_lesion_with_answers_moves_only_with_a_reason() {
    let app = spawn_app().await;
    let nurse = enrolled(&app, json!({})).await;
    let lesion = |detail: String| {
        json!({"location": "T5", "labels": {"nl": "rug", "fr": "dos", "en": "back"},
               "high_risk_reasons": ["size_2cm"], "detail": detail})
    };
    let path = format!("/api/v1/participants/{ID}/lesions");
    for (body, field) in [
        (lesion("x".repeat(501)), "/detail"),
        (
            json!({"location": "T5", "labels": {"nl": "r".repeat(81), "fr": "dos", "en": "back"}, "high_risk_reasons": ["size_2cm"]}),
            "/labels/nl",
        ),
    ] {
        let resp = app.post(&path, Some(&nurse), body).await;
        assert_eq!(resp.status(), 422);
        let body: Value = resp.json().await.expect("json");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(field) && message.contains("at most"),
            "{body}"
        );
    }
    let resp = app
        .post(
            &format!("/api/v1/participants/{ID}/events"),
            Some(&nurse),
            json!({"type": "sse", "date": "2026-01-20", "reason": "é".repeat(1001), "sse_type": "pathological_fracture"}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .unwrap_or_default()
            .contains("/reason: at most 1000"),
        "the event reason"
    );
    let added = app
        .post_ok(&path, Some(&nurse), lesion("x".repeat(500)))
        .await;
    let lesion_id = added["id"].as_str().expect("id").to_string();

    // Before it has answers, a lesion moves freely (a typo corrected).
    let lesion_path = format!("/api/v1/participants/{ID}/lesions/{lesion_id}");
    let patch = |body: Value| {
        app.request(
            reqwest::Method::PATCH,
            &lesion_path,
            Some(&nurse),
            Some(body),
        )
    };
    assert_eq!(patch(json!({"location": "T6"})).await.status(), 200);
    // The participant answers about it.
    let token = app.participant_token(&nurse, ID).await;
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/me/visits/BL/responses/nrs-lesion-pain/submit",
            app.address
        ))
        .bearer_auth(&token)
        .header("idempotency-key", "nrs-331")
        .json(&json!({"answers": [{"item": "worst_pain", "value": 4, "lesion": lesion_id}]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    // Now T6 → L3 without a reason is refused; with one it is done and audited.
    let resp = patch(json!({"location": "L3"})).await;
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap_or_default().contains("reason"));
    assert_eq!(
        patch(json!({"location": "L3", "reason": "  "}))
            .await
            .status(),
        422,
        "a blank reason is no reason"
    );
    assert_eq!(
        patch(json!({"labels": {"nl": "onderrug", "fr": "bas du dos", "en": "lower back"}}))
            .await
            .status(),
        200,
        "relabelling is not moving"
    );
    let resp =
        patch(json!({"location": "L3", "reason": "CT report: the lesion is in L3, not T6"})).await;
    assert_eq!(resp.status(), 200);
    let moved = app
        .audit_rows()
        .await
        .into_iter()
        .rfind(|r| r["action"] == "lesion.updated")
        .expect("audited");
    assert_eq!(moved["reason"], "CT report: the lesion is in L3, not T6");
    assert!(moved["after"].as_str().unwrap_or_default().contains("L3"));
}

/// #33.7: a client that trickles its headers is disconnected within the bound (1 s here),
/// while a whole request on another connection is served.
#[tokio::test]
async fn a_connection_trickling_its_headers_is_closed_within_the_bound() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|s| s.header_read_timeout_seconds = 1).await;
    let addr = app.address.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    // One header byte every 100 ms, never the end of the headers.
    let trickle = tokio::spawn(async move {
        let _ = wr
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await;
        let mut interval = tokio::time::interval(std::time::Duration::from_millis(100));
        for _ in 0..100 {
            interval.tick().await;
            if wr.write_all(b"a").await.is_err() {
                break;
            }
        }
    });
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    let closed =
        tokio::time::timeout(std::time::Duration::from_secs(5), rd.read_to_end(&mut got)).await;
    assert!(closed.is_ok(), "the server closed the connection");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "within the bound: {:?}",
        started.elapsed()
    );
    assert!(
        !String::from_utf8_lossy(&got).contains("200 OK"),
        "never served"
    );
    trickle.abort();
    assert_eq!(app.get("/healthz", None).await.status(), 200);
}

/// #33.9: odd email addresses and premium-rate numbers are refused at enrolment, and a resume
/// with a `next` that is not a plain local path goes to the default page with a Location.
#[tokio::test]
async fn odd_addresses_premium_numbers_and_unsafe_next_are_refused() {
    let app = spawn_app_with(|s| {
        s.sms_gateway_url = Some("http://127.0.0.1:9/cgi-bin/sendsms".into());
        s.sms_dlr_secret = Some(epro::config::Secret::new("a-delivery-report-secret"));
    })
    .await;
    let nurse = enrolled(&app, json!({})).await;
    for (n, extra, field) in [
        (1, json!({"email": "\"a,b\"@example.org"}), "email"),
        (2, json!({"email": "x@[127.0.0.1]"}), "email"),
        (3, json!({"email": "a@b"}), "email"),
        (4, json!({"phone": "0903 12 345"}), "phone"),
        (
            5,
            json!({"phone": "09 332 21 11", "reminder_channel": "sms"}),
            "phone",
        ),
    ] {
        let mut body =
            json!({"study_id": format!("HERMES-ZAS-34{n}"), "site": "ZAS", "language": "nl"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let resp = app.post("/api/v1/participants", Some(&nurse), body).await;
        assert_eq!(resp.status(), 422, "{extra}");
        let body: Value = resp.json().await.expect("json");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with(field),
            "{body}"
        );
    }
    // A mobile number takes SMS reminders.
    app.enrol(
        &nurse,
        "HERMES-ZAS-346",
        json!({"phone": "0471 12 34 56", "reminder_channel": "sms"}),
    )
    .await;

    // next=/p/%01 (a control character once decoded): a 303 that says where to.
    let p = participant_browser(&app, &nurse, ID).await;
    let (_, html) = page(&p, &app, "/p/tasks").await;
    let csrf = csrf_of(&html);
    // The session ends; the link remembered in the browser resumes with the PIN.
    app.clock.advance(chrono::Duration::hours(13));
    for next in ["/p/\u{1}", "//evil.example/", "/p/../staff/"] {
        let resp = p
            .post(format!("{}/p/resume", app.address))
            .form(&[("csrf", csrf.as_str()), ("pin", "4826"), ("next", next)])
            .send()
            .await
            .expect("resume");
        assert_eq!(resp.status(), 303, "{next:?}");
        assert_eq!(resp.headers()["location"], "/p/tasks", "{next:?}");
    }
}

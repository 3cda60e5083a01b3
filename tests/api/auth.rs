use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, spawn_app, spawn_app_with};

#[tokio::test]
async fn wrong_password_and_unknown_email_give_identical_401_bodies() {
    let app = spawn_app().await;
    let wrong = app.login(ADMIN_EMAIL, "not-the-password").await;
    let unknown = app.login("nobody@hermes.test", "not-the-password").await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    let wrong = wrong.text().await.expect("body");
    let unknown = unknown.text().await.expect("body");
    assert_eq!(wrong, unknown);
    let body: Value = serde_json::from_str(&wrong).expect("json");
    assert_eq!(body["code"], "invalid_credentials");
}

#[tokio::test]
async fn login_me_logout() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let me: Value = app
        .get("/api/v1/auth/me", Some(&token))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["role"], "admin");
    assert_eq!(
        me["must_change_password"], false,
        "an operator-chosen password need not change"
    );

    let resp = app
        .post("/api/v1/auth/logout", Some(&token), json!({}))
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(app.get("/api/v1/auth/me", Some(&token)).await.status(), 401);
}

#[tokio::test]
async fn sessions_expire() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    app.clock
        .advance(Duration::hours(i64::from(app.settings.session_hours)) + Duration::seconds(1));
    assert_eq!(app.get("/api/v1/auth/me", Some(&token)).await.status(), 401);
}

#[tokio::test]
async fn a_printed_one_time_password_must_be_changed_before_anything_else() {
    let app = spawn_app_with(|s| s.bootstrap_admin_password = None).await;
    let password = app
        .bootstrap_password
        .clone()
        .expect("a one-time password was generated");
    let resp = app.login(ADMIN_EMAIL, &password).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["must_change_password"], true);
    let token = body["token"].as_str().expect("token").to_string();

    for path in ["/api/v1/users", "/api/v1/sites", "/api/v1/audit/head"] {
        let resp = app.get(path, Some(&token)).await;
        assert_eq!(resp.status(), 403, "{path}");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["code"], "password_change_required", "{path}");
    }
    assert_eq!(app.get("/api/v1/auth/me", Some(&token)).await.status(), 200);

    // Too short a new password is refused, naming the field.
    let resp = app
        .request(
            Method::PUT,
            "/api/v1/auth/password",
            Some(&token),
            Some(json!({ "current_password": password, "new_password": "short" })),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("new_password"),
        "{body}"
    );

    let resp = app
        .request(
            Method::PUT,
            "/api/v1/auth/password",
            Some(&token),
            Some(
                json!({ "current_password": password, "new_password": "a much better passphrase" }),
            ),
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(app.get("/api/v1/users", Some(&token)).await.status(), 200);
    // The old password no longer works; the new one does.
    assert_eq!(app.login(ADMIN_EMAIL, &password).await.status(), 401);
    assert_eq!(
        app.login(ADMIN_EMAIL, "a much better passphrase")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn admin_creates_lists_disables_and_resets_users() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let create = |email: &str, role: &str, sites: Value| json!({ "email": email, "password": "initial-password-1", "role": role, "sites": sites });
    // Invalid inputs are named.
    let cases = [
        (create("nurse@zas.test", "nurse", json!(["ZAS"])), "role"),
        (create("nurse@zas.test", "site_staff", json!([])), "sites"),
        (
            create("nurse@zas.test", "site_staff", json!(["NOPE"])),
            "sites[0]",
        ),
        (
            create("dm@hermes.test", "data_manager", json!(["ZAS"])),
            "sites",
        ),
        (
            create("not-an-email", "site_staff", json!(["ZAS"])),
            "email",
        ),
    ];
    for (body, field) in cases {
        let resp = app.post("/api/v1/users", Some(&admin), body).await;
        assert_eq!(resp.status(), 422);
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["code"], "invalid_input");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with(field),
            "{field}: {body}"
        );
    }

    let resp = app
        .post(
            "/api/v1/users",
            Some(&admin),
            create("Nurse@ZAS.test", "site_staff", json!(["zas"])),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let nurse: Value = resp.json().await.expect("json");
    assert_eq!(nurse["email"], "nurse@zas.test");
    assert_eq!(nurse["sites"], json!(["ZAS"]));
    assert_eq!(nurse["must_change_password"], true);
    let id = nurse["id"].as_str().expect("id").to_string();

    let dup = app
        .post(
            "/api/v1/users",
            Some(&admin),
            create("nurse@zas.test", "site_staff", json!(["ZAS"])),
        )
        .await;
    assert_eq!(dup.status(), 409);
    let body: Value = dup.json().await.expect("json");
    assert_eq!(body["code"], "email_taken");

    let list: Value = app
        .get("/api/v1/users", Some(&admin))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(2));

    let nurse_token = app
        .login_token("nurse@zas.test", "initial-password-1")
        .await;
    let resp = app
        .post(
            &format!("/api/v1/users/{id}/disable"),
            Some(&admin),
            json!({ "reason": "left the hospital" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&nurse_token))
            .await
            .status(),
        401,
        "sessions end"
    );
    assert_eq!(
        app.login("nurse@zas.test", "initial-password-1")
            .await
            .status(),
        401
    );

    let resp = app
        .post(
            &format!("/api/v1/users/{id}/enable"),
            Some(&admin),
            json!({ "reason": "came back" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let resp = app
        .post(
            &format!("/api/v1/users/{id}/reset-password"),
            Some(&admin),
            json!({ "reason": "forgot it" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let one_time: Value = resp.json().await.expect("json");
    let password = one_time["password"].as_str().expect("password");
    let resp = app.login("nurse@zas.test", password).await;
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["must_change_password"], true);

    // Reasons are required.
    let resp = app
        .post(
            &format!("/api/v1/users/{id}/disable"),
            Some(&admin),
            json!({ "reason": "  " }),
        )
        .await;
    assert_eq!(resp.status(), 422);
}

#[tokio::test]
async fn repeated_failures_are_throttled_per_account() {
    let app = spawn_app().await;
    let (other_email, other_password, _) = app.staff_account("data_manager", &[]).await;
    for _ in 0..5 {
        assert_eq!(app.login(ADMIN_EMAIL, "wrong-password").await.status(), 401);
    }
    let resp = app.login(ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), 429, "even the right password waits");
    let retry: i64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry > 0 && retry <= 15 * 60, "{retry}");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "too_many_attempts");

    // Another account from the same address is not locked out by this one.
    assert_eq!(app.login(&other_email, &other_password).await.status(), 200);

    app.clock.advance(Duration::minutes(15));
    assert_eq!(
        app.login(ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn address_throttling_uses_forwarded_for_only_from_trusted_proxies() {
    let app = spawn_app_with(|s| s.trusted_proxies = "127.0.0.1/32".into()).await;
    let login_from = |ip: &'static str, email: String, password: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/api/v1/auth/login", app.address))
                .header("x-forwarded-for", ip)
                .json(&json!({ "email": email, "password": password }))
                .send()
                .await
                .expect("sent")
                .status()
        }
    };
    // A guesser behind the proxy tries many accounts from one address.
    for i in 0..epro::domain::throttle::CLIENT_ADDRESS.policy.max_failures {
        let status = login_from(
            "203.0.113.66",
            format!("guess{i}@hermes.test"),
            "guess-guess",
        )
        .await;
        assert_eq!(status, 401);
    }
    assert_eq!(
        login_from("203.0.113.66", ADMIN_EMAIL.into(), "whatever-it-is").await,
        429
    );
    // A nurse behind the same proxy, at another address, is not affected.
    assert_eq!(
        login_from(
            "198.51.100.7",
            ADMIN_EMAIL.into(),
            crate::helpers::ADMIN_PASSWORD
        )
        .await,
        200
    );
}

#[tokio::test]
async fn cli_user_create_prints_a_one_time_password() {
    let app = spawn_app().await;
    let out = app.cli(&[
        "users",
        "create",
        "--email",
        "Nurse@UZG.test",
        "--role",
        "site_staff",
        "--site",
        "UZG",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let password = stdout
        .lines()
        .find_map(|l| l.split("first login): ").nth(1))
        .expect("printed password")
        .trim()
        .to_string();
    let resp = app.login("nurse@uzg.test", &password).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["must_change_password"], true);

    // A site-bound role without a site is refused with a message naming the field.
    let out = app.cli(&[
        "users",
        "create",
        "--email",
        "x@uzg.test",
        "--role",
        "monitor",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sites"));
}

#[tokio::test]
async fn housekeeping_forgets_expired_sessions_and_old_failures() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    assert_eq!(app.login(ADMIN_EMAIL, "wrong-password").await.status(), 401);
    app.clock.advance(Duration::days(2));
    let swept = epro::jobs::housekeeping::sweep(&app.app)
        .await
        .expect("sweep");
    assert_eq!(
        swept.failures, 3,
        "one failure counts for the account from this address, the account, and the address"
    );
    assert_eq!(swept.staff_sessions, 1);
    assert_eq!(app.get("/api/v1/auth/me", Some(&token)).await.status(), 401);
    // The audit trail keeps the failed login; housekeeping never touches it.
    assert!(
        app.audit_rows()
            .await
            .iter()
            .any(|r| r["action"] == "auth.login_failed")
    );
}

/// Housekeeping is its own job: with reminders and digests switched off, a tick still forgets
/// expired sessions; with housekeeping switched off, it does not.
#[tokio::test]
async fn each_job_is_switched_on_its_own() {
    for housekeeping in [true, false] {
        let app = crate::helpers::spawn_app_with(|s| {
            s.jobs_reminders = false;
            s.jobs_digests = false;
            s.jobs_housekeeping = housekeeping;
        })
        .await;
        app.admin_token().await;
        app.clock.advance(Duration::days(2));
        let mail = epro::notify::mail::Mail::from_settings(&app.settings).expect("mail");
        let tick = epro::jobs::tick(&app.app, &mail).await;
        assert_eq!(tick.reminders, None, "reminders are off");
        assert_eq!(tick.digests, None, "digests are off");
        assert_eq!(
            tick.housekeeping.map(|s| s.staff_sessions),
            housekeeping.then_some(1),
            "housekeeping {housekeeping}"
        );
        let left = app
            .sql_count("SELECT COUNT(*) AS n FROM staff_session")
            .await;
        assert_eq!(left, if housekeeping { 0 } else { 1 });
    }
}

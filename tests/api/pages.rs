//! The pages' security (headers, CSRF, cookies), the completion JSON and the "call today" list,
//! through HTTP with a cookie-keeping client. The browser tests (tests/e2e) drive the same pages
//! in Chromium.

use chrono::{TimeZone, Utc};
use reqwest::{Client, redirect::Policy};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

pub(crate) fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// The CSRF token of the first form of a page (HTML-unescaped, as a browser sends it).
pub(crate) fn csrf_of(html: &str) -> String {
    let start = html
        .find("name=\"csrf\" value=\"")
        .map(|i| i + "name=\"csrf\" value=\"".len())
        .expect("a form with a CSRF token");
    let end = html[start..].find('"').expect("end") + start;
    html[start..end]
        .replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// Sign in on the login page; returns the client holding the session cookie.
pub(crate) async fn sign_in(app: &TestApp, email: &str, password: &str) -> Client {
    let c = browser();
    let page = c
        .get(format!("{}/staff/login", app.address))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let resp = c
        .post(format!("{}/staff/login", app.address))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 303, "signed in");
    c
}

pub(crate) async fn page(c: &Client, app: &TestApp, path: &str) -> (u16, String) {
    let resp = c
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .expect("page");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("html"))
}

#[tokio::test]
async fn pages_send_strict_security_headers_and_refuse_forms_without_csrf() {
    let app = spawn_app().await;
    let c = browser();
    let resp = c
        .get(format!("{}/staff/login", app.address))
        .send()
        .await
        .expect("page");
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    let csp = h["content-security-policy"].to_str().expect("csp");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("http"),
        "{csp}"
    );
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(
        h["cache-control"]
            .to_str()
            .expect("cc")
            .contains("no-store")
    );
    let csrf_cookie = h
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("epro_csrf="))
        .expect("csrf cookie")
        .to_string();
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"));
    assert!(
        !csrf_cookie.contains("Secure"),
        "plain http (development) cannot carry Secure cookies"
    );
    let html = resp.text().await.expect("html");
    assert!(!html.contains("<script>"), "no inline script");
    assert!(
        !html.contains("style=\""),
        "no inline style (the CSP forbids it)"
    );

    // A form posted without (or with a wrong) token is refused, and signs nobody in.
    let (email, password, _) = app.staff_account("site_staff", &["ZAS"]).await;
    for token in ["", "forged"] {
        let resp = c
            .post(format!("{}/staff/login", app.address))
            .form(&[
                ("csrf", token),
                ("email", email.as_str()),
                ("password", password.as_str()),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), 403, "token {token:?}");
    }
    let (status, _) = page(&c, &app, "/staff/").await;
    assert_eq!(status, 303, "still signed out");

    // Static files are cached for good (their URL carries a content hash); pages never are.
    let resp = c
        .get(format!("{}/static/epro.css", app.address))
        .send()
        .await
        .expect("css");
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .expect("cc")
            .contains("immutable")
    );
    // An unknown participant link answers with a page that says so (and no session).
    let (status, html) = page(&c, &app, "/p/not-a-real-link-token-000000000000").await;
    assert_eq!(status, 404);
    assert!(html.contains("Deze link werkt niet meer") || html.contains("no longer works"));
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_secure_httponly_and_strict() {
    let app = spawn_app_with(|s| s.base_url = "https://epro.example.org".into()).await;
    let (email, password, _) = app.staff_account("site_staff", &["ZAS"]).await;
    // A cookie-less client: read the Set-Cookie headers themselves.
    let c = Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let resp = c
        .get(format!("{}/staff/login", app.address))
        .send()
        .await
        .expect("page");
    let csrf_cookie = resp.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    let html = resp.text().await.expect("html");
    let resp = c
        .post(format!("{}/staff/login", app.address))
        .header("cookie", csrf_cookie)
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("email", email.as_str()),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 303);
    let session = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("epro_s="))
        .expect("session cookie")
        .to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(session.contains(attr), "{attr} in {session}");
    }
}

async fn enrol(app: &TestApp, token: &str, id: &str, randomized: &str) {
    app.enrol(
        token,
        id,
        json!({"phone": "+32 470 11 22 33", "randomization_date": randomized}),
    )
    .await;
}

#[tokio::test]
async fn completion_counts_per_visit_and_is_site_scoped() {
    let app = spawn_app_with(|s| s.session_hours = 24 * 365).await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let zas = app.staff_token("site_staff", &["ZAS"]).await;
    let uzg = app.staff_token("site_staff", &["UZG"]).await;
    let dm = app.staff_token("data_manager", &[]).await;
    enrol(&app, &zas, "HERMES-ZAS-301", "2026-01-15").await;
    enrol(&app, &zas, "HERMES-ZAS-302", "2026-01-15").await;
    enrol(&app, &uzg, "HERMES-UZG-301", "2026-01-15").await;
    // After the baseline window and its grace period: nobody answered; one is recorded missed.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 2, 10, 10, 0, 0)
            .single()
            .expect("t"),
    );
    let resp = app
        .post(
            "/api/v1/participants/HERMES-ZAS-301/visits/BL/missed",
            Some(&zas),
            json!({"reason": "too_ill"}),
        )
        .await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );

    let c: Value = app
        .get("/api/v1/completion?visit=BL", Some(&zas))
        .await
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = c["participants"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["study_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        ["HERMES-ZAS-301", "HERMES-ZAS-302"],
        "only the staff member's own site"
    );
    let bl = &c["counts"][0];
    assert_eq!(bl["visit"], "BL");
    assert_eq!(bl["expected"], 2);
    assert_eq!(bl["received"], 0);
    assert_eq!(bl["missed"], 2);
    assert_eq!(bl["missed_reasons"]["too_ill"], 1);
    assert_eq!(bl["rate"], 0.0);
    let row = &c["participants"][0]["visits"][0];
    assert_eq!(row["state"], "missed");
    assert_eq!(row["missed_reason"], "too_ill");
    assert!(row["window_start"].is_string() && row["window_end"].is_string());

    // The data manager sees all sites; a filter by state narrows the rows.
    let all: Value = app
        .get("/api/v1/completion?state=missed", Some(&dm))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(all["participants"].as_array().map(Vec::len), Some(3));
    // Another site's filter yields nothing for site staff (no leak, no error).
    let other: Value = app
        .get("/api/v1/completion?site=UZG", Some(&zas))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(other["participants"].as_array().map(Vec::len), Some(0));
    // A bad filter says which and what is allowed.
    let resp = app.get("/api/v1/completion?visit=M5", Some(&zas)).await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "invalid_input");
    assert!(body["message"].as_str().unwrap_or("").contains("visit"));
}

#[tokio::test]
async fn call_today_lists_late_and_closing_visits_with_the_phone_only_for_own_site_staff() {
    let app = spawn_app_with(|s| s.session_hours = 24 * 365).await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let (email, password, zas) = app.staff_account("site_staff", &["ZAS"]).await;
    enrol(&app, &zas, "HERMES-ZAS-401", "2026-01-15").await;
    // The baseline window closes at the end of the randomization day (15 January); that
    // afternoon is near its end and nothing is started.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 14, 0, 0)
            .single()
            .expect("t"),
    );
    let nurse = sign_in(&app, &email, &password).await;
    let (status, html) = page(&nurse, &app, "/staff/call-today?lang=en").await;
    assert_eq!(status, 200);
    assert!(html.contains("HERMES-ZAS-401"), "{html}");
    assert!(html.contains("Baseline not started, last day 15 January 2026"));
    assert!(html.contains("No email address: no reminders go out"));
    assert!(
        html.contains("+32 470 11 22 33"),
        "own site staff see the phone"
    );

    // The nurse calls and logs it: reached, the row leaves today's list, audited.
    let resp = nurse
        .post(format!("{}/staff/call-today/log", app.address))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("study_id", "HERMES-ZAS-401"),
            ("outcome", "reached"),
            ("note", "voicemail, call back Monday"),
        ])
        .send()
        .await
        .expect("log");
    assert_eq!(resp.status(), 303);
    let (_, html) = page(
        &nurse,
        &app,
        "/staff/call-today?lang=en&logged=HERMES-ZAS-401",
    )
    .await;
    assert!(html.contains("Call to HERMES-ZAS-401 logged"));
    assert!(
        !html.contains("Baseline not started"),
        "off today's list: {html}"
    );
    let audit = app.audit_rows().await;
    let logged = audit
        .iter()
        .find(|r| r["action"] == "participant.call_logged")
        .expect("audited");
    assert!(logged["after"].to_string().contains("voicemail"));
    // An outcome that is not one is refused, naming the field.
    let resp = nurse
        .post(format!("{}/staff/call-today/log", app.address))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("study_id", "HERMES-ZAS-401"),
            ("outcome", "maybe"),
        ])
        .send()
        .await
        .expect("log");
    assert_eq!(resp.status(), 422);
    // In the reader's words: no field name, no code value.
    let html = resp.text().await.expect("html");
    assert!(
        html.contains("Choose one of the options in the list.")
            && !html.contains("outcome")
            && !html.contains("maybe"),
        "{html}"
    );

    // In the grace period the visit is late: back on the list, with the last call.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 20, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let (_, html) = page(&nurse, &app, "/staff/call-today?lang=en").await;
    assert!(html.contains("Baseline late, grace until"), "{html}");
    assert!(html.contains("Last call: 15 January 2026, 15:00, reached – voicemail"));

    // A monitor of the same site sees the list, never the phone number.
    let (m_email, m_password, _) = app.staff_account("monitor", &["ZAS"]).await;
    let monitor = sign_in(&app, &m_email, &m_password).await;
    let (status, html) = page(&monitor, &app, "/staff/call-today?lang=en").await;
    assert_eq!(status, 200);
    assert!(html.contains("HERMES-ZAS-401"));
    assert!(!html.contains("+32 470 11 22 33"));

    // Staff of another site do not see the participant at all.
    let (o_email, o_password, _) = app.staff_account("site_staff", &["UZG"]).await;
    let other = sign_in(&app, &o_email, &o_password).await;
    let (_, html) = page(&other, &app, "/staff/call-today?lang=en").await;
    assert!(!html.contains("HERMES-ZAS-401"));
    let (status, _) = page(&other, &app, "/staff/participants/HERMES-ZAS-401").await;
    assert_eq!(
        status, 404,
        "another site's participant page does not exist for them"
    );
}

#[tokio::test]
async fn a_changed_page_form_keeps_what_was_stored_and_names_the_problem() {
    let app = spawn_app().await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let (email, password, zas) = app.staff_account("site_staff", &["ZAS"]).await;
    enrol(&app, &zas, "HERMES-ZAS-501", "2026-01-15").await;
    let nurse = sign_in(&app, &email, &password).await;
    let (_, html) = page(&nurse, &app, "/staff/participants/HERMES-ZAS-501").await;
    // An analgesic dose that is not a number: 422, the page says what, nothing is stored.
    let resp = nurse
        .post(format!(
            "{}/staff/participants/HERMES-ZAS-501/dose",
            app.address
        ))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("visit", "BL"),
            ("omed", "lots"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 422);
    let body = resp.text().await.expect("html");
    assert!(
        body.contains("Geef een getal.") && !body.contains("omed_mg_per_day"),
        "says what, in Dutch, without the field's name"
    );
    // The participant page is intact, with its schedule.
    let (status, html) = page(&nurse, &app, "/staff/participants/HERMES-ZAS-501").await;
    assert_eq!(status, 200);
    assert!(html.contains("Baseline"));
}

/// A participant signed in on the pages (link from the API, PIN on the PIN page).
pub(crate) async fn participant_browser(app: &TestApp, nurse: &str, study_id: &str) -> Client {
    let link: Value = app
        .post(
            &format!("/api/v1/participants/{study_id}/access-link"),
            Some(nurse),
            json!({"pin": "4826"}),
        )
        .await
        .json()
        .await
        .expect("link");
    let url = link["url"].as_str().expect("url").to_string();
    let path = &url[url.find("/p/").expect("/p/")..];
    let c = browser();
    let (status, html) = page(&c, app, path).await;
    assert_eq!(status, 200);
    let resp = c
        .post(format!("{}{path}", app.address))
        .form(&[("csrf", csrf_of(&html).as_str()), ("pin", "4826")])
        .send()
        .await
        .expect("pin");
    assert_eq!(resp.status(), 303);
    c
}

#[tokio::test]
async fn a_language_link_asks_before_it_holds_and_never_switches_a_visit_already_started() {
    let app = spawn_app_with(|s| s.session_hours = 24 * 365).await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    enrol(&app, &nurse, "HERMES-ZAS-601", "2026-01-15").await;
    let p = participant_browser(&app, &nurse, "HERMES-ZAS-601").await;
    let stored_language = async || -> Value {
        let v: Value = app
            .get("/api/v1/participants/HERMES-ZAS-601", Some(&nurse))
            .await
            .json()
            .await
            .expect("json");
        v["language"].clone()
    };

    // Start the C30 in Dutch (save page 1), then tap "Français".
    let (_, html) = page(&p, &app, "/p/q/BL/eortc-qlq-c30").await;
    assert!(html.contains("lang=\"nl\""));
    let resp = p
        .post(format!("{}/p/q/BL/eortc-qlq-c30", app.address))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("page", "1"),
            ("revision", "0"),
            ("q.q1", "2"),
            ("go", "next"),
        ])
        .send()
        .await
        .expect("page 1");
    assert_eq!(resp.status(), 303);
    let (status, html) = page(&p, &app, "/p/tasks?lang=fr").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Vos questionnaires"),
        "the pages speak French"
    );
    assert!(
        html.contains("Voulez-vous aussi recevoir vos e-mails et vos prochains questionnaires en français à partir de maintenant ?")
            && html.contains("Une visite déjà commencée reste en néerlandais."),
        "the choice is asked about, in French: {html}"
    );
    assert!(
        html.contains(
            "<p lang=\"nl\">Deze pagina&#x27;s zijn nu in het Frans, alleen op dit apparaat."
        ) && html.contains("Een bezoek dat al begonnen is, blijft in het Nederlands."),
        "and in the participant's own language: {html}"
    );
    // The big button keeps the choice on this device only, and says so in both languages.
    assert!(
        html.contains("<button type=\"submit\" name=\"keep\" value=\"0\" class=\"primary\"><span lang=\"fr\">Seulement ces pages, sur cet appareil</span><span lang=\"nl\">Alleen deze pagina&#x27;s, op dit apparaat</span></button>"),
        "{html}"
    );
    assert!(
        html.contains("<span lang=\"fr\">Désormais tout en français, e-mails compris</span><span lang=\"nl\">Voortaan alles in het Frans, ook e-mails</span>"),
        "{html}"
    );
    assert_eq!(stored_language().await, "nl", "not the participant's yet");
    // "Only on this device": the pages stay French, the participant's language stays Dutch.
    let resp = p
        .post(format!("{}/p/language", app.address))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("lang", "fr"),
            ("back", "/p/tasks"),
            ("keep", "0"),
        ])
        .send()
        .await
        .expect("no");
    assert_eq!(resp.status(), 303);
    let (_, html) = page(&p, &app, "/p/tasks").await;
    assert!(html.contains("Vos questionnaires") && !html.contains("lang-prompt"));
    assert_eq!(stored_language().await, "nl");
    // "From now on": the participant's language, audited.
    let (_, html) = page(&p, &app, "/p/tasks?lang=fr").await;
    let resp = p
        .post(format!("{}/p/language", app.address))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("lang", "fr"),
            ("back", "//evil.example/"),
            ("keep", "1"),
        ])
        .send()
        .await
        .expect("yes");
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()["location"],
        "/p/tasks",
        "never sent off the participant's pages"
    );
    assert_eq!(
        stored_language().await,
        "fr",
        "the choice is the participant's"
    );
    assert!(
        app.audit_rows()
            .await
            .iter()
            .any(|r| r["action"] == "participant.language_changed")
    );
    // The visit already started stays Dutch: the started C30 and the BM22 not yet started.
    let (_, html) = page(&p, &app, "/p/q/BL/eortc-qlq-c30?page=1").await;
    assert!(html.contains("class=\"questionnaire\" data-autosave lang=\"nl\""));
    assert!(
        html.contains("name=\"q.q1\" value=\"2\" checked"),
        "the answer is kept"
    );
    let (_, html) = page(&p, &app, "/p/q/BL/eortc-qlq-bm22").await;
    assert!(html.contains("class=\"questionnaire\" data-autosave lang=\"nl\""));
    assert!(
        html.contains("Questionnaire 2 sur 3"),
        "the page around it is French"
    );
}

/// A session that ends mid-questionnaire: the page posted then asks for the PIN right there
/// (with the site's phone), and the PIN saves the answers just given and goes on.
#[tokio::test]
async fn a_session_that_ends_mid_form_asks_for_the_pin_there_and_keeps_the_answers() {
    let app = spawn_app().await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    enrol(&app, &nurse, "HERMES-ZAS-602", "2026-01-15").await;
    let p = participant_browser(&app, &nurse, "HERMES-ZAS-602").await;
    let (_, html) = page(&p, &app, "/p/q/BL/eortc-qlq-c30").await;
    let csrf = csrf_of(&html);
    // The session ends (12 hours later) while page 1 is open.
    app.clock.advance(chrono::Duration::hours(13));
    let resp = p
        .post(format!("{}/p/q/BL/eortc-qlq-c30", app.address))
        .form(&[
            ("csrf", csrf.as_str()),
            ("page", "1"),
            ("revision", "0"),
            ("q.q1", "3"),
            ("q.q2", "1"),
            ("go", "next"),
        ])
        .send()
        .await
        .expect("page 1");
    assert_eq!(resp.status(), 401);
    let html = resp.text().await.expect("html");
    assert!(
        html.contains("action=\"&#x2f;p&#x2f;resume\""),
        "a PIN form right there: {html}"
    );
    assert!(html.contains("Uw sessie is afgelopen") && html.contains("<h1>Opnieuw aanmelden</h1>"));
    assert!(
        html.contains("href=\"tel:+3230000001\""),
        "the site's phone"
    );
    assert!(
        html.contains("name=\"carry.q.q1\" value=\"3\""),
        "the answers travel along"
    );
    // The autosave learns that the session ended.
    let resp = p
        .post(format!("{}/p/q/BL/eortc-qlq-c30", app.address))
        .form(&[
            ("csrf", csrf.as_str()),
            ("page", "1"),
            ("q.q1", "3"),
            ("go", "save"),
        ])
        .send()
        .await
        .expect("autosave");
    assert_eq!(resp.status(), 401);
    // A wrong PIN keeps the form and the answers.
    let mut form: Vec<(String, String)> = vec![
        ("csrf".into(), csrf_of(&html)),
        ("next".into(), "/p/q/BL/eortc-qlq-c30".into()),
        ("carry.page".into(), "1".into()),
        ("carry.q.q1".into(), "3".into()),
        ("carry.q.q2".into(), "1".into()),
        ("carry.go".into(), "next".into()),
        ("pin".into(), "0000".into()),
    ];
    let resp = p
        .post(format!("{}/p/resume", app.address))
        .form(&form)
        .send()
        .await
        .expect("wrong pin");
    assert_eq!(resp.status(), 401);
    let again = resp.text().await.expect("html");
    assert!(again.contains("name=\"carry.q.q2\" value=\"1\""));
    form.last_mut().expect("pin").1 = "4826".into();
    let resp = p
        .post(format!("{}/p/resume", app.address))
        .form(&form)
        .send()
        .await
        .expect("pin");
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()["location"],
        "/p/q/BL/eortc-qlq-c30?page=2",
        "on where the participant was"
    );
    let (status, html) = page(&p, &app, "/p/q/BL/eortc-qlq-c30?page=1").await;
    assert_eq!(status, 200);
    assert!(html.contains("name=\"q.q1\" value=\"3\" checked"), "saved");
    assert!(html.contains("name=\"q.q2\" value=\"1\" checked"), "saved");
    // Without the link (another browser), the page says to open the link again.
    let (status, html) = page(&browser(), &app, "/p/tasks").await;
    assert_eq!(status, 401);
    assert!(html.contains("Open opnieuw de link"));
}

/// A closed visit is entered through the late-entry step: the reason first, then the forms,
/// the review filled in with that reason.
#[tokio::test]
async fn a_late_entry_asks_the_reason_first() {
    let app = spawn_app_with(|s| s.session_hours = 24 * 365).await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let (email, password, zas) = app.staff_account("site_staff", &["ZAS"]).await;
    enrol(&app, &zas, "HERMES-ZAS-701", "2026-01-15").await;
    // Six weeks on, the baseline is closed (missed).
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let nurse = sign_in(&app, &email, &password).await;
    let (_, html) = page(&nurse, &app, "/staff/participants/HERMES-ZAS-701").await;
    assert!(
        html.contains("/staff/participants/HERMES-ZAS-701/late/BL"),
        "offered as a late entry"
    );
    assert!(
        !html.contains("/staff/participants/HERMES-ZAS-701/interviewer/BL/"),
        "not as a direct entry"
    );
    let resp = nurse
        .get(format!(
            "{}/staff/participants/HERMES-ZAS-701/interviewer/BL/eortc-qlq-c30",
            app.address
        ))
        .send()
        .await
        .expect("entry");
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()["location"],
        "/staff/participants/HERMES-ZAS-701/late/BL"
    );
    let (status, html) = page(&nurse, &app, "/staff/participants/HERMES-ZAS-701/late/BL").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("HERMES-ZAS-701 · Baseline · Late invoer"),
        "{html}"
    );
    let post = async |form: &[(&str, &str)]| {
        nurse
            .post(format!(
                "{}/staff/participants/HERMES-ZAS-701/late/BL",
                app.address
            ))
            .form(form)
            .send()
            .await
            .expect("late")
    };
    let csrf = csrf_of(&html);
    // Without a reason: refused, naming it, what was typed kept.
    let resp = post(&[
        ("csrf", &csrf),
        ("mode", "interviewer"),
        ("entry_reason", " "),
    ])
    .await;
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .expect("html")
            .contains("Vul de reden van de late invoer in.")
    );
    // Paper needs the day it was filled in.
    let resp = post(&[
        ("csrf", &csrf),
        ("mode", "paper"),
        ("entry_reason", "typed in late"),
    ])
    .await;
    assert_eq!(resp.status(), 422);
    let resp = post(&[
        ("csrf", &csrf),
        ("mode", "interviewer"),
        ("entry_reason", "participant was in hospital"),
    ])
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()["location"],
        "/staff/participants/HERMES-ZAS-701/interviewer/BL/eortc-qlq-c30"
    );
    let (status, _) = page(
        &nurse,
        &app,
        "/staff/participants/HERMES-ZAS-701/interviewer/BL/eortc-qlq-c30",
    )
    .await;
    assert_eq!(status, 200, "the form opens after the step");
    let (_, html) = page(
        &nurse,
        &app,
        "/staff/participants/HERMES-ZAS-701/interviewer/BL/eortc-qlq-c30/review",
    )
    .await;
    assert!(
        html.contains("value=\"participant was in hospital\""),
        "the reason carried to the review"
    );
}

/// The dashboard's CONSORT-PRO table speaks the reader's language: visit labels, questionnaire
/// titles, arms, missed reasons and causes, no code values.
#[tokio::test]
async fn the_consort_pro_table_is_per_instrument_and_arm_in_dutch_and_french() {
    let app = spawn_app_with(|s| s.session_hours = 24 * 365).await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let (email, password, zas) = app.staff_account("site_staff", &["ZAS"]).await;
    app.enrol(
        &zas,
        "HERMES-ZAS-501",
        json!({"randomization_date": "2026-01-15", "arm": "B"}),
    )
    .await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 2, 10, 10, 0, 0)
            .single()
            .expect("t"),
    );
    let resp = app
        .post(
            "/api/v1/participants/HERMES-ZAS-501/visits/BL/missed",
            Some(&zas),
            json!({"questionnaire": "eortc-qlq-bm22", "reason": "too_ill"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let nurse = sign_in(&app, &email, &password).await;
    for (lang, title, arm, reason, none) in [
        (
            "nl",
            "Per vragenlijst en studiearm",
            "Arm B: preventieve radiotherapie",
            "te ziek",
            "geen reden opgegeven",
        ),
        (
            "fr",
            "Par questionnaire et bras",
            "Bras B : radiothérapie préventive",
            "trop malade",
            "aucune raison donnée",
        ),
    ] {
        let (status, html) = page(&nurse, &app, &format!("/staff/?lang={lang}")).await;
        assert_eq!(status, 200);
        for text in [title, arm, reason, none] {
            assert!(html.contains(text), "{lang}: {text}");
        }
        for code in ["too_ill", "no_reason", "eortc-qlq-bm22"] {
            assert!(!html.contains(code), "{lang}: {code} reaches the reader");
        }
    }
}

/// A lesion changed on the record page (radiotherapy date, label) keeps what it had otherwise
/// and lands in the audit trail with the reason.
#[tokio::test]
async fn a_lesion_is_changed_on_the_record_page_with_a_reason() {
    let app = spawn_app().await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let (email, password, zas) = app.staff_account("site_staff", &["ZAS"]).await;
    enrol(&app, &zas, "HERMES-ZAS-502", "2026-01-15").await;
    let lesion = app
        .post_ok(
            "/api/v1/participants/HERMES-ZAS-502/lesions",
            Some(&zas),
            json!({"location": "femoral_neck", "side": "right", "labels": {"nl": "rechterheup", "fr": "hanche droite", "en": "right hip"}, "high_risk_reasons": ["size_2cm"]}),
        )
        .await;
    let id = lesion["id"].as_str().expect("id").to_string();
    let nurse = sign_in(&app, &email, &password).await;
    let (_, html) = page(&nurse, &app, "/staff/participants/HERMES-ZAS-502?lang=nl").await;
    assert!(
        html.contains("Letsel wijzigen: rechterheup"),
        "an edit form per lesion"
    );
    let resp = nurse
        .post(format!(
            "{}/staff/participants/HERMES-ZAS-502/lesion_edit",
            app.address
        ))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("lesion", id.as_str()),
            ("label_nl", "heup rechts"),
            ("label_fr", "hanche droite"),
            ("label_en", "right hip"),
            ("side", "right"),
            ("irradiation_date", "2026-01-20"),
            ("active", "1"),
            ("reason", "radiotherapy given"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 303);
    let lesions: Value = app
        .get("/api/v1/participants/HERMES-ZAS-502/lesions", Some(&zas))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(lesions[0]["irradiation_date"], "2026-01-20");
    assert_eq!(lesions[0]["labels"]["nl"], "heup rechts");
    assert_eq!(lesions[0]["location"], "femoral_neck", "kept");
    let rows = app.audit_rows().await;
    assert!(
        rows.iter()
            .any(|r| r["action"] == "lesion.updated" && r["reason"] == "radiotherapy given")
    );
}

/// #32.7–9 on the record page: refusals in the reader's language with local dates (no field
/// name, code or ISO date), the typed values kept; a French-speaking participant's lesion needs
/// its label only in French; the PIN reset asks for confirmation; the enrolment form shows an
/// example study id; a password change says it worked; revoked links say when.
#[tokio::test]
async fn staff_forms_refuse_in_the_readers_words_and_keep_what_was_typed() {
    let app = spawn_app().await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let (email, password, zas) = app.staff_account("site_staff", &["ZAS"]).await;
    app.enrol(
        &zas,
        "HERMES-ZAS-503",
        json!({"language": "fr", "randomization_date": "2026-12-07"}),
    )
    .await;
    let nurse = sign_in(&app, &email, &password).await;
    let record = "/staff/participants/HERMES-ZAS-503";
    let post = async |form: &str, lang: &str, fields: &[(&str, &str)]| {
        let (_, html) = page(&nurse, &app, &format!("{record}?lang={lang}")).await;
        let csrf = csrf_of(&html);
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        let resp = nurse
            .post(format!("{}{record}/{form}", app.address))
            .form(&all)
            .send()
            .await
            .expect("post");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("html"))
    };
    let english = [
        "required",
        "future",
        "today",
        "does not match",
        "labels.",
        "study_id",
        "date:",
        "2026-12-",
    ];
    // The refusal as shown (the alert), free of English, field names, codes and ISO dates.
    let clean = |html: &str| {
        let start = html.find("role=\"alert\">").expect("an alert") + "role=\"alert\">".len();
        let alert = &html[start..start + html[start..].find("</p>").expect("end")];
        for word in english {
            assert!(!alert.contains(word), "{word:?} in {alert:?}");
        }
    };

    // A lesion labelled only in Dutch for a French-speaking participant: refused, in Dutch,
    // naming French; what was typed is still there.
    let (status, html) = post(
        "lesion",
        "nl",
        &[
            ("location", "femoral_neck"),
            ("side", "right"),
            ("label_nl", "rechterheup"),
            ("high_risk", "size_2cm"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains("Geef een omschrijving in het Frans, de taal van de deelnemer."),
        "{html}"
    );
    assert!(
        html.contains("value=\"rechterheup\""),
        "the label typed is kept"
    );
    assert!(
        html.contains("value=\"size_2cm\" checked"),
        "the reason ticked is kept"
    );
    assert!(
        html.contains("value=\"femoral_neck\" selected"),
        "the location chosen is kept"
    );
    clean(&html);
    // In French only: taken (no Dutch or English label demanded).
    let (status, _) = post(
        "lesion",
        "fr",
        &[
            ("location", "femoral_neck"),
            ("side", "right"),
            ("label_fr", "hanche droite"),
            ("high_risk", "size_2cm"),
        ],
    )
    .await;
    assert_eq!(status, 303);

    // An event in the future: the dates written out in the page's language.
    let (status, html) = post(
        "event",
        "fr",
        &[
            ("kind", "sse"),
            ("date", "2026-12-20"),
            ("reason", "fracture"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains("Le 20 décembre 2026 est dans le futur (nous sommes le 7 décembre 2026)."),
        "{html}"
    );
    assert!(
        html.contains("value=\"fracture\""),
        "the reason typed is kept"
    );
    clean(&html);

    // A phone number that is none.
    let (status, html) = post(
        "details",
        "nl",
        &[("phone", "12"), ("email", ""), ("reason", "new number")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        html.contains("Dat is geen geldig telefoonnummer."),
        "{html}"
    );
    clean(&html);

    // A PIN reset needs its confirmation.
    app.issue_link(&zas, "HERMES-ZAS-503", Some("4826")).await;
    let (status, html) = post("pin", "nl", &[]).await;
    assert_eq!(status, 422);
    assert!(
        html.contains("Vink eerst aan dat u dit wilt bevestigen."),
        "{html}"
    );
    let (status, _) = post("pin", "nl", &[("confirm", "1")]).await;
    assert_eq!(status, 303);

    // Revoked links: the panel says so, with the day.
    let (status, _) = post("revoke", "nl", &[("reason", "phone lost")]).await;
    assert_eq!(status, 303);
    let (_, html) = page(&nurse, &app, &format!("{record}?lang=nl")).await;
    assert!(
        html.contains("De links werden ingetrokken op 7 december 2026"),
        "{html}"
    );

    // The enrolment form: an example of the study id; a wrong one says what it should be.
    let (_, html) = page(&nurse, &app, "/staff/enrol?lang=nl").await;
    assert!(html.contains("bijvoorbeeld HERMES-ZAS-001"), "{html}");
    let resp = nurse
        .post(format!("{}/staff/enrol", app.address))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("study_id", "ZAS-1"),
            ("site", "ZAS"),
            ("language", "nl"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.expect("html");
    assert!(html.contains("Schrijf het zoals HERMES-ZAS-001."), "{html}");
    clean(&html);

    // A new password that is too short, then one that is taken: the login page says so.
    let (_, html) = page(&nurse, &app, "/staff/password?lang=fr").await;
    let change = async |new: &str| {
        nurse
            .post(format!("{}/staff/password", app.address))
            .form(&[
                ("csrf", csrf_of(&html).as_str()),
                ("current", password.as_str()),
                ("new", new),
            ])
            .send()
            .await
            .expect("post")
    };
    let resp = change("short").await;
    assert_eq!(resp.status(), 422);
    let body = resp.text().await.expect("html");
    assert!(
        body.contains("Le nouveau mot de passe doit avoir au moins 12 caractères."),
        "{body}"
    );
    let resp = change("a much longer new password").await;
    assert_eq!(resp.status(), 303);
    let to = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let (_, html) = page(&nurse, &app, &to).await;
    assert!(html.contains("Votre mot de passe a été changé."), "{html}");
}

/// #32.9: the language chosen on the login page is the staff member's (their digest's).
#[tokio::test]
async fn the_language_chosen_on_the_login_page_is_kept() {
    let app = spawn_app().await;
    let (email, password, _) = app.staff_account("site_staff", &["ZAS"]).await;
    let c = browser();
    let html = c
        .get(format!("{}/staff/login?lang=fr", app.address))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let resp = c
        .post(format!("{}/staff/login", app.address))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("email", email.as_str()),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 303);
    use sea_orm::ConnectionTrait;
    let backend = app.app.db.get_database_backend();
    let row = app
        .app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            backend,
            format!("SELECT language FROM staff_user WHERE email = '{email}'"),
        ))
        .await
        .expect("query")
        .expect("row");
    let language: Option<String> = row.try_get("", "language").expect("language");
    assert_eq!(language.as_deref(), Some("fr"), "the digest's language");
}

//! One visit status everywhere (#32.4), the nurse's Call today list and the digest (#32.5), and
//! the randomization's arm (#32.6), walked through the API and the pages with the injected clock.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};
use crate::pages::{csrf_of, page, sign_in};
use crate::trial_rules::{all, staff_submit, state_of};

async fn spawn() -> TestApp {
    spawn_app_with(|s| s.session_hours = 24 * 365 * 3).await
}

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().expect("t")
}

async fn json_of(app: &TestApp, path: &str, staff: &str) -> Value {
    let resp = app.get(path, Some(staff)).await;
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.expect("json")
}

fn count_of<'a>(c: &'a Value, visit: &str) -> &'a Value {
    c["counts"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["visit"] == visit))
        .unwrap_or(&Value::Null)
}

/// Every per-visit row adds up: expected = received + partial + missed + awaited.
fn assert_counts_add_up(c: &Value) {
    for n in c["counts"].as_array().expect("counts") {
        let get = |k: &str| n[k].as_u64().unwrap_or(0);
        assert_eq!(
            get("expected"),
            get("received") + get("partial") + get("missed") + get("awaited"),
            "{n}"
        );
        let reasons: u64 = n["missed_reasons"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        assert_eq!(
            reasons,
            get("missed"),
            "each missed visit once by reason: {n}"
        );
    }
}

/// M1 passes its grace unanswered (missed, on the to-do list); then all three forms are typed
/// in from paper filled in after the grace period, with a reason. The visit is received —
/// on the schedule, in the per-visit and per-form counts alike — the record shows the paper day
/// and the reason and offers no late entry any more, and a teleconsultation link of a
/// received form says so instead of opening a late entry.
#[tokio::test]
async fn a_late_paper_entry_of_every_form_completes_the_visit_everywhere() {
    let app = spawn().await;
    app.clock.set(at(2026, 1, 15, 9));
    let (email, password, nurse) = app.staff_account("site_staff", &["ZAS"]).await;
    let id = "HERMES-ZAS-501";
    app.enrol(
        &nurse,
        id,
        json!({"randomization_date": "2026-01-15", "arm": "A", "phone": "+32 470 11 22 33"}),
    )
    .await;
    // M1: window 8–22 February, grace to 1 March.
    app.clock.set(at(2026, 3, 10, 9));
    let schedule = format!("/api/v1/participants/{id}/schedule");
    assert_eq!(
        state_of(&json_of(&app, &schedule, &nurse).await, "M1"),
        "missed"
    );
    let c = json_of(&app, "/api/v1/completion", &nurse).await;
    assert_eq!(count_of(&c, "M1")["missed_reasons"]["no_reason"], 1, "{c}");
    assert_counts_add_up(&c);

    for key in ["eortc-qlq-c30", "eortc-qlq-bm22", "nrs-lesion-pain"] {
        let answers = match key {
            "eortc-qlq-c30" => all(1..=30, 2),
            "eortc-qlq-bm22" => all(31..=52, 2),
            _ => json!([]),
        };
        let body = json!({"mode": "paper", "completed_on": "2026-03-05", "answers": answers, "reason": "form found in the file"});
        let (status, out) = staff_submit(&app, &nurse, id, "M1", key, body).await;
        assert_eq!(status, 200, "{key}: {out}");
        assert_eq!(out["late"], true, "{key}");
    }

    // One status: the schedule, the per-visit count and the per-form count agree.
    assert_eq!(
        state_of(&json_of(&app, &schedule, &nurse).await, "M1"),
        "completed"
    );
    let c = json_of(&app, "/api/v1/completion", &nurse).await;
    let m1 = count_of(&c, "M1");
    assert_eq!(
        (
            m1["expected"].clone(),
            m1["received"].clone(),
            m1["missed"].clone(),
            m1["partial"].clone()
        ),
        (json!(1), json!(1), json!(0), json!(0)),
        "{m1}"
    );
    assert_eq!(m1["missed_reasons"], json!({}), "no to-do left: {m1}");
    assert_eq!(m1["rate"], 1.0);
    assert_counts_add_up(&c);
    let forms: Vec<&Value> = c["forms"]
        .as_array()
        .expect("forms")
        .iter()
        .filter(|f| f["visit"] == "M1")
        .collect();
    assert_eq!(forms.len(), 3, "{c}");
    for f in forms {
        assert_eq!(
            (f["received_late"].clone(), f["missed"].clone()),
            (json!(1), json!(0)),
            "{f}"
        );
    }
    assert!(
        !c["todo"]
            .as_array()
            .expect("todo")
            .iter()
            .any(|t| t["visit"] == "M1"),
        "{c}"
    );

    // The record: the paper day and the reason, no late entry offered for M1.
    let browser = sign_in(&app, &email, &password).await;
    let (status, html) = page(&browser, &app, &format!("/staff/participants/{id}?lang=nl")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Op papier ingevuld op 5 maart 2026"),
        "{html}"
    );
    assert!(html.contains("form found in the file"), "{html}");
    assert!(
        !html
            .replace("&#x2f;", "/")
            .contains(&format!("/staff/participants/{id}/late/M1")),
        "{html}"
    );
    // The dashboard's per-visit table has the partial and in-grace columns.
    let (_, html) = page(&browser, &app, "/staff/?lang=nl").await;
    assert!(
        html.contains("data-n=\"partial\"") && html.contains("data-n=\"awaited\""),
        "{html}"
    );

    // A teleconsultation link of a received form: "received", no late entry.
    let resp = browser
        .get(format!(
            "{}/staff/participants/{id}/interviewer/M1/eortc-qlq-c30?lang=nl",
            app.address
        ))
        .send()
        .await
        .expect("page");
    assert_eq!(resp.status(), 303);
    let to = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert!(to.ends_with("/late/M1?received=eortc-qlq-c30"), "{to}");
    let (status, html) = page(&browser, &app, &to).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"entry-completed\""), "{html}");
    assert!(
        !html.contains("is gesloten") && !html.contains("entry_reason"),
        "{html}"
    );
}

/// Before randomization the baseline's window has no end yet: the record says it runs until
/// randomization instead of ending on a dash.
#[tokio::test]
async fn the_baseline_window_before_randomization_says_so() {
    let app = spawn().await;
    app.clock.set(at(2026, 12, 7, 9));
    let (email, password, nurse) = app.staff_account("site_staff", &["ZAS"]).await;
    app.enrol(&nurse, "HERMES-ZAS-502", json!({})).await;
    let browser = sign_in(&app, &email, &password).await;
    for (lang, text) in [
        ("nl", "vanaf 7 december 2026, vóór de randomisatie"),
        ("fr", "à partir du 7 décembre 2026, avant la randomisation"),
    ] {
        let (_, html) = page(
            &browser,
            &app,
            &format!("/staff/participants/HERMES-ZAS-502?lang={lang}"),
        )
        .await;
        assert!(html.contains(text), "{lang}: {html}");
        assert!(!html.contains("2026 – </td>"), "{lang}: {html}");
    }
}

/// Call today: forms missed without a reason are listed; "not reached" keeps the row; "reached
/// – no SSE" closes the pain flag for good (until a new reading), while "reached" hides it only
/// for the day. The digest lists a participant without email whose visit is in grace.
#[tokio::test]
async fn call_today_lists_the_to_do_keeps_unreached_rows_and_closes_assessed_pain_flags() {
    let app = spawn().await;
    app.clock.set(at(2026, 1, 15, 9));
    let (email, password, nurse) = app.staff_account("site_staff", &["ZAS"]).await;
    let id = "HERMES-ZAS-503";
    app.enrol(
        &nurse,
        id,
        json!({"randomization_date": "2026-01-15", "arm": "B", "phone": "+32 470 11 22 33"}),
    )
    .await;
    let lesion: Value = app
        .post_ok(
            &format!("/api/v1/participants/{id}/lesions"),
            Some(&nurse),
            json!({"location": "L3", "labels": {"nl": "onderrug", "fr": "bas du dos", "en": "lower back"}, "high_risk_reasons": ["size_2cm"]}),
        )
        .await;
    let lesion_id = lesion["id"].as_str().expect("lesion id").to_string();
    let nrs = |v: i64| json!({"mode": "interviewer", "answers": [{"item": "worst_pain", "value": v, "lesion": lesion_id}]});
    let (status, out) = staff_submit(&app, &nurse, id, "BL", "nrs-lesion-pain", nrs(0)).await;
    assert_eq!(status, 200, "{out}");
    // M1 (window 8–22 February): pain 0 → 3, an "assess for SSE" flag; C30 and BM22 left.
    app.clock.set(at(2026, 2, 10, 9));
    let (status, out) = staff_submit(&app, &nurse, id, "M1", "nrs-lesion-pain", nrs(3)).await;
    assert_eq!(status, 200, "{out}");

    let browser = sign_in(&app, &email, &password).await;
    let list = |lang: &'static str| {
        let (browser, app) = (&browser, &app);
        async move {
            page(browser, app, &format!("/staff/call-today?lang={lang}"))
                .await
                .1
        }
    };
    let html = list("en").await;
    assert!(
        html.contains("Pain 0 → 3 (lower back, Month 1): assess for SSE"),
        "{html}"
    );
    assert!(
        html.contains("value=\"reached_no_sse\""),
        "offered where a flag is listed: {html}"
    );
    // The teleconsultation starts on the first form not received (links are HTML-escaped).
    let links = html.replace("&#x2f;", "/");
    assert!(
        !links.contains("/interviewer/M1/nrs-lesion-pain")
            && links.contains("/interviewer/M1/eortc-qlq-c30"),
        "{html}"
    );

    let log = |outcome: &'static str, html: String| {
        let (browser, app) = (&browser, &app);
        async move {
            let resp = browser
                .post(format!("{}/staff/call-today/log", app.address))
                .form(&[
                    ("csrf", csrf_of(&html).as_str()),
                    ("study_id", id),
                    ("outcome", outcome),
                ])
                .send()
                .await
                .expect("log");
            assert_eq!(resp.status(), 303, "{outcome}");
        }
    };
    // Not reached: the row stays, to call again.
    log("not_reached", html).await;
    let html = list("en").await;
    assert!(
        html.contains("assess for SSE"),
        "not reached stays on the list: {html}"
    );
    // Reached, no SSE: the flag is closed, today and on the next days.
    log("reached_no_sse", html).await;
    let html = list("en").await;
    assert!(!html.contains("assess for SSE"), "{html}");
    app.clock.set(at(2026, 2, 12, 9));
    let html = list("en").await;
    assert!(
        !html.contains("assess for SSE"),
        "closed the next day too: {html}"
    );

    // After M1's grace (1 March) C30 and BM22 are missed without a reason: the site's to-do.
    app.clock.set(at(2026, 3, 3, 9));
    let html = list("nl").await;
    assert!(
        html.contains("Maand 1: 2 vragenlijst(en) gemist zonder reden"),
        "{html}"
    );
    let c = json_of(&app, "/api/v1/completion", &nurse).await;
    assert_eq!(
        c["todo"].as_array().map(|t| t
            .iter()
            .filter(|t| t["study_id"] == id && t["visit"] == "M1")
            .count()),
        Some(2),
        "{c}"
    );
    assert_eq!(count_of(&c, "M1")["partial"], 1, "{c}");
    assert_counts_add_up(&c);
}

/// The digest's "no email" section covers visits still answerable in their grace period, as
/// Call today does.
#[tokio::test]
async fn the_digest_names_a_participant_without_email_whose_visit_is_in_grace() {
    use crate::reminders::{SmtpServer, app_with_smtp_settings, decoded, local};
    let smtp = SmtpServer::start();
    let app = app_with_smtp_settings(smtp.port, |_| {}).await;
    app.clock.set(local("2026-01-15".parse().expect("d"), 7));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    app.enrol(
        &nurse,
        "HERMES-ZAS-504",
        json!({"randomization_date": "2026-01-15", "arm": "A", "phone": "+32 470 11 22 33"}),
    )
    .await;
    // 18 January, 08:00: the baseline (window 15 January) is in its grace period.
    app.clock.set(local("2026-01-18".parse().expect("d"), 8));
    let schedule: Value = app
        .get("/api/v1/participants/HERMES-ZAS-504/schedule", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(state_of(&schedule, "BL"), "late");
    let mail = epro::notify::mail::Mail::from_settings(&app.settings).expect("mail");
    epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    let digest = smtp
        .all_messages()
        .into_iter()
        .find(|m| m.to.iter().any(|t| t.ends_with("@hermes.test")))
        .expect("a digest");
    let text = decoded(&digest.data);
    let section = text
        .split("Open of te laat bezoek zonder e-mailadres")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_default()
        .to_string();
    assert!(section.contains("HERMES-ZAS-504"), "{section}\n{text}");
}

/// A randomization needs its arm (API and record page, in the reader's language); a second
/// one is refused in the reader's language; site staff see who corrects instead of a form
/// that ends in a refusal.
#[tokio::test]
async fn a_randomization_needs_its_arm_and_a_second_one_is_refused_in_the_readers_language() {
    let app = spawn().await;
    app.clock.set(at(2026, 1, 15, 9));
    let (email, password, nurse) = app.staff_account("site_staff", &["ZAS"]).await;
    let id = "HERMES-ZAS-505";
    app.enrol(&nurse, id, json!({})).await;
    let events = format!("/api/v1/participants/{id}/events");
    let resp = app
        .post(
            &events,
            Some(&nurse),
            json!({"type": "randomization", "date": "2026-01-15", "reason": "randomized"}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "arm_required", "{body}");
    // At enrolment too: a randomization date with no arm is refused, and nothing is stored.
    let resp = app
        .post(
            "/api/v1/participants",
            Some(&nurse),
            json!({"study_id": "HERMES-ZAS-506", "site": "ZAS", "language": "nl", "randomization_date": "2026-01-15"}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "arm_required", "{body}");
    assert_eq!(
        app.get("/api/v1/participants/HERMES-ZAS-506", Some(&nurse))
            .await
            .status(),
        404
    );

    let browser = sign_in(&app, &email, &password).await;
    let record = format!("/staff/participants/{id}");
    let post = |lang: &'static str, arm: &'static str| {
        let (browser, app, record) = (&browser, &app, &record);
        async move {
            let (_, html) = page(browser, app, &format!("{record}?lang={lang}")).await;
            let resp = browser
                .post(format!("{}{record}/event?lang={lang}", app.address))
                .form(&[
                    ("csrf", csrf_of(&html).as_str()),
                    ("kind", "randomization"),
                    ("date", "2026-01-15"),
                    ("arm", arm),
                    ("reason", "gerandomiseerd"),
                ])
                .send()
                .await
                .expect("post");
            (
                resp.status().as_u16(),
                resp.text().await.unwrap_or_default(),
            )
        }
    };
    let (status, html) = post("nl", "").await;
    assert_eq!(status, 422);
    assert!(
        html.to_lowercase()
            .contains("kies de arm van de randomisatie"),
        "{html}"
    );
    let (status, html) = post("fr", "").await;
    assert_eq!(status, 422);
    assert!(
        html.to_lowercase()
            .contains("choisissez le bras de la randomisation"),
        "{html}"
    );
    let (status, _) = post("nl", "A").await;
    assert_eq!(status, 303);
    let (status, html) = post("fr", "B").await;
    assert_eq!(status, 422);
    assert!(
        html.to_lowercase()
            .contains("cet événement est déjà enregistré"),
        "{html}"
    );
    assert!(!html.contains("already recorded"), "{html}");
    // No correction form for site staff: who corrects, instead.
    let (_, html) = page(&browser, &app, &format!("{record}?lang=nl")).await;
    assert!(
        html.contains("id=\"correct-by-dm\"")
            && !html.replace("&#x2f;", "/").contains("/correct\""),
        "{html}"
    );
}

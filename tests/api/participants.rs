use chrono::{Duration, TimeZone, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// These tests move the clock by months; sessions must outlive that.
async fn spawn_long_sessions() -> TestApp {
    spawn_app_with(|s| s.session_hours = 24 * 365 * 3).await
}

fn lesion(n: usize) -> Value {
    let location = [
        "L1",
        "T12",
        "femoral_neck",
        "acetabulum",
        "humeral_head",
        "rib",
    ][n];
    let side = [
        None,
        None,
        Some("right"),
        Some("left"),
        Some("left"),
        Some("right"),
    ][n];
    json!({
        "location": location,
        "side": side,
        "labels": {
            "nl": format!("plek {n}"), "fr": format!("endroit {n}"), "en": format!("place {n}")
        },
        "high_risk_reasons": ["size_2cm"],
    })
}

async fn enrol(app: &TestApp, token: &str, study_id: &str, extra: Value) -> reqwest::Response {
    let mut body = json!({
        "study_id": study_id, "site": "ZAS", "language": "nl",
        "email": "jan.peeters@example.be", "phone": "+32470123456",
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
        // A randomization is recorded with its arm: A unless the test names one.
        if b.contains_key("randomization_date") && !b.contains_key("arm") {
            b.insert("arm".into(), json!("A"));
        }
    }
    app.post("/api/v1/participants", Some(token), body).await
}

fn visit<'a>(schedule: &'a Value, code: &str) -> &'a Value {
    schedule
        .as_array()
        .and_then(|v| v.iter().find(|x| x["code"] == code))
        .unwrap_or_else(|| panic!("{code}"))
}

#[tokio::test]
async fn enrol_then_randomize_and_site_scoping() {
    let app = spawn_app().await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let other_site = app.staff_token("site_staff", &["UZG"]).await;
    let monitor = app.staff_token("monitor", &["ZAS"]).await;
    let dm = app.staff_token("data_manager", &[]).await;

    // Enrol without randomization date: baseline open.
    let resp = enrol(&app, &nurse, "HERMES-ZAS-001", json!({})).await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let p: Value = app
        .get("/api/v1/participants/HERMES-ZAS-001", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(p["status"], "enrolled");
    assert_eq!(p["phone"], "+32470123456", "own site staff see the phone");
    let s: Value = app
        .get("/api/v1/participants/HERMES-ZAS-001/schedule", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(s.as_array().map(Vec::len), Some(1));
    assert_eq!(visit(&s, "BL")["state"], "open");
    assert_eq!(visit(&s, "BL")["window_end"], Value::Null);

    // Invalid enrolments name the field.
    for (body, field) in [
        (json!({"study_id": "HERMES-UZG-002"}), "study_id"),
        (
            json!({"study_id": "HERMES-ZAS-002", "language": "de"}),
            "language",
        ),
        (
            json!({"study_id": "HERMES-ZAS-002", "email": "nope"}),
            "email",
        ),
        (
            json!({"study_id": "HERMES-ZAS-002", "randomization_date": "2026-13-01"}),
            "randomization_date",
        ),
    ] {
        let resp = enrol(&app, &nurse, "x", body).await;
        let b: Value = resp.json().await.expect("json");
        assert!(
            b["message"].as_str().unwrap_or_default().starts_with(field),
            "{field}: {b}"
        );
    }
    let dup = enrol(&app, &nurse, "HERMES-ZAS-001", json!({})).await;
    assert_eq!(dup.status(), 409);

    // Randomize: follow-up visits appear, the baseline closes with the randomization day.
    let resp = app
        .post(
            "/api/v1/participants/HERMES-ZAS-001/events",
            Some(&nurse),
            json!({"type": "randomization", "date": "2026-01-05", "reason": "randomized (arm B)", "arm": "B"}),
        )
        .await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let s: Value = app
        .get("/api/v1/participants/HERMES-ZAS-001/schedule", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    let codes: Vec<&str> = s
        .as_array()
        .expect("a")
        .iter()
        .filter_map(|v| v["code"].as_str())
        .collect();
    assert_eq!(codes, ["BL", "M1", "M3", "M6", "M12", "M18", "M24"]);
    assert_eq!(
        visit(&s, "BL")["last_day"],
        "2026-01-05",
        "the baseline closes with the randomization day"
    );
    assert_eq!(visit(&s, "M1")["target"], "2026-02-05");
    assert_eq!(visit(&s, "M1")["state"], "upcoming");
    let p: Value = app
        .get("/api/v1/participants/HERMES-ZAS-001", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(p["status"], "randomized");

    // Another site's staff get 404, not 403; a monitor reads but cannot enrol; admin sees nothing.
    for path in [
        "/api/v1/participants/HERMES-ZAS-001",
        "/api/v1/participants/HERMES-ZAS-001/schedule",
        "/api/v1/participants/HERMES-ZAS-001/lesions",
    ] {
        let resp = app.get(path, Some(&other_site)).await;
        assert_eq!(resp.status(), 404, "{path}");
        let b: Value = resp.json().await.expect("json");
        assert_eq!(b["code"], "unknown_participant");
    }
    let list: Value = app
        .get("/api/v1/participants", Some(&other_site))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(0));
    let m: Value = app
        .get("/api/v1/participants/HERMES-ZAS-001", Some(&monitor))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(m["phone"], Value::Null, "monitors do not see contact data");
    assert_eq!(m["has_phone"], true);
    assert_eq!(
        enrol(&app, &monitor, "HERMES-ZAS-003", json!({}))
            .await
            .status(),
        403
    );
    assert_eq!(
        enrol(&app, &dm, "HERMES-ZAS-003", json!({})).await.status(),
        403
    );
    let admin = app.admin_token().await;
    assert_eq!(
        app.get("/api/v1/participants/HERMES-ZAS-001", Some(&admin))
            .await
            .status(),
        403
    );
    assert_eq!(
        app.post(
            "/api/v1/participants/HERMES-ZAS-001/events",
            Some(&monitor),
            json!({"type": "withdrawal", "date": "2026-01-05", "reason": "x"})
        )
        .await
        .status(),
        403
    );

    // The audit trail has every change with its actor, and no email or phone.
    let rows = app.audit_rows().await;
    let text = serde_json::to_string(&rows).expect("json");
    for secret in [
        "jan.peeters",
        "example.be",
        "470 12 34 56",
        "+32 470",
        "470123456",
    ] {
        assert!(
            !text.contains(secret),
            "personal data {secret:?} in the audit trail"
        );
    }
    let actions: Vec<&str> = rows.iter().filter_map(|r| r["action"].as_str()).collect();
    for a in [
        "participant.enrolled",
        "visit.scheduled",
        "participant.event_recorded",
    ] {
        assert!(actions.contains(&a), "{a} not audited");
    }
    assert!(
        rows.iter()
            .filter(|r| r["action"] == "participant.enrolled")
            .all(|r| r["actor_kind"] == "staff" && r["actor_id"].is_string())
    );
    let enrolled = rows
        .iter()
        .find(|r| r["action"] == "participant.enrolled")
        .expect("enrolled");
    assert!(
        enrolled["after"]
            .as_str()
            .unwrap_or_default()
            .contains("\"contact_fields\":[\"email\",\"phone\"]")
    );
}

/// At most five active high-risk lesions (study file); a deactivated one frees a place; labels
/// are unique per participant; each change is audited.
#[tokio::test]
async fn at_most_five_active_lesions_with_unique_labels() {
    let app = spawn_app().await;
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    app.enrol(&nurse, "HERMES-ZAS-001", json!({})).await;
    // Five lesions; the sixth is refused.
    for n in 0..5 {
        let resp = app
            .post(
                "/api/v1/participants/HERMES-ZAS-001/lesions",
                Some(&nurse),
                lesion(n),
            )
            .await;
        assert_eq!(
            resp.status(),
            200,
            "lesion {n}: {}",
            resp.text().await.unwrap_or_default()
        );
    }
    let resp = app
        .post(
            "/api/v1/participants/HERMES-ZAS-001/lesions",
            Some(&nurse),
            lesion(5),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let b: Value = resp.json().await.expect("json");
    assert_eq!(b["code"], "too_many_lesions");
    // Deactivate one, then the new one fits. Labels must be unique per participant.
    let lesions: Value = app
        .get("/api/v1/participants/HERMES-ZAS-001/lesions", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    let first = lesions[0]["id"].as_str().expect("id").to_string();
    let resp = app
        .request(
            Method::PATCH,
            &format!("/api/v1/participants/HERMES-ZAS-001/lesions/{first}"),
            Some(&nurse),
            Some(json!({"active": false, "reason": "irradiated and healed"})),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let mut same_label = lesion(5);
    same_label["labels"]["nl"] = json!("plek 1");
    assert_eq!(
        app.post(
            "/api/v1/participants/HERMES-ZAS-001/lesions",
            Some(&nurse),
            same_label
        )
        .await
        .status(),
        409
    );
    assert_eq!(
        app.post(
            "/api/v1/participants/HERMES-ZAS-001/lesions",
            Some(&nurse),
            lesion(5)
        )
        .await
        .status(),
        200
    );

    let actions: Vec<String> = app
        .audit_rows()
        .await
        .iter()
        .filter_map(|r| r["action"].as_str().map(String::from))
        .collect();
    for a in ["lesion.added", "lesion.updated"] {
        assert!(actions.iter().any(|x| x == a), "{a} not audited");
    }
}

#[tokio::test]
async fn sse_withdrawal_and_corrections_drive_the_schedule() {
    let app = spawn_long_sessions().await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let dm = app.staff_token("data_manager", &[]).await;
    assert_eq!(
        enrol(
            &app,
            &nurse,
            "HERMES-ZAS-010",
            json!({"randomization_date": "2026-01-15"})
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        enrol(
            &app,
            &nurse,
            "HERMES-ZAS-011",
            json!({"randomization_date": "2026-01-15"})
        )
        .await
        .status(),
        200
    );

    // A future SSE and an SSE before randomization are refused clearly.
    for (date, needle) in [
        ("2026-01-20", "future"),
        ("2026-01-10", "before randomization"),
    ] {
        let resp = app
            .post("/api/v1/participants/HERMES-ZAS-010/events", Some(&nurse), json!({"type": "sse", "date": date, "reason": "r", "sse_type": "pathological_fracture"}))
            .await;
        assert_eq!(resp.status(), 422, "{date}");
        let b: Value = resp.json().await.expect("json");
        assert!(
            b["message"].as_str().unwrap_or_default().contains(needle),
            "{b}"
        );
    }

    // Month 4: an SSE, reported three weeks late. M6 becomes the SSE visit; M12–M24 not applicable.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 6, 10, 8, 0, 0)
            .single()
            .expect("t"),
    );
    let resp = app
        .post("/api/v1/participants/HERMES-ZAS-010/events", Some(&nurse), json!({"type": "sse", "date": "2026-05-20", "reason": "fracture left femur", "sse_type": "pathological_fracture"}))
        .await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let s: Value = app
        .get("/api/v1/participants/HERMES-ZAS-010/schedule", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    let m6 = visit(&s, "M6");
    assert_eq!(m6["sse_triggered"], true);
    assert_eq!(m6["state"], "open");
    assert_eq!(m6["target"], "2026-06-17");
    assert_eq!(
        m6["last_day"], "2026-06-23",
        "14 days from the day it was recorded"
    );
    for code in ["M12", "M18", "M24"] {
        assert_eq!(visit(&s, code)["state"], "not_applicable", "{code}");
    }
    assert_eq!(
        visit(&s, "M3")["state"],
        "missed",
        "M3's grace passed unanswered"
    );
    let p: Value = app
        .get("/api/v1/participants/HERMES-ZAS-010", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(p["status"], "post_sse");

    // The SSE was entered in error: a data manager corrects it (reason required); the schedule is restored.
    let sse_id = p["events"]
        .as_array()
        .and_then(|e| e.iter().find(|x| x["type"] == "sse"))
        .and_then(|x| x["id"].as_str())
        .expect("sse")
        .to_string();
    let path = format!("/api/v1/participants/HERMES-ZAS-010/events/{sse_id}/correct");
    assert_eq!(
        app.post(
            &path,
            Some(&nurse),
            json!({"entered_in_error": true, "reason": "wrong patient"})
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        app.post(
            &path,
            Some(&dm),
            json!({"entered_in_error": true, "reason": " "})
        )
        .await
        .status(),
        422
    );
    assert_eq!(
        app.post(
            &path,
            Some(&dm),
            json!({"entered_in_error": true, "reason": "entered for the wrong patient"})
        )
        .await
        .status(),
        200
    );
    let s: Value = app
        .get("/api/v1/participants/HERMES-ZAS-010/schedule", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(visit(&s, "M6")["sse_triggered"], false);
    assert_eq!(visit(&s, "M6")["target"], "2026-07-15");
    assert_eq!(visit(&s, "M12")["state"], "upcoming");

    // Withdrawal: later visits not applicable, contact data purged, no further events.
    let resp = app
        .post(
            "/api/v1/participants/HERMES-ZAS-011/events",
            Some(&nurse),
            json!({"type": "withdrawal", "date": "2026-06-10", "reason": "consent withdrawn"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let s: Value = app
        .get("/api/v1/participants/HERMES-ZAS-011/schedule", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    for code in ["M6", "M12", "M18", "M24"] {
        assert_eq!(visit(&s, code)["state"], "not_applicable", "{code}");
    }
    let p: Value = app
        .get("/api/v1/participants/HERMES-ZAS-011", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(p["status"], "withdrawn");
    assert_eq!(p["has_email"], false);
    assert_eq!(p["phone"], Value::Null);
    let again = app
        .post(
            "/api/v1/participants/HERMES-ZAS-011/events",
            Some(&nurse),
            json!({"type": "death", "date": "2026-06-10", "reason": "x"}),
        )
        .await;
    assert_eq!(again.status(), 422);
}

#[tokio::test]
async fn a_corrected_randomization_date_moves_only_visits_not_yet_open() {
    let app = spawn_long_sessions().await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let dm = app.staff_token("data_manager", &[]).await;
    assert_eq!(
        enrol(&app, &nurse, "HERMES-ZAS-020", json!({}))
            .await
            .status(),
        200
    );
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let resp = app
        .post(
            "/api/v1/participants/HERMES-ZAS-020/events",
            Some(&nurse),
            json!({"type": "randomization", "date": "2026-01-15", "reason": "randomized", "arm": "A"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    // M1 window: 8–22 Feb. On 10 Feb it is open.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 2, 10, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let p: Value = app
        .get("/api/v1/participants/HERMES-ZAS-020", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    let rid = p["events"][0]["id"].as_str().expect("id").to_string();
    let resp = app
        .post(
            &format!("/api/v1/participants/HERMES-ZAS-020/events/{rid}/correct"),
            Some(&dm),
            json!({"date": "2026-01-12", "reason": "typo in the randomization date"}),
        )
        .await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let s: Value = app
        .get("/api/v1/participants/HERMES-ZAS-020/schedule", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        visit(&s, "M1")["target"],
        "2026-02-15",
        "already open: unchanged"
    );
    assert_eq!(
        visit(&s, "M3")["target"],
        "2026-04-12",
        "not yet open: moved"
    );
    assert_eq!(visit(&s, "M24")["target"], "2028-01-12");
    let p: Value = app
        .get("/api/v1/participants/HERMES-ZAS-020", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(p["randomization_date"], "2026-01-12");
    let rows = app.audit_rows().await;
    let corrected = rows
        .iter()
        .find(|r| r["action"] == "participant.event_corrected")
        .expect("audited");
    assert_eq!(corrected["reason"], "typo in the randomization date");
    assert!(
        corrected["before"]
            .as_str()
            .unwrap_or_default()
            .contains("2026-01-15")
    );
    assert!(
        corrected["after"]
            .as_str()
            .unwrap_or_default()
            .contains("2026-01-12")
    );
    let _ = Duration::zero();
}

#[tokio::test]
async fn lesion_locations_vocabulary() {
    let app = spawn_app().await;
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let list: Value = app
        .get("/api/v1/lesion-locations", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    let femoral = list
        .as_array()
        .and_then(|l| l.iter().find(|x| x["code"] == "femoral_neck"))
        .expect("femoral_neck");
    assert_eq!(femoral["sided"], true);
    assert_eq!(femoral["labels"]["nl"], "Dijbeenhals");
    assert_eq!(
        app.get("/api/v1/lesion-locations", None).await.status(),
        401
    );
}

#[tokio::test]
async fn cli_schedule_simulate_and_show() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_epro"))
        .args([
            "schedule",
            "simulate",
            "--randomized",
            "2026-01-31",
            "--at",
            "2026-03-01T10:00:00+01:00",
        ])
        .env("EPRO_STUDY_FILE", crate::helpers::study_file())
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (code, target, state) in [
        ("M1", "2026-02-28", "open"),
        ("M3", "2026-04-30", "upcoming"),
        ("M6", "2026-07-31", "upcoming"),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{code} ")))
            .unwrap_or_else(|| panic!("{code} in {stdout}"));
        assert!(line.contains(target) && line.contains(state), "{line}");
    }

    let app = spawn_long_sessions().await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    assert_eq!(
        enrol(
            &app,
            &nurse,
            "HERMES-ZAS-030",
            json!({"randomization_date": "2026-01-15"})
        )
        .await
        .status(),
        200
    );
    let out = app.cli(&[
        "schedule",
        "show",
        "HERMES-ZAS-030",
        "--at",
        "2026-02-10T12:00:00+01:00",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("M1 ") && l.contains("2026-02-15") && l.contains("open")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("BL ") && l.contains("missed")),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_protocol_amendment_moves_only_visits_not_yet_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let study = dir.path().join("hermes.toml");
    let original = std::fs::read_to_string(crate::helpers::study_file()).expect("study");
    std::fs::write(&study, &original).expect("write");
    let url = crate::helpers::fresh_database(&dir).await;
    let mut settings = crate::helpers::test_settings(&dir, url);
    settings.study_file = study.clone();
    settings.session_hours = 24 * 365;
    let app = crate::helpers::start(settings.clone(), tempfile::tempdir().expect("tempdir")).await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    assert_eq!(
        enrol(
            &app,
            &nurse,
            "HERMES-ZAS-040",
            json!({"randomization_date": "2026-01-15"})
        )
        .await
        .status(),
        200
    );
    drop(app);

    // The sponsor confirms M1 ±10 days and M3 ±21 days. Restarted on 10 Feb: M1 is open, M3 not yet.
    let amended = original
        .replacen(
            "months = 1\nwindow_before_days = 7\nwindow_after_days = 7",
            "months = 1\nwindow_before_days = 10\nwindow_after_days = 10",
            1,
        )
        .replacen(
            "months = 3\nwindow_before_days = 14\nwindow_after_days = 14",
            "months = 3\nwindow_before_days = 21\nwindow_after_days = 21",
            1,
        );
    assert_ne!(amended, original);
    std::fs::write(&study, &amended).expect("write");
    // It moves visits enrolled participants have: the sponsor's confirmation names this file.
    settings.confirm_amendment = Some({
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(amended.as_bytes()))
    });
    // The clock is injected per start; this start happens "on 10 Feb".
    let clock = epro::clock::ManualClock::new(
        Utc.with_ymd_and_hms(2026, 2, 10, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let application = epro::startup::Server::build(settings, std::sync::Arc::new(clock))
        .await
        .expect("starts");
    let app_state = application.app();
    let now = app_state.clock.now();
    let visits = epro::participants::schedule_as_of(&app_state, "HERMES-ZAS-040", now)
        .await
        .expect("schedule");
    let m1 = visits.iter().find(|v| v.code == "M1").expect("M1");
    let m3 = visits.iter().find(|v| v.code == "M3").expect("M3");
    assert_eq!(
        epro::domain::schedule::local_date(app_state.study.time_zone, m1.window.start).to_string(),
        "2026-02-08",
        "open: unchanged"
    );
    assert_eq!(
        epro::domain::schedule::local_date(app_state.study.time_zone, m3.window.start).to_string(),
        "2026-03-25",
        "not yet open: amended"
    );
}

/// An SSE on the target day of an open M1 makes M1 the SSE visit (registration, line 87: "the
/// assessments that should take place during the next follow-up visit"): M1 is re-timed to the
/// SSE and stays the one open visit; M3 and later need no questionnaires. Walked over the
/// months with the injected clock.
#[tokio::test]
async fn an_sse_on_an_open_visit_makes_that_visit_the_sse_visit() {
    use chrono::{TimeZone, Utc};
    let app = spawn_long_sessions().await;
    let at = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).single().expect("t");
    app.clock.set(at(2026, 1, 15));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let id = "HERMES-ZAS-031";
    app.enrol(&nurse, id, json!({"randomization_date": "2026-01-15"}))
        .await;
    app.clock.set(at(2026, 2, 15));
    let s = schedule_of(&app, &nurse, id).await;
    assert_eq!(visit(&s, "M1")["target"], "2026-02-15");
    assert_eq!(visit(&s, "M1")["state"], "open");
    let resp = app
        .post(
            &format!("/api/v1/participants/{id}/events"),
            Some(&nurse),
            json!({"type": "sse", "date": "2026-02-15", "reason": "fracture left femur", "sse_type": "pathological_fracture"}),
        )
        .await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let s = schedule_of(&app, &nurse, id).await;
    assert_eq!(visit(&s, "M1")["sse_triggered"], true, "{s}");
    assert_eq!(visit(&s, "M1")["state"], "open");
    assert_eq!(visit(&s, "M1")["target"], "2026-02-22", "SSE + 7 days");
    for code in ["M3", "M6", "M12", "M18", "M24"] {
        assert_eq!(visit(&s, code)["state"], "not_applicable", "{code}");
        assert_eq!(visit(&s, code)["sse_triggered"], false, "{code}");
    }
    // Months later, exactly one visit was ever open because of the SSE.
    app.clock.set(at(2026, 5, 1));
    let s = schedule_of(&app, &nurse, id).await;
    let open: Vec<&str> = s
        .as_array()
        .expect("visits")
        .iter()
        .filter(|v| v["sse_triggered"] == true)
        .filter_map(|v| v["code"].as_str())
        .collect();
    assert_eq!(open, ["M1"]);
    assert_eq!(
        visit(&s, "M1")["state"],
        "missed",
        "unanswered after its grace"
    );
}

async fn schedule_of(app: &crate::helpers::TestApp, staff: &str, id: &str) -> Value {
    app.get(&format!("/api/v1/participants/{id}/schedule"), Some(staff))
        .await
        .json::<Value>()
        .await
        .expect("schedule")
}

/// Email, phone and language change after enrolment, with a reason; the audit trail names the
/// contact fields but never holds their values; a monitor may not change them.
#[tokio::test]
async fn details_change_after_enrolment_with_a_reason() {
    let app = spawn_app().await;
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let monitor = app.staff_token("monitor", &["ZAS"]).await;
    let id = "HERMES-ZAS-061";
    app.enrol(&nurse, id, json!({"email": "old@example.be"}))
        .await;
    let path = format!("/api/v1/participants/{id}");
    let patch = |token: String, body: Value| {
        let (app, path) = (&app, path.clone());
        async move {
            app.request(Method::PATCH, &path, Some(&token), Some(body))
                .await
        }
    };
    let (nurse, monitor) = (nurse.clone(), monitor.clone());
    let resp = patch(nurse.clone(), json!({"email": "new@example.be"})).await;
    assert_eq!(resp.status(), 400, "the reason is required by the schema");
    let resp = patch(
        nurse.clone(),
        json!({"email": "new@example.be", "reason": " "}),
    )
    .await;
    assert_eq!(resp.status(), 422);
    let resp = patch(
        nurse.clone(),
        json!({"email": "not an email", "reason": "typo"}),
    )
    .await;
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap_or_default().contains("email"));
    let resp = patch(monitor, json!({"language": "fr", "reason": "x"})).await;
    assert_eq!(resp.status(), 403);
    let resp = patch(
        nurse,
        json!({"email": "new@example.be", "phone": "+32470998877", "language": "fr", "reason": "moved to Liège"}),
    )
    .await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let p: Value = resp.json().await.expect("json");
    assert_eq!(
        (
            p["email"].as_str(),
            p["phone"].as_str(),
            p["language"].as_str()
        ),
        (Some("new@example.be"), Some("+32470998877"), Some("fr"))
    );
    let rows = app.audit_rows().await;
    let changed = rows
        .iter()
        .find(|r| r["action"] == "participant.details_changed")
        .expect("audited");
    let text = changed.to_string();
    assert!(
        text.contains("moved to Liège") && text.contains("phone"),
        "{text}"
    );
    assert!(
        !text.contains("new@example.be") && !text.contains("470 99"),
        "{text}"
    );
}

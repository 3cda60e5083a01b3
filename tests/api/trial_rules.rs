//! The trial rules of docs/trial-rules.md walked through the API with the injected clock:
//! go-live enrolment, paper dates, per-instrument completion, deaths recorded late, lesion
//! limits, days from the SSE, and the schedule as it was at an earlier instant.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

async fn spawn() -> TestApp {
    spawn_app_with(|s| s.session_hours = 24 * 365 * 3).await
}

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).single().expect("t")
}

pub(crate) fn all(range: std::ops::RangeInclusive<u32>, value: i64) -> Value {
    Value::Array(
        range
            .map(|n| json!({"item": format!("q{n}"), "value": value}))
            .collect(),
    )
}

async fn schedule(app: &TestApp, staff: &str, id: &str) -> Value {
    app.get(&format!("/api/v1/participants/{id}/schedule"), Some(staff))
        .await
        .json()
        .await
        .expect("schedule")
}

pub(crate) fn state_of(s: &Value, code: &str) -> String {
    s.as_array()
        .and_then(|a| a.iter().find(|v| v["code"] == code))
        .and_then(|v| v["state"].as_str())
        .unwrap_or("(none)")
        .to_string()
}

pub(crate) async fn staff_submit(
    app: &TestApp,
    staff: &str,
    id: &str,
    visit: &str,
    key: &str,
    body: Value,
) -> (u16, Value) {
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/participants/{id}/visits/{visit}/responses/{key}/submit",
            app.address
        ))
        .bearer_auth(staff)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

async fn event(app: &TestApp, staff: &str, id: &str, body: Value) {
    let resp = app
        .post(
            &format!("/api/v1/participants/{id}/events"),
            Some(staff),
            body,
        )
        .await;
    let status = resp.status();
    assert_eq!(status, 200, "{}", resp.text().await.unwrap_or_default());
}

async fn completion(app: &TestApp, staff: &str) -> Value {
    let resp = app.get("/api/v1/completion", Some(staff)).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("completion")
}

fn form<'a>(c: &'a Value, visit: &str, instrument: &str, arm: Option<&str>) -> &'a Value {
    c["forms"]
        .as_array()
        .and_then(|a| {
            a.iter().find(|f| {
                f["visit"] == visit && f["instrument"] == instrument && f["arm"].as_str() == arm
            })
        })
        .unwrap_or(&Value::Null)
}

/// HERMES has recruited since 2025-02-05; a site starting with epro registers a participant
/// randomized a year ago. Visits whose window closed before registration are not expected (no
/// reminders, outside the denominators), the open one is, and staff may still transcribe a
/// paper form of an earlier visit.
#[tokio::test]
async fn a_go_live_participant_randomized_a_year_ago() {
    let app = spawn().await;
    app.clock.set(at(2026, 3, 1));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let id = "HERMES-ZAS-201";
    // Refusals name the field.
    for (extra, field) in [
        (json!({"enrolled_on": "2025-02-04"}), "enrolled_on"),
        (json!({"enrolled_on": "2026-03-02"}), "enrolled_on"),
        (
            json!({"enrolled_on": "2025-03-10", "randomization_date": "2025-03-09"}),
            "randomization_date",
        ),
        (
            json!({"enrolled_on": "2025-03-10", "randomization_date": "2025-03-12", "arm": "C"}),
            "arm",
        ),
        (json!({"arm": "A"}), "arm"),
    ] {
        let mut body = json!({"study_id": id, "site": "ZAS", "language": "nl"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let resp = app.post("/api/v1/participants", Some(&nurse), body).await;
        assert_eq!(resp.status(), 422, "{extra}");
        let text = resp.text().await.unwrap_or_default();
        assert!(text.contains(field), "{extra}: {text}");
    }
    let p = app
        .enrol(
            &nurse,
            id,
            json!({"enrolled_on": "2025-02-20", "randomization_date": "2025-02-24", "arm": "B"}),
        )
        .await;
    assert_eq!(p["enrolled_on"], "2025-02-20");
    assert_eq!(p["arm"], "B");
    let s = schedule(&app, &nurse, id).await;
    for code in ["BL", "M1", "M3", "M6"] {
        assert_eq!(state_of(&s, code), "not_expected", "{code}: {s}");
    }
    // M12 targets 2026-02-24, window ±30 days: open on 1 March.
    assert_eq!(state_of(&s, "M12"), "open");
    assert_eq!(state_of(&s, "M18"), "upcoming");
    // No reminder is planned for a visit that was never expected.
    app.cli(&["reminders", "run"]);
    let reminded = app
        .sql_count("SELECT COUNT(*) FROM reminder WHERE visit_code IN ('BL','M1','M3','M6')")
        .await;
    assert_eq!(reminded, 0);
    // A paper M6 form found in the file is transcribed with its date; M6 stays not expected.
    let (status, body) = staff_submit(
        &app,
        &nurse,
        id,
        "M6",
        "eortc-qlq-c30",
        json!({"mode": "paper", "completed_on": "2025-08-25", "answers": all(1..=30, 2)}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["late"], false);
    let s = schedule(&app, &nurse, id).await;
    assert_eq!(state_of(&s, "M6"), "not_expected");
    // Interview entries are for visits that were expected only.
    let (status, _) = staff_submit(
        &app,
        &nurse,
        id,
        "M3",
        "eortc-qlq-c30",
        json!({"mode": "interviewer", "reason": "late", "answers": all(1..=30, 2)}),
    )
    .await;
    assert_eq!(status, 409);
    let c = completion(&app, &nurse).await;
    let m6 = form(&c, "M6", "eortc-qlq-c30", Some("B"));
    assert_eq!(m6["not_expected"], 1, "{c}");
    assert_eq!(m6["expected"], 0);
    let m12 = form(&c, "M12", "eortc-qlq-c30", Some("B"));
    assert_eq!(m12["pending"], 1, "{c}");
    // Audited as an ordinary enrolment, with both dates and the arm.
    let rows = app.audit_rows().await;
    let enrolled = rows
        .iter()
        .find(|r| r["action"] == "participant.enrolled")
        .expect("audited");
    let after = enrolled["after"].to_string();
    for needle in ["2025-02-20", "2025-02-24", "\\\"B\\\""] {
        assert!(after.contains(needle), "{needle} in {after}");
    }
    assert!(
        rows.iter()
            .any(|r| r["action"] == "visit.not_expected" && r["reason"].as_str().is_some())
    );
}

/// A participant enrolled and randomized on 2026-01-15 (arm A), with one lesion.
async fn randomized(app: &TestApp, id: &str, arm: &str) -> String {
    app.clock.set(at(2026, 1, 15));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    app.enrol(
        &nurse,
        id,
        json!({"randomization_date": "2026-01-15", "arm": arm}),
    )
    .await;
    nurse
}

/// The baseline closes at randomization (tolerance 0 in the HERMES file). A paper form filled in
/// inside a visit's window and typed in after its grace is in window and completes the visit;
/// a paper day outside window and grace needs a reason and is flagged. Completion is per
/// instrument: a visit with C30 received and BM22 not done is partial, each form counts on its
/// own, and a form missed without a reason is on the site's to-do list.
#[tokio::test]
async fn paper_dates_decide_and_completion_is_per_instrument() {
    let app = spawn().await;
    let id = "HERMES-ZAS-202";
    let nurse = randomized(&app, id, "A").await;
    let s = schedule(&app, &nurse, id).await;
    let bl = s
        .as_array()
        .and_then(|a| a.iter().find(|v| v["code"] == "BL"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        bl["window_end"]
            .as_str()
            .map(|e| e.starts_with("2026-01-15T23:00")),
        Some(true),
        "the baseline closes at the end of the randomization day: {bl}"
    );
    // After M1's grace (window 8–22 Feb, grace to 1 March) the system records it missed.
    app.clock.set(at(2026, 3, 10));
    assert_eq!(state_of(&schedule(&app, &nurse, id).await, "M1"), "missed");
    for key in ["eortc-qlq-c30", "eortc-qlq-bm22", "nrs-lesion-pain"] {
        let answers = match key {
            "eortc-qlq-c30" => all(1..=30, 2),
            "eortc-qlq-bm22" => all(31..=52, 2),
            _ => json!([]),
        };
        let (status, body) = staff_submit(
            &app,
            &nurse,
            id,
            "M1",
            key,
            json!({"mode": "paper", "completed_on": "2026-02-10", "answers": answers}),
        )
        .await;
        assert_eq!(status, 200, "{key}: {body}");
        assert_eq!(body["late"], false, "{key}: filled in inside the window");
    }
    assert_eq!(
        state_of(&schedule(&app, &nurse, id).await, "M1"),
        "completed"
    );
    // Baseline: C30 on paper on the randomization day (inside the window, typed in late).
    let (status, body) = staff_submit(
        &app,
        &nurse,
        id,
        "BL",
        "eortc-qlq-c30",
        json!({"mode": "paper", "completed_on": "2026-01-15", "answers": all(1..=30, 3)}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Another participant's baseline form, filled in two weeks after randomization: outside
    // window and grace, so it needs a reason…
    let other = "HERMES-ZAS-207";
    app.enrol(
        &nurse,
        other,
        json!({"enrolled_on": "2026-01-15", "randomization_date": "2026-01-15", "arm": "B"}),
    )
    .await;
    let body = json!({"mode": "paper", "completed_on": "2026-01-30", "answers": all(1..=30, 3)});
    let (status, err) =
        staff_submit(&app, &nurse, other, "BL", "eortc-qlq-c30", body.clone()).await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("completed_on"),
        "{err}"
    );
    // …and with one it is taken, flagged outside the window and after randomization.
    let mut with_reason = body;
    with_reason["reason"] = json!("form found in the file");
    let (status, ok) = staff_submit(&app, &nurse, other, "BL", "eortc-qlq-c30", with_reason).await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["late"], true);
    let flagged = app
        .sql_count(
            "SELECT COUNT(*) FROM response WHERE visit_code = 'BL' AND flags LIKE '%outside_window%' AND flags LIKE '%after_randomization%'",
        )
        .await;
    assert_eq!(flagged, 1);
    // BM22 was not done: recorded per questionnaire; the NRS has no reason yet.
    app.post_ok(
        &format!("/api/v1/participants/{id}/visits/BL/missed"),
        Some(&nurse),
        json!({"questionnaire": "eortc-qlq-bm22", "reason": "declined"}),
    )
    .await;
    let resp = app
        .post(
            &format!("/api/v1/participants/{id}/visits/BL/missed"),
            Some(&nurse),
            json!({"questionnaire": "eortc-qlq-c30", "reason": "declined"}),
        )
        .await;
    assert_eq!(resp.status(), 409, "a received form is not missed");
    let s = schedule(&app, &nurse, id).await;
    assert_eq!(state_of(&s, "BL"), "partial", "{s}");
    let c = completion(&app, &nurse).await;
    let c30 = form(&c, "BL", "eortc-qlq-c30", Some("A"));
    assert_eq!(
        (
            c30["expected"].clone(),
            c30["received_in_window"].clone(),
            c30["scorable"].clone()
        ),
        (json!(1), json!(1), json!(1)),
        "{c}"
    );
    // The other participant was registered in epro after the baseline closed: not expected,
    // even with the transcribed form.
    let other_bl = form(&c, "BL", "eortc-qlq-c30", Some("B"));
    assert_eq!(other_bl["not_expected"], 1, "{c}");
    assert_eq!(other_bl["expected"], 0, "{c}");
    let bm22 = form(&c, "BL", "eortc-qlq-bm22", Some("A"));
    assert_eq!(bm22["missed_reasons"]["declined"], 1, "{c}");
    let nrs = form(&c, "BL", "nrs-lesion-pain", Some("A"));
    assert_eq!(nrs["missed_reasons"]["no_reason"], 1, "{c}");
    let m1 = form(&c, "M1", "eortc-qlq-bm22", Some("A"));
    assert_eq!(m1["received_in_window"], 1, "{c}");
    let todo = c["todo"].as_array().cloned().unwrap_or_default();
    assert!(
        todo.iter()
            .any(|t| t["visit"] == "BL" && t["questionnaire"] == "nrs-lesion-pain@1.0.0"),
        "{c}"
    );
    assert!(
        !todo
            .iter()
            .any(|t| t["questionnaire"] == "eortc-qlq-bm22@1.0")
    );
}

/// Whether M1 was expected depends on the day of death, never on when it was typed in: a death
/// inside M1's window makes it not applicable even when recorded after the system had stored
/// "missed"; a death in grace leaves it missed (it was expected) even when recorded at once.
#[tokio::test]
async fn a_death_counts_by_its_date_not_by_when_it_was_recorded() {
    let app = spawn().await;
    let nurse = randomized(&app, "HERMES-ZAS-203", "A").await;
    app.enrol(
        &nurse,
        "HERMES-ZAS-204",
        json!({"randomization_date": "2026-01-15", "arm": "B"}),
    )
    .await;
    // HERMES-ZAS-204 dies on 26 Feb (M1's grace), recorded the next day.
    app.clock.set(at(2026, 2, 27));
    event(
        &app,
        &nurse,
        "HERMES-ZAS-204",
        json!({"type": "death", "date": "2026-02-26", "reason": "reported by GP"}),
    )
    .await;
    assert_eq!(
        state_of(&schedule(&app, &nurse, "HERMES-ZAS-204").await, "M1"),
        "missed"
    );
    // HERMES-ZAS-203's M1 passes; weeks later a death on 18 Feb (inside the window) is typed in.
    app.clock.set(at(2026, 3, 10));
    assert_eq!(
        state_of(&schedule(&app, &nurse, "HERMES-ZAS-203").await, "M1"),
        "missed"
    );
    app.clock.set(at(2026, 4, 1));
    event(
        &app,
        &nurse,
        "HERMES-ZAS-203",
        json!({"type": "death", "date": "2026-02-18", "reason": "letter from the hospital"}),
    )
    .await;
    let s = schedule(&app, &nurse, "HERMES-ZAS-203").await;
    assert_eq!(state_of(&s, "M1"), "not_applicable", "{s}");
    assert_eq!(state_of(&s, "M3"), "not_applicable");
    let c = completion(&app, &nurse).await;
    let a = form(&c, "M1", "eortc-qlq-c30", Some("A"));
    assert_eq!(a["not_applicable"]["death"], 1, "{c}");
    assert_eq!(a["expected"], 0);
    let b = form(&c, "M1", "eortc-qlq-c30", Some("B"));
    assert_eq!(b["expected"], 1, "{c}");
    assert_eq!(b["missed"], 1);
}

/// At most 5 lesions at inclusion; during follow-up more may be added (arm B irradiates new
/// lesions), up to the study file's follow-up maximum, and at most 5 per radiotherapy course.
#[tokio::test]
async fn lesion_limits_at_inclusion_per_course_and_in_follow_up() {
    let app = spawn().await;
    let id = "HERMES-ZAS-205";
    let nurse = randomized(&app, id, "B").await;
    let add = |n: usize, irradiated: Option<&str>| {
        let locations = [
            "C1", "C2", "C3", "C4", "C5", "C6", "C7", "T1", "T2", "T3", "T4", "T5",
        ];
        json!({
            "location": locations[n],
            "labels": {"nl": format!("plek {n}"), "fr": format!("endroit {n}"), "en": format!("place {n}")},
            "high_risk_reasons": ["size_2cm"],
            "irradiation_date": irradiated,
        })
    };
    let path = format!("/api/v1/participants/{id}/lesions");
    for n in 0..5 {
        let resp = app.post(&path, Some(&nurse), add(n, None)).await;
        assert_eq!(resp.status(), 200, "inclusion lesion {n}");
    }
    let resp = app.post(&path, Some(&nurse), add(5, None)).await;
    assert_eq!(resp.status(), 422, "a sixth at inclusion");
    let text = resp.text().await.unwrap_or_default();
    assert!(
        text.contains("too_many_lesions") && text.contains("inclusion"),
        "{text}"
    );
    // Follow-up: a course of radiotherapy on new lesions.
    app.clock.set(at(2026, 6, 1));
    for n in 5..10 {
        let resp = app
            .post(&path, Some(&nurse), add(n, Some("2026-05-28")))
            .await;
        assert_eq!(resp.status(), 200, "follow-up lesion {n}");
    }
    let resp = app
        .post(&path, Some(&nurse), add(10, Some("2026-05-28")))
        .await;
    assert_eq!(resp.status(), 422, "a sixth in one course");
    let text = resp.text().await.unwrap_or_default();
    assert!(text.contains("one course"), "{text}");
    let resp = app.post(&path, Some(&nurse), add(10, None)).await;
    assert_eq!(resp.status(), 422, "an eleventh active lesion");
    let text = resp.text().await.unwrap_or_default();
    assert!(text.contains("at most 10 active"), "{text}");
}

/// The SSE visit's forms record their days from the SSE and are flagged when filled in more
/// than the week the registration prefers; `epro schedule show --at` shows the schedule as it
/// was before the SSE.
#[tokio::test]
async fn days_from_the_sse_and_the_schedule_as_it_was() {
    let app = spawn().await;
    let id = "HERMES-ZAS-206";
    let nurse = randomized(&app, id, "A").await;
    app.clock.set(at(2026, 3, 20));
    event(
        &app,
        &nurse,
        id,
        json!({"type": "sse", "date": "2026-03-20", "reason": "fracture", "sse_type": "pathological_fracture"}),
    )
    .await;
    let s = schedule(&app, &nurse, id).await;
    assert_eq!(
        state_of(&s, "M3"),
        "open",
        "the next visit is the SSE visit: {s}"
    );
    app.clock.set(at(2026, 3, 30));
    let (status, body) = staff_submit(
        &app,
        &nurse,
        id,
        "M3",
        "eortc-qlq-c30",
        json!({"mode": "interviewer", "answers": all(1..=30, 1)}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let flagged = app
        .sql_count(
            "SELECT COUNT(*) FROM response WHERE visit_code = 'M3' AND days_from_sse = 10 AND flags LIKE '%after_sse_week%'",
        )
        .await;
    assert_eq!(flagged, 1);
    // As it was on 1 March: M3 upcoming at its planned target, nothing about the SSE.
    let out = app.cli(&["schedule", "show", id, "--at", "2026-03-01T10:00:00+01:00"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let m3 = text
        .lines()
        .find(|l| l.starts_with("M3 "))
        .unwrap_or_default();
    assert!(
        m3.contains("2026-04-15") && m3.contains("upcoming"),
        "{text}"
    );
    let m6 = text
        .lines()
        .find(|l| l.starts_with("M6 "))
        .unwrap_or_default();
    assert!(m6.contains("upcoming"), "{text}");
    // As it is now: M3 re-timed to the SSE, M6 not applicable.
    let out = app.cli(&["schedule", "show", id, "--at", "2026-03-30T12:00:00+02:00"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let m3 = text
        .lines()
        .find(|l| l.starts_with("M3 "))
        .unwrap_or_default();
    assert!(m3.contains("2026-03-27") && m3.contains("yes"), "{text}");
    let m6 = text
        .lines()
        .find(|l| l.starts_with("M6 "))
        .unwrap_or_default();
    assert!(m6.contains("not_applicable"), "{text}");
}

/// The arm is recorded with the randomization event and corrected like its date: by a data
/// manager, with a reason, audited with the old and new arm.
#[tokio::test]
async fn the_arm_comes_with_the_randomization_and_is_corrected_like_a_date() {
    let app = spawn().await;
    app.clock.set(at(2026, 1, 15));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let dm = app.staff_token("data_manager", &[]).await;
    let id = "HERMES-ZAS-208";
    app.enrol(&nurse, id, json!({})).await;
    let resp = app
        .post(
            &format!("/api/v1/participants/{id}/events"),
            Some(&nurse),
            json!({"type": "withdrawal", "date": "2026-01-15", "reason": "x", "arm": "A"}),
        )
        .await;
    assert_eq!(resp.status(), 422, "an arm only comes with a randomization");
    let resp = app
        .post(
            &format!("/api/v1/participants/{id}/events"),
            Some(&nurse),
            json!({"type": "randomization", "date": "2026-01-15", "reason": "randomized", "arm": "A"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let event: Value = resp.json().await.expect("event");
    assert_eq!(event["arm"], "A");
    let path = format!(
        "/api/v1/participants/{id}/events/{}/correct",
        event["id"].as_str().expect("id")
    );
    let resp = app
        .post(&path, Some(&nurse), json!({"arm": "B", "reason": "typo"}))
        .await;
    assert_eq!(resp.status(), 403, "site staff do not correct events");
    app.post_ok(
        &path,
        Some(&dm),
        json!({"arm": "B", "reason": "allocation list says B"}),
    )
    .await;
    let p: Value = app
        .get(&format!("/api/v1/participants/{id}"), Some(&nurse))
        .await
        .json()
        .await
        .expect("participant");
    assert_eq!(p["arm"], "B");
    let corrected = app
        .audit_rows()
        .await
        .into_iter()
        .find(|r| r["action"] == "participant.event_corrected")
        .expect("audited");
    let text = corrected.to_string();
    assert!(
        text.contains("allocation list says B")
            && text.contains("\\\"A\\\"")
            && text.contains("\\\"B\\\""),
        "{text}"
    );
}

/// Completion as kept by the server (derived states and the rendered response), then as
/// derived afresh from the records: they must be equal. The kept state is refilled by the second read, so the next step's first read tests
/// that the change made in between was seen.
async fn completion_checked(app: &TestApp, staff: &str, step: &str) -> Value {
    // Another view (one site) derives the changed states first; the full view must then not
    // serve its rendering of the old ones.
    let one_site = app.get("/api/v1/completion?site=ZAS", Some(staff)).await;
    assert_eq!(one_site.status(), 200);
    let kept = completion(app, staff).await;
    let cache = epro::answering::derived::cache(&app.app);
    assert!(!cache.is_empty(), "{step}: states are kept");
    cache.clear();
    let fresh = completion(app, staff).await;
    assert_eq!(kept, fresh, "{step}: kept and fresh completion differ");
    fresh
}

/// The dashboard keeps each participant's derived visit states (docs/benchmarks.md); over
/// months of follow-up, through submissions, missed reasons, an SSE, a death typed in late,
/// reminders sent by another process, rows changed behind the server's back and a clock set
/// back, what it serves equals a fresh derivation at every step.
#[tokio::test]
async fn kept_completion_states_equal_a_fresh_derivation_over_months() {
    let app = spawn().await;
    let a = "HERMES-ZAS-301";
    let b = "HERMES-ZAS-302";
    let nurse = randomized(&app, a, "A").await;
    app.enrol(
        &nurse,
        b,
        json!({"randomization_date": "2026-01-15", "arm": "B", "email": "p302@example.org"}),
    )
    .await;
    app.issue_link(&nurse, b, Some("4826")).await;
    let first = completion_checked(&app, &nurse, "enrolled").await;
    let (status, body) = staff_submit(
        &app,
        &nurse,
        a,
        "BL",
        "eortc-qlq-c30",
        json!({"mode": "interviewer", "answers": all(1..=30, 2)}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let submitted = completion_checked(&app, &nurse, "baseline C30 submitted").await;
    assert_ne!(first, submitted, "the submission shows");
    app.post_ok(
        &format!("/api/v1/participants/{b}/visits/BL/missed"),
        Some(&nurse),
        json!({"reason": "declined"}),
    )
    .await;
    completion_checked(&app, &nurse, "baseline missed with a reason").await;
    // Day by day through M1's window (8–22 Feb) and grace (to 1 March): states change with
    // the clock alone.
    let mut day = at(2026, 2, 6);
    let mut seen = std::collections::BTreeSet::new();
    while day <= at(2026, 3, 3) {
        app.clock.set(day);
        let c = completion_checked(&app, &nurse, &format!("{day}")).await;
        let m1 = c["participants"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["study_id"] == a))
            .and_then(|r| r["visits"].as_array())
            .and_then(|v| v.iter().find(|v| v["visit"] == "M1"))
            .and_then(|v| v["state"].as_str())
            .unwrap_or("(none)")
            .to_string();
        seen.insert(m1);
        if day == at(2026, 2, 10) {
            app.cli(&["reminders", "run"]);
            completion_checked(&app, &nurse, "reminders sent by another process").await;
        }
        day += chrono::Duration::days(1);
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["late", "missed", "open", "upcoming"],
        "M1 went through its states"
    );
    event(
        &app,
        &nurse,
        a,
        json!({"type": "sse", "date": "2026-03-02", "reason": "r", "sse_type": "pathological_fracture"}),
    )
    .await;
    completion_checked(&app, &nurse, "SSE recorded").await;
    // Another instance (or a repair) changes rows this server did not write.
    app.sql("DELETE FROM score").await;
    completion_checked(&app, &nurse, "scores removed").await;
    app.sql("UPDATE visit SET missed_reason = 'unwell' WHERE code = 'M1'")
        .await;
    completion_checked(&app, &nurse, "visits changed").await;
    app.clock.set(at(2026, 4, 20));
    event(
        &app,
        &nurse,
        b,
        json!({"type": "death", "date": "2026-02-18", "reason": "letter from the hospital"}),
    )
    .await;
    completion_checked(&app, &nurse, "death typed in late").await;
    app.clock.set(at(2026, 2, 1));
    completion_checked(&app, &nurse, "clock set back").await;
}

/// #29.8: deriving is the writer's and the background's work, never the reader's. A
/// submission wakes the refresher of `epro serve`, which derives the changed participant;
/// the dashboard read after it then derives nothing, shows the submission, and equals a
/// fresh derivation.
#[tokio::test]
async fn a_dashboard_read_after_a_change_derives_nothing() {
    let app = spawn().await;
    let a = "HERMES-ZAS-311";
    let nurse = randomized(&app, a, "A").await;
    let kept = epro::answering::derived::cache(&app.app);
    epro::answering::derived::refresh(&app.app)
        .await
        .expect("refresh");
    let before = completion(&app, &nurse).await;
    let ahead = kept.derived_ahead();
    let (status, body) = staff_submit(
        &app,
        &nurse,
        a,
        "BL",
        "eortc-qlq-c30",
        json!({"mode": "interviewer", "answers": all(1..=30, 2)}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The refresher runs on its own task: wait for it, bounded (it is woken by the write).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while kept.derived_ahead() == ahead {
        assert!(
            std::time::Instant::now() < deadline,
            "the write woke the refresher"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // What the refresher does every second, done here too so no change is left behind.
    epro::answering::derived::refresh(&app.app)
        .await
        .expect("refresh");
    let on_read = kept.derived_on_read();
    let after = completion(&app, &nurse).await;
    assert_eq!(
        kept.derived_on_read(),
        on_read,
        "the dashboard read after the change derived nothing"
    );
    assert_ne!(before, after, "the submission shows");
    kept.clear();
    let fresh = completion(&app, &nurse).await;
    assert_eq!(after, fresh, "kept and fresh completion are equal");
    // The clock passes a window edge: the refresher derives again, not the reader.
    app.clock.set(at(2026, 2, 9));
    epro::answering::derived::refresh(&app.app)
        .await
        .expect("refresh");
    let on_read = kept.derived_on_read();
    completion(&app, &nurse).await;
    assert_eq!(kept.derived_on_read(), on_read, "nothing derived on read");
}

/// A visit's row of the schedule API.
fn visit_of(s: &Value, code: &str) -> Value {
    s.as_array()
        .and_then(|a| a.iter().find(|v| v["code"] == code))
        .cloned()
        .unwrap_or_default()
}

/// The rows of visits.csv for one participant and visit, as header-keyed maps.
async fn visits_csv(
    app: &TestApp,
    staff: &str,
    id: &str,
    visit: &str,
) -> Vec<std::collections::HashMap<String, String>> {
    let text = app
        .get("/api/v1/exports/visits.csv", Some(staff))
        .await
        .text()
        .await
        .expect("visits.csv");
    let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    r.records()
        .map(|x| {
            header
                .iter()
                .cloned()
                .zip(x.expect("row").iter().map(String::from))
                .collect::<std::collections::HashMap<_, _>>()
        })
        .filter(|m| m["study_id"] == id && m["visit"] == visit)
        .collect()
}

/// #32.11: a go-live participant registered while M1 was in its grace period. M1 (randomized
/// 20 January: window 13–27 February, grace to 6 March) is expected and answerable, as
/// docs/trial-rules.md says; a participant whose M1 grace had ended is not expected for it.
#[tokio::test]
async fn a_visit_in_grace_at_registration_is_expected_and_answerable() {
    let app = spawn().await;
    app.clock.set(at(2026, 3, 1));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let (in_grace, past) = ("HERMES-ZAS-211", "HERMES-ZAS-212");
    app.enrol(
        &nurse,
        in_grace,
        json!({"enrolled_on": "2026-01-19", "randomization_date": "2026-01-20", "arm": "B"}),
    )
    .await;
    app.enrol(
        &nurse,
        past,
        json!({"enrolled_on": "2026-01-09", "randomization_date": "2026-01-10", "arm": "B"}),
    )
    .await;
    let s = schedule(&app, &nurse, in_grace).await;
    let m1 = visit_of(&s, "M1");
    assert_eq!(m1["state"], "late", "in grace at registration: {m1}");
    assert_eq!(m1["grace_last_day"], "2026-03-06", "{m1}");
    assert!(m1["cause"].is_null(), "{m1}");
    let bl = visit_of(&s, "BL");
    assert_eq!(bl["state"], "not_expected");
    assert_eq!(bl["cause"], "before_registration", "the schedule says why");
    let s = schedule(&app, &nurse, past).await;
    assert_eq!(
        state_of(&s, "M1"),
        "not_expected",
        "grace over at registration"
    );
    // Entries are taken while in grace (no 409 window_closed), and are late.
    let (status, body) = staff_submit(
        &app,
        &nurse,
        in_grace,
        "M1",
        "eortc-qlq-c30",
        json!({"mode": "interviewer", "answers": all(1..=30, 2)}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["late"], true);
    // After grace the two other forms are missed: the visit counts in the denominator.
    app.clock.set(at(2026, 3, 10));
    let c = completion(&app, &nurse).await;
    let c30 = form(&c, "M1", "eortc-qlq-c30", Some("B"));
    assert_eq!(
        (
            c30["expected"].clone(),
            c30["received_late"].clone(),
            c30["not_expected"].clone()
        ),
        (json!(1), json!(1), json!(1)),
        "{c30}"
    );
    let bm22 = form(&c, "M1", "eortc-qlq-bm22", Some("B"));
    assert_eq!(bm22["missed"], 1, "{bm22}");
    let rows = visits_csv(&app, &nurse, in_grace, "M1").await;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["expected"] == "true"), "{rows:?}");
}

/// #32.12: a paper form filled in two days before M1's window opened, entered with a reason,
/// is early: flagged outside_window, not late, counted as received early (not late) in the
/// CONSORT-PRO table and in visits.csv.
#[tokio::test]
async fn a_paper_form_filled_in_before_the_window_is_early_not_late() {
    let app = spawn().await;
    let id = "HERMES-ZAS-213";
    let nurse = randomized(&app, id, "A").await;
    // M1: window 8–22 February.
    app.clock.set(at(2026, 2, 10));
    let body = json!({"mode": "paper", "completed_on": "2026-02-06", "answers": all(1..=30, 2)});
    let (status, err) = staff_submit(&app, &nurse, id, "M1", "eortc-qlq-c30", body.clone()).await;
    assert_eq!(status, 422, "outside the window without a reason: {err}");
    let mut with_reason = body;
    with_reason["reason"] = json!("filled in at the consultation before the window");
    let (status, ok) = staff_submit(&app, &nurse, id, "M1", "eortc-qlq-c30", with_reason).await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["late"], false, "early is not late");
    let c = completion(&app, &nurse).await;
    let c30 = form(&c, "M1", "eortc-qlq-c30", Some("A"));
    assert_eq!(
        (
            c30["received"].clone(),
            c30["received_early"].clone(),
            c30["received_late"].clone(),
            c30["received_in_window"].clone()
        ),
        (json!(1), json!(1), json!(0), json!(0)),
        "{c30}"
    );
    let rows = visits_csv(&app, &nurse, id, "M1").await;
    let row = rows
        .iter()
        .find(|r| r["questionnaire"].starts_with("eortc-qlq-c30"))
        .expect("C30 row");
    assert_eq!(
        (row["late"].as_str(), row["flags"].as_str()),
        ("false", "outside_window")
    );
}

/// #32.14: a baseline finished during screening, before randomization was recorded (the order
/// the protocol wants), gets its window end, last day and grace from the randomization: in the
/// schedule, /completion and visits.csv.
#[tokio::test]
async fn a_baseline_finished_before_randomization_gets_its_end() {
    let app = spawn().await;
    app.clock.set(at(2026, 1, 12));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let id = "HERMES-ZAS-214";
    app.enrol(&nurse, id, json!({})).await;
    for (key, answers) in [
        ("eortc-qlq-c30", all(1..=30, 2)),
        ("eortc-qlq-bm22", all(31..=52, 2)),
        ("nrs-lesion-pain", json!([])),
    ] {
        let (status, body) = staff_submit(
            &app,
            &nurse,
            id,
            "BL",
            key,
            json!({"mode": "interviewer", "answers": answers}),
        )
        .await;
        assert_eq!(status, 200, "{key}: {body}");
    }
    // Looking at the schedule stores the baseline's final state (completed).
    assert_eq!(
        state_of(&schedule(&app, &nurse, id).await, "BL"),
        "completed"
    );
    app.clock.set(at(2026, 1, 14));
    event(
        &app,
        &nurse,
        id,
        json!({"type": "randomization", "date": "2026-01-14", "reason": "randomized", "arm": "A"}),
    )
    .await;
    let bl = visit_of(&schedule(&app, &nurse, id).await, "BL");
    assert_eq!(bl["state"], "completed", "{bl}");
    assert_eq!(bl["last_day"], "2026-01-14", "{bl}");
    assert_eq!(bl["grace_last_day"], "2026-01-21", "{bl}");
    assert!(bl["window_end"].is_string(), "{bl}");
    let c = completion(&app, &nurse).await;
    let cell = c["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["study_id"] == id))
        .and_then(|p| p["visits"].as_array())
        .and_then(|vs| vs.iter().find(|v| v["visit"] == "BL"))
        .cloned()
        .unwrap_or_default();
    assert!(cell.to_string().contains("2026-01-14T23:00:00"), "{cell}");
    let rows = visits_csv(&app, &nurse, id, "BL").await;
    for r in &rows {
        assert_eq!(
            (
                r["last_day"].as_str(),
                r["grace_last_day"].as_str(),
                r["window_end"].is_empty(),
                r["grace_end"].is_empty()
            ),
            ("2026-01-14", "2026-01-21", false, false),
            "{r:?}"
        );
    }
}

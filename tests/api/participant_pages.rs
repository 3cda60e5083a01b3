//! The participant's pages when something goes wrong (issue 32): a session that ends in the
//! middle of a draft already saved, a link that no longer works, wrong PINs.

use chrono::{TimeZone, Utc};
use reqwest::Client;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};
use crate::pages::{browser, csrf_of, page, participant_browser};

/// Unescape what minijinja escapes in an attribute value (as a browser reads it).
fn unescape(v: &str) -> String {
    v.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The hidden fields of a page, as a browser would post them with its form.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for tag in html.split("<input type=\"hidden\" ").skip(1) {
        let attr = |name: &str| {
            let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
            let end = tag[start..].find('"')? + start;
            Some(unescape(&tag[start..end]))
        };
        if let (Some(n), Some(v)) = (attr("name"), attr("value")) {
            out.push((n, v));
        }
    }
    out
}

/// The answer fields (`q.…`) of a questionnaire page, each once, in order.
fn question_fields(html: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in html.split("name=\"q.").skip(1) {
        let name = format!("q.{}", &part[..part.find('"').unwrap_or(0)]);
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

async fn nurse_and_participant(app: &TestApp, study_id: &str, language: &str) -> String {
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    app.enrol(
        &nurse,
        study_id,
        json!({"language": language, "randomization_date": "2026-01-15"}),
    )
    .await;
    nurse
}

/// The session ends while page 2 of a draft saved on page 1 is open: the answers typed on page
/// 2 travel with the PIN form together with the draft's revision, and after the PIN they are
/// saved as the page would have saved them — no "changed elsewhere", page 1 untouched — and the
/// participant goes on to page 3.
#[tokio::test]
async fn a_session_that_ends_on_an_existing_draft_resumes_without_a_conflict() {
    let app = spawn_app().await;
    let nurse = nurse_and_participant(&app, "HERMES-ZAS-611", "nl").await;
    let p = participant_browser(&app, &nurse, "HERMES-ZAS-611").await;
    let base = format!("{}/p/q/BL/eortc-qlq-c30", app.address);

    // Page 1 answered and saved: the draft exists (revision 1).
    let (_, html) = page(&p, &app, "/p/q/BL/eortc-qlq-c30?page=1").await;
    let first = question_fields(&html);
    let mut form = hidden_fields(&html);
    form.extend(first.iter().map(|f| (f.clone(), "2".to_string())));
    form.push(("go".into(), "next".into()));
    let resp = p.post(&base).form(&form).send().await.expect("page 1");
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/p/q/BL/eortc-qlq-c30?page=2");

    // Page 2 is open; the session ends (12 hours); the participant answers and taps Next.
    let (_, html) = page(&p, &app, "/p/q/BL/eortc-qlq-c30?page=2").await;
    assert!(
        html.contains("name=\"revision\" value=\"1\""),
        "the page holds the draft's revision"
    );
    let second = question_fields(&html);
    assert!(!second.is_empty());
    app.clock.advance(chrono::Duration::hours(13));
    let mut form = hidden_fields(&html);
    form.extend(second.iter().map(|f| (f.clone(), "3".to_string())));
    form.push(("go".into(), "next".into()));
    let resp = p.post(&base).form(&form).send().await.expect("page 2");
    assert_eq!(resp.status(), 401);
    let pin_form = resp.text().await.expect("html");
    assert!(
        pin_form.contains("name=\"carry.revision\" value=\"1\""),
        "the revision travels with the answers: {pin_form}"
    );

    // The PIN form as the browser posts it.
    let mut resume = hidden_fields(&pin_form);
    resume.push(("pin".into(), "4826".into()));
    let resp = p
        .post(format!("{}/p/resume", app.address))
        .form(&resume)
        .send()
        .await
        .expect("resume");
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()["location"],
        "/p/q/BL/eortc-qlq-c30?page=3",
        "on from page 2, no 'changed elsewhere'"
    );
    let (status, html) = page(&p, &app, "/p/q/BL/eortc-qlq-c30?page=2").await;
    assert_eq!(status, 200);
    for f in &second {
        assert!(
            html.contains(&format!("name=\"{f}\" value=\"3\" checked")),
            "{f}: typed after the session ended, kept"
        );
    }
    let (_, html) = page(&p, &app, "/p/q/BL/eortc-qlq-c30?page=1").await;
    for f in &first {
        assert!(
            html.contains(&format!("name=\"{f}\" value=\"2\" checked")),
            "{f}: page 1 untouched"
        );
    }
}

/// A revoked link's page is in the participant's language and gives the phone number of the
/// participant's hospital; a link nobody knows ends its sentence without a dangling space.
#[tokio::test]
async fn a_link_that_no_longer_works_gives_the_hospitals_number() {
    let app = spawn_app().await;
    let nurse = nurse_and_participant(&app, "HERMES-ZAS-612", "fr").await;
    let (token, _) = app.issue_link(&nurse, "HERMES-ZAS-612", Some("4826")).await;
    app.post_ok(
        "/api/v1/participants/HERMES-ZAS-612/access-link/revoke",
        Some(&nurse),
        json!({"reason": "téléphone perdu"}),
    )
    .await;
    let (status, html) = page(&browser(), &app, &format!("/p/{token}")).await;
    assert_eq!(status, 404);
    assert!(html.contains("Ce lien ne fonctionne plus"), "{html}");
    assert!(
        html.contains("appelez votre hôpital : <a href=\"tel:+3230000001\">+32 3 000 00 01</a>."),
        "the participant's hospital's number: {html}"
    );
    // A wrong PIN posted on the old page says the same.
    let c = browser();
    let resp = c
        .post(format!("{}/p/{token}", app.address))
        .form(&[("csrf", "x"), ("pin", "4826")])
        .send()
        .await
        .expect("post");
    let html = resp.text().await.expect("html");
    assert!(html.contains("href=\"tel:+3230000001\""), "{html}");

    // A link never issued: no site to name, and the sentence still ends properly.
    let (status, html) = page(
        &browser(),
        &app,
        "/p/NoSuchLinkNoSuchLinkNoSuchLink?lang=fr",
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        html.contains("appelez votre hôpital.</p>"),
        "the sentence ends without a number: {html}"
    );
    assert!(!html.contains(" .") && !html.contains("tel:"), "{html}");
}

async fn wrong_pin(c: &Client, app: &TestApp, path: &str) -> (u16, String) {
    let (_, html) = page(c, app, path).await;
    let resp = c
        .post(format!("{}{path}", app.address))
        .form(&[("csrf", csrf_of(&html).as_str()), ("pin", "0000")])
        .send()
        .await
        .expect("pin");
    (resp.status().as_u16(), resp.text().await.expect("html"))
}

/// After a wrong PIN the page says how many tries are left, and the one that reaches the limit
/// says how long to wait.
#[tokio::test]
async fn a_wrong_pin_says_how_many_tries_are_left() {
    let app = spawn_app().await;
    let nurse = nurse_and_participant(&app, "HERMES-ZAS-613", "nl").await;
    let (token, _) = app.issue_link(&nurse, "HERMES-ZAS-613", Some("4826")).await;
    let path = format!("/p/{token}");
    let c = browser();
    for left in ["4 keer", "3 keer", "2 keer"] {
        let (status, html) = wrong_pin(&c, &app, &path).await;
        assert_eq!(status, 401);
        assert!(
            html.contains(&format!(
                "Deze pincode klopt niet. U kunt het nog {left} proberen."
            )),
            "{left}: {html}"
        );
    }
    let (_, html) = wrong_pin(&c, &app, &path).await;
    assert!(html.contains("U kunt het nog één keer proberen; daarna moet u even wachten."));
    let (_, html) = wrong_pin(&c, &app, &path).await;
    assert!(
        html.contains("Te veel pogingen. Probeer het over 15 minuten opnieuw"),
        "the fifth wrong PIN says the wait at once: {html}"
    );
    // French too.
    let (status, html) = wrong_pin(&browser(), &app, &format!("{path}?lang=fr")).await;
    assert_eq!(status, 429, "still locked");
    assert!(html.contains("Trop d’essais"), "{html}");
}

/// Answer every page of `key` in BL with "1" as the page posts it (no script); ends on the review.
async fn answer_all_pages(p: &Client, app: &TestApp, key: &str) -> String {
    let base = format!("/p/q/BL/{key}");
    let mut path = format!("{base}?page=1");
    for _ in 0..20 {
        let (_, html) = page(p, app, &path).await;
        let mut form = hidden_fields(&html);
        form.extend(
            question_fields(&html)
                .into_iter()
                .map(|f| (f, "1".to_string())),
        );
        form.push(("go".into(), "next".into()));
        let resp = p
            .post(format!("{}{base}", app.address))
            .form(&form)
            .send()
            .await
            .expect("page");
        assert_eq!(resp.status(), 303, "{path}");
        path = resp.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        if path.ends_with("/review") {
            return path;
        }
    }
    panic!("{key}: no review after 20 pages");
}

/// #28.4 through the page: *Send* pressed on the phone inside the window (the page script's
/// `device_completed_at`), the review posted after the visit closed: taken (`synced_late`); one
/// finished after the grace period by the phone's clock is refused in Dutch and kept.
#[tokio::test]
async fn the_review_sent_after_the_visit_closed_is_judged_by_the_phones_time() {
    let app = crate::helpers::spawn_app_with(|s| s.session_hours = 24 * 365).await;
    let nurse = nurse_and_participant(&app, "HERMES-ZAS-612", "nl").await;
    let p = participant_browser(&app, &nurse, "HERMES-ZAS-612").await;
    let mut reviews = Vec::new();
    for key in ["eortc-qlq-c30", "eortc-qlq-bm22"] {
        let review = answer_all_pages(&p, &app, key).await;
        let (_, html) = page(&p, &app, &review).await;
        reviews.push((review, hidden_fields(&html)));
    }
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 27, 10, 0, 0)
            .single()
            .expect("t"),
    );
    for ((review, fields), (device, taken)) in reviews.into_iter().zip([
        ("2026-01-15T15:00:00.000Z", true),
        ("2026-01-26T10:00:00.000Z", false),
    ]) {
        let mut form = fields;
        form.push(("device_completed_at".into(), device.into()));
        let resp = p
            .post(format!("{}{review}", app.address))
            .form(&form)
            .send()
            .await
            .expect("send");
        if taken {
            assert_eq!(resp.status(), 303, "{review}");
        } else {
            assert_eq!(resp.status(), 422, "{review}");
            let html = resp.text().await.expect("html");
            assert!(
                html.contains("Dit bezoek was al gesloten toen uw antwoorden aankwamen"),
                "{html}"
            );
        }
    }
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM response WHERE synced_late AND status = 'completed'")
            .await,
        1
    );
    assert_eq!(
        app.sql_count(
            "SELECT COUNT(*) FROM response WHERE status = 'draft' AND quarantined_at IS NOT NULL"
        )
        .await,
        1
    );
}

//! The Prometheus scrape (EPRO_METRICS_LISTEN): after a small walk every documented metric is
//! there with a plausible value, and no label carries a study id, email, token or address.

use std::collections::BTreeMap;

use epro::notify::mail::Mail;
use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, answer_hermes_visit, spawn_app_with};

/// One sample line of the text format: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The text format's sample lines (comments skipped). Label values here never hold `,` or `"`.
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').expect("label");
                    (k.to_string(), v.trim_matches('"').to_string())
                })
                .collect();
            Sample {
                name: name.into(),
                labels,
                value: value.parse().expect("number"),
            }
        })
        .collect()
}

fn find<'a>(all: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    all.iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

#[tokio::test]
async fn a_scrape_after_a_walk_has_every_documented_metric_and_no_personal_label() {
    let app = spawn_app_with(|s| {
        s.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await;
    let metrics = app.metrics_address.clone().expect("a metrics listener");

    // A small walk: a nurse enrols and links a participant, who answers the baseline; the
    // reminder job runs; a wrong password is tried until the throttle refuses.
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let id = "HERMES-ZAS-901";
    app.enrol(
        &nurse,
        id,
        json!({"email": "deelnemer@example.be", "randomization_date": "2026-03-01"}),
    )
    .await;
    let (link, pin) = app.issue_link(&nurse, id, Some("4826")).await;
    let token = app.session_token(&link, &pin).await;
    answer_hermes_visit(&app, &token, "BL", "metrics").await;
    let page = app
        .client
        .get(format!("{}/p/{link}", app.address))
        .send()
        .await
        .expect("page");
    assert!(page.status().is_success() || page.status().is_redirection());
    let mail = Mail::from_settings(&app.settings).expect("mail");
    epro::jobs::tick(&app.app, &mail).await;
    // Refused without a session: counted under the operation's template, not the bare prefix.
    let anonymous = app.get(&format!("/api/v1/participants/{id}"), None).await;
    assert_eq!(anonymous.status(), 401);
    let mut refused = false;
    for _ in 0..8 {
        if app.login(ADMIN_EMAIL, "not-the-password").await.status() == 429 {
            refused = true;
            break;
        }
    }
    assert!(refused, "the throttle refused a guess");

    let resp = app
        .client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = resp.text().await.expect("body");
    let all = samples(&text);

    // Requests, by route template: the submissions' route counted at least three times (the
    // counters are the process's, so other tests may add to them, never take away).
    let submits = find(
        &all,
        "epro_http_requests_total",
        &[("method", "POST"), ("status", "200")],
    )
    .into_iter()
    .filter(|s| s.labels["route"].contains("/submit"))
    .map(|s| s.value)
    .sum::<f64>();
    assert!(submits >= 3.0, "submissions counted by route: {submits}");
    assert!(
        !find(&all, "epro_http_request_duration_seconds_count", &[]).is_empty(),
        "latency histogram"
    );
    assert!(
        find(&all, "epro_http_requests_total", &[("status", "429")])
            .iter()
            .any(|s| s.value >= 1.0),
        "the 429 is counted"
    );
    assert!(
        find(&all, "epro_http_requests_total", &[("status", "401")])
            .iter()
            .any(|s| s.labels["route"].starts_with("/api/v1/participants/")),
        "an API error keeps its route template"
    );
    let submitted: f64 = find(&all, "epro_submissions_total", &[])
        .iter()
        .map(|s| s.value)
        .sum();
    assert!(submitted >= 3.0, "submissions: {submitted}");
    assert!(
        find(&all, "epro_throttled_total", &[])
            .iter()
            .any(|s| s.value >= 1.0),
        "throttle refusals"
    );
    let in_use = find(&all, "epro_db_connections", &[("state", "in_use")]);
    let idle = find(&all, "epro_db_connections", &[("state", "idle")]);
    let max = find(&all, "epro_db_connections_max", &[]);
    assert!(
        in_use.len() == 1 && idle.len() == 1 && max.len() == 1,
        "pool gauges"
    );
    assert!(max[0].value >= 1.0 && in_use[0].value + idle[0].value <= max[0].value);
    for status in [
        "pending",
        "sending",
        "sent",
        "skipped",
        "cancelled",
        "failed",
    ] {
        assert_eq!(
            find(&all, "epro_reminders", &[("status", status)]).len(),
            1,
            "reminders {status}"
        );
    }
    for delivery in ["unreported", "submitted", "buffered", "delivered", "failed"] {
        assert_eq!(
            find(&all, "epro_sms_messages", &[("delivery", delivery)]).len(),
            1,
            "sms {delivery}"
        );
    }
    let oldest = find(&all, "epro_outbox_oldest_due_seconds", &[]);
    assert!(oldest.len() == 1 && oldest[0].value >= 0.0);
    for job in ["housekeeping", "reminders", "digests"] {
        assert!(
            find(&all, "epro_job_duration_seconds_count", &[("job", job)])
                .iter()
                .any(|s| s.value >= 1.0),
            "job {job} timed"
        );
    }
    let rss = find(&all, "epro_process_resident_memory_bytes", &[]);
    assert!(rss.len() == 1 && rss[0].value > 1_000_000.0, "rss: {rss:?}");
    assert_eq!(
        find(
            &all,
            "epro_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        )
        .len(),
        1
    );

    // No label value is personal or secret: no study id, email, link token, or address.
    for s in &all {
        for (k, v) in &s.labels {
            let leak = v.contains("HERMES-")
                || v.contains('@')
                || v.contains(&link)
                || v.contains(&token)
                || v.contains("127.0.0.1")
                || v.parse::<std::net::IpAddr>().is_ok()
                || (v.len() >= 32 && !v.contains('/'));
            assert!(!leak, "{} has label {k}={v}", s.name);
        }
    }
}

//! Reminders against a real SMTP server (mailin-embedded, in-process), on a settable clock.

use std::{
    net::TcpListener,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Brussels;
use epro::{
    clock::Clock,
    config::{MailTransport, SmtpTls},
    notify::mail::Mail,
};
use mailin_embedded::{Handler, Server, response};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Clone, Default)]
struct Sink {
    inbox: Arc<Mutex<Vec<Received>>>,
    current: Vec<u8>,
    to: Vec<String>,
}

impl Handler for Sink {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.to = to.to_vec();
        self.current.clear();
        response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> mailin_embedded::Response {
        let data = String::from_utf8_lossy(&self.current).to_string();
        if let Ok(mut inbox) = self.inbox.lock() {
            inbox.push(Received {
                to: self.to.clone(),
                data,
            });
        }
        response::OK
    }
}

/// A real SMTP server on a loopback port, running in its own threads.
pub struct SmtpServer {
    pub port: u16,
    inbox: Arc<Mutex<Vec<Received>>>,
}

impl SmtpServer {
    pub fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port")
    }

    pub fn start_on(port: u16) -> Self {
        let sink = Sink::default();
        let inbox = sink.inbox.clone();
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind smtp");
        let mut server = Server::new(sink);
        server
            .with_name("smtp.test")
            .with_num_threads(2)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self { port, inbox }
    }

    pub fn start() -> Self {
        Self::start_on(Self::free_port())
    }

    pub fn all_messages(&self) -> Vec<Received> {
        self.inbox.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Messages to participants (staff also get the daily site digest).
    pub fn messages(&self) -> Vec<Received> {
        self.all_messages()
            .into_iter()
            .filter(|m| m.to.iter().all(|t| !t.ends_with("@hermes.test")))
            .collect()
    }
}

pub(crate) async fn app_with_smtp_settings(
    port: u16,
    adjust: impl FnOnce(&mut epro::config::Settings),
) -> TestApp {
    spawn_app_with(move |s| {
        s.session_hours = 24 * 365 * 3;
        s.mail_transport = MailTransport::Smtp;
        s.smtp_host = "127.0.0.1".into();
        s.smtp_port = port;
        s.smtp_tls = SmtpTls::None;
        s.smtp_timeout_seconds = 5;
        s.base_url = "https://epro.example".into();
        adjust(s);
    })
    .await
}

async fn app_with_smtp(port: u16) -> TestApp {
    app_with_smtp_settings(port, |_| {}).await
}

pub(crate) fn local(date: NaiveDate, hour: u32) -> DateTime<Utc> {
    Brussels
        .from_local_datetime(&date.and_hms_opt(hour, 0, 0).expect("time"))
        .earliest()
        .expect("local")
        .with_timezone(&Utc)
}

/// Enrol with an email and give the personal link with a PIN (reminders need both).
async fn enrol(app: &TestApp, nurse: &str, id: &str, randomized: &str) {
    app.enrol(
        nurse,
        id,
        json!({"email": "deelnemer@example.be", "randomization_date": randomized}),
    )
    .await;
    app.issue_link(nurse, id, Some("4826")).await;
}

/// A reminder's link asks for the PIN: no reminder goes out before the participant has one,
/// and the site sees why (call list, digest).
#[tokio::test]
async fn no_reminder_goes_to_a_participant_without_a_pin() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(smtp.port).await;
    app.clock.set(local("2026-01-15".parse().expect("d"), 10));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let id = "HERMES-ZAS-451";
    app.enrol(
        &nurse,
        id,
        json!({"email": "deelnemer@example.be", "randomization_date": "2026-01-15"}),
    )
    .await;
    let mail = Mail::from_settings(&app.settings).expect("mail");
    let report = epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!(
        (report.planned, smtp.messages().len()),
        (0, 0),
        "{report:?}"
    );
    let calls: Value = app
        .get("/api/v1/completion", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert!(calls["participants"][0]["visits"][0]["state"] == "open");
    app.issue_link(&nurse, id, Some("4826")).await;
    let report = epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!(smtp.messages().len(), 1, "{report:?}");
}

fn kinds_by_visit(app: &TestApp, rows: &[Value]) -> Vec<(String, String)> {
    let _ = app;
    rows.iter()
        .filter(|r| r["status"] == "sent")
        .map(|r| {
            (
                r["visit"].as_str().unwrap_or_default().to_string(),
                r["kind"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The reminder rows in the outbox (through the audit trail's view of them).
async fn sent_rows(app: &TestApp) -> Vec<Value> {
    app.audit_rows()
        .await
        .into_iter()
        .filter(|r| r["action"] == "reminder.sent")
        .map(|r| {
            let mut v: Value =
                serde_json::from_str(r["after"].as_str().unwrap_or("{}")).unwrap_or(Value::Null);
            v["at"] = r["at"].clone();
            v
        })
        .collect()
}

fn link_in(message: &str) -> Option<String> {
    let start = message.find("https://epro.example/p/")?;
    let rest = &message[start + "https://epro.example/p/".len()..];
    Some(
        rest.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect(),
    )
}

#[tokio::test]
async fn twenty_four_months_of_reminders_exactly_as_planned() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(smtp.port).await;
    let start: NaiveDate = "2026-01-15".parse().expect("d");
    app.clock.set(local(start, 8));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    enrol(&app, &nurse, "HERMES-ZAS-201", "2026-01-15").await;
    let link: Value = app
        .post(
            "/api/v1/participants/HERMES-ZAS-201/access-link",
            Some(&nurse),
            json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    // The PIN was set when the first link was given (enrol).
    let pin = link["pin"].as_str().unwrap_or("4826").to_string();
    let staff_link = link["link_token"].as_str().expect("token").to_string();
    let mail = Mail::from_settings(&app.settings).expect("mail");

    let mut seen = 0;
    let mut answered_m3 = false;
    for day in 0..760u64 {
        let date = start.checked_add_days(Days::new(day)).expect("date");
        app.clock.set(local(date, 9));
        epro::reminders::run_once(&app.app, &mail)
            .await
            .expect("run");
        let inbox = smtp.messages();
        for m in &inbox[seen..] {
            assert_eq!(m.to, ["deelnemer@example.be"]);
            // The header as one line (RFC 5322 folds long ones).
            let subject: String = m
                .data
                .lines()
                .skip_while(|l| !l.starts_with("Subject:"))
                .enumerate()
                .take_while(|(i, l)| *i == 0 || l.starts_with([' ', '\t']))
                .map(|(_, l)| l.trim_end())
                .collect::<Vec<_>>()
                .join("");
            assert_eq!(
                subject.split_whitespace().collect::<Vec<_>>().join(" "),
                "Subject: Herinnering van ZAS Augustinus: uw vragenlijsten voor de HERMES-studie",
                "the hospital and the study, no health information in the subject (three forms)"
            );
            let token = link_in(&m.data).expect("a personal link");
            // The first M3 reminder: the participant answers M3 through the email's link and PIN.
            if !answered_m3 && date >= "2026-03-30".parse::<NaiveDate>().expect("d") {
                let login = app
                    .post(
                        "/api/v1/auth/participant",
                        None,
                        json!({"link_token": token, "pin": pin}),
                    )
                    .await;
                assert_eq!(
                    login.status(),
                    200,
                    "the reminder's link plus the PIN opens the tasks"
                );
                let t: String = login.json::<Value>().await.expect("json")["token"]
                    .as_str()
                    .expect("t")
                    .into();
                let tasks: Value = app
                    .get("/api/v1/me/tasks", Some(&t))
                    .await
                    .json()
                    .await
                    .expect("json");
                assert_eq!(tasks[0]["visit"], "M3");
                crate::helpers::answer_hermes_visit(&app, &t, "M3", "m3").await;
                answered_m3 = true;
                // The staff-issued link still works.
                assert_eq!(
                    app.post(
                        "/api/v1/auth/participant",
                        None,
                        json!({"link_token": staff_link, "pin": pin})
                    )
                    .await
                    .status(),
                    200
                );
            }
        }
        seen = inbox.len();
    }
    assert!(answered_m3);

    let rows = sent_rows(&app).await;
    let got = kinds_by_visit(&app, &rows);
    let mut expected = Vec::new();
    for visit in ["BL", "M1", "M3", "M6", "M12", "M18", "M24"] {
        let kinds: &[&str] = match visit {
            // The baseline closes with the randomization day: its follow-up falls in grace, its
            // "closing" reminder would be due before it opened.
            "BL" => &["window_open", "follow_up"],
            "M3" => &["window_open"],
            _ => &["window_open", "follow_up", "closing"],
        };
        for k in kinds {
            expected.push((visit.to_string(), k.to_string()));
        }
    }
    assert_eq!(
        got, expected,
        "exactly the planned reminders, none after completion"
    );
    assert_eq!(
        smtp.messages().len(),
        expected.len(),
        "one email per planned reminder"
    );
    // All at 09:00 local, never two on the same day.
    let mut days = std::collections::BTreeSet::new();
    for r in &rows {
        let at = DateTime::parse_from_rfc3339(r["at"].as_str().expect("at"))
            .expect("instant")
            .with_timezone(&Brussels);
        assert_eq!(at.format("%H:%M").to_string(), "09:00", "{r}");
        assert!(
            days.insert(at.date_naive()),
            "two reminders on {}",
            at.date_naive()
        );
    }
}

#[tokio::test]
async fn an_sse_leaves_one_reminder_for_the_sse_visit_and_withdrawal_stops_them() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(smtp.port).await;
    let start: NaiveDate = "2026-01-15".parse().expect("d");
    app.clock.set(local(start, 8));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    enrol(&app, &nurse, "HERMES-ZAS-301", "2026-01-15").await;
    enrol(&app, &nurse, "HERMES-ZAS-302", "2026-01-15").await;
    let mail = Mail::from_settings(&app.settings).expect("mail");
    for day in 0..760u64 {
        let date = start.checked_add_days(Days::new(day)).expect("date");
        if date == "2026-05-20".parse::<NaiveDate>().expect("d") {
            app.clock.set(local(date, 8));
            let r = app
                .post("/api/v1/participants/HERMES-ZAS-301/events", Some(&nurse), json!({"type": "sse", "date": "2026-05-20", "reason": "fracture", "sse_type": "pathological_fracture"}))
                .await;
            assert_eq!(r.status(), 200);
            let w = app
                .post("/api/v1/participants/HERMES-ZAS-302/events", Some(&nurse), json!({"type": "withdrawal", "date": "2026-05-20", "reason": "consent withdrawn"}))
                .await;
            assert_eq!(w.status(), 200);
        }
        app.clock.set(local(date, 9));
        epro::reminders::run_once(&app.app, &mail)
            .await
            .expect("run");
    }
    let rows = sent_rows(&app).await;
    let visits_301: Vec<String> = rows
        .iter()
        .filter(|r| r["status"] == "sent")
        .filter_map(|r| r["visit"].as_str().map(String::from))
        .collect();
    let per_visit = |v: &str| visits_301.iter().filter(|x| *x == v).count();
    // Two participants: BL (2 each: it closes with the randomization day), M1, M3 (3 each),
    // then only 301's SSE visit (M6).
    assert_eq!(per_visit("BL"), 4);
    assert_eq!(per_visit("M1"), 6);
    assert_eq!(per_visit("M3"), 6);
    assert_eq!(
        per_visit("M6"),
        3,
        "the SSE visit's reminders, for 301 only"
    );
    for v in ["M12", "M18", "M24"] {
        assert_eq!(per_visit(v), 0, "{v}: cancelled by the SSE / withdrawal");
    }
    assert_eq!(smtp.messages().len(), rows.len());
}

#[tokio::test]
async fn ten_days_into_an_open_window_one_reminder_not_a_burst() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(smtp.port).await;
    app.clock.set(local("2026-01-15".parse().expect("d"), 10));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    enrol(&app, &nurse, "HERMES-ZAS-401", "2026-01-15").await;
    // No reminder run until ten days into M1's window (8–22 February): both the opening and the
    // follow-up reminder are overdue by then.
    app.clock.set(local("2026-02-17".parse().expect("d"), 10));
    let mail = Mail::from_settings(&app.settings).expect("mail");
    let report = epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!(smtp.messages().len(), 1, "{report:?}");
    assert!(
        report.skipped >= 1,
        "overdue reminders of the same visit are skipped: {report:?}"
    );
    // Running again the same day sends nothing more (one email a day, never twice).
    let again = epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!(smtp.messages().len(), 1, "{again:?}");
}

#[tokio::test]
async fn with_the_smtp_server_down_reminders_wait_and_are_delivered_once() {
    let port = SmtpServer::free_port();
    let app = app_with_smtp(port).await;
    app.clock.set(local("2026-01-15".parse().expect("d"), 10));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    enrol(&app, &nurse, "HERMES-ZAS-501", "2026-01-15").await;
    let mail = Mail::from_settings(&app.settings).expect("mail");
    let down = epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!((down.sent, down.retrying), (0, 1), "{down:?}");
    let smtp = SmtpServer::start_on(port);
    // Not before its retry time…
    let early = epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!(early.sent, 0);
    // …then delivered, once.
    app.clock.advance(chrono::Duration::minutes(5));
    let up = epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!(up.sent, 1, "{up:?}");
    app.clock.advance(chrono::Duration::minutes(5));
    epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test]
async fn sites_see_the_outbox_and_resend_a_failed_reminder() {
    let port = SmtpServer::free_port();
    let app = spawn_app_with(move |s| {
        s.session_hours = 24 * 365;
        s.mail_transport = MailTransport::Smtp;
        s.smtp_host = "127.0.0.1".into();
        s.smtp_port = port;
        s.smtp_tls = SmtpTls::None;
        s.smtp_timeout_seconds = 5;
        s.reminder_max_attempts = 1;
    })
    .await;
    app.clock.set(local("2026-01-15".parse().expect("d"), 10));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let other = app.staff_token("site_staff", &["UZG"]).await;
    enrol(&app, &nurse, "HERMES-ZAS-601", "2026-01-15").await;
    let mail = Mail::from_settings(&app.settings).expect("mail");
    let r = epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!(r.failed, 1, "{r:?}");

    let failed: Value = app
        .get("/api/v1/reminders?status=failed", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(failed.as_array().map(Vec::len), Some(1));
    assert!(
        failed[0]["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    let none: Value = app
        .get("/api/v1/reminders", Some(&other))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        none.as_array().map(Vec::len),
        Some(0),
        "another site sees nothing"
    );
    let id = failed[0]["id"].as_str().expect("id").to_string();
    assert_eq!(
        app.post(
            &format!("/api/v1/reminders/{id}/resend"),
            Some(&other),
            json!({})
        )
        .await
        .status(),
        404
    );

    let smtp = SmtpServer::start_on(port);
    let resent = app
        .post(
            &format!("/api/v1/reminders/{id}/resend"),
            Some(&nurse),
            json!({}),
        )
        .await;
    assert_eq!(resent.status(), 200);
    assert_eq!(
        resent.json::<Value>().await.expect("json")["status"],
        "pending"
    );
    epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!(smtp.messages().len(), 1);
    let history: Value = app
        .get(
            "/api/v1/participants/HERMES-ZAS-601/reminders",
            Some(&nurse),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(history[0]["status"], "sent");
    assert_eq!(
        app.post(
            &format!("/api/v1/reminders/{id}/resend"),
            Some(&nurse),
            json!({})
        )
        .await
        .status(),
        409
    );
}

#[tokio::test]
async fn the_daily_digest_reaches_site_staff_once_a_day() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(smtp.port).await;
    app.clock.set(local("2026-01-15".parse().expect("d"), 7));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    enrol(&app, &nurse, "HERMES-ZAS-701", "2026-01-15").await;
    app.enrol(&nurse, "HERMES-ZAS-702", json!({"language": "fr"}))
        .await;
    app.issue_link(&nurse, "HERMES-ZAS-702", Some("4826")).await;
    let mail = Mail::from_settings(&app.settings).expect("mail");
    let digests = |smtp: &SmtpServer| {
        smtp.all_messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.ends_with("@hermes.test")))
            .collect::<Vec<_>>()
    };

    // A second nurse reads the pages in French: her digest comes in French.
    let (fr_email, fr_password, _) = app.staff_account("site_staff", &["ZAS"]).await;
    let fr = crate::pages::sign_in(&app, &fr_email, &fr_password).await;
    let resp = fr
        .get(format!("{}/staff/?lang=fr", app.address))
        .send()
        .await
        .expect("page");
    assert_eq!(resp.status(), 200);

    epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!(digests(&smtp).len(), 0, "not before 08:00");
    app.clock.set(local("2026-01-15".parse().expect("d"), 8));
    let r = epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!(r.digests, 2, "{r:?}");
    let d = digests(&smtp);
    assert_eq!(d.len(), 2);
    let nl = d
        .iter()
        .find(|m| !m.to.contains(&fr_email))
        .expect("the Dutch digest");
    let text = decoded(&nl.data);
    assert!(
        text.contains("HERMES-ZAS-701, Baseline") && text.contains("HERMES-ZAS-702, Baseline"),
        "{text}"
    );
    assert!(
        text.contains("Subject: ZAS Augustinus: dagelijks overzicht HERMES, 15 januari 2026"),
        "the hospital and study, no participant: {text}"
    );
    assert!(
        text.contains("/staff/participants/HERMES-ZAS-702") && text.contains("/staff/?site=ZAS"),
        "links to the record and the dashboard: {text}"
    );
    // The no-email section lists 702 (enrolled without an email), not 701.
    let section = text
        .split("Open of te laat bezoek zonder e-mailadres")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_default()
        .to_string();
    assert!(
        section.contains("HERMES-ZAS-702") && !section.contains("HERMES-ZAS-701"),
        "{section}"
    );
    let french = d
        .iter()
        .find(|m| m.to.contains(&fr_email))
        .expect("the French digest");
    let text = decoded(&french.data);
    assert!(
        text.contains("Visites ouvertes") && text.contains("HERMES-ZAS-701, Inclusion"),
        "{text}"
    );
    assert!(
        !text.contains("Open bezoeken"),
        "one language a digest: {text}"
    );
    app.clock.set(local("2026-01-15".parse().expect("d"), 12));
    epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!(digests(&smtp).len(), 2, "once a day");
    app.clock.set(local("2026-01-16".parse().expect("d"), 8));
    epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!(digests(&smtp).len(), 4, "and again the next day");
}

#[tokio::test]
async fn two_workers_on_one_database_deliver_each_reminder_once() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(smtp.port).await;
    app.clock.set(local("2026-01-15".parse().expect("d"), 10));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    for n in 1..=8 {
        enrol(&app, &nurse, &format!("HERMES-ZAS-8{n:02}"), "2026-01-15").await;
    }
    let (a, b) = (
        Mail::from_settings(&app.settings).expect("mail"),
        Mail::from_settings(&app.settings).expect("mail"),
    );
    // Plan once, then let two workers race for the same rows.
    epro::reminders::plan(&app.app, app.clock.now())
        .await
        .expect("plan");
    let now = app.clock.now();
    let (ra, rb) = tokio::join!(
        epro::reminders::send_due(&app.app, &a, now),
        epro::reminders::send_due(&app.app, &b, now)
    );
    let (ra, rb) = (ra.expect("worker a"), rb.expect("worker b"));
    assert_eq!(ra.sent + rb.sent, 8, "{ra:?} {rb:?}");
    let messages = smtp.messages();
    assert_eq!(messages.len(), 8);
    let ids: std::collections::BTreeSet<String> = messages
        .iter()
        .filter_map(|m| {
            m.data
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
                .map(String::from)
        })
        .collect();
    assert_eq!(ids.len(), 8, "eight distinct messages");
}

/// An SMTP server that holds every message at the end of DATA until released: a send "in flight".
/// It tells the test when a message is being held and when a held message was recorded.
#[derive(Clone)]
struct GatedSink {
    inner: Sink,
    gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
    held: Arc<tokio::sync::Notify>,
    recorded: Arc<tokio::sync::Notify>,
}

impl Handler for GatedSink {
    fn data_start(
        &mut self,
        domain: &str,
        from: &str,
        is8bit: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.inner.data_start(domain, from, is8bit, to)
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner.data(buf)
    }
    fn data_end(&mut self) -> mailin_embedded::Response {
        self.held.notify_one();
        let (lock, cvar) = &*self.gate;
        if let Ok(mut open) = lock.lock() {
            while !*open {
                match cvar.wait(open) {
                    Ok(g) => open = g,
                    Err(_) => break,
                }
            }
        }
        let r = self.inner.data_end();
        self.recorded.notify_one();
        r
    }
}

#[tokio::test]
async fn a_worker_killed_mid_send_loses_nothing_and_repeats_at_most_the_message_in_flight() {
    let port = SmtpServer::free_port();
    let sink = Sink::default();
    let inbox = sink.inbox.clone();
    let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let (held, recorded) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let mut server = Server::new(GatedSink {
        inner: sink,
        gate: gate.clone(),
        held: held.clone(),
        recorded: recorded.clone(),
    });
    server.with_num_threads(2).with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    let app = app_with_smtp(port).await;
    app.clock.set(local("2026-01-15".parse().expect("d"), 10));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    enrol(&app, &nurse, "HERMES-ZAS-901", "2026-01-15").await;

    // A worker claims the reminder and is killed while its SMTP conversation is in flight.
    let worker_app = app.app.clone();
    let worker_mail = Mail::from_settings(&app.settings).expect("mail");
    let worker =
        tokio::spawn(async move { epro::reminders::run_once(&worker_app, &worker_mail).await });
    held.notified().await;
    worker.abort();
    let rows: Value = app
        .get("/api/v1/reminders", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(rows[0]["status"], "sending", "left mid-send");

    // The server accepts what it was holding (the message in flight); a new worker runs later.
    if let Ok(mut open) = gate.0.lock() {
        *open = true;
    }
    gate.1.notify_all();
    recorded.notified().await;
    let count = || {
        inbox
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|x| x.to.iter().any(|t| t == "deelnemer@example.be"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(count(), 1);
    app.clock.advance(chrono::Duration::minutes(11));
    let mail = Mail::from_settings(&app.settings).expect("mail");
    let r = epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!(r.sent, 1, "the reminder is not lost: {r:?}");
    let rows: Value = app
        .get("/api/v1/reminders", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(rows[0]["status"], "sent");
    assert_eq!(
        count(),
        2,
        "the only duplicate is the single message that was in flight"
    );
    app.clock.advance(chrono::Duration::hours(1));
    epro::reminders::run_once(&app.app, &mail)
        .await
        .expect("run");
    assert_eq!(count(), 2, "nothing more, ever");
}

/// Poll a condition until it holds, failing after `secs` seconds (for a real child process).
async fn eventually(secs: u64, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if ok() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    ok()
}

#[tokio::test]
async fn sigkill_of_the_server_mid_batch_then_restart_loses_no_reminder() {
    let port = SmtpServer::free_port();
    let sink = Sink::default();
    let inbox = sink.inbox.clone();
    let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let (held, recorded) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let mut server = Server::new(GatedSink {
        inner: sink,
        gate: gate.clone(),
        held: held.clone(),
        recorded: recorded.clone(),
    });
    server.with_num_threads(4).with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });

    // The real binary, on the real clock: sending hours all day so the test does not depend on
    // the time it runs at.
    let dir = tempfile::tempdir().expect("tempdir");
    let study = crate::helpers::study_sending_all_day(&dir);
    let url = crate::helpers::fresh_database(&dir).await;
    let mut settings = crate::helpers::test_settings(&dir, url);
    settings.study_file = study;
    let http_port = SmtpServer::free_port();
    let spawn_server = || {
        crate::helpers::serve_binary(
            &settings,
            dir.path(),
            http_port,
            &[
                ("EPRO_MAIL_TRANSPORT", "smtp".into()),
                ("EPRO_SMTP_HOST", "127.0.0.1".into()),
                ("EPRO_SMTP_PORT", port.to_string()),
                ("EPRO_SMTP_TLS", "none".into()),
                ("EPRO_SMTP_TIMEOUT_SECONDS", "60".into()),
                ("EPRO_JOBS_INTERVAL_SECONDS", "1".into()),
                ("EPRO_REMINDER_STALE_SECONDS", "1".into()),
            ],
        )
    };
    let mut child = spawn_server();
    let base = format!("http://127.0.0.1:{http_port}");
    let client = reqwest::Client::new();
    let up = crate::helpers::wait_healthy(&base).await;
    assert!(up, "server up");
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut r = client.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let login = |email: &'static str, pw: &'static str| {
        post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": pw}),
        )
    };
    let admin: Value = login(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let admin = admin["token"].as_str().expect("token").to_string();
    let created = post("/api/v1/users", Some(&admin), json!({"email": "nurse@hermes.test", "password": "initial-password-1", "role": "site_staff", "sites": ["ZAS"]})).await.expect("create");
    assert_eq!(created.status(), 200);
    let nurse: Value = login("nurse@hermes.test", "initial-password-1")
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let nurse = nurse["token"].as_str().expect("token").to_string();
    let changed = client
        .put(format!("{base}/api/v1/auth/password"))
        .bearer_auth(&nurse)
        .json(&json!({"current_password": "initial-password-1", "new_password": "a-better-password-2"}))
        .send()
        .await
        .expect("put");
    assert_eq!(changed.status(), 204);
    let today = epro::domain::schedule::local_date(Brussels, Utc::now()).to_string();
    for n in 1..=3 {
        let r = post(
            "/api/v1/participants",
            Some(&nurse),
            json!({"study_id": format!("HERMES-ZAS-95{n}"), "site": "ZAS", "language": "en", "email": format!("p{n}@example.be"), "randomization_date": today, "arm": "A"}),
        )
        .await
        .expect("enrol");
        assert_eq!(r.status(), 200);
        // Reminders go to participants who have a PIN.
        let l = post(
            &format!("/api/v1/participants/HERMES-ZAS-95{n}/access-link"),
            Some(&nurse),
            json!({"pin": "4826"}),
        )
        .await
        .expect("link");
        assert_eq!(l.status(), 200);
    }

    // The worker claims the batch and starts sending; SIGKILL while the first message is in flight.
    tokio::time::timeout(std::time::Duration::from_secs(30), held.notified())
        .await
        .expect("a send in flight");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    if let Ok(mut open) = gate.0.lock() {
        *open = true;
    }
    gate.1.notify_all();
    tokio::time::timeout(std::time::Duration::from_secs(10), recorded.notified())
        .await
        .expect("in-flight message recorded");

    // Restart: every reminder arrives; the only possible duplicate is the one in flight.
    let mut child = spawn_server();
    let recipients = || -> Vec<String> {
        inbox
            .lock()
            .map(|m| {
                m.iter()
                    .flat_map(|x| x.to.clone())
                    .filter(|t| t.starts_with('p'))
                    .collect()
            })
            .unwrap_or_default()
    };
    let all_arrived = eventually(60, || {
        let r = recipients();
        (1..=3).all(|n| r.contains(&format!("p{n}@example.be")))
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let r = recipients();
    assert!(all_arrived, "no reminder lost: {r:?}");
    assert!(
        r.len() <= 4,
        "at most the single in-flight message is repeated: {r:?}"
    );
    for n in 1..=3 {
        let to = format!("p{n}@example.be");
        assert!(r.iter().filter(|x| **x == to).count() <= 2, "{to}: {r:?}");
    }
    let out = crate::helpers::run_cli(&settings, dir.path(), &["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A message as its reader sees it: headers and body, quoted-printable soft breaks and escapes
/// undone (enough for assertions on plain text).
pub(crate) fn decoded(data: &str) -> String {
    let joined = data.replace("=\r\n", "").replace("=\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    // Folded header lines are unfolded.
    String::from_utf8_lossy(&out)
        .replace("\r\n", "\n")
        .replace("\n ", " ")
}

/// Planning looks only at participants whose mark has passed or whose records changed
/// (docs/reminders.md, "Planning by window edges"). Over seven months of follow-up with a PIN
/// given late, a late enrolment, an SSE, a death, a completed visit and a window changed
/// behind the server's back, the outbox after every pass holds every decision a full look
/// finds, and a pass with nothing newly due looks at no one.
#[tokio::test]
async fn planning_by_window_edges_misses_nothing_a_full_look_finds() {
    let app = spawn_app_with(|s| s.session_hours = 24 * 365 * 3).await;
    let start: NaiveDate = "2026-01-15".parse().expect("d");
    app.clock.set(local(start, 8));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    enrol(&app, &nurse, "HERMES-ZAS-601", "2026-01-15").await;
    app.enrol(
        &nurse,
        "HERMES-ZAS-602",
        json!({"email": "b@example.be", "randomization_date": "2026-01-15"}),
    )
    .await;
    let mut examined = Vec::new();
    for day in 0..210u64 {
        let date = start.checked_add_days(Days::new(day)).expect("date");
        // Changes are made the evening before the day's passes (the clock is still there).
        let yesterday = date.pred_opt().expect("date");
        match day {
            20 => {
                app.issue_link(&nurse, "HERMES-ZAS-602", Some("4826")).await;
            }
            40 => enrol(&app, &nurse, "HERMES-ZAS-603", &yesterday.to_string()).await,
            60 => {
                app.post_ok(
                    "/api/v1/participants/HERMES-ZAS-601/events",
                    Some(&nurse),
                    json!({"type": "sse", "date": yesterday.to_string(), "reason": "r", "sse_type": "pathological_fracture"}),
                )
                .await;
            }
            100 => {
                app.post_ok(
                    "/api/v1/participants/HERMES-ZAS-602/events",
                    Some(&nurse),
                    json!({"type": "death", "date": yesterday.to_string(), "reason": "r"}),
                )
                .await;
            }
            120 => {
                // Another process moves a window (a repair): the trigger clears the mark.
                app.sql("UPDATE visit SET window_start = window_start WHERE code = 'M6'")
                    .await;
            }
            _ => {}
        }
        for hour in [9, 20] {
            let now = local(date, hour);
            app.clock.set(now);
            let report = epro::reminders::plan(&app.app, now).await.expect("plan");
            examined.push(report.examined);
            for d in epro::reminders::decisions(&app.app, now)
                .await
                .expect("decisions")
            {
                let kind = match &d.decision {
                    epro::domain::reminders::Decision::Send { kind, .. }
                    | epro::domain::reminders::Decision::Skip { kind, .. } => kind.clone(),
                };
                let rows = app
                    .sql_count(&format!(
                        "SELECT COUNT(*) FROM reminder r JOIN participant p ON p.id = r.participant_id \
                         WHERE p.study_id = '{}' AND r.visit_code = '{}' AND r.kind = '{kind}'",
                        d.study_id, d.visit
                    ))
                    .await;
                assert_eq!(
                    rows, 1,
                    "{now}: {} {} {kind} is due but not planned",
                    d.study_id, d.visit
                );
            }
        }
    }
    // Once settled, passing again at the same instant looks at no one.
    let now = app.clock.now();
    epro::reminders::plan(&app.app, now).await.expect("plan");
    let again = epro::reminders::plan(&app.app, now).await.expect("plan");
    assert_eq!(again.examined, 0, "nothing newly due");
    let looked: usize = examined.iter().sum();
    assert!(
        looked < examined.len(),
        "passes look at few participants, not all three every time: {looked} looks in {} passes",
        examined.len()
    );
    let planned = app.sql_count("SELECT COUNT(*) FROM reminder").await;
    assert!(
        planned >= 8,
        "reminders were planned over the months: {planned}"
    );
}

/// #29.8: a pass sets the planning marks of the participants it looked at in the same write
/// as their reminders, and writing a participant's reminders (planning them, another process
/// sending them) never clears a mark: the next pass at the same instant looks at no one. Only
/// a change of their records does: a new PIN makes exactly that participant looked at again.
#[tokio::test]
async fn a_pass_never_looks_again_at_what_it_just_planned() {
    let app = spawn_app_with(|s| s.session_hours = 24 * 365 * 3).await;
    let start: NaiveDate = "2026-01-15".parse().expect("d");
    app.clock.set(local(start, 8));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    for id in ["HERMES-ZAS-701", "HERMES-ZAS-702", "HERMES-ZAS-703"] {
        enrol(&app, &nurse, id, "2026-01-15").await;
    }
    // M1's window opened on 8 February; its follow-up reminder was due on the 11th.
    let now = local("2026-02-12".parse().expect("d"), 10);
    app.clock.set(now);
    let first = epro::reminders::plan(&app.app, now).await.expect("plan");
    assert_eq!(first.examined, 3, "the first pass looks at everyone");
    let rows = app.sql_count("SELECT COUNT(*) FROM reminder").await;
    assert!(first.planned >= 3, "each has a reminder due: {first:?}");
    assert_eq!(
        (first.planned + first.skipped) as i64,
        rows,
        "the report counts the rows written"
    );
    let next = epro::reminders::plan(&app.app, now).await.expect("plan");
    assert_eq!(next.examined, 0, "nobody just planned is looked at again");
    assert_eq!((next.planned, next.skipped), (0, 0));
    // Another process sends them: the reminder rows change, the marks stay.
    app.sql(&format!(
        "UPDATE reminder SET status = 'sent', attempts = 1, sent_at = '{}' WHERE status = 'pending'",
        now.format("%Y-%m-%d %H:%M:%S+00:00")
    ))
    .await;
    let after_send = epro::reminders::plan(&app.app, now).await.expect("plan");
    assert_eq!(after_send.examined, 0, "sending a reminder clears no mark");
    // A PIN written anew (as a PIN reset writes its row) is a change of the participant's
    // records: that participant, no one else.
    app.sql(
        "UPDATE participant_pin SET participant_id = participant_id WHERE participant_id IN \
         (SELECT id FROM participant WHERE study_id = 'HERMES-ZAS-702')",
    )
    .await;
    let after_pin = epro::reminders::plan(&app.app, now).await.expect("plan");
    assert_eq!(after_pin.examined, 1, "the participant with the new PIN");
    assert_eq!(
        (after_pin.planned, after_pin.skipped),
        (0, 0),
        "planning twice never makes two rows"
    );
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM reminder").await, rows);
    let settled = epro::reminders::plan(&app.app, now).await.expect("plan");
    assert_eq!(settled.examined, 0);
}

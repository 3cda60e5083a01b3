//! SMS reminders through a real Kannel: bearerbox, smsbox and the `fakesmsc` test SMSC (Debian
//! packages `kannel`, `kannel-extras`; `.ci/run` installs them), on 127.0.0.1 ports of their own.
//! A participant with `sms` and one with `both` are walked through a visit window: the right
//! messages, once, in sending hours, none after completion; Kannel's delivery reports mark them
//! delivered; the gateway down, then up, delivers once.
//!
//! Without Kannel on the machine the test says so and passes, unless EPRO_TEST_KANNEL=1 (set by
//! `.ci/run`), where a missing Kannel fails it.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::helpers::{TestApp, free_port};
use crate::reminders::{SmtpServer, app_with_smtp_settings, local};

const BEARERBOX: &str = "/usr/sbin/bearerbox";
const SMSBOX: &str = "/usr/sbin/smsbox";
const FAKESMSC: &str = "/usr/lib/kannel/test/fakesmsc";

/// A running Kannel with the fake SMSC; what the "phones" received is in fakesmsc's output.
struct Kannel {
    dir: tempfile::TempDir,
    admin: u16,
    smsc: u16,
    pub sendsms: u16,
    boxes: Vec<Child>,
    runs: usize,
}

impl Kannel {
    fn available() -> bool {
        [BEARERBOX, SMSBOX, FAKESMSC]
            .iter()
            .all(|p| Path::new(p).exists())
    }

    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut k = Kannel {
            admin: free_port(),
            smsc: free_port(),
            sendsms: free_port(),
            dir,
            boxes: Vec::new(),
            runs: 0,
        };
        k.up();
        k
    }

    fn config(&self) -> PathBuf {
        let smsbox_port = self.sendsms + 1;
        let d = self.dir.path().display();
        let conf = format!(
            r#"group = core
admin-port = {admin}
admin-password = adminpw
admin-interface = 127.0.0.1
admin-allow-ip = "127.0.0.1"
smsbox-port = {smsbox_port}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
dlr-storage = internal
log-file = "{d}/bearerbox.log"
log-level = 1

group = smsc
smsc = fake
smsc-id = fake
port = {smsc}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox_port}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = "{d}/smsbox.log"
log-level = 1

group = sendsms-user
username = epro
password = sms-password
concatenation = true
max-messages = 3

group = sms-service
keyword = default
text = "ok"
catch-all = true
max-messages = 0
"#,
            admin = self.admin,
            smsc = self.smsc,
            sendsms = self.sendsms,
        );
        let path = self.dir.path().join("kannel.conf");
        std::fs::write(&path, conf).expect("write kannel.conf");
        path
    }

    /// Start bearerbox, the fake SMSC and smsbox; wait until both are connected.
    fn up(&mut self) {
        let conf = self.config();
        let quiet = || Stdio::null();
        self.boxes.push(
            Command::new(BEARERBOX)
                .arg(&conf)
                .stdout(quiet())
                .stderr(quiet())
                .spawn()
                .expect("bearerbox"),
        );
        wait_for(10, || {
            std::net::TcpStream::connect(("127.0.0.1", self.smsc)).is_ok()
        });
        self.runs += 1;
        let out = std::fs::File::create(self.dir.path().join(format!("fake-{}.out", self.runs)))
            .expect("fake out");
        self.boxes.push(
            Command::new(FAKESMSC)
                .args([
                    "-H",
                    "127.0.0.1",
                    "-r",
                    &self.smsc.to_string(),
                    "-m",
                    "0",
                    "1 2 text x",
                ])
                .stdout(out.try_clone().expect("clone"))
                .stderr(out)
                .spawn()
                .expect("fakesmsc"),
        );
        self.boxes.push(
            Command::new(SMSBOX)
                .arg(&conf)
                .stdout(quiet())
                .stderr(quiet())
                .spawn()
                .expect("smsbox"),
        );
        let status = format!(
            "http://127.0.0.1:{}/status.txt?password=adminpw",
            self.admin
        );
        let ready = wait_for(20, || {
            std::process::Command::new("curl")
                .args(["-fsS", &status])
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .is_some_and(|s| {
                    s.contains("smsbox:") && s.contains("on-line") && s.contains("(online")
                })
        });
        assert!(
            ready,
            "Kannel did not come up: {}",
            ["bearerbox.log", "smsbox.log"]
                .iter()
                .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
                .map(|l| l.lines().rev().take(8).collect::<Vec<_>>().join("\n"))
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
    }

    /// Stop every box (the gateway is down).
    fn down(&mut self) {
        for mut c in self.boxes.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// What the fake SMSC received: (receiver, text), in order, over every run; the parts of a
    /// concatenated SMS (UDH 00 03 ref total seq) put back together.
    fn received(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        // Keyed by run, receiver and the UDH reference; a message in one part gets a key of its
        // own (its line), so two one-part messages to one phone stay two.
        let mut parts: std::collections::BTreeMap<(usize, String, usize), Vec<(u8, String)>> =
            Default::default();
        let mut order = Vec::new();
        for run in 1..=self.runs {
            let text = std::fs::read_to_string(self.dir.path().join(format!("fake-{run}.out")))
                .unwrap_or_default();
            for (n, line) in text.lines().enumerate() {
                let Some(rest) = line.split("Got message ").nth(1) else {
                    continue;
                };
                let Some(body) = rest.split_once(": <").map(|(_, b)| b.trim_end_matches('>'))
                else {
                    continue;
                };
                // <sender receiver type [udh] message>
                let fields: Vec<&str> = body.splitn(4, ' ').collect();
                let (to, kind, msg) = (
                    fields[1].to_string(),
                    fields[2],
                    fields.get(3).copied().unwrap_or(""),
                );
                match kind {
                    "udh" => {
                        let (udh, data) = msg.split_once(" data ").unwrap_or((msg, ""));
                        let bytes: Vec<u8> = udh
                            .split('%')
                            .filter(|b| !b.is_empty())
                            .filter_map(|b| u8::from_str_radix(b, 16).ok())
                            .collect();
                        let (reference, seq) = (bytes[3], bytes[5]);
                        let key = (run, to.clone(), usize::from(reference));
                        if !parts.contains_key(&key) {
                            order.push(key.clone());
                        }
                        parts.entry(key).or_default().push((seq, url_decode(data)));
                    }
                    _ => {
                        let key = (run, to, 256 + n);
                        order.push(key.clone());
                        parts.insert(key, vec![(1, msg.to_string())]);
                    }
                }
            }
        }
        for key in order {
            let mut p = parts.remove(&key).unwrap_or_default();
            p.sort();
            out.push((key.1, p.into_iter().map(|(_, t)| t).collect()));
        }
        out
    }
}

/// fakesmsc's form of a data payload: URL-encoded, `+` for a space.
fn url_decode(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Drop for Kannel {
    fn drop(&mut self) {
        self.down();
    }
}

fn wait_for(secs: u64, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ok()
}

async fn eventually(secs: u64, mut ok: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if ok().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ok().await
}

async fn reminders_of(app: &TestApp, staff: &str, id: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/participants/{id}/reminders"), Some(staff))
        .await
        .json::<Value>()
        .await
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

async fn answer_m1(app: &TestApp, nurse: &str, id: &str) {
    let token = app.participant_token(nurse, id).await;
    crate::helpers::answer_hermes_visit(app, &token, "M1", id).await;
}

#[tokio::test]
async fn sms_reminders_through_kannel_once_in_hours_delivered_and_never_after_completion() {
    if !Kannel::available() {
        assert!(
            std::env::var("EPRO_TEST_KANNEL").is_err(),
            "EPRO_TEST_KANNEL is set but Kannel is not installed (apt: kannel kannel-extras)"
        );
        eprintln!("Kannel is not installed here: the SMS test runs in .ci/run");
        return;
    }
    let mut kannel = Kannel::start();
    let smtp = SmtpServer::start();
    let port = free_port();
    let sendsms = kannel.sendsms;
    let app = app_with_smtp_settings(smtp.port, move |s| {
        s.listen = format!("127.0.0.1:{port}").parse().expect("addr");
        // Links carry the public address; delivery reports come to the one the gateway reaches.
        s.base_url = "https://epro.example".into();
        s.sms_dlr_base_url = Some(format!("http://127.0.0.1:{port}"));
        s.sms_gateway_url = Some(format!("http://127.0.0.1:{sendsms}/cgi-bin/sendsms"));
        s.sms_username = Some(epro::config::Secret::new("epro"));
        s.sms_password = Some(epro::config::Secret::new("sms-password"));
        s.sms_dlr_secret = Some(epro::config::Secret::new("a-delivery-report-secret"));
    })
    .await;
    let start: NaiveDate = "2026-01-15".parse().expect("d");
    app.clock.set(local(start, 8));
    let (nurse_email, nurse_password, nurse) = app.staff_account("site_staff", &["ZAS"]).await;
    for (id, extra) in [
        (
            "HERMES-ZAS-801",
            json!({"phone": "0471 12 34 56", "reminder_channel": "sms"}),
        ),
        (
            "HERMES-ZAS-802",
            json!({"phone": "+32 472 12 34 56", "email": "deelnemer@example.be", "reminder_channel": "both"}),
        ),
    ] {
        let mut body = json!({"randomization_date": "2026-01-15"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let p = app.enrol(&nurse, id, body).await;
        assert_eq!(p["reminder_channel"], extra["reminder_channel"]);
        app.issue_link(&nurse, id, Some("4826")).await;
    }
    // A participant reminded by SMS only is reachable: "call today" does not list them for want
    // of an email address.
    app.clock.set(local(start, 10));
    let site_nurse = crate::pages::sign_in(&app, &nurse_email, &nurse_password).await;
    let (_, html) = crate::pages::page(&site_nurse, &app, "/staff/call-today?lang=en").await;
    assert!(!html.contains("No email address"), "{html}");
    app.clock.set(local(start, 8));
    // A fixed line cannot take the sms channel; the refusal names the field.
    let refused = app
        .post(
            "/api/v1/participants",
            Some(&nurse),
            json!({"study_id": "HERMES-ZAS-803", "site": "ZAS", "language": "nl", "phone": "03 821 30 00", "reminder_channel": "sms"}),
        )
        .await;
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap_or_default().contains("phone"));

    let mail = epro::notify::mail::Mail::from_settings(&app.settings).expect("mail");
    let run = async |app: &TestApp| {
        epro::reminders::run_once(&app.app, &mail)
            .await
            .expect("run")
    };
    // 08:00 is before the sending hours: nothing goes.
    let r = run(&app).await;
    assert_eq!(r.sent, 0, "{r:?}");
    // Walk the baseline and the M1 window (opens 8 February, closes 22 February) day by day at
    // 10:00; 801 answers M1 on 12 February.
    let mut date = start;
    while date <= "2026-02-25".parse::<NaiveDate>().expect("d") {
        app.clock.set(local(date, 10));
        if date == "2026-02-12".parse::<NaiveDate>().expect("d") {
            answer_m1(&app, &nurse, "HERMES-ZAS-801").await;
        }
        run(&app).await;
        date = date.succ_opt().expect("next day");
    }
    let got = |k: &Kannel, to: &str| -> Vec<String> {
        k.received()
            .into_iter()
            .filter(|(r, _)| r == to)
            .map(|(_, t)| t)
            .collect()
    };
    let sms_801 = got(&kannel, "+32471123456");
    let sms_802 = got(&kannel, "+32472123456");
    let sent_kinds = |rows: &[Value]| -> Vec<(String, String)> {
        rows.iter()
            .filter(|r| r["status"] == "sent")
            .map(|r| {
                (
                    r["visit"].as_str().unwrap_or("").into(),
                    r["kind"].as_str().unwrap_or("").into(),
                )
            })
            .collect()
    };
    let rows_801 = reminders_of(&app, &nurse, "HERMES-ZAS-801").await;
    let rows_802 = reminders_of(&app, &nurse, "HERMES-ZAS-802").await;
    // One SMS per reminder sent, each once.
    assert_eq!(
        sms_801.len(),
        sent_kinds(&rows_801).len(),
        "{sms_801:?} {rows_801:?}"
    );
    assert_eq!(
        sms_802.len(),
        sent_kinds(&rows_802).len(),
        "{sms_802:?} {rows_802:?}"
    );
    // 801 answered M1 on 12 February: its M1 closing reminder never went; 802's did.
    let m1 = |rows: &[Value]| -> Vec<String> {
        sent_kinds(rows)
            .into_iter()
            .filter(|(v, _)| v == "M1")
            .map(|(_, k)| k)
            .collect()
    };
    assert_eq!(m1(&rows_801), ["window_open", "follow_up"], "{rows_801:?}");
    assert_eq!(
        m1(&rows_802),
        ["window_open", "follow_up", "closing"],
        "{rows_802:?}"
    );
    for text in sms_801.iter().chain(&sms_802) {
        assert!(
            text.starts_with(
                "ZAS Augustinus: uw HERMES-vragenlijst staat klaar. Open https://epro.example/p/"
            ) && text.ends_with(" met uw pincode."),
            "{text}"
        );
        // One part (at most 160 GSM-7 septets): half the cost of two.
        let (gsm7, units, parts) = epro::domain::reminders::sms_parts(text);
        assert!(gsm7 && parts == 1, "{units}: {text}");
    }
    // 802 also had every reminder by email.
    assert_eq!(smtp.messages().len(), sms_802.len(), "both: the email too");
    for r in rows_801
        .iter()
        .chain(&rows_802)
        .filter(|r| r["status"] == "sent")
    {
        assert!(r["sms_sent_at"].is_string(), "{r}");
    }

    // Kannel's delivery reports reach epro: every SMS reminder ends up delivered.
    let delivered = eventually(20, async || {
        let mut all = reminders_of(&app, &nurse, "HERMES-ZAS-801").await;
        all.extend(reminders_of(&app, &nurse, "HERMES-ZAS-802").await);
        let sent: Vec<&Value> = all.iter().filter(|r| r["status"] == "sent").collect();
        !sent.is_empty() && sent.iter().all(|r| r["delivery"] == "delivered")
    })
    .await;
    assert!(
        delivered,
        "{:?}",
        reminders_of(&app, &nurse, "HERMES-ZAS-802")
            .await
            .iter()
            .map(|r| (
                r["visit"].clone(),
                r["kind"].clone(),
                r["status"].clone(),
                r["delivery"].clone()
            ))
            .collect::<Vec<_>>()
    );
    // Forged reports, 64 at once (signatures guessed, one taken from another reminder), are all
    // refused and change nothing.
    let rows = reminders_of(&app, &nurse, "HERMES-ZAS-801").await;
    let target = rows[0]["id"].as_str().unwrap_or("").to_string();
    let other = rows[1]["id"].as_str().unwrap_or("").to_string();
    let other_sig = epro::notify::sms::signature("a-delivery-report-secret", &other);
    let forged = futures::future::join_all((0..64).map(|i| {
        let sig = if i == 0 {
            other_sig.clone()
        } else {
            format!("{:064x}", i)
        };
        let url = format!(
            "{}/api/v1/sms/delivery?reminder={target}&sig={sig}&status=2",
            app.address
        );
        let client = app.client.clone();
        async move {
            if i % 2 == 0 {
                client.get(url).send().await
            } else {
                client.post(url).send().await
            }
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
        }
    }))
    .await;
    assert!(forged.iter().all(|s| *s == 401), "{forged:?}");
    let after = reminders_of(&app, &nurse, "HERMES-ZAS-801").await;
    assert_eq!(
        after[0]["delivery"], "delivered",
        "a forged 'failed' changed nothing"
    );

    // The gateway goes down before M3 opens (target 15 April, ±14 days): the reminder waits,
    // then goes once when the gateway is back.
    kannel.down();
    app.clock.set(local("2026-04-01".parse().expect("d"), 10));
    let r = run(&app).await;
    assert!(r.retrying >= 1, "{r:?}");
    kannel.up();
    app.clock.set(local("2026-04-01".parse().expect("d"), 18));
    let r = run(&app).await;
    assert!(r.sent >= 1, "{r:?}");
    app.clock.set(local("2026-04-02".parse().expect("d"), 10));
    run(&app).await;
    let m3: Vec<String> = got(&kannel, "+32471123456").split_off(sms_801.len());
    assert_eq!(m3.len(), 1, "once after the gateway came back: {m3:?}");
    let back = eventually(20, async || {
        reminders_of(&app, &nurse, "HERMES-ZAS-801")
            .await
            .iter()
            .any(|r| r["visit"] == "M3" && r["delivery"] == "delivered")
    })
    .await;
    assert!(back, "the M3 SMS is delivered");
}

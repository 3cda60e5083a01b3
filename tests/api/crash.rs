//! Crash safety of answering: SIGKILL of `epro serve` in the middle of a stream of
//! submissions, restart, then — every submission that got a 2xx is stored, none twice, a
//! retried submission (same Idempotency-Key) gets the same answer, and the audit chain
//! verifies. On SQLite, and on PostgreSQL when EPRO_TEST_DATABASE_URL is set. (The same for
//! reminder sending: `reminders::sigkill_of_the_server_mid_batch_then_restart_loses_no_reminder`.)

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use chrono::Utc;
use chrono_tz::Europe::Brussels;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, free_port, fresh_database, run_cli, serve_binary, test_settings,
    wait_healthy,
};

const PARTICIPANTS: usize = 24;

pub(crate) struct Api {
    pub client: reqwest::Client,
    pub base: String,
}

impl Api {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> reqwest::Response {
        let mut r = self
            .client
            .request(method, format!("{}{path}", self.base))
            .json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("request")
    }

    pub async fn token(&self, path: &str, body: Value) -> String {
        let v: Value = self
            .call(reqwest::Method::POST, path, None, body)
            .await
            .json()
            .await
            .expect("json");
        v["token"].as_str().expect("token").to_string()
    }
}

/// One participant's NRS submission: the participant token, the body and the key.
pub(crate) struct Submission {
    pub study_id: String,
    pub token: String,
    pub body: Value,
    pub key: String,
}

pub(crate) async fn submit(
    client: &reqwest::Client,
    base: &str,
    s: &Submission,
) -> Result<(u16, Value), reqwest::Error> {
    let resp = client
        .post(format!(
            "{base}/api/v1/me/visits/BL/responses/nrs-lesion-pain/submit"
        ))
        .bearer_auth(&s.token)
        .header("Idempotency-Key", &s.key)
        .json(&s.body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

#[tokio::test]
async fn sigkill_during_submissions_loses_no_accepted_answer_and_stores_none_twice() {
    let dir = tempfile::tempdir().expect("dir");
    let url = fresh_database(&dir).await;
    let settings = test_settings(&dir, url);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = serve_binary(&settings, dir.path(), port, &[]);
    assert!(wait_healthy(&base).await, "server up");
    let api = Api {
        client: reqwest::Client::new(),
        base: base.clone(),
    };

    let (nurse, submissions) = enrol_with_links(&api, PARTICIPANTS, false).await;

    // A stream of submissions, eight at a time; SIGKILL once a third of them were accepted.
    let submissions = Arc::new(submissions);
    let accepted = Arc::new(AtomicUsize::new(0));
    let kill_at = PARTICIPANTS / 3;
    let reached = Arc::new(tokio::sync::Notify::new());
    let killer = {
        let reached = reached.clone();
        tokio::spawn(async move {
            // Killed once enough were accepted, or after a deadline (then the assertion below
            // reports what the submissions answered).
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(60), reached.notified()).await;
            child.kill().expect("SIGKILL");
            let _ = child.wait();
        })
    };
    let mut tasks = Vec::new();
    for i in 0..PARTICIPANTS {
        let (subs, accepted, base, reached) = (
            submissions.clone(),
            accepted.clone(),
            base.clone(),
            reached.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let result = submit(&client, &base, &subs[i]).await;
            if let Ok((s, _)) = &result
                && (200..300).contains(s)
                && accepted.fetch_add(1, Ordering::SeqCst) + 1 == kill_at
            {
                reached.notify_one();
            }
            (i, result.ok())
        }));
        if i % 8 == 7 {
            tokio::task::yield_now().await;
        }
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("task"));
    }
    killer.await.expect("killer");
    let got_2xx: Vec<(usize, Value)> = outcomes
        .iter()
        .filter_map(|(i, r)| match r {
            Some((s, body)) if (200..300).contains(s) => Some((*i, body.clone())),
            _ => None,
        })
        .collect();
    assert!(
        got_2xx.len() >= kill_at,
        "at least {kill_at} accepted before the kill: {:?}\nserver log: {}",
        outcomes
            .iter()
            .map(|(_, r)| r.as_ref().map(|(s, b)| format!("{s} {b}")))
            .collect::<Vec<_>>(),
        std::fs::read_to_string(dir.path().join("epro-serve.log")).unwrap_or_default()
    );

    // Restart on the same database.
    let mut child = serve_binary(&settings, dir.path(), port, &[]);
    assert!(wait_healthy(&base).await, "server up again");

    // Every accepted submission is stored, with the response id it was given.
    for (i, body) in &got_2xx {
        let s = &submissions[*i];
        let nrs = stored_nrs(&api, &nurse, &s.study_id).await;
        assert_eq!(nrs.len(), 1, "{}: stored once", s.study_id);
        assert_eq!(
            nrs[0]["id"], body["response_id"],
            "{}: the accepted response",
            s.study_id
        );
        assert_eq!(nrs[0]["status"], "completed");
    }
    // Every submission retried with its key: the accepted ones get the same answer back; the
    // others are stored now; nothing is stored twice.
    let client = reqwest::Client::new();
    for (i, s) in submissions.iter().enumerate() {
        let (status, body) = submit(&client, &base, s).await.expect("retry");
        assert_eq!(status, 200, "{}: {body}", s.study_id);
        if let Some((_, first)) = got_2xx.iter().find(|(j, _)| *j == i) {
            assert_eq!(
                body["response_id"], first["response_id"],
                "{}: same response",
                s.study_id
            );
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let out = run_cli(&settings, dir.path(), &["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success() && text.starts_with("OK"), "{text}");
    // One submission event per participant in the audit trail.
    let db = sea_orm::Database::connect(&settings.database_url)
        .await
        .expect("db");
    use sea_orm::{ConnectionTrait, Statement};
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT entity_id FROM audit_event WHERE action = 'response.submitted'",
        ))
        .await
        .expect("audit rows");
    assert_eq!(
        rows.len(),
        PARTICIPANTS,
        "one submission event per participant"
    );
}

/// A nurse (through the API of `api`) enrols `count` participants, randomized today with one
/// lesion each (and an email when `with_email`), gives each a link with a PIN, and signs each in:
/// the nurse's token and one NRS submission per participant.
pub(crate) async fn enrol_with_links(
    api: &Api,
    count: usize,
    with_email: bool,
) -> (String, Vec<Submission>) {
    use reqwest::Method as M;
    let admin = api
        .token(
            "/api/v1/auth/login",
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
    let r = api
        .call(M::POST, "/api/v1/users", Some(&admin), json!({"email": "nurse@hermes.test", "password": "initial-password-1", "role": "site_staff", "sites": ["ZAS"]}))
        .await;
    assert_eq!(r.status(), 200);
    let first = api
        .token(
            "/api/v1/auth/login",
            json!({"email": "nurse@hermes.test", "password": "initial-password-1"}),
        )
        .await;
    let r = api
        .call(M::PUT, "/api/v1/auth/password", Some(&first), json!({"current_password": "initial-password-1", "new_password": "a-better-password-2"}))
        .await;
    assert_eq!(r.status(), 204);
    let nurse = api
        .token(
            "/api/v1/auth/login",
            json!({"email": "nurse@hermes.test", "password": "a-better-password-2"}),
        )
        .await;
    let today = epro::domain::schedule::local_date(Brussels, Utc::now()).to_string();
    let mut submissions = Vec::new();
    for n in 0..count {
        let id = format!("HERMES-ZAS-{:03}", 900 + n);
        let r = api
            .call(M::POST, "/api/v1/participants", Some(&nurse), json!({"study_id": id, "site": "ZAS", "language": "nl", "randomization_date": today, "arm": "A", "email": with_email.then(|| format!("p{n}@example.be"))}))
            .await;
        assert_eq!(r.status(), 200);
        let lesion: Value = api
            .call(M::POST, &format!("/api/v1/participants/{id}/lesions"), Some(&nurse), json!({"location": "L3", "labels": {"nl": "onderrug", "fr": "bas du dos", "en": "lower back"}, "high_risk_reasons": ["size_2cm"]}))
            .await
            .json()
            .await
            .expect("lesion");
        let link: Value = api
            .call(
                M::POST,
                &format!("/api/v1/participants/{id}/access-link"),
                Some(&nurse),
                json!({"pin": "4826"}),
            )
            .await
            .json()
            .await
            .expect("link");
        let token = api
            .token(
                "/api/v1/auth/participant",
                json!({"link_token": link["link_token"], "pin": "4826"}),
            )
            .await;
        submissions.push(Submission {
            study_id: id,
            token,
            body: json!({"answers": [{"item": "worst_pain", "lesion": lesion["id"], "value": (n % 11) as i64}]}),
            key: format!("crash-{n}"),
        });
    }

    (nurse, submissions)
}

/// A participant's stored NRS responses, as staff list them.
pub(crate) async fn stored_nrs(api: &Api, nurse: &str, study_id: &str) -> Vec<Value> {
    let list: Value = api
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/participants/{study_id}/responses"),
            Some(nurse),
            Value::Null,
        )
        .await
        .json()
        .await
        .expect("responses");
    list.as_array()
        .expect("list")
        .iter()
        .filter(|r| {
            r["questionnaire_key"] == "nrs-lesion-pain"
                || r["questionnaire"]
                    .as_str()
                    .is_some_and(|q| q.starts_with("nrs-lesion-pain"))
        })
        .cloned()
        .collect()
}

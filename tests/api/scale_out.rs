//! Scale-out: two `epro serve` instances on one database (PostgreSQL in CI's second pass,
//! SQLite otherwise), both running the reminder worker, the load split between them:
//! - every reminder is sent once, though both workers plan and send at the same time;
//! - one instance is killed with SIGKILL in the middle of a stream of submissions, and the
//!   client retries on the other (as a load balancer would): no acknowledged submission is
//!   lost, none is stored twice, every acknowledged submission's audit event is numbered by the
//!   surviving instance's sequencer (#29.4), and the one log verifies with the checkpoint's
//!   public key only.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use serde_json::Value;

use crate::{
    crash::{Api, enrol_with_links, stored_nrs, submit},
    helpers::{
        free_port, fresh_database, run_cli, run_cli_env, serve_binary, test_settings, wait_healthy,
    },
    reminders::SmtpServer,
};

const PARTICIPANTS: usize = 24;

#[tokio::test]
async fn two_instances_share_one_database_and_survive_one_killed_mid_load() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("dir");
    // Sending hours all day, so the test does not depend on the time it runs at.
    let study = crate::helpers::study_sending_all_day(&dir);
    let url = fresh_database(&dir).await;
    let mut settings = test_settings(&dir, url);
    settings.study_file = study;
    let env = [
        ("EPRO_MAIL_TRANSPORT", "smtp".to_string()),
        ("EPRO_SMTP_HOST", "127.0.0.1".into()),
        ("EPRO_SMTP_PORT", smtp.port.to_string()),
        ("EPRO_SMTP_TLS", "none".into()),
        ("EPRO_JOBS_INTERVAL_SECONDS", "1".into()),
    ];
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = serve_binary(&settings, dir.path(), port_a, &env);
    let base_a = format!("http://127.0.0.1:{port_a}");
    assert!(wait_healthy(&base_a).await, "instance A up");
    let mut b = serve_binary(&settings, dir.path(), port_b, &env);
    let base_b = format!("http://127.0.0.1:{port_b}");
    assert!(wait_healthy(&base_b).await, "instance B up");
    let log = || std::fs::read_to_string(dir.path().join("epro-serve.log")).unwrap_or_default();

    // Participants enrolled through A (with an email: each is due a reminder now).
    let api = Api {
        client: reqwest::Client::new(),
        base: base_a.clone(),
    };
    let (nurse, submissions) = enrol_with_links(&api, PARTICIPANTS, true).await;

    // Both workers plan and send: every participant gets the reminder exactly once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let arrived = || {
        let mut to: Vec<String> = smtp.messages().into_iter().flat_map(|m| m.to).collect();
        to.sort();
        to
    };
    while arrived().len() < PARTICIPANTS && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // One more worker pass on each instance may run meanwhile: none may send again.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let to = arrived();
    let mut unique = to.clone();
    unique.dedup();
    assert_eq!(
        unique.len(),
        PARTICIPANTS,
        "every reminder sent: {to:?}\n{}",
        log()
    );
    assert_eq!(to.len(), PARTICIPANTS, "none sent twice: {to:?}");

    // Submissions split between A and B, eight at a time; B is killed once a third of its share
    // was accepted. A submission B cannot answer is retried on A with the same key.
    let submissions = Arc::new(submissions);
    let accepted_b = Arc::new(AtomicUsize::new(0));
    let kill_at = PARTICIPANTS / 6;
    let reached = Arc::new(tokio::sync::Notify::new());
    let killer = {
        let reached = reached.clone();
        tokio::spawn(async move {
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(60), reached.notified()).await;
            b.kill().expect("SIGKILL");
            let _ = b.wait();
        })
    };
    let mut tasks = Vec::new();
    for i in 0..PARTICIPANTS {
        let (subs, accepted_b, reached) =
            (submissions.clone(), accepted_b.clone(), reached.clone());
        let (first, other) = if i % 2 == 0 {
            (base_a.clone(), base_b.clone())
        } else {
            (base_b.clone(), base_a.clone())
        };
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut answers = Vec::new();
            let on_first = submit(&client, &first, &subs[i]).await.ok();
            if let Some((s, _)) = &on_first
                && (200..300).contains(s)
                && i % 2 == 1
                && accepted_b.fetch_add(1, Ordering::SeqCst) + 1 == kill_at
            {
                reached.notify_one();
            }
            answers.push(on_first.clone());
            if !on_first
                .as_ref()
                .is_some_and(|(s, _)| (200..300).contains(s))
            {
                answers.push(submit(&client, &other, &subs[i]).await.ok());
            }
            (i, answers)
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("task"));
    }
    killer.await.expect("killer");

    // Every submission was acknowledged by one instance or the other, and is stored once, with
    // the response id it was acknowledged with (whichever instance gave it).
    for (i, answers) in &outcomes {
        let s = &submissions[*i];
        let acked: Vec<&Value> = answers
            .iter()
            .flatten()
            .filter(|(st, _)| (200..300).contains(st))
            .map(|(_, body)| body)
            .collect();
        assert!(
            !acked.is_empty(),
            "{}: acknowledged by one instance: {answers:?}\n{}",
            s.study_id,
            log()
        );
        let stored = stored_nrs(&api, &nurse, &s.study_id).await;
        assert_eq!(stored.len(), 1, "{}: stored once", s.study_id);
        for body in acked {
            assert_eq!(stored[0]["id"], body["response_id"], "{}", s.study_id);
        }
    }
    // #29.4: every acknowledged submission's audit event is numbered by the surviving
    // instance's sequencer (B died holding none of them back), within its threshold; A stays
    // ready. Read straight from the database, without sequencing anything here.
    let db = sea_orm::Database::connect(&settings.database_url)
        .await
        .expect("db");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut waiting = unsequenced(&db).await;
    while waiting > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waiting = unsequenced(&db).await;
    }
    assert_eq!(
        waiting,
        0,
        "the surviving sequencer numbered every event\n{}",
        log()
    );
    let sequenced = sequenced_submissions(&db).await;
    for (i, answers) in &outcomes {
        for (_, body) in answers
            .iter()
            .flatten()
            .filter(|(st, _)| (200..300).contains(st))
        {
            let id = body["response_id"].as_str().unwrap_or_default().to_string();
            assert!(
                sequenced.contains(&id),
                "{}: the acknowledged submission {id} is in the sequenced log",
                submissions[*i].study_id
            );
        }
    }
    let ready = reqwest::get(format!("{base_a}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200, "{:?}", ready.text().await);

    // One log: an inspector verifies it with the public key only (no secret), after a
    // checkpoint of all of it.
    let _ = a.kill();
    let _ = a.wait();
    let out = run_cli(&settings, dir.path(), &["audit", "checkpoint"]);
    assert!(out.status.success(), "{out:?}");
    let public_key = run_cli(&settings, dir.path(), &["audit", "public-key"]);
    let public_key = String::from_utf8_lossy(&public_key.stdout)
        .trim()
        .to_string();
    let out = run_cli_env(
        &settings,
        dir.path(),
        &["audit", "verify", "--public-key", &public_key],
        &[("EPRO_AUDIT_KEY", "no secret here")],
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "public-key verification: {text}");
    assert!(text.contains("every audit event is sequenced"), "{text}");
    let out = run_cli(&settings, dir.path(), &["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && text.starts_with("OK"),
        "one chain: {text}"
    );
}

/// Audit events not numbered yet.
async fn unsequenced(db: &sea_orm::DatabaseConnection) -> i64 {
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM audit_event WHERE seq IS NULL".to_string(),
        ))
        .await
        .expect("query")
        .expect("row");
    row.try_get_by_index::<i64>(0).expect("count")
}

/// The responses whose submission event has its sequence number.
async fn sequenced_submissions(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    use sea_orm::ConnectionTrait;
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT entity_id FROM audit_event WHERE action = 'response.submitted' \
         AND seq IS NOT NULL"
            .to_string(),
    ))
    .await
    .expect("query")
    .into_iter()
    .filter_map(|r| r.try_get::<String>("", "entity_id").ok())
    .collect()
}

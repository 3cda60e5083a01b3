//! The audit trail written without a global lock and numbered by the sequencer (#29.1, #29.2):
//! on PostgreSQL a writer does not wait for another's uncommitted audit event, and the sequencer
//! numbers committed events only, gapless, continuing the chain; an event left unsequenced shows
//! in `/metrics` and turns `/readyz` not ready (the injected clock ages it); an event forged in
//! the database without the key is refused and named. On SQLite (single writer) events are
//! numbered as they are written.

use std::time::Duration;

use epro::{
    audit::{self, Entry},
    clock::Clock,
    domain::audit::{Actor, EventContent, content_hash},
    store,
};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

fn postgres(app: &TestApp) -> bool {
    app.settings.database_url.starts_with("postgres")
}

/// Audit rows not sequenced yet, read without sequencing (the helpers sequence first).
async fn unsequenced_rows(app: &TestApp) -> i64 {
    let backend = app.app.db.get_database_backend();
    let row = app
        .app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM audit_event WHERE seq IS NULL".to_string(),
        ))
        .await
        .expect("query")
        .expect("row");
    row.try_get_by_index::<i64>(0).expect("count")
}

async fn disable_site(app: &TestApp, admin: &str, site: &str) -> u16 {
    app.post(
        &format!("/api/v1/sites/{site}/disable"),
        Some(admin),
        json!({ "reason": "test" }),
    )
    .await
    .status()
    .as_u16()
}

/// #29.1: a transaction that wrote an audit event and has not committed does not hold up
/// another writer (PostgreSQL: no shared row lock); the sequencer numbers only what is
/// committed, and the late commit gets the next number, so the chain stays gapless.
#[tokio::test]
async fn a_writer_does_not_wait_for_another_uncommitted_audit_event() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.sequenced().await;
    let before = app.audit_rows().await.len();

    let open = store::begin_write(&app.app.db).await.expect("begin");
    audit::record(
        &open,
        &app.app.keys.audit,
        app.clock.now(),
        Entry::new(Actor::system(), "test.long_transaction", "deployment"),
    )
    .await
    .expect("record");
    if !postgres(&app) {
        // SQLite: one writer at a time, the open transaction holds it.
        open.commit().await.expect("commit");
        assert_eq!(unsequenced_rows(&app).await, 0, "numbered as written");
        assert_eq!(app.audit_rows().await.len(), before + 1);
        return;
    }
    // Another writer commits while the first is still open: it did not wait on any lock.
    let status = tokio::time::timeout(Duration::from_secs(10), disable_site(&app, &admin, "AZT"))
        .await
        .expect("the second writer is not held up by the open one");
    assert_eq!(status, 200);
    assert_eq!(
        unsequenced_rows(&app).await,
        1,
        "committed, not numbered yet"
    );
    // The sequencer numbers the committed event only (the open one is invisible to it).
    let done = epro::jobs::sequencer::pass(&app.app, false)
        .await
        .expect("pass");
    assert_eq!(done.chained, 1);
    let rows = app.audit_rows().await;
    assert_eq!(rows.len(), before + 1);
    assert_eq!(rows.last().expect("row")["action"], "site.disabled");
    open.commit().await.expect("commit");
    assert_eq!(unsequenced_rows(&app).await, 1);
    let rows = app.audit_rows().await;
    assert_eq!(rows.len(), before + 2);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["seq"], json!(i as i64 + 1), "gapless");
    }
    assert_eq!(rows.last().expect("row")["action"], "test.long_transaction");
    let out = app.cli(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("every audit event is sequenced"), "{text}");
}

/// Insert an event the way PostgreSQL's write path does (no number yet), on either backend.
async fn insert_unsequenced(app: &TestApp, key: &[u8], action: &str) {
    let content = EventContent {
        seq: 0,
        at: audit::format_at(app.clock.now()),
        actor_kind: "system".into(),
        actor_id: None,
        action: action.into(),
        entity_type: "deployment".into(),
        entity_id: None,
        before: None,
        after: None,
        reason: None,
    };
    let hash = content_hash(key, &content).expect("hash");
    let txn = store::begin_write(&app.app.db).await.expect("begin");
    store::audit::insert_unsequenced(&txn, &content, &hash)
        .await
        .expect("insert");
    txn.commit().await.expect("commit");
}

async fn oldest_seconds_metric(app: &TestApp) -> f64 {
    let metrics = app.metrics_address.clone().expect("a metrics listener");
    let text = reqwest::get(format!("{metrics}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix("epro_audit_unsequenced_oldest_seconds "))
        .unwrap_or_else(|| panic!("no unsequenced-age metric in\n{text}"))
        .trim()
        .parse()
        .expect("number")
}

async fn ready(app: &TestApp) -> (u16, Value) {
    let resp = app.get("/readyz", None).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// #29.2/#29.4: an event waiting for its number is measured with the injected clock: the
/// metric shows its age, and past EPRO_AUDIT_UNSEQUENCED_MAX_SECONDS /readyz turns not ready
/// with the reason; once sequenced, both recover.
#[tokio::test]
async fn an_unsequenced_event_shows_in_the_metric_and_turns_readiness_off() {
    let app = spawn_app_with(|s| {
        s.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
        s.audit_unsequenced_max_seconds = 5;
    })
    .await;
    app.sequenced().await;
    assert_eq!(ready(&app).await.0, 200);
    assert_eq!(oldest_seconds_metric(&app).await, 0.0);

    insert_unsequenced(&app, app.app.keys.audit.bytes(), "test.waiting").await;
    app.clock.advance(chrono::Duration::seconds(4));
    assert_eq!(oldest_seconds_metric(&app).await, 4.0);
    assert_eq!(ready(&app).await.0, 200, "within the threshold");

    app.clock.advance(chrono::Duration::seconds(3));
    assert_eq!(oldest_seconds_metric(&app).await, 7.0);
    let (status, body) = ready(&app).await;
    assert_eq!(status, 503);
    assert_eq!(body["code"], "not_ready");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("1 audit events are not sequenced, the oldest for 7 s"),
        "{message}"
    );

    // The sequencer's pass numbers it: ready again, nothing waits.
    let done = epro::jobs::sequencer::pass(&app.app, false)
        .await
        .expect("pass");
    assert_eq!(done.chained, 1);
    assert_eq!(ready(&app).await.0, 200);
    assert_eq!(oldest_seconds_metric(&app).await, 0.0);
    let out = app.cli(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// An unsequenced event inserted in the database without the audit key (or edited before it
/// was numbered) is refused by the sequencer — never chained — and `epro audit verify` names it;
/// the events after it are numbered all the same.
#[tokio::test]
async fn a_forged_unsequenced_event_is_refused_and_named() {
    let app = spawn_app().await;
    app.sequenced().await;
    insert_unsequenced(&app, b"not-the-audit-key-not-the-audit!", "test.forged").await;
    insert_unsequenced(&app, app.app.keys.audit.bytes(), "test.genuine").await;
    let done = epro::jobs::sequencer::pass(&app.app, false)
        .await
        .expect("pass");
    assert_eq!(done.chained, 1);
    assert_eq!(done.refused.len(), 1);
    assert_eq!(unsequenced_rows(&app).await, 1);
    let rows = app.audit_rows().await;
    assert_eq!(rows.last().expect("row")["action"], "test.genuine");
    let out = app.cli(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "BROKEN: audit event row {} (and 0 more) cannot be sequenced",
            done.refused[0]
        )),
        "{text}"
    );
}

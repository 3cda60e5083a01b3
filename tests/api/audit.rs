use futures::future::join_all;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, spawn_app};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Some audited activity: logins, a user, site changes.
async fn activity(app: &TestApp) {
    let admin = app.admin_token().await;
    let _ = app.login("nobody@hermes.test", "wrong-password").await;
    app.staff_token("site_staff", &["ZAS"]).await;
    let resp = app
        .post(
            "/api/v1/sites/AZT/disable",
            Some(&admin),
            json!({ "reason": "site closed recruitment" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn verify_is_ok_after_activity_and_head_matches() {
    let app = spawn_app().await;
    activity(&app).await;
    let admin = app.admin_token().await;
    let out = app.cli(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).starts_with("OK"), "{}", stdout(&out));

    let head: Value = app
        .get("/api/v1/audit/head", Some(&admin))
        .await
        .json()
        .await
        .expect("json");
    let rows = app.audit_rows().await;
    assert_eq!(head["seq"], rows.len() as i64);
    assert!(
        stdout(&out).contains(head["hash"].as_str().unwrap_or("?")),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn a_hand_edited_row_is_named() {
    let app = spawn_app().await;
    activity(&app).await;
    app.sql("UPDATE audit_event SET reason = 'nothing happened' WHERE seq = 3")
        .await;
    let out = app.cli(&["audit", "verify"]);
    assert!(!out.status.success());
    assert!(stdout(&out).contains("audit event 3 "), "{}", stdout(&out));
}

#[tokio::test]
async fn an_edit_rehashed_with_plain_sha256_is_named() {
    let app = spawn_app().await;
    activity(&app).await;
    let rows = app.audit_rows().await;
    let n = rows.len() as i64;
    assert!(n >= 5);
    let edited = 4;
    app.sql(&format!(
        "UPDATE audit_event SET reason = 'rewritten' WHERE seq = {edited}"
    ))
    .await;

    // Someone with database access but without the key recomputes every later hash.
    let prev: String = {
        let backend = app.app.db.get_database_backend();
        use sea_orm::ConnectionTrait;
        let row = app
            .app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                backend,
                format!("SELECT hash FROM audit_event WHERE seq = {}", edited - 1),
            ))
            .await
            .expect("query")
            .expect("row");
        row.try_get("", "hash").expect("hash")
    };
    let mut prev = prev;
    for seq in edited..=n {
        let content = content_of(&app, seq).await;
        let mut h = Sha256::new();
        h.update(prev.as_bytes());
        h.update(serde_jcs::to_string(&content).expect("jcs").as_bytes());
        let hash = hex::encode(h.finalize());
        app.sql(&format!(
            "UPDATE audit_event SET prev_hash = '{prev}', hash = '{hash}' WHERE seq = {seq}"
        ))
        .await;
        prev = hash;
    }
    app.sql(&format!(
        "UPDATE audit_head SET hash = '{prev}' WHERE id = 1"
    ))
    .await;

    let out = app.cli(&["audit", "verify"]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains(&format!("audit event {edited} ")),
        "{}",
        stdout(&out)
    );
}

/// The stored content of one event, as the chain hashes it.
async fn content_of(app: &TestApp, seq: i64) -> Value {
    use sea_orm::ConnectionTrait;
    let backend = app.app.db.get_database_backend();
    let r = app
        .app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            backend,
            format!(
                "SELECT seq, at, actor_kind, actor_id, action, entity_type, entity_id, before, after, reason \
                 FROM audit_event WHERE seq = {seq}"
            ),
        ))
        .await
        .expect("query")
        .expect("row");
    let s = |c: &str| r.try_get::<Option<String>>("", c).expect(c);
    json!({
        "seq": r.try_get::<i64>("", "seq").expect("seq"),
        "at": s("at"), "actor_kind": s("actor_kind"), "actor_id": s("actor_id"),
        "action": s("action"), "entity_type": s("entity_type"), "entity_id": s("entity_id"),
        "before": s("before"), "after": s("after"), "reason": s("reason"),
    })
}

#[tokio::test]
async fn fifty_concurrent_audited_writes_leave_a_gapless_verified_chain() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let before = app.audit_rows().await.len();
    let sites = [
        "ZAS", "AZORG", "UZG", "JESSA", "AZGR", "UZL", "AZDELTA", "AZT",
    ];
    let requests = (0..50).map(|i| {
        let (app, admin) = (&app, &admin);
        let site = sites[i % sites.len()];
        let verb = if (i / sites.len()).is_multiple_of(2) {
            "disable"
        } else {
            "enable"
        };
        async move {
            app.post(
                &format!("/api/v1/sites/{site}/{verb}"),
                Some(admin),
                json!({ "reason": format!("write {i}") }),
            )
            .await
            .status()
        }
    });
    let statuses = join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    let rows = app.audit_rows().await;
    assert_eq!(rows.len(), before + 50);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["seq"], json!(i as i64 + 1), "gapless");
    }
    let out = app.cli(&["audit", "verify"]);
    assert!(out.status.success(), "{}", stdout(&out));
}

#[tokio::test]
async fn the_trail_records_actor_reason_and_values_but_no_personal_data() {
    let app = spawn_app().await;
    activity(&app).await;
    let rows = app.audit_rows().await;
    let text = serde_json::to_string(&rows).expect("json");
    assert!(
        !text.contains('@'),
        "an email reached the audit trail: {text}"
    );

    let actions: Vec<&str> = rows.iter().filter_map(|r| r["action"].as_str()).collect();
    for expected in [
        "study.registered",
        "user.created",
        "auth.login",
        "auth.login_failed",
        "auth.password_changed",
        "site.disabled",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} not audited: {actions:?}"
        );
    }
    let site = rows
        .iter()
        .find(|r| r["action"] == "site.disabled")
        .expect("site.disabled");
    assert_eq!(site["actor_kind"], "staff");
    assert_eq!(site["reason"], "site closed recruitment");
    assert_eq!(site["before"], r#"{"disabled":false}"#);
    assert_eq!(site["after"], r#"{"disabled":true}"#);
}

/// Every column an export or the completion view reads of a submitted response, edited in the
/// database afterwards, is named by `epro audit verify` (#29.5): one fresh database per edit.
#[tokio::test]
async fn verify_names_every_edited_fact_of_a_response() {
    use chrono::{TimeZone, Utc};
    let cases: &[(&str, &str)] = &[
        (
            "UPDATE response SET submitted_at = '2026-01-16T09:00:00+00:00'",
            "response.submitted_at",
        ),
        ("UPDATE response SET late = NOT late", "response.late"),
        (
            "UPDATE response SET wording_sha256 = 'edited'",
            "response.wording_sha256",
        ),
        ("UPDATE response SET language = 'fr'", "response.language"),
        (
            "UPDATE response SET completed_on = '2026-01-10'",
            "response.completed_on",
        ),
        (
            "UPDATE response SET flags = '[\"outside_window\"]'",
            "response.flags",
        ),
        (
            "UPDATE response SET days_from_sse = 3",
            "response.days_from_sse",
        ),
        (
            "UPDATE answer SET answered_at = '2026-01-16T09:00:00+00:00' WHERE item = 'q2'",
            "answer.answered_at",
        ),
        (
            "UPDATE answer SET mode = 'paper' WHERE item = 'q2'",
            "answer.mode",
        ),
        (
            "UPDATE answer SET actor_id = 'someone else' WHERE item = 'q2'",
            "answer.actor",
        ),
        (
            "UPDATE answer SET value = '4' WHERE item = 'q2'",
            "answer.value",
        ),
        (
            "UPDATE score SET results = REPLACE(results, '\"QL2\"', '\"QLX\"')",
            "score.",
        ),
        (
            "UPDATE score SET computed_at = '2026-01-16T09:00:00+00:00'",
            "score.",
        ),
        ("DELETE FROM score", "score."),
        (
            "UPDATE response SET device_completed_at = '2026-01-15T09:00:00+00:00'",
            "response.device_completed_at",
        ),
        (
            "UPDATE response SET synced_late = TRUE",
            "response.synced_late",
        ),
    ];
    for (edit, column) in cases {
        let app = spawn_app().await;
        app.clock.set(
            Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
                .single()
                .expect("t"),
        );
        let nurse = app.staff_token("site_staff", &["ZAS"]).await;
        app.enrol(&nurse, "HERMES-ZAS-290", json!({})).await;
        let token = app.participant_token(&nurse, "HERMES-ZAS-290").await;
        crate::helpers::answer_hermes_visit(&app, &token, "BL", "facts").await;
        let out = app.cli(&["audit", "verify"]);
        assert!(out.status.success(), "{}", stdout(&out));
        assert!(
            stdout(&out).contains("3 submitted responses match"),
            "{}",
            stdout(&out)
        );

        app.sql(edit).await;
        let out = app.cli(&["audit", "verify"]);
        assert!(!out.status.success(), "{edit}: {}", stdout(&out));
        let text = stdout(&out);
        assert!(
            text.contains("BROKEN: response ") && text.contains(&format!("stored {column}")),
            "{edit}: expected {column} named: {text}"
        );
    }
}

/// #29.5: each column of a bound table that exports or the completion view read, edited in the
/// database after the event that wrote the row, is named by `epro audit verify` (table, row,
/// column); the latest binding event counts (here a language change after enrolment).
#[tokio::test]
async fn verify_names_every_edited_column_of_a_bound_row() {
    use chrono::{TimeZone, Utc};
    let cases: &[(&str, &str)] = &[
        // participant: enrolment, then a language change by staff
        (
            "UPDATE participant SET language = 'en'",
            "participant.language",
        ),
        (
            "UPDATE participant SET site_code = 'AZT'",
            "participant.site_code",
        ),
        (
            "UPDATE participant SET study_id = 'HERMES-ZAS-999'",
            "participant.study_id",
        ),
        (
            "UPDATE participant SET enrolled_on = '2025-01-01'",
            "participant.enrolled_on",
        ),
        (
            "UPDATE participant SET created_at = '2026-01-01T00:00:00+00:00'",
            "participant.created_at",
        ),
        // participant_event: the randomization recorded at enrolment, with its arm
        (
            "UPDATE participant_event SET event_date = '2026-01-10'",
            "participant_event.event_date",
        ),
        (
            "UPDATE participant_event SET details = '{\"arm\":\"B\"}'",
            "participant_event.details",
        ),
        (
            "UPDATE participant_event SET kind = 'withdrawal'",
            "participant_event.kind",
        ),
        (
            "UPDATE participant_event SET entered_in_error = TRUE",
            "participant_event.entered_in_error",
        ),
        (
            "UPDATE participant_event SET reason = 'edited'",
            "participant_event.reason",
        ),
        (
            "UPDATE participant_event SET recorded_at = '2026-01-01T00:00:00+00:00'",
            "participant_event.recorded_at",
        ),
        // visit: the schedule planned from the randomization
        (
            "UPDATE visit SET target_date = '2026-06-01'",
            "visit.target_date",
        ),
        (
            "UPDATE visit SET window_start = '2026-01-01T00:00:00+00:00'",
            "visit.window_start",
        ),
        ("UPDATE visit SET window_end = NULL", "visit.window_end"),
        (
            "UPDATE visit SET final_state = 'missed'",
            "visit.final_state",
        ),
        (
            "UPDATE visit SET missed_reason = 'edited'",
            "visit.missed_reason",
        ),
        (
            "UPDATE visit SET sse_triggered = TRUE",
            "visit.sse_triggered",
        ),
        (
            "UPDATE visit SET missed_forms = '{\"x\":\"edited\"}'",
            "visit.missed_forms",
        ),
        (
            "UPDATE visit SET questionnaires = '[]'",
            "visit.questionnaires",
        ),
        (
            "UPDATE visit SET code = 'XX' WHERE position = 0",
            "visit.code",
        ),
        // lesion: registered after the baseline forms
        ("UPDATE lesion SET location = 'L9'", "lesion.location"),
        ("UPDATE lesion SET active = FALSE", "lesion.active"),
        (
            "UPDATE lesion SET registered_on = '2026-01-01'",
            "lesion.registered_on",
        ),
        (
            "UPDATE lesion SET irradiation_date = '2026-01-02'",
            "lesion.irradiation_date",
        ),
        (
            "UPDATE lesion SET high_risk_reasons = '[]'",
            "lesion.high_risk_reasons",
        ),
        // response_query: raised by the data manager, closed by the site
        (
            "UPDATE response_query SET text = 'edited'",
            "response_query.text",
        ),
        (
            "UPDATE response_query SET closed_at = NULL",
            "response_query.closed_at",
        ),
        (
            "UPDATE response_query SET closing_note = 'edited'",
            "response_query.closing_note",
        ),
        (
            "UPDATE response_query SET raised_by = 'someone else'",
            "response_query.raised_by",
        ),
        // analgesic_dose: recorded for the baseline visit
        (
            "UPDATE analgesic_dose SET omed_mg_per_day = 3",
            "analgesic_dose.omed_mg_per_day",
        ),
        (
            "UPDATE analgesic_dose SET recorded_by = 'someone else'",
            "analgesic_dose.recorded_by",
        ),
        (
            "UPDATE analgesic_dose SET recorded_at = '2026-01-01T00:00:00+00:00'",
            "analgesic_dose.recorded_at",
        ),
        // a bound row removed
        ("DELETE FROM analgesic_dose", "analgesic_dose "),
    ];
    for (edit, column) in cases {
        let app = spawn_app().await;
        app.clock.set(
            Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
                .single()
                .expect("t"),
        );
        let nurse = app.staff_token("site_staff", &["ZAS"]).await;
        app.enrol(
            &nurse,
            "HERMES-ZAS-291",
            json!({"randomization_date": "2026-01-15"}),
        )
        .await;
        let resp = app
            .request(
                reqwest::Method::PATCH,
                "/api/v1/participants/HERMES-ZAS-291",
                Some(&nurse),
                Some(json!({"language": "fr", "reason": "asked at the visit"})),
            )
            .await;
        assert_eq!(
            resp.status(),
            200,
            "{}",
            resp.text().await.unwrap_or_default()
        );
        app.post_ok(
            "/api/v1/participants/HERMES-ZAS-291/visits/BL/analgesic",
            Some(&nurse),
            json!({"omed_mg_per_day": 30.0}),
        )
        .await;
        let token = app.participant_token(&nurse, "HERMES-ZAS-291").await;
        crate::helpers::answer_hermes_visit(&app, &token, "BL", "facts").await;
        app.post_ok(
            "/api/v1/participants/HERMES-ZAS-291/lesions",
            Some(&nurse),
            json!({"location": "L3", "labels": {"nl": "onderrug", "fr": "bas du dos", "en": "lower back"}, "high_risk_reasons": ["size_2cm"]}),
        )
        .await;
        let responses: Value = app
            .get(
                "/api/v1/participants/HERMES-ZAS-291/responses",
                Some(&nurse),
            )
            .await
            .json()
            .await
            .expect("json");
        let rid = responses[0]["id"].as_str().expect("id");
        let path = format!("/api/v1/participants/HERMES-ZAS-291/responses/{rid}/queries");
        let dm = app.staff_token("data_manager", &[]).await;
        let q = app
            .post_ok(&path, Some(&dm), json!({"text": "please confirm"}))
            .await;
        let close = format!("{path}/{}/close", q["id"].as_str().expect("id"));
        app.post_ok(&close, Some(&nurse), json!({"note": "confirmed"}))
            .await;
        let out = app.cli(&["audit", "verify"]);
        let text = stdout(&out);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("stored rows match their audit events"),
            "{text}"
        );
        assert!(!text.contains("not bound"), "{text}");

        app.sql(edit).await;
        let out = app.cli(&["audit", "verify"]);
        let text = stdout(&out);
        assert!(!out.status.success(), "{edit}: {text}");
        let table = column.split('.').next().unwrap_or_default();
        let named = if column.ends_with(' ') {
            text.contains(&format!("BROKEN: {column}")) && text.contains("no longer stored")
        } else {
            text.contains(&format!("BROKEN: {table} "))
                && text.contains("its stored ")
                && text.contains(column)
        };
        assert!(named, "{edit}: expected {column} named: {text}");
        // One database per case: give this one's connections back before the next (PostgreSQL
        // allows 100 in all, and the servers of earlier cases live until the test ends).
        let _ = app.app.db.close_by_ref().await;
    }
}

/// Sign a checkpoint of the log as it stands (the CLI; the server does it on its jobs tick)
/// and return the checkpoint key's public key.
fn checkpoint_now(app: &TestApp) -> String {
    let out = app.cli(&["audit", "checkpoint"]);
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = app.cli(&["audit", "public-key"]);
    assert!(out.status.success());
    stdout(&out).trim().to_string()
}

/// `epro audit verify --public-key HEX`, run with a broken EPRO_AUDIT_KEY to show it reads no
/// secret; `extra` adds arguments.
fn verify_public(app: &TestApp, public_key: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["audit", "verify", "--public-key", public_key];
    args.extend_from_slice(extra);
    crate::helpers::run_cli_env(
        &app.settings,
        app.dir.path(),
        &args,
        &[("EPRO_AUDIT_KEY", "no secret here")],
    )
}

/// `verify_public` fails and its output says `expected`.
fn broken_public(app: &TestApp, public_key: &str, extra: &[&str], expected: &str) {
    let out = verify_public(app, public_key, extra);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains(expected), "{}", stdout(&out));
}

/// The log checked by an inspector with the public key only: checkpoints are published by the
/// API and the CLI, and an untouched log verifies against them (#29.3).
#[tokio::test]
async fn an_inspector_verifies_the_log_with_the_public_key_only() {
    let app = spawn_app().await;
    activity(&app).await;
    let public_key = checkpoint_now(&app);
    assert_eq!(public_key.len(), 64, "{public_key}");
    // Nothing new: no second checkpoint.
    let out = app.cli(&["audit", "checkpoint"]);
    assert!(stdout(&out).contains("no new events"), "{}", stdout(&out));
    activity(&app).await;
    checkpoint_now(&app);

    let admin = app.admin_token().await;
    let list: Value = app
        .get("/api/v1/audit/checkpoints", Some(&admin))
        .await
        .json()
        .await
        .expect("json");
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list[0]["size"].as_i64() < list[1]["size"].as_i64());
    assert_eq!(list[1]["public_key"], public_key.as_str());
    let cli_list = stdout(&app.cli(&["audit", "checkpoints"]));
    assert_eq!(cli_list.lines().count(), 2, "{cli_list}");

    let out = verify_public(&app, &public_key, &[]);
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("matches its 2 signed checkpoints"),
        "{}",
        stdout(&out)
    );
    // The key holder's verification checks the checkpoints too.
    let out = app.cli(&["audit", "verify"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("signed checkpoints"),
        "{}",
        stdout(&out)
    );
}

/// Adversarial (#29.6): an event changed in the database fails the public-key check.
#[tokio::test]
async fn public_verify_names_a_changed_event() {
    let app = spawn_app().await;
    activity(&app).await;
    let public_key = checkpoint_now(&app);
    app.sql("UPDATE audit_event SET reason = 'nothing happened' WHERE seq = 3")
        .await;
    broken_public(&app, &public_key, &[], "BROKEN: audit log");
}

/// Adversarial (#29.6): an event removed from the log fails the public-key check, in the
/// middle (a gap) and at the end (the checkpoint covers more than the log holds).
#[tokio::test]
async fn public_verify_names_a_removed_event() {
    let app = spawn_app().await;
    activity(&app).await;
    let public_key = checkpoint_now(&app);
    let n = app.audit_rows().await.len();
    app.sql(&format!("DELETE FROM audit_event WHERE seq = {n}"))
        .await;
    broken_public(&app, &public_key, &[], "covers more events");
    app.sql("DELETE FROM audit_event WHERE seq = 2").await;
    broken_public(&app, &public_key, &[], "sequence gap");
}

/// Adversarial (#29.6): two events swapped (their contents exchanged under the same sequence
/// numbers) fail the public-key check.
#[tokio::test]
async fn public_verify_names_a_reordered_pair() {
    let app = spawn_app().await;
    activity(&app).await;
    let public_key = checkpoint_now(&app);
    // seq 2 ↔ seq 3, through a free number.
    app.sql("UPDATE audit_event SET seq = 1000000 WHERE seq = 2")
        .await;
    app.sql("UPDATE audit_event SET seq = 2 WHERE seq = 3")
        .await;
    app.sql("UPDATE audit_event SET seq = 3 WHERE seq = 1000000")
        .await;
    broken_public(&app, &public_key, &[], "do not hash to the root");
}

/// Adversarial (#29.6): a checkpoint re-signed with another key (as someone rewriting the
/// log would) is refused under the deployment's public key.
#[tokio::test]
async fn public_verify_refuses_a_checkpoint_signed_by_another_key() {
    use epro::domain::ledger;
    let app = spawn_app().await;
    activity(&app).await;
    let public_key = checkpoint_now(&app);
    let admin = app.admin_token().await;
    let list: Value = app
        .get("/api/v1/audit/checkpoints", Some(&admin))
        .await
        .json()
        .await
        .expect("json");
    let (checkpoint, _) =
        ledger::parse_signed_note(list[0]["note"].as_str().expect("note")).expect("parses");
    let other = ledger::sign(&checkpoint, &[42u8; 32]);
    app.sql(&format!(
        "UPDATE audit_checkpoint SET signature = '{other}', public_key = '{}'",
        ledger::public_key_hex(&[42u8; 32])
    ))
    .await;
    broken_public(&app, &public_key, &[], "not signed by any");
}

/// Adversarial (#29.6): a fork. The inspector kept the checkpoints; the log is rewritten and
/// re-checkpointed with the deployment's own key (someone with the key and the database). The
/// rewritten log matches its new checkpoint, but the kept one names another root for the
/// same size.
#[tokio::test]
async fn public_verify_detects_a_fork_against_kept_checkpoints() {
    let app = spawn_app().await;
    activity(&app).await;
    let public_key = checkpoint_now(&app);
    let kept = app.dir.path().join("kept.jsonl");
    std::fs::write(&kept, stdout(&app.cli(&["audit", "checkpoints"]))).expect("write");
    let kept = kept.to_str().expect("path").to_string();
    let out = verify_public(&app, &public_key, &["--checkpoints", &kept]);
    assert!(out.status.success(), "{}", stdout(&out));

    app.sql("UPDATE audit_event SET reason = 'rewritten' WHERE seq = 3")
        .await;
    app.sql("DELETE FROM audit_checkpoint").await;
    checkpoint_now(&app);
    let out = verify_public(&app, &public_key, &[]);
    assert!(
        out.status.success(),
        "the rewritten log matches its own new checkpoint"
    );
    broken_public(&app, &public_key, &["--checkpoints", &kept], "a fork");
}

/// `epro audit prove --participant ID --out DIR` writes inclusion proofs that check against the
/// signed checkpoint with the public key, and a consistency proof between two checkpoints; a
/// forged inclusion proof does not check (#29.3, #29.6).
#[tokio::test]
async fn participant_proofs_check_offline_and_a_forged_one_does_not() {
    use chrono::{TimeZone, Utc};
    use epro::domain::ledger;
    let app = spawn_app().await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    app.enrol(&nurse, "HERMES-ZAS-291", json!({})).await;
    let public_key = checkpoint_now(&app);
    let token = app.participant_token(&nurse, "HERMES-ZAS-291").await;
    crate::helpers::answer_hermes_visit(&app, &token, "BL", "prove").await;
    activity(&app).await;
    checkpoint_now(&app);

    let dir = app.dir.path().join("proofs");
    let out = app.cli(&[
        "audit",
        "prove",
        "--participant",
        "HERMES-ZAS-291",
        "--out",
        dir.to_str().expect("path"),
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let proof: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("proof.json")).expect("read"))
            .expect("json");

    let key = ledger::parse_public_key(&public_key).expect("key");
    let hash = |h: &Value| -> ledger::Hash {
        hex::decode(h.as_str().expect("hex"))
            .expect("hex")
            .try_into()
            .expect("32")
    };
    let (checkpoint, signature) =
        ledger::parse_signed_note(proof["checkpoint"]["note"].as_str().expect("note"))
            .expect("note");
    assert!(ledger::signature_holds(&checkpoint, &signature, &key));
    let events = proof["events"].as_array().expect("events");
    // The three submissions at least.
    assert!(events.len() >= 3, "{events:?}");
    for e in events {
        let leaf = ledger::leaf_hash(e["content"].as_str().expect("content").as_bytes());
        let path: Vec<ledger::Hash> = e["inclusion_path"]
            .as_array()
            .expect("path")
            .iter()
            .map(hash)
            .collect();
        let index = e["leaf_index"].as_u64().expect("index");
        assert_eq!(
            ledger::verify_inclusion(index, checkpoint.size, &leaf, &path, &checkpoint.root),
            Ok(())
        );
        // Forged: the content claimed for another participant, or a path hash replaced.
        let forged_leaf = ledger::leaf_hash(
            e["content"]
                .as_str()
                .expect("content")
                .replace("HERMES-ZAS-291", "HERMES-ZAS-999")
                .as_bytes(),
        );
        assert!(
            ledger::verify_inclusion(
                index,
                checkpoint.size,
                &forged_leaf,
                &path,
                &checkpoint.root
            )
            .is_err()
        );
        let mut forged = path.clone();
        forged[0] = ledger::leaf_hash(b"forged");
        assert!(
            ledger::verify_inclusion(index, checkpoint.size, &leaf, &forged, &checkpoint.root)
                .is_err()
        );
    }
    let c = &proof["consistency"];
    let (first, _) = ledger::parse_signed_note(c["first"]["note"].as_str().expect("n")).expect("n");
    let path: Vec<ledger::Hash> = c["path"]
        .as_array()
        .expect("path")
        .iter()
        .map(hash)
        .collect();
    assert!(first.size < checkpoint.size);
    assert_eq!(
        ledger::verify_consistency(
            first.size,
            checkpoint.size,
            &first.root,
            &checkpoint.root,
            &path
        ),
        Ok(())
    );
}

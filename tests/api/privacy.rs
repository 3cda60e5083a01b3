//! Contact details at rest: rotating EPRO_DATA_KEY re-encrypts them all at once, and at the end
//! of the trial `epro participants purge-contact-data` erases them, audited without values.

use epro::{config::Secret, keys::Key};
use serde_json::{Value, json};

use crate::helpers::{run_cli_env, spawn_app_with, start};

#[tokio::test]
async fn data_key_rotation_then_end_of_trial_purge() {
    let app = spawn_app_with(|s| s.session_hours = 24 * 365).await;
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    for (id, email) in [
        ("HERMES-ZAS-011", "a@example.be"),
        ("HERMES-ZAS-012", "b@example.be"),
    ] {
        app.enrol(&nurse, id, json!({"email": email, "phone": "+32470111111"}))
            .await;
    }

    // Rotate: the new key reads every contact detail; the old one reads none.
    let new_key = Key::generate().to_hex();
    let out = run_cli_env(
        &app.settings,
        app.dir.path(),
        &["keys", "rotate-data-key"],
        &[("EPRO_NEW_DATA_KEY", &new_key)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p: Value = app
        .get("/api/v1/participants/HERMES-ZAS-011", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert!(
        p["has_email"] == true && p["email"].is_null(),
        "the old key no longer opens it: {p}"
    );
    let mut settings = app.settings.clone();
    settings.data_key = Some(Secret::new(new_key.clone()));
    let rotated = start(settings.clone(), tempfile::tempdir().expect("dir")).await;
    let p: Value = rotated
        .get("/api/v1/participants/HERMES-ZAS-011", Some(&nurse))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(p["email"], "a@example.be");
    assert_eq!(p["phone"], "+32470111111");

    // End of trial: without --yes nothing happens; with it both are erased, audited without values.
    let out = run_cli_env(
        &settings,
        app.dir.path(),
        &[
            "participants",
            "purge-contact-data",
            "--reason",
            "end of follow-up",
        ],
        &[],
    );
    assert!(!out.status.success());
    let out = run_cli_env(
        &settings,
        app.dir.path(),
        &[
            "participants",
            "purge-contact-data",
            "--reason",
            "end of follow-up",
            "--yes",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 participants"));
    for id in ["HERMES-ZAS-011", "HERMES-ZAS-012"] {
        let p: Value = rotated
            .get(&format!("/api/v1/participants/{id}"), Some(&nurse))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(p["has_email"], false, "{p}");
        assert_eq!(p["has_phone"], false, "{p}");
    }
    let rows = rotated.audit_rows().await;
    let purged: Vec<&Value> = rows
        .iter()
        .filter(|r| r["action"] == "participant.contact_purged")
        .collect();
    assert_eq!(purged.len(), 2);
    assert!(rows.iter().any(|r| r["action"] == "keys.data_key_rotated"));
    let all = serde_json::to_string(&rows).expect("json");
    assert!(
        !all.contains("a@example.be") && !all.contains("470 11 11 11"),
        "no values in the audit trail"
    );
    let out = run_cli_env(&settings, app.dir.path(), &["audit", "verify"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn the_audit_chain_is_handed_over_to_a_new_key_and_verifies_across_it() {
    let app = spawn_app_with(|s| s.session_hours = 24 * 365).await;
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    enrol(&app, &nurse, "HERMES-ZAS-021").await;
    let old_key = app
        .settings
        .audit_key
        .as_ref()
        .map(|k| k.expose().to_string())
        .expect("key");
    let new_key = Key::generate().to_hex();
    let out = run_cli_env(
        &app.settings,
        app.dir.path(),
        &["keys", "rotate-audit-key"],
        &[("EPRO_NEW_AUDIT_KEY", &new_key)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The servers restart with the new key and go on recording.
    let mut settings = app.settings.clone();
    settings.audit_key = Some(Secret::new(new_key.clone()));
    let after = start(settings.clone(), tempfile::tempdir().expect("dir")).await;
    enrol(&after, &nurse, "HERMES-ZAS-022").await;

    let verify = |extra: &[(&str, &str)]| {
        let out = run_cli_env(&settings, app.dir.path(), &["audit", "verify"], extra);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(verify(&[("EPRO_AUDIT_KEYS_RETIRED", &old_key)]).starts_with("OK"));
    assert!(
        verify(&[]).starts_with("BROKEN"),
        "the new key alone cannot vouch for the old events"
    );
    assert!(
        verify(&[("EPRO_AUDIT_KEY", &old_key)]).starts_with("BROKEN"),
        "nor the old key for the new ones"
    );
}

async fn enrol(app: &crate::helpers::TestApp, nurse: &str, id: &str) {
    app.enrol(nurse, id, json!({})).await;
}

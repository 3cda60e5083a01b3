//! `epro validate`, the installation check: on a correctly configured deployment (the study
//! registered, a real SMTP relay answering) it exits 0 and its signed report verifies offline
//! with the public key alone; a relay that is down, a wrong audit key and a changed published
//! questionnaire file each make it exit 1, naming the check and what to fix. On SQLite and, with
//! EPRO_TEST_DATABASE_URL, PostgreSQL.

use std::path::Path;

use serde_json::Value;

use crate::{
    helpers::{TestApp, run_cli_env},
    questionnaires::copy_dir,
    reminders::{SmtpServer, app_with_smtp_settings},
};

/// The deployment's mail settings (a real relay on `port`) as the CLI reads them.
fn smtp_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("EPRO_MAIL_TRANSPORT", "smtp".into()),
        ("EPRO_SMTP_HOST", "127.0.0.1".into()),
        ("EPRO_SMTP_PORT", port.to_string()),
        ("EPRO_SMTP_TLS", "none".into()),
        ("EPRO_SMTP_TIMEOUT_SECONDS", "5".into()),
    ]
}

struct Run {
    ok: bool,
    stdout: String,
    report: Option<Vec<u8>>,
}

fn validate(app: &TestApp, env: &[(&str, String)], out: &Path) -> Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = run_cli_env(
        &app.settings,
        app.dir.path(),
        &[
            "validate",
            "--out",
            out.to_str().expect("path"),
            "--min-free-mib",
            "1",
        ],
        &env,
    );
    Run {
        ok: run.status.success(),
        stdout: String::from_utf8_lossy(&run.stdout).to_string(),
        report: std::fs::read(out).ok(),
    }
}

/// The checks of a report as (name, passed), from its signed report.json.
fn checks(report: &[u8]) -> Vec<(String, bool)> {
    let verified = epro::exports::archive::verify(report, None).expect("the report verifies");
    assert_eq!(verified.manifest.format, "epro-installation-report/1");
    let mut tar = tar::Archive::new(report);
    let mut json = None;
    for entry in tar.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        if entry.path().expect("path").to_string_lossy() == "report.json" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).expect("read");
            json = Some(serde_json::from_str::<Value>(&text).expect("json"));
        }
    }
    let json = json.expect("report.json in the report");
    json["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap_or_default().to_string(),
                c["passed"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_correct_installation_passes_and_each_fault_is_named() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp_settings(smtp.port, |_| {}).await;
    let dir = app.dir.path().to_path_buf();

    // Correctly configured: exit 0, every check passed, the report verifies offline.
    let good = validate(&app, &smtp_env(smtp.port), &dir.join("good.tar"));
    assert!(good.ok, "{}", good.stdout);
    let report = good.report.expect("a signed report is written");
    let found = checks(&report);
    for name in [
        "configuration",
        "keys",
        "questionnaire files",
        "database schema",
        "study file",
        "questionnaire lock",
        "audit trail",
        "data key",
        "clock",
        "mail relay",
        "SMS gateway",
        "free disk",
        "time zone database",
    ] {
        assert!(
            found.iter().any(|(n, passed)| n == name && *passed),
            "{name} not passed: {found:?}"
        );
    }
    assert!(smtp.all_messages().is_empty(), "the check sends no message");
    // The report names no secret: the audit key appears only as a fingerprint.
    let key = app.settings.audit_key.as_ref().expect("key").expose();
    assert!(!good.stdout.contains(key));
    assert!(!String::from_utf8_lossy(&report).contains(key));

    // A changed published questionnaire file (a copy of the library with one word changed).
    let changed_dir = dir.join("questionnaires-changed");
    copy_dir(&app.settings.questionnaires_dir, &changed_dir);
    let definition = changed_dir.join("nrs-lesion-pain/1.0.0/definition.json");
    let text = std::fs::read_to_string(&definition).expect("definition");
    std::fs::write(&definition, text.replacen("\"max\": 10", "\"max\": 11", 1)).expect("write");
    let mut changed_env = smtp_env(smtp.port);
    changed_env.push((
        "EPRO_QUESTIONNAIRES_DIR",
        changed_dir.to_string_lossy().to_string(),
    ));

    // A wrong audit key.
    let mut wrong_key_env = smtp_env(smtp.port);
    wrong_key_env.push(("EPRO_AUDIT_KEY", "ab".repeat(32)));

    // The relay down: a port where nothing listens.
    let down_env = smtp_env(SmtpServer::free_port());

    for (fault, env, check, fix) in [
        (
            "the mail relay is down",
            down_env,
            "mail relay",
            "EPRO_SMTP_HOST",
        ),
        (
            "a wrong audit key",
            wrong_key_env,
            "audit trail",
            "EPRO_AUDIT_KEY",
        ),
        (
            "a changed questionnaire file",
            changed_env,
            "questionnaire files",
            "published versions never change",
        ),
    ] {
        let out = dir.join(format!("{}.tar", check.replace(' ', "-")));
        let run = validate(&app, &env, &out);
        assert!(!run.ok, "{fault}: exit 0\n{}", run.stdout);
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {check} |")))
            .unwrap_or_else(|| panic!("{fault}: no {check} line\n{}", run.stdout));
        assert!(line.contains("**FAIL**"), "{fault}: {line}");
        assert!(line.contains(fix), "{fault}: the fix is not named: {line}");
        assert!(
            run.stdout.contains("FAILED: 1 of "),
            "{fault}: {}",
            run.stdout
        );
        // The failing report is signed too: evidence of what was found.
        let found = checks(&run.report.expect("report"));
        assert!(
            found.iter().any(|(n, passed)| n == check && !passed),
            "{found:?}"
        );
    }
}

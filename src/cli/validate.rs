//! `epro validate`: the installation qualification. Read-only checks of this installation, each
//! passed or failed with what to fix, written as a report (Markdown and JSON) in a file signed
//! with the archive key, which `epro archive verify` checks offline. It sends no message and
//! changes nothing (it does not migrate, register or start anything).

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use ed25519_dalek::{Signer, SigningKey, Verifier};
use epro::{
    clock::{Clock, SystemClock},
    config::{Settings, fingerprint},
    exports::archive::{self, Header, REPORT_FORMAT},
    keys::Keys,
    notify::{mail::Mail, sms::Kannel},
    participants::data_key_opens,
    questionnaires, store, study,
};
use serde::Serialize;

use super::Outcome;

#[derive(Args)]
pub struct Command {
    /// The signed report to write (default: epro-validation-<UTC time>.tar in the current
    /// folder). It holds report.md and report.json; check it with `epro archive verify FILE`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The least free space on the data folder's disk, in MiB, that passes.
    #[arg(long, default_value_t = 1024)]
    min_free_mib: u64,
    /// The largest difference between this machine's clock and the database server's that
    /// passes, in seconds.
    #[arg(long, default_value_t = 5)]
    max_clock_skew_seconds: u64,
}

/// What the checks need of the study file.
struct StudyFacts {
    id: String,
    sha256: String,
    languages: Vec<String>,
    time_zone: String,
}

type Loaded = Result<StudyFacts, String>;

/// One check's outcome.
#[derive(Debug, Serialize)]
struct Check {
    check: &'static str,
    passed: bool,
    detail: String,
    /// What to do, for a check that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

fn pass(check: &'static str, detail: impl Into<String>) -> Check {
    Check {
        check,
        passed: true,
        detail: detail.into(),
        fix: None,
    }
}

fn fail(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        check,
        passed: false,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

#[derive(Serialize)]
struct Report {
    format: &'static str,
    epro_version: &'static str,
    created_at: DateTime<Utc>,
    passed: bool,
    /// Settings that differ from the defaults (secrets as fingerprints).
    configuration: Vec<(String, String)>,
    checks: Vec<Check>,
}

pub async fn run(settings: Settings, command: Command) -> Outcome {
    let now = SystemClock.now();
    let mut checks = Vec::new();
    let configuration = settings.non_defaults();
    checks.push(match settings.validate() {
        Ok(()) => pass(
            "configuration",
            format!(
                "loaded ({} from {}, then EPRO_* variables); {} values differ from the defaults",
                std::env::var("EPRO_CONFIG").unwrap_or_else(|_| "epro.toml".into()),
                if Path::new(&std::env::var("EPRO_CONFIG").unwrap_or_else(|_| "epro.toml".into()))
                    .is_file()
                {
                    "a file"
                } else {
                    "no file"
                },
                configuration.len()
            ),
        ),
        Err(e) => fail("configuration", e.to_string(), "correct the setting named"),
    });

    let keys = match Keys::resolve(&settings) {
        Ok(keys) => {
            checks.push(key_check(&keys));
            Some(keys)
        }
        Err(e) => {
            checks.push(fail(
                "keys",
                e.to_string(),
                "set EPRO_AUDIT_KEY, EPRO_DATA_KEY and EPRO_ARCHIVE_KEY (docs/operations.md, keys)",
            ));
            None
        }
    };

    let loaded: Loaded = study::load(&settings.study_file)
        .map(|s| StudyFacts {
            id: s.id.clone(),
            sha256: s.sha256.clone(),
            languages: s.languages.clone(),
            time_zone: s.time_zone.name().to_string(),
        })
        .map_err(|e| e.to_string());
    let study_sha = loaded.as_ref().map(|s| s.sha256.clone()).ok();
    let study_id = loaded.as_ref().map(|s| s.id.clone()).ok();
    let library = questionnaires::load_checked(
        &settings.questionnaires_dir,
        settings.licensed_text_dir.as_deref(),
        match (&loaded, settings.require_licensed_text) {
            (Ok(s), true) => Some(s.languages.as_slice()),
            _ => None,
        },
    );
    match &library {
        Ok(lib) => checks.push(pass(
            "questionnaire files",
            format!(
                "{} versions in {}; every published file matches {}",
                lib.versions().count(),
                settings.questionnaires_dir.display(),
                questionnaires::LOCK_FILE
            ),
        )),
        Err(e) => checks.push(fail(
            "questionnaire files",
            e.to_string(),
            "restore the published files as they were released (published versions never \
             change) and publish any change as a new version",
        )),
    }

    match store::connect(&settings.database_url).await {
        Err(e) => checks.push(fail(
            "database",
            e.to_string(),
            "check EPRO_DATABASE_URL and that the database server runs",
        )),
        Ok(db) => {
            checks.push(schema_check(&db, &settings).await);
            checks.push(study_check(&db, &settings, &loaded).await);
            if let Ok(lib) = &library {
                checks.push(lock_check(&db, lib).await);
            }
            if keys.is_some() {
                checks.push(audit_check(&settings, &db).await);
            }
            if let Some(keys) = &keys {
                checks.push(match data_key_opens(&db, &keys.data, 50).await {
                    Ok(Ok(n)) => pass(
                        "data key",
                        format!("EPRO_DATA_KEY opens the stored contact details ({n} checked)"),
                    ),
                    Ok(Err(whose)) => fail(
                        "data key",
                        format!("EPRO_DATA_KEY does not open {whose}"),
                        "set EPRO_DATA_KEY to the key these details were sealed with",
                    ),
                    Err(e) => fail("data key", e.to_string(), "check the database"),
                });
            }
            checks.push(clock_check(&db, command.max_clock_skew_seconds).await);
        }
    }
    checks.push(mail_check(&settings).await);
    checks.push(sms_check(&settings, study_id.as_deref().unwrap_or("epro")).await);
    checks.push(disk_check(&settings.data_dir, command.min_free_mib));
    checks.push(time_zone_check(&loaded));

    let report = Report {
        format: REPORT_FORMAT,
        epro_version: env!("CARGO_PKG_VERSION"),
        created_at: now,
        passed: checks.iter().all(|c| c.passed),
        configuration,
        checks,
    };
    let markdown = markdown(&report);
    print!("{markdown}");
    let json = serde_json::to_vec_pretty(&report)?;
    let failed = report.checks.iter().filter(|c| !c.passed).count();
    match &keys {
        Some(keys) => {
            let key = SigningKey::from_bytes(keys.archive.bytes());
            let sealed = archive::seal(
                &key,
                Header {
                    format: REPORT_FORMAT,
                    study: study_id.as_deref().unwrap_or(""),
                    site: "",
                    study_sha256: study_sha.as_deref().unwrap_or(""),
                    created_at: now,
                },
                &[
                    ("report.md".into(), markdown.into_bytes()),
                    ("report.json".into(), json),
                ],
            )?;
            let out = command.out.unwrap_or_else(|| {
                PathBuf::from(format!(
                    "epro-validation-{}.tar",
                    now.format("%Y%m%dT%H%M%SZ")
                ))
            });
            std::fs::write(&out, sealed).with_context(|| out.display().to_string())?;
            println!(
                "\nwrote {}, signed by {} (check it with `epro archive verify {}`)",
                out.display(),
                hex::encode(key.verifying_key().as_bytes()),
                out.display()
            );
        }
        None => println!(
            "\nno report file written: without a usable EPRO_ARCHIVE_KEY it cannot be signed"
        ),
    }
    if failed == 0 {
        println!("PASSED: every check");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "FAILED: {failed} of {} checks (each names what to fix above)",
            report.checks.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

fn markdown(r: &Report) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut md = format!(
        "# epro installation check\n\nepro {} · {} · {}\n\n| check | result | detail | what to do |\n|---|---|---|---|\n",
        r.epro_version,
        r.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        if r.passed {
            "all checks passed"
        } else {
            "FAILED"
        }
    );
    for c in &r.checks {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            c.check,
            if c.passed { "pass" } else { "**FAIL**" },
            cell(&c.detail),
            cell(c.fix.as_deref().unwrap_or(""))
        ));
    }
    md.push_str("\n## Settings that differ from the defaults\n\n");
    if r.configuration.is_empty() {
        md.push_str("(none)\n");
    }
    for (k, v) in &r.configuration {
        md.push_str(&format!("- `{k}` = `{}`\n", cell(v)));
    }
    md
}

/// Every key present and usable: the archive key signs and its signature verifies; the audit
/// and data keys are checked against what they protect (the audit trail, the contact details).
fn key_check(keys: &Keys) -> Check {
    let key = SigningKey::from_bytes(keys.archive.bytes());
    let probe = b"epro validate";
    if key.verifying_key().verify(probe, &key.sign(probe)).is_err() {
        return fail(
            "keys",
            "EPRO_ARCHIVE_KEY does not make a verifiable signature",
            "generate a new archive key (openssl rand -hex 32)",
        );
    }
    let fp = |k: &epro::keys::Key| fingerprint(&k.to_hex());
    pass(
        "keys",
        format!(
            "audit {}, data {}, archive {} (public key {}), checkpoint {}",
            fp(&keys.audit),
            fp(&keys.data),
            fp(&keys.archive),
            hex::encode(key.verifying_key().as_bytes()),
            keys.checkpoint.as_ref().map_or_else(
                || "not set (no signed checkpoints)".to_string(),
                |k| {
                    format!(
                        "{} (public key {})",
                        fp(k),
                        epro::domain::ledger::public_key_hex(k.bytes())
                    )
                }
            )
        ),
    )
}

async fn schema_check(db: &store::Db, settings: &Settings) -> Check {
    let target = store::describe_target(&settings.database_url);
    match store::schema_state(db).await {
        Err(e) => fail(
            "database schema",
            format!("{target}: {e}"),
            "a migration this build does not know means a newer epro migrated this database: \
             run that release, or restore a backup made before it (docs/operations.md, upgrades)",
        ),
        Ok((applied, pending)) if pending.is_empty() => pass(
            "database schema",
            format!(
                "{target} reachable, {} migrations applied, version {}",
                applied.len(),
                applied.last().map(String::as_str).unwrap_or("(none)")
            ),
        ),
        Ok((applied, pending)) => fail(
            "database schema",
            format!(
                "{target}: {} migrations applied, {} not yet: {}",
                applied.len(),
                pending.len(),
                pending.join(", ")
            ),
            "run `epro database migrate` (after a backup: docs/operations.md, upgrades)",
        ),
    }
}

async fn study_check(db: &store::Db, settings: &Settings, loaded: &Loaded) -> Check {
    let file = settings.study_file.display();
    let study = match loaded {
        Ok(s) => s,
        Err(e) => return fail("study file", e.clone(), format!("correct {file}")),
    };
    match study::registered_sha256(db).await {
        Err(e) => fail("study file", e.to_string(), "check the database"),
        Ok(None) => fail(
            "study file",
            format!("{file} loads, but this database has no study registered yet"),
            "start epro once on this database (epro serve) so it registers the study file",
        ),
        Ok(Some(sha)) if sha == study.sha256 => pass(
            "study file",
            format!("{file} ({}) is the registered one, sha256 {sha}", study.id),
        ),
        Ok(Some(sha)) => fail(
            "study file",
            format!(
                "{file} has sha256 {}, the database registered {sha}",
                study.sha256
            ),
            "restore the registered study file, or apply the change as a protocol amendment \
             (docs/new-trial.md, amendments)",
        ),
    }
}

async fn lock_check(db: &store::Db, library: &questionnaires::Library) -> Check {
    match questionnaires::changed_since_recorded(db, library).await {
        Err(e) => fail("questionnaire lock", e.to_string(), "check the database"),
        Ok((recorded, changed)) if changed.is_empty() => pass(
            "questionnaire lock",
            format!(
                "every published version matches the hash this database recorded ({recorded} recorded)"
            ),
        ),
        Ok((_, changed)) => fail(
            "questionnaire lock",
            format!(
                "differs from what this database recorded: {}",
                changed.join(", ")
            ),
            "restore the published files (published versions never change)",
        ),
    }
}

async fn audit_check(settings: &Settings, db: &store::Db) -> Check {
    match super::audit::findings(settings, db).await {
        Ok(lines) if lines.iter().all(|(ok, _)| *ok) => pass(
            "audit trail",
            lines
                .into_iter()
                .map(|(_, l)| l)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Ok(lines) => fail(
            "audit trail",
            lines
                .into_iter()
                .filter(|(ok, _)| !ok)
                .map(|(_, l)| l)
                .collect::<Vec<_>>()
                .join("; "),
            "use the audit keys of this installation (EPRO_AUDIT_KEY, EPRO_AUDIT_KEYS_RETIRED); \
             if they are right, the trail was altered: stop and report it (docs/security.md)",
        ),
        Err(e) => fail(
            "audit trail",
            e.to_string(),
            "check the keys and the database",
        ),
    }
}

async fn clock_check(db: &store::Db, max_skew: u64) -> Check {
    match store::server_time(db).await {
        Err(e) => fail("clock", e.to_string(), "check the database"),
        Ok(server) => {
            let skew = (SystemClock.now() - server).num_milliseconds().abs();
            if skew <= (max_skew * 1000) as i64 {
                pass(
                    "clock",
                    format!("this machine and the database server agree within {skew} ms"),
                )
            } else {
                fail(
                    "clock",
                    format!("this machine and the database server differ by {skew} ms"),
                    "synchronize both clocks (NTP)",
                )
            }
        }
    }
}

async fn mail_check(settings: &Settings) -> Check {
    let mail = match Mail::from_settings(settings) {
        Ok(m) => m,
        Err(e) => return fail("mail relay", e.to_string(), "correct the mail settings"),
    };
    match mail.check_connection().await {
        Ok(detail) => pass("mail relay", detail),
        Err(e) => fail(
            "mail relay",
            format!("{}:{}: {e}", settings.smtp_host, settings.smtp_port),
            "check EPRO_SMTP_HOST, EPRO_SMTP_PORT, EPRO_SMTP_TLS and that the relay accepts \
             connections from this machine",
        ),
    }
}

async fn sms_check(settings: &Settings, default_sender: &str) -> Check {
    match Kannel::from_settings(settings, default_sender) {
        Ok(None) => pass(
            "SMS gateway",
            "not configured (EPRO_SMS_GATEWAY_URL unset): no SMS reminders",
        ),
        Ok(Some(k)) => match k
            .check_connection(Duration::from_secs(settings.sms_timeout_seconds.max(1)))
            .await
        {
            Ok(detail) => pass("SMS gateway", detail),
            Err(e) => fail(
                "SMS gateway",
                e.to_string(),
                "check EPRO_SMS_GATEWAY_URL and that the gateway (Kannel's smsbox) runs",
            ),
        },
        Err(e) => fail("SMS gateway", e.to_string(), "correct the SMS settings"),
    }
}

fn disk_check(dir: &Path, min_free_mib: u64) -> Check {
    match free_mib(dir) {
        Some(free) if free >= min_free_mib => pass(
            "free disk",
            format!("{free} MiB free for {}", dir.display()),
        ),
        Some(free) => fail(
            "free disk",
            format!(
                "{free} MiB free for {}, less than {min_free_mib} MiB",
                dir.display()
            ),
            "free space or move EPRO_DATA_DIR to a larger disk",
        ),
        None => fail(
            "free disk",
            format!("cannot measure the free space for {}", dir.display()),
            "create EPRO_DATA_DIR and make it readable",
        ),
    }
}

/// Free MiB on the disk that holds `dir` (or its nearest existing parent).
fn free_mib(dir: &Path) -> Option<u64> {
    let existing = dir
        .ancestors()
        .find(|p| !p.as_os_str().is_empty() && p.exists())
        .unwrap_or(Path::new("."));
    fs4::available_space(existing)
        .ok()
        .map(|bytes| bytes / (1024 * 1024))
}

fn time_zone_check(loaded: &Loaded) -> Check {
    let zone = loaded
        .as_ref()
        .map(|s| s.time_zone.clone())
        .unwrap_or_else(|_| "(study file not loaded)".into());
    pass(
        "time zone database",
        format!(
            "IANA tz database {} built in; the study's time zone is {zone}",
            chrono_tz::IANA_TZDB_VERSION
        ),
    )
}

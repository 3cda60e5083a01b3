//! The `epro` command: serve, migrate, manage users, verify the audit trail.
//! Errors end the process with one line on stderr and a non-zero exit code, never a backtrace.

use std::{process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};
use epro::{
    audit::{self, Verdict},
    clock::SystemClock,
    config::Settings,
    keys::Keys,
    startup::{self, Application},
    store, telemetry, users,
};

/// epro — electronic patient-reported outcomes for clinical trials.
///
/// Settings come from epro.toml (or the file in EPRO_CONFIG) and EPRO_* environment variables;
/// see the README for the full table.
#[derive(Parser)]
#[command(name = "epro", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default): migrate, load the study, create the first admin if none.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Validate a study file and exit (default: the configured EPRO_STUDY_FILE).
    StudyCheck {
        /// Path of the study file.
        file: Option<std::path::PathBuf>,
    },
    /// Questionnaire definitions: check, publish, render as FHIR.
    Questionnaires {
        #[command(subcommand)]
        command: QuestionnairesCommand,
    },
    /// Email reminders.
    Reminders {
        #[command(subcommand)]
        command: RemindersCommand,
    },
    /// Stored scores.
    Scores {
        #[command(subcommand)]
        command: ScoresCommand,
    },
    /// Visit schedules.
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// Staff accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The investigator archive of a site: `epro archive --site ZAS [--out FILE]` writes one
    /// signed file; `epro archive verify FILE` checks one offline.
    Archive {
        /// Site code whose archive to write.
        #[arg(long)]
        site: Option<String>,
        /// Output file (default: epro-archive-<site>-<UTC time>.tar in the current folder).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        #[command(subcommand)]
        command: Option<ArchiveCommand>,
    },
    /// Participants' personal data.
    Participants {
        #[command(subcommand)]
        command: ParticipantsCommand,
    },
    /// Key rotation.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// A consistent backup while the server runs. SQLite: one database file (VACUUM INTO);
    /// PostgreSQL: pg_dump's custom format (pg_dump must be installed). See docs/operations.md.
    Backup {
        /// Output file (must not exist).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// The tamper-evident audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a staff account and print a one-time password (changed at first login).
    Create {
        /// Login email.
        #[arg(long)]
        email: String,
        /// admin, data_manager, monitor or site_staff.
        #[arg(long)]
        role: String,
        /// Site code (repeat for several); required for monitor and site_staff.
        #[arg(long = "site")]
        sites: Vec<String>,
    },
}

#[derive(Subcommand)]
enum QuestionnairesCommand {
    /// Check every definition, text pack and scoring file, and published.lock. Errors name
    /// the file and the JSON pointer. Default folder: EPRO_QUESTIONNAIRES_DIR.
    Check { dir: Option<std::path::PathBuf> },
    /// Add new versions to published.lock (entries already there never change).
    Publish { dir: Option<std::path::PathBuf> },
    /// Write each version as a FHIR R4 Questionnaire (<key>-<version>.<lang>.json) into OUT.
    Fhir {
        /// Output folder.
        #[arg(long)]
        out: std::path::PathBuf,
        /// Include the wording of this language (default: structure only, no wording).
        #[arg(long)]
        lang: Option<String>,
    },
}

#[derive(Subcommand)]
enum RemindersCommand {
    /// Plan and send what is due now, once (the worker inside `epro serve` does this every interval).
    Run {
        /// Run one pass and exit (the only mode; kept explicit for scripts).
        #[arg(long)]
        once: bool,
    },
    /// Print what would be sent at that instant, without sending or storing anything.
    Plan {
        /// An instant, RFC 3339 (default now).
        #[arg(long)]
        at: Option<String>,
    },
}

#[derive(Subcommand)]
enum ScoresCommand {
    /// Apply a scoring file to every submitted response of its questionnaire version that lacks
    /// it (audited). Earlier scores stay; each names the scoring file it came from.
    Recompute {
        /// <key>/<version>/scoring-<n>, e.g. eortc-qlq-c30/3.0/scoring-2.
        #[arg(long)]
        scoring: String,
    },
}

#[derive(Subcommand)]
enum ScheduleCommand {
    /// Print a participant's visit table (states as at --at, default now; nothing is stored).
    Show {
        /// Study id, e.g. HERMES-ZAS-001.
        study_id: String,
        /// An instant, RFC 3339 (e.g. 2026-03-01T10:00:00+01:00).
        #[arg(long)]
        at: Option<String>,
    },
    /// Print the schedule a participant randomized on that day would have.
    Simulate {
        /// Randomization date, YYYY-MM-DD (also taken as the enrolment date).
        #[arg(long)]
        randomized: String,
        /// Date of a symptomatic skeletal event, YYYY-MM-DD (recorded on that day).
        #[arg(long)]
        sse: Option<String>,
        /// An instant, RFC 3339 (default now).
        #[arg(long)]
        at: Option<String>,
    },
}

#[derive(Subcommand)]
enum ArchiveCommand {
    /// Check an archive offline: the manifest's Ed25519 signature, every file's sha256, nothing
    /// added. Names the first file that does not match.
    Verify {
        file: std::path::PathBuf,
        /// The signer's public key (hex), e.g. from `epro archive public-key`; without it the key
        /// in the manifest is used and printed.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print this deployment's archive public key (hex), for sites to check archives with.
    PublicKey,
}

#[derive(Subcommand)]
enum ParticipantsCommand {
    /// End of the trial: erase every participant's email and phone number (audited, without
    /// the values). Reminders can no longer be sent.
    PurgeContactData {
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
        /// Confirm: nothing is erased without it.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-encrypt all contact details from EPRO_DATA_KEY to EPRO_NEW_DATA_KEY (set in the
    /// environment, never on the command line), in one transaction; then restart with
    /// EPRO_DATA_KEY set to the new key. See docs/operations.md.
    RotateDataKey,
    /// Hand the audit chain over to EPRO_NEW_AUDIT_KEY: one event, hashed with the current key,
    /// names the new key. Then restart with EPRO_AUDIT_KEY = the new key and verify with
    /// EPRO_AUDIT_KEYS_RETIRED = the old one. See docs/operations.md.
    RotateAuditKey,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the whole chain with EPRO_AUDIT_KEY; name the first broken event.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("epro: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("epro: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    let settings = Settings::load().map_err(|e| e.to_string())?;
    telemetry::init(settings.log_format);
    let clock = Arc::new(SystemClock);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let application = Application::build(settings, clock)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(admin) = application.bootstrap_admin() {
                print_bootstrap(&admin.email, admin.one_time_password.as_deref());
            }
            let addr = application.address();
            tracing::info!(%addr, "epro listening; API docs at http://{addr}/api/docs");
            application
                .run_until(startup::shutdown_signal())
                .await
                .map_err(|e| format!("server error: {e}"))?;
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let db = store::connect(&settings.database_url)
                .await
                .map_err(|e| e.to_string())?;
            store::migrate(&db, &settings.database_url)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "migrations applied to {}",
                store::describe_target(&settings.database_url)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::StudyCheck { file } => {
            let path = file.unwrap_or(settings.study_file);
            let study = epro::study::load(&path).map_err(|e| e.to_string())?;
            println!(
                "OK: {} — {} sites, languages {}, time zone {}, sha256 {}",
                study.id,
                study.sites.len(),
                study.languages.join(", "),
                study.time_zone,
                study.sha256
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Questionnaires { command } => questionnaires_command(&settings, command),
        Command::Schedule { command } => schedule_command(settings, command).await,
        Command::Reminders { command } => match command {
            RemindersCommand::Run { once: _ } => {
                let app = startup::prepare(settings, clock)
                    .await
                    .map_err(|e| e.to_string())?;
                let mail =
                    epro::mail::Mail::from_settings(&app.settings).map_err(|e| e.to_string())?;
                let r = epro::reminders::run_once(&app, &mail)
                    .await
                    .map_err(|e| e.to_string())?;
                println!(
                    "planned {}, skipped {}, sent {}, postponed {}, retrying {}, failed {}, cancelled {}",
                    r.planned, r.skipped, r.sent, r.postponed, r.retrying, r.failed, r.cancelled
                );
                Ok(ExitCode::SUCCESS)
            }
            RemindersCommand::Plan { at } => {
                let at = parse_instant(at)?;
                let app = startup::prepare(settings, Arc::new(epro::clock::ManualClock::new(at)))
                    .await
                    .map_err(|e| e.to_string())?;
                let list = epro::reminders::decisions(&app, at)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("as at {at}: {} reminder decisions", list.len());
                for d in list {
                    let (what, kind, due) = match d.decision {
                        epro::domain::reminders::Decision::Send { kind, due_at } => {
                            ("send", kind, due_at)
                        }
                        epro::domain::reminders::Decision::Skip { kind, due_at } => {
                            ("skip", kind, due_at)
                        }
                    };
                    println!(
                        "{what:<5} {:<16} {:<5} {:<12} due {}",
                        d.study_id,
                        d.visit,
                        kind,
                        due.with_timezone(&app.study.time_zone)
                            .format("%Y-%m-%d %H:%M %:z")
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
        },
        Command::Scores {
            command: ScoresCommand::Recompute { scoring },
        } => {
            let app = startup::prepare(settings, clock)
                .await
                .map_err(|e| e.to_string())?;
            let n = epro::responses::recompute_scores(&app, &scoring)
                .await
                .map_err(|e| e.to_string())?;
            println!("scored {n} responses with {scoring}");
            Ok(ExitCode::SUCCESS)
        }
        Command::User {
            command: UserCommand::Create { email, role, sites },
        } => {
            let app = startup::prepare(settings, clock)
                .await
                .map_err(|e| e.to_string())?;
            let (user, password) = users::create_from_cli(&app, &email, &role, sites)
                .await
                .map_err(|e| e.to_string())?;
            println!("created {} account {}", user.role, user.id);
            println!("one-time password (shown once; must be changed at first login): {password}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Archive {
            command: Some(ArchiveCommand::Verify { file, public_key }),
            ..
        } => {
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            match epro::archive::verify(&bytes, public_key.as_deref()) {
                Ok(v) => {
                    println!(
                        "OK: {} — site {} of {}, made {}, {} files, signed by {}",
                        file.display(),
                        v.manifest.site,
                        v.manifest.study,
                        v.manifest.created_at.to_rfc3339(),
                        v.manifest.files.len(),
                        v.manifest.public_key
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("FAILED: {}: {e}", file.display());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Archive {
            command: Some(ArchiveCommand::PublicKey),
            ..
        } => {
            let keys = Keys::resolve(&settings).map_err(|e| e.to_string())?;
            let key = ed25519_dalek::SigningKey::from_bytes(keys.archive.bytes());
            println!("{}", hex::encode(key.verifying_key().as_bytes()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Archive {
            command: None,
            site,
            out,
        } => {
            let site = site.ok_or("give --site CODE (or: epro archive verify FILE)")?;
            let app = startup::prepare(settings, clock)
                .await
                .map_err(|e| e.to_string())?;
            let bytes = epro::archive::build(app.clone(), &site)
                .await
                .map_err(|e| e.to_string())?;
            let out = out.unwrap_or_else(|| {
                std::path::PathBuf::from(format!(
                    "epro-archive-{site}-{}.tar",
                    app.clock.now().format("%Y%m%dT%H%M%SZ")
                ))
            });
            std::fs::write(&out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
            println!(
                "wrote {} ({} bytes), signed by {}",
                out.display(),
                bytes.len(),
                epro::archive::public_key_hex(&app)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Participants {
            command: ParticipantsCommand::PurgeContactData { reason, yes },
        } => {
            if !yes {
                return Err(
                    "this erases every participant's email and phone number for good; \
                            add --yes to confirm"
                        .into(),
                );
            }
            let app = startup::prepare(settings, clock)
                .await
                .map_err(|e| e.to_string())?;
            let n = epro::participants::purge_contact_data(&app, &reason)
                .await
                .map_err(|e| e.to_string())?;
            println!("erased the contact details of {n} participants");
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys {
            command: KeysCommand::RotateDataKey,
        } => {
            let new = std::env::var("EPRO_NEW_DATA_KEY")
                .map_err(|_| "set EPRO_NEW_DATA_KEY (64 hex characters) to the new key")?;
            let new =
                epro::keys::Key::parse_hex("EPRO_NEW_DATA_KEY", &new).map_err(|e| e.to_string())?;
            let app = startup::prepare(settings, clock)
                .await
                .map_err(|e| e.to_string())?;
            let n = epro::participants::rotate_data_key(&app, &new)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "re-encrypted the contact details of {n} participants; now set EPRO_DATA_KEY to \
                 the new key and restart every instance"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys {
            command: KeysCommand::RotateAuditKey,
        } => {
            let new = std::env::var("EPRO_NEW_AUDIT_KEY")
                .map_err(|_| "set EPRO_NEW_AUDIT_KEY (64 hex characters) to the new key")?;
            let new = epro::keys::Key::parse_hex("EPRO_NEW_AUDIT_KEY", &new)
                .map_err(|e| e.to_string())?;
            let keys = Keys::resolve(&settings).map_err(|e| e.to_string())?;
            if new.bytes() == keys.audit.bytes() {
                return Err("EPRO_NEW_AUDIT_KEY is the same as EPRO_AUDIT_KEY".into());
            }
            let db = store::connect(&settings.database_url)
                .await
                .map_err(|e| e.to_string())?;
            audit::rotate_key(&db, &keys.audit, &new, epro::clock::Clock::now(&*clock))
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "the audit chain now expects EPRO_AUDIT_KEY = the new key: restart every instance \
                 with it, and set EPRO_AUDIT_KEYS_RETIRED to the old key for epro audit verify"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { out } => {
            if out.exists() {
                return Err(format!("{} exists; choose a new file", out.display()));
            }
            if settings.database_url.starts_with("postgres") {
                let status = std::process::Command::new("pg_dump")
                    .args(["--format=custom", "--no-owner", "--file"])
                    .arg(&out)
                    .arg(&settings.database_url)
                    .status()
                    .map_err(|e| format!("pg_dump could not be started ({e}); install the PostgreSQL client tools"))?;
                if !status.success() {
                    return Err(format!("pg_dump failed ({status})"));
                }
            } else {
                let db = store::connect(&settings.database_url)
                    .await
                    .map_err(|e| e.to_string())?;
                store::backup_sqlite(&db, &out)
                    .await
                    .map_err(|e| format!("backup failed: {e}"))?;
            }
            println!("wrote {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let keys = Keys::resolve(&settings).map_err(|e| e.to_string())?;
            let db = store::connect(&settings.database_url)
                .await
                .map_err(|e| e.to_string())?;
            let retired = settings
                .audit_keys_retired
                .as_ref()
                .map(|s| {
                    s.expose()
                        .split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(|k| epro::keys::Key::parse_hex("EPRO_AUDIT_KEYS_RETIRED", k))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()
                .map_err(|e| e.to_string())?
                .unwrap_or_default();
            match audit::verify_with_history(&db, &retired, &keys.audit)
                .await
                .map_err(|e| e.to_string())?
            {
                Verdict::Intact { events } => {
                    let (seq, hash) = audit::head(&db).await.map_err(|e| e.to_string())?;
                    println!("OK: audit chain intact, {events} events, head {seq} {hash}");
                    match audit::verify_responses(&db)
                        .await
                        .map_err(|e| e.to_string())?
                    {
                        audit::ResponsesVerdict::Match { checked, unbound } => {
                            println!(
                                "OK: {checked} submitted responses match their audit events \
                                 ({unbound} submitted before answer digests were recorded)"
                            );
                            Ok(ExitCode::SUCCESS)
                        }
                        audit::ResponsesVerdict::Differs { response, problem } => {
                            println!("BROKEN: response {response} {problem}");
                            Ok(ExitCode::FAILURE)
                        }
                    }
                }
                Verdict::Broken(broken) => {
                    println!("BROKEN: audit event {} — {}", broken.seq, broken.problem);
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

fn questionnaires_command(
    settings: &Settings,
    command: QuestionnairesCommand,
) -> Result<ExitCode, String> {
    use epro::{domain::questionnaire::fhir, questionnaires};
    match command {
        QuestionnairesCommand::Check { dir } => {
            let dir = dir.unwrap_or_else(|| settings.questionnaires_dir.clone());
            let library =
                questionnaires::load_checked(&dir, settings.licensed_text_dir.as_deref(), None)
                    .map_err(|e| e.to_string())?;
            for v in library.versions() {
                let kinds: Vec<String> = v
                    .definition
                    .languages
                    .iter()
                    .map(|l| {
                        let kind =
                            questionnaires::wording_kind(v, l).map_or("none", |k| k.as_str());
                        format!("{l}:{kind}")
                    })
                    .collect();
                println!(
                    "ok {} {} — {} items, scoring {}, wording {}",
                    v.definition.key,
                    v.definition.version,
                    v.definition.item_count(),
                    v.scorings
                        .keys()
                        .map(|n| format!("scoring-{n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    kinds.join(" ")
                );
            }
            println!(
                "OK: {} questionnaire versions match {}",
                library.versions().count(),
                questionnaires::LOCK_FILE
            );
            Ok(ExitCode::SUCCESS)
        }
        QuestionnairesCommand::Publish { dir } => {
            let dir = dir.unwrap_or_else(|| settings.questionnaires_dir.clone());
            let added = questionnaires::publish(&dir).map_err(|e| e.to_string())?;
            for e in &added {
                println!("published {}", e.line());
            }
            println!(
                "{} new entries in {}",
                added.len(),
                dir.join(questionnaires::LOCK_FILE).display()
            );
            Ok(ExitCode::SUCCESS)
        }
        QuestionnairesCommand::Fhir { out, lang } => {
            let library = questionnaires::load_checked(
                &settings.questionnaires_dir,
                settings.licensed_text_dir.as_deref(),
                None,
            )
            .map_err(|e| e.to_string())?;
            std::fs::create_dir_all(&out)
                .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
            for v in library.versions() {
                let language = lang
                    .clone()
                    .unwrap_or_else(|| v.definition.languages[0].clone());
                let wording = lang.as_ref().and_then(|l| v.wording(l));
                let resource =
                    fhir::questionnaire(&v.definition, wording, &settings.base_url, &language);
                let path = out.join(format!(
                    "{}-{}.{language}.json",
                    v.definition.key, v.definition.version
                ));
                let text = serde_json::to_string_pretty(&resource).map_err(|e| e.to_string())?;
                std::fs::write(&path, text)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                println!("wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn parse_instant(at: Option<String>) -> Result<chrono::DateTime<chrono::Utc>, String> {
    match at {
        None => Ok(epro::clock::Clock::now(&SystemClock)),
        Some(s) => chrono::DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|_| {
                format!("--at: {s:?} is not an RFC 3339 instant such as 2026-03-01T10:00:00+01:00")
            }),
    }
}

fn print_schedule(
    tz: chrono_tz::Tz,
    at: chrono::DateTime<chrono::Utc>,
    rows: &[(String, epro::domain::schedule::Window, &str, bool)],
) {
    use epro::domain::schedule::local_date;
    let day = |t: Option<chrono::DateTime<chrono::Utc>>, back: u64| {
        t.and_then(|t| local_date(tz, t).checked_sub_days(chrono::Days::new(back)))
            .map_or_else(|| "(until randomization)".to_string(), |d| d.to_string())
    };
    println!(
        "as at {} ({tz})",
        at.with_timezone(&tz).format("%Y-%m-%d %H:%M %:z")
    );
    println!(
        "{:<6} {:<10} {:<10} {:<21} {:<21} {:<15} SSE",
        "visit", "target", "opens", "last day", "grace until", "state"
    );
    for (code, w, state, sse) in rows {
        println!(
            "{:<6} {:<10} {:<10} {:<21} {:<21} {:<15} {}",
            code,
            w.target,
            local_date(tz, w.start),
            day(w.end, 1),
            day(w.grace_end, 1),
            state,
            if *sse { "yes" } else { "" }
        );
    }
}

async fn schedule_command(
    settings: Settings,
    command: ScheduleCommand,
) -> Result<ExitCode, String> {
    use epro::domain::schedule;
    match command {
        ScheduleCommand::Simulate {
            randomized,
            sse,
            at,
        } => {
            let study = epro::study::load(&settings.study_file).map_err(|e| e.to_string())?;
            let r = epro::participants::parse_date("--randomized", &randomized)
                .map_err(|e| e.to_string())?;
            let sse = sse
                .map(|d| epro::participants::parse_date("--sse", &d))
                .transpose()
                .map_err(|e| e.to_string())?;
            let at = parse_instant(at)?;
            let rows: Vec<_> = schedule::simulate(&study.protocol, r, sse, at)
                .into_iter()
                .map(|s| (s.code, s.window, s.state.as_str(), s.sse_triggered))
                .collect();
            print_schedule(study.time_zone, at, &rows);
            Ok(ExitCode::SUCCESS)
        }
        ScheduleCommand::Show { study_id, at } => {
            let at = parse_instant(at)?;
            let app = startup::prepare(settings, Arc::new(epro::clock::ManualClock::new(at)))
                .await
                .map_err(|e| e.to_string())?;
            let visits = epro::participants::schedule_as_of(&app, &study_id)
                .await
                .map_err(|e| e.to_string())?;
            let rows: Vec<_> = visits
                .into_iter()
                .map(|v| (v.code, v.window, v.state.as_str(), v.sse_triggered))
                .collect();
            println!("{study_id}");
            print_schedule(app.study.time_zone, at, &rows);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Printed once, on stdout (never into the logs).
fn print_bootstrap(email: &str, one_time_password: Option<&str>) {
    println!("================================================================");
    println!(" epro created the first admin account");
    println!("   email:    {email}");
    match one_time_password {
        Some(p) => {
            println!("   password: {p}");
            println!(" This one-time password is shown only now. Log in and change it");
            println!(" (PUT /api/v1/auth/password) before anything else.");
        }
        None => println!("   password: the one in EPRO_BOOTSTRAP_ADMIN_PASSWORD"),
    }
    println!("================================================================");
}

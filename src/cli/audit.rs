//! `epro audit verify`.

use std::process::ExitCode;

use clap::Subcommand;
use epro::{
    audit::{self, ResponsesVerdict, Verdict},
    config::Settings,
    keys::{Key, Keys},
    store,
};

use super::Outcome;

#[derive(Subcommand)]
pub enum Command {
    /// Check the whole chain with EPRO_AUDIT_KEY (and EPRO_AUDIT_KEYS_RETIRED); name the first
    /// broken event; then check every submitted response against its audit event.
    Verify,
}

pub async fn run(settings: Settings, command: Command) -> Outcome {
    match command {
        Command::Verify => verify(settings).await,
    }
}

async fn verify(settings: Settings) -> Outcome {
    let db = store::connect(&settings.database_url).await?;
    Ok(if check(&settings, &db).await? {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Check the chain and the responses against it, printing `OK` or `BROKEN` lines: whether all
/// holds (also the restore's last step).
pub(super) async fn check(settings: &Settings, db: &store::Db) -> anyhow::Result<bool> {
    let keys = Keys::resolve(settings)?;
    let retired = settings
        .audit_keys_retired
        .as_ref()
        .map(|s| {
            s.expose()
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| Key::parse_hex("EPRO_AUDIT_KEYS_RETIRED", k))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    match audit::verify_with_history(db, &retired, &keys.audit).await? {
        Verdict::Intact { events } => {
            let (seq, hash) = audit::head(db).await?;
            println!("OK: audit chain intact, {events} events, head {seq} {hash}");
        }
        Verdict::Broken(broken) => {
            println!("BROKEN: audit event {} — {}", broken.seq, broken.problem);
            return Ok(false);
        }
    }
    match audit::verify_responses(db).await? {
        ResponsesVerdict::Match {
            checked,
            answers_only,
            unbound,
        } => {
            println!(
                "OK: {checked} submitted responses match their audit events \
                 ({answers_only} recorded before their columns and scores were bound: answers \
                 only; {unbound} submitted before answer digests were recorded)"
            );
            Ok(true)
        }
        ResponsesVerdict::Differs { response, problem } => {
            println!("BROKEN: response {response} {problem}");
            Ok(false)
        }
    }
}

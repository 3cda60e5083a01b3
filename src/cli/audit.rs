//! `epro audit verify | public-key | checkpoint | checkpoints | prove`.

use std::{path::PathBuf, process::ExitCode};

use clap::Subcommand;
use epro::{
    audit::{self, LedgerVerdict, ResponsesVerdict, RowsVerdict, Verdict},
    clock::{Clock, SystemClock},
    config::Settings,
    domain::ledger,
    keys::{Key, Keys},
    store,
};

use super::Outcome;

#[derive(Subcommand)]
pub enum Command {
    /// Check the whole chain with EPRO_AUDIT_KEY (and EPRO_AUDIT_KEYS_RETIRED); name the first
    /// broken event; then check every submitted response against its audit event. With
    /// --public-key, check the log against its signed checkpoints instead, with no secret.
    Verify {
        /// A checkpoint public key (64 hex characters, from `epro audit public-key`); repeat it
        /// for keys used before a rotation. No secret key is read.
        #[arg(long = "public-key", value_name = "HEX")]
        public_keys: Vec<String>,
        /// Checkpoints kept from earlier (JSON lines of `epro audit checkpoints`, or the JSON
        /// array of GET /api/v1/audit/checkpoints): a log rewritten since fails against them.
        #[arg(long, value_name = "FILE")]
        checkpoints: Option<PathBuf>,
    },
    /// Print the public key of the checkpoint key (EPRO_CHECKPOINT_KEY), hex.
    PublicKey,
    /// Sign a checkpoint of the log now if it grew (the server does this on every jobs tick).
    Checkpoint,
    /// Print the signed checkpoints, one JSON object a line, smallest first.
    Checkpoints,
    /// Write inclusion proofs of one participant's events and a consistency proof between the
    /// first and the last checkpoint into DIR (docs/audit-ledger.md says how to check them).
    Prove {
        #[arg(long, value_name = "ID")]
        participant: String,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

pub async fn run(settings: Settings, command: Command) -> Outcome {
    match command {
        Command::Verify {
            public_keys,
            checkpoints,
        } if !public_keys.is_empty() => verify_public(settings, &public_keys, checkpoints).await,
        Command::Verify { checkpoints, .. } => {
            if checkpoints.is_some() {
                anyhow::bail!("--checkpoints needs --public-key");
            }
            verify(settings).await
        }
        Command::PublicKey => {
            let seed = checkpoint_key(&settings)?;
            println!("{}", ledger::public_key_hex(seed.bytes()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Checkpoint => {
            let seed = checkpoint_key(&settings)?;
            let db = store::connect(&settings.database_url).await?;
            // Checkpoints cover sequenced events: number those committed so far first.
            let keys = Keys::resolve(&settings)?;
            let retired = audit::retired_keys(&settings)?;
            audit::sequence(&db, &keys.audit, &retired, SystemClock.now(), true).await?;
            match audit::checkpoint(&db, &seed, SystemClock.now()).await? {
                Some(size) => println!("signed a checkpoint of {size} events"),
                None => println!("no new events since the last checkpoint"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Checkpoints => {
            let db = store::connect(&settings.database_url).await?;
            for c in checkpoint_objects(&db).await? {
                println!("{c}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Prove { participant, out } => {
            let db = store::connect(&settings.database_url).await?;
            let written = audit::prove(&db, &participant, &out).await?;
            println!(
                "wrote {} inclusion proofs for {participant} into {}",
                written,
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn checkpoint_key(settings: &Settings) -> anyhow::Result<Key> {
    Keys::resolve(settings)?.checkpoint.ok_or_else(|| {
        anyhow::anyhow!(
            "EPRO_CHECKPOINT_KEY is not set: set it (64 hex characters, `openssl rand -hex 32`) \
             to sign checkpoints"
        )
    })
}

/// The stored checkpoints as published (the API's fields): size, root, time, public key, note.
async fn checkpoint_objects(db: &store::Db) -> anyhow::Result<Vec<serde_json::Value>> {
    Ok(audit::checkpoints(db)
        .await?
        .into_iter()
        .map(|(c, public_key)| audit::checkpoint_json(&c, &public_key))
        .collect())
}

/// Read checkpoints an auditor kept: JSON lines or a JSON array of objects with a `note`.
fn read_checkpoints(path: &std::path::Path) -> anyhow::Result<Vec<ledger::Signed>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let objects: Vec<serde_json::Value> = match serde_json::from_str(&text) {
        Ok(serde_json::Value::Array(a)) => a,
        _ => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("{}: not JSON lines: {e}", path.display()))?,
    };
    objects
        .iter()
        .map(|o| {
            let note = o["note"].as_str().unwrap_or_default();
            ledger::parse_signed_note(note)
                .map(|(checkpoint, signature)| ledger::Signed {
                    checkpoint,
                    signature,
                })
                .ok_or_else(|| {
                    anyhow::anyhow!("{}: a checkpoint note does not parse", path.display())
                })
        })
        .collect()
}

async fn verify_public(
    settings: Settings,
    public_keys: &[String],
    kept: Option<PathBuf>,
) -> Outcome {
    let keys = public_keys
        .iter()
        .map(|k| {
            ledger::parse_public_key(k).ok_or_else(|| {
                anyhow::anyhow!(
                    "--public-key {k:?} is not 64 hex characters of an Ed25519 public key"
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let extra = kept
        .as_deref()
        .map(read_checkpoints)
        .transpose()?
        .unwrap_or_default();
    let db = store::connect(&settings.database_url).await?;
    let mut found = vec![ledger_finding(&db, &keys, extra).await?];
    if found[0].0 {
        found.push(responses_finding(&db).await?);
        found.push(rows_finding(&db).await?);
        found.push(unsequenced_finding(&db, settings.audit_unsequenced_max_seconds, &[]).await?);
    }
    let ok = print(&found);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The log against its checkpoints, with public keys only.
pub(super) async fn ledger_finding(
    db: &store::Db,
    keys: &[ed25519_dalek::VerifyingKey],
    extra: Vec<ledger::Signed>,
) -> anyhow::Result<(bool, String)> {
    Ok(match audit::verify_ledger(db, keys, extra).await? {
        LedgerVerdict::Intact {
            events,
            covered,
            checkpoints,
        } => {
            if events > 0 && checkpoints == 0 {
                (
                    false,
                    format!("no signed checkpoint covers the {events} audit events"),
                )
            } else {
                (
                    true,
                    format!(
                        "audit log matches its {checkpoints} signed checkpoints; {events} events, \
                         {covered} covered by the latest checkpoint"
                    ),
                )
            }
        }
        LedgerVerdict::Broken { at, problem } => (false, format!("audit log at {at} — {problem}")),
    })
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
    Ok(print(&findings(settings, db).await?))
}

/// What checking the audit trail finds, line by line (`true`: holds); it stops at the first
/// break (the installation check reports these lines too).
pub(super) async fn findings(
    settings: &Settings,
    db: &store::Db,
) -> anyhow::Result<Vec<(bool, String)>> {
    let keys = Keys::resolve(settings)?;
    let retired = audit::retired_keys(settings)?;
    // With the key, number the events committed so far first (as the sequencer would), so
    // the whole log is checked; those it refuses are named below.
    let refused = audit::sequence(db, &keys.audit, &retired, SystemClock.now(), true)
        .await?
        .refused;
    let mut out = Vec::new();
    match audit::verify_with_history(db, &retired, &keys.audit).await? {
        Verdict::Intact { events } => {
            let (seq, hash) = audit::head(db).await?;
            out.push((
                true,
                format!("audit chain intact, {events} events, head {seq} {hash}"),
            ));
        }
        Verdict::Broken(broken) => {
            out.push((
                false,
                format!("audit event {} — {}", broken.seq, broken.problem),
            ));
            return Ok(out);
        }
    }
    // The checkpoints against the log, when this deployment has signed any (an older database
    // has none yet). The chain above already proved the events with the secret key, so the
    // checkpoints' own public keys (current and rotated out) are trusted here; an inspector
    // uses `--public-key` with keys received out of band.
    let stored = audit::checkpoints(db).await?;
    if !stored.is_empty() {
        let keys = audit::signers(&stored);
        let ledger = ledger_finding(db, &keys, Vec::new()).await?;
        let holds = ledger.0;
        out.push(ledger);
        if !holds {
            return Ok(out);
        }
    }
    out.push(responses_finding(db).await?);
    out.push(rows_finding(db).await?);
    out.push(unsequenced_finding(db, settings.audit_unsequenced_max_seconds, &refused).await?);
    Ok(out)
}

/// The events not sequenced yet (#29.2), never silently left out: BROKEN when the sequencer
/// refused one (its content does not match its content hash); otherwise counted, and the oldest
/// named when it has waited longer than `max_seconds` (no sequencer ran since — a liveness
/// matter for /readyz and the metric, not a sign of tampering: the line stays OK).
async fn unsequenced_finding(
    db: &store::Db,
    max_seconds: u64,
    refused: &[i64],
) -> anyhow::Result<(bool, String)> {
    if let Some(id) = refused.first() {
        return Ok((
            false,
            format!(
                "audit event row {id} (and {} more) cannot be sequenced: its content does not \
                 match its content hash (edited, or inserted without the audit key)",
                refused.len() - 1
            ),
        ));
    }
    let u = audit::unsequenced(db, SystemClock.now()).await?;
    Ok(match u.oldest {
        None => (true, "every audit event is sequenced".into()),
        Some((id, waited)) if waited > max_seconds as i64 => (
            true,
            format!(
                "{} audit events are not sequenced yet, so no checkpoint covers them; the \
                 oldest, row {id}, has waited {waited} s (more than \
                 EPRO_AUDIT_UNSEQUENCED_MAX_SECONDS = {max_seconds}): no sequencer ran since — \
                 start `epro serve` or run `epro audit verify` with the key",
                u.count
            ),
        ),
        Some((_, waited)) => (
            true,
            format!(
                "{} audit events committed in the last {waited} s are not sequenced yet (not \
                 covered above; the sequencer numbers them within a second)",
                u.count
            ),
        ),
    })
}

/// Print findings as `OK` or `BROKEN` lines; whether all hold.
fn print(found: &[(bool, String)]) -> bool {
    for (ok, line) in found {
        println!("{}: {line}", if *ok { "OK" } else { "BROKEN" });
    }
    found.iter().all(|(ok, _)| *ok)
}

/// Every stored row of the bound tables (participants…) against its audit events.
async fn rows_finding(db: &store::Db) -> anyhow::Result<(bool, String)> {
    Ok(match audit::verify_rows(db).await? {
        RowsVerdict::Match { checked, unbound } => {
            let unbound: Vec<String> = unbound
                .iter()
                .map(|(table, n)| format!("{n} {table}"))
                .collect();
            let unbound = if unbound.is_empty() {
                String::new()
            } else {
                format!(
                    "; not bound (written before row facts were recorded): {}",
                    unbound.join(", ")
                )
            };
            (
                true,
                format!("{checked} stored rows match their audit events{unbound}"),
            )
        }
        RowsVerdict::Differs { table, id, problem } => (false, format!("{table} {id} {problem}")),
    })
}

/// Every submitted response against its audit events.
async fn responses_finding(db: &store::Db) -> anyhow::Result<(bool, String)> {
    Ok(match audit::verify_responses(db).await? {
        ResponsesVerdict::Match {
            checked,
            answers_only,
            unbound,
        } => (
            true,
            format!(
                "{checked} submitted responses match their audit events \
                 ({answers_only} recorded before their columns and scores were bound: answers \
                 only; {unbound} submitted before answer digests were recorded)"
            ),
        ),
        ResponsesVerdict::Differs { response, problem } => {
            (false, format!("response {response} {problem}"))
        }
    })
}

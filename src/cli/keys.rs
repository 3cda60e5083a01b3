//! `epro keys rotate-data-key|rotate-audit-key`.

use std::{process::ExitCode, sync::Arc};

use anyhow::{Context, bail};
use clap::Subcommand;
use epro::{
    audit,
    clock::{Clock, SystemClock},
    config::Settings,
    keys::{Key, Keys},
    store,
};

use super::{Outcome, prepare};

#[derive(Subcommand)]
pub enum Command {
    /// Re-encrypt all contact details from EPRO_DATA_KEY to EPRO_NEW_DATA_KEY (set in the
    /// environment, never on the command line), in one transaction; then restart with
    /// EPRO_DATA_KEY set to the new key. See docs/operations.md.
    RotateDataKey,
    /// Hand the audit chain over to EPRO_NEW_AUDIT_KEY: one event, hashed with the current key,
    /// names the new key. Then restart with EPRO_AUDIT_KEY = the new key and verify with
    /// EPRO_AUDIT_KEYS_RETIRED = the old one. See docs/operations.md.
    RotateAuditKey,
}

fn new_key(var: &str) -> anyhow::Result<Key> {
    let hex = std::env::var(var)
        .with_context(|| format!("set {var} (64 hex characters) to the new key"))?;
    Ok(Key::parse_hex(var, &hex)?)
}

pub async fn run(settings: Settings, command: Command) -> Outcome {
    match command {
        Command::RotateDataKey => {
            let new = new_key("EPRO_NEW_DATA_KEY")?;
            let app = prepare(settings).await?;
            let n = epro::participants::rotate_data_key(&app, &new).await?;
            println!(
                "re-encrypted the contact details of {n} participants; now set EPRO_DATA_KEY to \
                 the new key and restart every instance"
            );
        }
        Command::RotateAuditKey => {
            let new = new_key("EPRO_NEW_AUDIT_KEY")?;
            let keys = Keys::resolve(&settings)?;
            if new.bytes() == keys.audit.bytes() {
                bail!("EPRO_NEW_AUDIT_KEY is the same as EPRO_AUDIT_KEY");
            }
            let db = store::connect(&settings.database_url).await?;
            let clock = Arc::new(SystemClock);
            audit::rotate_key(&db, &keys.audit, &new, clock.now()).await?;
            println!(
                "the audit chain now expects EPRO_AUDIT_KEY = the new key: restart every instance \
                 with it, and set EPRO_AUDIT_KEYS_RETIRED to the old key for epro audit verify"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `epro participants purge-contact-data`.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use epro::config::Settings;

use super::{Outcome, prepare};

#[derive(Subcommand)]
pub enum Command {
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

pub async fn run(settings: Settings, command: Command) -> Outcome {
    match command {
        Command::PurgeContactData { reason, yes } => {
            if !yes {
                bail!(
                    "this erases every participant's email and phone number for good; \
                     add --yes to confirm"
                );
            }
            let app = prepare(settings).await?;
            let n = epro::participants::purge_contact_data(&app, &reason).await?;
            println!("erased the contact details of {n} participants");
        }
    }
    Ok(ExitCode::SUCCESS)
}

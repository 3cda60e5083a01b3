//! `epro scores recompute`.

use std::process::ExitCode;

use clap::Subcommand;
use epro::config::Settings;

use super::{Outcome, prepare};

#[derive(Subcommand)]
pub enum Command {
    /// Apply a scoring file to every submitted response of its questionnaire version that lacks
    /// it (audited). Earlier scores stay; each names the scoring file it came from.
    Recompute {
        /// <key>/<version>/scoring-<n>, e.g. eortc-qlq-c30/3.0/scoring-2.
        #[arg(long)]
        scoring: String,
    },
}

pub async fn run(settings: Settings, command: Command) -> Outcome {
    match command {
        Command::Recompute { scoring } => {
            let app = prepare(settings).await?;
            let n = epro::answering::recompute_scores(&app, &scoring).await?;
            println!("scored {n} responses with {scoring}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

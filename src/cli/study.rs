//! `epro study check`.

use std::{path::PathBuf, process::ExitCode};

use clap::Subcommand;
use epro::config::Settings;

use super::Outcome;

#[derive(Subcommand)]
pub enum Command {
    /// Validate a study file and exit (default: the configured EPRO_STUDY_FILE). Errors name
    /// the file and the field.
    Check {
        /// Path of the study file.
        file: Option<PathBuf>,
    },
}

pub fn run(settings: &Settings, command: Command) -> Outcome {
    match command {
        Command::Check { file } => {
            let path = file.unwrap_or_else(|| settings.study_file.clone());
            let study = epro::study::load(&path)?;
            println!(
                "OK: {} — {} sites, languages {}, time zone {}, sha256 {}",
                study.id,
                study.sites.len(),
                study.languages.join(", "),
                study.time_zone,
                study.sha256
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

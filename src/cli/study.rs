//! `epro study check`.

use std::{path::PathBuf, process::ExitCode};

use clap::Subcommand;
use epro::config::Settings;

use super::Outcome;

#[derive(Subcommand)]
pub enum Command {
    /// Validate a study file and exit (default: the configured EPRO_STUDY_FILE): its fields,
    /// that every language has complete page, email and SMS texts (as `epro texts check`), and that every questionnaire it asks is a
    /// published version (in EPRO_QUESTIONNAIRES_DIR) with wording in every study language.
    /// Errors name the file and the field.
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
            let texts = epro::texts::Texts::load(settings.texts_dir.as_deref())?;
            epro::study::check_languages(&study, &path, &texts)?;
            let library = epro::questionnaires::load_checked(
                &settings.questionnaires_dir,
                settings.licensed_text_dir.as_deref(),
                None,
            )?;
            epro::study::check_questionnaires(&study, &path, &library)?;
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

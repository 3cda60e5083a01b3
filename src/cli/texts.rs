//! `epro texts check`: the translator's check of the page, email and SMS texts.

use std::{path::PathBuf, process::ExitCode};

use clap::Subcommand;
use epro::{config::Settings, texts::Texts};

use super::Outcome;

#[derive(Subcommand)]
pub enum Command {
    /// Check the texts (built in, plus EPRO_TEXTS_DIR or --dir) of each language against the
    /// source language (en): keys missing and extra, variables that differ from the source's,
    /// plural forms the language needs (CLDR) that a message selecting on a count lacks. Prints
    /// one line per finding and `OK <lang>` per complete language on stdout; exits 1 when a
    /// language has keys missing or a problem (extra keys are reported, not refused).
    Check {
        /// Folder of `<lang>/*.ftl` files (default: EPRO_TEXTS_DIR).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Languages to check (default: every language with texts).
        languages: Vec<String>,
    },
}

pub fn run(settings: &Settings, command: Command) -> Outcome {
    match command {
        Command::Check { dir, languages } => {
            let dir = dir.or_else(|| settings.texts_dir.clone());
            let texts = Texts::load(dir.as_deref())?;
            let languages = if languages.is_empty() {
                texts.languages()
            } else {
                languages
            };
            let mut failed = false;
            for lang in &languages {
                let report = texts.check(lang);
                for line in report.lines() {
                    println!("{line}");
                }
                if report.ok() {
                    println!("OK {lang}");
                } else {
                    failed = true;
                    println!("FAILED {lang}");
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

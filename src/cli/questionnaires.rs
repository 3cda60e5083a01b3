//! `epro questionnaires check|publish|fhir`.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Subcommand;
use epro::{config::Settings, domain::questionnaire::fhir, questionnaires};

use super::Outcome;

#[derive(Subcommand)]
pub enum Command {
    /// Check every definition, text pack and scoring file, and published.lock. Errors name
    /// the file and the JSON pointer. Default folder: EPRO_QUESTIONNAIRES_DIR.
    Check { dir: Option<PathBuf> },
    /// Add new versions to published.lock (entries already there never change).
    Publish { dir: Option<PathBuf> },
    /// Write each version as a FHIR R4 Questionnaire (<key>-<version>.<lang>.json) into OUT.
    Fhir {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Include the wording of this language (default: structure only, no wording).
        #[arg(long)]
        lang: Option<String>,
    },
}

pub fn run(settings: &Settings, command: Command) -> Outcome {
    match command {
        Command::Check { dir } => check(settings, dir),
        Command::Publish { dir } => {
            let dir = dir.unwrap_or_else(|| settings.questionnaires_dir.clone());
            let added = questionnaires::publish(&dir)?;
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
        Command::Fhir { out, lang } => write_fhir(settings, &out, lang),
    }
}

fn check(settings: &Settings, dir: Option<PathBuf>) -> Outcome {
    let dir = dir.unwrap_or_else(|| settings.questionnaires_dir.clone());
    let library = questionnaires::load_checked(&dir, settings.licensed_text_dir.as_deref(), None)?;
    for v in library.versions() {
        let kinds: Vec<String> = v
            .definition
            .languages
            .iter()
            .map(|l| {
                let kind = questionnaires::wording_kind(v, l).map_or("none", |k| k.as_str());
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

fn write_fhir(settings: &Settings, out: &std::path::Path, lang: Option<String>) -> Outcome {
    let library = questionnaires::load_checked(
        &settings.questionnaires_dir,
        settings.licensed_text_dir.as_deref(),
        None,
    )?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for v in library.versions() {
        let language = lang
            .clone()
            .unwrap_or_else(|| v.definition.languages[0].clone());
        let wording = lang.as_ref().and_then(|l| v.wording(l));
        let resource = fhir::questionnaire(&v.definition, wording, &settings.base_url, &language);
        let path = out.join(format!(
            "{}-{}.{language}.json",
            v.definition.key, v.definition.version
        ));
        let text = serde_json::to_string_pretty(&resource)?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

//! `epro questionnaires check|publish|fhir`.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Subcommand;
use epro::{config::Settings, domain::questionnaire::fhir, questionnaires};

use super::Outcome;

#[derive(Subcommand)]
pub enum Command {
    /// Check every definition, text pack and scoring file, and published.lock. Errors name
    /// the file and the JSON pointer. The folder is the root (default: EPRO_QUESTIONNAIRES_DIR),
    /// one instrument (<root>/<key>) or one version (<root>/<key>/<version>); a folder with no
    /// version in it is an error.
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

/// What a folder given to `questionnaires check` is: the root (every instrument), one
/// instrument (`<root>/<key>`) or one version (`<root>/<key>/<version>`).
fn scope_of(dir: &std::path::Path) -> (PathBuf, Option<String>, Option<String>, &'static str) {
    let name = |p: &std::path::Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let has_versions = |p: &std::path::Path| {
        std::fs::read_dir(p).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.path().join("definition.json").is_file())
        })
    };
    if dir.join("definition.json").is_file() {
        let instrument = dir.parent().unwrap_or(dir);
        let root = instrument.parent().unwrap_or(instrument);
        (root.to_path_buf(), name(instrument), name(dir), "version")
    } else if has_versions(dir) {
        (
            dir.parent().unwrap_or(dir).to_path_buf(),
            name(dir),
            None,
            "instrument",
        )
    } else {
        (dir.to_path_buf(), None, None, "root")
    }
}

fn no_version(dir: &std::path::Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: no questionnaire version found (expected <key>/<version>/definition.json under a \
         questionnaires root, an instrument folder or a version folder)",
        dir.display()
    )
}

fn check(settings: &Settings, dir: Option<PathBuf>) -> Outcome {
    let dir = dir.unwrap_or_else(|| settings.questionnaires_dir.clone());
    let (root, key, version, what) = scope_of(&dir);
    let any_version = std::fs::read_dir(&root).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            std::fs::read_dir(e.path()).is_ok_and(|inner| {
                inner
                    .flatten()
                    .any(|v| v.path().join("definition.json").is_file())
            })
        })
    });
    if !any_version {
        return Err(no_version(&dir));
    }
    let in_scope = |k: &str, v: &str| {
        key.as_deref().is_none_or(|x| x == k) && version.as_deref().is_none_or(|x| x == v)
    };
    let library = questionnaires::load_checked_within(
        &root,
        settings.licensed_text_dir.as_deref(),
        None,
        &in_scope,
    )?;
    let wanted: Vec<_> = library
        .versions()
        .filter(|v| key.as_ref().is_none_or(|k| *k == v.definition.key))
        .filter(|v| version.as_ref().is_none_or(|x| *x == v.definition.version))
        .collect();
    if wanted.is_empty() {
        return Err(no_version(&dir));
    }
    for v in &wanted {
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
        "OK: checked {what} {} — {} questionnaire version(s), against {} in {} ({} versions there)",
        dir.display(),
        wanted.len(),
        questionnaires::LOCK_FILE,
        root.display(),
        library.versions().count(),
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

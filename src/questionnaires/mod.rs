//! The questionnaire library: loads every `<key>/<version>/` folder (definition, text packs,
//! scoring files) plus the licensed packs a deployment installed, checks them all (every error
//! with file and JSON pointer), holds them immutable by `published.lock` and by the hashes the
//! database recorded, and resolves the wording a reader may see.

mod load;
mod lock;
mod wording;

pub use load::{changed_since_recorded, load_checked, load_checked_within, register};
use load::{format_errors, load_version};
use lock::name_of;
pub use lock::{LockEntry, check_lock, parse_lock, publish};
pub use wording::{Reader, Resolved, find, resolve, score, structure, wording_kind};

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use crate::{
    domain::questionnaire::{Definition, FormatError, scoring::Scoring, text::Wording},
    error::Result,
};

pub const LOCK_FILE: &str = "published.lock";

/// One published version with everything that belongs to it.
#[derive(Debug, Clone)]
pub struct Version {
    pub definition: Definition,
    /// sha256 of the canonical definition: what published.lock and the database record.
    pub sha256: String,
    /// Scoring files by number, each with its own hash.
    pub scorings: BTreeMap<u32, (Scoring, String)>,
    /// Shipped wording (open or demo) by language.
    pub shipped: BTreeMap<String, Wording>,
    /// Licensed wording installed by this deployment, by language.
    pub licensed: BTreeMap<String, Wording>,
}

impl Version {
    /// The wording for a reader of `lang`, by BCP 47 lookup (`nl-NL` reads the `nl` pack; a
    /// `fr-CA` pack is read by `fr-CA` only): installed licensed wording before shipped.
    pub fn wording(&self, lang: &str) -> Option<&Wording> {
        fn lookup<'a>(packs: &'a BTreeMap<String, Wording>, lang: &str) -> Option<&'a Wording> {
            let tags: Vec<String> = packs.keys().cloned().collect();
            crate::texts::best_match(&tags, lang).and_then(|tag| packs.get(tag))
        }
        lookup(&self.licensed, lang).or_else(|| lookup(&self.shipped, lang))
    }

    /// The version's language a reader of `lang` gets (BCP 47 lookup), if any.
    pub fn language_for(&self, lang: &str) -> Option<&str> {
        crate::texts::best_match(&self.definition.languages, lang)
    }

    pub fn latest_scoring(&self) -> Option<&Scoring> {
        self.scorings.values().next_back().map(|(s, _)| s)
    }

    /// Lock entries: the definition, each scoring file and each shipped wording pack
    /// (`text-<lang>`).
    pub fn lock_entries(&self) -> Vec<LockEntry> {
        let mut out = vec![LockEntry {
            key: self.definition.key.clone(),
            version: self.definition.version.clone(),
            part: "definition".into(),
            sha256: self.sha256.clone(),
        }];
        for (n, (_, sha)) in &self.scorings {
            out.push(LockEntry {
                key: self.definition.key.clone(),
                version: self.definition.version.clone(),
                part: format!("scoring-{n}"),
                sha256: sha.clone(),
            });
        }
        for (lang, w) in &self.shipped {
            out.push(LockEntry {
                key: self.definition.key.clone(),
                version: self.definition.version.clone(),
                part: format!("text-{lang}"),
                sha256: w.sha256.clone(),
            });
        }
        out
    }
}

#[derive(Debug, Clone, Default)]
pub struct Library {
    pub dir: PathBuf,
    versions: BTreeMap<(String, String), Version>,
}

impl Library {
    pub fn get(&self, key: &str, version: &str) -> Option<&Version> {
        self.versions.get(&(key.to_string(), version.to_string()))
    }

    pub fn versions(&self) -> impl Iterator<Item = &Version> {
        self.versions.values()
    }

    /// Load and check everything under `dir`, plus licensed packs under `licensed_dir`.
    /// Returns every problem found, not just the first.
    pub fn load(dir: &Path, licensed_dir: Option<&Path>) -> Result<Self, Vec<FormatError>> {
        let mut errors = Vec::new();
        let mut versions = BTreeMap::new();
        let read_dir = |p: &Path| -> Vec<PathBuf> {
            let mut v: Vec<PathBuf> = fs::read_dir(p)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            v.sort();
            v
        };
        if !dir.is_dir() {
            return Err(vec![FormatError::new(
                &dir.display().to_string(),
                "",
                "not a folder of questionnaires",
            )]);
        }
        for key_dir in read_dir(dir).into_iter().filter(|p| p.is_dir()) {
            if key_dir.file_name().is_some_and(|n| n == "schema") {
                continue;
            }
            for version_dir in read_dir(&key_dir).into_iter().filter(|p| p.is_dir()) {
                match load_version(&version_dir, &key_dir, licensed_dir) {
                    Ok(v) => {
                        versions
                            .insert((v.definition.key.clone(), v.definition.version.clone()), v);
                    }
                    Err(mut e) => errors.append(&mut e),
                }
            }
        }
        if let Some(ldir) = licensed_dir {
            // A licensed pack for a version we do not have is a mistake worth naming.
            for key_dir in read_dir(ldir).into_iter().filter(|p| p.is_dir()) {
                for version_dir in read_dir(&key_dir).into_iter().filter(|p| p.is_dir()) {
                    let key = name_of(&key_dir);
                    let version = name_of(&version_dir);
                    if !versions.contains_key(&(key.clone(), version.clone())) {
                        errors.push(FormatError::new(
                            &version_dir.display().to_string(),
                            "",
                            format!("licensed wording for {key} {version}, which is not a published questionnaire"),
                        ));
                    }
                }
            }
        }
        errors.extend(scale_key_errors(dir, &versions));
        if errors.is_empty() {
            Ok(Self {
                dir: dir.to_path_buf(),
                versions,
            })
        } else {
            Err(errors)
        }
    }

    pub fn lock_entries(&self) -> Vec<LockEntry> {
        self.versions
            .values()
            .flat_map(Version::lock_entries)
            .collect()
    }
}

/// Two instruments whose scales would export under one scale key (`scores.csv`, the
/// dictionary): refused, naming both (#31.3).
fn scale_key_errors(
    dir: &Path,
    versions: &BTreeMap<(String, String), Version>,
) -> Vec<FormatError> {
    let scales: Vec<(&str, &str)> = versions
        .values()
        .flat_map(|v| {
            v.scorings.values().flat_map(move |(s, _)| {
                s.scales
                    .iter()
                    .map(|x| x.code.as_str())
                    .chain(s.summaries.iter().map(|x| x.code.as_str()))
                    .map(move |code| (v.definition.key.as_str(), code))
            })
        })
        .collect();
    crate::domain::questionnaire::scoring::scale_key_collisions(&scales)
        .into_iter()
        .map(|(key, (q1, c1), (q2, c2))| {
            FormatError::new(
                &dir.join(&q2).display().to_string(),
                "",
                format!(
                    "scale {c2} of {q2} and scale {c1} of {q1} would both be exported as {key}; \
                     rename one scale's code (scale keys are the questionnaire key and the code)"
                ),
            )
        })
        .collect()
}

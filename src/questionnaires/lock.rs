//! published.lock: the list of published versions and their hashes; `publish` adds new ones,
//! entries already there never change.

use std::{
    fs,
    path::{Path, PathBuf},
};

use serde_json::Value;

use super::{LOCK_FILE, Library, format_errors};
use crate::{
    domain::questionnaire::{FormatError, content_sha256},
    error::{Code, Error, Result},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockEntry {
    pub key: String,
    pub version: String,
    pub part: String,
    pub sha256: String,
}

impl LockEntry {
    pub fn line(&self) -> String {
        format!(
            "{} {} {} {}",
            self.key, self.version, self.part, self.sha256
        )
    }
}

/// The lock entries the files on disk would produce: each definition.json, scoring-<n>.json and
/// shipped wording pack text/<lang>.json, hashed from its parsed JSON alone (so an edit is caught even when the file is now invalid).
pub(super) fn entries_on_disk(dir: &Path) -> Vec<(LockEntry, String)> {
    let mut out = Vec::new();
    let list = |p: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(p)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    for key_dir in list(dir)
        .into_iter()
        .filter(|p| p.is_dir() && name_of(p) != "schema")
    {
        for version_dir in list(&key_dir).into_iter().filter(|p| p.is_dir()) {
            let texts = list(&version_dir.join("text"));
            for file in list(&version_dir).into_iter().chain(texts) {
                let name = name_of(&file);
                let in_text = file
                    .parent()
                    .is_some_and(|p| name_of(p) == "text" && p.parent() == Some(&version_dir));
                let part = if in_text {
                    match name.strip_suffix(".json") {
                        Some(lang) => format!("text-{lang}"),
                        None => continue,
                    }
                } else if name == "definition.json" {
                    "definition".to_string()
                } else if let Some(n) = name
                    .strip_prefix("scoring-")
                    .and_then(|r| r.strip_suffix(".json"))
                {
                    format!("scoring-{n}")
                } else {
                    continue;
                };
                let sha = fs::read_to_string(&file)
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                    .and_then(|v| content_sha256(&v).ok())
                    .unwrap_or_else(|| "unreadable".into());
                out.push((
                    LockEntry {
                        key: name_of(&key_dir),
                        version: name_of(&version_dir),
                        part,
                        sha256: sha,
                    },
                    file.display().to_string(),
                ));
            }
        }
    }
    out
}

/// Compare the files under `dir` with its `published.lock`: a changed entry means a published
/// version was edited; a new file must be published; a published file must not disappear.
pub fn check_lock(dir: &Path) -> Vec<FormatError> {
    check_lock_within(dir, &|_, _| true)
}

/// [`check_lock`], where a version not yet published counts only when `in_scope(key, version)`:
/// checking one instrument or version is not failed by another instrument's draft (#31.5).
/// Changed or missing published files count everywhere.
pub fn check_lock_within(dir: &Path, in_scope: &dyn Fn(&str, &str) -> bool) -> Vec<FormatError> {
    let lock_path = dir.join(LOCK_FILE);
    let lock_file = lock_path.display().to_string();
    let locked = parse_lock(&fs::read_to_string(&lock_path).unwrap_or_default());
    let on_disk = entries_on_disk(dir);
    let mut errors = Vec::new();
    for (entry, file) in &on_disk {
        match locked.iter().find(|l| l.key == entry.key && l.version == entry.version && l.part == entry.part) {
            None if !in_scope(&entry.key, &entry.version) => {}
            None => errors.push(FormatError::new(
                file,
                "",
                format!(
                    "{} {} {} is not in {LOCK_FILE}; run `epro questionnaires publish` to publish it",
                    entry.key, entry.version, entry.part
                ),
            )),
            Some(l) if l.sha256 != entry.sha256 => errors.push(FormatError::new(
                file,
                "",
                format!(
                    "{} {} {} changed after it was published (sha256 {} in {LOCK_FILE}, {} now); \
                     published versions never change: restore it and publish a new version",
                    entry.key, entry.version, entry.part, l.sha256, entry.sha256
                ),
            )),
            _ => {}
        }
    }
    for l in &locked {
        if !on_disk
            .iter()
            .any(|(e, _)| e.key == l.key && e.version == l.version && e.part == l.part)
        {
            errors.push(FormatError::new(
                &lock_file,
                "",
                format!(
                    "{} {} {} is published but its file is missing",
                    l.key, l.version, l.part
                ),
            ));
        }
    }
    errors
}

pub(super) fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

pub fn parse_lock(text: &str) -> Vec<LockEntry> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some(LockEntry {
                key: parts.next()?.into(),
                version: parts.next()?.into(),
                part: parts.next()?.into(),
                sha256: parts.next()?.into(),
            })
        })
        .collect()
}

/// Add every version not yet in published.lock to it. Entries already there never change.
pub fn publish(dir: &Path) -> Result<Vec<LockEntry>> {
    let library = Library::load(dir, None).map_err(format_errors)?;
    let lock_path = dir.join(LOCK_FILE);
    let existing = fs::read_to_string(&lock_path).unwrap_or_default();
    let locked = parse_lock(&existing);
    let mut added = Vec::new();
    for entry in library.lock_entries() {
        match locked
            .iter()
            .find(|l| l.key == entry.key && l.version == entry.version && l.part == entry.part)
        {
            Some(l) if l.sha256 != entry.sha256 => {
                return Err(Error::Conflict {
                    code: Code::PublishedVersionChanged,
                    message: format!(
                        "{} {} {} differs from its published hash; published versions never change: restore it and publish a new version",
                        entry.key, entry.version, entry.part
                    ),
                });
            }
            Some(_) => {}
            None => added.push(entry),
        }
    }
    if !added.is_empty() {
        let mut text = if existing.is_empty() {
            "# Published questionnaire versions: key version part sha256(RFC 8785 JSON).\n\
             # Append-only. `epro questionnaires publish` adds new versions; nothing here is ever edited.\n"
                .to_string()
        } else {
            existing.clone()
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        for e in &added {
            text.push_str(&e.line());
            text.push('\n');
        }
        fs::write(&lock_path, text)
            .map_err(|e| Error::Internal(format!("cannot write {}: {e}", lock_path.display())))?;
    }
    Ok(added)
}

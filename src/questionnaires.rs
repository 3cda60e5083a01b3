//! The questionnaire library: loads every `<key>/<version>/` folder (definition, text packs,
//! scoring files) plus the licensed packs a deployment installed, checks them all (every error
//! with file and JSON pointer), holds them immutable by `published.lock` and by the hashes the
//! database recorded, and resolves the wording a reader may see.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use sea_orm::DatabaseTransaction;
use serde_json::{Value, json};

use crate::{
    audit::{self, Entry},
    domain::{
        audit::Actor,
        questionnaire::{
            Definition, FormatError, LicensedWording, content_sha256, parse_definition,
            scoring::{Scoring, parse_scoring},
            text::{Source, Wording, WordingKind, parse_pack},
        },
    },
    error::{Error, Result},
    keys::Keys,
    store::{self, Db},
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
    /// The wording for a language: licensed when installed, else the shipped pack.
    pub fn wording(&self, lang: &str) -> Option<&Wording> {
        self.licensed.get(lang).or_else(|| self.shipped.get(lang))
    }

    pub fn latest_scoring(&self) -> Option<&Scoring> {
        self.scorings.values().next_back().map(|(s, _)| s)
    }

    /// Lock entries: the definition and each scoring file.
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
        out
    }
}

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

/// The lock entries the files on disk would produce: each definition.json and scoring-<n>.json,
/// hashed from its parsed JSON alone (so an edit is caught even when the file is now invalid).
fn entries_on_disk(dir: &Path) -> Vec<(LockEntry, String)> {
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
            for file in list(&version_dir) {
                let name = name_of(&file);
                let part = if name == "definition.json" {
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
    let lock_path = dir.join(LOCK_FILE);
    let lock_file = lock_path.display().to_string();
    let locked = parse_lock(&fs::read_to_string(&lock_path).unwrap_or_default());
    let on_disk = entries_on_disk(dir);
    let mut errors = Vec::new();
    for (entry, file) in &on_disk {
        match locked.iter().find(|l| l.key == entry.key && l.version == entry.version && l.part == entry.part) {
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

fn name_of(p: &Path) -> String {
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

fn read(path: &Path) -> Result<String, Vec<FormatError>> {
    fs::read_to_string(path).map_err(|e| {
        vec![FormatError::new(
            &path.display().to_string(),
            "",
            format!("cannot read: {e}"),
        )]
    })
}

fn load_version(
    version_dir: &Path,
    key_dir: &Path,
    licensed_dir: Option<&Path>,
) -> Result<Version, Vec<FormatError>> {
    let def_path = version_dir.join("definition.json");
    let def_file = def_path.display().to_string();
    let (definition, raw) = parse_definition(&def_file, &read(&def_path)?)?;
    let mut errors = Vec::new();
    if definition.key != name_of(key_dir) || definition.version != name_of(version_dir) {
        errors.push(FormatError::new(
            &def_file,
            "/key",
            format!(
                "{} {} lies in folder {}/{}; the folder must be <key>/<version>",
                definition.key,
                definition.version,
                name_of(key_dir),
                name_of(version_dir)
            ),
        ));
    }
    let sha256 = content_sha256(&raw).map_err(|e| vec![FormatError::new(&def_file, "", e)])?;

    let mut shipped = BTreeMap::new();
    for lang in &definition.languages {
        let path = version_dir.join("text").join(format!("{lang}.json"));
        let file = path.display().to_string();
        if !path.exists() {
            errors.push(FormatError::new(
                &def_file,
                "/languages",
                format!("declares {lang:?} but {file} does not exist"),
            ));
            continue;
        }
        match read(&path).and_then(|t| parse_pack(&file, &t, &definition, lang, Source::Shipped)) {
            Ok(w) => {
                shipped.insert(lang.clone(), w);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    let mut licensed = BTreeMap::new();
    if let Some(ldir) = licensed_dir {
        let text_dir = ldir
            .join(&definition.key)
            .join(&definition.version)
            .join("text");
        for path in fs::read_dir(&text_dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
        {
            let file = path.display().to_string();
            let lang = path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            if !definition.languages.contains(&lang) {
                errors.push(FormatError::new(
                    &file,
                    "",
                    format!(
                        "{} {} does not declare language {lang:?}",
                        definition.key, definition.version
                    ),
                ));
                continue;
            }
            if definition.license.wording != LicensedWording::Licensed {
                errors.push(FormatError::new(
                    &file,
                    "",
                    "this questionnaire's wording is open; it takes no licensed pack",
                ));
                continue;
            }
            match read(&path)
                .and_then(|t| parse_pack(&file, &t, &definition, &lang, Source::Installed))
            {
                Ok(w) => {
                    licensed.insert(lang, w);
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
    }

    let mut scorings = BTreeMap::new();
    let mut files: Vec<PathBuf> = fs::read_dir(version_dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for path in files {
        let name = name_of(&path);
        let Some(n) = name
            .strip_prefix("scoring-")
            .and_then(|r| r.strip_suffix(".json"))
        else {
            continue;
        };
        let file = path.display().to_string();
        let Ok(number) = n.parse::<u32>() else {
            errors.push(FormatError::new(
                &file,
                "",
                "scoring files are named scoring-<n>.json with a whole number n",
            ));
            continue;
        };
        match read(&path).and_then(|t| parse_scoring(&file, &t, &definition, number)) {
            Ok((scoring, value)) => match content_sha256(&value) {
                Ok(sha) => {
                    scorings.insert(number, (scoring, sha));
                }
                Err(e) => errors.push(FormatError::new(&file, "", e)),
            },
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(Version {
            definition,
            sha256,
            scorings,
            shipped,
            licensed,
        })
    } else {
        Err(errors)
    }
}

/// Everything `epro questionnaires check` and server start verify: the files, the lock, and
/// (when asked) that licensed wording is installed for every study language.
pub fn load_checked(
    dir: &Path,
    licensed_dir: Option<&Path>,
    require_licensed_for: Option<&[String]>,
) -> Result<Library> {
    // Immutability first: an edited published version is the error that matters most.
    let mut errors = check_lock(dir);
    let library = match Library::load(dir, licensed_dir) {
        Ok(library) => Some(library),
        Err(mut e) => {
            errors.append(&mut e);
            None
        }
    };
    let library = match library {
        Some(library) if errors.is_empty() => library,
        _ => return Err(format_errors(errors)),
    };
    if let Some(languages) = require_licensed_for {
        let mut missing = Vec::new();
        for v in library.versions() {
            if v.definition.license.wording != LicensedWording::Licensed {
                continue;
            }
            for lang in languages {
                if !v.licensed.contains_key(lang) {
                    missing.push(format!(
                        "{} {} ({lang})",
                        v.definition.key, v.definition.version
                    ));
                }
            }
        }
        if !missing.is_empty() {
            return Err(Error::invalid(
                "EPRO_REQUIRE_LICENSED_TEXT",
                format!(
                    "licensed wording is not installed in EPRO_LICENSED_TEXT_DIR for: {}",
                    missing.join(", ")
                ),
            ));
        }
    }
    Ok(library)
}

fn format_errors(errors: Vec<FormatError>) -> Error {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    Error::invalid(
        "questionnaires",
        format!("{} problem(s):\n  {}", lines.len(), lines.join("\n  ")),
    )
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
                    code: "published_version_changed",
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

/// Record each version's hashes in the database the first time it is served; refuse to start
/// if a version's content differs from what this database recorded.
pub async fn register(
    db: &Db,
    keys: &Keys,
    at: chrono::DateTime<chrono::Utc>,
    library: &Library,
) -> Result<()> {
    let txn: DatabaseTransaction = store::begin_write(db).await?;
    let recorded = store::questionnaires::recorded(&txn).await?;
    for entry in library.lock_entries() {
        match recorded
            .iter()
            .find(|r| r.0 == entry.key && r.1 == entry.version && r.2 == entry.part)
        {
            Some(r) if r.3 != entry.sha256 => {
                return Err(Error::Conflict {
                    code: "published_version_changed",
                    message: format!(
                        "questionnaire {} {} ({}) differs from the version this database recorded; \
                         published versions never change: restore it and publish a new version",
                        entry.key, entry.version, entry.part
                    ),
                });
            }
            Some(_) => {}
            None => {
                store::questionnaires::record(
                    &txn,
                    &entry.key,
                    &entry.version,
                    &entry.part,
                    &entry.sha256,
                    at,
                )
                .await?;
                audit::record(
                    &txn,
                    &keys.audit,
                    at,
                    Entry::new(Actor::system(), "questionnaire.registered", "questionnaire")
                        .entity(format!("{}/{}/{}", entry.key, entry.version, entry.part))
                        .after(json!({ "sha256": entry.sha256 })),
                )
                .await?;
            }
        }
    }
    txn.commit().await?;
    Ok(())
}

/// The kind of wording a reader would get for a language.
pub fn wording_kind(version: &Version, lang: &str) -> Option<WordingKind> {
    version.wording(lang).map(|w| w.pack.kind)
}

/// A JSON value of the definition's structure (as published).
pub fn structure(version: &Version) -> Value {
    serde_json::to_value(&version.definition).unwrap_or(Value::Null)
}

/// Who is reading: licensed wording goes only to authenticated readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Anonymous,
    Authenticated,
}

/// A version resolved for one language and reader.
pub struct Resolved<'a> {
    pub version: &'a Version,
    pub language: String,
    /// The wording the reader may see; `None` when it was withheld (licensed, anonymous).
    pub wording: Option<&'a Wording>,
    /// The kind of wording installed for this language (even when withheld).
    pub kind: WordingKind,
}

impl Resolved<'_> {
    pub fn withheld(&self) -> bool {
        self.wording.is_none()
    }

    /// ETag = sha256(definition sha ‖ lang ‖ text-pack sha), quoted.
    pub fn etag(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.version.sha256.as_bytes());
        h.update(self.language.as_bytes());
        h.update(
            self.wording
                .map_or("withheld", |w| w.sha256.as_str())
                .as_bytes(),
        );
        format!("\"{}\"", hex::encode(h.finalize()))
    }
}

pub fn find<'a>(library: &'a Library, key: &str, version: &str) -> Result<&'a Version> {
    library.get(key, version).ok_or_else(|| Error::Unknown {
        code: "unknown_questionnaire",
        message: format!(
            "no questionnaire {key} version {version}; GET /api/v1/questionnaires lists them"
        ),
    })
}

pub fn resolve<'a>(
    library: &'a Library,
    key: &str,
    version: &str,
    lang: &str,
    reader: Reader,
) -> Result<Resolved<'a>> {
    let v = find(library, key, version)?;
    if !v.definition.languages.iter().any(|l| l == lang) {
        return Err(Error::Unprocessable {
            code: "unsupported_language",
            message: format!(
                "{key} {version} is not available in {lang:?}; available: {}",
                v.definition.languages.join(", ")
            ),
        });
    }
    let wording = v
        .wording(lang)
        .ok_or_else(|| Error::Internal(format!("{key} {version} has no wording for {lang}")))?;
    let kind = wording.pack.kind;
    let visible = kind != WordingKind::Licensed || reader == Reader::Authenticated;
    Ok(Resolved {
        version: v,
        language: lang.to_string(),
        wording: visible.then_some(wording),
        kind,
    })
}

/// Validate answers and score them with the version's latest scoring file.
pub fn score(
    library: &Library,
    key: &str,
    version: &str,
    answers: &[crate::domain::questionnaire::answers::Answer],
) -> Result<crate::domain::questionnaire::scoring::Scores> {
    use crate::domain::questionnaire::{answers, scoring};
    let v = find(library, key, version)?;
    let valid =
        answers::validate(&v.definition, answers, None).map_err(|errors| Error::Unprocessable {
            code: "invalid_answer",
            message: answers::summarize(&errors),
        })?;
    let rules = v.latest_scoring().ok_or_else(|| Error::Unprocessable {
        code: "no_scoring",
        message: format!("{key} {version} has no scoring file"),
    })?;
    Ok(scoring::score(&v.definition, rules, &valid))
}

//! Loading and checking every definition, text pack and scoring file (errors name the file and
//! the JSON pointer), and registering the versions in the database.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use serde_json::json;

use super::{Library, Version, name_of};
use crate::{
    audit::{self, Entry},
    domain::{
        audit::Actor,
        questionnaire::{
            Definition, FormatError, LicensedWording, content_sha256, parse_definition,
            scoring::{Scoring, parse_scoring},
            text::{Source, Wording, parse_pack},
        },
    },
    error::{Code, Error, Result},
    keys::Keys,
    store::{self, Db},
};

pub(super) fn read(path: &Path) -> Result<String, Vec<FormatError>> {
    fs::read_to_string(path).map_err(|e| {
        vec![FormatError::new(
            &path.display().to_string(),
            "",
            format!("cannot read: {e}"),
        )]
    })
}

pub(super) fn load_version(
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

    let shipped = shipped_packs(version_dir, &def_file, &definition, &mut errors);
    let licensed = licensed_dir
        .map(|dir| licensed_packs(dir, &definition, &mut errors))
        .unwrap_or_default();
    let scorings = scoring_files(version_dir, &definition, &mut errors);
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
    load_checked_within(dir, licensed_dir, require_licensed_for, &|_, _| true)
}

/// [`load_checked`] for `epro questionnaires check` of one instrument or version: another
/// instrument's version not yet published is not an error of this check (`check_lock_within`).
pub fn load_checked_within(
    dir: &Path,
    licensed_dir: Option<&Path>,
    require_licensed_for: Option<&[String]>,
    in_scope: &dyn Fn(&str, &str) -> bool,
) -> Result<Library> {
    // Immutability first: an edited published version is the error that matters most.
    let mut errors = super::lock::check_lock_within(dir, in_scope);
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
            return Err(Error::operator(
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

pub(super) fn format_errors(errors: Vec<FormatError>) -> Error {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    Error::operator(
        "questionnaires",
        format!("{} problem(s):\n  {}", lines.len(), lines.join("\n  ")),
    )
}

/// The published versions whose files differ from the hash this database recorded, as
/// "key version (part)", and how many versions it recorded (the installation check).
pub async fn changed_since_recorded(db: &Db, library: &Library) -> Result<(usize, Vec<String>)> {
    let recorded = store::questionnaires::recorded(db).await?;
    let changed = library
        .lock_entries()
        .into_iter()
        .filter(|e| {
            recorded
                .iter()
                .any(|r| r.0 == e.key && r.1 == e.version && r.2 == e.part && r.3 != e.sha256)
        })
        .map(|e| format!("{} {} ({})", e.key, e.version, e.part))
        .collect();
    Ok((recorded.len(), changed))
}

/// Record each version's hashes in the database the first time it is served; refuse to start
/// if a version's content differs from what this database recorded.
pub async fn register(
    db: &Db,
    keys: &Keys,
    at: chrono::DateTime<chrono::Utc>,
    library: &Library,
) -> Result<()> {
    let txn = store::begin_write(db).await?;
    let recorded = store::questionnaires::recorded(&txn).await?;
    for entry in library.lock_entries() {
        match recorded
            .iter()
            .find(|r| r.0 == entry.key && r.1 == entry.version && r.2 == entry.part)
        {
            Some(r) if r.3 != entry.sha256 => {
                return Err(Error::Conflict {
                    code: Code::PublishedVersionChanged,
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
    // Every pack served (licensed where installed, else shipped), by the hash responses record:
    // a changed pack is a new pack, recorded with its words and audited, never silent.
    // A pack is its words: two instruments (or languages) with byte-identical packs share one
    // row, recorded (and audited) with the first that carries it.
    let packs = store::questionnaires::wording_packs(&txn).await?;
    let mut recorded: std::collections::HashSet<String> =
        packs.iter().map(|p| p.sha256.clone()).collect();
    for v in library.versions() {
        for lang in &v.definition.languages {
            let Some(w) = v.wording(lang) else { continue };
            if !recorded.insert(w.sha256.clone()) {
                continue;
            }
            let replaces: Vec<&str> = packs
                .iter()
                .filter(|p| {
                    p.key == v.definition.key
                        && p.version == v.definition.version
                        && p.language == *lang
                })
                .map(|p| p.sha256.as_str())
                .collect();
            store::questionnaires::record_wording_pack(
                &txn,
                store::questionnaires::WordingPackRow {
                    sha256: w.sha256.clone(),
                    key: v.definition.key.clone(),
                    version: v.definition.version.clone(),
                    language: lang.clone(),
                    kind: w.pack.kind.as_str().into(),
                    texts: store::Json(w.pack.texts.clone()),
                    recorded_at: at,
                },
            )
            .await?;
            audit::record(
                &txn,
                &keys.audit,
                at,
                Entry::new(
                    Actor::system(),
                    "questionnaire.wording_recorded",
                    "questionnaire",
                )
                .entity(format!(
                    "{}/{}/{lang}",
                    v.definition.key, v.definition.version
                ))
                .after(json!({
                    "wording_sha256": w.sha256,
                    "kind": w.pack.kind.as_str(),
                    "replaces": replaces,
                })),
            )
            .await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// The wording packs shipped with a version (`text/<lang>.json`), one per declared language.
fn shipped_packs(
    version_dir: &Path,
    def_file: &str,
    definition: &Definition,
    errors: &mut Vec<FormatError>,
) -> BTreeMap<String, Wording> {
    let mut shipped = BTreeMap::new();
    for lang in &definition.languages {
        let path = version_dir.join("text").join(format!("{lang}.json"));
        let file = path.display().to_string();
        if !path.exists() {
            errors.push(FormatError::new(
                def_file,
                "/languages",
                format!("declares {lang:?} but {file} does not exist"),
            ));
            continue;
        }
        match read(&path).and_then(|t| parse_pack(&file, &t, definition, lang, Source::Shipped)) {
            Ok(w) => {
                shipped.insert(lang.clone(), w);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    shipped
}

/// The licensed packs a deployment installed for a version (`<dir>/<key>/<version>/text/`).
fn licensed_packs(
    ldir: &Path,
    definition: &Definition,
    errors: &mut Vec<FormatError>,
) -> BTreeMap<String, Wording> {
    let mut licensed = BTreeMap::new();
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
        match read(&path).and_then(|t| parse_pack(&file, &t, definition, &lang, Source::Installed))
        {
            Ok(w) => {
                licensed.insert(lang, w);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    licensed
}

/// The scoring files of a version (`scoring-<n>.json`), each with its own hash.
fn scoring_files(
    version_dir: &Path,
    definition: &Definition,
    errors: &mut Vec<FormatError>,
) -> BTreeMap<u32, (Scoring, String)> {
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
        match read(&path).and_then(|t| parse_scoring(&file, &t, definition, number)) {
            Ok((scoring, value)) => match content_sha256(&value) {
                Ok(sha) => {
                    scorings.insert(number, (scoring, sha));
                }
                Err(e) => errors.push(FormatError::new(&file, "", e)),
            },
            Err(mut e) => errors.append(&mut e),
        }
    }
    scorings
}

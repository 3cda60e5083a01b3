//! The investigator archive: one file (tar) holding a site's participants, lesions, events,
//! visits, responses, scores, its audit events, the questionnaire definitions and the study file,
//! with a manifest of sha256 sums signed with Ed25519 (EMA: the investigator keeps a copy
//! without exclusive sponsor control). Verification needs only the file (and, to know who
//! signed, the public key), never the server.

use std::{collections::BTreeMap, io::Read, path::Path, sync::Arc};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    app::App,
    auth::{self, StaffActor},
    domain::permissions::Action,
    error::{Code, Error, Result},
    exports::{self, Dialect},
    store::{self, participants::ParticipantRow},
};

pub const FORMAT: &str = "epro-investigator-archive/1";
const MANIFEST: &str = "manifest.json";
const SIGNATURE: &str = "manifest.sig";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub study: String,
    pub site: String,
    pub created_at: DateTime<Utc>,
    /// The study file's sha256 as registered (the protocol version the data belong to).
    pub study_sha256: String,
    /// Hex Ed25519 public key of the signer.
    pub public_key: String,
    pub files: Vec<FileEntry>,
}

/// The signing key of this deployment (from EPRO_ARCHIVE_KEY).
pub fn signing_key(app: &App) -> SigningKey {
    SigningKey::from_bytes(app.keys.archive.bytes())
}

/// The public key sites use to check archives, as hex.
pub fn public_key_hex(app: &App) -> String {
    hex::encode(signing_key(app).verifying_key().as_bytes())
}

async fn collect(stream: exports::ByteStream) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut s = stream;
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.map_err(|e| Error::Internal(e.to_string()))?);
    }
    Ok(out)
}

/// Whether an audit event is about the site: its entity is one of the site's participants
/// (by study id or internal id) or one of their records, or (for visits, `<study id>/<visit>`)
/// a visit of one of them.
fn audit_event_of_site(
    entity_type: &str,
    entity_id: Option<&str>,
    ids: &std::collections::HashSet<String>,
    study_ids: &std::collections::HashSet<&str>,
) -> bool {
    let Some(id) = entity_id else { return false };
    match entity_type {
        "visit" => id
            .rsplit_once('/')
            .is_some_and(|(study_id, _)| study_ids.contains(study_id)),
        "participant" | "response" | "lesion" | "reminder" => ids.contains(id),
        _ => false,
    }
}

/// A CSV file of the archive, written like every export (formula cells neutralized).
fn csv_of(rows: Vec<Vec<String>>) -> Result<Vec<u8>> {
    Ok(exports::csv_start(Dialect::Standard, &rows))
}

/// Files of the questionnaire library (definitions, wording shipped with the code, scoring,
/// published.lock), relative to the questionnaires folder. Licensed wording installed by the
/// deployment is not copied: it belongs to its licensor; responses record its sha256.
fn questionnaire_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).map_err(|e| Error::Internal(format!("{}: {e}", d.display())))?;
        for entry in entries {
            let path = entry.map_err(|e| Error::Internal(e.to_string()))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json" || e == "lock") {
                let rel = path
                    .strip_prefix(dir)
                    .map_err(|e| Error::Internal(e.to_string()))?
                    .to_string_lossy()
                    .replace('\\', "/");
                let bytes = std::fs::read(&path)
                    .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
                out.push((format!("questionnaires/{rel}"), bytes));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Build the archive of one site (every participant ever enrolled there).
pub async fn build(app: Arc<App>, site: &str) -> Result<Vec<u8>> {
    if app.study.site(site).is_none() {
        return Err(Error::Unknown {
            code: Code::UnknownSite,
            message: format!("no site {site:?} in the study"),
        });
    }
    let people = store::participants::list(&app.db, Some(&[site.to_string()])).await?;
    let (mut files, ids) = record_files(&app, &people).await?;
    files.extend(export_files(&app, &people).await?);
    files.push((
        "data/audit.jsonl".into(),
        audit_lines(&app, &people, ids).await?,
    ));
    let d = Dialect::Standard;
    files.push((
        "data/dictionary.csv".into(),
        exports::dictionary_csv(&app, d).to_vec(),
    ));
    // The words each response was answered in, by the hash it records.
    files.push((
        "data/wording.csv".into(),
        exports::wording_csv(&app, d).await?.to_vec(),
    ));
    let study_name = app
        .settings
        .study_file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "study.toml".into());
    let study_bytes = std::fs::read(&app.settings.study_file)
        .map_err(|e| Error::Internal(format!("{}: {e}", app.settings.study_file.display())))?;
    files.push((format!("study/{study_name}"), study_bytes));
    files.extend(questionnaire_files(&app.settings.questionnaires_dir)?);
    pack(&app, site, &files)
}

/// Participants, lesions and events as stored (no contact details: they are not trial data),
/// and the ids of every record of the site (to pick its audit events).
async fn record_files(
    app: &App,
    people: &[ParticipantRow],
) -> Result<(Vec<(String, Vec<u8>)>, Vec<String>)> {
    let mut participants = vec![vec![
        "study_id".into(),
        "site".into(),
        "language".into(),
        "enrolled_on".into(),
        "created_at".into(),
    ]];
    let mut lesions = vec![vec![
        "study_id".into(),
        "lesion_id".into(),
        "location".into(),
        "side".into(),
        "labels".into(),
        "high_risk_reasons".into(),
        "irradiation_date".into(),
        "registered_on".into(),
        "active".into(),
    ]];
    let mut events = vec![vec![
        "study_id".into(),
        "event_id".into(),
        "kind".into(),
        "date".into(),
        "details".into(),
        "reason".into(),
        "recorded_at".into(),
        "recorded_by".into(),
        "entered_in_error".into(),
    ]];
    let mut ids: Vec<String> = Vec::new();
    for p in people {
        ids.push(p.study_id.clone());
        ids.push(p.id.to_string());
        participants.push(vec![
            p.study_id.clone(),
            p.site_code.clone(),
            p.language.clone(),
            p.enrolled_on.to_string(),
            p.created_at.to_rfc3339(),
        ]);
        for l in store::participants::lesions(&app.db, p.id).await? {
            ids.push(l.id.to_string());
            lesions.push(vec![
                p.study_id.clone(),
                l.id.to_string(),
                l.location,
                l.side.unwrap_or_default(),
                l.labels.text(),
                l.high_risk_reasons.text(),
                l.irradiation_date
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                l.registered_on.to_string(),
                l.active.to_string(),
            ]);
        }
        for e in store::participants::events(&app.db, p.id).await? {
            ids.push(e.id.to_string());
            events.push(vec![
                p.study_id.clone(),
                e.id.to_string(),
                e.kind.to_string(),
                e.event_date.to_string(),
                e.details.text(),
                e.reason,
                e.recorded_at.to_rfc3339(),
                e.recorded_by,
                e.entered_in_error.to_string(),
            ]);
        }
        for r in store::responses::of_participant(&app.db, p.id).await? {
            ids.push(r.id.to_string());
        }
        for r in store::reminders::of_participant(&app.db, p.id).await? {
            ids.push(r.id.to_string());
        }
    }
    Ok((
        vec![
            ("data/participants.csv".into(), csv_of(participants)?),
            ("data/lesions.csv".into(), csv_of(lesions)?),
            ("data/events.csv".into(), csv_of(events)?),
        ],
        ids,
    ))
}

/// The statisticians' exports of the site's participants (submitted data).
async fn export_files(app: &Arc<App>, people: &[ParticipantRow]) -> Result<Vec<(String, Vec<u8>)>> {
    let opts = exports::Options {
        dialect: Dialect::Standard,
        drafts: false,
        odm: exports::OdmFile::Snapshot,
    };
    let mut out = Vec::new();
    for (name, file) in [
        ("data/visits.csv", "visits.csv"),
        ("data/answers.csv", "answers.csv"),
        ("data/amendments.csv", "amendments.csv"),
        ("data/scores.csv", "scores.csv"),
        ("data/analgesics.csv", "analgesics.csv"),
        ("data/responses.fhir.ndjson", "fhir.ndjson"),
        ("data/odm.xml", "odm.xml"),
    ] {
        let stream = exports::export_of(app.clone(), people.to_vec(), file, opts).await?;
        out.push((name.to_string(), collect(stream).await?));
    }
    Ok(out)
}

/// The site's audit events: those whose entity is one of its participants or their records
/// (matched exactly, never as a substring of some other text), with their place (seq) and
/// hashes in the whole chain, one JSON object a line.
async fn audit_lines(app: &App, people: &[ParticipantRow], ids: Vec<String>) -> Result<Vec<u8>> {
    let study_ids: std::collections::HashSet<&str> =
        people.iter().map(|p| p.study_id.as_str()).collect();
    let ids: std::collections::HashSet<String> = ids.into_iter().collect();
    let mut audit = Vec::new();
    let mut after = 0i64;
    // Every event committed before the archive is in it: number those not sequenced yet.
    crate::jobs::sequencer::pass(app, true).await?;
    loop {
        let page = store::audit::page(&app.db, after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.content.seq;
        for e in page {
            let c = &e.content;
            if audit_event_of_site(&c.entity_type, c.entity_id.as_deref(), &ids, &study_ids) {
                let line = serde_json::json!({
                    "seq": c.seq, "at": c.at, "actor_kind": c.actor_kind, "actor_id": c.actor_id,
                    "action": c.action, "entity_type": c.entity_type, "entity_id": c.entity_id,
                    "before": c.before, "after": c.after, "reason": c.reason,
                    "prev_hash": e.prev_hash, "hash": e.hash,
                });
                audit.extend_from_slice(line.to_string().as_bytes());
                audit.push(b'\n');
            }
        }
    }
    Ok(audit)
}

/// The signed manifest, its signature and the files, as one tar.
fn pack(app: &App, site: &str, files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    seal(
        &signing_key(app),
        Header {
            format: FORMAT,
            study: &app.study.id,
            site,
            study_sha256: &app.study.sha256,
            created_at: app.clock.now(),
        },
        files,
    )
}

/// What a signed file says about itself besides its files.
pub struct Header<'a> {
    /// One of [`FORMATS`].
    pub format: &'a str,
    pub study: &'a str,
    pub site: &'a str,
    pub study_sha256: &'a str,
    pub created_at: DateTime<Utc>,
}

/// The signed containers `verify` accepts: a site's investigator archive, and the installation
/// report of `epro validate`.
pub const FORMATS: [&str; 2] = [FORMAT, REPORT_FORMAT];

/// The format of the installation report (`epro validate`).
pub const REPORT_FORMAT: &str = "epro-installation-report/1";

/// Files under a manifest of their sha256 sums, signed with `key` (Ed25519), as one tar: what
/// `verify` checks offline with the public key alone.
pub fn seal(key: &SigningKey, header: Header<'_>, files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let manifest = Manifest {
        format: header.format.into(),
        study: header.study.into(),
        site: header.site.into(),
        created_at: header.created_at,
        study_sha256: header.study_sha256.into(),
        public_key: hex::encode(key.verifying_key().as_bytes()),
        files: files
            .iter()
            .map(|(path, bytes)| FileEntry {
                path: path.clone(),
                bytes: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(bytes)),
            })
            .collect(),
    };
    let manifest_bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
    let signature = hex::encode(key.sign(&manifest_bytes).to_bytes());

    let mut tar = tar::Builder::new(Vec::new());
    let mtime = manifest.created_at.timestamp().max(0) as u64;
    let mut add = |path: &str, bytes: &[u8]| -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_cksum();
        tar.append_data(&mut header, path, bytes)
            .map_err(|e| Error::Internal(e.to_string()))
    };
    add(MANIFEST, &manifest_bytes)?;
    add(SIGNATURE, format!("{signature}\n").as_bytes())?;
    for (path, bytes) in files {
        add(path, bytes)?;
    }
    tar.into_inner().map_err(|e| Error::Internal(e.to_string()))
}

/// The archive of a site for a staff member who may read that site's responses.
pub async fn for_staff(app: Arc<App>, actor: &StaffActor, site: &str) -> Result<Vec<u8>> {
    auth::authorize(actor, Action::ResponseRead, Some(site))?;
    build(app, site).await
}

/// What `verify` found.
#[derive(Debug)]
pub struct Verified {
    pub manifest: Manifest,
}

/// Why an archive does not verify; each names the file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the file is not a readable archive: {0}")]
    Unreadable(String),
    #[error("{0}: missing from the archive")]
    Missing(String),
    #[error("{MANIFEST}: {0}")]
    Manifest(String),
    #[error(
        "{MANIFEST}: the signature does not verify (the manifest was altered, or signed by another key)"
    )]
    Signature,
    #[error("{MANIFEST}: signed by {found}, not by the expected key {expected}")]
    WrongKey { found: String, expected: String },
    #[error("{path}: content altered (sha256 {found}, manifest says {expected})")]
    Altered {
        path: String,
        found: String,
        expected: String,
    },
    #[error("{0}: not listed in the signed manifest")]
    Unlisted(String),
}

/// Check an archive (or an installation report) offline: the manifest's signature, then every file against its sha256, and
/// that nothing was added. `expected_key`: the signer's public key (hex), when known.
pub fn verify(
    archive: &[u8],
    expected_key: Option<&str>,
) -> std::result::Result<Verified, VerifyError> {
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut reader = tar::Archive::new(archive);
    let entries = reader
        .entries()
        .map_err(|e| VerifyError::Unreadable(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| VerifyError::Unreadable(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| VerifyError::Unreadable(e.to_string()))?
            .to_string_lossy()
            .to_string();
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| VerifyError::Unreadable(format!("{path}: {e}")))?;
        contents.insert(path, bytes);
    }
    let manifest_bytes = contents
        .get(MANIFEST)
        .ok_or_else(|| VerifyError::Missing(MANIFEST.into()))?;
    let signature_text = contents
        .get(SIGNATURE)
        .ok_or_else(|| VerifyError::Missing(SIGNATURE.into()))?;
    let manifest: Manifest = serde_json::from_slice(manifest_bytes)
        .map_err(|e| VerifyError::Manifest(format!("not a manifest: {e}")))?;
    if !FORMATS.contains(&manifest.format.as_str()) {
        return Err(VerifyError::Manifest(format!(
            "format {:?} is not one of {}",
            manifest.format,
            FORMATS.join(", ")
        )));
    }
    if let Some(expected) = expected_key
        && !expected.eq_ignore_ascii_case(&manifest.public_key)
    {
        return Err(VerifyError::WrongKey {
            found: manifest.public_key.clone(),
            expected: expected.into(),
        });
    }
    let key_bytes: [u8; 32] = hex::decode(&manifest.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| VerifyError::Manifest("public_key is not 32 bytes of hex".into()))?;
    let key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| VerifyError::Manifest("public_key is not an Ed25519 key".into()))?;
    let sig_bytes: [u8; 64] = hex::decode(String::from_utf8_lossy(signature_text).trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(VerifyError::Signature)?;
    key.verify(manifest_bytes, &Signature::from_bytes(&sig_bytes))
        .map_err(|_| VerifyError::Signature)?;
    for f in &manifest.files {
        let bytes = contents
            .get(&f.path)
            .ok_or_else(|| VerifyError::Missing(f.path.clone()))?;
        let found = hex::encode(Sha256::digest(bytes));
        if found != f.sha256 || bytes.len() as u64 != f.bytes {
            return Err(VerifyError::Altered {
                path: f.path.clone(),
                found,
                expected: f.sha256.clone(),
            });
        }
    }
    if let Some(extra) = contents.keys().find(|k| {
        *k != MANIFEST && *k != SIGNATURE && !manifest.files.iter().any(|f| &f.path == *k)
    }) {
        return Err(VerifyError::Unlisted(extra.clone()));
    }
    Ok(Verified { manifest })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::audit_event_of_site;

    #[test]
    fn audit_events_belong_to_a_site_by_their_entity_only() {
        let ids: HashSet<String> = ["HERMES-ZAS-101", "r-1", "l-1"]
            .into_iter()
            .map(String::from)
            .collect();
        let study_ids: HashSet<&str> = ["HERMES-ZAS-101"].into_iter().collect();
        let cases = [
            ("participant", Some("HERMES-ZAS-101"), true),
            ("participant", Some("HERMES-ZAS-1011"), false),
            ("participant", Some("HERMES-ZAS-10"), false),
            ("response", Some("r-1"), true),
            ("response", Some("r-11"), false),
            ("lesion", Some("l-1"), true),
            ("visit", Some("HERMES-ZAS-101/M1"), true),
            ("visit", Some("HERMES-ZAS-1011/M1"), false),
            ("staff_user", Some("HERMES-ZAS-101"), false),
            ("study", None, false),
        ];
        for (kind, id, expected) in cases {
            assert_eq!(
                audit_event_of_site(kind, id, &ids, &study_ids),
                expected,
                "{kind} {id:?}"
            );
        }
    }
}

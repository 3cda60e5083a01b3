//! Loading the study file and binding it to the database: the first start records the study's
//! id and file hash; a later start with a changed file records (and audits) a protocol
//! amendment; a database of another study is refused.

use std::path::Path;

use serde_json::json;

use crate::{
    audit::{self, Entry},
    clock::Clock,
    domain::{
        audit::Actor,
        study::{Study, amendment},
    },
    error::{Code, Error, Result},
    keys::Keys,
    store::{self, Db},
};

/// Read and validate the study file.
pub fn load(path: &Path) -> Result<Study> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::operator(
            "EPRO_STUDY_FILE",
            format!("cannot read the study file {name}: {e}"),
        )
    })?;
    Study::parse(&name, &text)
        .map_err(|e| Error::operator(format!("{}: {}", e.file, e.field), e.problem))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    First,
    Unchanged,
    Amended { previous_sha256: String },
}

/// Bind the study to the database (see module doc). An amendment that touches enrolled
/// participants (a site with participants removed, a visit they have removed or moved, a
/// language in use removed) is refused unless `confirm` is the new file's sha256
/// (`EPRO_CONFIRM_AMENDMENT`); every amendment's change set goes into the audit trail.
pub async fn register(
    db: &Db,
    keys: &Keys,
    clock: &dyn Clock,
    study: &Study,
    confirm: Option<&str>,
) -> Result<Registration> {
    let now = clock.now();
    let txn = store::begin_write(db).await?;
    let outcome = match store::study::recorded(&txn).await? {
        Some(row) if row.study_id != study.id => {
            return Err(Error::Conflict {
                code: Code::WrongStudy,
                message: format!(
                    "this database belongs to study {}, but the study file is for {}; \
                     point EPRO_DATABASE_URL at that study's database",
                    row.study_id, study.id
                ),
            });
        }
        Some(row) if row.file_sha256 == study.sha256 => {
            if row.file_text.is_none() {
                // Registered before the file was kept: keep it now, for the next amendment.
                store::study::record(&txn, study, row.loaded_at, false).await?;
            }
            Registration::Unchanged
        }
        Some(row) => {
            let in_use = store::study::in_use(&txn).await?;
            let previous = row
                .file_text
                .as_deref()
                .and_then(|text| Study::parse("(registered study file)", text).ok());
            let changes = amendment::changes(previous.as_ref(), study, &in_use);
            let touching = amendment::needs_confirmation(&changes, &in_use);
            let confirmed = confirm.is_some_and(|c| c.trim() == study.sha256);
            if !touching.is_empty() && !confirmed {
                return Err(Error::Conflict {
                    code: Code::AmendmentNeedsConfirmation,
                    message: format!(
                        "the study file changed in ways that touch enrolled participants: {}. \
                         If this is the approved amendment, start again with \
                         EPRO_CONFIRM_AMENDMENT={} (this file's sha256); nothing was changed",
                        touching.join("; "),
                        study.sha256
                    ),
                });
            }
            store::study::record(&txn, study, now, false).await?;
            audit::record(
                &txn,
                &keys.audit,
                now,
                Entry::new(Actor::system(), "study.amended", "study")
                    .entity(&study.id)
                    .before(json!({ "file_sha256": row.file_sha256 }))
                    .after(json!({
                        "file_sha256": study.sha256,
                        "changes": changes,
                        "touching_participants": touching,
                        "confirmed": !touching.is_empty(),
                    }))
                    .reason("study file changed (protocol amendment)"),
            )
            .await?;
            tracing::warn!(study = %study.id, "study file changed: recorded as a protocol amendment");
            Registration::Amended {
                previous_sha256: row.file_sha256,
            }
        }
        None => {
            store::study::record(&txn, study, now, true).await?;
            audit::record(
                &txn,
                &keys.audit,
                now,
                Entry::new(Actor::system(), "study.registered", "study")
                    .entity(&study.id)
                    .after(json!({ "file_sha256": study.sha256 })),
            )
            .await?;
            Registration::First
        }
    };
    txn.commit().await?;
    Ok(outcome)
}

/// Whether the database still has this instance's study file registered. Once another
/// instance registered another file (an amendment, or a rollback), this one must not write: its
/// rules — time zone, windows, vocabularies — are no longer the study's. Requests that write get
/// 409 `study_superseded`, readiness fails and the periodic jobs stop, until it is restarted
/// with the registered file.
pub async fn still_current(db: &Db, study: &Study) -> Result<()> {
    match store::study::recorded(db).await? {
        Some(row) if row.file_sha256 != study.sha256 => Err(Error::Conflict {
            code: Code::StudySuperseded,
            message: format!(
                "this instance runs study file sha256 {} but the database now has {} \
                 registered (another instance started with it); this instance no longer writes: \
                 restart it with the registered study file",
                study.sha256, row.file_sha256
            ),
        }),
        _ => Ok(()),
    }
}

/// Every study language must have complete page, email and SMS texts (`crate::texts`: built in,
/// or added under EPRO_TEXTS_DIR; `nl-NL` may fall back to `nl`): a language without them, or
/// with keys missing, placeholders differing or plural forms lacking, is refused here (at
/// `study check` and at start), never found out by a participant.
pub fn check_languages(study: &Study, file: &Path, texts: &crate::texts::Texts) -> Result<()> {
    for (i, lang) in study.languages.iter().enumerate() {
        let field = format!("{}: study.languages[{i}]", file.display());
        if !texts.serves(lang) {
            return Err(Error::operator(
                field,
                format!(
                    "{lang:?} has no page, email and SMS texts (texts/<lang>/*.ftl, built in or \
                     under EPRO_TEXTS_DIR; docs/texts.md); languages with texts: {}",
                    texts.languages().join(", ")
                ),
            ));
        }
        let report = texts.check(lang);
        if !report.ok() {
            let mut lines = report.lines();
            lines.retain(|l| !l.contains("extra key"));
            return Err(Error::operator(
                field,
                format!(
                    "the texts of {lang:?} are incomplete (epro texts check {lang}): {}",
                    lines.join("; ")
                ),
            ));
        }
    }
    Ok(())
}

/// Every questionnaire a visit asks must be a published version, with wording in every study
/// language (a participant is enrolled in one of them and must be able to open it).
pub fn check_questionnaires(
    study: &Study,
    file: &Path,
    library: &crate::questionnaires::Library,
) -> Result<()> {
    for (i, v) in study.protocol.visits.iter().enumerate() {
        for (j, q) in v.questionnaires.iter().enumerate() {
            let (key, version) = q.split_once('@').unwrap_or((q, ""));
            let Some(found) = library.get(key, version) else {
                return Err(Error::operator(
                    format!("{}: visits[{i}].questionnaires[{j}]", file.display()),
                    format!("{q:?} is not a published questionnaire version"),
                ));
            };
            if !study.lesion_limits.apply
                && found
                    .definition
                    .items
                    .iter()
                    .any(|e| matches!(e, crate::domain::questionnaire::Entry::Group(_)))
            {
                return Err(Error::operator(
                    format!("{}: visits[{i}].questionnaires[{j}]", file.display()),
                    format!(
                        "{q:?} asks questions per lesion, but this study records no lesions \
                         ([lesions] apply = false)"
                    ),
                ));
            }
            let missing: Vec<&str> = study
                .languages
                .iter()
                .filter(|l| found.language_for(l).is_none())
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(Error::operator(
                    format!("{}: visits[{i}].questionnaires[{j}]", file.display()),
                    format!(
                        "{q:?} has no wording in study language(s) {} (it has {})",
                        missing.join(", "),
                        found.definition.languages.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The sha256 of the study file this database registered, if any (the installation check).
pub async fn registered_sha256(db: &Db) -> Result<Option<String>> {
    Ok(store::study::recorded(db).await?.map(|row| row.file_sha256))
}

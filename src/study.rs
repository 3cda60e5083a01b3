//! Loading the study file and binding it to the database: the first start records the study's
//! id and file hash; a later start with a changed file records (and audits) a protocol
//! amendment; a database of another study is refused.

use std::path::Path;

use serde_json::json;

use crate::{
    audit::{self, Entry},
    clock::Clock,
    domain::{audit::Actor, study::Study},
    error::{Code, Error, Result},
    keys::Keys,
    store::{self, Db},
};

/// Read and validate the study file.
pub fn load(path: &Path) -> Result<Study> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::invalid(
            "EPRO_STUDY_FILE",
            format!("cannot read the study file {name}: {e}"),
        )
    })?;
    Study::parse(&name, &text)
        .map_err(|e| Error::invalid(format!("{}: {}", e.file, e.field), e.problem))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    First,
    Unchanged,
    Amended { previous_sha256: String },
}

/// Bind the study to the database (see module doc).
pub async fn register(
    db: &Db,
    keys: &Keys,
    clock: &dyn Clock,
    study: &Study,
) -> Result<Registration> {
    let now = clock.now();
    let txn = store::begin_write(db).await?;
    let outcome = match store::study::recorded(&txn).await? {
        Some((id, _)) if id != study.id => {
            return Err(Error::Conflict {
                code: Code::WrongStudy,
                message: format!(
                    "this database belongs to study {id}, but the study file is for {}; \
                     point EPRO_DATABASE_URL at that study's database",
                    study.id
                ),
            });
        }
        Some((_, sha)) if sha == study.sha256 => Registration::Unchanged,
        Some((_, previous)) => {
            store::study::record(&txn, &study.id, &study.sha256, now, false).await?;
            audit::record(
                &txn,
                &keys.audit,
                now,
                Entry::new(Actor::system(), "study.amended", "study")
                    .entity(&study.id)
                    .before(json!({ "file_sha256": previous }))
                    .after(json!({ "file_sha256": study.sha256 }))
                    .reason("study file changed (protocol amendment)"),
            )
            .await?;
            tracing::warn!(study = %study.id, "study file changed: recorded as a protocol amendment");
            Registration::Amended {
                previous_sha256: previous,
            }
        }
        None => {
            store::study::record(&txn, &study.id, &study.sha256, now, true).await?;
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

/// Every questionnaire a visit asks must be a published version.
pub fn check_questionnaires(
    study: &Study,
    file: &Path,
    library: &crate::questionnaires::Library,
) -> Result<()> {
    for (i, v) in study.protocol.visits.iter().enumerate() {
        for (j, q) in v.questionnaires.iter().enumerate() {
            let (key, version) = q.split_once('@').unwrap_or((q, ""));
            if library.get(key, version).is_none() {
                return Err(Error::invalid(
                    format!("{}: visits[{i}].questionnaires[{j}]", file.display()),
                    format!("{q:?} is not a published questionnaire version"),
                ));
            }
        }
    }
    Ok(())
}

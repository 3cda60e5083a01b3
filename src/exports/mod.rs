//! Exports for statisticians: answers (long), visits, scores, the audit trail, a data
//! dictionary, and FHIR R4 QuestionnaireResponses. CSV is UTF-8 with a header row and ISO 8601
//! times; the `excel` dialect adds a BOM and `;` separators for Belgian Excel. Exports stream
//! participant by participant, so memory stays flat however large the trial grows.

mod amendments;
mod answers;
mod audit_trail;
mod dictionary;
pub(crate) mod fhir_responses;
mod odm;
mod qs;
mod records;
pub(crate) mod scores;
mod visits;

pub use answers::ANSWER_COLUMNS;
pub use audit_trail::{AUDIT_COLUMNS, audit_csv};
pub use dictionary::dictionary_csv;
pub use odm::OdmFile;
pub use scores::SCORE_COLUMNS;
pub use visits::VISIT_COLUMNS;

pub mod archive;

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::{Stream, StreamExt, stream};

use crate::{
    app::App,
    auth::{self, StaffActor},
    domain::permissions::Action,
    error::{Error, Result},
    store::{self, participants::ParticipantRow},
};

/// The export files, in the order the exports page lists them.
pub const FILES: [&str; 16] = [
    "answers.csv",
    "amendments.csv",
    "visits.csv",
    "scores.csv",
    "events.csv",
    "lesions.csv",
    "analgesics.csv",
    "pain.csv",
    "qs.csv",
    "dictionary.csv",
    "wording.csv",
    "audit.csv",
    "fhir.ndjson",
    "odm.xml",
    "participants.csv",
    "staff.csv",
];

/// How to write an export: the CSV dialect, whether unsubmitted drafts are included (data
/// managers only; by default exports hold submitted data only; odm.xml never holds drafts), and
/// which ODM file (snapshot or transactional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub dialect: Dialect,
    pub drafts: bool,
    pub odm: OdmFile,
}

impl Options {
    /// From the query: `dialect` (standard or excel) and `include` (`drafts`).
    pub fn parse(actor: &StaffActor, dialect: Option<&str>, include: Option<&str>) -> Result<Self> {
        let dialect = Dialect::parse(dialect)?;
        let drafts = match include.map(str::trim).filter(|s| !s.is_empty()) {
            None => false,
            Some("drafts") => {
                auth::authorize(actor, Action::ExportDrafts, None)?;
                true
            }
            Some(other) => {
                return Err(Error::operator(
                    "include",
                    format!("{other:?} is not drafts"),
                ));
            }
        };
        Ok(Options {
            dialect,
            drafts,
            odm: OdmFile::Snapshot,
        })
    }
}

/// One export file for the actor's participants (site-scoped); `None` for an unknown name.
pub async fn export(
    app: Arc<App>,
    actor: &StaffActor,
    file: &str,
    opts: Options,
) -> Result<ByteStream> {
    match file {
        "audit.csv" => audit_csv(app, actor, opts.dialect).await,
        "dictionary.csv" => {
            auth::authorize(actor, Action::ResponseRead, None)?;
            let bytes = dictionary_csv(&app, opts.dialect);
            Ok(Box::pin(stream::once(async move { Ok(bytes) })))
        }
        "wording.csv" => {
            auth::authorize(actor, Action::ResponseRead, None)?;
            let bytes = wording_csv(&app, opts.dialect).await?;
            Ok(Box::pin(stream::once(async move { Ok(bytes) })))
        }
        "staff.csv" => {
            auth::authorize(actor, Action::ResponseRead, None)?;
            let bytes = staff_csv(&app, actor, opts.dialect).await?;
            Ok(Box::pin(stream::once(async move { Ok(bytes) })))
        }
        _ if FILES.contains(&file) => {
            let people = scope(&app, actor).await?;
            export_of(app, people, file, opts).await
        }
        _ => Err(Error::NotFound(format!(
            "export {file:?}; the exports are {}",
            FILES.join(", ")
        ))),
    }
}

/// The words of every wording pack served, by the hash `answers.csv` records as
/// `wording_sha256`: one row per text key (docs/exports.md).
pub const WORDING_COLUMNS: [&str; 7] = [
    "wording_sha256",
    "questionnaire",
    "version",
    "language",
    "kind",
    "text_key",
    "text",
];

pub async fn wording_csv(app: &App, dialect: Dialect) -> Result<Bytes> {
    let mut rows: Vec<Vec<String>> = vec![WORDING_COLUMNS.iter().map(|c| c.to_string()).collect()];
    for p in store::questionnaires::wording_packs(&app.db).await? {
        for (key, text) in p.texts.0.iter() {
            rows.push(vec![
                p.sha256.clone(),
                p.key.clone(),
                p.version.clone(),
                p.language.clone(),
                p.kind.clone(),
                key.clone(),
                text.clone(),
            ]);
        }
    }
    Ok(Bytes::from(csv_start(dialect, &rows)))
}

/// The staff accounts by id, so the staff ids of the other files (`actor_id`, `amended_by`,
/// `recorded_by`, audit `actor_id`) can be decoded: role, sites, whether disabled, when created.
/// No email or name: who an id is, the administrator's Users page says (docs/exports.md).
pub const STAFF_COLUMNS: [&str; 5] = ["staff_id", "role", "sites", "disabled", "created_at"];

/// staff.csv: every account for a data manager; for site-bound roles, the accounts of their
/// sites and those bound to no site (data managers, administrators).
pub async fn staff_csv(app: &App, actor: &StaffActor, dialect: Dialect) -> Result<Bytes> {
    let scope = auth::site_scope(actor, None);
    let mut rows: Vec<Vec<String>> = vec![STAFF_COLUMNS.iter().map(|c| c.to_string()).collect()];
    for s in store::staff::list(&app.db).await? {
        let visible = scope
            .as_ref()
            .is_none_or(|own| s.sites.is_empty() || s.sites.iter().any(|x| own.contains(x)));
        if visible {
            rows.push(vec![
                s.id.to_string(),
                s.role.clone(),
                s.sites.join("|"),
                s.disabled.to_string(),
                iso(s.created_at),
            ]);
        }
    }
    Ok(Bytes::from(csv_start(dialect, &rows)))
}

/// One participant-level export file for the given participants (the site archive uses these).
pub async fn export_of(
    app: Arc<App>,
    people: Vec<ParticipantRow>,
    file: &str,
    opts: Options,
) -> Result<ByteStream> {
    Ok(match file {
        "answers.csv" => answers::answers_csv_of(app, people, opts),
        "amendments.csv" => amendments::amendments_csv_of(app, people, opts),
        "visits.csv" => visits::visits_csv_of(app, people, opts),
        "scores.csv" => scores::scores_csv_of(app, people, opts),
        "events.csv" => records::events_csv_of(app, people, opts),
        "lesions.csv" => records::lesions_csv_of(app, people, opts),
        "analgesics.csv" => records::analgesics_csv_of(app, people, opts),
        "pain.csv" => records::pain_csv_of(app, people, opts),
        "qs.csv" => qs::qs_csv_of(app, people, opts),
        "participants.csv" => records::participants_csv_of(app, people, opts),
        "fhir.ndjson" => fhir_responses::fhir_ndjson_of(app, people, opts),
        "odm.xml" => {
            // Its audit records name their events' sequence numbers: number those committed.
            crate::jobs::sequencer::pass(&app, true).await?;
            odm::odm_of(app, people, opts.odm)
        }
        other => {
            return Err(Error::NotFound(format!(
                "export {other:?} is not per participant"
            )));
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Standard,
    Excel,
}

impl Dialect {
    pub fn parse(s: Option<&str>) -> Result<Self> {
        match s {
            None | Some("standard") => Ok(Dialect::Standard),
            Some("excel") => Ok(Dialect::Excel),
            Some(other) => Err(Error::operator(
                "dialect",
                format!("{other:?} is not standard or excel"),
            )),
        }
    }
}

/// Whether a response belongs in an export: submitted ones always, drafts when asked.
fn exported(r: &store::responses::ResponseRow, opts: Options) -> bool {
    opts.drafts || r.status.is_submitted()
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The columns that can carry free or user-supplied text: what participants or staff typed
/// (answers, reasons, lesion labels and details, audit values), and prose from deployment files
/// (questionnaire wording, labels of the study, scoring and SDTM mapping files). Only their
/// cells are neutralised (`neutralize`). Every other column holds what epro writes itself:
/// validated codes and ids, numbers, booleans, dates, instants and ISO 8601 durations
/// (`QSEVLINT` `-P1W` is data, not a formula). docs/exports.md lists them.
pub const TEXT_COLUMNS: [&str; 22] = [
    // answers.csv, amendments.csv, qs.csv: answers as typed
    "value",
    "old_value",
    "new_value",
    "QSORRES",
    "QSSTRESC",
    // staff's words
    "reason",
    "missed_reason",
    "QSREASND",
    "label",
    "lesion_label",
    "detail",
    // the site archive's lesions and events: labels and details as stored (JSON)
    "labels",
    "details",
    // audit.csv: values before and after, and what they were done to
    "before",
    "after",
    "entity_id",
    // prose of deployment files
    "text",
    "meaning",
    "recall",
    "location_label",
    "scale_label",
    "QSTEST",
];

/// Whether a column can carry free or user-supplied text (`TEXT_COLUMNS`; the dictionary's
/// `label_<language>` columns and `QSCAT`, a mapping file's category, too).
pub fn carries_text(column: &str) -> bool {
    TEXT_COLUMNS.contains(&column) || column.starts_with("label_") || column == "QSCAT"
}

/// Which columns of a file are neutralised, by its header (`carries_text`). A cell beyond the
/// header is neutralised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextColumns(Vec<bool>);

impl TextColumns {
    pub(crate) fn of<S: AsRef<str>>(header: &[S]) -> Self {
        TextColumns(header.iter().map(|c| carries_text(c.as_ref())).collect())
    }

    fn neutralises(&self, i: usize) -> bool {
        self.0.get(i).copied().unwrap_or(true)
    }
}

/// A text cell as written to CSV: text that a spreadsheet would run as a formula (it begins with
/// `=`, `+`, `-`, `@`, a tab or a carriage return; OWASP "CSV injection") gets a leading `'`.
/// Numbers (`-1.5`, `+2`) are written as they are: they cannot run, and analysts need them.
pub fn neutralize(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell
        .chars()
        .next()
        .is_some_and(|c| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r'));
    if risky && !is_plain_number(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// `[+-]digits[.digits][e[+-]digits]`, nothing else.
fn is_plain_number(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((i, f)) => digits(i) && digits(f),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(digits)
}

/// Encode rows as CSV in the dialect (no BOM; the stream adds it once). The cells of text
/// columns go through `neutralize`.
pub(crate) fn csv_bytes(dialect: Dialect, text: &TextColumns, rows: &[Vec<String>]) -> Bytes {
    let mut w = csv::WriterBuilder::new()
        .delimiter(if dialect == Dialect::Excel {
            b';'
        } else {
            b','
        })
        .from_writer(Vec::new());
    for r in rows {
        // Writing to a Vec cannot fail.
        let _ = w.write_record(r.iter().enumerate().map(|(i, c)| {
            if text.neutralises(i) {
                neutralize(c).into_owned()
            } else {
                c.clone()
            }
        }));
    }
    Bytes::from(w.into_inner().unwrap_or_default())
}

/// The start of a CSV file: a BOM for the Excel dialect, then `rows`, the first of which is
/// the header (it names the text columns).
pub(crate) fn csv_start(dialect: Dialect, rows: &[Vec<String>]) -> Vec<u8> {
    let mut out = Vec::new();
    if dialect == Dialect::Excel {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    let text = TextColumns::of(rows.first().map(Vec::as_slice).unwrap_or_default());
    out.extend_from_slice(&csv_bytes(dialect, &text, rows));
    out
}

pub type ByteStream = std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// The participants the actor may export, checked against the permission table.
async fn scope(app: &App, actor: &StaffActor) -> Result<Vec<ParticipantRow>> {
    auth::authorize(actor, Action::ResponseRead, None)?;
    let sites = auth::site_scope(actor, None);
    Ok(store::participants::list(&app.db, sites.as_deref()).await?)
}

/// Header, then one chunk per participant produced by `rows`.
fn stream_rows<F, Fut>(
    app: Arc<App>,
    dialect: Dialect,
    header: Vec<&'static str>,
    people: Vec<ParticipantRow>,
    rows: F,
) -> ByteStream
where
    F: Fn(Arc<App>, ParticipantRow) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Vec<Vec<String>>>> + Send + 'static,
{
    let head = csv_start(dialect, &[header.iter().map(|s| s.to_string()).collect()]);
    let text = Arc::new(TextColumns::of(&header));
    let rows = Arc::new(rows);
    let body = stream::iter(people).then(move |p| {
        let (app, rows, text) = (app.clone(), rows.clone(), text.clone());
        async move {
            rows(app, p)
                .await
                .map(|r| csv_bytes(dialect, &text, &r))
                .map_err(|e| std::io::Error::other(e.to_string()))
        }
    });
    Box::pin(stream::once(async move { Ok(Bytes::from(head)) }).chain(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralized_and_numbers_kept() {
        let cases = [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+31 6", "'+31 6"),
            ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("-1.5", "-1.5"),
            ("+2", "+2"),
            ("-3e-2", "-3e-2"),
            ("-", "'-"),
            ("-.5", "'-.5"),
            ("left femur", "left femur"),
            ("", ""),
        ];
        for (cell, expected) in cases {
            assert_eq!(neutralize(cell), expected, "{cell:?}");
        }
    }

    #[test]
    fn both_dialects_write_neutralized_cells() {
        let text = TextColumns::of(&["value", "days_from_sse"]);
        for d in [Dialect::Standard, Dialect::Excel] {
            let out = csv_bytes(d, &text, &[vec!["=1+1".into(), "-2".into()]]);
            let text = String::from_utf8(out.to_vec()).expect("utf8");
            assert!(text.starts_with("'=1+1"), "{text}");
            assert!(text.contains("-2"), "{text}");
        }
    }

    /// Only columns that can carry free or user-supplied text are neutralised: an ISO 8601
    /// duration, an id or a code that epro writes is data; a formula typed as an answer, a
    /// reason or a lesion label still gets its apostrophe.
    #[test]
    fn only_text_columns_are_neutralised() {
        let header = [
            "QSEVLINT", "QSORRES", "reason", "label", "study_id", "label_nl", "QSCAT",
        ];
        let rows = vec![
            header.iter().map(|s| s.to_string()).collect(),
            ["-P1W", "=SUM(A1)", "-cmd", "@x", "-P1W", "=1", "+a"]
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        ];
        let out = String::from_utf8(csv_start(Dialect::Standard, &rows)).expect("utf8");
        let line = out.lines().nth(1).expect("row");
        assert_eq!(line, "-P1W,'=SUM(A1),'-cmd,'@x,-P1W,'=1,'+a");
        // (column, carries text?)
        let cases = [
            ("QSEVLINT", false),
            ("QSDTC", false),
            ("window_start", false),
            ("actor_id", false),
            ("value", true),
            ("missed_reason", true),
            ("text", true),
            ("label_fr", true),
        ];
        for (column, want) in cases {
            assert_eq!(carries_text(column), want, "{column}");
        }
    }
}

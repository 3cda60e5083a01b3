//! Exports for statisticians: answers (long), visits, scores, the audit trail, a data
//! dictionary, and FHIR R4 QuestionnaireResponses. CSV is UTF-8 with a header row and ISO 8601
//! times; the `excel` dialect adds a BOM and `;` separators for Belgian Excel. Exports stream
//! participant by participant, so memory stays flat however large the trial grows.

mod amendments;
mod answers;
mod audit_trail;
mod dictionary;
mod fhir_responses;
mod qs;
mod records;
mod scores;
mod visits;

pub use answers::ANSWER_COLUMNS;
pub use audit_trail::{AUDIT_COLUMNS, audit_csv};
pub use dictionary::dictionary_csv;
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
pub const FILES: [&str; 14] = [
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
    "participants.csv",
];

/// How to write an export: the CSV dialect, and whether unsubmitted drafts are included (data
/// managers only; by default exports hold submitted data only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub dialect: Dialect,
    pub drafts: bool,
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
        Ok(Options { dialect, drafts })
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

/// A cell as written to CSV: text that a spreadsheet would run as a formula (it begins with
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

/// Encode rows as CSV in the dialect (no BOM; the stream adds it once). Every cell goes
/// through `neutralize`.
pub(crate) fn csv_bytes(dialect: Dialect, rows: &[Vec<String>]) -> Bytes {
    let mut w = csv::WriterBuilder::new()
        .delimiter(if dialect == Dialect::Excel {
            b';'
        } else {
            b','
        })
        .from_writer(Vec::new());
    for r in rows {
        // Writing to a Vec cannot fail.
        let _ = w.write_record(r.iter().map(|c| neutralize(c).into_owned()));
    }
    Bytes::from(w.into_inner().unwrap_or_default())
}

/// The start of a CSV file: a BOM for the Excel dialect, then `rows` (usually the header).
pub(crate) fn csv_start(dialect: Dialect, rows: &[Vec<String>]) -> Vec<u8> {
    let mut out = Vec::new();
    if dialect == Dialect::Excel {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    out.extend_from_slice(&csv_bytes(dialect, rows));
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
    let rows = Arc::new(rows);
    let body = stream::iter(people).then(move |p| {
        let (app, rows) = (app.clone(), rows.clone());
        async move {
            rows(app, p)
                .await
                .map(|r| csv_bytes(dialect, &r))
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
        for d in [Dialect::Standard, Dialect::Excel] {
            let out = csv_bytes(d, &[vec!["=1+1".into(), "-2".into()]]);
            let text = String::from_utf8(out.to_vec()).expect("utf8");
            assert!(text.starts_with("'=1+1"), "{text}");
            assert!(text.contains("-2"), "{text}");
        }
    }
}

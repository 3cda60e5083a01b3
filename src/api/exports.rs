//! /api/v1/exports: streamed CSV (and FHIR NDJSON) for statisticians.

use std::sync::Arc;

use poem::Body;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Binary,
};

use super::{ApiError, StaffToken, Tag};
use crate::{
    app::App,
    exports::{self, OdmFile, Options},
};

pub struct ExportsApi {
    pub app: Arc<App>,
}

#[derive(ApiResponse)]
pub enum ExportResponse {
    /// UTF-8 CSV with a header row (`?dialect=excel`: BOM and `;` separators).
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Csv(Binary<Body>, #[oai(header = "Content-Disposition")] String),
    /// One FHIR R4 QuestionnaireResponse per line.
    #[oai(status = 200, content_type = "application/fhir+ndjson")]
    Ndjson(Binary<Body>, #[oai(header = "Content-Disposition")] String),
    /// CDISC ODM 1.3.2 (odm.xml).
    #[oai(status = 200, content_type = "application/xml")]
    Xml(Binary<Body>, #[oai(header = "Content-Disposition")] String),
}

#[OpenApi(tag = "Tag::Exports")]
impl ExportsApi {
    /// One export file (docs/exports.md): answers.csv, amendments.csv, visits.csv, scores.csv,
    /// events.csv, lesions.csv, analgesics.csv, participants.csv, dictionary.csv, wording.csv, audit.csv (data
    /// managers), fhir.ndjson or odm.xml (CDISC ODM 1.3.2). Submitted data only; `include=drafts`
    /// adds unsubmitted drafts to the CSV files (data managers). `dialect=excel`: BOM and `;`
    /// separators. odm.xml: `type=snapshot` (default) or `type=transactional` with `since`
    /// (and optionally `until`), RFC 3339 instants: the inserts and updates of that period.
    #[oai(path = "/v1/exports/:file", method = "get")]
    // One argument per query parameter of the route.
    #[allow(clippy::too_many_arguments)]
    async fn export(
        &self,
        token: StaffToken,
        file: Path<String>,
        dialect: Query<Option<String>>,
        include: Query<Option<String>>,
        #[oai(name = "type")] kind: Query<Option<String>>,
        since: Query<Option<String>>,
        until: Query<Option<String>>,
    ) -> Result<ExportResponse, ApiError> {
        let actor = token.actor(&self.app).await?;
        let mut opts = Options::parse(&actor, dialect.0.as_deref(), include.0.as_deref())?;
        if file.0 == "odm.xml" {
            opts.odm = OdmFile::parse(kind.0.as_deref(), since.0.as_deref(), until.0.as_deref())?;
        } else if kind.0.is_some() || since.0.is_some() || until.0.is_some() {
            return Err(crate::error::Error::operator(
                "type",
                "type, since and until are for odm.xml",
            )
            .into());
        }
        let s = exports::export(self.app.clone(), &actor, &file, opts).await?;
        let body = Binary(Body::from_bytes_stream(s));
        let disposition = format!("attachment; filename=\"{}\"", file.0);
        Ok(if file.ends_with(".ndjson") {
            ExportResponse::Ndjson(body, disposition)
        } else if file.ends_with(".xml") {
            ExportResponse::Xml(body, disposition)
        } else {
            ExportResponse::Csv(body, disposition)
        })
    }
}

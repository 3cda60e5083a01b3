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
    exports::{self, Options},
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
}

#[OpenApi(tag = "Tag::Exports")]
impl ExportsApi {
    /// One export file (docs/exports.md): answers.csv, amendments.csv, visits.csv, scores.csv,
    /// events.csv, lesions.csv, analgesics.csv, participants.csv, dictionary.csv, wording.csv, audit.csv (data
    /// managers) or fhir.ndjson. Submitted data only; `include=drafts` adds unsubmitted drafts
    /// (data managers). `dialect=excel`: BOM and `;` separators.
    #[oai(path = "/v1/exports/:file", method = "get")]
    async fn export(
        &self,
        token: StaffToken,
        file: Path<String>,
        dialect: Query<Option<String>>,
        include: Query<Option<String>>,
    ) -> Result<ExportResponse, ApiError> {
        let actor = token.actor(&self.app).await?;
        let opts = Options::parse(&actor, dialect.0.as_deref(), include.0.as_deref())?;
        let s = exports::export(self.app.clone(), &actor, &file, opts).await?;
        let body = Binary(Body::from_bytes_stream(s));
        let disposition = format!("attachment; filename=\"{}\"", file.0);
        Ok(if file.ends_with(".ndjson") {
            ExportResponse::Ndjson(body, disposition)
        } else {
            ExportResponse::Csv(body, disposition)
        })
    }
}

//! /api/v1/exports: streamed CSV (and FHIR NDJSON) for statisticians.

use std::sync::Arc;

use poem::Body;
use poem_openapi::{ApiResponse, OpenApi, param::Query, payload::Binary};

use super::{ApiError, StaffToken, Tag};
use crate::{
    app::App,
    auth,
    domain::permissions::Action,
    exports::{self, ByteStream, Dialect},
};

pub struct ExportsApi {
    pub app: Arc<App>,
}

#[derive(ApiResponse)]
pub enum CsvResponse {
    /// UTF-8 CSV with a header row (`?dialect=excel`: BOM and `;` separators).
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Ok(Binary<Body>, #[oai(header = "Content-Disposition")] String),
}

#[derive(ApiResponse)]
pub enum NdjsonResponse {
    /// One FHIR R4 QuestionnaireResponse per line.
    #[oai(status = 200, content_type = "application/fhir+ndjson")]
    Ok(Binary<Body>, #[oai(header = "Content-Disposition")] String),
}

fn csv(name: &str, s: ByteStream) -> CsvResponse {
    CsvResponse::Ok(
        Binary(Body::from_bytes_stream(s)),
        format!("attachment; filename=\"{name}\""),
    )
}

#[OpenApi(tag = "Tag::Exports")]
impl ExportsApi {
    /// One row per answer.
    #[oai(path = "/v1/exports/answers.csv", method = "get")]
    async fn answers(
        &self,
        token: StaffToken,
        dialect: Query<Option<String>>,
    ) -> Result<CsvResponse, ApiError> {
        let actor = token.actor(&self.app).await?;
        let d = Dialect::parse(dialect.0.as_deref())?;
        Ok(csv(
            "answers.csv",
            exports::answers_csv(self.app.clone(), &actor, d).await?,
        ))
    }

    /// One row per participant and visit.
    #[oai(path = "/v1/exports/visits.csv", method = "get")]
    async fn visits(
        &self,
        token: StaffToken,
        dialect: Query<Option<String>>,
    ) -> Result<CsvResponse, ApiError> {
        let actor = token.actor(&self.app).await?;
        let d = Dialect::parse(dialect.0.as_deref())?;
        Ok(csv(
            "visits.csv",
            exports::visits_csv(self.app.clone(), &actor, d).await?,
        ))
    }

    /// One row per response and scale, naming the scoring file.
    #[oai(path = "/v1/exports/scores.csv", method = "get")]
    async fn scores(
        &self,
        token: StaffToken,
        dialect: Query<Option<String>>,
    ) -> Result<CsvResponse, ApiError> {
        let actor = token.actor(&self.app).await?;
        let d = Dialect::parse(dialect.0.as_deref())?;
        Ok(csv(
            "scores.csv",
            exports::scores_csv(self.app.clone(), &actor, d).await?,
        ))
    }

    /// The audit trail (data managers).
    #[oai(path = "/v1/exports/audit.csv", method = "get")]
    async fn audit(
        &self,
        token: StaffToken,
        dialect: Query<Option<String>>,
    ) -> Result<CsvResponse, ApiError> {
        let actor = token.actor(&self.app).await?;
        let d = Dialect::parse(dialect.0.as_deref())?;
        Ok(csv(
            "audit.csv",
            exports::audit_csv(self.app.clone(), &actor, d).await?,
        ))
    }

    /// Every column and code with its meaning.
    #[oai(path = "/v1/exports/dictionary.csv", method = "get")]
    async fn dictionary(
        &self,
        token: StaffToken,
        dialect: Query<Option<String>>,
    ) -> Result<CsvResponse, ApiError> {
        let actor = token.actor(&self.app).await?;
        auth::authorize(&actor, Action::ResponseRead, None)?;
        let d = Dialect::parse(dialect.0.as_deref())?;
        let bytes = exports::dictionary_csv(&self.app, d);
        Ok(CsvResponse::Ok(
            Binary(Body::from_bytes(bytes)),
            "attachment; filename=\"dictionary.csv\"".into(),
        ))
    }

    /// One FHIR R4 QuestionnaireResponse per response.
    #[oai(path = "/v1/exports/fhir.ndjson", method = "get")]
    async fn fhir(&self, token: StaffToken) -> Result<NdjsonResponse, ApiError> {
        let actor = token.actor(&self.app).await?;
        let s = exports::fhir_ndjson(self.app.clone(), &actor).await?;
        Ok(NdjsonResponse::Ok(
            Binary(Body::from_bytes_stream(s)),
            "attachment; filename=\"fhir.ndjson\"".into(),
        ))
    }
}

//! /api/v1/sites: the study file's sites and whether each is disabled.

use std::sync::Arc;

use poem_openapi::{Object, OpenApi, param::Path, payload::Json};

use super::{ApiError, StaffToken, Tag, users::ReasonIn};
use crate::{admin::sites, app::App};

pub struct SitesApi {
    pub app: Arc<App>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SiteOut {
    pub code: String,
    pub name: String,
    pub city: String,
    /// The number participants are told to call.
    pub phone: String,
    pub email: String,
    pub disabled: bool,
}

impl From<sites::SiteView> for SiteOut {
    fn from(v: sites::SiteView) -> Self {
        Self {
            code: v.site.code,
            name: v.site.name,
            city: v.site.city,
            phone: v.site.phone,
            email: v.site.email,
            disabled: v.disabled,
        }
    }
}

#[OpenApi(tag = "Tag::Sites")]
impl SitesApi {
    /// The study's sites (from the study file).
    #[oai(path = "/v1/sites", method = "get")]
    async fn list(&self, token: StaffToken) -> Result<Json<Vec<SiteOut>>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let list = sites::list(&self.app, &actor).await?;
        Ok(Json(list.into_iter().map(SiteOut::from).collect()))
    }

    /// One site.
    #[oai(path = "/v1/sites/:code", method = "get")]
    async fn get(&self, token: StaffToken, code: Path<String>) -> Result<Json<SiteOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        Ok(Json(sites::get(&self.app, &actor, &code.0).await?.into()))
    }

    /// Disable a site (audited, with a reason).
    #[oai(path = "/v1/sites/:code/disable", method = "post")]
    async fn disable(
        &self,
        token: StaffToken,
        code: Path<String>,
        body: Json<ReasonIn>,
    ) -> Result<Json<SiteOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        Ok(Json(
            sites::set_disabled(&self.app, &actor, &code.0, true, &body.reason)
                .await?
                .into(),
        ))
    }

    /// Enable a disabled site (audited, with a reason).
    #[oai(path = "/v1/sites/:code/enable", method = "post")]
    async fn enable(
        &self,
        token: StaffToken,
        code: Path<String>,
        body: Json<ReasonIn>,
    ) -> Result<Json<SiteOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        Ok(Json(
            sites::set_disabled(&self.app, &actor, &code.0, false, &body.reason)
                .await?
                .into(),
        ))
    }
}

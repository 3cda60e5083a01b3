//! /api/v1/users: staff account administration (admin only).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use super::{ApiError, StaffToken, Tag};
use crate::{admin::users, app::App};

pub struct UsersApi {
    pub app: Arc<App>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UserOut {
    pub id: Uuid,
    pub email: String,
    /// admin, data_manager, monitor or site_staff.
    pub role: String,
    /// Site codes for monitors and site staff; empty for roles that see every site.
    pub sites: Vec<String>,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
}

impl From<users::StaffUser> for UserOut {
    fn from(u: users::StaffUser) -> Self {
        Self {
            id: u.id,
            email: u.email,
            role: u.role.as_str().into(),
            sites: u.sites,
            disabled: u.disabled,
            must_change_password: u.must_change_password,
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewUserIn {
    pub email: String,
    /// Initial password (at least 12 characters); the user must change it at first login.
    #[oai(write_only)]
    pub password: String,
    /// admin, data_manager, monitor or site_staff.
    pub role: String,
    /// Site codes; required for monitor and site_staff, empty for admin and data_manager.
    #[oai(default)]
    pub sites: Vec<String>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReasonIn {
    /// Why; kept in the audit trail.
    pub reason: String,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OneTimePassword {
    /// Shown once. The user must change it at first login.
    pub password: String,
}

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// List staff accounts.
    #[oai(path = "/v1/users", method = "get")]
    async fn list(&self, token: StaffToken) -> Result<Json<Vec<UserOut>>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let list = users::list(&self.app, &actor).await?;
        Ok(Json(list.into_iter().map(UserOut::from).collect()))
    }

    /// Create a staff account.
    #[oai(path = "/v1/users", method = "post")]
    async fn create(
        &self,
        token: StaffToken,
        body: Json<NewUserIn>,
    ) -> Result<Json<UserOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let body = body.0;
        let user = users::create(
            &self.app,
            &actor,
            users::NewUser {
                email: body.email,
                password: body.password,
                role: body.role,
                sites: body.sites,
                must_change_password: true,
            },
        )
        .await?;
        Ok(Json(user.into()))
    }

    /// One staff account.
    #[oai(path = "/v1/users/:id", method = "get")]
    async fn get(&self, token: StaffToken, id: Path<Uuid>) -> Result<Json<UserOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        Ok(Json(users::get(&self.app, &actor, id.0).await?.into()))
    }

    /// Disable an account; its sessions end at once.
    #[oai(path = "/v1/users/:id/disable", method = "post")]
    async fn disable(
        &self,
        token: StaffToken,
        id: Path<Uuid>,
        body: Json<ReasonIn>,
    ) -> Result<Json<UserOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        Ok(Json(
            users::set_disabled(&self.app, &actor, id.0, true, &body.reason)
                .await?
                .into(),
        ))
    }

    /// Enable a disabled account.
    #[oai(path = "/v1/users/:id/enable", method = "post")]
    async fn enable(
        &self,
        token: StaffToken,
        id: Path<Uuid>,
        body: Json<ReasonIn>,
    ) -> Result<Json<UserOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        Ok(Json(
            users::set_disabled(&self.app, &actor, id.0, false, &body.reason)
                .await?
                .into(),
        ))
    }

    /// Reset a password: returns a one-time password, to be changed at first login.
    #[oai(path = "/v1/users/:id/reset-password", method = "post")]
    async fn reset_password(
        &self,
        token: StaffToken,
        id: Path<Uuid>,
        body: Json<ReasonIn>,
    ) -> Result<Json<OneTimePassword>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let password = users::reset_password(&self.app, &actor, id.0, &body.reason).await?;
        Ok(Json(OneTimePassword { password }))
    }
}

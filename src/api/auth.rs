//! /api/v1/auth: staff login, logout, own account, password change.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{ApiError, StaffToken, Tag, client::client_address, users::UserOut};
use crate::{admin::users, app::App, auth};

pub struct AuthApi {
    pub app: Arc<App>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LoginRequest {
    pub email: String,
    #[oai(write_only)]
    pub password: String,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LoginResponse {
    /// Opaque bearer token.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// When true, PUT /api/v1/auth/password is the only thing this token may do first.
    pub must_change_password: bool,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PasswordChange {
    #[oai(write_only)]
    pub current_password: String,
    /// At least 12 characters.
    #[oai(write_only)]
    pub new_password: String,
}

#[derive(ApiResponse)]
pub enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "Tag::Auth")]
impl AuthApi {
    /// Log in with email and password.
    ///
    /// Wrong password and unknown email give the same 401. Repeated failures are throttled per
    /// account and per client address (429 with Retry-After).
    #[oai(path = "/v1/auth/login", method = "post")]
    async fn login(
        &self,
        req: &Request,
        body: Json<LoginRequest>,
    ) -> Result<Json<LoginResponse>, ApiError> {
        let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
        let forwarded = req.header("x-forwarded-for");
        let client = client_address(peer, forwarded, &self.app.trusted_proxies);
        let login = auth::login(&self.app, &body.email, &body.password, client).await?;
        Ok(Json(LoginResponse {
            token: login.token,
            expires_at: login.expires_at,
            must_change_password: login.must_change_password,
        }))
    }

    /// End this session.
    #[oai(path = "/v1/auth/logout", method = "post")]
    async fn logout(&self, token: StaffToken) -> Result<Done, ApiError> {
        let actor = token.actor(&self.app).await?;
        auth::logout(&self.app, &actor).await?;
        Ok(Done::NoContent)
    }

    /// Who am I.
    #[oai(path = "/v1/auth/me", method = "get")]
    async fn me(&self, token: StaffToken) -> Result<Json<UserOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        Ok(Json(users::me(&self.app, &actor).await?.into()))
    }

    /// Change my password (required first after a printed one-time password).
    #[oai(path = "/v1/auth/password", method = "put")]
    async fn change_password(
        &self,
        token: StaffToken,
        body: Json<PasswordChange>,
    ) -> Result<Done, ApiError> {
        let actor = token.actor(&self.app).await?;
        auth::change_password(
            &self.app,
            &actor,
            &body.current_password,
            &body.new_password,
        )
        .await?;
        Ok(Done::NoContent)
    }
}

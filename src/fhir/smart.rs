//! SMART Backend Services (SMART App Launch 2.x, "Backend Services"): the well-known
//! configuration, the token endpoint for the `client_credentials` grant with a JWT client
//! assertion (RS384 or ES384, checked by `jsonwebtoken` against the client's registered JWKS),
//! and client registration by an admin. Replay of an assertion (`jti`) is refused by a primary
//! key in the database, so it holds across concurrent requests and server instances.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet},
};
use poem::{Response, http::StatusCode};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::access::{Kind, client_actor};
use crate::{
    app::App,
    audit::{self, Entry},
    auth::{self, StaffActor},
    domain::permissions::Action,
    error::{Error, Result},
    store::{self, Json, StoreError, fhir::ClientRow},
};

/// Lifetime of an access token issued to a client.
pub const TOKEN_SECONDS: i64 = 300;
/// How far ahead an assertion's `exp` may lie (SMART: no more than five minutes).
pub const MAX_ASSERTION_SECONDS: i64 = 300;
/// Clock skew allowed on `exp`; a consumed `jti` is kept at least this long past its `exp`.
pub const SKEW_SECONDS: i64 = 60;
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The FHIR base URL clients are told about.
pub fn fhir_base(app: &App) -> String {
    format!("{}/fhir/r4", app.settings.base_url.trim_end_matches('/'))
}

/// The token endpoint's URL: the `aud` every assertion must carry.
pub fn token_url(app: &App) -> String {
    format!("{}/auth/token", fhir_base(app))
}

/// The scopes a client may be granted: read and search of each resource served.
pub fn supported_scopes() -> Vec<String> {
    Kind::ALL
        .iter()
        .map(|k| format!("system/{}.rs", k.as_str()))
        .collect()
}

/// `/.well-known/smart-configuration` (SMART App Launch 2.x §Conformance).
pub fn configuration(app: &App) -> Value {
    json!({
        "token_endpoint": token_url(app),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": supported_scopes(),
        "capabilities": ["client-confidential-asymmetric", "permission-v2"],
    })
}

/// A refused token request, in the OAuth 2.0 error shape (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn client(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
        }
    }
    fn request(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
        }
    }
    pub fn into_response(self) -> Response {
        oauth_json(
            self.status,
            &json!({ "error": self.error, "error_description": self.description }),
        )
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "token request failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "internal error; the server log has the details".into(),
        }
    }
}

impl From<sea_orm::DbErr> for OAuthError {
    fn from(e: sea_orm::DbErr) -> Self {
        StoreError::Db(e).into()
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        match e {
            Error::Store(s) => s.into(),
            other => {
                tracing::error!(error = %other, "token request failed");
                Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    error: "server_error",
                    description: "internal error; the server log has the details".into(),
                }
            }
        }
    }
}

/// JSON that must not be cached (tokens and their refusals).
pub fn oauth_json(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header("cache-control", "no-store")
        .header("pragma", "no-cache")
        .body(body.to_string())
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    exp: i64,
    jti: String,
}

/// The `iss` of an assertion, read before its signature is checked, only to find whose keys
/// check it.
fn claimed_issuer(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(str::to_string)
}

/// Check a client assertion: algorithm, key, signature, iss = sub = client, aud = the token
/// URL, `exp` in the future and at most five minutes ahead (on the injected clock). Returns the
/// client and the checked claims; the caller consumes the `jti`.
async fn check_assertion(
    app: &App,
    assertion: &str,
    now: DateTime<Utc>,
) -> std::result::Result<(ClientRow, Claims), OAuthError> {
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|e| OAuthError::client(format!("client_assertion is not a JWT: {e}")))?;
    if !matches!(header.alg, Algorithm::RS384 | Algorithm::ES384) {
        return Err(OAuthError::client(format!(
            "client_assertion is signed {:?}; RS384 and ES384 are accepted",
            header.alg
        )));
    }
    if header
        .typ
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("JWT"))
    {
        return Err(OAuthError::client(
            "client_assertion header typ must be JWT",
        ));
    }
    let client_id = claimed_issuer(assertion)
        .and_then(|iss| iss.parse::<Uuid>().ok())
        .ok_or_else(|| OAuthError::client("client_assertion iss is not a registered client id"))?;
    let client = store::fhir::find_client(&app.db, client_id)
        .await?
        .ok_or_else(|| OAuthError::client("client_assertion iss is not a registered client id"))?;
    if client.disabled {
        return Err(OAuthError::client("this client is disabled"));
    }
    let keys: JwkSet = serde_json::from_value(client.jwks.0.clone())
        .map_err(|e| Error::Internal(format!("stored JWKS of client {client_id}: {e}")))?;
    let candidates: Vec<&Jwk> = match header.kid.as_deref() {
        Some(kid) => keys.find(kid).into_iter().collect(),
        None => keys.keys.iter().collect(),
    };
    if candidates.is_empty() {
        return Err(OAuthError::client(
            "no registered key of this client has the assertion's kid",
        ));
    }
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[token_url(app)]);
    validation.set_issuer(&[client_id.to_string()]);
    validation.sub = Some(client_id.to_string());
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    // Expiry is judged below on the injected clock, not the system's.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let mut last = None;
    for jwk in candidates {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        match jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
            Ok(data) => {
                let claims = data.claims;
                let exp = DateTime::from_timestamp(claims.exp, 0)
                    .ok_or_else(|| OAuthError::client("client_assertion exp is out of range"))?;
                if exp + Duration::seconds(SKEW_SECONDS) <= now {
                    return Err(OAuthError::client("client_assertion has expired"));
                }
                if exp > now + Duration::seconds(MAX_ASSERTION_SECONDS + SKEW_SECONDS) {
                    return Err(OAuthError::client(
                        "client_assertion exp lies more than five minutes ahead",
                    ));
                }
                if claims.iss != claims.sub || claims.jti.trim().is_empty() {
                    return Err(OAuthError::client(
                        "client_assertion needs iss = sub = client id and a jti",
                    ));
                }
                return Ok((client, claims));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(OAuthError::client(match last {
        Some(e) => format!("client_assertion refused: {e}"),
        None => "client_assertion refused: no usable registered key".into(),
    }))
}

/// The token endpoint: form fields of a `client_credentials` request in, an access token out.
pub async fn token(app: &App, form: &[(String, String)]) -> std::result::Result<Value, OAuthError> {
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if field("grant_type") != Some("client_credentials") {
        return Err(OAuthError::request(
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        ));
    }
    if field("client_assertion_type") != Some(ASSERTION_TYPE) {
        return Err(OAuthError::request(
            "invalid_request",
            format!("client_assertion_type must be {ASSERTION_TYPE}"),
        ));
    }
    let assertion = field("client_assertion")
        .ok_or_else(|| OAuthError::request("invalid_request", "client_assertion is missing"))?;
    let requested: Vec<String> = field("scope")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let now = app.clock.now();
    let (client, claims) = check_assertion(app, assertion, now).await?;
    let granted: Vec<String> = requested
        .iter()
        .filter(|s| client.scopes.contains(s))
        .cloned()
        .collect();
    if granted.is_empty() {
        return Err(OAuthError::request(
            "invalid_scope",
            format!(
                "none of the requested scopes is registered for this client; it may ask for: {}",
                client.scopes.join(" ")
            ),
        ));
    }
    let exp = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let access_token = URL_SAFE_NO_PAD.encode(raw);
    let txn = store::begin_write(&app.db).await?;
    match store::fhir::consume_jti(
        &txn,
        client.id,
        &claims.jti,
        exp + Duration::seconds(SKEW_SECONDS),
    )
    .await
    {
        Ok(()) => {}
        Err(StoreError::Duplicate) => {
            return Err(OAuthError::client(
                "client_assertion jti was used before; sign a new assertion with a fresh jti",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    store::fhir::insert_token(
        &txn,
        store::fhir::TokenRow {
            token_hash: auth::token_hash(&access_token),
            client_id: client.id,
            scopes: Json(granted.clone()),
            expires_at: now + Duration::seconds(TOKEN_SECONDS),
        },
    )
    .await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(client_actor(client.id), "fhir.token_issued", "fhir_client")
            .entity(client.id)
            .after(json!({ "scope": granted.join(" ") })),
    )
    .await?;
    txn.commit().await?;
    Ok(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": TOKEN_SECONDS,
        "scope": granted.join(" "),
    }))
}

// ---- registration (admin) ----

/// A client to register.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: String,
    pub jwks: Value,
    pub sites: Vec<String>,
    pub scopes: Vec<String>,
}

fn invalid(field: &str, message: String) -> Error {
    Error::operator(field, message)
}

/// Check a JWKS for registration: public RSA or P-384 keys only, each with a `kid`.
pub fn check_jwks(jwks: &Value) -> Result<()> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            invalid(
                "jwks",
                "a JSON Web Key Set {\"keys\": [...]} with at least one key".into(),
            )
        })?;
    for (n, raw) in keys.iter().enumerate() {
        if raw.get("d").is_some() {
            return Err(invalid(
                "jwks",
                format!("key {n} holds a private key (\"d\"); register the public key only"),
            ));
        }
        let jwk: Jwk = serde_json::from_value(raw.clone())
            .map_err(|e| invalid("jwks", format!("key {n} is not a JWK: {e}")))?;
        if jwk.common.key_id.as_deref().is_none_or(str::is_empty) {
            return Err(invalid("jwks", format!("key {n} has no kid")));
        }
        let usable = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => true,
            AlgorithmParameters::EllipticCurve(p) => p.curve == EllipticCurve::P384,
            _ => false,
        };
        if !usable || DecodingKey::from_jwk(&jwk).is_err() {
            return Err(invalid(
                "jwks",
                format!("key {n} must be an RSA key (RS384) or an EC P-384 key (ES384)"),
            ));
        }
    }
    Ok(())
}

pub async fn register(app: &App, actor: &StaffActor, new: NewClient) -> Result<ClientRow> {
    auth::authorize(actor, Action::UserCreate, None)?;
    register_as(app, Some(actor), new).await
}

/// Register a client (the CLI passes no actor: the operator on the machine).
pub async fn register_as(
    app: &App,
    actor: Option<&StaffActor>,
    new: NewClient,
) -> Result<ClientRow> {
    let name = new.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("name", "a name of 1 to 200 characters".into()));
    }
    check_jwks(&new.jwks)?;
    if new.sites.is_empty() {
        return Err(invalid(
            "sites",
            "at least one site the client may read".into(),
        ));
    }
    for s in &new.sites {
        if app.study.site(s).is_none() {
            return Err(invalid(
                "sites",
                format!("{s:?} is not a site of this study"),
            ));
        }
    }
    let supported = supported_scopes();
    if new.scopes.is_empty() {
        return Err(invalid(
            "scopes",
            format!("one or more of: {}", supported.join(" ")),
        ));
    }
    for s in &new.scopes {
        if !supported.contains(s) {
            return Err(invalid(
                "scopes",
                format!("{s:?} is not supported; use: {}", supported.join(" ")),
            ));
        }
    }
    let now = app.clock.now();
    let row = ClientRow {
        id: Uuid::new_v4(),
        name,
        jwks: Json(new.jwks),
        sites: Json(new.sites),
        scopes: Json(new.scopes),
        disabled: false,
        created_at: now,
    };
    let txn = store::begin_write(&app.db).await?;
    store::fhir::insert_client(&txn, row.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(
            actor.map_or_else(crate::domain::audit::Actor::system, StaffActor::audit_actor),
            "fhir_client.registered",
            "fhir_client",
        )
        .entity(row.id)
        .after(json!({ "name": row.name, "sites": row.sites.0, "scopes": row.scopes.0 })),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

pub async fn list(app: &App, actor: &StaffActor) -> Result<Vec<ClientRow>> {
    auth::authorize(actor, Action::UserList, None)?;
    Ok(store::fhir::clients(&app.db).await?)
}

/// Disable (or enable again) a client: its tokens stop working at once.
pub async fn set_disabled(
    app: &App,
    actor: Option<&StaffActor>,
    id: Uuid,
    disabled: bool,
) -> Result<ClientRow> {
    if let Some(a) = actor {
        auth::authorize(a, Action::UserDisable, None)?;
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let mut row = store::fhir::find_client(&txn, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("FHIR client {id}")))?;
    let before = row.disabled;
    row.disabled = disabled;
    store::fhir::update_client(&txn, row.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(
            actor.map_or_else(crate::domain::audit::Actor::system, StaffActor::audit_actor),
            if disabled {
                "fhir_client.disabled"
            } else {
                "fhir_client.enabled"
            },
            "fhir_client",
        )
        .entity(id)
        .before(json!({ "disabled": before })),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

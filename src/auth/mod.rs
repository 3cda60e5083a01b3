//! Staff authentication and the one permission gate. Owns password hashing (argon2id on a
//! blocking thread), sessions (random opaque tokens, stored as sha256), login throttling per
//! account and per client address, and `authorize`, which every staff handler calls.

pub(crate) mod hashing;
pub(crate) mod participant;
pub(crate) mod throttle;

use crate::domain::problem::Problem;
use std::net::IpAddr;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rand::{Rng, RngCore};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    app::App,
    audit::{self, Entry},
    auth::throttle as guard,
    domain::{
        audit::Actor,
        permissions::{self, Action, Refusal},
        staff::{NewPassword, Role, StaffEmail},
        throttle as limits,
    },
    error::{Code, Error, Result},
    store,
};

/// An authenticated staff member, for the duration of one request.
#[derive(Debug, Clone)]
pub struct StaffActor {
    pub id: Uuid,
    pub role: Role,
    pub sites: Vec<String>,
    pub must_change_password: bool,
    pub session_expires_at: DateTime<Utc>,
    token_hash: String,
}

impl StaffActor {
    pub fn audit_actor(&self) -> Actor {
        Actor::staff(self.id)
    }
}

/// The one permission gate: the table in `domain::permissions` plus the rule that a printed
/// password must be changed before anything but the own account.
pub fn authorize(actor: &StaffActor, action: Action, site: Option<&str>) -> Result<()> {
    if actor.must_change_password && action != Action::OwnAccount {
        return Err(Error::PasswordChangeRequired);
    }
    permissions::decide(actor.role, &actor.sites, action, site).map_err(|r| match r {
        Refusal::Forbidden { action } => Error::Forbidden(action),
        Refusal::NotVisible => Error::NotFound("record".into()),
    })
}

/// The sites a staff member's lists cover: `None` = every site (roles not bound to sites),
/// otherwise their own sites, narrowed to `filter` when one is asked for (another site's filter
/// yields nothing, not an error, so ids do not leak).
pub fn site_scope(actor: &StaffActor, filter: Option<String>) -> Option<Vec<String>> {
    match (actor.role.is_site_bound(), filter) {
        (true, Some(s)) => Some(
            actor
                .sites
                .iter()
                .filter(|own| **own == s)
                .cloned()
                .collect(),
        ),
        (true, None) => Some(actor.sites.clone()),
        (false, Some(s)) => Some(vec![s]),
        (false, None) => None,
    }
}

/// The refusal for a participant who is not on the actor's sites (or does not exist).
pub(crate) fn unknown_participant(study_id: &str) -> Error {
    Error::Unknown {
        code: Code::UnknownParticipant,
        message: format!("no participant {study_id:?} on your sites"),
    }
}

/// Load a participant the actor may act on for `action`; another site's participant answers
/// 404 (so ids do not leak), a role without the permission 403. `lock` locks the row for the
/// rest of a write transaction. The one way every staff service finds a participant.
pub async fn for_staff<C: sea_orm::ConnectionTrait>(
    db: &C,
    actor: &StaffActor,
    action: Action,
    study_id: &str,
    lock: bool,
) -> Result<crate::store::participants::ParticipantRow> {
    // Roles with no access at all are refused before anything is looked up.
    if crate::domain::permissions::access(actor.role, action)
        == crate::domain::permissions::Access::Denied
    {
        authorize(actor, action, None)?;
    }
    let p = if lock {
        crate::store::participants::find_for_update(db, study_id).await?
    } else {
        crate::store::participants::find(db, study_id).await?
    }
    .ok_or_else(|| unknown_participant(study_id))?;
    authorize(actor, action, Some(&p.site_code)).map_err(|e| match e {
        Error::NotFound(_) => unknown_participant(study_id),
        other => other,
    })?;
    Ok(p)
}

// ---- passwords ----

/// Hash a password or PIN on the bounded hashing pool (`hashing`).
pub async fn hash_password(app: &App, password: String) -> Result<String> {
    app.hasher.hash(password).await
}

/// A one-time password for printing: 20 characters from an alphabet without look-alikes.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

// ---- tokens ----

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Keyed hash of a throttling key, so the table holds neither emails nor addresses.
pub(crate) fn throttle_key(app: &App, scope: &str, value: &str) -> Result<String> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(app.keys.data.bytes())
        .map_err(|e| Error::Internal(e.to_string()))?;
    mac.update(scope.as_bytes());
    mac.update(b":");
    mac.update(value.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// What a staff login attempt counts against: the account from this address, the account from
/// anywhere, and this address for any account.
fn login_limits(
    app: &App,
    email: &str,
    client: Option<IpAddr>,
) -> Result<Vec<(limits::Limit, String)>> {
    // IPv6 clients count per network (EPRO_THROTTLE_IPV6_PREFIX), IPv4 per address.
    let client = client.map(|ip| limits::client_source(ip, app.settings.throttle_ipv6_prefix));
    let source = client.clone().unwrap_or_else(|| "unknown".to_string());
    let mut keys = vec![
        (
            limits::STAFF_ACCOUNT_SOURCE,
            throttle_key(app, "account_source", &format!("{email}\u{0}{source}"))?,
        ),
        (limits::STAFF_ACCOUNT, throttle_key(app, "account", email)?),
    ];
    if let Some(source) = client {
        keys.push((
            limits::CLIENT_ADDRESS,
            throttle_key(app, "address", &source)?,
        ));
    }
    Ok(keys)
}

#[derive(Debug, Clone)]
pub struct Login {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub must_change_password: bool,
}

/// Log in with email and password. Unknown email, wrong password and disabled account all
/// give `InvalidCredentials` after the same work.
/// The account with this (normalized) email, if any, and whether the password is its password
/// (checked against a dummy hash when there is no account, so both take as long).
async fn account_and_password(
    app: &App,
    email: &str,
    password: &str,
) -> Result<(Option<store::staff::StaffRow>, bool)> {
    let user = store::staff::find_by_email(&app.db, email).await?;
    let ok = app
        .hasher
        .verify(
            password.to_string(),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
    Ok((user, ok))
}

/// Audit a failed staff login with its cause (never the email typed); returns the cause.
async fn record_failed_login(
    txn: &sea_orm::DatabaseTransaction,
    app: &App,
    user: Option<&store::staff::StaffRow>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<&'static str> {
    let failed = Entry::new(Actor::system(), "auth.login_failed", "staff_user");
    let (entry, why) = match user {
        Some(u) if u.disabled => (failed.entity(u.id), "account_disabled"),
        Some(u) => (failed.entity(u.id), "wrong_password"),
        None => (failed, "unknown_account"),
    };
    audit::record(
        txn,
        &app.keys.audit,
        now,
        entry.after(json!({ "cause": why })),
    )
    .await?;
    Ok(why)
}

pub async fn login(
    app: &App,
    email: &str,
    password: &str,
    client: Option<IpAddr>,
) -> Result<Login> {
    let now = app.clock.now();
    let normalized = StaffEmail::parse(email)
        .map(|e| e.as_str().to_string())
        .unwrap_or_else(|_| email.trim().to_lowercase());
    // Counted before the password is checked, so concurrent guesses all count.
    let attempt = guard::admit(app, &login_limits(app, &normalized, client)?, now).await?;
    let (user, ok) = match account_and_password(app, &normalized, password).await {
        Ok(found) => found,
        Err(e) => {
            attempt.release(&app.db).await;
            return Err(e);
        }
    };
    let txn = store::begin_write(&app.db).await?;
    match user {
        Some(user) if ok && !user.disabled => {
            attempt
                .succeeded(&txn, &[limits::STAFF_ACCOUNT_SOURCE])
                .await?;
            let token = new_token();
            let expires_at = now + Duration::hours(i64::from(app.settings.session_hours));
            store::staff::insert_session(&txn, &token_hash(&token), user.id, now, expires_at)
                .await?;
            audit::record(
                &txn,
                &app.keys.audit,
                now,
                Entry::new(Actor::staff(user.id), "auth.login", "staff_user").entity(user.id),
            )
            .await?;
            txn.commit().await?;
            tracing::info!(user = %user.id, "staff login");
            Ok(Login {
                token,
                expires_at,
                must_change_password: user.must_change_password,
            })
        }
        user => {
            attempt.failed();
            let why = record_failed_login(&txn, app, user.as_ref(), now).await?;
            txn.commit().await?;
            tracing::info!(cause = why, "staff login failed");
            Err(Error::InvalidCredentials)
        }
    }
}

/// Resolve a bearer token to its staff member. Expired, unknown or disabled → `Unauthenticated`.
pub async fn authenticate(app: &App, token: &str) -> Result<StaffActor> {
    let hash = token_hash(token);
    let Some((user_id, expires_at)) = store::staff::find_session(&app.db, &hash).await? else {
        return Err(Error::Unauthenticated);
    };
    if expires_at <= app.clock.now() {
        return Err(Error::Unauthenticated);
    }
    let Some(user) = store::staff::find(&app.db, user_id).await? else {
        return Err(Error::Unauthenticated);
    };
    if user.disabled {
        return Err(Error::Unauthenticated);
    }
    let role = user
        .role
        .parse::<Role>()
        .map_err(|e| Error::Internal(format!("stored role: {e}")))?;
    Ok(StaffActor {
        id: user.id,
        role,
        sites: user.sites,
        must_change_password: user.must_change_password,
        session_expires_at: expires_at,
        token_hash: hash,
    })
}

pub async fn logout(app: &App, actor: &StaffActor) -> Result<()> {
    authorize(actor, Action::OwnAccount, None)?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    store::staff::delete_session(&txn, &actor.token_hash).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "auth.logout", "staff_user").entity(actor.id),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Change one's own password: the current one must be given; other sessions end.
pub async fn change_password(
    app: &App,
    actor: &StaffActor,
    current: &str,
    new: &str,
) -> Result<()> {
    authorize(actor, Action::OwnAccount, None)?;
    let new = NewPassword::parse(new).map_err(|p| Error::invalid("new_password", p))?;
    if new.expose() == current {
        return Err(Error::invalid("new_password", Problem::PasswordUnchanged));
    }
    let user = store::staff::find(&app.db, actor.id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let now = app.clock.now();
    let limits = [(
        limits::PASSWORD_CHANGE,
        throttle_key(app, "password_change", &actor.id.to_string())?,
    )];
    let attempt = guard::admit(app, &limits, now).await?;
    let checked = app
        .hasher
        .verify(current.to_string(), Some(user.password_hash))
        .await;
    let hash = match checked {
        Ok(true) => app.hasher.hash(new.expose().to_string()).await,
        Ok(false) => {
            attempt.failed();
            return Err(Error::invalid(
                "current_password",
                Problem::WrongCurrentPassword,
            ));
        }
        Err(e) => Err(e),
    };
    let hash = match hash {
        Ok(h) => h,
        Err(e) => {
            attempt.release(&app.db).await;
            return Err(e);
        }
    };
    let txn = store::begin_write(&app.db).await?;
    attempt.succeeded(&txn, &[limits::PASSWORD_CHANGE]).await?;
    store::staff::set_password(&txn, actor.id, &hash, false).await?;
    store::staff::delete_other_sessions(&txn, actor.id, &actor.token_hash).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "auth.password_changed", "staff_user")
            .entity(actor.id)
            .after(json!({ "fields": ["password"] })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_meet_the_rule() {
        let p = generate_password();
        assert!(NewPassword::parse(&p).is_ok());
        assert_ne!(p, generate_password());
    }
}

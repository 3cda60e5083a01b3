//! Staff account administration: create, list, disable/enable, reset a password, and the
//! first admin at first start. Every change is audited without the email (personal data).

use crate::domain::problem::Problem;
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::{
    app::App,
    audit::{self, Entry},
    auth::{self, StaffActor},
    domain::{
        audit::Actor,
        permissions::Action,
        staff::{NewPassword, Role, StaffEmail},
    },
    error::{Code, Error, Result},
    store::{self, StoreError, staff::StaffRow},
};

/// A staff account as shown to an admin.
#[derive(Debug, Clone)]
pub struct StaffUser {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub sites: Vec<String>,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
}

fn to_user(row: StaffRow) -> Result<StaffUser> {
    Ok(StaffUser {
        id: row.id,
        role: row
            .role
            .parse()
            .map_err(|e: String| Error::Internal(format!("stored role: {e}")))?,
        email: row.email,
        sites: row.sites,
        disabled: row.disabled,
        must_change_password: row.must_change_password,
        created_at: row.created_at,
    })
}

pub struct NewUser {
    pub email: String,
    pub password: String,
    pub role: String,
    pub sites: Vec<String>,
    /// A password someone else chose or saw (admin-set, printed) must be changed at first login.
    pub must_change_password: bool,
}

/// Check role and sites against the study: site-bound roles need at least one known site;
/// admins and data managers see every site and list none.
fn validate_sites(app: &App, role: Role, sites: &[String]) -> Result<Vec<String>> {
    let mut sites: Vec<String> = sites.iter().map(|s| s.trim().to_uppercase()).collect();
    sites.sort();
    sites.dedup();
    for (i, code) in sites.iter().enumerate() {
        if app.study.site(code).is_none() {
            let known: Vec<_> = app.study.sites.iter().map(|s| s.code.as_str()).collect();
            return Err(Error::invalid(
                format!("sites[{i}]"),
                Problem::NotOneOf {
                    given: code.clone(),
                    allowed: known.into_iter().map(String::from).collect(),
                },
            ));
        }
    }
    match (role.is_site_bound(), sites.is_empty()) {
        (true, true) => Err(Error::operator(
            "sites",
            format!("a {role} needs at least one site"),
        )),
        (false, false) => Err(Error::operator(
            "sites",
            format!("a {role} works on every site; list no sites"),
        )),
        _ => Ok(sites),
    }
}

/// Create an account (the caller has been authorized, or is the system at first start).
async fn insert(app: &App, actor: Actor, new: NewUser) -> Result<StaffUser> {
    let email = StaffEmail::parse(&new.email)
        .map_err(|m| Error::invalid("email", Problem::NotAnEmail(m)))?;
    let role: Role = new
        .role
        .parse()
        .map_err(|m: String| Error::operator("role", m))?;
    let sites = validate_sites(app, role, &new.sites)?;
    let password = NewPassword::parse(&new.password).map_err(|p| Error::invalid("password", p))?;
    let hash = auth::hash_password(app, password.expose().to_string()).await?;
    let now = app.clock.now();
    let row = StaffRow {
        id: Uuid::new_v4(),
        email: email.as_str().to_string(),
        password_hash: hash,
        role: role.as_str().to_string(),
        disabled: false,
        must_change_password: new.must_change_password,
        created_at: now,
        sites,
        language: None,
    };
    let txn = store::begin_write(&app.db).await?;
    store::staff::insert(&txn, &row)
        .await
        .map_err(|e| match e {
            StoreError::Duplicate => Error::Conflict {
                code: Code::EmailTaken,
                message: "a staff account with this email already exists".into(),
            },
            other => other.into(),
        })?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor, "user.created", "staff_user")
            .entity(row.id)
            .after(
                json!({ "role": row.role, "sites": row.sites, "fields": ["email", "password"] }),
            ),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(user = %row.id, role = %row.role, "staff account created");
    to_user(row)
}

pub async fn create(app: &App, actor: &StaffActor, new: NewUser) -> Result<StaffUser> {
    auth::authorize(actor, Action::UserCreate, None)?;
    insert(app, actor.audit_actor(), new).await
}

/// Create from the command line (`epro users create`): a one-time password is generated.
pub async fn create_from_cli(
    app: &App,
    email: &str,
    role: &str,
    sites: Vec<String>,
) -> Result<(StaffUser, String)> {
    let password = auth::generate_password();
    let user = insert(
        app,
        Actor::system(),
        NewUser {
            email: email.into(),
            password: password.clone(),
            role: role.into(),
            sites,
            must_change_password: true,
        },
    )
    .await?;
    Ok((user, password))
}

pub async fn list(app: &App, actor: &StaffActor) -> Result<Vec<StaffUser>> {
    auth::authorize(actor, Action::UserList, None)?;
    store::staff::list(&app.db)
        .await?
        .into_iter()
        .map(to_user)
        .collect()
}

pub async fn get(app: &App, actor: &StaffActor, id: Uuid) -> Result<StaffUser> {
    auth::authorize(actor, Action::UserList, None)?;
    let row = store::staff::find(&app.db, id)
        .await?
        .ok_or_else(|| Error::NotFound("staff user".into()))?;
    to_user(row)
}

/// The caller's own account.
pub async fn me(app: &App, actor: &StaffActor) -> Result<StaffUser> {
    auth::authorize(actor, Action::OwnAccount, None)?;
    let row = store::staff::find(&app.db, actor.id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    to_user(row)
}

pub async fn set_disabled(
    app: &App,
    actor: &StaffActor,
    id: Uuid,
    disabled: bool,
    reason: &str,
) -> Result<StaffUser> {
    auth::authorize(actor, Action::UserDisable, None)?;
    if reason.trim().is_empty() {
        return Err(Error::invalid("reason", Problem::ReasonRequired));
    }
    if disabled && id == actor.id {
        return Err(Error::Conflict {
            code: Code::CannotDisableSelf,
            message: "you cannot disable your own account".into(),
        });
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let row = store::staff::find_for_update(&txn, id)
        .await?
        .ok_or_else(|| Error::NotFound("staff user".into()))?;
    store::staff::set_disabled(&txn, id, disabled).await?;
    if disabled {
        store::staff::delete_sessions_of(&txn, id).await?;
    }
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(
            actor.audit_actor(),
            if disabled {
                "user.disabled"
            } else {
                "user.enabled"
            },
            "staff_user",
        )
        .entity(id)
        .before(json!({ "disabled": row.disabled }))
        .after(json!({ "disabled": disabled }))
        .reason(reason.trim()),
    )
    .await?;
    txn.commit().await?;
    get(app, actor, id).await
}

/// Reset someone's password: returns a one-time password to hand over; it must be changed at
/// first login, and every session of that account ends.
pub async fn reset_password(
    app: &App,
    actor: &StaffActor,
    id: Uuid,
    reason: &str,
) -> Result<String> {
    auth::authorize(actor, Action::UserResetPassword, None)?;
    if reason.trim().is_empty() {
        return Err(Error::invalid("reason", Problem::ReasonRequired));
    }
    store::staff::find(&app.db, id)
        .await?
        .ok_or_else(|| Error::NotFound("staff user".into()))?;
    let password = auth::generate_password();
    let hash = auth::hash_password(app, password.clone()).await?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    store::staff::set_password(&txn, id, &hash, true).await?;
    store::staff::delete_sessions_of(&txn, id).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "user.password_reset", "staff_user")
            .entity(id)
            .after(json!({ "fields": ["password"], "must_change_password": true }))
            .reason(reason.trim()),
    )
    .await?;
    txn.commit().await?;
    Ok(password)
}

/// The first admin, created when the database has no active admin.
#[derive(Debug, Clone)]
pub struct BootstrapAdmin {
    pub email: String,
    /// Present when generated: printed once, to be changed at first login.
    pub one_time_password: Option<String>,
}

pub async fn bootstrap_admin(app: &App) -> Result<Option<BootstrapAdmin>> {
    if store::staff::count_active_admins(&app.db).await? > 0 {
        return Ok(None);
    }
    let (password, one_time) = match &app.settings.bootstrap_admin_password {
        Some(p) => (p.expose().to_string(), false),
        None => (auth::generate_password(), true),
    };
    let user = insert(
        app,
        Actor::system(),
        NewUser {
            email: app.settings.bootstrap_admin_email.clone(),
            password: password.clone(),
            role: Role::Admin.as_str().into(),
            sites: vec![],
            must_change_password: one_time,
        },
    )
    .await
    .map_err(|e| match e {
        Error::Invalid { field, problem, .. } => Error::operator(
            format!("EPRO_BOOTSTRAP_ADMIN_{}", field.to_uppercase()),
            problem.to_string(),
        ),
        other => other,
    })?;
    Ok(Some(BootstrapAdmin {
        email: user.email,
        one_time_password: one_time.then_some(password),
    }))
}

//! Staff accounts, their sites and their sessions.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, sea_query::LockType,
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{staff_session, staff_user, staff_user_site},
};

/// A staff account as stored, with its sites.
#[derive(Debug, Clone)]
pub struct StaffRow {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
    pub sites: Vec<String>,
    /// Pages and the daily digest; unset until the staff member picks one.
    pub language: Option<String>,
}

async fn with_sites<C: ConnectionTrait>(
    db: &C,
    user: staff_user::Model,
) -> Result<StaffRow, StoreError> {
    let sites = staff_user_site::Entity::find()
        .filter(staff_user_site::Column::UserId.eq(user.id))
        .order_by_asc(staff_user_site::Column::SiteCode)
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.site_code)
        .collect();
    Ok(StaffRow {
        id: user.id,
        email: user.email,
        password_hash: user.password_hash,
        role: user.role,
        disabled: user.disabled,
        must_change_password: user.must_change_password,
        created_at: user.created_at,
        sites,
        language: user.language,
    })
}

pub async fn find_by_email<C: ConnectionTrait>(
    db: &C,
    email: &str,
) -> Result<Option<StaffRow>, StoreError> {
    match staff_user::Entity::find()
        .filter(staff_user::Column::Email.eq(email))
        .one(db)
        .await?
    {
        Some(user) => Ok(Some(with_sites(db, user).await?)),
        None => Ok(None),
    }
}

pub async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<StaffRow>, StoreError> {
    match staff_user::Entity::find_by_id(id).one(db).await? {
        Some(user) => Ok(Some(with_sites(db, user).await?)),
        None => Ok(None),
    }
}

/// Read an account and lock its row for the rest of the write transaction.
pub async fn find_for_update<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<StaffRow>, StoreError> {
    match staff_user::Entity::find_by_id(id)
        .lock(LockType::Update)
        .one(db)
        .await?
    {
        Some(user) => Ok(Some(with_sites(db, user).await?)),
        None => Ok(None),
    }
}

pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<StaffRow>, StoreError> {
    let users = staff_user::Entity::find()
        .order_by_asc(staff_user::Column::CreatedAt)
        .order_by_asc(staff_user::Column::Id)
        .all(db)
        .await?;
    let mut rows = Vec::with_capacity(users.len());
    for user in users {
        rows.push(with_sites(db, user).await?);
    }
    Ok(rows)
}

pub async fn count_active_admins<C: ConnectionTrait>(db: &C) -> Result<u64, StoreError> {
    Ok(staff_user::Entity::find()
        .filter(staff_user::Column::Role.eq("admin"))
        .filter(staff_user::Column::Disabled.eq(false))
        .count(db)
        .await?)
}

pub async fn insert<C: ConnectionTrait>(db: &C, row: &StaffRow) -> Result<(), StoreError> {
    staff_user::ActiveModel {
        id: Set(row.id),
        email: Set(row.email.clone()),
        password_hash: Set(row.password_hash.clone()),
        role: Set(row.role.clone()),
        disabled: Set(row.disabled),
        must_change_password: Set(row.must_change_password),
        created_at: Set(row.created_at),
        language: Set(row.language.clone()),
    }
    .insert(db)
    .await
    .map_err(StoreError::classify)?;
    for site in &row.sites {
        staff_user_site::ActiveModel {
            user_id: Set(row.id),
            site_code: Set(site.clone()),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

pub async fn set_disabled<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    disabled: bool,
) -> Result<(), StoreError> {
    staff_user::ActiveModel {
        id: Set(id),
        disabled: Set(disabled),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

pub async fn set_password<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    password_hash: &str,
    must_change_password: bool,
) -> Result<(), StoreError> {
    staff_user::ActiveModel {
        id: Set(id),
        password_hash: Set(password_hash.to_string()),
        must_change_password: Set(must_change_password),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

pub async fn insert_session<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
    user_id: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    staff_session::ActiveModel {
        token_hash: Set(token_hash.to_string()),
        user_id: Set(user_id),
        created_at: Set(created_at),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The session's user id and expiry, if the token hash is known.
pub async fn find_session<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
) -> Result<Option<(Uuid, DateTime<Utc>)>, StoreError> {
    Ok(staff_session::Entity::find_by_id(token_hash.to_string())
        .one(db)
        .await?
        .map(|s| (s.user_id, s.expires_at)))
}

pub async fn delete_session<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
) -> Result<(), StoreError> {
    staff_session::Entity::delete_by_id(token_hash.to_string())
        .exec(db)
        .await?;
    Ok(())
}

/// End every session of a user (password reset, disabling).
pub async fn delete_sessions_of<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> Result<(), StoreError> {
    staff_session::Entity::delete_many()
        .filter(staff_session::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// End every other session of a user (after a password change, keep the current one).
pub async fn delete_other_sessions<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    keep_token_hash: &str,
) -> Result<(), StoreError> {
    staff_session::Entity::delete_many()
        .filter(staff_session::Column::UserId.eq(user_id))
        .filter(staff_session::Column::TokenHash.ne(keep_token_hash))
        .exec(db)
        .await?;
    Ok(())
}

/// Forget staff sessions that have expired.
pub async fn delete_expired_sessions<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(staff_session::Entity::delete_many()
        .filter(staff_session::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected)
}

/// The language a staff member picked on the pages (for the daily digest).
pub async fn set_language<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    language: &str,
) -> Result<(), StoreError> {
    staff_user::ActiveModel {
        id: Set(id),
        language: Set(Some(language.to_string())),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

//! Participant access: access links (random tokens stored as sha256, never containing the study
//! id), the PIN every link needs (argon2id, resettable by site staff), PIN throttling (five wrong
//! PINs lock the participant for 15 minutes, audited) and participant sessions.

use crate::domain::problem::Problem;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use rand::{Rng, RngCore};
use sea_orm::DatabaseTransaction;
use serde_json::json;
use uuid::Uuid;

use crate::{
    app::App,
    audit::{self, Entry},
    auth::throttle as guard,
    auth::{StaffActor, hash_password, token_hash},
    domain::participant::EventKind,
    domain::{
        audit::{Actor, ActorKind},
        permissions::Action,
        throttle::{PIN_LINK, PIN_LINK_DAY},
    },
    error::{Code, Error, Result},
    store::{
        self,
        access::{LinkRow, SessionRow},
        participants::ParticipantRow,
    },
};

/// The throttle key of one link: the participant first, so a PIN reset can clear all of them.
fn pin_key(participant: Uuid, link: Uuid) -> String {
    format!("{participant}:{link}")
}

pub const LINK_STAFF: &str = "staff";
pub const LINK_REMINDER: &str = "reminder";

/// An authenticated participant, for one request.
#[derive(Debug, Clone)]
pub struct ParticipantActor {
    pub id: Uuid,
    pub study_id: String,
    pub site: String,
    pub language: String,
}

impl ParticipantActor {
    pub fn audit_actor(&self) -> Actor {
        Actor {
            kind: ActorKind::Participant,
            id: Some(self.study_id.clone()),
        }
    }
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn new_pin() -> String {
    let mut rng = rand::rng();
    (0..6)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

fn check_pin(pin: &str) -> Result<()> {
    if (4..=8).contains(&pin.len()) && pin.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::invalid("pin", Problem::PinFormat))
    }
}

/// The participant's own link URL (pages answer it; the API takes the token).
pub fn link_url(app: &App, token: &str) -> String {
    format!("{}/p/{token}", app.settings.base_url.trim_end_matches('/'))
}

pub fn qr_svg(url: &str) -> Result<String> {
    let code = qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| Error::Internal(format!("QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

/// Load a participant for a staff action on access; refuses if participation ended.
async fn participant_for(
    txn: &DatabaseTransaction,
    actor: &StaffActor,
    study_id: &str,
) -> Result<ParticipantRow> {
    let p = super::for_staff(txn, actor, Action::ParticipantAccess, study_id, true).await?;
    let events = store::participants::events(txn, p.id).await?;
    if events.iter().any(|e| {
        !e.entered_in_error && (e.kind == EventKind::Withdrawal || e.kind == EventKind::Death)
    }) {
        return Err(Error::Conflict {
            code: Code::ParticipationEnded,
            message: format!("{study_id} has withdrawn or died: no access is issued"),
        });
    }
    Ok(p)
}

#[derive(Debug, Clone)]
pub struct IssuedLink {
    pub url: String,
    pub token: String,
    pub qr_svg: String,
    /// Present when a PIN was set now (shown once).
    pub pin: Option<String>,
}

/// Issue the staff link (revoking only the earlier staff-issued one). The first time, the PIN is
/// set: the one given, or a generated one that is returned once.
pub async fn issue_staff_link(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    pin: Option<String>,
) -> Result<IssuedLink> {
    if let Some(p) = &pin {
        check_pin(p)?;
    }
    let now = app.clock.now();
    // Hashing is slow: done before the write transaction, used only if no PIN exists yet.
    let chosen = pin.clone().unwrap_or_else(new_pin);
    let hashed = hash_password(app, chosen.clone()).await?;
    let txn = store::begin_write(&app.db).await?;
    let p = participant_for(&txn, actor, study_id).await?;
    let mut shown_pin = None;
    if store::access::pin_hash(&txn, p.id).await?.is_none() {
        store::access::set_pin(&txn, p.id, &hashed, now).await?;
        audit::record(
            &txn,
            &app.keys.audit,
            now,
            Entry::new(actor.audit_actor(), "access.pin_set", "participant")
                .entity(&p.study_id)
                .after(json!({ "fields": ["pin"] })),
        )
        .await?;
        shown_pin = pin.is_none().then_some(chosen);
    }
    let revoked = store::access::revoke_links(&txn, p.id, Some(LINK_STAFF), now).await?;
    let token = new_token();
    let link = LinkRow {
        id: Uuid::new_v4(),
        token_hash: token_hash(&token),
        participant_id: p.id,
        kind: LINK_STAFF.into(),
        visit_code: None,
        created_at: now,
        expires_at: None,
        revoked_at: None,
        created_by: actor.id.to_string(),
    };
    store::access::insert_link(&txn, link.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "access.link_issued", "participant")
            .entity(&p.study_id)
            .after(json!({ "link": link.id, "kind": LINK_STAFF, "revoked_earlier_staff_links": revoked })),
    )
    .await?;
    txn.commit().await?;
    let url = link_url(app, &token);
    Ok(IssuedLink {
        qr_svg: qr_svg(&url)?,
        url,
        token,
        pin: shown_pin,
    })
}

/// What a participant's access looks like now, for the site's record page.
#[derive(Debug, Clone, Default)]
pub struct AccessStatus {
    pub pin_set_at: Option<DateTime<Utc>>,
    /// When the live staff-issued link was issued.
    pub staff_link_at: Option<DateTime<Utc>>,
    /// When staff-issued links were last revoked (shown when no staff link is live).
    pub staff_links_revoked_at: Option<DateTime<Utc>>,
    /// Live links of any kind (staff, reminders).
    pub live_links: usize,
    pub open_sessions: usize,
    /// Wrong PINs lock sign-in until then.
    pub locked_until: Option<DateTime<Utc>>,
}

/// The participant's access now (staff who may manage it, on the participant's site).
pub async fn access_status(app: &App, actor: &StaffActor, study_id: &str) -> Result<AccessStatus> {
    let p = super::for_staff(&app.db, actor, Action::ParticipantAccess, study_id, false).await?;
    let now = app.clock.now();
    let links = store::access::live_links(&app.db, p.id, now).await?;
    let mut locked_until = None;
    for l in &links {
        if let Some(wait) = pin_tries(app, &pin_key(p.id, l.id), now).await?.locked_for {
            locked_until = locked_until.max(Some(now + wait));
        }
    }
    Ok(AccessStatus {
        pin_set_at: store::access::pin_set_at(&app.db, p.id).await?,
        staff_link_at: links
            .iter()
            .filter(|l| l.kind == LINK_STAFF)
            .map(|l| l.created_at)
            .max(),
        staff_links_revoked_at: store::access::staff_links_revoked_at(&app.db, p.id, LINK_STAFF)
            .await?,
        live_links: links.len(),
        open_sessions: store::access::open_sessions(&app.db, p.id, now).await?,
        locked_until,
    })
}

/// Revoke every live link and end every session of a participant (site staff, with a reason).
/// Returns (links revoked, sessions ended).
pub async fn revoke_by_staff(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    reason: &str,
) -> Result<(u64, u64)> {
    if reason.trim().is_empty() {
        return Err(Error::invalid("reason", Problem::ReasonRequired));
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let p = participant_for(&txn, actor, study_id).await?;
    let links = store::access::revoke_links(&txn, p.id, None, now).await?;
    let sessions = store::access::delete_sessions_of(&txn, p.id).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "access.revoked", "participant")
            .entity(&p.study_id)
            .after(json!({ "links_revoked": links, "sessions_ended": sessions }))
            .reason(reason.trim()),
    )
    .await?;
    txn.commit().await?;
    Ok((links, sessions))
}

/// Reset the PIN (site staff): the one given, or a generated one returned once.
pub async fn reset_pin(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    pin: Option<String>,
) -> Result<Option<String>> {
    if let Some(p) = &pin {
        check_pin(p)?;
    }
    let now = app.clock.now();
    let chosen = pin.clone().unwrap_or_else(new_pin);
    let hashed = hash_password(app, chosen.clone()).await?;
    let txn = store::begin_write(&app.db).await?;
    let p = participant_for(&txn, actor, study_id).await?;
    store::access::set_pin(&txn, p.id, &hashed, now).await?;
    // A new PIN lifts every lock and ends every session made with the old one.
    let prefix = format!("{}:", p.id);
    store::throttle::clear_prefix(&txn, PIN_LINK.scope, &prefix).await?;
    store::throttle::clear_prefix(&txn, PIN_LINK_DAY.scope, &prefix).await?;
    let sessions_ended = store::access::delete_sessions_of(&txn, p.id).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "access.pin_reset", "participant")
            .entity(&p.study_id)
            .after(json!({ "fields": ["pin"], "sessions_ended": sessions_ended })),
    )
    .await?;
    txn.commit().await?;
    Ok(pin.is_none().then_some(chosen))
}

/// A reminder's own link, valid until the visit's grace period ends (used by reminders).
pub async fn issue_reminder_link(
    txn: &DatabaseTransaction,
    participant: Uuid,
    visit_code: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<String> {
    let token = new_token();
    store::access::insert_link(
        txn,
        LinkRow {
            id: Uuid::new_v4(),
            token_hash: token_hash(&token),
            participant_id: participant,
            kind: LINK_REMINDER.into(),
            visit_code: Some(visit_code.into()),
            created_at: now,
            expires_at: Some(expires_at),
            revoked_at: None,
            created_by: "system".into(),
        },
    )
    .await?;
    Ok(token)
}

/// Revoke every link and end every session of a participant (withdrawal, death).
pub async fn revoke_all(
    txn: &DatabaseTransaction,
    app: &App,
    by: &Actor,
    p: &ParticipantRow,
    why: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let revoked = store::access::revoke_links(txn, p.id, None, now).await?;
    store::access::delete_sessions_of(txn, p.id).await?;
    if revoked > 0 {
        audit::record(
            txn,
            &app.keys.audit,
            now,
            Entry::new(by.clone(), "access.revoked", "participant")
                .entity(&p.study_id)
                .after(json!({ "links_revoked": revoked }))
                .reason(why),
        )
        .await?;
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct ParticipantLogin {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

fn invalid_link() -> Error {
    Error::Unauthorized {
        code: Code::InvalidLink,
        message: "this link is not valid (expired or replaced); ask your hospital for a new one"
            .into(),
    }
}

/// Exchange a link token and the PIN for a participant session.
/// Whether `pin` is the participant's PIN (none set: never).
async fn pin_matches(app: &App, participant: Uuid, pin: &str) -> Result<bool> {
    match store::access::pin_hash(&app.db, participant).await? {
        Some(h) => app.hasher.verify(pin.to_string(), Some(h)).await,
        None => Ok(false),
    }
}

/// Audit a wrong PIN, as a lock when it is the one that reached the limit.
async fn record_wrong_pin(
    txn: &sea_orm::DatabaseTransaction,
    app: &App,
    who: Actor,
    study_id: &str,
    link: Uuid,
    key: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let since = PIN_LINK.policy.window_start(now);
    let count = store::throttle::failures_since(txn, PIN_LINK.scope, key, since)
        .await?
        .len();
    let action = if count >= PIN_LINK.policy.max_failures {
        "auth.pin_locked"
    } else {
        "auth.pin_failed"
    };
    audit::record(
        txn,
        &app.keys.audit,
        now,
        Entry::new(who, action, "participant")
            .entity(study_id)
            .after(json!({ "link": link, "failures_in_window": count })),
    )
    .await?;
    Ok(())
}

pub async fn login(app: &App, link_token: &str, pin: &str) -> Result<ParticipantLogin> {
    let now = app.clock.now();
    let link = store::access::find_link(&app.db, &token_hash(link_token))
        .await?
        .ok_or_else(invalid_link)?;
    if link.revoked_at.is_some() || link.expires_at.is_some_and(|e| e <= now) {
        return Err(invalid_link());
    }
    let key = pin_key(link.participant_id, link.id);
    // Counted before the PIN is checked, so a burst of guesses gets no more checks than allowed.
    let attempt = guard::admit(
        app,
        &[(PIN_LINK, key.clone()), (PIN_LINK_DAY, key.clone())],
        now,
    )
    .await?;
    let ok = match pin_matches(app, link.participant_id, pin).await {
        Ok(ok) => ok,
        Err(e) => {
            attempt.release(&app.db).await;
            return Err(e);
        }
    };
    let p = store::participants::find_by_id(&app.db, link.participant_id)
        .await?
        .ok_or_else(invalid_link)?;
    let who = Actor {
        kind: ActorKind::Participant,
        id: Some(p.study_id.clone()),
    };
    let txn = store::begin_write(&app.db).await?;
    if !ok {
        attempt.failed();
        record_wrong_pin(&txn, app, who, &p.study_id, link.id, &key, now).await?;
        txn.commit().await?;
        return Err(Error::Unauthorized {
            code: Code::InvalidPin,
            message: "wrong PIN".into(),
        });
    }
    attempt.succeeded(&txn, &[PIN_LINK]).await?;
    let token = new_token();
    let mut expires_at = now + Duration::hours(i64::from(app.settings.session_hours));
    if let Some(e) = link.expires_at {
        expires_at = expires_at.min(e);
    }
    store::access::insert_session(
        &txn,
        SessionRow {
            token_hash: token_hash(&token),
            participant_id: p.id,
            link_id: link.id,
            created_at: now,
            expires_at,
        },
    )
    .await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(who, "auth.participant_login", "participant")
            .entity(&p.study_id)
            .after(json!({ "link": link.id, "kind": link.kind })),
    )
    .await?;
    txn.commit().await?;
    Ok(ParticipantLogin { token, expires_at })
}

/// The site and language of a valid link's participant (for the PIN page's safety text and
/// language), or `None` when the link is unknown, revoked or expired.
pub async fn link_site(app: &App, link_token: &str) -> Result<Option<(String, String)>> {
    Ok(link_holder(app, link_token)
        .await?
        .filter(|h| h.usable)
        .map(|h| (h.site, h.language)))
}

/// Whose a link is, valid or not: a revoked or expired link still names the participant's site
/// (its phone number) and language for the page that says the link no longer works.
pub struct LinkHolder {
    pub site: String,
    pub language: String,
    /// Not revoked and not expired: the link signs in.
    pub usable: bool,
}

/// The holder of a link, or `None` for a link never issued.
pub async fn link_holder(app: &App, link_token: &str) -> Result<Option<LinkHolder>> {
    let now = app.clock.now();
    let Some(link) = store::access::find_link(&app.db, &token_hash(link_token)).await? else {
        return Ok(None);
    };
    let usable = link.revoked_at.is_none() && link.expires_at.is_none_or(|e| e > now);
    Ok(
        store::participants::find_by_id(&app.db, link.participant_id)
            .await?
            .map(|p| LinkHolder {
                site: p.site_code,
                language: p.language,
                usable,
            }),
    )
}

/// A link's PIN guesses now: how many more wrong PINs it takes before sign-in waits (the fewest
/// its limits allow) and, when it waits, for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinTries {
    pub left: usize,
    pub locked_for: Option<Duration>,
}

async fn pin_tries(app: &App, key: &str, now: DateTime<Utc>) -> Result<PinTries> {
    let mut tries = PinTries {
        left: usize::MAX,
        locked_for: None,
    };
    for limit in [PIN_LINK, PIN_LINK_DAY] {
        let failures = store::throttle::failures_since(
            &app.db,
            limit.scope,
            key,
            limit.policy.window_start(now),
        )
        .await?;
        tries.left = tries.left.min(limit.policy.attempts_left(&failures, now));
        tries.locked_for = tries
            .locked_for
            .max(limit.policy.locked_for(&failures, now));
    }
    Ok(tries)
}

/// The PIN guesses a link has left (said after a wrong PIN); `None` for an unknown link.
pub async fn link_pin_tries(app: &App, link_token: &str) -> Result<Option<PinTries>> {
    let Some(link) = store::access::find_link(&app.db, &token_hash(link_token)).await? else {
        return Ok(None);
    };
    let key = pin_key(link.participant_id, link.id);
    Ok(Some(pin_tries(app, &key, app.clock.now()).await?))
}

/// The participant chooses the language of their pages, questionnaires not yet started and
/// emails (audited). Questionnaires already started keep the language they were started in.
pub async fn set_language(app: &App, pa: &ParticipantActor, lang: &str) -> Result<()> {
    if !app.study.languages.iter().any(|l| l == lang) {
        return Err(Error::invalid(
            "language",
            Problem::NotAStudyLanguage {
                given: lang.to_string(),
                languages: app.study.languages.clone(),
            },
        ));
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let mut p = store::participants::find_by_id(&txn, pa.id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    if p.language == lang {
        return Ok(());
    }
    let before = p.language.clone();
    p.language = lang.to_string();
    let id = p.id;
    store::participants::update(&txn, p).await?;
    let facts = audit::row_facts(&txn, "participant", id).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(
            pa.audit_actor(),
            "participant.language_changed",
            "participant",
        )
        .entity(&pa.study_id)
        .before(json!({ "language": before }))
        .after(json!({ "language": lang, "facts": facts })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// End a participant session (signing out on the pages).
pub async fn logout(app: &App, token: &str) -> Result<()> {
    store::access::delete_session(&app.db, &token_hash(token)).await?;
    Ok(())
}

/// Resolve a participant session token.
pub async fn authenticate(app: &App, token: &str) -> Result<ParticipantActor> {
    let now = app.clock.now();
    let s = store::access::find_session(&app.db, &token_hash(token))
        .await?
        .ok_or(Error::Unauthenticated)?;
    if s.expires_at <= now {
        return Err(Error::Unauthenticated);
    }
    let link = store::access::find_link_by_id(&app.db, s.link_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    if link.revoked_at.is_some() {
        return Err(Error::Unauthenticated);
    }
    let p = store::participants::find_by_id(&app.db, s.participant_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    Ok(ParticipantActor {
        id: p.id,
        study_id: p.study_id,
        site: p.site_code,
        language: p.language,
    })
}

//! Contact data at the end: erasing it (one participant or all) and re-encrypting it under a
//! new data key.

use crate::domain::problem::Problem;
use serde_json::json;

use super::Change;
use crate::{
    app::App,
    audit::{self, Entry},
    domain::audit::Actor,
    error::{Error, Result},
    keys::sealed,
    store::{self, participants::ContactRow},
};

pub(super) async fn purge_contact(c: Change<'_>, why: &str) -> Result<()> {
    let Change {
        txn,
        app,
        by,
        p,
        now,
        ..
    } = c;
    let Some(c) = store::participants::contact(txn, p.id).await? else {
        return Ok(());
    };
    let mut fields = vec![];
    if c.email_sealed.is_some() {
        fields.push("email");
    }
    if c.phone_sealed.is_some() {
        fields.push("phone");
    }
    if fields.is_empty() {
        return Ok(());
    }
    store::participants::save_contact(
        txn,
        ContactRow {
            participant_id: p.id,
            email_sealed: None,
            phone_sealed: None,
            reminder_channel: "email".into(),
        },
    )
    .await?;
    audit::record(
        txn,
        &app.keys.audit,
        now,
        Entry::new(by.clone(), "participant.contact_purged", "participant")
            .entity(&p.study_id)
            .before(json!({ "fields": fields }))
            .after(json!({ "fields": [] }))
            .reason(why),
    )
    .await?;
    Ok(())
}

/// End of the trial: erase every participant's email and phone number (no more reminders can be
/// sent). Each erasure is audited per participant, without the values. Returns how many
/// participants had contact details.
pub async fn purge_contact_data(app: &App, reason: &str) -> Result<usize> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::operator(
            "reason",
            "say why (for example: end of follow-up, per protocol section …)",
        ));
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let mut n = 0;
    for (p, mut c) in store::participants::all_contacts(&txn).await? {
        let (had_email, had_phone) = (c.email_sealed.is_some(), c.phone_sealed.is_some());
        if !had_email && !had_phone {
            continue;
        }
        c.email_sealed = None;
        c.phone_sealed = None;
        store::participants::save_contact(&txn, c).await?;
        audit::record(
            &txn,
            &app.keys.audit,
            now,
            Entry::new(Actor::system(), "participant.contact_purged", "participant")
                .entity(&p.study_id)
                .before(json!({ "email": had_email, "phone": had_phone }))
                .after(json!({ "email": false, "phone": false }))
                .reason(reason),
        )
        .await?;
        n += 1;
    }
    txn.commit().await?;
    Ok(n)
}

/// Re-encrypt every contact detail from the current EPRO_DATA_KEY to `new`, in one transaction:
/// either all are moved or none. Afterwards the server must run with the new key.
pub async fn rotate_data_key(app: &App, new: &crate::keys::Key) -> Result<usize> {
    if new.bytes() == app.keys.data.bytes() {
        return Err(Error::operator(
            "EPRO_NEW_DATA_KEY",
            "is the same as EPRO_DATA_KEY",
        ));
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let mut n = 0;
    for (p, mut c) in store::participants::all_contacts(&txn).await? {
        let reseal = |field: &str, value: &Option<String>| -> Result<Option<String>> {
            let aad = format!("{}:{field}", p.id);
            value
                .as_ref()
                .map(|v| {
                    sealed::open(&app.keys.data, v, &aad)
                        .map(|plain| sealed::seal(new, &plain, &aad))
                        .map_err(|_| {
                            Error::Internal(format!(
                                "{}'s {field} does not open with EPRO_DATA_KEY; nothing was changed",
                                p.study_id
                            ))
                        })
                })
                .transpose()
        };
        c.email_sealed = reseal("email", &c.email_sealed)?;
        c.phone_sealed = reseal("phone", &c.phone_sealed)?;
        store::participants::save_contact(&txn, c).await?;
        n += 1;
    }
    let fingerprint =
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(new.bytes()))[..16].to_string();
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(Actor::system(), "keys.data_key_rotated", "deployment")
            .after(json!({ "participants": n, "new_key_sha256_prefix": fingerprint })),
    )
    .await?;
    txn.commit().await?;
    Ok(n)
}

/// A change of a participant's details after enrolment: each field given replaces the stored
/// one (an empty email or phone erases it), with a reason.
pub struct DetailsChange {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub language: Option<String>,
    /// `email`, `sms` or `both`.
    pub reminder_channel: Option<String>,
    pub reason: String,
}

/// Change email, phone or language (site staff of the participant's site), audited with the
/// reason: the language with its old and new value, contact details by field name only (their
/// values are personal data and never enter the audit trail).
pub async fn update_details(
    app: &App,
    actor: &crate::auth::StaffActor,
    study_id: &str,
    change: DetailsChange,
) -> Result<()> {
    use crate::domain::{
        contact::{ParticipantEmail, ParticipantPhone},
        permissions::Action,
    };
    if change.reason.trim().is_empty() {
        return Err(Error::invalid("reason", Problem::ReasonRequired));
    }
    let parse = |field: &str, v: &Option<String>| -> Result<Option<Option<String>>> {
        let Some(v) = v else { return Ok(None) };
        let v = v.trim();
        if v.is_empty() {
            return Ok(Some(None));
        }
        let normal = match field {
            "email" => ParticipantEmail::parse(v)
                .map(|e| e.as_str().to_string())
                .map_err(|m| Error::invalid(field, Problem::NotAnEmail(m)))?,
            _ => ParticipantPhone::parse(v)
                .map(|p| p.as_str().to_string())
                .map_err(|m| Error::invalid(field, Problem::NotAPhone(m)))?,
        };
        Ok(Some(Some(normal)))
    };
    let email = parse("email", &change.email)?;
    let phone = parse("phone", &change.phone)?;
    if let Some(l) = &change.language
        && !app.study.languages.contains(l)
    {
        return Err(Error::invalid(
            "language",
            Problem::NotAStudyLanguage {
                given: l.clone(),
                languages: app.study.languages.clone(),
            },
        ));
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let p = super::for_staff(&txn, actor, Action::ParticipantUpdate, study_id, true).await?;
    if email.is_some() || phone.is_some() {
        crate::auth::authorize(actor, Action::ParticipantContact, Some(&p.site_code))?;
    }
    let stored = store::participants::contact(&txn, p.id).await?;
    let open = |field: &str, v: &Option<String>| -> Option<String> {
        v.as_ref()
            .and_then(|s| sealed::open(&app.keys.data, s, &format!("{}:{field}", p.id)).ok())
    };
    let (old_email, old_phone) = (
        stored.as_ref().and_then(|c| open("email", &c.email_sealed)),
        stored.as_ref().and_then(|c| open("phone", &c.phone_sealed)),
    );
    let old_channel = stored
        .as_ref()
        .and_then(|c| crate::domain::reminders::Channel::parse(&c.reminder_channel))
        .unwrap_or(crate::domain::reminders::Channel::Email);
    let mut changed: Vec<&str> = Vec::new();
    let new_email = match email {
        Some(e) if e != old_email => {
            changed.push("email");
            e
        }
        _ => old_email,
    };
    let new_phone = match phone {
        Some(ph) if ph != old_phone => {
            changed.push("phone");
            ph
        }
        _ => old_phone,
    };
    // The channel asked for (or kept) must reach the participant with the details as changed.
    let channel = super::enrol::checked_channel(
        app,
        Some(
            change
                .reminder_channel
                .as_deref()
                .unwrap_or(old_channel.as_str()),
        ),
        new_email.is_some(),
        new_phone
            .as_deref()
            .and_then(|p| ParticipantPhone::parse(p).ok())
            .as_ref(),
    )?;
    if channel != old_channel {
        changed.push("reminder_channel");
    }
    if !changed.is_empty() {
        let seal = |field: &str, v: Option<String>| {
            v.map(|v| sealed::seal(&app.keys.data, &v, &format!("{}:{field}", p.id)))
        };
        store::participants::save_contact(
            &txn,
            ContactRow {
                participant_id: p.id,
                email_sealed: seal("email", new_email),
                phone_sealed: seal("phone", new_phone),
                reminder_channel: channel.as_str().into(),
            },
        )
        .await?;
    }
    let mut after = p.clone();
    if let Some(l) = change.language.filter(|l| *l != p.language) {
        after.language = l;
        changed.push("language");
        store::participants::update(&txn, after.clone()).await?;
    }
    if changed.is_empty() {
        return Ok(());
    }
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(
            actor.audit_actor(),
            "participant.details_changed",
            "participant",
        )
        .entity(&p.study_id)
        .before(json!({ "fields": changed, "language": p.language, "reminder_channel": old_channel.as_str() }))
        .after(json!({ "fields": changed, "language": after.language, "reminder_channel": channel.as_str(), "facts": audit::row_facts(&txn, "participant", p.id).await? }))
        .reason(change.reason.trim()),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Whether `key` opens the stored contact details (the installation check): every sealed value
/// of up to `sample` participants. Returns how many values opened, or the study id whose detail
/// does not open (never the detail itself).
pub async fn data_key_opens(
    db: &store::Db,
    key: &crate::keys::Key,
    sample: usize,
) -> Result<std::result::Result<usize, String>> {
    let mut opened = 0;
    for (p, c) in store::participants::all_contacts(db)
        .await?
        .into_iter()
        .take(sample)
    {
        for (field, value) in [("email", &c.email_sealed), ("phone", &c.phone_sealed)] {
            if let Some(v) = value {
                if sealed::open(key, v, &format!("{}:{field}", p.id)).is_err() {
                    return Ok(Err(format!("{}'s {field}", p.study_id)));
                }
                opened += 1;
            }
        }
    }
    Ok(Ok(opened))
}

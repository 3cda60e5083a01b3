//! Contact data at the end: erasing it (one participant or all) and re-encrypting it under a
//! new data key.

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
        return Err(Error::invalid(
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
        return Err(Error::invalid(
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

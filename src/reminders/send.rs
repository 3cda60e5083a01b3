//! Sending: claim due rows, re-check just before sending, send by email and SMS with a
//! per-reminder link, record the outcome and retry failures with backoff; delivery reports.

use chrono::{DateTime, Days, Duration, Utc};
use rand::Rng;
use serde_json::json;
use uuid::Uuid;

use super::{Report, plan::questionnaires_stopped};
use crate::{
    app::App,
    audit::{self, Entry},
    domain::reminders::ReminderStatus,
    domain::{
        audit::Actor,
        contact::ParticipantPhone,
        reminders::{self as rule, Channel},
        schedule::{VisitState, local_date},
    },
    error::{Code, Error, Result},
    keys::sealed,
    notify::mail::Mail,
    notify::sms::{OutgoingSms, SmsError},
    notify::templates::{self, ReminderContent},
    participants::{self, VisitView},
    store::{self, participants::ParticipantRow, reminders::ReminderRow},
};

/// Claim due rows (marking them `sending`) in one short transaction.
async fn claim(app: &App, now: DateTime<Utc>) -> Result<Vec<ReminderRow>> {
    let txn = store::begin_write(&app.db).await?;
    // Rows a stopped worker left mid-send go back to the queue.
    let stale_after = Duration::seconds(app.settings.reminder_stale_seconds.min(86_400) as i64);
    for mut stale in store::reminders::stale_sending(&txn, now - stale_after).await? {
        stale.status = ReminderStatus::Pending;
        stale.claimed_at = None;
        store::reminders::update(&txn, stale).await?;
    }
    let mut claimed = Vec::new();
    for mut row in store::reminders::claimable(&txn, now, 50).await? {
        row.status = ReminderStatus::Sending;
        row.claimed_at = Some(now);
        store::reminders::update(&txn, row.clone()).await?;
        claimed.push(row);
    }
    txn.commit().await?;
    Ok(claimed)
}

async fn finish(
    app: &App,
    row: ReminderRow,
    action: &'static str,
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = store::begin_write(&app.db).await?;
    let after = json!({ "visit": row.visit_code, "kind": row.kind, "status": row.status, "attempts": row.attempts, "reason": row.reason, "message_id": row.message_id, "channel": row.channel });
    store::reminders::update(&txn, row.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(Actor::system(), action, "reminder")
            .entity(row.id)
            .after(after),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Where a reminder goes: the participant's email and mobile number, each when the channel
/// (as the participant has it now) asks for it and it is known.
struct Addresses {
    channel: Channel,
    email: Option<String>,
    phone: Option<String>,
}

/// Why a claimed reminder must not go out now (re-checked just before sending).
async fn recheck(
    app: &App,
    p: &ParticipantRow,
    row: &ReminderRow,
    now: DateTime<Utc>,
) -> Result<std::result::Result<(VisitView, Addresses), String>> {
    if questionnaires_stopped(&store::participants::events(&app.db, p.id).await?) {
        return Ok(Err(
            "the participant no longer answers questionnaires".into()
        ));
    }
    let views = participants::current_views(&app.db, app, p, now).await?;
    let Some(v) = views.into_iter().find(|v| v.code == row.visit_code) else {
        return Ok(Err("the visit no longer exists".into()));
    };
    if !matches!(v.state, VisitState::Open | VisitState::Late) {
        return Ok(Err(format!("the visit is {}", v.state.as_str())));
    }
    let contact = store::participants::contact(&app.db, p.id).await?;
    let channel = contact
        .as_ref()
        .and_then(|c| Channel::parse(&c.reminder_channel))
        .unwrap_or(Channel::Email);
    let open = |field: &str, v: Option<&String>| {
        v.and_then(|s| sealed::open(&app.keys.data, s, &format!("{}:{field}", p.id)).ok())
    };
    let email = open(
        "email",
        contact.as_ref().and_then(|c| c.email_sealed.as_ref()),
    )
    .filter(|_| channel.email());
    let phone = open(
        "phone",
        contact.as_ref().and_then(|c| c.phone_sealed.as_ref()),
    )
    .filter(|_| channel.sms())
    // Numbers stored before E.164 are normalised on the way out.
    .and_then(|ph| {
        ParticipantPhone::parse(&ph)
            .ok()
            .map(|n| n.as_str().to_string())
    });
    match (&email, &phone) {
        (None, None) if channel.sms() => Ok(Err("no mobile phone number".into())),
        (None, None) => Ok(Err("no email address".into())),
        _ => Ok(Ok((
            v,
            Addresses {
                channel,
                email,
                phone,
            },
        ))),
    }
}

/// A fresh reminder link (valid until the visit's grace ends) and what the messages say about
/// the visit: its label and last day in the participant's language, and the site.
struct LinkAndVisit {
    link: String,
    label: String,
    last_day: String,
    /// The visit's questionnaires still to send.
    forms: usize,
}

/// The link and visit wording of a claimed row's messages.
async fn link_and_visit(
    app: &App,
    p: &ParticipantRow,
    row: &ReminderRow,
    view: &VisitView,
    now: DateTime<Utc>,
) -> Result<LinkAndVisit> {
    let tz = app.study.time_zone;
    let expires = view
        .window
        .grace_end
        .or(view.window.end)
        .unwrap_or(now + Duration::days(30));
    let txn = store::begin_write(&app.db).await?;
    let token =
        crate::auth::participant::issue_reminder_link(&txn, p.id, &row.visit_code, expires, now)
            .await?;
    txn.commit().await?;
    let last_day = view
        .window
        .end
        .and_then(|e| local_date(tz, e).checked_sub_days(Days::new(1)))
        .map(|d| crate::domain::dates::fmt_date(d, &p.language))
        .unwrap_or_default();
    let label = view
        .labels
        .get(&p.language)
        .cloned()
        .unwrap_or_else(|| view.code.clone());
    let link = crate::auth::participant::link_url(app, &token);
    Ok(LinkAndVisit {
        link,
        label,
        last_day,
        forms: crate::answering::forms_left(app, p.id, view).await?,
    })
}

/// The reminder email, in the participant's language, with the site's contact details.
fn compose(
    app: &App,
    p: &ParticipantRow,
    lv: &LinkAndVisit,
    to: &str,
) -> Result<crate::notify::mail::Outgoing> {
    let site = app.study.site(&p.site_code);
    templates::reminder(
        &app.texts,
        &ReminderContent {
            to,
            lang: &p.language,
            visit_label: &lv.label,
            forms: lv.forms,
            last_day: &lv.last_day,
            link: &lv.link,
            site_name: site.map_or("", |s| s.name.as_str()),
            study: &app.study.name,
            sender_name: &app.study.email_sender,
            safety: &app
                .study
                .safety_text(&p.language, site.map_or("", |s| s.phone.as_str())),
            site_phone: site.map_or("", |s| s.phone.as_str()),
            site_email: site.map_or("", |s| s.email.as_str()),
        },
    )
    .map_err(Error::Internal)
}

/// A send that failed: retried later with backoff, or failed for good after the last attempt
/// (returns true then).
async fn not_sent(
    app: &App,
    mut row: ReminderRow,
    error: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let max_attempts = app.settings.reminder_max_attempts.max(1) as i32;
    row.attempts += 1;
    row.last_error = Some(error.to_string());
    row.claimed_at = None;
    if row.attempts >= max_attempts {
        row.status = ReminderStatus::Failed;
        finish(app, row, "reminder.failed", now).await?;
        return Ok(true);
    }
    row.status = ReminderStatus::Pending;
    row.next_attempt_at =
        now + rule::backoff((row.attempts - 1) as u32, rand::rng().random::<f64>());
    // The delivery report, which may arrive while the row is held here, is never written over
    // (store::reminders::update leaves it alone).
    store::reminders::update(&app.db, row).await?;
    Ok(false)
}

/// Send what is due. Returns what happened.
pub async fn send_due(app: &App, mail: &Mail, now: DateTime<Utc>) -> Result<Report> {
    let mut report = Report::default();
    let tz = app.study.time_zone;
    for mut row in claim(app, now).await? {
        let Some(p) = store::participants::find_by_id(&app.db, row.participant_id).await? else {
            continue;
        };
        let (view, to) = match recheck(app, &p, &row, now).await? {
            Ok(ok) => ok,
            Err(reason) => {
                row.status = ReminderStatus::Cancelled;
                row.reason = Some(reason);
                finish(app, row, "reminder.cancelled", now).await?;
                report.cancelled += 1;
                continue;
            }
        };
        // At most one email per participant per day.
        let last_sent = store::reminders::of_participant(&app.db, p.id)
            .await?
            .into_iter()
            .filter_map(|r| r.sent_at)
            .max();
        let slot = rule::next_slot(&app.study.reminders, tz, now, last_sent);
        if slot > now {
            row.status = ReminderStatus::Pending;
            row.claimed_at = None;
            row.next_attempt_at = slot;
            store::reminders::update(&app.db, row).await?;
            report.postponed += 1;
            continue;
        }
        row.channel = to.channel.as_str().into();
        let lv = link_and_visit(app, &p, &row, &view, now).await?;
        // Each channel goes once: a retry sends only what has not gone yet.
        let mut error = None;
        if let Some(email) = to.email.as_deref().filter(|_| row.email_sent_at.is_none()) {
            let message = compose(app, &p, &lv, email)?;
            match mail.send(&message).await {
                Ok(message_id) => {
                    row.email_sent_at = Some(now);
                    row.message_id = Some(message_id);
                }
                Err(e) => error = Some(format!("email: {e}")),
            }
        }
        if let Some(phone) = to.phone.as_deref().filter(|_| row.sms_sent_at.is_none()) {
            let site = app.study.site(&p.site_code).map_or("", |s| s.name.as_str());
            let text =
                templates::sms_reminder(&app.texts, &p.language, site, &app.study.name, &lv.link);
            let reference = row.id.to_string();
            let sms = OutgoingSms {
                to: phone,
                text: &text,
                reference: &reference,
            };
            let sent = match &app.sms {
                Some(gateway) => gateway.send(&sms).await,
                None => Err(SmsError::NotConfigured),
            };
            match sent {
                Ok(()) => row.sms_sent_at = Some(now),
                Err(e) => error = Some(format!("sms: {e}")),
            }
        }
        match error {
            None => {
                row.status = ReminderStatus::Sent;
                row.sent_at = Some(now);
                row.last_error = None;
                finish(app, row, "reminder.sent", now).await?;
                report.sent += 1;
            }
            Some(e) => {
                let failed = not_sent(app, row, &e, now).await?;
                if failed {
                    report.failed += 1;
                } else {
                    report.retrying += 1;
                }
                tracing::warn!(error = %e, "reminder not sent; will retry or report");
            }
        }
    }
    Ok(report)
}

/// A delivery report from the SMS gateway about reminder `reference`, signed with the delivery
/// report secret. The delivery state only moves forward (`Delivery::advances`): a repeated,
/// late or rewritten report (delivered → failed) changes and audits nothing and costs one read,
/// no write; a report that does move it forward is written and audited once, whatever the
/// number of copies arriving at the same time (the row is locked, then re-checked). So one
/// report address causes at most three changes of its reminder.
pub async fn delivery_report(app: &App, reference: &str, sig: &str, status: i64) -> Result<()> {
    use crate::domain::reminders::Delivery;
    let secret = app
        .settings
        .sms_dlr_secret
        .as_ref()
        .map(|s| s.expose().to_string())
        .unwrap_or_default();
    if secret.is_empty() || !crate::notify::sms::verify(&secret, reference, sig) {
        return Err(Error::Unauthorized {
            code: Code::BadSignature,
            message: "the delivery report's signature does not match".into(),
        });
    }
    let Some(delivery) = Delivery::from_kannel(status) else {
        return Err(Error::operator(
            "status",
            format!("{status} is not a delivery report type (1, 2, 4, 8 or 16)"),
        ));
    };
    let id =
        Uuid::parse_str(reference).map_err(|_| Error::operator("reminder", "not a reminder id"))?;
    let current = |row: &ReminderRow| row.delivery.as_deref().and_then(Delivery::parse);
    // Most copies of a report stop here, on a read: nothing to change.
    let Some(row) = store::reminders::find(&app.db, id).await? else {
        return Err(Error::NotFound(format!("reminder {reference}")));
    };
    if !delivery.advances(current(&row)) {
        return Ok(());
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let Some(row) = store::reminders::find_for_update(&txn, id).await? else {
        return Err(Error::NotFound(format!("reminder {reference}")));
    };
    let before = current(&row);
    if !delivery.advances(before)
        || !store::reminders::set_delivery(&txn, id, delivery, now).await?
    {
        // Another copy of this report (or a later stage) got here first.
        return Ok(());
    }
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(Actor::system(), "reminder.delivery", "reminder")
            .entity(row.id)
            .before(json!({ "delivery": before.map(Delivery::as_str) }))
            .after(json!({ "delivery": delivery.as_str(), "channel": "sms", "visit": row.visit_code, "kind": row.kind })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

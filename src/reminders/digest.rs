//! The daily site digest (study time, `[reminders] digest_at`): for each site's staff, the study
//! ids whose visits are open, late or recently missed, reminders that failed, participants
//! without an email who have an open visit, and "assess for SSE" pain flags. Once a day per site.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};

use crate::{
    app::App,
    domain::reminders::ReminderStatus,
    domain::{
        schedule::{VisitState, local_date},
        staff::Role,
    },
    error::Result,
    notify::mail::{Mail, Outgoing},
    participants, store,
};

/// Send the digests due at `now`; returns how many were sent.
pub async fn send_due(app: &App, mail: &Mail, now: DateTime<Utc>) -> Result<usize> {
    let tz = app.study.time_zone;
    let local = now.with_timezone(&tz);
    if local.time() < app.study.reminders.digest_at {
        return Ok(0);
    }
    let day = local_date(tz, now);
    let disabled = store::study::disabled_sites(&app.db).await?;
    let staff = store::staff::list(&app.db).await?;
    let mut sent = 0;
    for site in app
        .study
        .sites
        .iter()
        .filter(|s| !disabled.contains(&s.code))
    {
        if store::reminders::digest_sent(&app.db, &site.code, day).await? {
            continue;
        }
        let recipients: Vec<String> = staff
            .iter()
            .filter(|u| {
                !u.disabled && u.role == Role::SiteStaff.as_str() && u.sites.contains(&site.code)
            })
            .map(|u| u.email.clone())
            .collect();
        let text = if recipients.is_empty() {
            String::new()
        } else {
            body(app, &site.code, now).await?
        };
        let mut delivered = 0;
        for to in &recipients {
            let message = Outgoing {
                to: to.clone(),
                subject: format!(
                    "epro — dagelijks overzicht / aperçu quotidien / daily overview {}",
                    site.code
                ),
                html: format!(
                    "<pre style=\"font-size: 15px\">{}</pre>",
                    html_escape(&text)
                ),
                text: text.clone(),
            };
            match mail.send(&message).await {
                Ok(_) => delivered += 1,
                Err(e) => {
                    tracing::warn!(error = %e, site = %site.code, "digest not sent; retried on the next run")
                }
            }
        }
        if delivered == recipients.len() {
            let txn = store::begin_write(&app.db).await?;
            store::reminders::record_digest(&txn, &site.code, day, now, delivered as i32).await?;
            txn.commit().await?;
            sent += delivered;
        }
    }
    Ok(sent)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

async fn body(app: &App, site: &str, now: DateTime<Utc>) -> Result<String> {
    let (mut open, mut late, mut missed, mut no_email, mut failed) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut no_pin = vec![];
    let people = store::participants::list(&app.db, Some(&[site.to_string()])).await?;
    let ids: Vec<_> = people.iter().map(|p| p.id).collect();
    let with_pin = store::access::with_pin(&app.db, &ids).await?;
    for p in people {
        let views = participants::current_views(&app.db, app, &p, now).await?;
        let has_email = store::participants::contact(&app.db, p.id)
            .await?
            .is_some_and(|c| c.email_sealed.is_some());
        for v in &views {
            let label = format!("{} {}", p.study_id, v.code);
            match v.state {
                VisitState::Open => {
                    open.push(label.clone());
                    if !with_pin.contains(&p.id) {
                        no_pin.push(label.clone());
                    }
                    if !has_email {
                        no_email.push(label);
                    }
                }
                VisitState::Late => late.push(label),
                VisitState::Missed | VisitState::Partial
                    if v.window
                        .grace_end
                        .is_some_and(|g| g > now - Duration::days(7)) =>
                {
                    missed.push(label)
                }
                _ => {}
            }
        }
        for r in store::reminders::of_participant(&app.db, p.id).await? {
            if r.status == ReminderStatus::Failed {
                failed.push(format!("{} {} {}", p.study_id, r.visit_code, r.kind));
            }
        }
    }
    let mut flags = vec![];
    // "Assess for SSE" flags come from the same rule as the API.
    for (study_id, s, lesion) in
        crate::answering::pain::flags_for_sites(app, &[site.to_string()]).await?
    {
        if s == site {
            let last = lesion
                .points
                .last()
                .map(|pt| format!("{} (NRS {})", pt.visit, pt.value))
                .unwrap_or_default();
            flags.push(format!("{study_id} {last}"));
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "{} — {}\n", site, local_date(app.study.time_zone, now));
    for (title, list) in [
        ("Open visits / Visites ouvertes / Open bezoeken", &open),
        ("Late (in grace) / En retard / Laat", &late),
        ("Missed in the last 7 days / Manquées / Gemist", &missed),
        (
            "Failed reminders / Rappels échoués / Mislukte herinneringen",
            &failed,
        ),
        (
            "Open visit, no email / Pas d'e-mail / Geen e-mail",
            &no_email,
        ),
        (
            "Open visit, no PIN: no reminders / Pas de code PIN / Geen pincode",
            &no_pin,
        ),
        (
            "Assess for SSE (pain +2) / À évaluer / Te beoordelen",
            &flags,
        ),
    ] {
        let _ = writeln!(
            out,
            "{title}: {}",
            if list.is_empty() {
                "—".to_string()
            } else {
                list.join(", ")
            }
        );
    }
    Ok(out)
}

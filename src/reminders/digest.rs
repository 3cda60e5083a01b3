//! The daily site digest (study time, `[reminders] digest_at`): for each site's staff, the study
//! ids whose visits are open, late or recently missed, reminders that failed, participants no
//! reminder can reach who have an open visit or one in grace, and "assess for SSE" pain flags
//! not assessed as no SSE on a call. Once a day per site.

use chrono::{DateTime, Duration, Utc};

use crate::{
    app::App,
    domain::reminders::ReminderStatus,
    domain::{
        schedule::{VisitState, local_date},
        staff::Role,
    },
    error::{Error, Result},
    notify::{mail::Mail, templates},
    participants, store,
};

/// Send the digests due at `now`; returns how many were sent. Each staff member gets the
/// digest in their own language (the one they chose on the pages; else the study's first).
pub async fn send_due(app: &App, mail: &Mail, now: DateTime<Utc>) -> Result<usize> {
    let tz = app.study.time_zone;
    let local = now.with_timezone(&tz);
    if local.time() < app.study.reminders.digest_at {
        return Ok(0);
    }
    let day = local_date(tz, now);
    let disabled = store::study::disabled_sites(&app.db).await?;
    let staff = store::staff::list(&app.db).await?;
    let first_lang = app
        .study
        .languages
        .first()
        .cloned()
        .unwrap_or_else(|| "en".into());
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
        let recipients: Vec<(String, String)> = staff
            .iter()
            .filter(|u| {
                !u.disabled && u.role == Role::SiteStaff.as_str() && u.sites.contains(&site.code)
            })
            .map(|u| {
                let lang = u
                    .language
                    .clone()
                    .filter(|l| app.study.languages.contains(l))
                    .unwrap_or_else(|| first_lang.clone());
                (u.email.clone(), lang)
            })
            .collect();
        let facts = if recipients.is_empty() {
            Facts::default()
        } else {
            facts(app, &site.code, now).await?
        };
        let mut delivered = 0;
        for (to, lang) in &recipients {
            let message =
                templates::digest(&app.texts, lang, to, context(app, site, day, lang, &facts))
                    .map_err(|e| Error::Internal(format!("digest template: {e}")))?;
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

/// One line of the digest: a participant, a visit, and what to know.
#[derive(Debug, Clone)]
struct Fact {
    study_id: String,
    visit: String,
    /// A failed reminder's kind.
    kind: Option<String>,
    /// The latest worst pain of a flagged lesion.
    nrs: Option<i64>,
}

impl Fact {
    fn of(study_id: &str, visit: &str) -> Self {
        Self {
            study_id: study_id.to_string(),
            visit: visit.to_string(),
            kind: None,
            nrs: None,
        }
    }
}

/// The digest's sections, in order, independent of the reader's language.
#[derive(Debug, Default)]
struct Facts {
    sections: Vec<(&'static str, Vec<Fact>)>,
}

/// The digest in one language, as the template's context: visit labels and dates in that
/// language, a link to each participant's record, the dashboard and the call list.
fn context(
    app: &App,
    site: &crate::domain::study::Site,
    day: chrono::NaiveDate,
    lang: &str,
    facts: &Facts,
) -> minijinja::Value {
    let base = app.settings.base_url.trim_end_matches('/');
    let label = |v: &str| app.study.visit_label(v, lang);
    let sections: Vec<minijinja::Value> = facts
        .sections
        .iter()
        .map(|(key, items)| {
            let items: Vec<minijinja::Value> = items
                .iter()
                .map(|f| {
                    minijinja::context! {
                        id => f.study_id.clone(),
                        visit => label(&f.visit),
                        kind => f.kind.clone(),
                        nrs => f.nrs,
                        link => format!("{base}/staff/participants/{}", f.study_id),
                    }
                })
                .collect();
            minijinja::context! { key => *key, items => items }
        })
        .collect();
    minijinja::context! {
        site_name => site.name.clone(),
        study => app.study.name.clone(),
        day => crate::domain::dates::fmt_date(day, lang),
        dashboard => format!("{base}/staff/?site={}", site.code),
        call_today => format!("{base}/staff/call-today?site={}", site.code),
        sections => sections,
    }
}

async fn facts(app: &App, site: &str, now: DateTime<Utc>) -> Result<Facts> {
    let (mut open, mut late, mut missed, mut no_email, mut failed) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut no_pin = vec![];
    let people = store::participants::list(&app.db, Some(&[site.to_string()])).await?;
    let ids: Vec<_> = people.iter().map(|p| p.id).collect();
    let people_ids: Vec<(uuid::Uuid, String)> =
        people.iter().map(|p| (p.id, p.study_id.clone())).collect();
    let with_pin = store::access::with_pin(&app.db, &ids).await?;
    for p in people {
        let views = participants::current_views(&app.db, app, &p, now).await?;
        let has_email = store::participants::contact(&app.db, p.id)
            .await?
            .is_some_and(|c| store::participants::reachable(&c));
        for v in &views {
            let fact = Fact::of(&p.study_id, &v.code);
            // A visit still answerable (open, or late in its grace period) that no reminder
            // can reach: the same rule as Call today.
            if v.state.is_answerable() {
                if !with_pin.contains(&p.id) {
                    no_pin.push(fact.clone());
                }
                if !has_email {
                    no_email.push(fact.clone());
                }
            }
            match v.state {
                VisitState::Open => open.push(fact),
                VisitState::Late => late.push(fact),
                VisitState::Missed | VisitState::Partial
                    if v.window
                        .grace_end
                        .is_some_and(|g| g > now - Duration::days(7)) =>
                {
                    missed.push(fact)
                }
                _ => {}
            }
        }
        for r in store::reminders::of_participant(&app.db, p.id).await? {
            if r.status == ReminderStatus::Failed {
                let mut fact = Fact::of(&p.study_id, &r.visit_code);
                fact.kind = Some(r.kind.clone());
                failed.push(fact);
            }
        }
    }
    let mut flags = vec![];
    // "Assess for SSE" flags come from the same rule as the API, less those a nurse assessed
    // as no SSE on a call (as on Call today).
    let closed = crate::answering::calls::assessed_flags(app, &people_ids).await?;
    for (study_id, s, lesion) in
        crate::answering::pain::flags_for_sites(app, &[site.to_string()]).await?
    {
        if closed.contains(&crate::answering::calls::flag_key(&study_id, &lesion)) {
            continue;
        }
        if s == site
            && let Some(pt) = lesion.points.last()
        {
            let mut fact = Fact::of(&study_id, &pt.visit);
            fact.nrs = Some(pt.value);
            flags.push(fact);
        }
    }
    Ok(Facts {
        sections: vec![
            ("open", open),
            ("late", late),
            ("missed", missed),
            ("failed", failed),
            ("no_email", no_email),
            ("no_pin", no_pin),
            ("flags", flags),
        ],
    })
}

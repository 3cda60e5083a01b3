//! Enrolment: a participant, their lesions, contact details and first visit schedule, in one
//! audited transaction.

use crate::domain::problem::Problem;
use serde_json::json;
use uuid::Uuid;

use super::{Change, ParticipantView, insert_visit, parse_date, record_in, today, view};
use crate::{
    app::App,
    audit::{self, Entry},
    auth::{self, StaffActor},
    domain::contact::{ParticipantEmail, ParticipantPhone},
    domain::{
        participant::{self as rule, EventKind},
        permissions::Action,
        reminders::{self, Channel},
        schedule,
    },
    error::{Code, Error, Result},
    keys::sealed,
    store::{
        self,
        participants::{ContactRow, ParticipantRow},
    },
};

pub struct NewParticipant {
    pub study_id: String,
    pub site: String,
    pub language: String,
    pub randomization_date: Option<String>,
    /// The day the participant was enrolled (YYYY-MM-DD); today when absent.
    pub enrolled_on: Option<String>,
    /// The arm randomized to (a code of the study file's arms).
    pub arm: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// `email` (default), `sms` or `both`.
    pub reminder_channel: Option<String>,
}

pub async fn enrol(app: &App, actor: &StaffActor, new: NewParticipant) -> Result<ParticipantView> {
    let site = enrolling_site(app, actor, &new.site).await?;
    let Checked {
        study_id,
        email,
        phone,
        randomization,
        enrolled_on,
        arm,
        channel,
    } = checked(app, &new, &site)?;
    let now = app.clock.now();
    let id = Uuid::new_v4();
    let row = ParticipantRow {
        id,
        study_id: study_id.clone(),
        site_code: site.clone(),
        language: new.language.clone(),
        enrolled_on,
        created_at: now,
    };
    let txn = store::begin_write(&app.db).await?;
    store::participants::insert(&txn, row.clone())
        .await
        .map_err(|e| match e {
            store::StoreError::Duplicate => Error::Conflict {
                code: Code::StudyIdTaken,
                message: format!("participant {study_id} already exists"),
            },
            other => other.into(),
        })?;
    let contact_fields =
        seal_contact(&txn, app, id, email.as_ref(), phone.as_ref(), channel).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "participant.enrolled", "participant")
            .entity(&study_id)
            .after(json!({ "site": site, "language": new.language, "enrolled_on": enrolled_on, "randomization_date": randomization, "arm": arm, "contact_fields": contact_fields, "reminder_channel": channel.as_str(), "facts": audit::row_facts(&txn, "participant", id).await? })),
    )
    .await?;
    let by = actor.audit_actor();
    let staff = actor.id.to_string();
    let c = Change {
        txn: &txn,
        app,
        by: &by,
        staff: &staff,
        p: &row,
        now,
    };
    // Baseline visit, open from enrolment.
    if let Some(bl) = app.study.protocol.visits.iter().find(|v| v.is_baseline())
        && let Some(w) = schedule::plan(&app.study.protocol, bl, enrolled_on, None)
    {
        insert_visit(c, 0, &bl.code, &bl.questionnaires, w).await?;
    }
    if let Some(r) = randomization {
        record_in(
            c,
            EventKind::Randomization,
            r,
            "randomized at enrolment".into(),
            arm.map_or_else(|| json!({}), |a| json!({ "arm": a })),
        )
        .await?;
    }
    txn.commit().await?;
    tracing::info!(participant = %study_id, site = %site, "participant enrolled");
    view(app, actor, &row).await
}

/// The site a participant is enrolled at: a study site the actor works at, not disabled.
async fn enrolling_site(app: &App, actor: &StaffActor, raw: &str) -> Result<String> {
    let site = raw.trim().to_uppercase();
    auth::authorize(actor, Action::ParticipantEnrol, None)?;
    if app.study.site(&site).is_none() {
        return Err(Error::invalid(
            "site",
            Problem::UnknownSite {
                given: site.clone(),
            },
        ));
    }
    auth::authorize(actor, Action::ParticipantEnrol, Some(&site))
        .map_err(|_| Error::invalid("site", Problem::NotYourSite { site: site.clone() }))?;
    if store::study::disabled_sites(&app.db).await?.contains(&site) {
        return Err(Error::Conflict {
            code: Code::SiteDisabled,
            message: format!("site {site} is disabled; it enrols no new participants"),
        });
    }
    Ok(site)
}

/// An enrolment's input, checked.
struct Checked {
    study_id: String,
    email: Option<ParticipantEmail>,
    phone: Option<ParticipantPhone>,
    randomization: Option<chrono::NaiveDate>,
    enrolled_on: chrono::NaiveDate,
    arm: Option<String>,
    channel: Channel,
}

fn checked(app: &App, new: &NewParticipant, site: &str) -> Result<Checked> {
    let study_id = new.study_id.trim().to_string();
    app.study
        .check_study_id(&study_id, site)
        .map_err(|p| Error::invalid("study_id", p))?;
    if !app.study.languages.contains(&new.language) {
        return Err(Error::invalid(
            "language",
            Problem::NotAStudyLanguage {
                given: new.language.clone(),
                languages: app.study.languages.clone(),
            },
        ));
    }
    let email = new
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            ParticipantEmail::parse(e).map_err(|m| Error::invalid("email", Problem::NotAnEmail(m)))
        })
        .transpose()?;
    let phone = new
        .phone
        .as_deref()
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            ParticipantPhone::parse(p).map_err(|m| Error::invalid("phone", Problem::NotAPhone(m)))
        })
        .transpose()?;
    let randomization = new
        .randomization_date
        .as_deref()
        .map(|d| parse_date("randomization_date", d))
        .transpose()?;
    let enrolled_on = match new.enrolled_on.as_deref().filter(|d| !d.trim().is_empty()) {
        Some(d) => parse_date("enrolled_on", d)?,
        None => today(app),
    };
    rule::check_enrolment(enrolled_on, randomization, today(app), app.study.start_date)
        .map_err(|(f, p)| Error::invalid(f, p))?;
    let arm = checked_arm(app, new.arm.as_deref(), randomization.is_some())?;
    arm_given(app, arm.as_deref(), randomization.is_some())?;
    let channel = checked_channel(
        app,
        new.reminder_channel.as_deref(),
        email.is_some(),
        phone.as_ref(),
    )?;
    Ok(Checked {
        channel,
        study_id,
        email,
        phone,
        randomization,
        enrolled_on,
        arm,
    })
}

/// The reminder channel asked for (default email), if the participant can be reached on it.
pub(super) fn checked_channel(
    app: &App,
    raw: Option<&str>,
    has_email: bool,
    phone: Option<&ParticipantPhone>,
) -> Result<Channel> {
    let channel = match raw.map(str::trim).filter(|c| !c.is_empty()) {
        None => Channel::Email,
        Some(c) => Channel::parse(c).ok_or_else(|| {
            Error::invalid(
                "reminder_channel",
                Problem::NotOneOf {
                    given: c.to_string(),
                    allowed: vec!["email".into(), "sms".into(), "both".into()],
                },
            )
        })?,
    };
    reminders::check_channel(
        channel,
        has_email,
        phone.map(ParticipantPhone::takes_sms),
        app.sms.is_some(),
    )
    .map_err(|(f, p)| Error::invalid(f, p))?;
    Ok(channel)
}

/// An arm is one of the study file's, and is given only with a randomization.
pub(super) fn checked_arm(
    app: &App,
    arm: Option<&str>,
    randomized: bool,
) -> Result<Option<String>> {
    let Some(arm) = arm.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    if app.study.arm(arm).is_none() {
        let all: Vec<_> = app.study.arms.iter().map(|a| a.code.as_str()).collect();
        return Err(Error::invalid(
            "arm",
            if all.is_empty() {
                Problem::NoArms
            } else {
                Problem::NotOneOf {
                    given: arm.to_string(),
                    allowed: all.into_iter().map(String::from).collect(),
                }
            },
        ));
    }
    if !randomized {
        return Err(Error::invalid("arm", Problem::ArmWithoutRandomization));
    }
    Ok(Some(arm.to_string()))
}

/// A randomization (at enrolment or as an event) is recorded with its arm when the study file
/// lists arms (#32.6): "arm unknown" is not a randomization.
pub(super) fn arm_given(app: &App, arm: Option<&str>, randomized: bool) -> Result<()> {
    if randomized && arm.is_none() && !app.study.arms.is_empty() {
        let all: Vec<_> = app.study.arms.iter().map(|a| a.code.as_str()).collect();
        return Err(Error::Unprocessable {
            code: Code::ArmRequired,
            message: format!(
                "arm: a randomization is recorded with its arm ({})",
                all.join(", ")
            ),
        });
    }
    Ok(())
}

/// Store the contact details sealed under the data key; returns the fields stored (for the
/// audit trail, which never holds the values).
async fn seal_contact(
    txn: &sea_orm::DatabaseTransaction,
    app: &App,
    id: Uuid,
    email: Option<&ParticipantEmail>,
    phone: Option<&ParticipantPhone>,
    channel: Channel,
) -> Result<Vec<&'static str>> {
    let mut fields = vec![];
    if email.is_none() && phone.is_none() {
        return Ok(fields);
    }
    let seal = |field: &str, v: Option<&str>| {
        v.map(|v| sealed::seal(&app.keys.data, v, &format!("{id}:{field}")))
    };
    store::participants::save_contact(
        txn,
        ContactRow {
            participant_id: id,
            email_sealed: seal("email", email.map(ParticipantEmail::as_str)),
            phone_sealed: seal("phone", phone.map(ParticipantPhone::as_str)),
            reminder_channel: channel.as_str().into(),
        },
    )
    .await?;
    if email.is_some() {
        fields.push("email");
    }
    if phone.is_some() {
        fields.push("phone");
    }
    Ok(fields)
}

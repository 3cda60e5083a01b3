//! Enrolment: a participant, their lesions, contact details and first visit schedule, in one
//! audited transaction.

use serde_json::json;
use uuid::Uuid;

use crate::{
    app::App,
    audit::{self, Entry},
    auth::{self, StaffActor},
    domain::{
        participant::{self as rule, EventKind},
        permissions::Action,
        schedule::{self, Anchor},
    },
    error::{Code, Error, Result},
    keys::sealed,
    store::{
        self,
        participants::{ContactRow, ParticipantRow},
    },
};

use super::*;

pub struct NewParticipant {
    pub study_id: String,
    pub site: String,
    pub language: String,
    pub randomization_date: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

pub async fn enrol(app: &App, actor: &StaffActor, new: NewParticipant) -> Result<ParticipantView> {
    let site = new.site.trim().to_uppercase();
    auth::authorize(actor, Action::ParticipantEnrol, None)?;
    if app.study.site(&site).is_none() {
        return Err(Error::invalid("site", format!("unknown site {site:?}")));
    }
    auth::authorize(actor, Action::ParticipantEnrol, Some(&site))
        .map_err(|_| Error::invalid("site", format!("you do not work at site {site}")))?;
    if store::study::disabled_sites(&app.db).await?.contains(&site) {
        return Err(Error::Conflict {
            code: Code::SiteDisabled,
            message: format!("site {site} is disabled; it enrols no new participants"),
        });
    }
    let study_id = new.study_id.trim().to_string();
    app.study
        .check_study_id(&study_id, &site)
        .map_err(|m| Error::invalid("study_id", m))?;
    if !app.study.languages.contains(&new.language) {
        return Err(Error::invalid(
            "language",
            format!(
                "{:?} is not a study language ({})",
                new.language,
                app.study.languages.join(", ")
            ),
        ));
    }
    let email = match new
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        Some(e) => Some(
            crate::domain::contact::ParticipantEmail::parse(e)
                .map_err(|m| Error::invalid("email", m))?
                .as_str()
                .to_string(),
        ),
        None => None,
    };
    let phone = new
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    if phone.as_ref().is_some_and(|p| {
        p.len() > 40
            || !p
                .chars()
                .all(|c| c.is_ascii_digit() || " +-()./".contains(c))
    }) {
        return Err(Error::invalid(
            "phone",
            "may contain only digits, spaces and + - ( ) . /",
        ));
    }
    let randomization = new
        .randomization_date
        .as_deref()
        .map(|d| parse_date("randomization_date", d))
        .transpose()?;
    let now = app.clock.now();
    let enrolled_on = today(app);
    if let Some(r) = randomization {
        rule::check_new(EventKind::Randomization, r, &[], enrolled_on, enrolled_on).map_err(
            |(f, m)| {
                Error::invalid(
                    if f == "date" {
                        "randomization_date".into()
                    } else {
                        f
                    },
                    m,
                )
            },
        )?;
    }
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
    let mut contact_fields = vec![];
    if email.is_some() || phone.is_some() {
        let seal = |field: &str, v: &Option<String>| {
            v.as_ref()
                .map(|v| sealed::seal(&app.keys.data, v, &format!("{id}:{field}")))
        };
        store::participants::save_contact(
            &txn,
            ContactRow {
                participant_id: id,
                email_sealed: seal("email", &email),
                phone_sealed: seal("phone", &phone),
            },
        )
        .await?;
        if email.is_some() {
            contact_fields.push("email");
        }
        if phone.is_some() {
            contact_fields.push("phone");
        }
    }
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor.audit_actor(), "participant.enrolled", "participant")
            .entity(&study_id)
            .after(json!({ "site": site, "language": new.language, "enrolled_on": enrolled_on, "contact_fields": contact_fields })),
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
    if let Some(bl) = app
        .study
        .protocol
        .visits
        .iter()
        .find(|v| v.anchor == Anchor::Enrolment)
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
            json!({}),
        )
        .await?;
    }
    txn.commit().await?;
    tracing::info!(participant = %study_id, site = %site, "participant enrolled");
    view(app, actor, &row).await
}

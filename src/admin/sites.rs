//! Sites: read from the study file (their only source), with the disabled flag from the database.
//! Disabling a site is audited with a reason; it never removes anything.

use crate::domain::problem::Problem;
use serde_json::json;

use crate::{
    app::App,
    audit::{self, Entry},
    auth::{self, StaffActor},
    domain::{permissions::Action, study::Site},
    error::{Error, Result},
    store,
};

#[derive(Debug, Clone)]
pub struct SiteView {
    pub site: Site,
    pub disabled: bool,
}

pub async fn list(app: &App, actor: &StaffActor) -> Result<Vec<SiteView>> {
    auth::authorize(actor, Action::SiteRead, None)?;
    let disabled = store::study::disabled_sites(&app.db).await?;
    Ok(app
        .study
        .sites
        .iter()
        .map(|s| SiteView {
            disabled: disabled.contains(&s.code),
            site: s.clone(),
        })
        .collect())
}

pub async fn get(app: &App, actor: &StaffActor, code: &str) -> Result<SiteView> {
    auth::authorize(actor, Action::SiteRead, Some(code))?;
    let site = app
        .study
        .site(code)
        .ok_or_else(|| Error::NotFound(format!("site {code:?}")))?;
    let disabled = store::study::disabled_sites(&app.db).await?;
    Ok(SiteView {
        disabled: disabled.contains(&site.code),
        site: site.clone(),
    })
}

pub async fn set_disabled(
    app: &App,
    actor: &StaffActor,
    code: &str,
    disabled: bool,
    reason: &str,
) -> Result<SiteView> {
    auth::authorize(actor, Action::SiteDisable, Some(code))?;
    if reason.trim().is_empty() {
        return Err(Error::invalid("reason", Problem::ReasonRequired));
    }
    if app.study.site(code).is_none() {
        return Err(Error::NotFound(format!("site {code:?}")));
    }
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let before = store::study::set_site_disabled(&txn, code, disabled, now).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(
            actor.audit_actor(),
            if disabled {
                "site.disabled"
            } else {
                "site.enabled"
            },
            "site",
        )
        .entity(code)
        .before(json!({ "disabled": before }))
        .after(json!({ "disabled": disabled }))
        .reason(reason.trim()),
    )
    .await?;
    txn.commit().await?;
    get(app, actor, code).await
}

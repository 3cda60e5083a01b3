//! The access panel (link, PIN, lock, sessions) and the new link or PIN a form shows once,
//! sealed to the staff member and participant between the post and the page.

use minijinja::{Value, context};

use super::super::{Web, local_time};
use crate::{app::App, auth, auth::participant};

/// What a form shows once after it ran: a new link (with the PIN set the first time) or a new PIN.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(in crate::web::staff) struct Shown {
    pub(super) url: Option<String>,
    pub(super) pin: Option<String>,
    /// Shown until then (a reload within minutes shows it again, later never).
    until: chrono::DateTime<chrono::Utc>,
}

impl Shown {
    /// How long a new link or PIN stays shown after its form ran.
    const MINUTES: i64 = 10;

    pub(super) fn new(app: &App, url: Option<String>, pin: Option<String>) -> Self {
        Shown {
            url,
            pin,
            until: app.clock.now() + chrono::Duration::minutes(Self::MINUTES),
        }
    }

    fn aad(actor: &auth::StaffActor, study_id: &str) -> String {
        format!("shown:{study_id}:{}", actor.id)
    }

    pub(super) fn seal(&self, app: &App, actor: &auth::StaffActor, study_id: &str) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        crate::keys::sealed::seal(&app.keys.data, &text, &Self::aad(actor, study_id))
    }

    pub(super) fn open(
        app: &App,
        actor: &auth::StaffActor,
        study_id: &str,
        token: &str,
    ) -> Option<Self> {
        let text =
            crate::keys::sealed::open(&app.keys.data, token, &Self::aad(actor, study_id)).ok()?;
        let shown: Shown = serde_json::from_str(&text).ok()?;
        (shown.until > app.clock.now()).then_some(shown)
    }
}

/// The access panel: link, PIN, lock and sessions, in the page's language (staff who manage
/// access only).
pub(super) async fn access_view(
    web: &Web,
    app: &App,
    lang: &str,
    actor: &auth::StaffActor,
    study_id: &str,
) -> Option<Value> {
    let a = participant::access_status(app, actor, study_id)
        .await
        .ok()?;
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| local_time(app, t, lang));
    Some(context! {
        link => match (when(a.staff_link_at), when(a.staff_links_revoked_at)) {
            (Some(t), _) => web.t(lang, "access_link_at", &[("when", &t)]),
            (None, Some(t)) => web.t(lang, "access_links_revoked", &[("when", &t)]),
            (None, None) => web.t(lang, "access_no_link", &[]),
        },
        pin => when(a.pin_set_at).map(|t| web.t(lang, "access_pin_at", &[("when", &t)])).unwrap_or_else(|| web.t(lang, "access_no_pin", &[])),
        has_pin => a.pin_set_at.is_some(),
        locked => when(a.locked_until).map(|t| web.t(lang, "access_locked", &[("until", &t)])),
        sessions => web.t(lang, "access_sessions", &[("n", &a.open_sessions.to_string())]),
        live_links => a.live_links,
    })
}

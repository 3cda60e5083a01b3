//! Who reads under /fhir/r4: a staff member (their usual bearer token, the one permission gate
//! and site scope) or a registered SMART Backend Services client (an access token from the token
//! endpoint, limited to its sites and scopes). Every read by a client goes in the audit trail.

use poem::Request;
use serde_json::json;
use uuid::Uuid;

use super::outcome::Outcome;
use crate::{
    app::App,
    audit::{self, Entry},
    auth::{self, StaffActor},
    domain::{
        audit::{Actor, ActorKind},
        permissions::Action,
    },
    store,
};

/// A FHIR resource type epro serves, as SMART scopes and the permission table name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Questionnaire,
    QuestionnaireResponse,
    Patient,
    Observation,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Questionnaire,
        Kind::QuestionnaireResponse,
        Kind::Patient,
        Kind::Observation,
    ];

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Questionnaire => "Questionnaire",
            Kind::QuestionnaireResponse => "QuestionnaireResponse",
            Kind::Patient => "Patient",
            Kind::Observation => "Observation",
        }
    }

    /// The staff permission a read of this kind needs (`None`: definitions are public).
    fn action(self) -> Option<Action> {
        match self {
            Kind::Questionnaire => None,
            Kind::QuestionnaireResponse | Kind::Observation => Some(Action::ResponseRead),
            Kind::Patient => Some(Action::ParticipantRead),
        }
    }
}

/// Whether granted SMART scopes allow reading and searching `kind`: `system/<Kind>.rs` (v2),
/// `system/<Kind>.read` (v1), or the same with `*`.
pub fn scope_allows(scopes: &[String], kind: Kind) -> bool {
    scopes.iter().any(|s| {
        let Some(rest) = s.strip_prefix("system/") else {
            return false;
        };
        let Some((resource, perms)) = rest.split_once('.') else {
            return false;
        };
        (resource == kind.as_str() || resource == "*")
            && (perms == "read" || perms == "*" || (perms.contains('r') && perms.contains('s')))
    })
}

#[derive(Debug, Clone)]
pub enum Reader {
    Staff(StaffActor),
    Client {
        id: Uuid,
        sites: Vec<String>,
        scopes: Vec<String>,
    },
}

impl Reader {
    /// May this reader read `kind` at all? (403 otherwise.)
    pub fn may_read(&self, kind: Kind) -> Result<(), Outcome> {
        match self {
            Reader::Staff(actor) => match kind.action() {
                Some(action) => Ok(auth::authorize(actor, action, None)?),
                None => Ok(()),
            },
            Reader::Client { scopes, .. } => {
                if scope_allows(scopes, kind) {
                    Ok(())
                } else {
                    Err(Outcome::forbidden(format!(
                        "the access token's scopes do not include system/{}.rs",
                        kind.as_str()
                    )))
                }
            }
        }
    }

    /// The sites this reader sees (`None` = every site).
    pub fn sites(&self) -> Option<Vec<String>> {
        match self {
            Reader::Staff(actor) => auth::site_scope(actor, None),
            Reader::Client { sites, .. } => Some(sites.clone()),
        }
    }

    pub fn sees_site(&self, site: &str) -> bool {
        self.sites()
            .is_none_or(|sites| sites.iter().any(|s| s == site))
    }

    /// Staff see licensed questionnaire wording as everywhere else; outside systems get the
    /// structure only (the licence covers the trial's staff and participants).
    pub fn sees_licensed_wording(&self) -> bool {
        matches!(self, Reader::Staff(_))
    }
}

/// The audit actor of a client: the system, named by the client id.
pub fn client_actor(id: Uuid) -> Actor {
    Actor {
        kind: ActorKind::System,
        id: Some(format!("fhir-client:{id}")),
    }
}

/// The bearer token's reader: a client access token, else a staff session.
pub async fn reader(app: &App, req: &Request) -> Result<Reader, Outcome> {
    let token = req
        .header("authorization")
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Outcome::login("authentication required: send Authorization: Bearer <token> (a staff session or a SMART access token)")
        })?;
    let now = app.clock.now();
    if let Some(t) = store::fhir::find_token(&app.db, &auth::token_hash(token)).await?
        && t.expires_at > now
    {
        let client = store::fhir::find_client(&app.db, t.client_id)
            .await?
            .filter(|c| !c.disabled)
            .ok_or_else(|| Outcome::login("the client is disabled"))?;
        return Ok(Reader::Client {
            id: client.id,
            sites: client.sites.0,
            scopes: t.scopes.0,
        });
    }
    match auth::authenticate(app, token).await {
        Ok(actor) => Ok(Reader::Staff(actor)),
        Err(_) => Err(Outcome::login(
            "the access token is unknown or expired; get a new one from the token endpoint",
        )),
    }
}

/// Record a client's read (who, which resource or search, the HTTP status it got; refused
/// attempts too) in the audit trail. Staff reads are not recorded, as elsewhere in the API.
pub async fn audit_read(
    app: &App,
    reader: &Reader,
    what: &str,
    result: &Result<serde_json::Value, Outcome>,
) -> Result<(), Outcome> {
    let Reader::Client { id, .. } = reader else {
        return Ok(());
    };
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(client_actor(*id), "fhir.read", "fhir").after(json!({
            "request": format!("GET {what}"),
            "status": result.as_ref().map_or_else(|o| o.status.as_u16(), |_| 200),
        })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_name_the_resource_and_read_search() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases: &[(&[&str], Kind, bool)] = &[
            (
                &["system/QuestionnaireResponse.rs"],
                Kind::QuestionnaireResponse,
                true,
            ),
            (
                &["system/QuestionnaireResponse.read"],
                Kind::QuestionnaireResponse,
                true,
            ),
            (&["system/*.rs"], Kind::Observation, true),
            (&["system/Patient.rs"], Kind::QuestionnaireResponse, false),
            (
                &["system/QuestionnaireResponse.r"],
                Kind::QuestionnaireResponse,
                false,
            ),
            (
                &["patient/QuestionnaireResponse.rs"],
                Kind::QuestionnaireResponse,
                false,
            ),
            (&["user/*.rs"], Kind::Patient, false),
        ];
        for (scopes, kind, want) in cases {
            assert_eq!(
                scope_allows(&s(scopes), *kind),
                *want,
                "{scopes:?} {kind:?}"
            );
        }
    }
}

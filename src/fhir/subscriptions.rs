//! FHIR R4 rest-hook Subscriptions (#26.3, docs/fhir.md "Subscriptions"): an admin creates one
//! for a registered client; each completion or amendment the client may read is queued in the
//! submission's own transaction (`enqueue`), and the jobs tick delivers the queue (`deliver_due`):
//! signed, retried with back-off, the subscription set to `error` after repeated failures, and
//! replayed on request with the same event ids. Never logs the secret or a body.

use chrono::{DateTime, Duration, Utc};
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};
use rand::RngCore;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

use super::{
    access::{self, Kind, Reader, scope_allows},
    bundle,
    outcome::{Outcome, fhir_json},
    search,
    smart::fhir_base,
};
use crate::{
    app::App,
    audit::{self, Entry},
    auth::{self, StaffActor},
    domain::{
        answering::ResponseStatus,
        audit::Actor,
        fhir_subscription::{self as rule, Event, Payload},
        permissions::Action,
        questionnaire::fhir::canonical_url,
    },
    error::{Error, Result},
    keys::sealed,
    store::{
        self, Json,
        fhir_subscriptions::{DeliveryRow, SubscriptionRow},
        participants::ParticipantRow,
        responses::ResponseRow,
    },
};

/// The Backport IG extension naming what a notification carries.
pub const PAYLOAD_CONTENT: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content";
/// A worker's claim on a subscription's queue older than this is taken to be from a dead worker.
const CLAIM_STALE_SECONDS: i64 = 600;
/// Notifications sent per subscription per tick at most.
const BATCH: u64 = 20;

/// A subscription to create (admin API or CLI).
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub criteria: String,
    pub endpoint: String,
    /// `id-only` (default) or `full-resource`.
    pub payload: Option<String>,
}

/// A created subscription and its signing secret, shown this once.
pub struct Created {
    pub row: SubscriptionRow,
    pub secret: String,
}

fn secret_aad(id: Uuid) -> String {
    format!("fhir_subscription:{id}:secret")
}

fn actor_of(actor: Option<&StaffActor>) -> Actor {
    actor.map_or_else(Actor::system, StaffActor::audit_actor)
}

fn authorize(actor: Option<&StaffActor>, action: Action) -> Result<()> {
    match actor {
        Some(a) => auth::authorize(a, action, None),
        None => Ok(()),
    }
}

async fn existing<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<SubscriptionRow> {
    store::fhir_subscriptions::find(db, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("FHIR subscription {id}")))
}

/// Create a subscription for a registered client (an admin; the CLI passes no actor).
pub async fn create(
    app: &App,
    actor: Option<&StaffActor>,
    client_id: Uuid,
    new: NewSubscription,
) -> Result<Created> {
    authorize(actor, Action::UserCreate)?;
    let client = store::fhir::find_client(&app.db, client_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("FHIR client {client_id}")))?;
    if !scope_allows(&client.scopes.0, Kind::QuestionnaireResponse) {
        return Err(Error::operator(
            "client",
            "the client's scopes do not include system/QuestionnaireResponse.rs, so it may not \
             be told about responses",
        ));
    }
    let criteria = new.criteria.trim().to_string();
    let parsed = rule::parse_criteria(&criteria).map_err(|m| Error::operator("criteria", m))?;
    let questionnaire = match &parsed.questionnaire {
        Some(q) => {
            let (url, version) = search::canonical(q);
            let prefix = canonical_url(&app.settings.base_url, "");
            if url.strip_prefix(&prefix).is_none_or(|k| k.is_empty()) {
                return Err(Error::operator(
                    "criteria",
                    format!(
                        "criteria {criteria:?}: questionnaire {url:?} is not a questionnaire of \
                         this server (their canonical urls start with {prefix})"
                    ),
                ));
            }
            Some((url, version))
        }
        None => None,
    };
    let endpoint = rule::check_endpoint(&new.endpoint, app.settings.fhir_webhook_allow_http)
        .map_err(|m| Error::operator("endpoint", m))?;
    let payload = Payload::parse(new.payload.as_deref().unwrap_or("id-only").trim())
        .map_err(|m| Error::operator("payload", m))?;
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let secret = format!("whsec_{}", hex::encode(raw));
    let now = app.clock.now();
    let id = Uuid::new_v4();
    let (questionnaire_url, questionnaire_version) = questionnaire.unzip();
    let row = SubscriptionRow {
        id,
        client_id,
        criteria,
        events: Json(
            parsed
                .events
                .iter()
                .map(|e| e.as_str().to_string())
                .collect(),
        ),
        questionnaire_url,
        questionnaire_version: questionnaire_version.flatten(),
        endpoint: endpoint.to_string(),
        payload: payload.as_str().into(),
        secret_sealed: sealed::seal(&app.keys.data, &secret, &secret_aad(id)),
        status: "active".into(),
        error: None,
        failures: 0,
        next_attempt_at: now,
        claimed_at: None,
        created_at: now,
    };
    let txn = store::begin_write(&app.db).await?;
    store::fhir_subscriptions::insert(&txn, row.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(actor_of(actor), "fhir_subscription.created", "fhir_subscription")
            .entity(id)
            .after(json!({ "client": client_id, "criteria": row.criteria, "endpoint": row.endpoint, "payload": row.payload })),
    )
    .await?;
    txn.commit().await?;
    Ok(Created { row, secret })
}

pub async fn list(app: &App, actor: Option<&StaffActor>) -> Result<Vec<SubscriptionRow>> {
    authorize(actor, Action::UserList)?;
    Ok(store::fhir_subscriptions::list(&app.db, None).await?)
}

/// Switch a subscription off, or on again (`active`: its failure count and error are cleared
/// and what waited is delivered on the next tick).
pub async fn set_active(
    app: &App,
    actor: Option<&StaffActor>,
    id: Uuid,
    active: bool,
) -> Result<SubscriptionRow> {
    authorize(actor, Action::UserDisable)?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let mut row = existing(&txn, id).await?;
    let before = json!({ "status": row.status, "error": row.error });
    if active {
        row.status = "active".into();
        row.error = None;
        row.failures = 0;
        row.next_attempt_at = now;
    } else {
        row.status = "off".into();
    }
    store::fhir_subscriptions::update(&txn, row.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(
            actor_of(actor),
            if active {
                "fhir_subscription.enabled"
            } else {
                "fhir_subscription.disabled"
            },
            "fhir_subscription",
        )
        .entity(id)
        .before(before)
        .after(json!({ "status": row.status })),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// Deliver again every event of the subscription since `since`, with the same event ids (so a
/// receiver de-duplicates). Returns how many events were queued again.
pub async fn replay(
    app: &App,
    actor: Option<&StaffActor>,
    id: Uuid,
    since: DateTime<Utc>,
) -> Result<u64> {
    authorize(actor, Action::UserCreate)?;
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    let mut row = existing(&txn, id).await?;
    let n = store::fhir_subscriptions::requeue_since(&txn, id, since).await?;
    if row.status == "active" {
        row.next_attempt_at = now;
        store::fhir_subscriptions::update(&txn, row).await?;
    }
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(
            actor_of(actor),
            "fhir_subscription.replay",
            "fhir_subscription",
        )
        .entity(id)
        .after(json!({ "since": since, "events": n })),
    )
    .await?;
    txn.commit().await?;
    Ok(n)
}

/// Queue the response's event for every subscription that wants it and whose client may read
/// the participant's site. Called inside the submission's or amendment's transaction, so the
/// event is queued exactly when the response is stored.
pub async fn enqueue<C: ConnectionTrait>(
    db: &C,
    app: &App,
    p: &ParticipantRow,
    r: &ResponseRow,
    now: DateTime<Utc>,
) -> Result<()> {
    let event = match r.status {
        ResponseStatus::Completed => Event::Completed,
        ResponseStatus::Amended => Event::Amended,
        ResponseStatus::Draft => return Ok(()),
    };
    let subscriptions = store::fhir_subscriptions::recording(db).await?;
    if subscriptions.is_empty() {
        return Ok(());
    }
    let url = canonical_url(&app.settings.base_url, &r.questionnaire_key);
    for s in subscriptions {
        let wanted = s.events.0.iter().any(|e| e == event.as_str())
            && s.questionnaire_url.as_ref().is_none_or(|u| *u == url)
            && s.questionnaire_version
                .as_ref()
                .is_none_or(|v| *v == r.questionnaire_version);
        if !wanted {
            continue;
        }
        let Some(client) = store::fhir::find_client(db, s.client_id).await? else {
            continue;
        };
        if client.disabled || !client.sites.0.contains(&p.site_code) {
            continue;
        }
        store::fhir_subscriptions::queue(
            db,
            DeliveryRow {
                id: Uuid::new_v4(),
                subscription_id: s.id,
                response_id: r.id,
                revision: r.revision,
                event: event.as_str().into(),
                event_at: now,
                status: "pending".into(),
                attempts: 0,
                delivered_at: None,
                last_error: None,
            },
        )
        .await?;
    }
    Ok(())
}

// ---- delivery (the jobs tick) ----

/// What one delivery pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub delivered: usize,
    /// Failed attempts (each to be retried after the back-off).
    pub failed: usize,
    /// Subscriptions set to `error` by this pass.
    pub errored: usize,
}

/// Deliver what is due on every active subscription.
pub async fn deliver_due(app: &App) -> Result<Report> {
    let now = app.clock.now();
    let stale_before = now - Duration::seconds(CLAIM_STALE_SECONDS);
    let mut report = Report::default();
    let due = store::fhir_subscriptions::due(&app.db, now, stale_before).await?;
    if due.is_empty() {
        return Ok(report);
    }
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(
            app.settings.fhir_webhook_timeout_seconds.max(1),
        ))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Internal(format!("webhook client: {e}")))?;
    for s in due {
        if !store::fhir_subscriptions::claim(&app.db, s.id, now, stale_before).await? {
            continue;
        }
        let result = deliver_one(app, &http, s.id, now, &mut report).await;
        // The claim is released whatever happened; an error is retried on the next tick.
        store::fhir_subscriptions::release(&app.db, s.id).await?;
        result?;
    }
    Ok(report)
}

/// Work one claimed subscription's queue in event order, stopping at the first failure.
async fn deliver_one(
    app: &App,
    http: &reqwest::Client,
    id: Uuid,
    now: DateTime<Utc>,
    report: &mut Report,
) -> Result<()> {
    let Some(s) = store::fhir_subscriptions::find(&app.db, id).await? else {
        return Ok(());
    };
    let Some(client) = store::fhir::find_client(&app.db, s.client_id)
        .await?
        .filter(|c| !c.disabled)
    else {
        return Ok(());
    };
    let secret = match sealed::open(&app.keys.data, &s.secret_sealed, &secret_aad(s.id)) {
        Ok(secret) => secret,
        Err(e) => {
            let error = format!("the signing secret cannot be opened: {e}");
            store::fhir_subscriptions::fail(&app.db, s.id, s.failures, now, Some(error)).await?;
            report.errored += 1;
            return Ok(());
        }
    };
    let payload = Payload::parse(&s.payload).unwrap_or(Payload::IdOnly);
    let mut failures = s.failures;
    for mut d in store::fhir_subscriptions::pending(&app.db, s.id, BATCH).await? {
        let r = store::responses::find_by_id(&app.db, d.response_id).await?;
        let p = match &r {
            Some(r) => store::participants::find_by_id(&app.db, r.participant_id).await?,
            None => None,
        };
        let (Some(r), Some(p)) = (r, p) else {
            d.status = "withheld".into();
            d.last_error = Some("the response no longer exists".into());
            store::fhir_subscriptions::update_delivery(&app.db, d).await?;
            continue;
        };
        // The client's sites are read again at sending: a site taken away is never delivered.
        if !client.sites.0.contains(&p.site_code) {
            d.status = "withheld".into();
            d.last_error = Some("the client may no longer read this site".into());
            store::fhir_subscriptions::update_delivery(&app.db, d).await?;
            continue;
        }
        let resource = match payload {
            Payload::FullResource => {
                let last = store::fhir::last_changes(&app.db, std::slice::from_ref(&r)).await?;
                let last = last.get(&r.id).copied();
                Some(
                    super::resources::response(app, &p, &r, last)
                        .await
                        .map_err(|o| {
                            Error::Internal(format!("notification resource: {}", o.message))
                        })?,
                )
            }
            Payload::IdOnly => None,
        };
        let body = notification(app, &s, &d, now, resource).to_string();
        d.attempts += 1;
        match post(http, &s, &d, &secret, now, body).await {
            Ok(()) => {
                d.status = "delivered".into();
                d.delivered_at = Some(now);
                d.last_error = None;
                delivered(app, &s, d, now).await?;
                failures = 0;
                report.delivered += 1;
            }
            Err(error) => {
                tracing::warn!(subscription = %s.id, event = %d.id, error = %error, "FHIR notification not delivered; will retry");
                d.last_error = Some(error.clone());
                store::fhir_subscriptions::update_delivery(&app.db, d).await?;
                let failures = failures + 1;
                let max = app.settings.fhir_webhook_max_failures.max(1) as i32;
                if failures >= max {
                    let text = format!("{failures} consecutive deliveries failed; last: {error}");
                    store::fhir_subscriptions::fail(&app.db, s.id, failures, now, Some(text))
                        .await?;
                    errored(app, &s, failures, now).await?;
                    report.errored += 1;
                } else {
                    let next = now
                        + rule::backoff(
                            failures as u32,
                            app.settings.fhir_webhook_backoff_base_seconds,
                            app.settings.fhir_webhook_backoff_max_seconds,
                        );
                    store::fhir_subscriptions::fail(&app.db, s.id, failures, next, None).await?;
                }
                report.failed += 1;
                return Ok(());
            }
        }
    }
    if failures != s.failures {
        store::fhir_subscriptions::fail(&app.db, s.id, failures, now, None).await?;
    }
    Ok(())
}

/// POST one notification; Ok only on a 2xx answer.
async fn post(
    http: &reqwest::Client,
    s: &SubscriptionRow,
    d: &DeliveryRow,
    secret: &str,
    now: DateTime<Utc>,
    body: String,
) -> std::result::Result<(), String> {
    let signature = rule::signature(secret, now.timestamp(), body.as_bytes());
    let sent = http
        .post(&s.endpoint)
        .header("content-type", "application/fhir+json")
        .header("x-epro-event-id", d.id.to_string())
        .header("x-epro-event", d.event.as_str())
        .header("x-epro-subscription", s.id.to_string())
        .header("x-epro-signature", signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => Err(format!(
            "the endpoint answered HTTP {}",
            resp.status().as_u16()
        )),
        Err(e) if e.is_timeout() => Err("no answer within the timeout".into()),
        Err(e) if e.is_connect() => Err("cannot connect to the endpoint".into()),
        Err(e) => Err(format!("sending failed: {}", e.without_url())),
    }
}

/// Mark a notification delivered and record it in the audit trail (who was told what).
async fn delivered(
    app: &App,
    s: &SubscriptionRow,
    d: DeliveryRow,
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = store::begin_write(&app.db).await?;
    store::fhir_subscriptions::update_delivery(&txn, d.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(Actor::system(), "fhir.notified", "fhir_subscription")
            .entity(s.id)
            .after(json!({ "client": s.client_id, "event_id": d.id, "response": d.response_id, "event": d.event, "attempts": d.attempts })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

async fn errored(app: &App, s: &SubscriptionRow, failures: i32, now: DateTime<Utc>) -> Result<()> {
    let txn = store::begin_write(&app.db).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(
            Actor::system(),
            "fhir_subscription.error",
            "fhir_subscription",
        )
        .entity(s.id)
        .after(json!({ "status": "error", "failures": failures })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The notification body: a `history` Bundle whose first entry is the subscription status (a
/// `Parameters`, shaped after the Subscriptions R5 Backport IG for R4) naming the event, then
/// the response: its full URL only (`id-only`) or with the resource (`full-resource`).
pub fn notification(
    app: &App,
    s: &SubscriptionRow,
    d: &DeliveryRow,
    now: DateTime<Utc>,
    resource: Option<Value>,
) -> Value {
    let base = fhir_base(app);
    let focus = format!("QuestionnaireResponse/{}", d.response_id);
    let mut entry = json!({
        "fullUrl": format!("{base}/{focus}"),
        "request": { "method": "PUT", "url": focus },
        "response": { "status": "200" },
    });
    if let Some(r) = resource {
        entry["resource"] = r;
    }
    let instant = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({
        "resourceType": "Bundle",
        "id": d.id,
        "type": "history",
        "timestamp": instant(now),
        "entry": [
            {
                "fullUrl": format!("urn:uuid:{}", d.id),
                "resource": {
                    "resourceType": "Parameters",
                    "id": d.id,
                    "parameter": [
                        { "name": "subscription", "valueReference": { "reference": format!("{base}/Subscription/{}", s.id) } },
                        { "name": "status", "valueCode": "active" },
                        { "name": "type", "valueCode": "event-notification" },
                        { "name": "notification-event", "part": [
                            { "name": "timestamp", "valueInstant": instant(d.event_at) },
                            { "name": "focus", "valueReference": { "reference": format!("{base}/{focus}") } },
                        ] },
                    ],
                },
                "request": { "method": "GET", "url": format!("Subscription/{}/$status", s.id) },
                "response": { "status": "200" },
            },
            entry,
        ],
    })
}

// ---- the Subscription resource (GET /fhir/r4/Subscription) ----

/// A subscription as an R4 `Subscription` resource; never its secret.
pub fn resource(row: &SubscriptionRow) -> Value {
    let mut r = json!({
        "resourceType": "Subscription",
        "id": row.id,
        "status": row.status,
        "reason": "Notify a registered FHIR client when a QuestionnaireResponse it may read is completed or amended",
        "criteria": row.criteria,
        "channel": {
            "type": "rest-hook",
            "endpoint": row.endpoint,
            "payload": "application/fhir+json",
            "_payload": { "extension": [{ "url": PAYLOAD_CONTENT, "valueCode": row.payload }] },
        },
    });
    if let Some(e) = &row.error {
        r["error"] = json!(e);
    }
    r
}

/// The subscriptions a reader sees: a client its own, an admin every one.
async fn visible(app: &App, reader: &Reader) -> std::result::Result<Vec<SubscriptionRow>, Outcome> {
    match reader {
        Reader::Client { id, .. } => Ok(store::fhir_subscriptions::list(&app.db, Some(*id)).await?),
        Reader::Staff(actor) => {
            auth::authorize(actor, Action::UserList, None)?;
            Ok(store::fhir_subscriptions::list(&app.db, None).await?)
        }
    }
}

const STATUSES: [&str; 4] = ["requested", "active", "error", "off"];

fn search_rows(
    rows: Vec<SubscriptionRow>,
    params: &[(String, String)],
    strict: bool,
) -> std::result::Result<Vec<SubscriptionRow>, Outcome> {
    let mut rows = rows;
    for (k, v) in params {
        match k.as_str() {
            "status" => {
                let wanted: Vec<&str> = v.split(',').map(str::trim).collect();
                if let Some(bad) = wanted.iter().find(|s| !STATUSES.contains(s)) {
                    return Err(Outcome::invalid(format!(
                        "search parameter status: {bad:?} is not a Subscription status (requested, active, error, off)"
                    )));
                }
                rows.retain(|r| wanted.contains(&r.status.as_str()));
            }
            "_id" => rows.retain(|r| v.split(',').any(|id| id.trim() == r.id.to_string())),
            "_format" | "_count" => {}
            other if strict => {
                return Err(Outcome::invalid(format!(
                    "search parameter {other} is not supported for Subscription (sent with Prefer: handling=strict)"
                )));
            }
            _ => {}
        }
    }
    Ok(rows)
}

#[handler]
pub async fn search_handler(app: Data<&Arc<App>>, req: &Request) -> Response {
    super::respond(
        async {
            let params = super::query_pairs(req);
            super::check_format(&params)?;
            let reader = access::reader(&app, req).await?;
            let result = async {
                let rows = search_rows(visible(&app, &reader).await?, &params, super::strict(req))?;
                let total = rows.len() as u64;
                Ok(bundle::searchset(
                    &fhir_base(&app),
                    "Subscription",
                    &params,
                    Some(total),
                    rows.iter().map(resource).collect(),
                    None,
                ))
            }
            .await;
            let what = req.uri().path_and_query().map_or("", |p| p.as_str());
            access::audit_read(&app, &reader, what, &result).await?;
            Ok(fhir_json(StatusCode::OK, &result?))
        }
        .await,
    )
}

#[handler]
pub async fn read_handler(app: Data<&Arc<App>>, req: &Request, Path(id): Path<String>) -> Response {
    super::respond(
        async {
            super::check_format(&super::query_pairs(req))?;
            let reader = access::reader(&app, req).await?;
            let result = async {
                let missing = || Outcome::not_found(format!("Subscription/{id}"));
                let uuid: Uuid = id.parse().map_err(|_| missing())?;
                visible(&app, &reader)
                    .await?
                    .iter()
                    .find(|r| r.id == uuid)
                    .map(resource)
                    .ok_or_else(missing)
            }
            .await;
            access::audit_read(&app, &reader, req.uri().path(), &result).await?;
            Ok(fhir_json(StatusCode::OK, &result?))
        }
        .await,
    )
}

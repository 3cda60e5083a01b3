//! FHIR R4 REST under /fhir/r4 (docs/fhir.md): routing, the request rules every interaction
//! shares (`_format`, `Prefer: handling=strict`, OperationOutcome errors), and SMART Backend
//! Services. Another way in beside `api/` and `web/`: it reads through the same store queries,
//! the same resource builders as the exports and the same permission gate, never a second path.

pub(crate) mod access;
mod bundle;
mod capability;
mod observations;
pub(crate) mod outcome;
mod resources;
pub mod search;
pub mod smart;
pub mod subscriptions;

use std::sync::Arc;

use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler,
    http::StatusCode,
    post,
    web::{Data, Path},
};

use crate::app::App;
use access::Kind;
use outcome::{Outcome, fhir_json};

/// The routes, to nest at /fhir/r4.
pub fn routes() -> impl Endpoint {
    Route::new()
        .at("/metadata", get(metadata))
        .at("/.well-known/smart-configuration", get(smart_configuration))
        .at("/auth/token", post(token))
        .at("/Subscription", get(subscriptions::search_handler))
        .at("/Subscription/:id", get(subscriptions::read_handler))
        .at("/:kind", get(search_type))
        .at("/:kind/:id", get(read_instance))
        .around(|ep, req| async move {
            // Unknown paths and methods answer as FHIR does, with an OperationOutcome.
            Ok(match ep.call(req).await {
                Ok(r) => r.into_response(),
                Err(e) if e.status() == StatusCode::METHOD_NOT_ALLOWED => Outcome::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "not-supported",
                    "this interaction is not supported; GET /fhir/r4/metadata lists what is",
                )
                .into_response(),
                Err(e) if e.status() == StatusCode::NOT_FOUND => {
                    Outcome::not_found("this FHIR path").into_response()
                }
                Err(e) => Outcome::new(e.status(), "exception", e.to_string()).into_response(),
            })
        })
}

/// The query string as (name, value) pairs, decoded.
pub(crate) fn query_pairs(req: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `_format`: JSON is served; anything else is 406 (FHIR R4 §3.1.0.1.8).
fn check_format(params: &[(String, String)]) -> Result<(), Outcome> {
    for (k, v) in params {
        if k == "_format"
            && !matches!(
                v.as_str(),
                "json" | "application/json" | "application/fhir+json"
            )
        {
            return Err(Outcome::new(
                StatusCode::NOT_ACCEPTABLE,
                "not-supported",
                format!("_format {v:?} is not served; this server speaks application/fhir+json"),
            ));
        }
    }
    Ok(())
}

/// `Prefer: handling=strict`: unknown search parameters are refused instead of ignored.
fn strict(req: &Request) -> bool {
    req.headers().get_all("prefer").iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split([',', ';'])
                .any(|p| p.trim().eq_ignore_ascii_case("handling=strict"))
        })
    })
}

fn respond(r: Result<Response, Outcome>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

#[handler]
async fn metadata(app: Data<&Arc<App>>, req: &Request) -> Response {
    respond(
        check_format(&query_pairs(req))
            .map(|()| fhir_json(StatusCode::OK, &capability::statement(&app))),
    )
}

#[handler]
async fn smart_configuration(app: Data<&Arc<App>>) -> Response {
    smart::oauth_json(StatusCode::OK, &smart::configuration(&app))
}

#[handler]
async fn token(app: Data<&Arc<App>>, body: poem::Body) -> Response {
    let bytes = body.into_vec().await.unwrap_or_default();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    match smart::token(&app, &form).await {
        Ok(body) => smart::oauth_json(StatusCode::OK, &body),
        Err(e) => e.into_response(),
    }
}

fn kind_of(name: &str) -> Result<Kind, Outcome> {
    Kind::parse(name).ok_or_else(|| {
        Outcome::new(
            StatusCode::NOT_FOUND,
            "not-supported",
            format!(
                "resource type {name:?} is not served; GET /fhir/r4/metadata lists those that are"
            ),
        )
    })
}

#[handler]
async fn search_type(app: Data<&Arc<App>>, req: &Request, Path(kind): Path<String>) -> Response {
    respond(
        async {
            let params = query_pairs(req);
            check_format(&params)?;
            let kind = kind_of(&kind)?;
            let reader = access::reader(&app, req).await?;
            let result = match reader.may_read(kind) {
                Ok(()) => resources::search(&app, &reader, kind, &params, strict(req)).await,
                Err(e) => Err(e),
            };
            let what = req.uri().path_and_query().map_or("", |p| p.as_str());
            access::audit_read(&app, &reader, what, &result).await?;
            Ok(fhir_json(StatusCode::OK, &result?))
        }
        .await,
    )
}

#[handler]
async fn read_instance(
    app: Data<&Arc<App>>,
    req: &Request,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    respond(
        async {
            check_format(&query_pairs(req))?;
            let kind = kind_of(&kind)?;
            let reader = access::reader(&app, req).await?;
            let result = match reader.may_read(kind) {
                Ok(()) => resources::read(&app, &reader, kind, &id).await,
                Err(e) => Err(e),
            };
            access::audit_read(&app, &reader, req.uri().path(), &result).await?;
            Ok(fhir_json(StatusCode::OK, &result?))
        }
        .await,
    )
}

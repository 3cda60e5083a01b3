//! Build the application: connect and migrate, load and register the study, create the first
//! admin, assemble routes and middleware, bind the listener; then serve until a shutdown signal.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use poem::{
    Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server as HttpServer,
    http::{HeaderValue, StatusCode, header},
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    middleware::{CatchPanic, RequestId},
};

use crate::{
    admin::users::{self, BootstrapAdmin},
    api::{self, error::json_errors},
    app::App,
    clock::Clock,
    config::Settings,
    error::Error,
    keys::Keys,
    participants, questionnaires, store, study,
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error(transparent)]
    Database(#[from] store::ConnectError),
    #[error("{0}")]
    Service(#[from] Error),
    /// A text file (built in or under EPRO_TEXTS_DIR) that does not load.
    #[error("texts: {0}")]
    Texts(#[from] crate::texts::LoadError),
    #[error(transparent)]
    Mail(#[from] crate::notify::mail::MailError),
    /// The pages' words or templates do not build (a broken release, not a request error).
    #[error("pages: {0}")]
    Pages(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Everything that must hold before the server takes requests (used by `serve` and the CLI).
pub async fn prepare(settings: Settings, clock: Arc<dyn Clock>) -> Result<Arc<App>, StartupError> {
    settings.validate()?;
    let keys = Keys::resolve(&settings)?;
    let study = study::load(&settings.study_file)?;
    let library = questionnaires::load_checked(
        &settings.questionnaires_dir,
        settings.licensed_text_dir.as_deref(),
        settings
            .require_licensed_text
            .then_some(study.languages.as_slice()),
    )?;
    let texts = Arc::new(crate::texts::Texts::load(settings.texts_dir.as_deref())?);
    study::check_languages(&study, &settings.study_file, &texts)?;
    study::check_questionnaires(&study, &settings.study_file, &library)?;
    let db = store::connect(&settings.database_url).await?;
    store::migrate(&db, &settings.database_url).await?;
    let registration = study::register(
        &db,
        &keys,
        clock.as_ref(),
        &study,
        settings.confirm_amendment.as_deref(),
    )
    .await?;
    questionnaires::register(&db, &keys, clock.now(), &library).await?;
    let trusted_proxies = settings.trusted_proxy_nets()?;
    let hasher = crate::auth::hashing::Hasher::new(
        settings.hash_workers,
        Duration::from_secs(settings.hash_wait_seconds),
    );
    let sms = crate::notify::sms::Kannel::from_settings(&settings, &study.name)
        .map_err(|e| Error::Internal(e.to_string()))?
        .map(|k| Arc::new(k) as Arc<dyn crate::notify::sms::SmsTransport>);
    let app = Arc::new(App {
        sms,
        db,
        clock,
        keys,
        study,
        library,
        settings,
        trusted_proxies,
        hasher,
        kept: Default::default(),
        texts,
    });
    if matches!(registration, study::Registration::Amended { .. }) {
        let moved = participants::apply_amendment(&app).await?;
        tracing::info!(
            visits = moved,
            "protocol amendment applied to visits not yet open"
        );
        // The reminder rules may have changed: the next planning pass looks at everyone.
        store::bulk::clear_plan_marks(&app.db)
            .await
            .map_err(Error::from)?;
    }
    Ok(app)
}

/// The server: the application, its listener and its periodic jobs.
pub struct Server {
    app: Arc<App>,
    /// The jobs' mailer, when this process runs periodic jobs (EPRO_JOBS_INTERVAL_SECONDS > 0).
    mail: Option<crate::notify::mail::Mail>,
    acceptor: crate::listener::HeaderDeadline<TcpAcceptor>,
    addr: SocketAddr,
    bootstrap: Option<BootstrapAdmin>,
    endpoint: poem::endpoint::BoxEndpoint<'static>,
    /// The Prometheus scrape listener, when EPRO_METRICS_LISTEN is set.
    metrics: Option<crate::telemetry::metrics::MetricsListener>,
}

impl Server {
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> Result<Self, StartupError> {
        let listen = settings.listen;
        let app = prepare(settings, clock).await?;
        let bootstrap = users::bootstrap_admin(&app).await?;
        let endpoint = routes(app.clone())?.map_to_response().boxed();
        let mail = (app.settings.jobs_interval_seconds > 0)
            .then(|| crate::notify::mail::Mail::from_settings(&app.settings))
            .transpose()?;
        let acceptor = TcpListener::bind(listen)
            .into_acceptor()
            .await
            .map_err(|source| StartupError::Listen {
                addr: listen,
                source,
            })?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .unwrap_or(listen);
        let acceptor = crate::listener::HeaderDeadline::new(
            acceptor,
            Duration::from_secs(app.settings.header_read_timeout_seconds),
        );
        let metrics = match app.settings.metrics_listen {
            Some(at) => Some(
                crate::telemetry::metrics::bind(at)
                    .await
                    .map_err(|source| StartupError::Listen { addr: at, source })?,
            ),
            None => None,
        };
        Ok(Self {
            app,
            mail,
            acceptor,
            addr,
            bootstrap,
            endpoint,
            metrics,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` is served, when it is.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|m| m.address())
    }

    pub fn app(&self) -> Arc<App> {
        self.app.clone()
    }

    /// The first admin, when this start created one.
    pub fn bootstrap_admin(&self) -> Option<&BootstrapAdmin> {
        self.bootstrap.as_ref()
    }

    /// Serve until `shutdown` completes, then let in-flight requests finish (bounded).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = Duration::from_secs(self.app.settings.shutdown_grace_seconds);
        let endpoint = self.endpoint;
        let worker = self
            .mail
            .map(|mail| tokio::spawn(crate::jobs::run(self.app.clone(), mail)));
        let metrics = self
            .metrics
            .map(|m| tokio::spawn(m.serve(self.app.clone())));
        let sequencer = crate::jobs::sequencer::runs(&self.app)
            .then(|| tokio::spawn(crate::jobs::sequencer::run(self.app.clone())));
        let fresh = tokio::spawn(crate::answering::derived::keep_fresh(self.app.clone()));
        let result = HttpServer::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(endpoint, shutdown, Some(grace))
            .await;
        if let Some(w) = worker {
            w.abort();
        }
        if let Some(m) = metrics {
            m.abort();
        }
        if let Some(s) = sequencer {
            s.abort();
        }
        fresh.abort();
        result
    }
}

/// All routes and middleware.
pub fn routes(app: Arc<App>) -> Result<impl Endpoint, StartupError> {
    let service = api::service(app.clone());
    let spec = service.spec_endpoint();
    let allow = Arc::new(api::error::AllowTable::from_spec(&service.spec(), "/api"));
    let docs_html = service.swagger_ui_html();
    let limit = app.settings.body_limit_bytes;
    let timeout = Duration::from_secs(app.settings.request_timeout_seconds);
    let guard = app.clone();
    let fresh = app.clone();
    let mut route = Route::new()
        .at("/healthz", api::health::healthz)
        .at("/readyz", api::health::readyz)
        .at("/api/openapi.json", spec.around(api_headers));
    if app.settings.api_docs_enabled() {
        route = route
            .at("/api/docs", docs_page(docs_html.clone()))
            .at("/api/docs/", docs_page(docs_html));
    }
    let route = route
        .nest("/api", service.around(api_headers))
        .nest("/fhir/r4", crate::fhir::routes());
    // Pages need the study's UI words; a broken build of them is a startup bug, not a 500.
    let route = crate::web::mount(route, &app).map_err(|e| StartupError::Pages(e.to_string()))?;
    Ok(route
        .data(app)
        .around(move |ep, req| body_limit(ep, req, limit, timeout))
        .around(move |ep, req| study_guard(ep, req, guard.clone()))
        .around(move |ep, req| derive_after_writes(ep, req, fresh.clone()))
        .around(move |ep, req| allow_methods(ep, req, allow.clone()))
        .catch_all_error(json_errors)
        .around(log_request)
        .around(crate::telemetry::metrics::http)
        .with(CatchPanic::new())
        .with(RequestId::default()))
}

/// Refuse bodies over the limit, whether announced by Content-Length or streamed.
/// Bodies larger than the limit are refused before they are read; reading one takes at most
/// `timeout` (408 for a client that trickles), and so does producing the response (503; the
/// request's transaction is dropped, so it rolls back).
async fn body_limit<E: Endpoint>(
    ep: Arc<E>,
    mut req: Request,
    limit: usize,
    timeout: Duration,
) -> poem::Result<Response> {
    let too_large = || poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE);
    let declared = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let body = req.take_body();
    let bytes = tokio::time::timeout(timeout, body.into_bytes_limit(limit))
        .await
        .map_err(|_| poem::Error::from_status(StatusCode::REQUEST_TIMEOUT))?
        .map_err(|_| too_large())?;
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or("", |p| p.as_str())
        .to_string();
    let content_type = req.content_type().unwrap_or_default().to_string();
    let problem = nul_location(&path_and_query, &content_type, &bytes)
        .map(|place| format!("{place}: text must not contain a NUL character (\\u0000)"))
        .or_else(|| too_long_text(&content_type, &bytes));
    if let Some(problem) = problem {
        let mut resp = crate::api::error::ErrorBody::new("invalid_input", problem).into_response();
        resp.set_status(StatusCode::UNPROCESSABLE_ENTITY);
        return Ok(resp);
    }
    req.set_body(Body::from_bytes(bytes));
    match tokio::time::timeout(timeout, ep.call(req)).await {
        Ok(r) => Ok(r?.into_response()),
        Err(_) => {
            tracing::warn!(seconds = timeout.as_secs(), "request timed out");
            Err(poem::Error::from_status(StatusCode::SERVICE_UNAVAILABLE))
        }
    }
}

/// Requests that may write (any method but GET, HEAD, OPTIONS) are served only while the
/// database still has this instance's study file registered (`study::still_current`): two
/// instances with different study files on one database never both write.
async fn study_guard<E: Endpoint>(
    ep: Arc<E>,
    req: Request,
    app: Arc<App>,
) -> poem::Result<Response> {
    if !req.method().is_safe()
        && let Err(e @ Error::Conflict { .. }) = study::still_current(&app.db, &app.study).await
    {
        tracing::error!(error = %e, "write refused");
        let mut resp = crate::api::error::ErrorBody::new(e.code(), e.to_string()).into_response();
        resp.set_status(e.status());
        return Ok(resp);
    }
    Ok(ep.call(req).await?.into_response())
}

/// Every API response: never cached unless the handler chose otherwise (public questionnaire
/// definitions), never sniffed as another type.
async fn api_headers<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let mut resp = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => {
            // The route template travels on the error; the JSON response keeps it (metrics).
            let pattern = e.data::<poem::PathPattern>().cloned();
            let mut resp = json_errors(e).await;
            if let Some(p) = pattern {
                resp.set_data(p);
            }
            resp
        }
    };
    let h = resp.headers_mut();
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

/// The interactive API docs (Swagger UI, embedded): its inline script is allowed by hash, not
/// by 'unsafe-inline'; no framing, no referrer, nothing from other origins.
fn docs_page(html: String) -> impl Endpoint {
    let scripts = inline_hashes(&html, "script");
    let csp = format!(
        "default-src 'none'; script-src {}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self' data:; form-action 'none'; frame-ancestors 'none'; \
         base-uri 'none'",
        scripts.join(" ")
    );
    poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type("text/html; charset=utf-8")
            .header(header::CONTENT_SECURITY_POLICY, csp.as_str())
            .header(header::X_FRAME_OPTIONS, "DENY")
            .header(header::REFERRER_POLICY, "no-referrer")
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(header::CACHE_CONTROL, "no-store")
            .body(html.clone())
    })
}

/// CSP source expressions ('sha256-…') for the contents of every inline `<tag>` element.
fn inline_hashes(html: &str, tag: &str) -> Vec<String> {
    use base64::Engine;
    use sha2::Digest;
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start..];
        let Some(gt) = after.find('>') else { break };
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        let digest = sha2::Sha256::digest(&body.as_bytes()[..end]);
        out.push(format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ));
        rest = &body[end + close.len()..];
    }
    out
}

/// Where a request carries a NUL character (PostgreSQL cannot store one in text): the JSON
/// pointer of the first string that holds one, the form field, or the URL. `None` if clean.
fn nul_location(path_and_query: &str, content_type: &str, body: &[u8]) -> Option<String> {
    if path_and_query.to_ascii_lowercase().contains("%00") {
        return Some("the URL".into());
    }
    let escaped = body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"));
    let encoded = body.windows(3).any(|w| w == b"%00");
    if !(body.contains(&0) || escaped || encoded) {
        return None;
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let field = url::form_urlencoded::parse(body)
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
            .map(|(k, _)| k.replace('\0', ""));
        return Some(field.map_or("the form".into(), |f| format!("form field {f:?}")));
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => json_nul(&v, String::new()),
        Err(_) => body.contains(&0).then(|| "the request body".into()),
    }
}

/// The first text of a JSON or form body that is longer than its field allows
/// (`domain::free_text`), said with the field and the limit. `None` if all fit.
fn too_long_text(content_type: &str, body: &[u8]) -> Option<String> {
    use crate::domain::free_text::{DEFAULT_MAX, max_chars, too_long};
    let said = |at: String, (max, got): (usize, usize)| {
        format!("{at}: at most {max} characters (this text has {got})")
    };
    // No text in a body this short can be over any limit (the shortest is 80 characters).
    if body.len() <= 80 {
        return None;
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        return url::form_urlencoded::parse(body)
            .find_map(|(k, v)| too_long(&k, &v).map(|x| said(format!("form field {k:?}"), x)));
    }
    fn walk(v: &serde_json::Value, at: &str, key: &str) -> Option<(String, (usize, usize))> {
        match v {
            serde_json::Value::String(s) => too_long(key, s).map(|x| (at.to_string(), x)),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, x)| walk(x, &format!("{at}/{i}"), key)),
            serde_json::Value::Object(map) => map.iter().find_map(|(k, x)| {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                // A named field's map (`labels: {nl: …}`) holds texts of that field.
                let named = max_chars(key) != DEFAULT_MAX;
                too_long("", k)
                    .map(|x| (here.clone(), x))
                    .or_else(|| walk(x, &here, if named { key } else { k }))
            }),
            _ => None,
        }
    }
    let v = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    walk(&v, "", "").map(|(at, x)| said(if at.is_empty() { "/".into() } else { at }, x))
}

fn json_nul(v: &serde_json::Value, at: String) -> Option<String> {
    match v {
        serde_json::Value::String(s) if s.contains('\0') => {
            Some(if at.is_empty() { "/".into() } else { at })
        }
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| json_nul(x, format!("{at}/{i}"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, x)| {
            let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            if k.contains('\0') {
                Some(here)
            } else {
                json_nul(x, here)
            }
        }),
        _ => None,
    }
}

/// A 405 says which methods the path allows.
async fn allow_methods<E: Endpoint>(
    ep: Arc<E>,
    req: Request,
    table: Arc<api::error::AllowTable>,
) -> poem::Result<Response> {
    let path = req.uri().path().to_string();
    // The API's own wrapper already turns errors into JSON responses, so a 405 arrives either
    // way: as an error (pages, unknown methods on routes) or as a response.
    let mut resp = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) if e.status() == StatusCode::METHOD_NOT_ALLOWED => api::error::json_errors(e).await,
        Err(e) => return Err(e),
    };
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && !resp.headers().contains_key(poem::http::header::ALLOW)
        && let Some(methods) = table.allow(&path)
        && let Ok(v) = poem::http::HeaderValue::from_str(methods)
    {
        resp.headers_mut().insert(poem::http::header::ALLOW, v);
    }
    Ok(resp)
}

/// After a request that may have changed data, the completion states it changed are derived
/// ahead of the next dashboard read (`answering::derived`, #29.8).
async fn derive_after_writes<E: Endpoint>(
    ep: Arc<E>,
    req: Request,
    app: Arc<App>,
) -> poem::Result<Response> {
    let writes = !req.method().is_safe();
    let resp = ep.call(req).await?.into_response();
    if writes {
        crate::answering::derived::changed(&app);
    }
    Ok(resp)
}

async fn log_request<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let request_id = req
        .data::<poem::middleware::ReqId>()
        .map(ToString::to_string)
        .unwrap_or_default();
    let started = std::time::Instant::now();
    let resp = ep.call(req).await?.into_response();
    let status = resp.status().as_u16();
    let ms = started.elapsed().as_millis();
    // The route template, as in the metrics (never a token or a study id).
    let route = resp
        .data::<poem::PathPattern>()
        .map_or_else(|| "unmatched".to_string(), |p| p.0.to_string());
    if status >= 500 {
        tracing::error!(%method, %route, %path, status, ms, %request_id, "request");
    } else {
        tracing::info!(%method, %route, %path, status, ms, %request_id, "request");
    }
    Ok(resp)
}

/// The path as logged. A participant's link token is a credential, so it never reaches the
/// log, whatever the spelling: the rule goes by the path's *shape*, not by what a token looks
/// like. Under the participant pages (`/p/`, however written: `/P/`, `//p/`, `/%70/`), the
/// segment after `p` is a token unless it is one of the pages' own names — whatever characters
/// it holds or ends in (`<t>~`, `<t>;x`, `<t>(`…). Elsewhere (the API's `/links/<t>/session`), any
/// segment of 32 characters or more that is not a UUID is replaced.
fn loggable_path(path: &str) -> String {
    /// The first segments under /p/ that are page names, not tokens (`web::participant::routes`).
    const PAGES: &[&str] = &["tasks", "logout", "resume", "language", "q", "done"];
    let is_p = |seg: &str| matches!(seg.to_ascii_lowercase().as_str(), "p" | "%70" | "%50");
    let mut first_seen = false;
    let mut token_slot = false;
    path.split('/')
        .map(|seg| {
            if seg.is_empty() {
                return seg;
            }
            let redact = if token_slot {
                token_slot = false;
                !PAGES.contains(&seg)
            } else {
                seg.len() >= 32 && uuid::Uuid::parse_str(seg).is_err()
            };
            if !first_seen {
                // The first non-empty segment decides whether these are participant pages.
                first_seen = true;
                token_slot = is_p(seg);
            }
            if redact { "<token>" } else { seg }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_never_reach_the_log_in_any_spelling() {
        let t = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWpr";
        for path in [
            format!("/p/{t}"),
            format!("/p/{t}/"),
            format!("/P/{t}"),
            format!("//p/{t}"),
            format!("/p/{t}/pin"),
            format!("/p//{t}"),
            format!("/%70/{t}"),
            format!("/api/v1/participant/links/{t}/session"),
            format!("/api/v1/participant/links/{t}~/session"),
        ]
        .into_iter()
        // The endings the red team used (#33.5), and a short token-like segment.
        .chain(
            [
                "~", ";", "!", ",", ":", "@", "+", "'", "*", "$", "(", ")", "%7E", "~x",
            ]
            .iter()
            .flat_map(|end| [format!("/p/{t}{end}"), format!("/p/{t}{end}/pin")]),
        )
        .chain([format!("/p/{}", &t[..10])])
        {
            let logged = loggable_path(&path);
            assert!(!logged.contains(&t[..10]), "{path} logged as {logged}");
            assert!(logged.contains("<token>"), "{logged}");
        }
        let id = "0b9d6f64-3c1e-4a8e-9a59-5d2b9e6f1c11";
        assert_eq!(
            loggable_path(&format!("/api/v1/responses/{id}")),
            format!("/api/v1/responses/{id}"),
            "ids are kept"
        );
        for page in [
            "/p/tasks",
            "/p/q/BL/eortc-qlq-c30/review",
            "/p/done/M1",
            "/staff/",
        ] {
            assert_eq!(loggable_path(page), page, "page names are kept");
        }
    }

    #[test]
    fn nul_characters_are_found_and_located() {
        let json = "application/json";
        let cases: Vec<(&str, &str, &[u8], Option<&str>)> = vec![
            (
                "/api/v1/auth/login",
                json,
                br#"{"email":"a\u0000@x.be"}"#,
                Some("/email"),
            ),
            (
                "/api/v1/x",
                json,
                br#"{"answers":[{"v":"ok"},{"v":"\u0000"}]}"#,
                Some("/answers/1/v"),
            ),
            ("/api/v1/x", json, br#"{"a":"fine \\u0000 text"}"#, None),
            ("/api/v1/x", json, br#"{"a":"ok"}"#, None),
            ("/api/v1/x?site=%00", json, b"", Some("the URL")),
            (
                "/staff/login",
                "application/x-www-form-urlencoded",
                b"email=a%00b&password=x",
                Some("form field \"email\""),
            ),
            (
                "/api/v1/x",
                "application/octet-stream",
                b"a\0b",
                Some("the request body"),
            ),
        ];
        for (path, ct, body, expected) in cases {
            assert_eq!(
                nul_location(path, ct, body).as_deref(),
                expected,
                "{path} {body:?}"
            );
        }
    }

    #[test]
    fn over_long_texts_are_found_and_named() {
        let json = "application/json";
        let form = "application/x-www-form-urlencoded";
        let long = |n: usize| "x".repeat(n);
        let cases: Vec<(&str, String, Option<&str>)> = vec![
            (
                json,
                format!(r#"{{"detail":"{}"}}"#, long(501)),
                Some("/detail: at most 500"),
            ),
            (json, format!(r#"{{"detail":"{}"}}"#, long(500)), None),
            (
                json,
                format!(r#"{{"labels":{{"nl":"{}"}}}}"#, long(81)),
                Some("/labels/nl: at most 80"),
            ),
            (
                json,
                format!(r#"{{"type":"sse","reason":"{}"}}"#, long(1001)),
                Some("/reason: at most 1000"),
            ),
            (
                json,
                format!(
                    r#"{{"answers":[{{"item":"q1","value":"{}"}}]}}"#,
                    long(10_000)
                ),
                None,
            ),
            (
                json,
                format!(
                    r#"{{"answers":[{{"item":"q1","value":"{}"}}]}}"#,
                    long(10_001)
                ),
                Some("/answers/0/value: at most 10000"),
            ),
            (
                form,
                format!("csrf=x&reason={}", long(1001)),
                Some("form field \"reason\": at most 1000"),
            ),
            (
                form,
                format!("csrf=x&label_nl={}", long(81)),
                Some("form field \"label_nl\": at most 80"),
            ),
        ];
        for (ct, body, expected) in cases {
            let found = too_long_text(ct, body.as_bytes());
            match expected {
                Some(e) => assert!(
                    found.as_deref().is_some_and(|f| f.starts_with(e)),
                    "{found:?}"
                ),
                None => assert_eq!(found, None),
            }
        }
    }

    #[test]
    fn inline_scripts_are_hashed_one_by_one() {
        let hashes = inline_hashes("<script a=1>x</script><p></p><script>y</script>", "script");
        assert_eq!(hashes.len(), 2);
        assert!(hashes.iter().all(|h| h.starts_with("'sha256-")));
        assert_ne!(hashes[0], hashes[1]);
    }
}

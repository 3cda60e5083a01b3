//! Build the application: connect and migrate, load and register the study, create the first
//! admin, assemble routes and middleware, bind the listener; then serve until a shutdown signal.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use poem::{
    Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    middleware::{CatchPanic, RequestId},
};

use crate::{
    api::{self, error::json_errors},
    app::App,
    clock::Clock,
    config::Settings,
    error::Error,
    keys::Keys,
    participants, questionnaires, store, study,
    users::{self, BootstrapAdmin},
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
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
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
    study::check_questionnaires(&study, &settings.study_file, &library)?;
    let db = store::connect(&settings.database_url).await?;
    store::migrate(&db, &settings.database_url).await?;
    let registration = study::register(&db, &keys, clock.as_ref(), &study).await?;
    questionnaires::register(&db, &keys, clock.now(), &library).await?;
    let trusted_proxies = settings.trusted_proxy_nets()?;
    let app = Arc::new(App {
        db,
        clock,
        keys,
        study,
        library,
        settings,
        trusted_proxies,
    });
    if matches!(registration, study::Registration::Amended { .. }) {
        let moved = participants::apply_amendment(&app).await?;
        tracing::info!(
            visits = moved,
            "protocol amendment applied to visits not yet open"
        );
    }
    Ok(app)
}

pub struct Application {
    app: Arc<App>,
    /// The reminder worker's mailer, when the worker runs (EPRO_REMINDER_INTERVAL_SECONDS > 0).
    mail: Option<crate::mail::Mail>,
    acceptor: TcpAcceptor,
    addr: SocketAddr,
    bootstrap: Option<BootstrapAdmin>,
}

impl Application {
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> Result<Self, StartupError> {
        let listen = settings.listen;
        let app = prepare(settings, clock).await?;
        let bootstrap = users::bootstrap_admin(&app).await?;
        let mail = (app.settings.reminder_interval_seconds > 0)
            .then(|| crate::mail::Mail::from_settings(&app.settings))
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
        Ok(Self {
            app,
            mail,
            acceptor,
            addr,
            bootstrap,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.addr
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
        let endpoint = routes(self.app.clone());
        let worker = self
            .mail
            .map(|mail| tokio::spawn(crate::reminders::worker(self.app.clone(), mail)));
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(endpoint, shutdown, Some(grace))
            .await;
        if let Some(w) = worker {
            w.abort();
        }
        result
    }
}

/// All routes and middleware.
pub fn routes(app: Arc<App>) -> impl Endpoint {
    let service = api::service(app.clone());
    let spec = service.spec_endpoint();
    let allow = Arc::new(api::error::AllowTable::from_spec(&service.spec(), "/api"));
    let docs = service.swagger_ui();
    let limit = app.settings.body_limit_bytes;
    let timeout = Duration::from_secs(app.settings.request_timeout_seconds);
    let route = Route::new()
        .at("/healthz", api::health::healthz)
        .at("/readyz", api::health::readyz)
        .at("/api/openapi.json", spec)
        .nest("/api/docs", docs)
        .nest("/api", service);
    // Pages need the study's UI words; a broken build of them is a startup bug, not a 500.
    let route = match crate::web::mount(route, &app) {
        Ok(r) => r,
        Err(e) => panic!("pages: {e}"),
    };
    route
        .data(app)
        .around(move |ep, req| body_limit(ep, req, limit, timeout))
        .around(move |ep, req| allow_methods(ep, req, allow.clone()))
        .catch_all_error(json_errors)
        .around(log_request)
        .with(CatchPanic::new())
        .with(RequestId::default())
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
    req.set_body(Body::from_bytes(bytes));
    match tokio::time::timeout(timeout, ep.call(req)).await {
        Ok(r) => Ok(r?.into_response()),
        Err(_) => {
            tracing::warn!(seconds = timeout.as_secs(), "request timed out");
            Err(poem::Error::from_status(StatusCode::SERVICE_UNAVAILABLE))
        }
    }
}

/// A 405 says which methods the path allows.
async fn allow_methods<E: Endpoint>(
    ep: Arc<E>,
    req: Request,
    table: Arc<api::error::AllowTable>,
) -> poem::Result<Response> {
    let path = req.uri().path().to_string();
    match ep.call(req).await {
        Ok(r) => Ok(r.into_response()),
        Err(e) if e.status() == StatusCode::METHOD_NOT_ALLOWED => {
            let mut resp = api::error::json_errors(e).await;
            if let Some(methods) = table.allow(&path)
                && let Ok(v) = poem::http::HeaderValue::from_str(methods)
            {
                resp.headers_mut().insert(poem::http::header::ALLOW, v);
            }
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}

async fn log_request<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let started = std::time::Instant::now();
    let resp = ep.call(req).await?.into_response();
    let status = resp.status().as_u16();
    let ms = started.elapsed().as_millis();
    if status >= 500 {
        tracing::error!(%method, %path, status, ms, "request");
    } else {
        tracing::info!(%method, %path, status, ms, "request");
    }
    Ok(resp)
}

/// Completes on SIGINT or SIGTERM.
/// The path as logged: a participant's link token is a credential, so it never reaches the log.
fn loggable_path(path: &str) -> String {
    match path.strip_prefix("/p/") {
        Some(rest) if !rest.contains('/') && !matches!(rest, "tasks" | "logout") => {
            "/p/<link>".to_string()
        }
        _ => path.to_string(),
    }
}

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

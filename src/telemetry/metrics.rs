//! Prometheus metrics: every name and label epro exposes is declared here, once
//! (docs/operations.md "Metrics" lists them; docs/grafana-dashboard.json is built on them).
//! Labels are route templates, methods, status codes and code-list values, never a study id,
//! email, token or address. Figures that live in the database are read at scrape time.

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Instant,
};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::{
    Endpoint, IntoResponse, Request, Response, Route, Server,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};

use crate::app::App;

pub const HTTP_REQUESTS: &str = "epro_http_requests_total";
pub const HTTP_DURATION: &str = "epro_http_request_duration_seconds";
pub const DB_CONNECTIONS: &str = "epro_db_connections";
pub const DB_CONNECTIONS_MAX: &str = "epro_db_connections_max";
pub const SUBMISSIONS: &str = "epro_submissions_total";
pub const REMINDERS: &str = "epro_reminders";
pub const SMS: &str = "epro_sms_messages";
pub const OUTBOX_OLDEST_DUE: &str = "epro_outbox_oldest_due_seconds";
pub const AUDIT_UNSEQUENCED_OLDEST: &str = "epro_audit_unsequenced_oldest_seconds";
pub const AUDIT_UNSEQUENCED: &str = "epro_audit_unsequenced_events";
pub const JOB_DURATION: &str = "epro_job_duration_seconds";
pub const JOB_FAILURES: &str = "epro_job_failures_total";
pub const THROTTLED: &str = "epro_throttled_total";
pub const RSS: &str = "epro_process_resident_memory_bytes";
pub const BUILD_INFO: &str = "epro_build_info";

/// Latency buckets in seconds: 1 ms (a cached dashboard) to 10 s (the request bound's region).
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's one recorder, installed on first use. Metrics recorded before (or without) it
/// go nowhere, at no cost. `None` when another recorder was installed first.
fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

/// Whether a metrics listener installed the recorder (request figures cost nothing otherwise).
fn installed() -> bool {
    HANDLE.get().is_some_and(Option::is_some)
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by route template, method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency by route template and method"
    );
    describe_gauge!(
        DB_CONNECTIONS,
        "Database pool connections by state (in_use, idle)"
    );
    describe_gauge!(DB_CONNECTIONS_MAX, "Database pool size limit");
    describe_counter!(
        SUBMISSIONS,
        "Questionnaire responses submitted, by entry mode"
    );
    describe_gauge!(REMINDERS, "Reminders in the outbox, by status");
    describe_gauge!(
        SMS,
        "SMS reminders sent, by the gateway's last delivery report"
    );
    describe_gauge!(
        OUTBOX_OLDEST_DUE,
        Unit::Seconds,
        "Age of the oldest reminder that is due and not yet sent (0: none)"
    );
    describe_gauge!(
        AUDIT_UNSEQUENCED_OLDEST,
        Unit::Seconds,
        "How long the oldest audit event has waited for its sequence number (0: none waits)"
    );
    describe_gauge!(
        AUDIT_UNSEQUENCED,
        "Audit events committed and not sequenced yet"
    );
    describe_histogram!(JOB_DURATION, Unit::Seconds, "Run time of each periodic job");
    describe_counter!(JOB_FAILURES, "Periodic job runs that failed, by job");
    describe_counter!(
        THROTTLED,
        "Sign-in and PIN attempts refused by a throttle, by scope"
    );
    describe_gauge!(RSS, Unit::Bytes, "Resident set size of the epro process");
    describe_gauge!(BUILD_INFO, "1, labelled with the running version");
}

/// Middleware: count and time every request by its route template (never its path, which can
/// carry a participant's link token or an id).
pub async fn http<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let method = method_label(req.method());
    let started = Instant::now();
    let resp = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    if installed() {
        let route = resp
            .data::<poem::PathPattern>()
            .map_or_else(|| "unmatched".to_string(), |p| p.0.to_string());
        let status = resp.status().as_u16().to_string();
        metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status)
            .increment(1);
        metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method)
            .record(started.elapsed().as_secs_f64());
    }
    Ok(resp)
}

fn method_label(m: &poem::http::Method) -> &'static str {
    use poem::http::Method as M;
    match *m {
        M::GET => "GET",
        M::HEAD => "HEAD",
        M::POST => "POST",
        M::PUT => "PUT",
        M::PATCH => "PATCH",
        M::DELETE => "DELETE",
        M::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// A submission was committed.
pub fn submitted(mode: &'static str) {
    metrics::counter!(SUBMISSIONS, "mode" => mode).increment(1);
}

/// An attempt was refused by the throttle of `scope` (e.g. `login_account`).
pub fn throttled(scope: &'static str) {
    metrics::counter!(THROTTLED, "scope" => scope).increment(1);
}

/// One run of a periodic job took `seconds`; `ok` says whether it succeeded.
pub fn job_ran(job: &'static str, seconds: f64, ok: bool) {
    metrics::histogram!(JOB_DURATION, "job" => job).record(seconds);
    if !ok {
        metrics::counter!(JOB_FAILURES, "job" => job).increment(1);
    }
}

/// The metrics listener: bound at start (so a wrong address fails the start, not the scrape).
pub struct MetricsListener {
    acceptor: TcpAcceptor,
    addr: SocketAddr,
}

/// Bind `addr` for `/metrics`, and install the recorder.
pub async fn bind(addr: SocketAddr) -> std::io::Result<MetricsListener> {
    handle();
    let acceptor = TcpListener::bind(addr).into_acceptor().await?;
    let bound = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .unwrap_or(addr);
    Ok(MetricsListener {
        acceptor,
        addr: bound,
    })
}

impl MetricsListener {
    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// Serve `GET /metrics` until the task is dropped.
    pub async fn serve(self, app: Arc<App>) -> std::io::Result<()> {
        let route = Route::new().at(
            "/metrics",
            poem::get(poem::endpoint::make(move |_| {
                let app = app.clone();
                async move { scrape(&app).await }
            })),
        );
        Server::new_with_acceptor(self.acceptor).run(route).await
    }
}

/// The figures read at scrape time, then the whole registry in the Prometheus text format.
async fn scrape(app: &App) -> Response {
    let Some(handle) = handle() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    if let Some(rss) = resident_bytes() {
        metrics::gauge!(RSS).set(rss as f64);
    }
    let pool = crate::store::pool_use(&app.db);
    metrics::gauge!(DB_CONNECTIONS, "state" => "in_use").set(pool.in_use as f64);
    metrics::gauge!(DB_CONNECTIONS, "state" => "idle").set(pool.idle as f64);
    metrics::gauge!(DB_CONNECTIONS_MAX).set(pool.max as f64);
    match crate::store::reminders::outbox_figures(&app.db, app.clock.now()).await {
        Ok(f) => {
            for (status, n) in f.by_status {
                metrics::gauge!(REMINDERS, "status" => status.as_str()).set(n as f64);
            }
            for (delivery, n) in f.sms_by_delivery {
                metrics::gauge!(SMS, "delivery" => delivery).set(n as f64);
            }
            metrics::gauge!(OUTBOX_OLDEST_DUE).set(f.oldest_due_seconds as f64);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: outbox figures not read"),
    }
    match crate::audit::unsequenced(&app.db, app.clock.now()).await {
        Ok(u) => {
            metrics::gauge!(AUDIT_UNSEQUENCED_OLDEST).set(u.oldest_seconds() as f64);
            metrics::gauge!(AUDIT_UNSEQUENCED).set(u.count as f64);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: unsequenced audit events not read"),
    }
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}

/// This process's resident set size, from /proc (Linux); `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).unwrap_or(4096)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn page_size() -> u64 {
    4096
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[&str] = &[
        HTTP_REQUESTS,
        HTTP_DURATION,
        DB_CONNECTIONS,
        DB_CONNECTIONS_MAX,
        SUBMISSIONS,
        REMINDERS,
        SMS,
        OUTBOX_OLDEST_DUE,
        AUDIT_UNSEQUENCED_OLDEST,
        AUDIT_UNSEQUENCED,
        JOB_DURATION,
        JOB_FAILURES,
        THROTTLED,
        RSS,
        BUILD_INFO,
    ];

    /// Every metric the docs and the Grafana dashboard name is one epro exposes, and every one
    /// it exposes is documented.
    #[test]
    fn the_dashboard_and_the_docs_name_only_metrics_that_exist() {
        let dashboard = include_str!("../../docs/grafana-dashboard.json");
        let docs = include_str!("../../docs/operations.md");
        for text in [dashboard, docs] {
            let mut rest = text;
            while let Some(at) = rest.find("epro_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                let base = ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|b| ALL.contains(b)))
                    .unwrap_or(&name);
                assert!(ALL.contains(&base), "{name} is not an epro metric");
            }
        }
        for name in ALL {
            assert!(docs.contains(name), "{name} is not in docs/operations.md");
        }
    }
}

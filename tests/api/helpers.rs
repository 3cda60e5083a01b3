//! `spawn_app`: the real server on port 0 with a fresh database per test — a SQLite temp file,
//! or a new PostgreSQL database when EPRO_TEST_DATABASE_URL is set — and a manual clock.

use std::{path::PathBuf, process::Output, sync::Arc};

use chrono::{TimeZone, Utc};
use epro::{
    app::App,
    clock::ManualClock,
    config::{Secret, Settings},
    keys::Key,
    startup::Server,
};
use reqwest::{Client, Method, Response};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Value, json};
use tempfile::TempDir;

pub const ADMIN_EMAIL: &str = "admin@hermes.test";
pub const ADMIN_PASSWORD: &str = "operator-chosen-password";

pub fn study_file() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/studies/hermes.toml"))
}

/// A copy of the study file in `dir` whose reminders may go out at any hour (and whose digest
/// waits until 23:59), for tests that run the real binary on the real clock.
pub fn study_sending_all_day(dir: &TempDir) -> PathBuf {
    let study = dir.path().join("hermes.toml");
    let text = std::fs::read_to_string(study_file()).expect("study");
    std::fs::write(
        &study,
        text.replace("send_from = \"09:00\"", "send_from = \"00:00\"")
            .replace("send_until = \"19:00\"", "send_until = \"23:59\"")
            .replace("digest_at = \"08:00\"", "digest_at = \"23:59\""),
    )
    .expect("write");
    study
}

pub fn questionnaires_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/questionnaires"))
}

pub fn licensed_fixture_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/licensed"
    ))
}

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub clock: ManualClock,
    pub app: Arc<App>,
    pub settings: Settings,
    /// Printed one-time password, when the test asked for a generated one.
    pub bootstrap_password: Option<String>,
    /// `http://host:port` of the metrics listener, when the settings ask for one.
    pub metrics_address: Option<String>,
    pub dir: TempDir,
    /// Dropped with the test's app: its server then stops (and its background tasks with it),
    /// so a test that starts many apps does not keep every one's database connections open.
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A fresh, empty database URL for one test.
pub async fn fresh_database(dir: &TempDir) -> String {
    match std::env::var("EPRO_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("epro_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&admin_url)
                .await
                .expect("connect to EPRO_TEST_DATABASE_URL");
            admin
                .execute_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!("CREATE DATABASE \"{name}\""),
                ))
                .await
                .expect("create test database");
            let _ = admin.close().await;
            let mut url = url::Url::parse(&admin_url).expect("EPRO_TEST_DATABASE_URL is a URL");
            url.set_path(&name);
            url.to_string()
        }
        _ => format!("sqlite://{}/epro.db?mode=rwc", dir.path().display()),
    }
}

pub fn test_settings(dir: &TempDir, database_url: String) -> Settings {
    Settings {
        database_url,
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.path().join("data"),
        study_file: study_file(),
        questionnaires_dir: questionnaires_dir(),
        // Tests run reminder passes themselves, at the instants they choose.
        jobs_interval_seconds: 0,
        // Tests sequence the audit trail themselves (`TestApp::sequenced`), or read it through
        // what sequences first (exports, `epro audit verify`).
        audit_sequence_interval_ms: 0,
        audit_key: Some(Secret::new(Key::generate().to_hex())),
        data_key: Some(Secret::new(Key::generate().to_hex())),
        bootstrap_admin_email: ADMIN_EMAIL.into(),
        bootstrap_admin_password: Some(Secret::new(ADMIN_PASSWORD)),
        ..Settings::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database(&dir).await;
    let mut settings = test_settings(&dir, url);
    adjust(&mut settings);
    start(settings, dir).await
}

/// Start the server on existing settings (e.g. again on the same database).
pub async fn start(settings: Settings, dir: TempDir) -> TestApp {
    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
            .single()
            .expect("time"),
    );
    let application = Server::build(settings.clone(), Arc::new(clock.clone()))
        .await
        .expect("application starts");
    let address = format!("http://{}", application.address());
    let metrics_address = application.metrics_address().map(|a| format!("http://{a}"));
    let app = application.app();
    let bootstrap_password = application
        .bootstrap_admin()
        .and_then(|b| b.one_time_password.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: Client::new(),
        clock,
        app,
        settings,
        bootstrap_password,
        metrics_address,
        dir,
        _stop: stop,
    }
}

impl TestApp {
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    pub async fn login_token(&self, email: &str, password: &str) -> String {
        let resp = self.login(email, password).await;
        assert_eq!(resp.status(), 200, "login of a test account");
        let body: Value = resp.json().await.expect("json");
        body["token"].as_str().expect("token").to_string()
    }

    pub async fn admin_token(&self) -> String {
        self.login_token(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Create a staff account through the API, log in, change the initial password, and
    /// return a ready token.
    pub async fn staff_token(&self, role: &str, sites: &[&str]) -> String {
        self.staff_account(role, sites).await.2
    }

    /// As `staff_token`, also returning the account's email and current password.
    pub async fn staff_account(&self, role: &str, sites: &[&str]) -> (String, String, String) {
        let admin = self.admin_token().await;
        let email = format!("{role}-{}@hermes.test", uuid::Uuid::new_v4().simple());
        let resp = self
            .post(
                "/api/v1/users",
                Some(&admin),
                json!({ "email": email, "password": "initial-password-1", "role": role, "sites": sites }),
            )
            .await;
        assert_eq!(
            resp.status(),
            200,
            "create {role}: {}",
            resp.text().await.unwrap_or_default()
        );
        let token = self.login_token(&email, "initial-password-1").await;
        let resp = self
            .request(
                Method::PUT,
                "/api/v1/auth/password",
                Some(&token),
                Some(json!({ "current_password": "initial-password-1", "new_password": "my-own-password-2" })),
            )
            .await;
        assert_eq!(resp.status(), 204, "password change");
        (email, "my-own-password-2".into(), token)
    }

    /// Enrol a participant as `staff`: `study_id`, its site (the id's middle part) and language
    /// `nl`, with `extra` fields added or overriding (a randomization gets arm A unless `extra`
    /// names one). Asserts 200; returns the participant.
    pub async fn enrol(&self, staff: &str, study_id: &str, extra: Value) -> Value {
        let site = study_id.split('-').nth(1).expect("HERMES-<SITE>-<n>");
        let mut body = json!({ "study_id": study_id, "site": site, "language": "nl" });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
            // A randomization is recorded with its arm (HERMES: A or B); arm A unless given.
            if b.contains_key("randomization_date") && !b.contains_key("arm") {
                b.insert("arm".into(), json!("A"));
            }
        }
        let resp = self.post("/api/v1/participants", Some(staff), body).await;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, 200, "enrol {study_id}: {text}");
        serde_json::from_str(&text).expect("participant json")
    }

    /// POST and expect 200: the JSON body (the response text names what went wrong otherwise).
    pub async fn post_ok(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        let resp = self.post(path, token, body).await;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, 200, "POST {path}: {text}");
        serde_json::from_str(&text).unwrap_or_default()
    }

    /// Issue the participant's access link with `pin` (generated when `None`): the link token
    /// and the PIN.
    pub async fn issue_link(
        &self,
        staff: &str,
        study_id: &str,
        pin: Option<&str>,
    ) -> (String, String) {
        let body = pin.map_or_else(|| json!({}), |p| json!({ "pin": p }));
        let resp = self
            .post(
                &format!("/api/v1/participants/{study_id}/access-link"),
                Some(staff),
                body,
            )
            .await;
        assert_eq!(resp.status(), 200, "access link for {study_id}");
        let link: Value = resp.json().await.expect("link json");
        let token = link["link_token"].as_str().expect("link token").to_string();
        let pin = pin
            .map(String::from)
            .or_else(|| link["pin"].as_str().map(String::from));
        (token, pin.expect("a PIN"))
    }

    /// A participant signs in with link token and PIN (the raw response).
    pub async fn participant_login(&self, link_token: &str, pin: &str) -> Response {
        self.post(
            "/api/v1/auth/participant",
            None,
            json!({ "link_token": link_token, "pin": pin }),
        )
        .await
    }

    /// A participant signs in with link token and PIN: their bearer token.
    pub async fn session_token(&self, link_token: &str, pin: &str) -> String {
        let resp = self.participant_login(link_token, pin).await;
        assert_eq!(resp.status(), 200, "participant sign-in");
        let session: Value = resp.json().await.expect("session json");
        session["token"].as_str().expect("participant token").into()
    }

    /// Sign a participant in (a link with PIN 4826 issued by `staff`): their bearer token.
    pub async fn participant_token(&self, staff: &str, study_id: &str) -> String {
        let (link, pin) = self.issue_link(staff, study_id, Some("4826")).await;
        self.session_token(&link, &pin).await
    }

    /// Run the `epro` binary against this test's database and keys.
    pub fn cli(&self, args: &[&str]) -> Output {
        run_cli(&self.settings, self.dir.path(), args)
    }

    /// Number the audit events committed so far, as the sequencer's next pass would (on
    /// PostgreSQL; SQLite numbers them as they are written).
    pub async fn sequenced(&self) {
        epro::jobs::sequencer::pass(&self.app, true)
            .await
            .expect("audit sequencing");
    }

    /// Run a statement, on the sequenced audit trail (tests edit audit rows by `seq`).
    pub async fn sql(&self, sql: &str) {
        self.sequenced().await;
        let backend = self.app.db.get_database_backend();
        self.app
            .db
            .execute_raw(Statement::from_string(backend, sql.to_string()))
            .await
            .expect("sql");
    }

    /// The first column of the first row of a query, as a number (e.g. `SELECT COUNT(*) AS n …`).
    pub async fn sql_count(&self, sql: &str) -> i64 {
        self.sequenced().await;
        let backend = self.app.db.get_database_backend();
        let row = self
            .app
            .db
            .query_one_raw(Statement::from_string(backend, sql.to_string()))
            .await
            .expect("query")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("a number")
    }

    /// The sequenced audit trail, in order.
    pub async fn audit_rows(&self) -> Vec<Value> {
        self.sequenced().await;
        let backend = self.app.db.get_database_backend();
        let rows = self
            .app
            .db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT seq, at, actor_kind, actor_id, action, entity_type, entity_id, before, after, reason \
                 FROM audit_event WHERE seq IS NOT NULL ORDER BY seq",
            ))
            .await
            .expect("audit rows");
        rows.into_iter()
            .map(|r| {
                let s = |c: &str| r.try_get::<Option<String>>("", c).ok().flatten();
                json!({
                    "seq": r.try_get::<i64>("", "seq").ok(),
                    "at": s("at"),
                    "actor_kind": s("actor_kind"), "actor_id": s("actor_id"),
                    "action": s("action"), "entity_type": s("entity_type"), "entity_id": s("entity_id"),
                    "before": s("before"), "after": s("after"), "reason": s("reason"),
                })
            })
            .collect()
    }
}

pub fn run_cli(settings: &Settings, cwd: &std::path::Path, args: &[&str]) -> Output {
    run_cli_env(settings, cwd, args, &[])
}

/// `run_cli` with extra environment variables (e.g. a new key).
pub fn run_cli_env(
    settings: &Settings,
    cwd: &std::path::Path,
    args: &[&str],
    extra: &[(&str, &str)],
) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_epro"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("EPRO_")) {
        cmd.env_remove(k);
    }
    cmd.current_dir(cwd)
        .env("EPRO_DATABASE_URL", &settings.database_url)
        .env("EPRO_STUDY_FILE", &settings.study_file)
        .env("EPRO_QUESTIONNAIRES_DIR", &settings.questionnaires_dir)
        .env("EPRO_DATA_DIR", &settings.data_dir)
        .env("RUST_LOG", "warn");
    if let Some(k) = &settings.audit_key {
        cmd.env("EPRO_AUDIT_KEY", k.expose());
    }
    if let Some(k) = &settings.data_key {
        cmd.env("EPRO_DATA_KEY", k.expose());
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.args(args).output().expect("run epro")
}

/// `epro serve` as a child process (the real binary, the real clock) on `settings`' database and
/// keys, listening on `port`; `extra` adds or overrides environment variables. For tests that
/// kill the server.
pub fn serve_binary(
    settings: &Settings,
    cwd: &std::path::Path,
    port: u16,
    extra: &[(&str, String)],
) -> std::process::Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_epro"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("EPRO_")) {
        cmd.env_remove(k);
    }
    let key = |k: &Option<Secret>| {
        k.as_ref()
            .map(|k| k.expose().to_string())
            .unwrap_or_default()
    };
    cmd.current_dir(cwd)
        .env("EPRO_DATABASE_URL", &settings.database_url)
        .env("EPRO_STUDY_FILE", &settings.study_file)
        .env("EPRO_QUESTIONNAIRES_DIR", &settings.questionnaires_dir)
        .env("EPRO_DATA_DIR", &settings.data_dir)
        .env("EPRO_AUDIT_KEY", key(&settings.audit_key))
        .env("EPRO_DATA_KEY", key(&settings.data_key))
        .env("EPRO_LISTEN", format!("127.0.0.1:{port}"))
        .env("EPRO_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("EPRO_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("EPRO_JOBS_INTERVAL_SECONDS", "0")
        .env("RUST_LOG", "warn")
        .env("EPRO_LOG_FORMAT", "json");
    // Warnings and errors go to epro-serve.log in `cwd`, for the test's failure message.
    let log = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(cwd.join("epro-serve.log"))
            .map(std::process::Stdio::from)
            .unwrap_or_else(|_| std::process::Stdio::null())
    };
    cmd.stdout(log()).stderr(log());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.spawn().expect("epro serve")
}

/// Wait (against a deadline, on the real clock) until the child server answers /healthz.
pub async fn wait_healthy(base: &str) -> bool {
    let client = Client::new();
    for _ in 0..600 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A participant (`token`) sends every HERMES questionnaire of `visit`: QLQ-C30 and QLQ-BM22 all
/// answered 1, the per-lesion NRS with no lesion. Asserts each is accepted.
pub async fn answer_hermes_visit(app: &TestApp, token: &str, visit: &str, idem: &str) {
    for (key, answers) in [
        (
            "eortc-qlq-c30",
            (1..=30)
                .map(|n| json!({"item": format!("q{n}"), "value": 1}))
                .collect::<Vec<_>>(),
        ),
        (
            "eortc-qlq-bm22",
            (31..=52)
                .map(|n| json!({"item": format!("q{n}"), "value": 1}))
                .collect(),
        ),
        ("nrs-lesion-pain", vec![]),
    ] {
        let r = app
            .client
            .post(format!(
                "{}/api/v1/me/visits/{visit}/responses/{key}/submit",
                app.address
            ))
            .bearer_auth(token)
            .header("idempotency-key", format!("{idem}-{key}"))
            .json(&json!({"answers": answers}))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), 200, "{visit} {key}");
    }
}

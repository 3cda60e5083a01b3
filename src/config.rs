//! Typed settings from an optional `epro.toml` (or the file named by EPRO_CONFIG) overlaid by
//! `EPRO_*` environment variables. Secrets are wrapped so they never reach a log or `Debug`.
//! This module reads settings; it does not open databases or generate keys (see `keys`).

use std::{fmt, net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    #[default]
    File,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    #[default]
    Starttls,
    Tls,
}

impl Settings {
    pub fn outbox_dir(&self) -> PathBuf {
        self.mail_file_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outbox"))
    }
}

/// A secret setting: its value never appears in `Debug` output.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(#[serde(deserialize_with = "lenient_string")] String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// development (default) or production. Production refuses generated development keys.
    pub env: Environment,
    /// `sqlite://…` or `postgres://…`; the scheme picks the backend.
    #[serde(deserialize_with = "lenient_string")]
    pub database_url: String,
    pub listen: SocketAddr,
    /// Where Prometheus scrapes `/metrics` (unset: no metrics listener). A loopback or
    /// internal address: the figures carry no personal data, but they are not for the public.
    pub metrics_listen: Option<SocketAddr>,
    /// Public address of the server, used in links sent to people.
    #[serde(deserialize_with = "lenient_string")]
    pub base_url: String,
    pub log_format: LogFormat,
    /// 32-byte key (64 hex characters) for the audit-trail HMAC chain.
    pub audit_key: Option<Secret>,
    /// 32-byte key (64 hex characters) for personal data encrypted at rest.
    pub data_key: Option<Secret>,
    /// Audit keys used before EPRO_AUDIT_KEY (comma-separated hex, oldest first), for
    /// `epro audit verify` across a key rotation.
    pub audit_keys_retired: Option<Secret>,
    /// 32-byte Ed25519 seed (64 hex characters) that signs investigator archives.
    pub archive_key: Option<Secret>,
    /// 32-byte Ed25519 seed (64 hex characters) that signs the audit log's checkpoints.
    pub checkpoint_key: Option<Secret>,
    /// Comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is trusted.
    #[serde(deserialize_with = "lenient_string")]
    pub trusted_proxies: String,
    /// Folder for the SQLite file, development keys and the local mail outbox.
    pub data_dir: PathBuf,
    /// The study file: the protocol this deployment serves.
    pub study_file: PathBuf,
    /// The sha256 of a study file whose amendment touches enrolled participants (removes a
    /// site with participants, a visit they have, a language in use, or moves such a visit):
    /// the explicit confirmation that it is the approved amendment.
    pub confirm_amendment: Option<String>,
    /// Folder of questionnaire definitions (`<key>/<version>/…`) and `published.lock`.
    pub questionnaires_dir: PathBuf,
    /// Folder where this deployment installs licensed wording (same layout); optional.
    pub licensed_text_dir: Option<PathBuf>,
    /// Folder of page, email and SMS texts (`<lang>/*.ftl`, Fluent) that override or extend
    /// the built-in ones (docs/texts.md); optional.
    pub texts_dir: Option<PathBuf>,
    /// Refuse to start unless licensed wording is installed for every study language.
    pub require_licensed_text: bool,
    /// `file` (default: .eml files in `mail_file_dir`) or `smtp`.
    pub mail_transport: MailTransport,
    /// Folder for .eml files with the file transport (default: `<data_dir>/outbox`).
    pub mail_file_dir: Option<PathBuf>,
    /// Sender address of reminder emails.
    #[serde(deserialize_with = "lenient_string")]
    pub mail_from: String,
    #[serde(deserialize_with = "lenient_string")]
    pub smtp_host: String,
    pub smtp_port: u16,
    /// none, starttls or tls.
    pub smtp_tls: SmtpTls,
    pub smtp_username: Option<Secret>,
    pub smtp_password: Option<Secret>,
    /// Seconds one SMTP send may take in all (connect and conversation).
    pub smtp_timeout_seconds: u64,
    /// The SMS gateway's send address: Kannel's smsbox `http://host:13013/cgi-bin/sendsms`
    /// (unset: no SMS is sent, and no participant can be given the sms channel).
    pub sms_gateway_url: Option<String>,
    /// The gateway's send user (Kannel `sendsms-user`).
    pub sms_username: Option<Secret>,
    pub sms_password: Option<Secret>,
    /// The sender shown on the phone: up to 11 letters or digits, or a phone number (default:
    /// the study's name).
    pub sms_sender: Option<String>,
    /// The secret delivery reports are signed with (each report's address carries an HMAC of the
    /// reminder it is about); required with a gateway.
    pub sms_dlr_secret: Option<Secret>,
    /// Seconds one request to the gateway may take.
    pub sms_timeout_seconds: u64,
    /// The address the gateway reaches epro on for delivery reports (default: EPRO_BASE_URL),
    /// e.g. an internal address when the gateway sits beside epro.
    pub sms_dlr_base_url: Option<String>,
    /// How often the periodic jobs inside `epro serve` run (reminders, digests, housekeeping,
    /// each on the same tick); 0: this process runs none of them.
    pub jobs_interval_seconds: u64,
    /// Plan and send participants' reminder emails on each tick.
    pub jobs_reminders: bool,
    /// Send the sites' daily digest emails on each tick (at the study's digest time).
    pub jobs_digests: bool,
    /// Forget expired sessions and old login failures on each tick.
    pub jobs_housekeeping: bool,
    /// How often (milliseconds) `epro serve` runs the audit sequencer on PostgreSQL, numbering
    /// and chaining committed audit events (one pass at a time across instances); 0: never
    /// (docs/audit-ledger.md).
    pub audit_sequence_interval_ms: u64,
    /// An audit event unsequenced for longer than this (seconds) turns /readyz not ready and
    /// is named by `epro audit verify`.
    pub audit_unsequenced_max_seconds: u64,
    /// Sending attempts before a reminder is marked failed.
    pub reminder_max_attempts: u32,
    /// A reminder still marked `sending` after this many seconds is taken to be from a worker
    /// that died mid-send, and is sent again.
    pub reminder_stale_seconds: u64,
    /// Deliver FHIR rest-hook Subscription notifications on each tick (docs/fhir.md).
    pub jobs_webhooks: bool,
    /// FHIR Subscription retry schedule: the first delay after a failed delivery, doubling up to
    /// the maximum (docs/fhir.md "Subscriptions").
    pub fhir_webhook_backoff_base_seconds: u64,
    pub fhir_webhook_backoff_max_seconds: u64,
    /// Consecutive failed deliveries after which a subscription is set to `error`.
    pub fhir_webhook_max_failures: u32,
    /// Bound on one delivery (connect, send, answer).
    pub fhir_webhook_timeout_seconds: u64,
    /// Accept plain-http subscription endpoints on other hosts than loopback (not for production).
    pub fhir_webhook_allow_http: bool,
    /// Email of the first admin created when the database has none.
    #[serde(deserialize_with = "lenient_string")]
    pub bootstrap_admin_email: String,
    /// Password for that first admin; when unset a one-time password is generated and printed.
    pub bootstrap_admin_password: Option<Secret>,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Bound on reading a request body and on producing the response (a slow client gets 408,
    /// a request that takes longer 503; its transaction rolls back).
    pub request_timeout_seconds: u64,
    /// Bound on receiving a request's headers, from the connection's first byte (or the end of
    /// the previous response on a kept-alive connection): a client that trickles its headers,
    /// or keeps an idle connection, is disconnected after it.
    pub header_read_timeout_seconds: u64,
    /// Address throttles count IPv6 clients per network of this prefix length (default 64: one
    /// household or phone usually holds a whole /64, and picks a fresh address in it at will).
    pub throttle_ipv6_prefix: u8,
    /// Lifetime of a staff session token, in hours.
    pub session_hours: u32,
    /// Seconds that in-flight requests get to finish on SIGINT/SIGTERM.
    pub shutdown_grace_seconds: u64,
    /// Password/PIN hashes computed at once (argon2id, 19 MiB each); 0 = one per CPU core.
    pub hash_workers: usize,
    /// Seconds a login may wait for a hashing place before it is refused (503, Retry-After).
    pub hash_wait_seconds: u64,
    /// Serve the interactive API docs at /api/docs. Unset: on in development, off in
    /// production. The OpenAPI document (/api/openapi.json) is always served.
    pub api_docs: Option<bool>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            env: Environment::Development,
            database_url: "sqlite://data/epro.db?mode=rwc".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            base_url: "http://127.0.0.1:8080".into(),
            log_format: LogFormat::Human,
            audit_key: None,
            data_key: None,
            archive_key: None,
            checkpoint_key: None,
            audit_keys_retired: None,
            trusted_proxies: String::new(),
            data_dir: PathBuf::from("data"),
            study_file: PathBuf::from("studies/hermes.toml"),
            confirm_amendment: None,
            questionnaires_dir: PathBuf::from("questionnaires"),
            licensed_text_dir: None,
            texts_dir: None,
            require_licensed_text: false,
            mail_transport: MailTransport::File,
            mail_file_dir: None,
            mail_from: "noreply@example.org".into(),
            smtp_host: "localhost".into(),
            smtp_port: 25,
            smtp_tls: SmtpTls::Starttls,
            smtp_username: None,
            smtp_password: None,
            smtp_timeout_seconds: 20,
            sms_gateway_url: None,
            sms_username: None,
            sms_password: None,
            sms_sender: None,
            sms_dlr_secret: None,
            sms_timeout_seconds: 10,
            sms_dlr_base_url: None,
            jobs_interval_seconds: 60,
            jobs_reminders: true,
            jobs_digests: true,
            jobs_housekeeping: true,
            audit_sequence_interval_ms: 250,
            audit_unsequenced_max_seconds: 5,
            reminder_max_attempts: 8,
            reminder_stale_seconds: 600,
            jobs_webhooks: true,
            fhir_webhook_backoff_base_seconds: 30,
            fhir_webhook_backoff_max_seconds: 3600,
            fhir_webhook_max_failures: 10,
            fhir_webhook_timeout_seconds: 10,
            fhir_webhook_allow_http: false,
            bootstrap_admin_email: "admin@example.org".into(),
            bootstrap_admin_password: None,
            body_limit_bytes: 1024 * 1024,
            request_timeout_seconds: 30,
            header_read_timeout_seconds: 10,
            throttle_ipv6_prefix: 64,
            session_hours: 12,
            shutdown_grace_seconds: 10,
            hash_workers: 0,
            hash_wait_seconds: 5,
            api_docs: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
}

/// The settings whose values are secrets: the installation report shows them only as
/// fingerprints (the first 16 hex digits of their sha256).
pub const SECRET_SETTINGS: [&str; 11] = [
    "audit_key",
    "data_key",
    "audit_keys_retired",
    "archive_key",
    "checkpoint_key",
    "smtp_username",
    "smtp_password",
    "sms_username",
    "sms_password",
    "sms_dlr_secret",
    "bootstrap_admin_password",
];

/// A secret's fingerprint: enough to tell two values apart, nothing to recover one.
pub fn fingerprint(secret: &str) -> String {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
    format!("sha256:{}", &digest[..16])
}

impl Settings {
    /// Defaults, then the config file (EPRO_CONFIG, default `epro.toml`, optional), then EPRO_*.
    pub fn load() -> Result<Self, ConfigError> {
        let file = std::env::var("EPRO_CONFIG").unwrap_or_else(|_| "epro.toml".into());
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(&file))
            .merge(Env::prefixed("EPRO_").ignore(&["CONFIG", "TEST_DATABASE_URL", "TEST_KANNEL"]))
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        settings.validate()?;
        if std::env::var_os("EPRO_REMINDER_INTERVAL_SECONDS").is_some() {
            return Err(ConfigError::Invalid(
                "EPRO_REMINDER_INTERVAL_SECONDS was renamed: set EPRO_JOBS_INTERVAL_SECONDS (0 runs \
                 no periodic jobs in this process) and, to switch off one job, EPRO_JOBS_REMINDERS, \
                 EPRO_JOBS_DIGESTS or EPRO_JOBS_HOUSEKEEPING = false"
                    .into(),
            ));
        }
        Ok(settings)
    }

    /// Every setting whose value differs from the default, as (environment variable, value
    /// shown): secrets as fingerprints, the database URL without its password.
    pub fn non_defaults(&self) -> Vec<(String, String)> {
        let (Ok(serde_json::Value::Object(now)), Ok(serde_json::Value::Object(default))) = (
            serde_json::to_value(self),
            serde_json::to_value(Settings::default()),
        ) else {
            return Vec::new();
        };
        now.into_iter()
            .filter(|(k, v)| default.get(k) != Some(v))
            .map(|(k, v)| {
                let shown = match (&v, k.as_str()) {
                    (serde_json::Value::Null, _) => "(unset)".to_string(),
                    (serde_json::Value::String(s), name) if SECRET_SETTINGS.contains(&name) => {
                        fingerprint(s)
                    }
                    (_, "database_url") => crate::store::describe_target(&self.database_url),
                    (serde_json::Value::String(s), _) => s.clone(),
                    (other, _) => other.to_string(),
                };
                (format!("EPRO_{}", k.to_uppercase()), shown)
            })
            .collect()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.trusted_proxy_nets()?;
        let scheme = self.database_url.split(':').next().unwrap_or_default();
        if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
            return Err(ConfigError::Invalid(format!(
                "EPRO_DATABASE_URL must start with sqlite:// or postgres://, found scheme {scheme:?}"
            )));
        }
        url::Url::parse(&self.base_url)
            .map_err(|e| ConfigError::Invalid(format!("EPRO_BASE_URL is not a valid URL: {e}")))?;
        if let Some(g) = &self.sms_gateway_url {
            url::Url::parse(g).map_err(|e| {
                ConfigError::Invalid(format!("EPRO_SMS_GATEWAY_URL is not a valid URL: {e}"))
            })?;
            if let Some(d) = &self.sms_dlr_base_url {
                url::Url::parse(d).map_err(|e| {
                    ConfigError::Invalid(format!("EPRO_SMS_DLR_BASE_URL is not a valid URL: {e}"))
                })?;
            }
            if self
                .sms_dlr_secret
                .as_ref()
                .is_none_or(|s| s.expose().len() < 16)
            {
                return Err(ConfigError::Invalid(
                    "EPRO_SMS_DLR_SECRET (at least 16 characters) is required with \
                     EPRO_SMS_GATEWAY_URL: it signs the gateway's delivery reports"
                        .into(),
                ));
            }
        }
        if self.body_limit_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "EPRO_BODY_LIMIT_BYTES must be at least 1024".into(),
            ));
        }
        if self.request_timeout_seconds == 0 {
            return Err(ConfigError::Invalid(
                "EPRO_REQUEST_TIMEOUT_SECONDS must be at least 1".into(),
            ));
        }
        if self.header_read_timeout_seconds == 0 {
            return Err(ConfigError::Invalid(
                "EPRO_HEADER_READ_TIMEOUT_SECONDS must be at least 1".into(),
            ));
        }
        if !(16..=128).contains(&self.throttle_ipv6_prefix) {
            return Err(ConfigError::Invalid(format!(
                "EPRO_THROTTLE_IPV6_PREFIX must be a prefix length from 16 to 128, found {}",
                self.throttle_ipv6_prefix
            )));
        }
        if self.hash_wait_seconds == 0 {
            return Err(ConfigError::Invalid(
                "EPRO_HASH_WAIT_SECONDS must be at least 1".into(),
            ));
        }
        if self.session_hours == 0 {
            return Err(ConfigError::Invalid(
                "EPRO_SESSION_HOURS must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// Whether /api/docs is served (EPRO_API_DOCS, default: only in development).
    pub fn api_docs_enabled(&self) -> bool {
        self.api_docs
            .unwrap_or(self.env == Environment::Development)
    }

    /// The parsed EPRO_TRUSTED_PROXIES. A bare address counts as a /32 (or /128) range.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<IpNet>, ConfigError> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        ConfigError::Invalid(format!(
                            "EPRO_TRUSTED_PROXIES: {s:?} is not an IP address or CIDR range"
                        ))
                    })
            })
            .collect()
    }
}

/// Environment values are parsed loosely by figment (`1234` becomes a number); every text
/// setting accepts any scalar and keeps it as the text that was written.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Int(i64),
        Uint(u64),
        Float(f64),
        Bool(bool),
    }
    Ok(match Scalar::deserialize(d)? {
        Scalar::Text(s) => s,
        Scalar::Int(i) => i.to_string(),
        Scalar::Uint(u) => u.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Bool(b) => b.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_accept_addresses_and_ranges() {
        let s = Settings {
            trusted_proxies: "10.0.0.0/8, 192.168.1.1,::1".into(),
            ..Settings::default()
        };
        let nets = s.trusted_proxy_nets().expect("valid");
        assert_eq!(nets.len(), 3);
    }

    #[test]
    fn a_bad_proxy_entry_is_named() {
        let s = Settings {
            trusted_proxies: "10.0.0.0/8,not-an-ip".into(),
            ..Settings::default()
        };
        let err = s.validate().expect_err("invalid");
        assert!(err.to_string().contains("not-an-ip"), "{err}");
    }

    #[test]
    fn an_unknown_database_scheme_is_refused() {
        let s = Settings {
            database_url: "mysql://x".into(),
            ..Settings::default()
        };
        assert!(s.validate().is_err());
    }

    #[test]
    fn non_default_settings_show_secrets_as_fingerprints_only() {
        let s = Settings {
            smtp_host: "relay.hospital.example".into(),
            smtp_password: Some(Secret::new("hunter2-hunter2")),
            audit_key: Some(Secret::new("ab".repeat(32))),
            database_url: "postgres://epro:pa55word@db.example:5432/epro".into(),
            ..Settings::default()
        };
        let shown = s.non_defaults();
        let get = |name: &str| {
            shown
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            get("EPRO_SMTP_HOST").as_deref(),
            Some("relay.hospital.example")
        );
        assert_eq!(
            get("EPRO_SMTP_PASSWORD"),
            Some(fingerprint("hunter2-hunter2"))
        );
        assert_eq!(get("EPRO_AUDIT_KEY"), Some(fingerprint(&"ab".repeat(32))));
        let all = format!("{shown:?}");
        for secret in ["hunter2", "abab", "pa55word"] {
            assert!(!all.contains(secret), "{secret} shown in {all}");
        }
        assert_eq!(get("EPRO_SMTP_PORT"), None, "a default is not listed");
        // Every secret setting named exists, and every setting of type Secret is named (a new
        // one, or a rename, would otherwise be shown in clear).
        let names = serde_json::to_value(Settings::default()).expect("json");
        for name in SECRET_SETTINGS {
            assert!(names.get(name).is_some(), "{name} is not a setting");
        }
        for line in include_str!("config.rs").lines() {
            if let Some(field) = line
                .trim()
                .strip_prefix("pub ")
                .and_then(|l| l.strip_suffix(": Option<Secret>,"))
            {
                assert!(
                    SECRET_SETTINGS.contains(&field),
                    "{field} is a Secret missing from SECRET_SETTINGS"
                );
            }
        }
    }

    #[test]
    fn secrets_are_not_printed() {
        let s = Settings {
            audit_key: Some(Secret::new("topsecret")),
            ..Settings::default()
        };
        assert!(!format!("{s:?}").contains("topsecret"));
    }
}

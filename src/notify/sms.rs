//! SMS reminders through an HTTP SMS gateway. Kannel (smsbox's `/cgi-bin/sendsms`) is the one
//! that ships and is tested (tests/api/sms.rs runs a real bearerbox, smsbox and the fakesmsc test
//! SMSC); another provider is another `SmsTransport`.
//!
//! Each message asks for delivery reports: the gateway calls
//! `{EPRO_BASE_URL}/api/v1/sms/delivery?reminder=<id>&status=<code>&sig=<HMAC>` (Kannel fills
//! `%d` with its report type), signed with EPRO_SMS_DLR_SECRET so that nobody else can mark a
//! reminder delivered. The signature covers the reminder and the address's purpose, not the
//! status: the delivery state only moves forward, so replaying a report changes nothing.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::Settings;

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("SMS gateway not configured (EPRO_SMS_GATEWAY_URL)")]
    NotConfigured,
    #[error("SMS gateway: {0}")]
    Send(String),
}

/// One text to one phone (E.164), with the reference delivery reports name.
pub struct OutgoingSms<'a> {
    pub to: &'a str,
    pub text: &'a str,
    pub reference: &'a str,
}

#[async_trait::async_trait]
pub trait SmsTransport: Send + Sync {
    async fn send(&self, sms: &OutgoingSms<'_>) -> Result<(), SmsError>;
}

/// Kannel's smsbox HTTP send interface.
pub struct Kannel {
    client: reqwest::Client,
    url: String,
    username: String,
    password: String,
    sender: String,
    dlr_base: String,
    secret: String,
}

impl Kannel {
    /// From the settings; `None` when no gateway is configured.
    pub fn from_settings(s: &Settings, default_sender: &str) -> Result<Option<Self>, SmsError> {
        let Some(url) = &s.sms_gateway_url else {
            return Ok(None);
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(s.sms_timeout_seconds.max(1)))
            .build()
            .map_err(|e| SmsError::Send(e.to_string()))?;
        let sender: String = s.sms_sender.clone().unwrap_or_else(|| {
            default_sender
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(11)
                .collect()
        });
        Ok(Some(Kannel {
            client,
            url: url.clone(),
            username: s
                .sms_username
                .as_ref()
                .map(|x| x.expose().to_string())
                .unwrap_or_default(),
            password: s
                .sms_password
                .as_ref()
                .map(|x| x.expose().to_string())
                .unwrap_or_default(),
            sender,
            dlr_base: format!(
                "{}/api/v1/sms/delivery",
                s.sms_dlr_base_url
                    .as_deref()
                    .unwrap_or(&s.base_url)
                    .trim_end_matches('/')
            ),
            secret: s
                .sms_dlr_secret
                .as_ref()
                .map(|x| x.expose().to_string())
                .unwrap_or_default(),
        }))
    }
}

impl Kannel {
    /// Whether the gateway's HTTP interface accepts a connection, without sending a message
    /// (the installation check): a TCP connection to the host and port of EPRO_SMS_GATEWAY_URL.
    pub async fn check_connection(&self, timeout: Duration) -> Result<String, SmsError> {
        let url = url::Url::parse(&self.url)
            .map_err(|e| SmsError::Send(format!("EPRO_SMS_GATEWAY_URL: {e}")))?;
        let host = url
            .host_str()
            .ok_or_else(|| SmsError::Send("EPRO_SMS_GATEWAY_URL has no host".into()))?;
        let port = url.port_or_known_default().unwrap_or(80);
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
            Ok(Ok(_)) => Ok(format!("{host}:{port} accepted a connection")),
            Ok(Err(e)) => Err(SmsError::Send(format!("{host}:{port}: {e}"))),
            Err(_) => Err(SmsError::Send(format!(
                "{host}:{port}: no answer within {} seconds",
                timeout.as_secs()
            ))),
        }
    }
}

/// What a delivery report's signature covers: that the address is a delivery-report address
/// (a purpose tag, so a signature made for anything else never passes) and the reminder id. The
/// status cannot be signed — Kannel substitutes it (`%d`) into the signed address — so the
/// reminder's delivery state only moves forward instead (`domain::reminders::Delivery`).
const DLR_PURPOSE: &[u8] = b"epro sms delivery report v2\0";

fn mac(secret: &str, reference: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(DLR_PURPOSE);
    mac.update(reference.as_bytes());
    mac
}

/// The signature of a delivery report's reminder reference.
pub fn signature(secret: &str, reference: &str) -> String {
    hex::encode(mac(secret, reference).finalize().into_bytes())
}

/// Whether `sig` is the signature of `reference` (compared in constant time).
pub fn verify(secret: &str, reference: &str, sig: &str) -> bool {
    let Ok(bytes) = hex::decode(sig) else {
        return false;
    };
    mac(secret, reference).verify_slice(&bytes).is_ok()
}

#[async_trait::async_trait]
impl SmsTransport for Kannel {
    async fn send(&self, sms: &OutgoingSms<'_>) -> Result<(), SmsError> {
        // Kannel replaces %d with the report type (1 delivered, 2 failed, 4 buffered, 8 submitted
        // to the SMSC, 16 rejected by it).
        let dlr_url = format!(
            "{}?reminder={}&sig={}&status=%d",
            self.dlr_base,
            sms.reference,
            signature(&self.secret, sms.reference)
        );
        let resp = self
            .client
            .get(&self.url)
            .query(&[
                ("username", self.username.as_str()),
                ("password", self.password.as_str()),
                ("from", self.sender.as_str()),
                ("to", sms.to),
                ("text", sms.text),
                ("charset", "UTF-8"),
                ("dlr-mask", "31"),
                ("dlr-url", dlr_url.as_str()),
            ])
            .send()
            .await
            .map_err(|e| SmsError::Send(e.without_url().to_string()))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if status.is_success() {
            Ok(())
        } else {
            Err(SmsError::Send(format!("{status}: {}", body.trim())))
        }
    }
}

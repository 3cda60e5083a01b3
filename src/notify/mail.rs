//! Sending email: lettre's async SMTP transport (TLS none, STARTTLS or TLS, optional
//! credentials) with a timeout around the whole send, or the file transport writing .eml files
//! (the default, so a new user sees real messages without a mail server). Send errors are
//! returned for the caller to retry; nothing here logs addresses.

use std::time::Duration;

use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::authentication::Credentials,
};

use crate::config::{MailTransport, Settings, SmtpTls};

pub enum Mailer {
    File(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail configuration: {0}")]
    Config(String),
    #[error("sending failed: {0}")]
    Send(String),
    #[error("sending timed out after {0} seconds")]
    Timeout(u64),
}

/// A rendered message, ready to send.
pub struct Outgoing {
    pub to: String,
    /// The sender's name shown to the reader (the study file's `email_sender`), used when
    /// EPRO_MAIL_FROM gives an address only.
    pub sender_name: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Mail {
    mailer: Mailer,
    from: Mailbox,
    timeout: Duration,
}

impl Mail {
    pub fn from_settings(s: &Settings) -> Result<Self, MailError> {
        let from: Mailbox = s
            .mail_from
            .parse()
            .map_err(|e| MailError::Config(format!("EPRO_MAIL_FROM: {e}")))?;
        let mailer = match s.mail_transport {
            MailTransport::File => {
                let dir = s.outbox_dir();
                std::fs::create_dir_all(&dir).map_err(|e| {
                    MailError::Config(format!("EPRO_MAIL_FILE_DIR {}: {e}", dir.display()))
                })?;
                Mailer::File(AsyncFileTransport::new(dir))
            }
            MailTransport::Smtp => {
                let builder = match s.smtp_tls {
                    SmtpTls::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.smtp_host)
                    }
                    SmtpTls::Starttls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.smtp_host)
                            .map_err(|e| MailError::Config(format!("EPRO_SMTP_HOST: {e}")))?
                    }
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.smtp_host)
                        .map_err(|e| MailError::Config(format!("EPRO_SMTP_HOST: {e}")))?,
                };
                let mut builder = builder
                    .port(s.smtp_port)
                    .timeout(Some(Duration::from_secs(s.smtp_timeout_seconds)));
                if let (Some(u), Some(p)) = (&s.smtp_username, &s.smtp_password) {
                    builder = builder.credentials(Credentials::new(
                        u.expose().to_string(),
                        p.expose().to_string(),
                    ));
                }
                Mailer::Smtp(builder.build())
            }
        };
        Ok(Self {
            mailer,
            from,
            timeout: Duration::from_secs(s.smtp_timeout_seconds),
        })
    }

    /// Whether the relay answers, without sending anything (the installation check): an SMTP
    /// connection with its greeting and EHLO (and TLS as configured); for the file transport,
    /// that the outbox folder takes a file.
    pub async fn check_connection(&self) -> Result<String, MailError> {
        match &self.mailer {
            Mailer::Smtp(t) => {
                match tokio::time::timeout(self.timeout, t.test_connection()).await {
                    Ok(Ok(true)) => Ok("the SMTP relay answered".into()),
                    Ok(Ok(false)) => Err(MailError::Send("the SMTP relay did not answer".into())),
                    Ok(Err(e)) => Err(MailError::Send(e.to_string())),
                    Err(_) => Err(MailError::Timeout(self.timeout.as_secs())),
                }
            }
            Mailer::File(_) => Ok("local outbox (file transport): no relay to reach".into()),
        }
    }

    /// Send one message; returns its Message-ID. The whole send is bounded by the timeout
    /// (lettre's own timeout covers connecting only).
    pub async fn send(&self, m: &Outgoing) -> Result<String, MailError> {
        let to: Mailbox =
            m.to.parse()
                .map_err(|e| MailError::Send(format!("recipient: {e}")))?;
        let id = format!("<{}@epro>", uuid::Uuid::new_v4());
        let from = match (&self.from.name, &m.sender_name) {
            (None, Some(name)) => Mailbox::new(Some(name.clone()), self.from.email.clone()),
            _ => self.from.clone(),
        };
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(m.subject.clone())
            .message_id(Some(id.clone()))
            .multipart(MultiPart::alternative_plain_html(
                m.text.clone(),
                m.html.clone(),
            ))
            .map_err(|e| MailError::Send(e.to_string()))?;
        let secs = self.timeout.as_secs();
        let sent = match &self.mailer {
            Mailer::File(t) => tokio::time::timeout(self.timeout, t.send(message))
                .await
                .map(|r| r.map(|_| ()).map_err(|e| MailError::Send(e.to_string()))),
            Mailer::Smtp(t) => tokio::time::timeout(self.timeout, t.send(message))
                .await
                .map(|r| r.map(|_| ()).map_err(|e| MailError::Send(e.to_string()))),
        };
        match sent {
            Ok(Ok(())) => Ok(id),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(MailError::Timeout(secs)),
        }
    }
}

//! What every service needs, built once at start: database, clock, keys, study, settings.
//! Services take `&App`; nothing here does work of its own.

use std::sync::Arc;

use ipnet::IpNet;

use crate::{
    auth::hashing::Hasher, clock::Clock, config::Settings, domain::study::Study, keys::Keys,
    questionnaires::Library, store::Db,
};

pub struct App {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub keys: Keys,
    pub study: Study,
    pub library: Library,
    pub settings: Settings,
    pub trusted_proxies: Vec<IpNet>,
    /// The one bounded pool for password and PIN hashing.
    pub hasher: Hasher,
    /// Each participant's completion state, kept until their records change or the clock
    /// passes a window edge (answering::derived).
    pub derived: crate::answering::derived::Cache,
    /// The words of every page, email and SMS per language (built in, EPRO_TEXTS_DIR).
    pub texts: Arc<crate::texts::Texts>,
    /// The SMS gateway, when one is configured (EPRO_SMS_GATEWAY_URL).
    pub sms: Option<Arc<dyn crate::notify::sms::SmsTransport>>,
}

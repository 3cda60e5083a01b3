//! What every service needs, built once at start: database, clock, keys, study, settings.
//! Services take `&App`; nothing here does work of its own.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    sync::{Arc, Mutex},
};

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
    /// What features keep in memory for the life of the process (e.g. answering's derived
    /// completion states), one value per type: the platform holds it without knowing it.
    pub kept: Kept,
    /// The words of every page, email and SMS per language (built in, EPRO_TEXTS_DIR).
    pub texts: Arc<crate::texts::Texts>,
    /// The SMS gateway, when one is configured (EPRO_SMS_GATEWAY_URL).
    pub sms: Option<Arc<dyn crate::notify::sms::SmsTransport>>,
}

/// In-memory state kept by features, one value per type, made on first use. A feature asks for
/// its own type (`app.kept.get::<answering::derived::Cache>()`), so `App` never names it.
#[derive(Default)]
pub struct Kept(Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl Kept {
    /// The kept value of type `T` (a new default one the first time).
    pub fn get<T: Any + Send + Sync + Default>(&self) -> Arc<T> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let value = map
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()) as Arc<dyn Any + Send + Sync>)
            .clone();
        drop(map);
        // The map's key is T's TypeId, so the value is a T.
        value
            .downcast::<T>()
            .unwrap_or_else(|_| Arc::new(T::default()))
    }
}

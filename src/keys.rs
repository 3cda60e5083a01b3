//! The two server keys: EPRO_AUDIT_KEY (HMAC of the audit chain) and EPRO_DATA_KEY (personal
//! data at rest). In development a missing key is generated once into the data folder, with a
//! loud warning; in production a missing key stops the server.

use std::{fs, io::Write, path::Path};

use rand::RngCore;

use crate::config::{Environment, Secret, Settings};

pub const KEY_LEN: usize = 32;

/// 32 key bytes. `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

impl Key {
    pub fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Parse 64 hexadecimal characters.
    pub fn parse_hex(name: &str, text: &str) -> Result<Self, KeyError> {
        let raw = hex::decode(text.trim()).map_err(|_| KeyError::Malformed(name.to_string()))?;
        let bytes: [u8; KEY_LEN] = raw
            .try_into()
            .map_err(|_| KeyError::Malformed(name.to_string()))?;
        Ok(Self(bytes))
    }

    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Keys {
    pub audit: Key,
    pub data: Key,
    /// The Ed25519 seed that signs investigator archives.
    pub archive: Key,
    /// The Ed25519 seed that signs the audit log's checkpoints (EPRO_CHECKPOINT_KEY). Optional
    /// in production, so that an upgrade starts without it: no checkpoints are signed until it
    /// is set (`epro audit checkpoint` says so).
    pub checkpoint: Option<Key>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "{0} must be 64 hexadecimal characters (32 bytes); generate one with `openssl rand -hex 32`"
    )]
    Malformed(String),
    #[error("{0} is not set; EPRO_ENV=production refuses to start without it")]
    MissingInProduction(String),
    #[error("cannot read or write the development key file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
}

impl Keys {
    pub fn resolve(settings: &Settings) -> Result<Self, KeyError> {
        Ok(Self {
            audit: resolve_one(
                "EPRO_AUDIT_KEY",
                settings.audit_key.as_ref(),
                settings,
                "audit.key",
            )?,
            data: resolve_one(
                "EPRO_DATA_KEY",
                settings.data_key.as_ref(),
                settings,
                "data.key",
            )?,
            archive: resolve_one(
                "EPRO_ARCHIVE_KEY",
                settings.archive_key.as_ref(),
                settings,
                "archive.key",
            )?,
            checkpoint: match (&settings.checkpoint_key, settings.env) {
                (None, Environment::Production) => None,
                (given, _) => Some(resolve_one(
                    "EPRO_CHECKPOINT_KEY",
                    given.as_ref(),
                    settings,
                    "checkpoint.key",
                )?),
            },
        })
    }
}

fn resolve_one(
    name: &str,
    given: Option<&Secret>,
    settings: &Settings,
    file_name: &str,
) -> Result<Key, KeyError> {
    if let Some(secret) = given {
        return Key::parse_hex(name, secret.expose());
    }
    if settings.env == Environment::Production {
        return Err(KeyError::MissingInProduction(name.to_string()));
    }
    let path = settings.data_dir.join(file_name);
    development_key(name, &path)
}

fn development_key(name: &str, path: &Path) -> Result<Key, KeyError> {
    let file_err = |source| KeyError::File {
        path: path.display().to_string(),
        source,
    };
    if path.exists() {
        let text = fs::read_to_string(path).map_err(file_err)?;
        return Key::parse_hex(&path.display().to_string(), &text);
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(file_err)?;
    }
    let key = Key::generate();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(file_err)?;
    file.write_all(key.to_hex().as_bytes()).map_err(file_err)?;
    tracing::warn!(
        key = name,
        file = %path.display(),
        "!!! {name} is not set: generated a DEVELOPMENT key into {}. Never use this in a trial; \
         set {name} (64 hex characters) and EPRO_ENV=production.",
        path.display()
    );
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_64_hex_characters_only() {
        assert!(Key::parse_hex("K", &"ab".repeat(32)).is_ok());
        assert!(Key::parse_hex("K", &"ab".repeat(31)).is_err());
        assert!(Key::parse_hex("K", &"zz".repeat(32)).is_err());
    }

    #[test]
    fn production_refuses_a_missing_key() {
        let settings = Settings {
            env: Environment::Production,
            ..Settings::default()
        };
        let err = Keys::resolve(&settings).expect_err("must refuse");
        assert!(err.to_string().contains("EPRO_AUDIT_KEY"), "{err}");
    }

    #[test]
    fn development_keys_are_generated_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        let first = Keys::resolve(&settings).expect("generated");
        let second = Keys::resolve(&settings).expect("reread");
        assert_eq!(first.audit, second.audit);
        assert_eq!(first.data, second.data);
        assert_ne!(first.audit, first.data);
    }
}

/// Personal data at rest: AES-256-GCM with EPRO_DATA_KEY, a fresh 96-bit nonce per value, and
/// associated data binding each ciphertext to its record and field (a value copied to another
/// row or field does not decrypt). Stored as base64(nonce ‖ ciphertext).
pub mod sealed {
    use aes_gcm::{
        Aes256Gcm, Key as AesKey, Nonce,
        aead::{Aead, KeyInit, Payload},
    };
    use base64::{Engine, engine::general_purpose::STANDARD};
    use rand::RngCore;

    use super::Key;

    #[derive(Debug, thiserror::Error)]
    #[error("personal data could not be decrypted (wrong EPRO_DATA_KEY, or the value was moved)")]
    pub struct OpenError;

    pub fn seal(key: &Key, plaintext: &str, aad: &str) -> String {
        let cipher = Aes256Gcm::new(&AesKey::<Aes256Gcm>::from(*key.bytes()));
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce length cannot fail.
        let ct = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(ct);
        STANDARD.encode(out)
    }

    pub fn open(key: &Key, sealed: &str, aad: &str) -> Result<String, OpenError> {
        let raw = STANDARD.decode(sealed).map_err(|_| OpenError)?;
        if raw.len() < 12 {
            return Err(OpenError);
        }
        let (nonce, ct) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| OpenError)?;
        let cipher = Aes256Gcm::new(&AesKey::<Aes256Gcm>::from(*key.bytes()));
        let pt = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| OpenError)?;
        String::from_utf8(pt).map_err(|_| OpenError)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn round_trip_and_binding() {
            let key = Key::generate();
            let s = seal(&key, "+32 470 00 00 00", "p1:phone");
            assert!(!s.contains("470"));
            assert_eq!(
                open(&key, &s, "p1:phone").expect("open"),
                "+32 470 00 00 00"
            );
            assert!(open(&key, &s, "p2:phone").is_err(), "bound to its record");
            assert!(
                open(&Key::generate(), &s, "p1:phone").is_err(),
                "needs the key"
            );
            assert_ne!(
                seal(&key, "x", "a"),
                seal(&key, "x", "a"),
                "fresh nonce each time"
            );
        }
    }
}

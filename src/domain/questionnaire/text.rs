//! Text packs: the wording of one questionnaire version in one language, kept apart from the
//! structure. Shipped packs are open (our own wording) or demo (neutral labels standing in for
//! licensed wording); a deployment installs licensed packs in EPRO_LICENSED_TEXT_DIR.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Definition, FormatError, content_sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum WordingKind {
    Open,
    Licensed,
    Demo,
}

impl WordingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WordingKind::Open => "open",
            WordingKind::Licensed => "licensed",
            WordingKind::Demo => "demo",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextPack {
    pub language: String,
    pub kind: WordingKind,
    pub texts: BTreeMap<String, String>,
}

/// A checked pack with the hash that responses record as "the wording shown".
#[derive(Debug, Clone)]
pub struct Wording {
    pub pack: TextPack,
    pub sha256: String,
}

impl Wording {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pack.texts.get(key).map(String::as_str)
    }
}

/// Where a pack was found: shipped with the code, or installed by the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Shipped,
    Installed,
}

/// Parse a pack for `def` in `language` and check it: right language, allowed kind for its
/// source, and every text key the definition uses present and non-empty.
pub fn parse_pack(
    file: &str,
    text: &str,
    def: &Definition,
    language: &str,
    source: Source,
) -> Result<Wording, Vec<FormatError>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| vec![FormatError::new(file, "", format!("not valid JSON: {e}"))])?;
    let pack: TextPack = serde_json::from_value(value.clone())
        .map_err(|e| vec![FormatError::new(file, "", format!("not a text pack: {e}"))])?;
    let mut errors = Vec::new();
    if pack.language != language {
        errors.push(FormatError::new(
            file,
            "/language",
            format!("says {:?} but the file is for {language:?}", pack.language),
        ));
    }
    match (source, pack.kind) {
        (Source::Shipped, WordingKind::Licensed) => errors.push(FormatError::new(
            file,
            "/kind",
            "licensed wording must never be committed; install it in EPRO_LICENSED_TEXT_DIR",
        )),
        (Source::Installed, kind) if kind != WordingKind::Licensed => {
            errors.push(FormatError::new(
                file,
                "/kind",
                format!(
                    "packs in EPRO_LICENSED_TEXT_DIR must be \"licensed\", found {:?}",
                    kind.as_str()
                ),
            ))
        }
        _ => {}
    }
    if source == Source::Shipped
        && def.license.wording == super::LicensedWording::Licensed
        && pack.kind != WordingKind::Demo
    {
        errors.push(FormatError::new(
            file,
            "/kind",
            "the definition's wording is licensed: the shipped pack can only be a demo pack",
        ));
    }
    for key in def.text_keys() {
        match pack.texts.get(&key) {
            None => errors.push(FormatError::new(
                file,
                format!("/texts/{key}"),
                format!("missing text for key {key:?}"),
            )),
            Some(t) if t.trim().is_empty() => errors.push(FormatError::new(
                file,
                format!("/texts/{key}"),
                "empty text",
            )),
            _ => {}
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let sha256 = content_sha256(&value).map_err(|e| vec![FormatError::new(file, "", e)])?;
    Ok(Wording { pack, sha256 })
}

//! The study file (`studies/<study>.toml`): the protocol a deployment serves. Parsed and
//! validated here, purely from its text; every error names the file and the field.
//! The file is the only source of sites; the database only records which are disabled.

use std::collections::HashSet;

use chrono_tz::Tz;
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StudyFile {
    study: StudyHeader,
    sites: Vec<Site>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StudyHeader {
    id: String,
    name: String,
    time_zone: String,
    languages: Vec<String>,
}

/// A participating hospital, with the contact line participants are told to call.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub code: String,
    pub name: String,
    pub city: String,
    pub phone: String,
    pub email: String,
}

/// A validated study.
#[derive(Debug, Clone)]
pub struct Study {
    pub id: String,
    pub name: String,
    pub time_zone: Tz,
    pub languages: Vec<String>,
    pub sites: Vec<Site>,
    /// sha256 of the file's bytes, hex.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}: {problem}")]
pub struct StudyError {
    pub file: String,
    pub field: String,
    pub problem: String,
}

impl Study {
    pub fn site(&self, code: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.code == code)
    }

    /// Parse and validate the text of the study file named `file` (used in error messages).
    pub fn parse(file: &str, text: &str) -> Result<Self, StudyError> {
        let err = |field: &str, problem: String| StudyError {
            file: file.to_string(),
            field: field.to_string(),
            problem,
        };
        let raw: StudyFile = toml::from_str(text).map_err(|e| {
            let field = e
                .span()
                .map(|span| {
                    let line = text[..span.start.min(text.len())].lines().count().max(1);
                    format!("line {line}")
                })
                .unwrap_or_else(|| "(file)".into());
            err(&field, e.message().to_string())
        })?;

        let id = raw.study.id.trim().to_string();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(err(
                "study.id",
                format!("{id:?} must be non-empty letters, digits, '-' or '_'"),
            ));
        }
        let time_zone: Tz = raw.study.time_zone.parse().map_err(|_| {
            err(
                "study.time_zone",
                format!(
                    "{:?} is not an IANA time zone (for example \"Europe/Brussels\")",
                    raw.study.time_zone
                ),
            )
        })?;
        if raw.study.languages.is_empty() {
            return Err(err(
                "study.languages",
                "at least one language is required".into(),
            ));
        }
        let mut seen_lang = HashSet::new();
        for (i, lang) in raw.study.languages.iter().enumerate() {
            let field = format!("study.languages[{i}]");
            if lang.len() != 2 || !lang.chars().all(|c| c.is_ascii_lowercase()) {
                return Err(err(
                    &field,
                    format!("{lang:?} is not a two-letter ISO 639-1 code"),
                ));
            }
            if !seen_lang.insert(lang) {
                return Err(err(&field, format!("{lang:?} is listed twice")));
            }
        }
        if raw.sites.is_empty() {
            return Err(err(
                "sites",
                "at least one [[sites]] entry is required".into(),
            ));
        }
        let mut seen_site = HashSet::new();
        for (i, site) in raw.sites.iter().enumerate() {
            let field = |name: &str| format!("sites[{i}].{name}");
            if site.code.is_empty()
                || site.code.len() > 16
                || !site
                    .code
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                return Err(err(
                    &field("code"),
                    format!("{:?} must be 1–16 capital letters or digits", site.code),
                ));
            }
            if !seen_site.insert(site.code.as_str()) {
                return Err(err(
                    &field("code"),
                    format!("site code {:?} is listed twice", site.code),
                ));
            }
            for (name, value) in [
                ("name", &site.name),
                ("city", &site.city),
                ("phone", &site.phone),
            ] {
                if value.trim().is_empty() {
                    return Err(err(&field(name), "must not be empty".into()));
                }
            }
            if !email_address::EmailAddress::is_valid(&site.email) {
                return Err(err(
                    &field("email"),
                    format!("{:?} is not an email address", site.email),
                ));
            }
        }
        Ok(Self {
            id,
            name: raw.study.name,
            time_zone,
            languages: raw.study.languages,
            sites: raw.sites,
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../studies/hermes.toml");

    #[test]
    fn the_shipped_hermes_file_is_valid() {
        let study = Study::parse("studies/hermes.toml", SHIPPED).expect("valid");
        assert_eq!(study.id, "HERMES");
        assert_eq!(study.time_zone, chrono_tz::Europe::Brussels);
        assert_eq!(study.languages, ["nl", "fr", "en"]);
        let codes: Vec<_> = study.sites.iter().map(|s| s.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "ZAS", "AZORG", "UZG", "JESSA", "AZGR", "UZL", "AZDELTA", "AZT"
            ]
        );
        assert_eq!(study.sha256.len(), 64);
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let cases = [
            (
                SHIPPED.replace("Europe/Brussels", "Europe/Brussel"),
                "study.time_zone",
            ),
            (
                SHIPPED.replace("\"fr\", \"en\"", "\"fr\", \"fr\""),
                "study.languages[2]",
            ),
            (
                SHIPPED.replace("code = \"UZG\"", "code = \"ZAS\""),
                "sites[2].code",
            ),
            (
                SHIPPED.replace("hermes-azt@example.org", "not an email"),
                "sites[7].email",
            ),
            (
                SHIPPED.replace("city = \"Gent\"", "city = \"Gent\"\nfax = \"1\""),
                "line",
            ),
        ];
        for (text, field) in cases {
            let e = Study::parse("studies/x.toml", &text).expect_err(field);
            assert_eq!(e.file, "studies/x.toml");
            assert!(e.field.starts_with(field), "expected {field}, got {e}");
        }
    }
}

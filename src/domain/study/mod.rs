//! The study file (`studies/<study>.toml`): the protocol a deployment serves. Parsed and
//! validated here, purely from its text; every error names the file and the field.
//! The file is the only source of sites; the database only records which are disabled.

pub mod amendment;
mod checks;
mod events;
mod file;
mod ids;
mod reminders;
mod visits;
mod vocabulary;

use std::collections::BTreeMap;

use super::schedule::Protocol;

use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use checks::{
    check_arms, check_languages, check_lesion_limits, check_safety, check_sites, check_vocabularies,
};
pub use events::EventRules;
use events::parse_events;
use file::StudyFile;
use reminders::parse_reminders;
pub use reminders::{ReminderEdge, ReminderPlan, ReminderRule};
use visits::parse_visits;
pub use vocabulary::{Analgesics, Arm, LesionLimits, Safety, Site, Term, label_in};

/// A validated study.
#[derive(Debug, Clone)]
pub struct Study {
    pub id: String,
    pub name: String,
    pub time_zone: Tz,
    pub languages: Vec<String>,
    pub sites: Vec<Site>,
    /// Study id template, e.g. `HERMES-{site}-{nnn}`.
    pub id_pattern: String,
    /// Visits, windows and the SSE rule.
    pub protocol: Protocol,
    /// Visit labels per language, by visit code.
    /// Each visit's labels by language (shared: every visit view of every participant points
    /// at the same map).
    pub visit_labels: BTreeMap<String, std::sync::Arc<BTreeMap<String, String>>>,
    /// Email reminders: sending hours, digest time, rules per visit.
    pub reminders: ReminderPlan,
    /// Safety text per language (every study language, when given).
    pub safety: BTreeMap<String, Safety>,
    /// The sender's name on participant emails.
    pub email_sender: String,
    /// The first day of enrolment, if the file says.
    pub start_date: Option<chrono::NaiveDate>,
    /// The arms, in order (empty: no arm is recorded).
    pub arms: Vec<Arm>,
    pub lesion_limits: LesionLimits,
    /// The lesion locations staff choose from (empty when lesions do not apply).
    pub lesion_locations: Vec<crate::domain::lesions::Location>,
    /// The high-risk reasons a lesion is registered for (none: no reason asked).
    pub high_risk_reasons: Vec<Term>,
    /// The SSE types (none: no type asked).
    pub sse_types: Vec<Term>,
    /// The events staff record and the fields each requires.
    pub events: EventRules,
    pub analgesics: Analgesics,
    /// sha256 of the file's bytes, hex.
    pub sha256: String,
    /// The file's text (kept with the registration, so an amendment can be compared with it).
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}: {problem}")]
pub struct StudyError {
    pub file: String,
    pub field: String,
    pub problem: String,
}

impl Study {
    /// The safety text of `lang` for an email: the notice (with the site's phone), a blank line,
    /// then the symptoms that need a call now, one line each (`- …`), so that they never run
    /// together. Empty when the study file has none.
    pub fn safety_text(&self, lang: &str, phone: &str) -> String {
        self.safety
            .get(lang)
            .map(|s| {
                let mut out = format!(
                    "{}\n\n{}",
                    s.notice.replace("{phone}", phone),
                    s.urgent_intro
                );
                for symptom in &s.urgent {
                    out.push_str("\n- ");
                    out.push_str(symptom);
                }
                out
            })
            .unwrap_or_default()
    }

    pub fn site(&self, code: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.code == code)
    }

    /// A visit's label in `lang` ("Maand 1"); its code when the study file has none.
    pub fn visit_label(&self, code: &str, lang: &str) -> String {
        self.visit_labels
            .get(code)
            .and_then(|l| l.get(lang))
            .cloned()
            .unwrap_or_else(|| code.to_string())
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
        check_languages(&raw.study.languages).map_err(|(f, p)| err(&f, p))?;
        check_sites(&raw.sites).map_err(|(f, p)| err(&f, p))?;
        if !raw.study.id_pattern.contains("{site}") || !raw.study.id_pattern.contains("{n") {
            return Err(err(
                "study.id_pattern",
                format!(
                    "{:?} must contain {{site}} and a number such as {{nnn}}",
                    raw.study.id_pattern
                ),
            ));
        }
        let (protocol, visit_labels) =
            parse_visits(&raw, time_zone, &raw.study.languages).map_err(|(f, p)| err(&f, p))?;
        let reminders = parse_reminders(&raw).map_err(|(f, p)| err(&f, p))?;
        check_safety(&raw).map_err(|(f, p)| err(&f, p))?;
        check_arms(&raw.arms, &raw.study.languages).map_err(|(f, p)| err(&f, p))?;
        let lesion_limits = LesionLimits {
            apply: raw.lesions.apply,
            at_inclusion: raw.lesions.at_inclusion,
            per_course: raw.lesions.per_course,
            active_max: raw.lesions.active_max,
        };
        check_lesion_limits(&lesion_limits).map_err(|(f, p)| err(&f, p))?;
        check_vocabularies(&raw).map_err(|(f, p)| err(&f, p))?;
        let events = parse_events(&raw).map_err(|(f, p)| err(&f, p))?;
        let email_sender = raw
            .study
            .email_sender
            .clone()
            .unwrap_or_else(|| raw.study.name.clone());
        if email_sender.trim().is_empty()
            || email_sender
                .chars()
                .any(|c| c.is_control() || c == '<' || c == '>' || c == '"')
        {
            return Err(err(
                "study.email_sender",
                format!("{email_sender:?} must be a plain name, without quotes or angle brackets"),
            ));
        }
        Ok(Self {
            id,
            email_sender,
            name: raw.study.name,
            time_zone,
            languages: raw.study.languages,
            sites: raw.sites,
            id_pattern: raw.study.id_pattern,
            protocol,
            visit_labels: visit_labels
                .into_iter()
                .map(|(k, v)| (k, std::sync::Arc::new(v)))
                .collect(),
            reminders,
            safety: raw.safety,
            start_date: raw.study.start_date,
            arms: raw.arms,
            lesion_limits,
            lesion_locations: raw.lesions.locations,
            high_risk_reasons: raw.lesions.reasons,
            sse_types: raw.events.sse_types,
            events,
            analgesics: raw.analgesics,
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
            source: text.to_string(),
        })
    }
}

/// A study-file problem: the field and what is wrong with it.
type Problem = (String, String);

fn fail(field: &str, problem: String) -> Problem {
    (field.to_string(), problem)
}

#[cfg(test)]
mod tests;

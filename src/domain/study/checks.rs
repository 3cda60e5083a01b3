//! The study file's own checks of languages, sites, safety text, arms, vocabularies and lesion
//! limits; each names the field it refuses.

use std::collections::{BTreeMap, HashSet};

use super::file::StudyFile;
use super::{Arm, LesionLimits, Problem, Site, fail};

/// At least one language, each a BCP 47 tag, none twice. (Whether pages and emails have texts
/// in it is checked with the build's texts: `crate::study::check_languages`.)
pub(super) fn check_languages(languages: &[String]) -> Result<(), Problem> {
    if languages.is_empty() {
        return Err(fail(
            "study.languages",
            "at least one language is required".into(),
        ));
    }
    let mut seen_lang = HashSet::new();
    for (i, lang) in languages.iter().enumerate() {
        let field = format!("study.languages[{i}]");
        // A BCP 47 tag: a 2–3 letter language, then optional subtags (script, region, …).
        let mut parts = lang.split('-');
        let primary_ok = parts.next().is_some_and(|p| {
            (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_lowercase())
        });
        let rest_ok = parts
            .all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if !primary_ok || !rest_ok {
            return Err(fail(
                &field,
                format!("{lang:?} is not a BCP 47 language tag (such as \"nl\" or \"nl-BE\")"),
            ));
        }
        if !seen_lang.insert(lang) {
            return Err(fail(&field, format!("{lang:?} is listed twice")));
        }
    }
    Ok(())
}

/// At least one site, each with a unique code, a name, city, phone and email.
pub(super) fn check_sites(sites: &[Site]) -> Result<(), Problem> {
    if sites.is_empty() {
        return Err(fail(
            "sites",
            "at least one [[sites]] entry is required".into(),
        ));
    }
    let mut seen_site = HashSet::new();
    for (i, site) in sites.iter().enumerate() {
        let field = |name: &str| format!("sites[{i}].{name}");
        if site.code.is_empty()
            || site.code.len() > 16
            || !site
                .code
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return Err(fail(
                &field("code"),
                format!("{:?} must be 1–16 capital letters or digits", site.code),
            ));
        }
        if !seen_site.insert(site.code.as_str()) {
            return Err(fail(
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
                return Err(fail(&field(name), "must not be empty".into()));
            }
        }
        if !email_address::EmailAddress::is_valid(&site.email) {
            return Err(fail(
                &field("email"),
                format!("{:?} is not an email address", site.email),
            ));
        }
    }
    Ok(())
}

/// Safety text, when given, in every study language: a notice naming the site's phone and the
/// symptoms that need a call now.
pub(super) fn check_safety(raw: &StudyFile) -> Result<(), Problem> {
    if !raw.safety.is_empty() {
        for lang in &raw.study.languages {
            let Some(s) = raw.safety.get(lang) else {
                return Err(fail(
                    &format!("safety.{lang}"),
                    "safety text is required in every study language".into(),
                ));
            };
            if s.notice.trim().is_empty() || !s.notice.contains("{phone}") {
                return Err(fail(
                    &format!("safety.{lang}.notice"),
                    "must say to call the site, with {phone} where its number goes".into(),
                ));
            }
            if s.urgent.is_empty() || s.urgent.iter().any(|u| u.trim().is_empty()) {
                return Err(fail(
                    &format!("safety.{lang}.urgent"),
                    "list the symptoms that need a call now, none empty".into(),
                ));
            }
        }
        if let Some(extra) = raw.safety.keys().find(|k| !raw.study.languages.contains(k)) {
            return Err(fail(
                &format!("safety.{extra}"),
                "is not a study language".into(),
            ));
        }
    }
    Ok(())
}

/// Arms have unique codes (letters, digits, '_') and a label in every study language.
pub(super) fn check_arms(arms: &[Arm], languages: &[String]) -> Result<(), Problem> {
    let mut seen = HashSet::new();
    for (i, a) in arms.iter().enumerate() {
        if a.code.is_empty()
            || !a
                .code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(fail(
                &format!("arms[{i}].code"),
                format!("{:?} must be letters, digits or '_'", a.code),
            ));
        }
        if !seen.insert(a.code.clone()) {
            return Err(fail(
                &format!("arms[{i}].code"),
                format!("arm {:?} is listed twice", a.code),
            ));
        }
        for lang in languages {
            if a.label.get(lang).is_none_or(|l| l.trim().is_empty()) {
                return Err(fail(
                    &format!("arms[{i}].label"),
                    format!("needs a label in {lang:?}"),
                ));
            }
        }
    }
    Ok(())
}

/// The vocabularies: unique codes (letters, digits, '_'), a label in every study language; a
/// study with lesions lists their locations.
pub(super) fn check_vocabularies(raw: &StudyFile) -> Result<(), Problem> {
    let langs = &raw.study.languages;
    type Labelled<'a> = Vec<(&'a str, &'a BTreeMap<String, String>)>;
    let lists: [(&str, Labelled); 3] = [
        (
            "lesions.locations",
            raw.lesions
                .locations
                .iter()
                .map(|l| (l.code.as_str(), &l.label))
                .collect(),
        ),
        (
            "lesions.reasons",
            raw.lesions
                .reasons
                .iter()
                .map(|t| (t.code.as_str(), &t.label))
                .collect(),
        ),
        (
            "events.sse_types",
            raw.events
                .sse_types
                .iter()
                .map(|t| (t.code.as_str(), &t.label))
                .collect(),
        ),
    ];
    for (name, terms) in &lists {
        let mut seen = HashSet::new();
        for (i, (code, label)) in terms.iter().enumerate() {
            if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(fail(
                    &format!("{name}[{i}].code"),
                    format!("{code:?} must be letters, digits or '_'"),
                ));
            }
            if !seen.insert(*code) {
                return Err(fail(
                    &format!("{name}[{i}].code"),
                    format!("{code:?} is listed twice"),
                ));
            }
            if let Some(lang) = langs
                .iter()
                .find(|l| label.get(*l).is_none_or(|x| x.trim().is_empty()))
            {
                return Err(fail(
                    &format!("{name}[{i}].label"),
                    format!("needs a label in {lang:?}"),
                ));
            }
        }
    }
    if raw.lesions.apply && raw.lesions.locations.is_empty() {
        return Err(fail(
            "lesions.locations",
            "list the lesion locations staff choose from (or set [lesions] apply = false)".into(),
        ));
    }
    Ok(())
}

/// Every lesion limit is at least 1, and the follow-up maximum is at least the inclusion one.
pub(super) fn check_lesion_limits(l: &LesionLimits) -> Result<(), Problem> {
    for (name, v) in [
        ("at_inclusion", l.at_inclusion),
        ("per_course", l.per_course),
        ("active_max", l.active_max),
    ] {
        if v == 0 {
            return Err(fail(
                &format!("lesions.{name}"),
                "must be at least 1".into(),
            ));
        }
    }
    if l.active_max < l.at_inclusion {
        return Err(fail(
            "lesions.active_max",
            format!("must be at least lesions.at_inclusion ({})", l.at_inclusion),
        ));
    }
    Ok(())
}

//! The study file (`studies/<study>.toml`): the protocol a deployment serves. Parsed and
//! validated here, purely from its text; every error names the file and the field.
//! The file is the only source of sites; the database only records which are disabled.

pub mod amendment;

use std::collections::{BTreeMap, HashSet};

use super::schedule::{Anchor, Protocol, VisitSpec};

use chrono_tz::Tz;
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StudyFile {
    study: StudyHeader,
    schedule: ScheduleHeader,
    reminders: RawReminders,
    visits: Vec<RawVisit>,
    sites: Vec<Site>,
    /// Safety text per language, shown on every participant page.
    #[serde(default)]
    safety: BTreeMap<String, Safety>,
    /// The arms participants are randomized to (none: the study records no arm).
    #[serde(default)]
    arms: Vec<Arm>,
    #[serde(default)]
    lesions: RawLesions,
    #[serde(default)]
    analgesics: Analgesics,
    #[serde(default)]
    events: RawEvents,
}

/// `[lesions]` as written: whether lesions apply, their limits and the study's vocabularies.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawLesions {
    apply: bool,
    at_inclusion: usize,
    per_course: usize,
    active_max: usize,
    locations: Vec<crate::domain::lesions::Location>,
    reasons: Vec<Term>,
}

impl Default for RawLesions {
    fn default() -> Self {
        let l = LesionLimits::default();
        RawLesions {
            apply: l.apply,
            at_inclusion: l.at_inclusion,
            per_course: l.per_course,
            active_max: l.active_max,
            locations: Vec::new(),
            reasons: Vec::new(),
        }
    }
}

/// `[events]`: the types of symptomatic skeletal event staff choose from (none: no type asked).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawEvents {
    sse_types: Vec<Term>,
}

/// One entry of a study vocabulary: a stable code (stored and exported) and its label per
/// study language (shown).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Term {
    pub code: String,
    pub label: BTreeMap<String, String>,
}

impl Term {
    /// The label in `lang`, else English, else the code.
    pub fn label(&self, lang: &str) -> String {
        label_in(&self.label, lang, &self.code)
    }
}

/// A vocabulary entry's label in `lang`, else English, else its code.
pub fn label_in(labels: &BTreeMap<String, String>, lang: &str, code: &str) -> String {
    labels
        .get(lang)
        .or_else(|| labels.get("en"))
        .cloned()
        .unwrap_or_else(|| code.to_string())
}

/// Whether staff record each visit's analgesic dose (oral morphine equivalent, mg/day), which
/// the consensus pain response needs (`[analgesics] apply`, default true).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Analgesics {
    pub apply: bool,
}

impl Default for Analgesics {
    fn default() -> Self {
        Analgesics { apply: true }
    }
}

/// One arm of the trial: a stable code and its label per language.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    pub code: String,
    pub label: BTreeMap<String, String>,
}

/// Whether the study records lesions at all (`apply`, default true: a study without lesions has
/// no lesion list, pain chart or per-lesion questionnaire), and how many high-risk lesions a
/// participant may have: at inclusion (registered on the enrolment day), per radiotherapy course
/// (the same irradiation date), and active at any time during follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LesionLimits {
    pub apply: bool,
    pub at_inclusion: usize,
    pub per_course: usize,
    pub active_max: usize,
}

impl Default for LesionLimits {
    fn default() -> Self {
        LesionLimits {
            apply: true,
            at_inclusion: 5,
            per_course: 5,
            active_max: 10,
        }
    }
}

/// What every participant page says about safety, in one language, as approved by the sites:
/// answers are not read in real time, call the site (`{phone}` is replaced by its number), and
/// which symptoms need a call now.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Safety {
    pub notice: String,
    pub urgent_intro: String,
    pub urgent: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleHeader {
    sse_target_days: u32,
    sse_window_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReminders {
    send_from: String,
    send_until: String,
    digest_at: String,
    plan: Vec<ReminderRule>,
}

/// Where a reminder is anchored: the window's opening or its closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderEdge {
    Open,
    Close,
}

/// One planned reminder of a visit: `days` after (or, negative, before) the window edge.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderRule {
    pub kind: String,
    pub from: ReminderEdge,
    pub days: i32,
}

/// The reminder plan: sending hours (study time), the daily digest time, and per visit the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderPlan {
    pub send_from: chrono::NaiveTime,
    pub send_until: chrono::NaiveTime,
    pub digest_at: chrono::NaiveTime,
    pub default_rules: Vec<ReminderRule>,
    /// Visit codes whose rules differ from the default.
    pub per_visit: BTreeMap<String, Vec<ReminderRule>>,
}

impl ReminderPlan {
    pub fn rules_for(&self, visit: &str) -> &[ReminderRule] {
        self.per_visit.get(visit).unwrap_or(&self.default_rules)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVisit {
    code: String,
    label: BTreeMap<String, String>,
    /// "enrolment", "randomization" or "visit:<code>" (an earlier visit's target).
    anchor: String,
    #[serde(default)]
    months: u32,
    #[serde(default)]
    weeks: u32,
    #[serde(default)]
    days: u32,
    #[serde(default)]
    window_before_days: u32,
    #[serde(default)]
    window_after_days: u32,
    #[serde(default)]
    until_randomization_days: u32,
    grace_days: u32,
    questionnaires: Vec<String>,
    #[serde(default)]
    reminders: Option<Vec<ReminderRule>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StudyHeader {
    id: String,
    name: String,
    time_zone: String,
    languages: Vec<String>,
    id_pattern: String,
    /// The first day participants could be enrolled (YYYY-MM-DD); earlier enrolment dates are
    /// refused.
    #[serde(default)]
    start_date: Option<chrono::NaiveDate>,
    /// The sender's name on participant emails (default: the study's name).
    #[serde(default)]
    email_sender: Option<String>,
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

/// At least one language, each a BCP 47 tag, none twice. (Whether pages and emails have texts
/// in it is checked with the build's texts: `crate::study::check_languages`.)
fn check_languages(languages: &[String]) -> Result<(), Problem> {
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
fn check_sites(sites: &[Site]) -> Result<(), Problem> {
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
fn check_safety(raw: &StudyFile) -> Result<(), Problem> {
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

fn parse_reminders(raw: &StudyFile) -> Result<ReminderPlan, (String, String)> {
    let time = |field: &str, s: &str| {
        chrono::NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| {
            (
                format!("reminders.{field}"),
                format!("{s:?} is not a time as HH:MM"),
            )
        })
    };
    let r = &raw.reminders;
    let send_from = time("send_from", &r.send_from)?;
    let send_until = time("send_until", &r.send_until)?;
    let digest_at = time("digest_at", &r.digest_at)?;
    if send_from >= send_until {
        return Err((
            "reminders.send_until".into(),
            "must be later than send_from".into(),
        ));
    }
    let check_rules = |field: &str, rules: &[ReminderRule]| -> Result<(), (String, String)> {
        let mut kinds = HashSet::new();
        for (i, rule) in rules.iter().enumerate() {
            if rule.kind.is_empty()
                || !rule
                    .kind
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            {
                return Err((
                    format!("{field}[{i}].kind"),
                    format!("{:?} must be lower-case letters and '_'", rule.kind),
                ));
            }
            if !kinds.insert(rule.kind.as_str()) {
                return Err((
                    format!("{field}[{i}].kind"),
                    format!("{:?} is listed twice", rule.kind),
                ));
            }
            if !(-60..=60).contains(&rule.days) {
                return Err((
                    format!("{field}[{i}].days"),
                    "must be between -60 and 60".into(),
                ));
            }
        }
        Ok(())
    };
    check_rules("reminders.plan", &r.plan)?;
    let mut per_visit = BTreeMap::new();
    for (i, v) in raw.visits.iter().enumerate() {
        if let Some(rules) = &v.reminders {
            check_rules(&format!("visits[{i}].reminders"), rules)?;
            per_visit.insert(v.code.clone(), rules.clone());
        }
    }
    Ok(ReminderPlan {
        send_from,
        send_until,
        digest_at,
        default_rules: r.plan.clone(),
        per_visit,
    })
}

type VisitTables = (Protocol, BTreeMap<String, BTreeMap<String, String>>);

fn parse_visits(
    raw: &StudyFile,
    tz: Tz,
    languages: &[String],
) -> Result<VisitTables, (String, String)> {
    let mut specs: Vec<VisitSpec> = Vec::new();
    let mut labels = BTreeMap::new();
    let mut seen = HashSet::new();
    for (i, v) in raw.visits.iter().enumerate() {
        let field = |f: &str| format!("visits[{i}].{f}");
        check_visit(i, v, languages, &mut seen)?;
        let (anchor, anchor_visit) = match v.anchor.as_str() {
            "enrolment" => (Anchor::Enrolment, None),
            "randomization" => (Anchor::Randomization, None),
            other => match other.strip_prefix("visit:") {
                Some(code) if specs.iter().any(|s| s.code == code) => {
                    (Anchor::Visit, Some(code.to_string()))
                }
                Some(code) => {
                    return Err((
                        field("anchor"),
                        format!("{code:?} is not an earlier visit of this file"),
                    ));
                }
                None => {
                    return Err((
                        field("anchor"),
                        format!(
                            "{other:?} is not \"enrolment\", \"randomization\" or \"visit:<earlier visit code>\""
                        ),
                    ));
                }
            },
        };
        let days = v
            .weeks
            .checked_mul(7)
            .and_then(|w| w.checked_add(v.days))
            .filter(|d| *d <= 3660 && v.months <= 120)
            .ok_or_else(|| (field("days"), "the offset must be at most 10 years".into()))?;
        let spec = VisitSpec {
            code: v.code.clone(),
            anchor,
            anchor_visit,
            months: v.months,
            days,
            before_days: v.window_before_days,
            after_days: v.window_after_days,
            until_randomization_days: v.until_randomization_days,
            grace_days: v.grace_days,
            questionnaires: v.questionnaires.clone(),
        };
        if i == 0 && !spec.is_baseline() {
            return Err((
                field("anchor"),
                "the first visit must be the baseline: anchor \"enrolment\" with no offset".into(),
            ));
        }
        if i > 0 && spec.is_baseline() {
            return Err((
                field("anchor"),
                "only the first visit is the baseline; give an offset (months, weeks or days)"
                    .into(),
            ));
        }
        labels.insert(v.code.clone(), v.label.clone());
        specs.push(spec);
    }
    if specs.is_empty() {
        return Err((
            "visits[0].anchor".into(),
            "the first visit must be the baseline, anchored at \"enrolment\"".into(),
        ));
    }
    check_visit_order(&specs, tz)?;
    if raw.schedule.sse_window_days == 0 {
        return Err((
            "schedule.sse_window_days".into(),
            "must be at least 1".into(),
        ));
    }
    Ok((
        Protocol {
            time_zone: tz,
            visits: specs,
            sse_target_days: raw.schedule.sse_target_days,
            sse_window_days: raw.schedule.sse_window_days,
        },
        labels,
    ))
}

/// Follow-up visits come in the order of their targets, each after the one before, for any
/// enrolment and randomization day: checked on days where calendar months are shortest and longest
/// (31 January, a leap year) and with randomization on, and weeks after, the enrolment day.
fn check_visit_order(specs: &[VisitSpec], tz: Tz) -> Result<(), Problem> {
    let protocol = Protocol {
        time_zone: tz,
        visits: specs.to_vec(),
        sse_target_days: 0,
        sse_window_days: 1,
    };
    let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap_or_default();
    for (enrolled, randomized) in [
        ("2024-01-31", "2024-01-31"),
        ("2025-01-31", "2025-03-14"),
        ("2024-12-15", "2024-12-16"),
    ] {
        let mut previous: Option<(&str, chrono::NaiveDate)> = None;
        for (i, spec) in specs.iter().enumerate().skip(1) {
            let Some(w) =
                super::schedule::plan(&protocol, spec, day(enrolled), Some(day(randomized)))
            else {
                continue;
            };
            if let Some((code, target)) = previous
                && w.target <= target
            {
                return Err(fail(
                    &format!("visits[{i}]"),
                    format!(
                        "its target ({}) would not come after {code}'s ({target}) for a participant \
                         enrolled on {enrolled} and randomized on {randomized}: list visits in time order",
                        w.target
                    ),
                ));
            }
            previous = Some((spec.code.as_str(), w.target));
        }
    }
    Ok(())
}

/// Arms have unique codes (letters, digits, '_') and a label in every study language.
fn check_arms(arms: &[Arm], languages: &[String]) -> Result<(), Problem> {
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
fn check_vocabularies(raw: &StudyFile) -> Result<(), Problem> {
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
fn check_lesion_limits(l: &LesionLimits) -> Result<(), Problem> {
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

/// One visit's own fields: a unique code, a label in every language, questionnaires given as
/// key@version.
fn check_visit(
    i: usize,
    v: &RawVisit,
    languages: &[String],
    seen: &mut HashSet<String>,
) -> Result<(), (String, String)> {
    let field = |f: &str| format!("visits[{i}].{f}");
    if v.code.is_empty()
        || !v
            .code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err((
            field("code"),
            format!("{:?} must be letters, digits or '_'", v.code),
        ));
    }
    if !seen.insert(v.code.clone()) {
        return Err((
            field("code"),
            format!("visit code {:?} is listed twice", v.code),
        ));
    }
    for lang in languages {
        if v.label.get(lang).is_none_or(|l| l.trim().is_empty()) {
            return Err((field("label"), format!("needs a label in {lang:?}")));
        }
    }
    if v.questionnaires.is_empty() {
        return Err((
            field("questionnaires"),
            "at least one questionnaire (key@version)".into(),
        ));
    }
    for (j, q) in v.questionnaires.iter().enumerate() {
        if q.split_once('@')
            .is_none_or(|(k, ver)| k.is_empty() || ver.is_empty())
        {
            return Err((
                format!("visits[{i}].questionnaires[{j}]"),
                format!("{q:?} is not key@version"),
            ));
        }
    }
    Ok(())
}

impl Study {
    /// The first study id of a site, as an example of the pattern ("HERMES-ZAS-001").
    pub fn example_study_id(&self, site: &str) -> String {
        let (number_token, digits) = self.id_number_token();
        self.id_pattern
            .replace("{site}", site)
            .replace(&number_token, &format!("{:0digits$}", 1))
    }

    /// The number placeholder of the id pattern (`{nnn}`) and its digit count.
    fn id_number_token(&self) -> (String, usize) {
        let digits = self
            .id_pattern
            .split('{')
            .filter_map(|p| p.split_once('}').map(|(inner, _)| inner))
            .find(|inner| !inner.is_empty() && inner.chars().all(|c| c == 'n'))
            .map_or(0, str::len);
        (format!("{{{}}}", "n".repeat(digits)), digits)
    }

    /// Check a study id against the pattern for the participant's site.
    pub fn check_study_id(
        &self,
        study_id: &str,
        site: &str,
    ) -> Result<(), crate::domain::problem::Problem> {
        let (number_token, digits) = self.id_number_token();
        let expected = self.id_pattern.replace("{site}", site);
        let (prefix, suffix) = expected
            .split_once(&number_token)
            .unwrap_or((&expected, ""));
        let ok = study_id
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|n| n.len() == digits && n.chars().all(|c| c.is_ascii_digit()));
        if ok {
            Ok(())
        } else {
            Err(crate::domain::problem::Problem::StudyIdPattern {
                given: study_id.to_string(),
                pattern: self.id_pattern.clone(),
                example: self.example_study_id(site),
            })
        }
    }

    pub fn arm(&self, code: &str) -> Option<&Arm> {
        self.arms.iter().find(|a| a.code == code)
    }

    pub fn visit_spec(&self, code: &str) -> Option<&VisitSpec> {
        self.protocol.visits.iter().find(|v| v.code == code)
    }
}

#[cfg(test)]
mod tests;

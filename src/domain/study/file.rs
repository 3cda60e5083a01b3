//! The study file as written (TOML shapes, with serde's defaults); `Study::parse` checks it
//! and turns it into a [`super::Study`]. Nothing outside this folder sees these shapes.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Analgesics, Arm, LesionLimits, ReminderRule, Safety, Site, Term};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StudyFile {
    pub(super) study: StudyHeader,
    /// The SSE rule's numbers (optional: the defaults of `ScheduleHeader`).
    #[serde(default)]
    pub(super) schedule: ScheduleHeader,
    pub(super) reminders: RawReminders,
    pub(super) visits: Vec<RawVisit>,
    pub(super) sites: Vec<Site>,
    /// Safety text per language, shown on every participant page.
    #[serde(default)]
    pub(super) safety: BTreeMap<String, Safety>,
    /// The arms participants are randomized to (none: the study records no arm).
    #[serde(default)]
    pub(super) arms: Vec<Arm>,
    #[serde(default)]
    pub(super) lesions: RawLesions,
    #[serde(default)]
    pub(super) analgesics: Analgesics,
    #[serde(default)]
    pub(super) events: RawEvents,
}

/// `[lesions]` as written: whether lesions apply, their limits and the study's vocabularies.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawLesions {
    pub(super) apply: bool,
    pub(super) at_inclusion: usize,
    pub(super) per_course: usize,
    pub(super) active_max: usize,
    pub(super) locations: Vec<crate::domain::lesions::Location>,
    pub(super) reasons: Vec<Term>,
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

/// `[events]`: the kinds staff record (absent: the default of `events::parse_events`), the
/// fields each requires, and the types of symptomatic skeletal event staff choose from (none:
/// no type asked).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawEvents {
    pub(super) kinds: Option<Vec<String>>,
    pub(super) required: Option<BTreeMap<String, Vec<String>>>,
    pub(super) sse_types: Vec<Term>,
}

/// `[schedule]`: after the first SSE, the next visit's target is `sse_target_days` after its
/// opening and its window lasts `sse_window_days`. Defaults: 7 and 14 (HERMES's rule).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct ScheduleHeader {
    pub(super) sse_target_days: u32,
    pub(super) sse_window_days: u32,
}

impl Default for ScheduleHeader {
    fn default() -> Self {
        ScheduleHeader {
            sse_target_days: 7,
            sse_window_days: 14,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReminders {
    pub(super) send_from: String,
    pub(super) send_until: String,
    pub(super) digest_at: String,
    pub(super) plan: Vec<ReminderRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVisit {
    pub(super) code: String,
    pub(super) label: BTreeMap<String, String>,
    /// "enrolment", "randomization" or "visit:<code>" (an earlier visit's target).
    pub(super) anchor: String,
    #[serde(default)]
    pub(super) months: u32,
    #[serde(default)]
    pub(super) weeks: u32,
    #[serde(default)]
    pub(super) days: u32,
    #[serde(default)]
    pub(super) window_before_days: u32,
    #[serde(default)]
    pub(super) window_after_days: u32,
    #[serde(default)]
    pub(super) until_randomization_days: u32,
    pub(super) grace_days: u32,
    pub(super) questionnaires: Vec<String>,
    #[serde(default)]
    pub(super) reminders: Option<Vec<ReminderRule>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StudyHeader {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) time_zone: String,
    pub(super) languages: Vec<String>,
    pub(super) id_pattern: String,
    /// The first day participants could be enrolled (YYYY-MM-DD); earlier enrolment dates are
    /// refused.
    #[serde(default)]
    pub(super) start_date: Option<chrono::NaiveDate>,
    /// The sender's name on participant emails (default: the study's name).
    #[serde(default)]
    pub(super) email_sender: Option<String>,
}

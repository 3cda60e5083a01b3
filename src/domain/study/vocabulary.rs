//! What a study file names for staff and participants: sites, arms, vocabulary terms with
//! labels per language, lesion limits, analgesics and the safety text.

use std::collections::BTreeMap;

use serde::Deserialize;

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

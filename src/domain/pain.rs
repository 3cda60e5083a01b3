//! Per-lesion pain over time: the "assess for SSE" flag (a rise of 2 or more from the lesion's
//! first NRS), and the international consensus endpoints (Chow 2012, rules as data in
//! rules/pain-response-consensus.json) fitted to HERMES (docs/pain-response.md): each lesion's
//! baseline is its last NRS on or before its reference day (radiotherapy for an irradiated
//! lesion, else randomization); readings are placed by the day they were filled in; a response
//! category only for irradiated lesions whose baseline worst pain is 2 or more (otherwise
//! `not_evaluable`, with the reason); pain progression for every followed lesion in both arms,
//! on pain alone (flagged) when an analgesic dose is unknown.

use chrono::NaiveDate;
use serde::Deserialize;

/// A rise of this many points from the lesion's first NRS is flagged for an SSE assessment.
pub const SSE_FLAG_RISE: i64 = 2;

pub fn assess_for_sse(first: i64, current: i64) -> bool {
    current - first >= SSE_FLAG_RISE
}

/// One condition: every bound given must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub pain_max: Option<i64>,
    pub pain_change_min: Option<i64>,
    pub pain_change_max: Option<i64>,
    pub omed_change_pct_min: Option<f64>,
    pub omed_change_pct_max: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub code: String,
    pub label: String,
    pub any: Vec<Condition>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusRules {
    pub name: String,
    pub reference: String,
    pub notes: String,
    pub categories: Vec<Category>,
    pub otherwise: String,
}

pub const CONSENSUS_JSON: &str = include_str!("../../rules/pain-response-consensus.json");

impl ConsensusRules {
    pub fn shipped() -> Result<Self, String> {
        serde_json::from_str(CONSENSUS_JSON)
            .map_err(|e| format!("rules/pain-response-consensus.json: {e}"))
    }

    /// The category for a lesion: pain and dose at baseline and now.
    pub fn categorize(&self, baseline_pain: i64, pain: i64, baseline_omed: f64, omed: f64) -> &str {
        let pain_change = pain - baseline_pain;
        let omed_change_pct = if baseline_omed > 0.0 {
            (omed - baseline_omed) / baseline_omed * 100.0
        } else if omed > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        let holds = |c: &Condition| {
            c.pain_max.is_none_or(|m| pain <= m)
                && c.pain_change_min.is_none_or(|m| pain_change >= m)
                && c.pain_change_max.is_none_or(|m| pain_change <= m)
                && c.omed_change_pct_min.is_none_or(|m| omed_change_pct >= m)
                && c.omed_change_pct_max.is_none_or(|m| omed_change_pct <= m)
        };
        self.categories
            .iter()
            .find(|cat| cat.any.iter().any(holds))
            .map_or(self.otherwise.as_str(), |cat| cat.code.as_str())
    }
}

impl ConsensusRules {
    /// Pain progression by the consensus definition (the `progression` category's conditions).
    pub fn progression(
        &self,
        baseline_pain: i64,
        pain: i64,
        baseline_omed: f64,
        omed: f64,
    ) -> bool {
        self.categories
            .iter()
            .find(|c| c.code == "progression")
            .is_some_and(|cat| {
                let only = ConsensusRules {
                    categories: vec![cat.clone()],
                    otherwise: String::new(),
                    ..self.clone()
                };
                only.categorize(baseline_pain, pain, baseline_omed, omed) == "progression"
            })
    }
}

impl ConsensusRules {
    /// Pain progression judged on pain alone, when an analgesic dose is unknown: the pain bounds
    /// of the `progression` conditions that need a rise in pain (consensus: up by 2 or more),
    /// the analgesic condition not assessed. A rise with a 25 % higher dose would be
    /// indeterminate by the consensus; without the dose it cannot be told apart
    /// (docs/pain-response.md: what the sponsor must confirm).
    pub fn pain_only_progression(&self, baseline_pain: i64, pain: i64) -> bool {
        let change = pain - baseline_pain;
        self.categories
            .iter()
            .filter(|c| c.code == "progression")
            .flat_map(|c| c.any.iter())
            .filter(|c| c.pain_change_min.is_some_and(|m| m > 0))
            .any(|c| {
                c.pain_change_min.is_none_or(|m| change >= m)
                    && c.pain_change_max.is_none_or(|m| change <= m)
                    && c.pain_max.is_none_or(|m| pain <= m)
            })
    }
}

/// The response category of a reading that cannot be judged (the reason says why).
pub const NOT_EVALUABLE: &str = "not_evaluable";

/// What a progression judgement rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressionBasis {
    /// The consensus definition: pain and both analgesic doses.
    PainAndAnalgesics,
    /// A dose (baseline or now) is not recorded: pain alone (a rise of 2 or more), the
    /// analgesic condition not assessed.
    PainOnly,
}

impl ProgressionBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            ProgressionBasis::PainAndAnalgesics => "pain_and_analgesics",
            ProgressionBasis::PainOnly => "pain_only",
        }
    }
}

/// The consensus evaluates response only for lesions painful enough at baseline.
pub const MIN_BASELINE_PAIN: i64 = 2;

/// One worst-pain reading of a lesion.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub visit: String,
    /// The day it was filled in (study time zone).
    pub day: NaiveDate,
    pub value: i64,
    /// Oral morphine equivalent at that visit, when recorded.
    pub omed: Option<f64>,
}

/// What the endpoints say of one reading after the lesion's baseline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Judged {
    /// Consensus response category (irradiated lesions after radiotherapy), else
    /// `not_evaluable` (with the reason in `not_evaluable`).
    pub category: Option<String>,
    /// Why the category is `not_evaluable`: `before_reference`, `not_irradiated`,
    /// `no_baseline`, `baseline_pain_below_2`, `no_analgesic_dose`.
    pub not_evaluable: Option<&'static str>,
    /// Pain progression; none before the reference day or without a baseline.
    pub progression: Option<bool>,
    /// What `progression` rests on: the consensus definition, or pain alone when a dose is
    /// unknown.
    pub progression_basis: Option<ProgressionBasis>,
}

impl Judged {
    fn not_evaluable(reason: &'static str) -> Judged {
        Judged {
            category: Some(NOT_EVALUABLE.into()),
            not_evaluable: Some(reason),
            ..Judged::default()
        }
    }
}

/// The lesion's baseline: its last reading on or before the reference day.
pub fn baseline(readings: &[Reading], reference: NaiveDate) -> Option<&Reading> {
    readings
        .iter()
        .filter(|r| r.day <= reference)
        .max_by_key(|r| r.day)
}

/// Judge a reading against the lesion's baseline. `irradiated_on`: the lesion's radiotherapy
/// day, if it was irradiated; `reference`: that day, else the randomization day.
pub fn judge(
    rules: &ConsensusRules,
    base: Option<&Reading>,
    r: &Reading,
    reference: NaiveDate,
    irradiated_on: Option<NaiveDate>,
) -> Judged {
    if r.day <= reference {
        return Judged::not_evaluable("before_reference");
    }
    let Some(b) = base else {
        return Judged::not_evaluable("no_baseline");
    };
    let doses = b.omed.zip(r.omed);
    let (progression, basis) = match doses {
        Some((d0, d1)) => (
            rules.progression(b.value, r.value, d0, d1),
            ProgressionBasis::PainAndAnalgesics,
        ),
        None => (
            rules.pain_only_progression(b.value, r.value),
            ProgressionBasis::PainOnly,
        ),
    };
    let reason = match (irradiated_on, doses) {
        (None, _) => Some("not_irradiated"),
        (Some(_), _) if b.value < MIN_BASELINE_PAIN => Some("baseline_pain_below_2"),
        (Some(_), None) => Some("no_analgesic_dose"),
        (Some(_), Some(_)) => None,
    };
    let judged = match (reason, doses) {
        (None, Some((d0, d1))) => Judged {
            category: Some(rules.categorize(b.value, r.value, d0, d1).to_string()),
            ..Judged::default()
        },
        (reason, _) => Judged::not_evaluable(reason.unwrap_or("no_analgesic_dose")),
    };
    Judged {
        progression: Some(progression),
        progression_basis: Some(basis),
        ..judged
    }
}

/// Days from the reference day to the first reading judged progression, if any.
pub fn time_to_progression(
    rules: &ConsensusRules,
    readings: &[Reading],
    reference: NaiveDate,
    irradiated_on: Option<NaiveDate>,
) -> Option<i64> {
    let base = baseline(readings, reference);
    readings
        .iter()
        .filter(|r| judge(rules, base, r, reference, irradiated_on).progression == Some(true))
        .map(|r| (r.day - reference).num_days())
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(day: &str, value: i64, omed: Option<f64>) -> Reading {
        Reading {
            visit: day.into(),
            day: day.parse().expect("day"),
            value,
            omed,
        }
    }

    /// HERMES lesions are nearly pain-free at inclusion (NRS <= 2): a pain-free irradiated lesion
    /// is not a "complete response", it is not evaluable for response; progression is evaluated
    /// in both arms, from the last NRS on or before radiotherapy (arm A: randomization).
    #[test]
    fn endpoints_fit_lesions_that_start_nearly_pain_free() {
        let rules = ConsensusRules::shipped().expect("rules");
        let rt: NaiveDate = "2026-02-01".parse().expect("d");
        let readings = vec![
            reading("2026-01-10", 1, Some(0.0)),
            reading("2026-01-30", 3, Some(0.0)),
            reading("2026-03-01", 0, Some(0.0)),
            reading("2026-05-01", 6, Some(0.0)),
        ];
        let base = baseline(&readings, rt);
        assert_eq!(
            base.map(|b| b.value),
            Some(3),
            "the last NRS on or before radiotherapy"
        );
        // (reading, irradiated, expected category, not evaluable, progression)
        let ne = Some(NOT_EVALUABLE);
        let cases = [
            (0, Some(rt), ne, Some("before_reference"), None),
            (2, Some(rt), Some("complete"), None, Some(false)),
            (3, Some(rt), Some("progression"), None, Some(true)),
            (3, None, ne, Some("not_irradiated"), Some(true)),
        ];
        for (i, irradiated, category, reason, progression) in cases {
            let j = judge(&rules, base, &readings[i], rt, irradiated);
            assert_eq!(j.category.as_deref(), category, "reading {i}");
            assert_eq!(j.not_evaluable, reason, "reading {i}");
            assert_eq!(j.progression, progression, "reading {i}");
        }
        // Baseline pain 1: not evaluable for response, progression still judged.
        let low = vec![
            reading("2026-01-30", 1, Some(0.0)),
            reading("2026-03-01", 0, Some(0.0)),
        ];
        let j = judge(&rules, baseline(&low, rt), &low[1], rt, Some(rt));
        assert_eq!(j.not_evaluable, Some("baseline_pain_below_2"));
        assert_eq!(j.progression, Some(false));
        // No dose recorded: no response category (the reason says so); progression judged on
        // pain alone, flagged as such.
        let no_dose = vec![
            reading("2026-01-30", 4, None),
            reading("2026-03-01", 7, None),
        ];
        let j = judge(&rules, baseline(&no_dose, rt), &no_dose[1], rt, Some(rt));
        assert_eq!(
            (
                j.category.as_deref(),
                j.not_evaluable,
                j.progression,
                j.progression_basis
            ),
            (
                ne,
                Some("no_analgesic_dose"),
                Some(true),
                Some(ProgressionBasis::PainOnly)
            )
        );
        // No reading before the reference day: no baseline.
        let late = vec![reading("2026-03-01", 4, Some(0.0))];
        assert_eq!(
            judge(&rules, baseline(&late, rt), &late[0], rt, None).not_evaluable,
            Some("no_baseline")
        );
        assert_eq!(
            time_to_progression(&rules, &readings, rt, Some(rt)),
            Some(89)
        );
    }

    /// Arm A: lesions not irradiated, no dose recorded. Progression is judged on pain alone (a
    /// rise of 2 or more from the baseline), flagged pain_only; with both doses the consensus
    /// definition holds (a 25 % higher dose turns a rise of 3 into indeterminate).
    #[test]
    fn without_a_dose_progression_rests_on_pain_alone() {
        let rules = ConsensusRules::shipped().expect("rules");
        let randomized: NaiveDate = "2026-01-15".parse().expect("d");
        use ProgressionBasis::*;
        // (baseline NRS, dose then, NRS, dose now) -> (progression, basis)
        let cases = [
            (1, None, 4, None, true, PainOnly),
            (0, None, 5, None, true, PainOnly),
            (1, None, 3, None, true, PainOnly),
            (1, None, 2, None, false, PainOnly),
            (2, None, 0, None, false, PainOnly),
            (1, Some(30.0), 4, None, true, PainOnly),
            (1, Some(30.0), 4, Some(30.0), true, PainAndAnalgesics),
            (1, Some(30.0), 4, Some(60.0), false, PainAndAnalgesics),
            (1, Some(30.0), 2, Some(60.0), true, PainAndAnalgesics),
        ];
        for (b, d0, v, d1, want, basis) in cases {
            let readings = vec![reading("2026-01-10", b, d0), reading("2026-02-15", v, d1)];
            let j = judge(
                &rules,
                baseline(&readings, randomized),
                &readings[1],
                randomized,
                None,
            );
            let what = format!("{b} ({d0:?}) -> {v} ({d1:?})");
            assert_eq!(j.progression, Some(want), "{what}");
            assert_eq!(j.progression_basis, Some(basis), "{what}");
            assert_eq!(j.category.as_deref(), Some(NOT_EVALUABLE), "{what}");
            assert_eq!(j.not_evaluable, Some("not_irradiated"), "{what}");
        }
    }

    #[test]
    fn sse_flag_on_a_rise_of_two() {
        assert!(!assess_for_sse(1, 2));
        assert!(assess_for_sse(1, 3));
        assert!(assess_for_sse(0, 10));
        assert!(!assess_for_sse(5, 0));
    }

    #[test]
    fn consensus_categories() {
        let rules = ConsensusRules::shipped().expect("rules");
        // (baseline pain, pain, baseline OMED, OMED, expected)
        let cases = [
            (6, 0, 30.0, 30.0, "complete"),
            (6, 0, 30.0, 20.0, "complete"),
            (6, 0, 30.0, 40.0, "indeterminate"),
            (6, 4, 30.0, 30.0, "partial"),
            (6, 6, 40.0, 30.0, "partial"),
            (6, 7, 40.0, 30.0, "indeterminate"),
            (3, 5, 30.0, 30.0, "progression"),
            (3, 5, 30.0, 33.0, "progression"),
            (3, 4, 30.0, 40.0, "progression"),
            (3, 3, 0.0, 10.0, "progression"),
            (3, 2, 30.0, 30.0, "indeterminate"),
        ];
        for (bp, p, bo, o, expected) in cases {
            assert_eq!(
                rules.categorize(bp, p, bo, o),
                expected,
                "pain {bp}→{p}, OMED {bo}→{o}"
            );
        }
    }
}

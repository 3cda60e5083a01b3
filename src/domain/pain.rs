//! Per-lesion pain over time: the change in worst pain from the lesion's first NRS, the
//! "assess for SSE" flag (a rise of 2 or more), and the international consensus response
//! category for irradiated lesions — its rules are data (rules/pain-response-consensus.json).

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

#[cfg(test)]
mod tests {
    use super::*;

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

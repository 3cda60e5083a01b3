//! The study's reminder plan: sending hours, the digest time, and the rules per visit.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use super::file::StudyFile;

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

pub(super) fn parse_reminders(raw: &StudyFile) -> Result<ReminderPlan, (String, String)> {
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

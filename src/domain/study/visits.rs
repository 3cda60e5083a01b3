//! The visits of the study file: anchors, offsets, windows and their order, turned into the
//! [`Protocol`] the schedule rules read.

use std::collections::{BTreeMap, HashSet};

use chrono_tz::Tz;

use super::file::{RawVisit, StudyFile};
use super::{Problem, fail};
use crate::domain::schedule::{Anchor, Protocol, VisitSpec};

pub(super) type VisitTables = (Protocol, BTreeMap<String, BTreeMap<String, String>>);

pub(super) fn parse_visits(
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
pub(super) fn check_visit_order(specs: &[VisitSpec], tz: Tz) -> Result<(), Problem> {
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
            let Some(w) = crate::domain::schedule::plan(
                &protocol,
                spec,
                day(enrolled),
                Some(day(randomized)),
            ) else {
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

/// One visit's own fields: a unique code, a label in every language, questionnaires given as
/// key@version.
pub(super) fn check_visit(
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

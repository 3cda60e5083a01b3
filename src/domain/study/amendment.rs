//! What a protocol amendment changes (a study file replaced under the same study id), and
//! which of those changes touch enrolled participants and so need an explicit confirmation:
//! a site with participants removed, a visit that enrolled participants have removed or moved,
//! a language in use removed (docs/study-format.md, "Amendments").

use std::collections::BTreeSet;

use serde::Serialize;

use super::Study;
use crate::domain::schedule::VisitSpec;

/// The difference between two study files, by what it means.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangeSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sites_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sites_removed: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub languages_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub languages_removed: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub visits_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub visits_removed: Vec<String>,
    /// Visits whose timing changed (anchor, offset, window, grace).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub visits_moved: Vec<String>,
    /// Visits whose questionnaires changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub visits_questionnaires: Vec<String>,
    /// Other sections that changed (reminders, safety, arms, lesions, names…).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<String>,
    /// The previous file was not kept (databases registered before amendments were diffed):
    /// only what the database itself shows could be checked.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub previous_unknown: bool,
}

/// What enrolled participants use: sites with participants, languages of participants (and of
/// their responses), visit codes they have.
#[derive(Debug, Clone, Default)]
pub struct InUse {
    pub sites: BTreeSet<String>,
    pub languages: BTreeSet<String>,
    pub visits: BTreeSet<String>,
}

fn added(before: &[String], after: &[String]) -> Vec<String> {
    after
        .iter()
        .filter(|x| !before.contains(x))
        .cloned()
        .collect()
}

fn timing(v: &VisitSpec) -> impl PartialEq + '_ {
    (
        v.anchor,
        &v.anchor_visit,
        v.months,
        v.days,
        v.before_days,
        v.after_days,
        v.until_randomization_days,
        v.grace_days,
    )
}

/// The changes from `previous` to `next` (pure). Without the previous file, the sets are
/// taken against what is in use (everything in use that the new file lacks is "removed").
pub fn changes(previous: Option<&Study>, next: &Study, in_use: &InUse) -> ChangeSet {
    let sites = |s: &Study| s.sites.iter().map(|x| x.code.clone()).collect::<Vec<_>>();
    let visits = |s: &Study| {
        s.protocol
            .visits
            .iter()
            .map(|v| v.code.clone())
            .collect::<Vec<_>>()
    };
    let Some(prev) = previous else {
        let missing = |used: &BTreeSet<String>, now: Vec<String>| {
            used.iter()
                .filter(|x| !now.contains(x))
                .cloned()
                .collect::<Vec<_>>()
        };
        return ChangeSet {
            sites_removed: missing(&in_use.sites, sites(next)),
            languages_removed: missing(&in_use.languages, next.languages.clone()),
            visits_removed: missing(&in_use.visits, visits(next)),
            previous_unknown: true,
            ..ChangeSet::default()
        };
    };
    let both: Vec<(&VisitSpec, &VisitSpec)> = prev
        .protocol
        .visits
        .iter()
        .filter_map(|a| {
            next.protocol
                .visits
                .iter()
                .find(|b| b.code == a.code)
                .map(|b| (a, b))
        })
        .collect();
    let mut other = Vec::new();
    if prev.reminders != next.reminders {
        other.push("reminders".to_string());
    }
    if prev.safety != next.safety {
        other.push("safety".into());
    }
    if prev.arms != next.arms {
        other.push("arms".into());
    }
    if prev.lesion_limits != next.lesion_limits {
        other.push("lesions".into());
    }
    if prev.name != next.name || prev.visit_labels != next.visit_labels {
        other.push("names and labels".into());
    }
    if prev
        .sites
        .iter()
        .any(|a| next.sites.iter().any(|b| b.code == a.code && b != a))
    {
        other.push("site details".into());
    }
    if prev.protocol.sse_target_days != next.protocol.sse_target_days
        || prev.protocol.sse_window_days != next.protocol.sse_window_days
    {
        other.push("SSE visit rule".into());
    }
    ChangeSet {
        sites_added: added(&sites(prev), &sites(next)),
        sites_removed: added(&sites(next), &sites(prev)),
        languages_added: added(&prev.languages, &next.languages),
        languages_removed: added(&next.languages, &prev.languages),
        visits_added: added(&visits(prev), &visits(next)),
        visits_removed: added(&visits(next), &visits(prev)),
        visits_moved: both
            .iter()
            .filter(|(a, b)| timing(a) != timing(b))
            .map(|(a, _)| a.code.clone())
            .collect(),
        visits_questionnaires: both
            .iter()
            .filter(|(a, b)| a.questionnaires != b.questionnaires)
            .map(|(a, _)| a.code.clone())
            .collect(),
        other,
        previous_unknown: false,
    }
}

/// The changes that touch enrolled participants, each said in a sentence; empty: the
/// amendment may be applied without confirmation.
pub fn needs_confirmation(c: &ChangeSet, in_use: &InUse) -> Vec<String> {
    let mut out = Vec::new();
    for s in c.sites_removed.iter().filter(|s| in_use.sites.contains(*s)) {
        out.push(format!("site {s} is removed but has participants"));
    }
    for l in c
        .languages_removed
        .iter()
        .filter(|l| in_use.languages.contains(*l))
    {
        out.push(format!("language {l} is removed but participants use it"));
    }
    for v in c
        .visits_removed
        .iter()
        .filter(|v| in_use.visits.contains(*v))
    {
        out.push(format!(
            "visit {v} is removed but enrolled participants have it"
        ));
    }
    for v in c.visits_moved.iter().filter(|v| in_use.visits.contains(*v)) {
        out.push(format!(
            "visit {v} is moved (its timing changed) and enrolled participants have it"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn study(text: &str) -> Study {
        Study::parse("t.toml", text).expect("study")
    }

    fn hermes() -> String {
        include_str!("../../../studies/hermes.toml").to_string()
    }

    fn used() -> InUse {
        InUse {
            sites: ["ZAS".to_string()].into(),
            languages: ["nl".to_string(), "fr".to_string()].into(),
            visits: ["BL", "M1", "M3"].map(String::from).into(),
        }
    }

    /// Each kind of change, and whether it needs a confirmation while participants use it.
    #[test]
    fn changes_that_touch_enrolled_participants_need_confirmation() {
        let base = hermes();
        let before = study(&base);
        let zas_block = base
            .find("[[sites]]\ncode = \"ZAS\"")
            .and_then(|at| {
                base[at + 1..]
                    .find("[[sites]]")
                    .map(|end| (at, at + 1 + end))
            })
            .expect("the ZAS block is followed by another site");
        let without_zas = format!("{}{}", &base[..zas_block.0], &base[zas_block.1..]);
        let m3 = base.find("code = \"M3\"").expect("M3");
        let months = base[m3..].find("months = 3").expect("months") + m3;
        let moved_m3 = format!("{}months = 4{}", &base[..months], &base[months + 10..]);
        for (what, text, expect_changes, expect_refusals) in [
            ("unchanged", base.clone(), ChangeSet::default(), 0),
            (
                "a site with participants removed",
                without_zas,
                ChangeSet {
                    sites_removed: vec!["ZAS".into()],
                    ..ChangeSet::default()
                },
                1,
            ),
            (
                "a visit moved",
                moved_m3,
                ChangeSet {
                    visits_moved: vec!["M3".into()],
                    ..ChangeSet::default()
                },
                1,
            ),
        ] {
            let after = study(&text);
            let c = changes(Some(&before), &after, &used());
            assert_eq!(c, expect_changes, "{what}");
            assert_eq!(
                needs_confirmation(&c, &used()).len(),
                expect_refusals,
                "{what}"
            );
        }
        // Without the previous file, what is in use and missing from the new file counts.
        let with_xyz = InUse {
            sites: ["XYZ".to_string()].into(),
            ..used()
        };
        let c = changes(None, &before, &with_xyz);
        assert_eq!(c.sites_removed, ["XYZ"]);
        assert!(c.previous_unknown);
        // Removing a site nobody uses needs no confirmation.
        let c = ChangeSet {
            sites_removed: vec!["AZD".into()],
            ..ChangeSet::default()
        };
        assert!(needs_confirmation(&c, &used()).is_empty());
    }
}

//! What a protocol amendment changes (a study file replaced under the same study id), and
//! which of those changes touch stored data and so need an explicit confirmation
//! (docs/study-format.md, "Amendments"). The rule is exhaustive by construction: the two files
//! are compared field by field in a canonical form (`fields`), and every changed field needs the
//! confirmation once participants are enrolled — unless it is on the short list of fields proven
//! harmless to stored data (`harmless`), or is a code nobody uses. A field added to the format
//! later is guarded until someone argues it onto that list.

use std::collections::{BTreeMap, BTreeSet};

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
    /// Every changed field of the file, by its path in the canonical form (`study.time_zone`,
    /// `visits[M3].months`, `lesions.locations[T5]`), with its value before and after.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// The previous file was not kept (databases registered before amendments were diffed):
    /// only what the database itself shows could be checked.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub previous_unknown: bool,
}

/// One changed field: its path and its value before and after (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
}

/// What stored data uses: sites with participants, languages of participants (and of their
/// responses), visit codes they have, the codes of the study's vocabularies found on lesions
/// and events, and whether anyone is enrolled at all.
#[derive(Debug, Clone, Default)]
pub struct InUse {
    pub sites: BTreeSet<String>,
    pub languages: BTreeSet<String>,
    pub visits: BTreeSet<String>,
    pub lesion_locations: BTreeSet<String>,
    pub high_risk_reasons: BTreeSet<String>,
    pub sse_types: BTreeSet<String>,
    pub arms: BTreeSet<String>,
    pub participants: bool,
}

impl InUse {
    /// The codes stored data uses for a list of coded entries of the file (`sites`, `visits`,
    /// `lesions.locations`…); `None` for a list whose codes are not tracked (then any use of
    /// the study counts).
    fn codes(&self, list: &str) -> Option<&BTreeSet<String>> {
        match list {
            "sites" => Some(&self.sites),
            "visits" => Some(&self.visits),
            "lesions.locations" => Some(&self.lesion_locations),
            "lesions.reasons" => Some(&self.high_risk_reasons),
            "events.sse_types" => Some(&self.sse_types),
            "arms" => Some(&self.arms),
            _ => None,
        }
    }
}

/// The file as a flat map from field path to value: tables by key, lists of entries that have a
/// `code` by that code (`visits[M3].months`) plus their order (`visits#order`), every other
/// value (a list of words, a reminder plan) whole. Comments, spacing and key order vanish.
pub fn fields(source: &str) -> BTreeMap<String, serde_json::Value> {
    use serde_json::Value;
    fn walk(v: &Value, path: &str, out: &mut BTreeMap<String, Value>) {
        let join = |k: &str| {
            if path.is_empty() {
                k.to_string()
            } else {
                format!("{path}.{k}")
            }
        };
        match v {
            Value::Object(map) if !map.is_empty() => {
                for (k, x) in map {
                    walk(x, &join(k), out);
                }
            }
            Value::Array(items)
                if !items.is_empty()
                    && items
                        .iter()
                        .all(|i| i.get("code").is_some_and(Value::is_string)) =>
            {
                let codes: Vec<Value> = items
                    .iter()
                    .filter_map(|i| i.get("code").cloned())
                    .collect();
                out.insert(format!("{path}#order"), Value::Array(codes));
                for item in items {
                    let code = item.get("code").and_then(Value::as_str).unwrap_or_default();
                    walk(item, &format!("{path}[{code}]"), out);
                }
            }
            other => {
                out.insert(path.to_string(), other.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(v) = toml::from_str::<serde_json::Value>(source) {
        walk(&v, "", &mut out);
    }
    out
}

/// Every field that differs between two files (see `fields`).
pub fn field_changes(previous: &str, next: &str) -> Vec<FieldChange> {
    let (a, b) = (fields(previous), fields(next));
    let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    paths
        .into_iter()
        .filter(|p| a.get(*p) != b.get(*p))
        .map(|p| FieldChange {
            path: p.clone(),
            before: a.get(p).cloned(),
            after: b.get(p).cloned(),
        })
        .collect()
}

/// Fields proven harmless to stored data: words people read (names, labels, safety texts, a
/// site's contact details), the reminder rules (reminders not yet sent are planned again; sent
/// ones stay as they were), the display order of vocabularies. Stored data holds codes, dates and
/// answers, never these. `*` stands for one path part or one code.
const HARMLESS: &[&str] = &[
    "study.name",
    "sites#order",
    "sites[*].name",
    "sites[*].city",
    "sites[*].phone",
    "sites[*].email",
    "safety.*",
    "reminders.*",
    "arms#order",
    "arms[*].label.*",
    "visits[*].label.*",
    "lesions.locations#order",
    "lesions.locations[*].label.*",
    "lesions.reasons#order",
    "lesions.reasons[*].label.*",
    "events.sse_types#order",
    "events.sse_types[*].label.*",
    // Which events staff may record from now on, and what a new one must name: events already
    // stored keep what they did.
    "events.kinds",
    "events.required.*",
];

/// The path with every code written `*` (`visits[M3].months` → `visits[*].months`).
fn generic(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_code = false;
    for ch in path.chars() {
        match ch {
            '[' => {
                in_code = true;
                out.push_str("[*");
            }
            ']' => {
                in_code = false;
                out.push(']');
            }
            _ if in_code => {}
            _ => out.push(ch),
        }
    }
    out
}

/// Whether `path` matches `pattern`: `[*]` stands for any code, a final `.*` for one or more
/// path parts.
fn matches(pattern: &str, path: &str) -> bool {
    let path = generic(path);
    match pattern.strip_suffix(".*") {
        Some(prefix) => path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('.')),
        None => path == pattern,
    }
}

/// Whether a change of `path` is harmless to stored data.
pub fn harmless(path: &str) -> bool {
    HARMLESS.iter().any(|p| matches(p, path))
}

/// Whether the codes both lists hold come in another order.
fn relative_order_changed(
    before: &Option<serde_json::Value>,
    after: &Option<serde_json::Value>,
) -> bool {
    let codes = |v: &Option<serde_json::Value>| -> Vec<String> {
        v.as_ref()
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (a, b) = (codes(before), codes(after));
    let common_a: Vec<&String> = a.iter().filter(|c| b.contains(c)).collect();
    let common_b: Vec<&String> = b.iter().filter(|c| a.contains(c)).collect();
    common_a != common_b
}

/// The coded entry a path lies in, if any: (`visits`, `M3`, `.months`) for `visits[M3].months`.
fn entry_of(path: &str) -> Option<(&str, &str, &str)> {
    let open = path.find('[')?;
    let close = open + path[open..].find(']')?;
    Some((&path[..open], &path[open + 1..close], &path[close + 1..]))
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
        fields: field_changes(&prev.source, &next.source),
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

/// The changes that touch stored data, each said in a sentence; empty: the amendment may be
/// applied without confirmation. Without the previous file (`previous_unknown`), what is in use
/// and missing from the new file; otherwise every changed field (`fields`) that is not harmless:
/// a coded entry removed while stored data uses its code, a change inside a visit enrolled
/// participants have, a study language in use removed, and — once anyone is enrolled — any other
/// field (the time zone, the study id pattern, the start date, the lesion limits, the SSE rule, a
/// field this rule does not know yet).
pub fn needs_confirmation(c: &ChangeSet, in_use: &InUse) -> Vec<String> {
    let mut out = Vec::new();
    if c.previous_unknown {
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
        return out;
    }
    let short = |v: &Option<serde_json::Value>| {
        let text = v.as_ref().map_or("(none)".to_string(), |v| v.to_string());
        if text.chars().count() > 60 {
            format!("{}…", text.chars().take(60).collect::<String>())
        } else {
            text
        }
    };
    let mut entries_said = BTreeSet::new();
    for f in &c.fields {
        if harmless(&f.path) {
            continue;
        }
        if let Some(list) = f.path.strip_suffix("#order") {
            // Entries added or removed change the order too (and are judged as entries); the
            // visits' order itself matters (the SSE rule's "next visit").
            if list == "visits"
                && relative_order_changed(&f.before, &f.after)
                && in_use.participants
            {
                out.push(format!(
                    "the order of the visits changed ({} → {}), which applies to stored data",
                    short(&f.before),
                    short(&f.after)
                ));
            }
            continue;
        }
        if let Some((list, code, rest)) = entry_of(&f.path) {
            let used = in_use
                .codes(list)
                .map_or(in_use.participants, |codes| codes.contains(code));
            let code_path = format!("{list}[{code}].code");
            let code_change = c.fields.iter().find(|g| g.path == code_path);
            // An entry just added: nothing stored can use it yet.
            if !used || code_change.is_some_and(|g| g.before.is_none()) {
                continue;
            }
            if code_change.is_some_and(|g| g.after.is_none()) {
                if entries_said.insert(format!("{list}[{code}]")) {
                    out.push(match list {
                        "sites" => format!("site {code} is removed but has participants"),
                        "visits" => {
                            format!("visit {code} is removed but enrolled participants have it")
                        }
                        _ => format!("{list}: code {code} is removed but stored data uses it"),
                    });
                }
            } else if list == "visits" {
                // Anything but its questionnaires is the visit's timing.
                let verb = if rest == ".questionnaires" {
                    "changed"
                } else {
                    "moved"
                };
                out.push(format!(
                    "visit {code} is {verb} ({}: {} → {}) and enrolled participants have it",
                    rest.trim_start_matches('.'),
                    short(&f.before),
                    short(&f.after)
                ));
            } else {
                out.push(format!(
                    "{} changed ({} → {}) and stored data uses {code}",
                    f.path,
                    short(&f.before),
                    short(&f.after)
                ));
            }
            continue;
        }
        if f.path == "study.languages" {
            for l in c
                .languages_removed
                .iter()
                .filter(|l| in_use.languages.contains(*l))
            {
                out.push(format!("language {l} is removed but participants use it"));
            }
            continue;
        }
        if in_use.participants {
            out.push(format!(
                "{} changed ({} → {}), which applies to stored data",
                f.path,
                short(&f.before),
                short(&f.after)
            ));
        }
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
            lesion_locations: ["T5".to_string()].into(),
            high_risk_reasons: ["size_2cm".to_string()].into(),
            sse_types: ["pathological_fracture".to_string()].into(),
            arms: ["A".to_string()].into(),
            participants: true,
        }
    }

    /// Remove the line holding `needle` (a vocabulary entry written on one line).
    fn without_line(text: &str, needle: &str) -> String {
        text.lines()
            .filter(|l| !l.contains(needle))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every field of the file is harmless or needs the confirmation once participants are
    /// enrolled; each change is named in the change set (#33.3).
    #[test]
    fn every_field_is_harmless_or_needs_the_confirmation() {
        let base = hermes();
        let before = study(&base);
        let cases: Vec<(&str, String, &str, bool)> = vec![
            (
                "the time zone",
                base.replace("Europe/Brussels", "Pacific/Auckland"),
                "study.time_zone",
                true,
            ),
            (
                "the study id pattern",
                base.replace("HERMES-{site}-{nnn}", "HRM-{site}-{nnn}"),
                "study.id_pattern",
                true,
            ),
            (
                "the start date",
                base.replace("start_date = \"2025-02-05\"", "start_date = \"2027-01-01\""),
                "study.start_date",
                true,
            ),
            (
                "a lesion location in use removed",
                without_line(&base, "code = \"T5\""),
                "lesions.locations[T5].code",
                true,
            ),
            (
                "a lesion location nobody uses removed",
                without_line(&base, "code = \"skull\""),
                "lesions.locations[skull].code",
                false,
            ),
            (
                "a high-risk reason in use removed",
                without_line(&base, "code = \"size_2cm\""),
                "lesions.reasons[size_2cm].code",
                true,
            ),
            (
                "an SSE type in use removed",
                without_line(&base, "code = \"pathological_fracture\""),
                "events.sse_types[pathological_fracture].code",
                true,
            ),
            (
                "an SSE type nobody uses removed",
                without_line(&base, "code = \"orthopaedic_surgery\""),
                "events.sse_types[orthopaedic_surgery].code",
                false,
            ),
            (
                "a lesion limit",
                base.replace("active_max = 10", "active_max = 8"),
                "lesions.active_max",
                true,
            ),
            (
                "the SSE rule",
                base.replace("sse_window_days = 14", "sse_window_days = 21"),
                "schedule.sse_window_days",
                true,
            ),
            (
                "a location's label",
                base.replace("en = \"Vertebra T5\"", "en = \"Thoracic vertebra 5\""),
                "lesions.locations[T5].label.en",
                false,
            ),
            (
                "a location added",
                base.replace(
                    "  { code = \"other\"",
                    "  { code = \"patella\", sided = true, label = { nl = \"Knieschijf\", fr = \"Rotule\", en = \"Patella\" } },\n  { code = \"other\"",
                ),
                "lesions.locations[patella].code",
                false,
            ),
            (
                "the reminder hours",
                base.replace("send_until = \"19:00\"", "send_until = \"20:00\""),
                "reminders.send_until",
                false,
            ),
            (
                "a site's phone",
                base.replacen("phone = \"", "phone = \"+32 3 000 99 99\" # \"", 1),
                "",
                false,
            ),
            (
                "the study's name",
                base.replace("name = \"HERMES\"", "name = \"HERMES trial\""),
                "study.name",
                false,
            ),
        ];
        for (what, text, path, refused) in cases {
            assert_ne!(text, base, "{what}: the file changed");
            let after = study(&text);
            let c = changes(Some(&before), &after, &used());
            assert!(!c.fields.is_empty(), "{what}: the change is named");
            if !path.is_empty() {
                assert!(
                    c.fields.iter().any(|f| f.path == path),
                    "{what}: {path} in {:?}",
                    c.fields
                );
            }
            let reasons = needs_confirmation(&c, &used());
            assert_eq!(!reasons.is_empty(), refused, "{what}: {reasons:?}");
            // Before anyone is enrolled, nothing stored can be touched.
            let nobody = InUse::default();
            assert!(
                needs_confirmation(&changes(Some(&before), &after, &nobody), &nobody).is_empty(),
                "{what} with nobody enrolled"
            );
        }
        // Comments and layout are not changes.
        let c = changes(
            Some(&before),
            &study(&format!("# a comment\n{base}\n\n")),
            &used(),
        );
        assert!(c.fields.is_empty(), "{:?}", c.fields);
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
            assert_eq!(
                ChangeSet {
                    fields: vec![],
                    ..c.clone()
                },
                expect_changes,
                "{what}"
            );
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

//! The events a study records (`[events] kinds`) and the fields it requires of each
//! (`[events] required`), checked against the rest of the file. What each kind does to the
//! schedule is epro's rule for that kind (`domain::schedule::after_event`), with the SSE's
//! numbers in `[schedule]` (docs/study-format.md, "Events").

use crate::domain::participant::EventKind;

use super::file::StudyFile;
use super::{Problem, fail};

/// The fields a study may require of an event, per kind.
const FIELDS: &[(EventKind, &[&str])] = &[
    (EventKind::Sse, &["sse_type", "lesion"]),
    (EventKind::Randomization, &["arm"]),
];

/// Which events staff record in this study, and the fields each must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRules {
    /// The kinds staff record, in the file's order.
    pub kinds: Vec<EventKind>,
    /// Per kind, the fields an event of that kind must have.
    pub required: Vec<(EventKind, Vec<String>)>,
}

impl EventRules {
    /// Whether staff record events of `kind` in this study.
    pub fn records(&self, kind: EventKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// The first field the study requires of a `kind` event that `given` says is missing.
    pub fn missing(&self, kind: EventKind, given: impl Fn(&str) -> bool) -> Option<&str> {
        self.required
            .iter()
            .filter(|(k, _)| *k == kind)
            .flat_map(|(_, fields)| fields.iter())
            .find(|f| !given(f))
            .map(String::as_str)
    }
}

/// `[events]`: the kinds (default: randomization, PRO discontinuation, withdrawal and death,
/// with SSE when `sse_types` lists types) and the required fields (default: the SSE type when
/// `sse_types` lists types), each checked against the file.
pub(super) fn parse_events(raw: &StudyFile) -> Result<EventRules, Problem> {
    let e = &raw.events;
    let has_types = !e.sse_types.is_empty();
    let kinds = match &e.kinds {
        None => EventKind::ALL
            .into_iter()
            .filter(|k| *k != EventKind::Sse || has_types)
            .collect(),
        Some(list) => {
            let mut kinds = Vec::new();
            for (i, code) in list.iter().enumerate() {
                let field = format!("events.kinds[{i}]");
                let Some(kind) = EventKind::parse(code) else {
                    let all: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                    return Err(fail(
                        &field,
                        format!("{code:?} is not an event kind ({})", all.join(", ")),
                    ));
                };
                if kinds.contains(&kind) {
                    return Err(fail(&field, format!("{code:?} is listed twice")));
                }
                kinds.push(kind);
            }
            kinds
        }
    };
    let records = |k: EventKind| kinds.contains(&k);
    if has_types && !records(EventKind::Sse) {
        return Err(fail(
            "events.sse_types",
            "lists SSE types, but events.kinds does not record \"sse\"".into(),
        ));
    }
    let anchored = raw.visits.iter().any(|v| v.anchor == "randomization");
    if anchored && !records(EventKind::Randomization) {
        return Err(fail(
            "events.kinds",
            "visits are anchored at the randomization: record \"randomization\"".into(),
        ));
    }
    let required: Vec<(EventKind, Vec<String>)> = match &e.required {
        None if has_types => vec![(EventKind::Sse, vec!["sse_type".to_string()])],
        None => Vec::new(),
        Some(table) => {
            let mut out = Vec::new();
            for (code, fields) in table {
                let field = format!("events.required.{code}");
                let kind = EventKind::parse(code)
                    .filter(|k| records(*k))
                    .ok_or_else(|| fail(&field, format!("{code:?} is not in events.kinds")))?;
                let allowed = FIELDS
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .map_or(&[][..], |(_, f)| *f);
                for f in fields {
                    if !allowed.contains(&f.as_str()) {
                        return Err(fail(
                            &field,
                            format!(
                                "{f:?} is not a field of a {code} event (one of: {})",
                                if allowed.is_empty() {
                                    "none".to_string()
                                } else {
                                    allowed.join(", ")
                                }
                            ),
                        ));
                    }
                }
                if fields.iter().any(|f| f == "sse_type") && !has_types {
                    return Err(fail(
                        &field,
                        "requires the SSE type, but events.sse_types lists none".into(),
                    ));
                }
                if fields.iter().any(|f| f == "arm") && raw.arms.is_empty() {
                    return Err(fail(
                        &field,
                        "requires the arm, but the file lists no [[arms]]".into(),
                    ));
                }
                out.push((kind, fields.clone()));
            }
            out
        }
    };
    Ok(EventRules { kinds, required })
}

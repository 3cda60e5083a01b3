//! Scoring as data (`scoring-<n>.json`) and the engine that applies it. Functional scales:
//! (1 − (RS − min)/range)·100; symptom scales and global health: (RS − min)/range·100, where RS is
//! the mean of the answered items (after reversing the listed items) and `min` the lowest code
//! (1 for EORTC items). The half rule scores a scale when at least half of its items are answered.
//! A summary is the mean of its component scores (inverted ones as 100 − score), only when all exist.
//! Beyond EORTC: `sum` (the item codes added, prorated under the half rule), `lookup` (the item
//! codes in order, e.g. "11211", looked up in a value table shipped in the scoring file, such as
//! a utility index) and `computed` (a formula over items and earlier scales). What the format
//! cannot express is added as a new `ScaleKind` here (docs/questionnaire-format.md, "Extending").

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Definition, FormatError, SCORING_SCHEMA, answers::Valid, schema_errors};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleKind {
    Functional,
    Symptom,
    Global,
    /// The answer itself (e.g. a 0–10 pain rating), per lesion when the item is.
    Raw,
    /// The item codes added up; under the half rule, missing items are prorated (the mean of the
    /// answered items × the number of items).
    Sum,
    /// The codes of the items in order, as one key ("11211"), looked up in `table`; every item
    /// must be answered.
    Lookup,
    /// `formula` evaluated over the items' codes (by item id) and earlier scales (by code); no
    /// score when anything it uses is missing.
    Computed,
}

impl ScaleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScaleKind::Functional => "functional",
            ScaleKind::Symptom => "symptom",
            ScaleKind::Global => "global",
            ScaleKind::Raw => "raw",
            ScaleKind::Sum => "sum",
            ScaleKind::Lookup => "lookup",
            ScaleKind::Computed => "computed",
        }
    }

    /// Which way a higher score points (EORTC: functional scales and global health higher is
    /// better, symptom scales higher is worse; a raw scale is the answer as given).
    pub fn direction(self) -> &'static str {
        match self {
            ScaleKind::Functional | ScaleKind::Global => "higher_is_better",
            ScaleKind::Symptom => "higher_is_worse",
            ScaleKind::Raw | ScaleKind::Sum | ScaleKind::Lookup | ScaleKind::Computed => {
                "as_defined"
            }
        }
    }
}

/// A short, column-safe code of an instrument from its key: the part after `qlq-` for EORTC
/// modules (`eortc-qlq-c30` → `C30`, `eortc-qlq-bm22` → `BM22`), else the key's first part
/// (`nrs-lesion-pain` → `NRS`).
pub fn instrument_code(key: &str) -> String {
    let parts: Vec<&str> = key.split('-').collect();
    let code = match parts.iter().position(|p| *p == "qlq") {
        Some(i) if i + 1 < parts.len() => parts[i + 1..].join("_"),
        _ => parts.first().copied().unwrap_or(key).to_string(),
    };
    code.to_uppercase()
}

/// The scale-key prefixes of the instruments published before scale keys were made from the
/// whole questionnaire key (#31.3): HERMES's exported names (`C30_PA`, `BM22_PA`, `NRS_WORST_PAIN`)
/// stay as they were. The data dictionary says so for each.
pub const LEGACY_SCALE_PREFIXES: &[(&str, &str)] = &[
    ("eortc-qlq-c30", "C30"),
    ("eortc-qlq-bm22", "BM22"),
    ("nrs-lesion-pain", "NRS"),
];

/// The prefix of an instrument's scale keys: the whole questionnaire key in capitals with `-`
/// as `_` (`pallio-symptoms` → `PALLIO_SYMPTOMS`), or its legacy prefix.
pub fn scale_prefix(questionnaire: &str) -> String {
    LEGACY_SCALE_PREFIXES
        .iter()
        .find(|(key, _)| *key == questionnaire)
        .map_or_else(
            || questionnaire.to_uppercase().replace(['-', '.'], "_"),
            |(_, prefix)| prefix.to_string(),
        )
}

/// A scale's key, unique across instruments by construction: the instrument's prefix and the
/// scale's code (`C30_PA`, Pain, is not `BM22_PA`, Psychosocial aspects; `PALLIO_SYMPTOMS_BURDEN`
/// is not `PALLIO_EXTRA_BURDEN`). `questionnaires check` refuses the rare collision left (a code
/// with `_` meeting a longer key, or a key meeting a legacy prefix): [`scale_key_collisions`].
pub fn scale_key(questionnaire: &str, code: &str) -> String {
    format!("{}_{code}", scale_prefix(questionnaire))
}

/// A scale key two instruments would both export, and each one's (questionnaire, scale code).
pub type Collision = (String, (String, String), (String, String));

/// Scale keys that two instruments would both export: for each, the key and the two
/// (questionnaire, scale code) pairs. `scales` lists every scale and summary code of every
/// version; the same instrument's versions share their keys by design.
pub fn scale_key_collisions(scales: &[(&str, &str)]) -> Vec<Collision> {
    let mut seen: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    let mut out = Vec::new();
    for &(questionnaire, code) in scales {
        let key = scale_key(questionnaire, code);
        match seen.get(&key) {
            Some(&(q, c)) if q != questionnaire => out.push((
                key,
                (q.to_string(), c.to_string()),
                (questionnaire.to_string(), code.to_string()),
            )),
            Some(_) => {}
            None => {
                seen.insert(key, (questionnaire, code));
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissingRule {
    #[default]
    Half,
    All,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scale {
    pub code: String,
    pub label: String,
    pub kind: ScaleKind,
    pub items: Vec<String>,
    #[serde(default)]
    pub range: Option<i64>,
    #[serde(default)]
    pub reverse: Vec<String>,
    #[serde(default)]
    pub missing: MissingRule,
    /// `lookup`: the value of each key (the item codes in order, e.g. "11211").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<BTreeMap<String, f64>>,
    /// `computed`: an expression (MiniJinja syntax: + - * / ** and parentheses, round(), …)
    /// over item ids and earlier scale codes, e.g. `"(PAIN + FATIGUE) / 2"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    pub scale: String,
    #[serde(default)]
    pub invert: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub code: String,
    pub label: String,
    pub components: Vec<Component>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scoring {
    pub questionnaire: String,
    pub version: String,
    pub scoring: u32,
    #[serde(default)]
    pub reference: Option<String>,
    pub scales: Vec<Scale>,
    #[serde(default)]
    pub summaries: Vec<Summary>,
}

impl Scoring {
    /// The name every stored score carries: `<key>/<version>/scoring-<n>`.
    pub fn id(&self) -> String {
        format!(
            "{}/{}/scoring-{}",
            self.questionnaire, self.version, self.scoring
        )
    }
}

/// Parse and check a scoring file against its definition.
pub fn parse_scoring(
    file: &str,
    text: &str,
    def: &Definition,
    number: u32,
) -> Result<(Scoring, Value), Vec<FormatError>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| vec![FormatError::new(file, "", format!("not valid JSON: {e}"))])?;
    let errors = schema_errors(file, SCORING_SCHEMA, &value);
    if !errors.is_empty() {
        return Err(errors);
    }
    let s: Scoring = serde_json::from_value(value.clone())
        .map_err(|e| vec![FormatError::new(file, "", e.to_string())])?;
    let mut errors = Vec::new();
    let mut err = |p: String, m: String| errors.push(FormatError::new(file, p, m));
    if s.questionnaire != def.key || s.version != def.version {
        err(
            "/questionnaire".into(),
            format!(
                "names {} {}, but lies beside {} {}",
                s.questionnaire, s.version, def.key, def.version
            ),
        );
    }
    if s.scoring != number {
        err(
            "/scoring".into(),
            format!("is {}, but the file is scoring-{number}.json", s.scoring),
        );
    }
    let mut codes = BTreeSet::new();
    for (i, scale) in s.scales.iter().enumerate() {
        if !codes.insert(scale.code.as_str()) {
            err(
                format!("/scales/{i}/code"),
                format!("duplicate scale code {:?}", scale.code),
            );
        }
        for (pointer, message) in scale_problems(def, i, scale, &codes) {
            err(pointer, message);
        }
    }
    for (i, summary) in s.summaries.iter().enumerate() {
        for (j, c) in summary.components.iter().enumerate() {
            if !codes.contains(c.scale.as_str()) {
                err(
                    format!("/summaries/{i}/components/{j}/scale"),
                    format!("names unknown scale {:?}", c.scale),
                );
            }
        }
    }
    if errors.is_empty() {
        Ok((s, value))
    } else {
        Err(errors)
    }
}

/// What is wrong with scale `i` against the definition: (JSON pointer, problem) pairs.
fn scale_problems(
    def: &Definition,
    i: usize,
    scale: &Scale,
    earlier: &BTreeSet<&str>,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut err = |p: String, m: String| problems.push((p, m));
    let at = |f: &str| format!("/scales/{i}/{f}");
    let mut in_group = BTreeSet::new();
    for (j, id) in scale.items.iter().enumerate() {
        match def.item(id) {
            None => err(
                format!("/scales/{i}/items/{j}"),
                format!(
                    "names item {id:?}, which {} {} does not have",
                    def.key, def.version
                ),
            ),
            Some(p) => {
                in_group.insert(p.group.map(|g| g.id.clone()));
                match (def.code_range(p.item), scale.kind, scale.range) {
                    (None, _, _) => err(
                        format!("/scales/{i}/items/{j}"),
                        format!("item {id:?} has no numeric codes to score"),
                    ),
                    (Some((lo, hi)), ScaleKind::Lookup, _) if lo < 0 || hi > 9 => err(
                        format!("/scales/{i}/items/{j}"),
                        format!("item {id:?} has codes {lo}–{hi}; a lookup key needs codes 0–9"),
                    ),
                    (Some((lo, hi)), k, Some(r)) if k != ScaleKind::Raw && hi - lo != r => err(
                        at("range"),
                        format!("range {r} does not match item {id:?}, whose codes run {lo}–{hi}"),
                    ),
                    _ => {}
                }
            }
        }
    }
    if in_group.len() > 1 {
        err(at("items"), "mixes per-lesion and other items".into());
    }
    match scale.kind {
        ScaleKind::Raw if scale.items.len() != 1 => {
            err(at("items"), "a raw scale takes exactly one item".into())
        }
        ScaleKind::Lookup => match &scale.table {
            None => err(at("table"), "a lookup scale needs its value table".into()),
            Some(t) => {
                if let Some(k) = t.keys().find(|k| {
                    k.len() != scale.items.len() || !k.chars().all(|c| c.is_ascii_digit())
                }) {
                    err(
                        at("table"),
                        format!(
                            "key {k:?} is not {} digits, one code per item in order",
                            scale.items.len()
                        ),
                    );
                }
            }
        },
        ScaleKind::Computed => match scale.formula.as_deref().map(compile) {
            None => err(at("formula"), "a computed scale needs a formula".into()),
            Some(Err(e)) => err(at("formula"), format!("is not a valid expression: {e}")),
            Some(Ok(names)) => {
                for name in names {
                    if !scale.items.contains(&name) && !earlier.contains(name.as_str()) {
                        err(
                            at("formula"),
                            format!(
                                "uses {name:?}, which is neither one of the scale's items nor an \
                                 earlier scale"
                            ),
                        );
                    }
                }
            }
        },
        ScaleKind::Raw | ScaleKind::Sum => {}
        _ if scale.range.is_none() => err(at("range"), "required for this kind of scale".into()),
        _ => {}
    }
    if scale.items.is_empty() && scale.kind != ScaleKind::Computed {
        err(at("items"), "at least one item".into());
    }
    if scale.table.is_some() && scale.kind != ScaleKind::Lookup {
        err(at("table"), "only a lookup scale has a table".into());
    }
    if scale.formula.is_some() && scale.kind != ScaleKind::Computed {
        err(at("formula"), "only a computed scale has a formula".into());
    }
    for (j, id) in scale.reverse.iter().enumerate() {
        if !scale.items.contains(id) {
            err(
                format!("/scales/{i}/reverse/{j}"),
                format!("{id:?} is not one of the scale's items"),
            );
        }
    }
    problems
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every item answered.
    Complete,
    /// Some items blank, scored from the answered ones under the half rule.
    HalfRule,
    /// Too few items answered: no score.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleScore {
    pub code: String,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lesion: Option<String>,
    pub score: Option<f64>,
    pub items: Vec<String>,
    pub answered: usize,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub scoring: String,
    pub scales: Vec<ScaleScore>,
    pub summaries: Vec<ScaleScore>,
}

/// Apply `scoring` to validated answers of `def`.
pub fn score(def: &Definition, scoring: &Scoring, answers: &[Valid]) -> Scores {
    let mut scales = Vec::new();
    for scale in &scoring.scales {
        let per_lesion = scale
            .items
            .first()
            .and_then(|id| def.item(id))
            .is_some_and(|p| p.group.is_some());
        if per_lesion {
            let lesions: BTreeSet<&String> = answers
                .iter()
                .filter(|a| scale.items.contains(&a.item))
                .filter_map(|a| a.lesion.as_ref())
                .collect();
            for lesion in lesions {
                scales.push(score_scale(def, scale, answers, Some(lesion)));
            }
        } else if scale.kind == ScaleKind::Computed {
            let value = computed(scale, answers, &scales);
            scales.push(value);
        } else {
            scales.push(score_scale(def, scale, answers, None));
        }
    }
    let summaries = scoring
        .summaries
        .iter()
        .map(|summary| {
            let parts: Vec<Option<f64>> = summary
                .components
                .iter()
                .map(|c| {
                    scales
                        .iter()
                        .find(|s| s.code == c.scale && s.lesion.is_none())
                        .and_then(|s| s.score)
                        .map(|v| if c.invert { 100.0 - v } else { v })
                })
                .collect();
            let present: Vec<f64> = parts.iter().flatten().copied().collect();
            let complete = present.len() == parts.len() && !parts.is_empty();
            ScaleScore {
                code: summary.code.clone(),
                label: summary.label.clone(),
                lesion: None,
                score: complete.then(|| present.iter().sum::<f64>() / present.len() as f64),
                items: summary.components.iter().map(|c| c.scale.clone()).collect(),
                answered: present.len(),
                status: if complete {
                    Status::Complete
                } else {
                    Status::Missing
                },
            }
        })
        .collect();
    Scores {
        scoring: scoring.id(),
        scales,
        summaries,
    }
}

fn score_scale(
    def: &Definition,
    scale: &Scale,
    answers: &[Valid],
    lesion: Option<&String>,
) -> ScaleScore {
    let mut values = Vec::new();
    let mut min_code = 1;
    for id in &scale.items {
        let Some(placed) = def.item(id) else { continue };
        let (lo, hi) = def.code_range(placed.item).unwrap_or((1, 1));
        min_code = lo;
        let answer = answers
            .iter()
            .find(|a| &a.item == id && a.lesion.as_ref() == lesion)
            .and_then(|a| a.value.code());
        if let Some(v) = answer {
            values.push(if scale.reverse.contains(id) {
                lo + hi - v
            } else {
                v
            } as f64);
        }
    }
    let n = scale.items.len();
    let answered = values.len();
    if scale.kind == ScaleKind::Lookup {
        // Every item answered, each code one digit of the key.
        let key: String = values.iter().map(|v| (*v as i64).to_string()).collect();
        let score = (answered == n)
            .then(|| scale.table.as_ref().and_then(|t| t.get(&key)).copied())
            .flatten();
        return ScaleScore {
            code: scale.code.clone(),
            label: scale.label.clone(),
            lesion: lesion.cloned(),
            score,
            items: scale.items.clone(),
            answered,
            status: if score.is_some() {
                Status::Complete
            } else {
                Status::Missing
            },
        };
    }
    let enough = match scale.missing {
        MissingRule::Half => answered * 2 >= n && answered > 0,
        MissingRule::All => answered == n,
    };
    let score = enough.then(|| {
        let rs = values.iter().sum::<f64>() / answered as f64;
        let range = scale.range.unwrap_or(1) as f64;
        let scaled = (rs - min_code as f64) / range;
        match scale.kind {
            ScaleKind::Functional => (1.0 - scaled) * 100.0,
            ScaleKind::Symptom | ScaleKind::Global => scaled * 100.0,
            ScaleKind::Raw => rs,
            // Prorated: the mean of the answered items for each of the scale's items.
            ScaleKind::Sum => rs * n as f64,
            ScaleKind::Lookup | ScaleKind::Computed => f64::NAN,
        }
    });
    ScaleScore {
        code: scale.code.clone(),
        label: scale.label.clone(),
        lesion: lesion.cloned(),
        score,
        items: scale.items.clone(),
        answered,
        status: match (score.is_some(), answered == n) {
            (false, _) => Status::Missing,
            (true, true) => Status::Complete,
            (true, false) => Status::HalfRule,
        },
    }
}

/// The functions a formula may call for blank items (docs/questionnaire-format.md, "Missing
/// items"). A blank item is `none` in a formula: arithmetic on it gives no score, these decide.
const MISSING_FUNCTIONS: [&str; 5] = ["any", "all", "count_answered", "coalesce", "half_rule"];

/// The answered values among a function's arguments (`none` is blank).
fn answered(values: &[minijinja::Value]) -> Vec<&minijinja::Value> {
    values
        .iter()
        .filter(|v| !v.is_none() && !v.is_undefined())
        .collect()
}

/// Whether an answered value meets the condition of `any`/`all`: `at_least=`, `at_most=` or
/// `equals=` when given, else its truth (a number other than 0).
fn meets(
    v: &minijinja::Value,
    at_least: Option<f64>,
    at_most: Option<f64>,
    equals: Option<f64>,
) -> bool {
    let x = f64::try_from(v.clone()).ok();
    match (at_least, at_most, equals) {
        (None, None, None) => v.is_true(),
        _ => x.is_some_and(|x| {
            at_least.is_none_or(|n| x >= n)
                && at_most.is_none_or(|n| x <= n)
                && equals.is_none_or(|n| x == n)
        }),
    }
}

/// `any(...)` (`want_all` false) and `all(...)`, decided with blanks (three-valued): `any` is
/// true as soon as one answered value meets the condition, false only when every value is
/// answered and none does; `all` the other way round; otherwise no value (none).
fn any_or_all(
    want_all: bool,
    values: &[minijinja::Value],
    kwargs: &minijinja::value::Kwargs,
) -> Result<minijinja::Value, minijinja::Error> {
    let at_least: Option<f64> = kwargs.get("at_least")?;
    let at_most: Option<f64> = kwargs.get("at_most")?;
    let equals: Option<f64> = kwargs.get("equals")?;
    kwargs.assert_all_used()?;
    let given = answered(values);
    let hits = given
        .iter()
        .filter(|v| meets(v, at_least, at_most, equals))
        .count();
    let blanks = values.len() - given.len();
    let decided = if want_all {
        if hits < given.len() {
            Some(false)
        } else if blanks == 0 {
            Some(true)
        } else {
            None
        }
    } else if hits > 0 {
        Some(true)
    } else if blanks == 0 {
        Some(false)
    } else {
        None
    };
    Ok(decided.map_or(minijinja::Value::from(()), minijinja::Value::from))
}

/// The expression environment of formulas: MiniJinja's, with the functions for blanks.
fn formula_env() -> minijinja::Environment<'static> {
    use minijinja::{
        Value,
        value::{Kwargs, Rest},
    };
    let mut env = minijinja::Environment::new();
    env.add_function("any", |values: Rest<Value>, kwargs: Kwargs| {
        any_or_all(false, &values, &kwargs)
    });
    env.add_function("all", |values: Rest<Value>, kwargs: Kwargs| {
        any_or_all(true, &values, &kwargs)
    });
    env.add_function("count_answered", |values: Rest<Value>| {
        Value::from(answered(&values).len())
    });
    env.add_function("coalesce", |values: Rest<Value>| {
        answered(&values)
            .first()
            .map_or(Value::from(()), |v| (*v).clone())
    });
    // The EORTC half rule: the mean of the answered values when at least half are answered.
    env.add_function("half_rule", |values: Rest<Value>| {
        let given: Vec<f64> = answered(&values)
            .into_iter()
            .filter_map(|v| f64::try_from(v.clone()).ok())
            .collect();
        if given.is_empty() || given.len() * 2 < values.len() {
            Value::from(())
        } else {
            Value::from(given.iter().sum::<f64>() / given.len() as f64)
        }
    });
    env
}

/// The variables a formula uses, or why it does not compile.
fn compile(formula: &str) -> Result<Vec<String>, String> {
    let env = formula_env();
    let expr = env.compile_expression(formula).map_err(|e| e.to_string())?;
    let mut names: Vec<String> = expr
        .undeclared_variables(false)
        .into_iter()
        .filter(|n| !MISSING_FUNCTIONS.contains(&n.as_str()))
        .collect();
    names.sort();
    Ok(names)
}

/// A computed scale: its formula over the items' codes and the scales scored before it. A
/// formula that calls none of the functions for blanks gets no score when anything it uses is
/// blank; one that does sees a blank as `none`, and those functions decide. No score when the
/// result is none, not a number or not finite; true and false score 1 and 0. Scored with
/// something blank, its status is `half_rule`.
fn computed(scale: &Scale, answers: &[Valid], scored: &[ScaleScore]) -> ScaleScore {
    let names = scale
        .formula
        .as_deref()
        .map(compile)
        .and_then(Result::ok)
        .unwrap_or_default();
    let mut vars = BTreeMap::new();
    for name in &names {
        let value = if scale.items.contains(name) {
            answers
                .iter()
                .find(|a| &a.item == name && a.lesion.is_none())
                .and_then(|a| a.value.code())
                .map(|c| c as f64)
        } else {
            scored
                .iter()
                .find(|s| &s.code == name && s.lesion.is_none())
                .and_then(|s| s.score)
        };
        vars.insert(name.clone(), value);
    }
    let answered = vars.values().filter(|v| v.is_some()).count();
    // A formula that calls none of the functions for blanks needs everything it uses.
    let decides_blanks = scale.formula.as_deref().is_some_and(|f| {
        MISSING_FUNCTIONS
            .iter()
            .any(|name| f.contains(&format!("{name}(")))
    });
    let score = (|| {
        if answered < names.len() && !decides_blanks {
            return None;
        }
        let env = formula_env();
        let expr = env.compile_expression(scale.formula.as_deref()?).ok()?;
        let out = expr
            .eval(minijinja::Value::from_pairs(vars.iter().map(|(k, v)| {
                (
                    k.as_str(),
                    v.map_or(minijinja::Value::from(()), minijinja::Value::from),
                )
            })))
            .ok()?;
        if out.kind() == minijinja::value::ValueKind::Bool {
            return Some(if out.is_true() { 1.0 } else { 0.0 });
        }
        f64::try_from(out).ok().filter(|v| v.is_finite())
    })();
    ScaleScore {
        code: scale.code.clone(),
        label: scale.label.clone(),
        lesion: None,
        score,
        items: names.clone(),
        answered,
        status: match (score.is_some(), answered == names.len()) {
            (false, _) => Status::Missing,
            (true, true) => Status::Complete,
            (true, false) => Status::HalfRule,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::questionnaire::{
        answers::{AnswerValue, Valid},
        parse_definition,
    };

    fn load(def: &str, scoring: &str) -> (Definition, Scoring) {
        let (d, _) = parse_definition("d", def).expect("definition");
        let (s, _) = parse_scoring("s", scoring, &d, 1).expect("scoring");
        (d, s)
    }
    fn c30() -> (Definition, Scoring) {
        load(
            include_str!("../../../questionnaires/eortc-qlq-c30/3.0/definition.json"),
            include_str!("../../../questionnaires/eortc-qlq-c30/3.0/scoring-1.json"),
        )
    }
    fn bm22() -> (Definition, Scoring) {
        load(
            include_str!("../../../questionnaires/eortc-qlq-bm22/1.0/definition.json"),
            include_str!("../../../questionnaires/eortc-qlq-bm22/1.0/scoring-1.json"),
        )
    }
    fn answers(pairs: &[(u32, Option<i64>)]) -> Vec<Valid> {
        pairs
            .iter()
            .map(|(n, v)| Valid {
                item: format!("q{n}"),
                lesion: None,
                value: v.map_or(AnswerValue::Blank, AnswerValue::Code),
            })
            .collect()
    }
    fn all(
        range: std::ops::RangeInclusive<u32>,
        f: impl Fn(u32) -> i64,
    ) -> Vec<(u32, Option<i64>)> {
        range.map(|n| (n, Some(f(n)))).collect()
    }
    fn get<'a>(s: &'a Scores, code: &str) -> &'a ScaleScore {
        s.scales
            .iter()
            .chain(&s.summaries)
            .find(|x| x.code == code)
            .unwrap_or_else(|| panic!("no {code}"))
    }
    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn c30_all_answers_1() {
        let (d, s) = c30();
        let r = score(&d, &s, &answers(&all(1..=30, |_| 1)));
        for f in ["PF2", "RF2", "EF", "CF", "SF"] {
            assert!(close(get(&r, f).score, 100.0), "{f}");
        }
        for sym in ["FA", "NV", "PA", "DY", "SL", "AP", "CO", "DI", "FI"] {
            assert!(close(get(&r, sym).score, 0.0), "{sym}");
        }
        assert!(close(get(&r, "QL2").score, 0.0));
        assert!(close(get(&r, "SUMSC").score, 100.0));
        assert_eq!(r.scoring, "eortc-qlq-c30/3.0/scoring-1");
    }

    #[test]
    fn c30_all_answers_4_and_ql2_7() {
        let (d, s) = c30();
        let r = score(
            &d,
            &s,
            &answers(&all(1..=30, |n| if n >= 29 { 7 } else { 4 })),
        );
        for f in ["PF2", "RF2", "EF", "CF", "SF"] {
            assert!(close(get(&r, f).score, 0.0), "{f}");
        }
        for sym in ["FA", "NV", "PA", "DY", "SL", "AP", "CO", "DI", "FI"] {
            assert!(close(get(&r, sym).score, 100.0), "{sym}");
        }
        assert!(
            close(get(&r, "QL2").score, 100.0),
            "QL2 with 29 = 7 and 30 = 7 scores 100"
        );
        assert!(close(get(&r, "SUMSC").score, 0.0));
    }

    #[test]
    fn c30_mixed_case_by_hand() {
        let (d, s) = c30();
        // q1..q5 = 1,2,2,1,1 → RS 1.4 → PF2 = (1 − 0.4/3)·100 = 86.666…
        // q10,q12,q18 = 2,3,3 → RS 8/3 → FA = (5/3)/3·100 = 55.555…
        // q29 = 5, q30 = 4 → RS 4.5 → QL2 = 3.5/6·100 = 58.333…
        // q9 = 3, q19 blank → PA scored from one of two (half rule) = 2/3·100 = 66.666…
        let mut a = answers(&[
            (1, Some(1)),
            (2, Some(2)),
            (3, Some(2)),
            (4, Some(1)),
            (5, Some(1)),
        ]);
        a.extend(answers(&[
            (10, Some(2)),
            (12, Some(3)),
            (18, Some(3)),
            (29, Some(5)),
            (30, Some(4)),
        ]));
        a.extend(answers(&[(9, Some(3)), (19, None)]));
        let r = score(&d, &s, &a);
        assert!(close(get(&r, "PF2").score, 260.0 / 3.0));
        assert!(close(get(&r, "FA").score, 500.0 / 9.0));
        assert!(close(get(&r, "QL2").score, 175.0 / 3.0));
        assert!(close(get(&r, "PA").score, 200.0 / 3.0));
        assert_eq!(get(&r, "PA").status, Status::HalfRule);
        assert_eq!(get(&r, "PA").answered, 1);
        assert_eq!(get(&r, "PF2").status, Status::Complete);
        assert_eq!(get(&r, "DY").status, Status::Missing);
        assert_eq!(get(&r, "SUMSC").score, None, "summary needs all 13 scales");
    }

    #[test]
    fn pf2_half_rule() {
        let (d, s) = c30();
        let two = score(
            &d,
            &s,
            &answers(&[(1, Some(2)), (2, Some(2)), (3, None), (4, None), (5, None)]),
        );
        assert_eq!(get(&two, "PF2").score, None, "2 of 5 answered: missing");
        assert_eq!(get(&two, "PF2").status, Status::Missing);
        let three = score(
            &d,
            &s,
            &answers(&[
                (1, Some(2)),
                (2, Some(2)),
                (3, Some(3)),
                (4, None),
                (5, None),
            ]),
        );
        // RS = 7/3 → (1 − (4/3)/3)·100 = 55.555…
        assert!(
            close(get(&three, "PF2").score, 500.0 / 9.0),
            "3 of 5 answered: scored"
        );
        assert_eq!(get(&three, "PF2").status, Status::HalfRule);
    }

    #[test]
    fn summary_only_when_all_13_scales_exist() {
        let (d, s) = c30();
        let mut a = all(1..=30, |_| 2);
        let full = score(&d, &s, &answers(&a));
        // Functional scales 66.67 each (×5), symptom scales 33.33 → inverted 66.67 (×8).
        assert!(close(get(&full, "SUMSC").score, 200.0 / 3.0));
        a.retain(|(n, _)| *n != 17); // DI has a single item: now missing
        let without_di = score(&d, &s, &answers(&a));
        assert_eq!(get(&without_di, "SUMSC").score, None);
        // FI (28) and QL2 are not part of the summary: their absence does not matter.
        let mut b = all(1..=30, |_| 2);
        b.retain(|(n, _)| ![28, 29, 30].contains(n));
        assert!(get(&score(&d, &s, &answers(&b)), "SUMSC").score.is_some());
    }

    #[test]
    fn bm22_mixed_case_by_hand() {
        let (d, s) = bm22();
        // PS 31–35 = 1,2,3,4,1 → RS 2.2 → (1.2/3)·100 = 40
        // PC 36–38 = 4,4,1 → RS 3 → 66.666…
        // FI 39–46 all 2 → RS 2 → (1 − 1/3)·100 = 66.666…
        // PA 47–50 = 1,2,1,2 and 51 = 4, 52 = 3 → reversed 1, 2 → RS 1.5 → (1 − 0.5/3)·100 = 83.333…
        let mut a = answers(&[
            (31, Some(1)),
            (32, Some(2)),
            (33, Some(3)),
            (34, Some(4)),
            (35, Some(1)),
        ]);
        a.extend(answers(&[(36, Some(4)), (37, Some(4)), (38, Some(1))]));
        a.extend(answers(&all(39..=46, |_| 2)));
        a.extend(answers(&[
            (47, Some(1)),
            (48, Some(2)),
            (49, Some(1)),
            (50, Some(2)),
            (51, Some(4)),
            (52, Some(3)),
        ]));
        let r = score(&d, &s, &a);
        assert!(close(get(&r, "PS").score, 40.0));
        assert!(close(get(&r, "PC").score, 200.0 / 3.0));
        assert!(close(get(&r, "FI").score, 200.0 / 3.0));
        assert!(close(get(&r, "PA").score, 250.0 / 3.0));
    }

    #[test]
    fn nrs_is_scored_per_lesion() {
        let (d, s) = load(
            include_str!("../../../questionnaires/nrs-lesion-pain/1.0.0/definition.json"),
            include_str!("../../../questionnaires/nrs-lesion-pain/1.0.0/scoring-1.json"),
        );
        let a = vec![
            Valid {
                item: "worst_pain".into(),
                lesion: Some("L1".into()),
                value: AnswerValue::Code(7),
            },
            Valid {
                item: "worst_pain".into(),
                lesion: Some("L2".into()),
                value: AnswerValue::Blank,
            },
        ];
        let r = score(&d, &s, &a);
        assert_eq!(r.scales.len(), 2);
        assert_eq!(r.scales[0].lesion.as_deref(), Some("L1"));
        assert!(close(r.scales[0].score, 7.0));
        assert_eq!(r.scales[1].score, None);
    }

    #[test]
    fn scoring_errors_name_the_pointer() {
        let (d, _) = c30();
        let text = include_str!("../../../questionnaires/eortc-qlq-c30/3.0/scoring-1.json")
            .replacen("\"q29\"", "\"q99\"", 1);
        let errors = parse_scoring("scoring-1.json", &text, &d, 1).expect_err("invalid");
        assert!(
            errors
                .iter()
                .any(|e| e.pointer == "/scales/0/items/0" && e.problem.contains("q99")),
            "{errors:?}"
        );
    }

    #[test]
    fn scale_keys_never_collide_across_instruments() {
        assert_eq!(scale_key("eortc-qlq-c30", "PA"), "C30_PA");
        assert_eq!(scale_key("eortc-qlq-bm22", "PA"), "BM22_PA");
        assert_eq!(scale_key("nrs-lesion-pain", "WORST_PAIN"), "NRS_WORST_PAIN");
        assert_eq!(ScaleKind::Symptom.direction(), "higher_is_worse");
        assert_eq!(ScaleKind::Functional.direction(), "higher_is_better");
    }

    /// The kinds a new instrument needs beyond EORTC: a sum (prorated under the half rule), a
    /// value-table lookup, and a formula over items and earlier scales.
    #[test]
    fn sum_lookup_and_computed_scales() {
        let def = r#"{"key": "g", "version": "1", "title": "t", "license": {"holder": "h", "wording": "open"},
            "languages": ["en"], "option_sets": {"l": [{"code": 1, "text": "a"}, {"code": 2, "text": "b"}, {"code": 3, "text": "c"}]},
            "items": [{"id": "a", "type": "single_choice", "text": "a", "options": "l"},
                      {"id": "b", "type": "single_choice", "text": "b", "options": "l"},
                      {"id": "vas", "type": "integer", "text": "v", "min": 0, "max": 100}]}"#;
        let scoring = r#"{"questionnaire": "g", "version": "1", "scoring": 1, "scales": [
            {"code": "S", "label": "s", "kind": "sum", "items": ["a", "b"]},
            {"code": "SA", "label": "s", "kind": "sum", "items": ["a", "b"], "missing": "all"},
            {"code": "I", "label": "i", "kind": "lookup", "items": ["a", "b"], "table": {"11": 1.0, "12": 0.8, "21": 0.7, "33": -0.1}},
            {"code": "C", "label": "c", "kind": "computed", "items": ["vas"], "formula": "(vas + S * 10) / 2"}]}"#;
        let (d, s) = load(def, scoring);
        let ans = |a: Option<i64>, b: Option<i64>, vas: Option<i64>| {
            [("a", a), ("b", b), ("vas", vas)]
                .iter()
                .map(|(i, v)| Valid {
                    item: (*i).into(),
                    lesion: None,
                    value: v.map_or(AnswerValue::Blank, AnswerValue::Code),
                })
                .collect::<Vec<_>>()
        };
        // (a, b, vas) → S, SA, I, C
        type Answers = (Option<i64>, Option<i64>, Option<i64>);
        let cases: [(Answers, [Option<f64>; 4]); 5] = [
            (
                (Some(1), Some(2), Some(60)),
                [Some(3.0), Some(3.0), Some(0.8), Some(45.0)],
            ),
            (
                (Some(3), Some(3), Some(0)),
                [Some(6.0), Some(6.0), Some(-0.1), Some(30.0)],
            ),
            // Half answered: the sum is prorated; "all" and the lookup give nothing.
            (
                (Some(2), None, Some(50)),
                [Some(4.0), None, None, Some(45.0)],
            ),
            // A combination the table does not have: no index.
            ((Some(2), Some(2), None), [Some(4.0), Some(4.0), None, None]),
            ((None, None, Some(10)), [None, None, None, None]),
        ];
        for ((a, b, vas), expected) in cases {
            let r = score(&d, &s, &ans(a, b, vas));
            let got: Vec<Option<f64>> = ["S", "SA", "I", "C"]
                .iter()
                .map(|c| get(&r, c).score)
                .collect();
            assert_eq!(got, expected, "a={a:?} b={b:?} vas={vas:?}");
        }
    }

    #[test]
    fn a_lookup_or_formula_that_cannot_work_is_refused_where_it_is() {
        let def = r#"{"key": "g", "version": "1", "title": "t", "license": {"holder": "h", "wording": "open"},
            "languages": ["en"], "items": [{"id": "a", "type": "integer", "text": "a", "min": 0, "max": 100}]}"#;
        let (d, _) = parse_definition("d", def).expect("definition");
        for (scales, pointer, words) in [
            (
                r#"[{"code": "I", "label": "i", "kind": "lookup", "items": ["a"], "table": {"1": 1}}]"#,
                "/scales/0/items/0",
                "0–9",
            ),
            (
                r#"[{"code": "C", "label": "c", "kind": "computed", "items": ["a"], "formula": "a + LATER"}]"#,
                "/scales/0/formula",
                "LATER",
            ),
            (
                r#"[{"code": "C", "label": "c", "kind": "computed", "items": ["a"], "formula": "a +"}]"#,
                "/scales/0/formula",
                "not a valid expression",
            ),
            (
                r#"[{"code": "S", "label": "s", "kind": "sum", "items": ["a"], "table": {"1": 1}}]"#,
                "/scales/0/table",
                "only a lookup",
            ),
        ] {
            let text = format!(
                r#"{{"questionnaire": "g", "version": "1", "scoring": 1, "scales": {scales}}}"#
            );
            let errors = parse_scoring("s.json", &text, &d, 1).expect_err(pointer);
            assert!(
                errors
                    .iter()
                    .any(|e| e.pointer == pointer && e.problem.contains(words)),
                "{pointer}: {errors:?}"
            );
        }
    }

    /// #31.4: the functions for blank items, table by table; the documented "severe = any item
    /// ≥ 7" example scores with blanks.
    #[test]
    fn computed_scores_decide_with_blank_items() {
        let def = r#"{"key": "g", "version": "1", "title": "t", "license": {"holder": "h", "wording": "open"},
            "languages": ["en"], "items": [{"id": "p1", "type": "integer", "text": "a", "min": 0, "max": 10},
                      {"id": "p2", "type": "integer", "text": "b", "min": 0, "max": 10},
                      {"id": "p3", "type": "integer", "text": "c", "min": 0, "max": 10},
                      {"id": "p4", "type": "integer", "text": "d", "min": 0, "max": 10}]}"#;
        let formulas = [
            ("SEVERE", "any(p1, p2, p3, p4, at_least=7)"),
            ("ALL_LOW", "all(p1, p2, p3, p4, at_most=3)"),
            ("N", "count_answered(p1, p2, p3, p4)"),
            ("FIRST", "coalesce(p1, p2, p3, p4)"),
            ("MEAN", "half_rule(p1, p2, p3, p4)"),
            ("PLAIN", "p1 + p2 + p3 + p4"),
        ];
        let scales: Vec<String> = formulas
            .iter()
            .map(|(code, f)| {
                format!(
                    r#"{{"code": "{code}", "label": "x", "kind": "computed", "items": ["p1", "p2", "p3", "p4"], "formula": "{f}"}}"#
                )
            })
            .collect();
        let scoring = format!(
            r#"{{"questionnaire": "g", "version": "1", "scoring": 1, "scales": [{}]}}"#,
            scales.join(",")
        );
        let (d, s) = load(def, &scoring);
        let ans = |values: [Option<i64>; 4]| {
            ["p1", "p2", "p3", "p4"]
                .iter()
                .zip(values)
                .map(|(i, v)| Valid {
                    item: (*i).into(),
                    lesion: None,
                    value: v.map_or(AnswerValue::Blank, AnswerValue::Code),
                })
                .collect::<Vec<_>>()
        };
        // answers → SEVERE, ALL_LOW, N, FIRST, MEAN, PLAIN
        type Case = ([Option<i64>; 4], [Option<f64>; 6]);
        let cases: [Case; 6] = [
            (
                [Some(1), Some(2), Some(3), Some(2)],
                [
                    Some(0.0),
                    Some(1.0),
                    Some(4.0),
                    Some(1.0),
                    Some(2.0),
                    Some(8.0),
                ],
            ),
            // One symptom skipped, an 8 answered: severe all the same.
            (
                [None, Some(8), Some(1), Some(0)],
                [Some(1.0), Some(0.0), Some(3.0), Some(8.0), Some(3.0), None],
            ),
            // Skipped and nothing ≥ 7 among the rest: undecided, no score; all ≤ 3 undecided.
            (
                [None, Some(2), Some(1), Some(0)],
                [None, None, Some(3.0), Some(2.0), Some(1.0), None],
            ),
            // Half answered: the half rule still scores; fewer than half: not.
            (
                [None, None, Some(4), Some(6)],
                [None, Some(0.0), Some(2.0), Some(4.0), Some(5.0), None],
            ),
            (
                [None, None, None, Some(9)],
                [Some(1.0), Some(0.0), Some(1.0), Some(9.0), None, None],
            ),
            (
                [None, None, None, None],
                [None, None, Some(0.0), None, None, None],
            ),
        ];
        for (values, expected) in cases {
            let r = score(&d, &s, &ans(values));
            let got: Vec<Option<f64>> = formulas.iter().map(|(c, _)| get(&r, c).score).collect();
            assert_eq!(got, expected, "{values:?}");
        }
        let r = score(&d, &s, &ans([None, Some(8), Some(1), Some(0)]));
        assert_eq!(
            get(&r, "SEVERE").status,
            Status::HalfRule,
            "scored with a blank"
        );
        let r = score(&d, &s, &ans([Some(1), Some(8), Some(1), Some(0)]));
        assert_eq!(get(&r, "SEVERE").status, Status::Complete);
    }

    #[test]
    fn scale_keys_are_unique_by_construction_and_collisions_are_found() {
        for (questionnaire, code, key) in [
            ("eortc-qlq-c30", "PA", "C30_PA"),
            ("eortc-qlq-bm22", "PA", "BM22_PA"),
            ("nrs-lesion-pain", "WORST_PAIN", "NRS_WORST_PAIN"),
            ("pallio-symptoms", "BURDEN", "PALLIO_SYMPTOMS_BURDEN"),
            ("pallio-extra", "BURDEN", "PALLIO_EXTRA_BURDEN"),
            ("generic-health-5", "LEVELS", "GENERIC_HEALTH_5_LEVELS"),
        ] {
            assert_eq!(scale_key(questionnaire, code), key);
        }
        for (scales, collides) in [
            (
                vec![("pallio-symptoms", "BURDEN"), ("pallio-extra", "BURDEN")],
                None,
            ),
            (
                vec![("pallio-symptoms", "BURDEN"), ("pallio-symptoms", "BURDEN")],
                None,
            ),
            (
                vec![("pallio", "SYMPTOMS_BURDEN"), ("pallio-symptoms", "BURDEN")],
                Some("PALLIO_SYMPTOMS_BURDEN"),
            ),
            (vec![("eortc-qlq-c30", "PA"), ("c30", "PA")], Some("C30_PA")),
        ] {
            let found = scale_key_collisions(&scales);
            assert_eq!(found.first().map(|c| c.0.as_str()), collides, "{scales:?}");
        }
    }
}

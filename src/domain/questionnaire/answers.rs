//! The answer shape every endpoint takes — `{"item", "value", "lesion"}` — and its validation
//! against a definition: codes, ranges, types, per-lesion placement. A blank answer (`null`)
//! stays blank; it is never turned into 0.

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Definition, ItemType};

pub const DEFAULT_TEXT_MAX: usize = 2000;

/// One answer as sent. `lesion` is present exactly on per-lesion items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub item: String,
    #[serde(default)]
    pub value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lesion: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AnswerValue {
    Blank,
    Code(i64),
    Date(NaiveDate),
    Text(String),
}

impl AnswerValue {
    pub fn code(&self) -> Option<i64> {
        match self {
            AnswerValue::Code(c) => Some(*c),
            _ => None,
        }
    }
}

/// An answer that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Valid {
    pub item: String,
    pub lesion: Option<String>,
    pub value: AnswerValue,
}

/// What is wrong with one answer, and where: `answers[3] (item q5, lesion L1): …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("answers[{index}] (item {item}{}): {problem}", lesion.as_ref().map(|l| format!(", lesion {l}")).unwrap_or_default())]
pub struct AnswerError {
    pub index: usize,
    pub item: String,
    pub lesion: Option<String>,
    pub problem: String,
}

/// The errors as one message for a person: the first `MAX_LISTED`, each cut to a readable
/// length, then how many more there are. A request with a million bad answers gets a short
/// answer, not a longer one.
pub fn summarize(errors: &[AnswerError]) -> String {
    const MAX_LISTED: usize = 10;
    const MAX_CHARS: usize = 200;
    let mut parts: Vec<String> = errors
        .iter()
        .take(MAX_LISTED)
        .map(|e| {
            let text = e.to_string();
            if text.chars().count() > MAX_CHARS {
                format!("{}…", text.chars().take(MAX_CHARS).collect::<String>())
            } else {
                text
            }
        })
        .collect();
    if errors.len() > MAX_LISTED {
        parts.push(format!("and {} more problems", errors.len() - MAX_LISTED));
    }
    parts.join("; ")
}

/// A form is received when at least one item is answered (CONSORT-PRO counts forms, not
/// visits); one where every answer is blank was not done.
pub fn any_answered(valid: &[Valid]) -> bool {
    valid.iter().any(|a| a.value != AnswerValue::Blank)
}

/// Validate answers. `lesions`: the lesion ids this response is for, when known (a
/// participant's active lesions); `None` accepts any lesion id on per-lesion items.
pub fn validate(
    def: &Definition,
    answers: &[Answer],
    lesions: Option<&[String]>,
) -> Result<Vec<Valid>, Vec<AnswerError>> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (index, a) in answers.iter().enumerate() {
        let fail = |problem: String| AnswerError {
            index,
            item: a.item.clone(),
            lesion: a.lesion.clone(),
            problem,
        };
        let Some(placed) = def.item(&a.item) else {
            errors.push(fail(format!(
                "{} {} has no item {:?}",
                def.key, def.version, a.item
            )));
            continue;
        };
        if let Err(problem) = lesion_fits(a.lesion.as_deref(), placed.group.is_some(), lesions) {
            errors.push(fail(problem));
            continue;
        }
        if !seen.insert((a.item.clone(), a.lesion.clone())) {
            errors.push(fail("answered twice".into()));
            continue;
        }
        match value_for(def, placed.item, &a.value) {
            Ok(value) => out.push(Valid {
                item: a.item.clone(),
                lesion: a.lesion.clone(),
                value,
            }),
            Err(problem) => errors.push(fail(problem)),
        }
    }
    errors.extend(not_asked(def, &out));
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// An answer names a lesion exactly when its item is asked per lesion, and then one of the
/// response's lesions (when known).
fn lesion_fits(
    lesion: Option<&str>,
    per_lesion: bool,
    lesions: Option<&[String]>,
) -> Result<(), String> {
    match (lesion, per_lesion) {
        (None, true) => Err("this item is asked per lesion: give \"lesion\"".into()),
        (Some(_), false) => Err("this item is not asked per lesion: remove \"lesion\"".into()),
        (Some(l), true) if lesions.is_some_and(|ls| !ls.iter().any(|x| x == l)) => Err(format!(
            "lesion {l:?} is not one of this response's lesions"
        )),
        _ => Ok(()),
    }
}

/// Whether an item is asked, given the answers so far: always, unless its `show_if` names an
/// item whose coded answer (for the same lesion, else the one not per lesion) is not one of the
/// listed codes. `code_of(item, lesion)` reads an answer's code.
pub fn is_asked(
    def: &Definition,
    item: &str,
    lesion: Option<&str>,
    code_of: impl Fn(&str, Option<&str>) -> Option<i64>,
) -> bool {
    let Some(cond) = def.item(item).and_then(|p| p.item.show_if.as_ref()) else {
        return true;
    };
    code_of(&cond.item, lesion)
        .or_else(|| lesion.and_then(|_| code_of(&cond.item, None)))
        .is_some_and(|c| cond.any_of.contains(&c))
}

/// The answered items that are no longer asked with `answers` (their `show_if` fails), as
/// (item, lesion): repeatedly, since an answer that goes can take the questions that depend on it
/// along. The pages clear these with the save that changed the answer.
pub fn no_longer_asked(def: &Definition, answers: &[Answer]) -> Vec<(String, Option<String>)> {
    let mut current: Vec<&Answer> = answers.iter().filter(|a| !a.value.is_null()).collect();
    let mut gone = Vec::new();
    loop {
        let code_of = |item: &str, lesion: Option<&str>| {
            current
                .iter()
                .find(|a| a.item == item && a.lesion.as_deref() == lesion)
                .and_then(|a| code_of_value(&a.value))
        };
        let now: Vec<(String, Option<String>)> = current
            .iter()
            .filter(|a| !is_asked(def, &a.item, a.lesion.as_deref(), code_of))
            .map(|a| (a.item.clone(), a.lesion.clone()))
            .collect();
        if now.is_empty() {
            return gone;
        }
        current.retain(|a| !now.iter().any(|(i, l)| *i == a.item && *l == a.lesion));
        gone.extend(now);
    }
}

/// The code of a JSON answer value (yes/no `true`/`false` as 1/0).
pub fn code_of_value(value: &Value) -> Option<i64> {
    match value {
        Value::Bool(b) => Some(i64::from(*b)),
        v => v.as_i64(),
    }
}

/// Answers to items whose display condition is not met: they were never asked.
fn not_asked(def: &Definition, out: &[Valid]) -> Vec<AnswerError> {
    let mut errors = Vec::new();
    let code_of = |item: &str, lesion: Option<&str>| {
        out.iter()
            .find(|o| o.item == item && o.lesion.as_deref() == lesion)
            .and_then(|o| o.value.code())
    };
    for (index, v) in out.iter().enumerate() {
        if v.value == AnswerValue::Blank {
            continue;
        }
        if !is_asked(def, &v.item, v.lesion.as_deref(), code_of) {
            let cond = def.item(&v.item).and_then(|p| p.item.show_if.as_ref());
            errors.push(AnswerError {
                index,
                item: v.item.clone(),
                lesion: v.lesion.clone(),
                problem: match cond {
                    Some(c) => format!("is only asked when {} is one of {:?}", c.item, c.any_of),
                    None => "is not asked".into(),
                },
            });
        }
    }
    errors
}

/// The one stored (and exported) coding of an answer value, whatever the client sent: a yes/no
/// item is 0 (no) or 1 (yes), never `false`/`true` (docs/exports.md, dictionary). Values that do
/// not fit their item are left as they are, for validation to name.
pub fn canonical(def: &Definition, item: &str, value: &Value) -> Value {
    match (def.item(item).map(|p| p.item.kind), value) {
        (Some(ItemType::YesNo), Value::Bool(b)) => Value::from(i64::from(*b)),
        _ => value.clone(),
    }
}

fn value_for(def: &Definition, item: &super::Item, value: &Value) -> Result<AnswerValue, String> {
    if value.is_null() {
        return Ok(AnswerValue::Blank);
    }
    let whole = |v: &Value| -> Result<i64, String> {
        v.as_i64()
            .ok_or_else(|| format!("{v} is not a whole number"))
    };
    match item.kind {
        ItemType::SingleChoice => {
            let code = whole(value)?;
            let options = def.options(item);
            if options.iter().any(|o| o.code == code) {
                Ok(AnswerValue::Code(code))
            } else {
                let codes: Vec<String> = options.iter().map(|o| o.code.to_string()).collect();
                Err(format!(
                    "{code} is not one of the codes {}",
                    codes.join(", ")
                ))
            }
        }
        ItemType::Nrs | ItemType::Integer => {
            let n = whole(value)?;
            let (min, max) = (item.min.unwrap_or(i64::MIN), item.max.unwrap_or(i64::MAX));
            if (min..=max).contains(&n) {
                Ok(AnswerValue::Code(n))
            } else {
                Err(format!("{n} is outside {min}–{max}"))
            }
        }
        ItemType::YesNo => match value {
            Value::Bool(b) => Ok(AnswerValue::Code(i64::from(*b))),
            v => match whole(v)? {
                c @ (0 | 1) => Ok(AnswerValue::Code(c)),
                c => Err(format!("{c} is not 0 (no) or 1 (yes)")),
            },
        },
        ItemType::Date => {
            let s = value
                .as_str()
                .ok_or_else(|| format!("{value} is not a date string"))?;
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(AnswerValue::Date)
                .map_err(|_| format!("{s:?} is not a date as YYYY-MM-DD"))
        }
        ItemType::Text => {
            let s = value
                .as_str()
                .ok_or_else(|| format!("{value} is not text"))?;
            let max = item.max_length.map_or(DEFAULT_TEXT_MAX, |m| m as usize);
            if s.chars().count() > max {
                Err(format!("text is longer than {max} characters"))
            } else {
                Ok(AnswerValue::Text(s.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::questionnaire::parse_definition;
    use serde_json::json;

    /// One yes/no, one choice, one text item.
    fn small() -> Definition {
        parse_definition(
            "small",
            r#"{"key": "small", "version": "1.0", "title": "t", "languages": ["en"],
                "license": {"holder": "x", "wording": "open"},
                "option_sets": {"ab": [{"code": 1, "text": "a"}, {"code": 2, "text": "b"}]},
                "items": [
                  {"id": "yn", "type": "yes_no", "text": "yn"},
                  {"id": "ch", "type": "single_choice", "text": "ch", "options": "ab"},
                  {"id": "tx", "type": "text", "text": "tx"}
                ]}"#,
        )
        .expect("small definition")
        .0
    }

    /// A yes/no answer has one coding, 0/1, whatever the client sent; nothing else changes.
    #[test]
    fn yes_no_has_one_stored_coding() {
        let d = small();
        for (item, sent, stored) in [
            ("yn", json!(true), json!(1)),
            ("yn", json!(false), json!(0)),
            ("yn", json!(1), json!(1)),
            ("yn", json!(0), json!(0)),
            ("yn", json!(null), json!(null)),
            ("yn", json!("yes"), json!("yes")),
            ("ch", json!(true), json!(true)),
            ("tx", json!("true"), json!("true")),
            ("unknown", json!(true), json!(true)),
        ] {
            assert_eq!(canonical(&d, item, &sent), stored, "{item}: {sent}");
        }
    }

    fn c30() -> Definition {
        parse_definition(
            "c30",
            include_str!("../../../questionnaires/eortc-qlq-c30/3.0/definition.json"),
        )
        .expect("c30")
        .0
    }
    fn nrs() -> Definition {
        parse_definition(
            "nrs",
            include_str!("../../../questionnaires/nrs-lesion-pain/1.0.0/definition.json"),
        )
        .expect("nrs")
        .0
    }
    fn answers(v: Value) -> Vec<Answer> {
        serde_json::from_value(v).expect("answers")
    }

    #[test]
    fn blank_stays_blank() {
        let ok = validate(
            &c30(),
            &answers(json!([{"item": "q1", "value": null}])),
            None,
        )
        .expect("valid");
        assert_eq!(ok[0].value, AnswerValue::Blank);
    }

    #[test]
    fn a_form_is_received_when_one_item_is_answered() {
        let cases = [
            (json!([]), false),
            (json!([{"item": "q1", "value": null}]), false),
            (
                json!([{"item": "q1", "value": null}, {"item": "q2", "value": null}]),
                false,
            ),
            (
                json!([{"item": "q1", "value": null}, {"item": "q2", "value": 1}]),
                true,
            ),
            (json!([{"item": "q1", "value": 4}]), true),
        ];
        for (given, received) in cases {
            let valid = validate(&c30(), &answers(given.clone()), None).expect("valid");
            assert_eq!(any_answered(&valid), received, "{given}");
        }
    }

    #[test]
    fn table_of_bad_answers() {
        let l = vec!["L1".to_string(), "L2".to_string()];
        let cases = [
            (
                c30(),
                json!([{"item": "q1", "value": 9}]),
                "answers[0] (item q1): 9 is not one of the codes 1, 2, 3, 4",
            ),
            (
                c30(),
                json!([{"item": "q29", "value": 2.5}]),
                "is not a whole number",
            ),
            (c30(), json!([{"item": "q99", "value": 1}]), "has no item"),
            (
                c30(),
                json!([{"item": "q1", "value": 1}, {"item": "q1", "value": 2}]),
                "answers[1] (item q1): answered twice",
            ),
            (
                c30(),
                json!([{"item": "q1", "value": 1, "lesion": "L1"}]),
                "not asked per lesion",
            ),
            (
                nrs(),
                json!([{"item": "worst_pain", "value": 3}]),
                "give \"lesion\"",
            ),
            (
                nrs(),
                json!([{"item": "worst_pain", "value": 11, "lesion": "L1"}]),
                "(item worst_pain, lesion L1): 11 is outside 0–10",
            ),
            (
                nrs(),
                json!([{"item": "worst_pain", "value": 1, "lesion": "L9"}]),
                "not one of this response's lesions",
            ),
        ];
        for (def, given, expected) in cases {
            let errors = validate(&def, &answers(given.clone()), Some(&l)).expect_err("invalid");
            assert!(
                errors.iter().any(|e| e.to_string().contains(expected)),
                "{given}: {errors:?}"
            );
        }
    }

    #[test]
    fn per_lesion_items_accept_each_lesion_once() {
        let l = vec!["L1".to_string(), "L2".to_string()];
        let ok = validate(
            &nrs(),
            &answers(json!([{"item": "worst_pain", "value": 0, "lesion": "L1"}, {"item": "worst_pain", "value": 10, "lesion": "L2"}])),
            Some(&l),
        )
        .expect("valid");
        assert_eq!(ok.len(), 2);
    }

    #[test]
    fn long_error_lists_are_capped() {
        let errors: Vec<AnswerError> = (0..5000)
            .map(|index| AnswerError {
                index,
                item: "x".repeat(1000),
                lesion: None,
                problem: "unknown".into(),
            })
            .collect();
        let text = summarize(&errors);
        assert!(text.len() < 4000, "{}", text.len());
        assert!(text.starts_with("answers[0]"));
        assert!(text.ends_with("and 4990 more problems"), "{text}");
    }

    /// A changed answer takes the questions that depend on it along, and theirs in turn.
    #[test]
    fn answers_that_no_longer_apply_are_found_down_the_chain() {
        let def: Definition = serde_json::from_value(json!({
            "key": "k", "version": "1", "title": "t", "license": {"holder": "h", "wording": "open"},
            "languages": ["en"], "option_sets": {"o": [{"code": 1, "text": "a"}, {"code": 2, "text": "b"}]},
            "items": [
                {"id": "pain", "type": "single_choice", "text": "p", "options": "o"},
                {"id": "medicine", "type": "yes_no", "text": "m", "show_if": {"item": "pain", "in": [2]}},
                {"id": "helps", "type": "yes_no", "text": "h", "show_if": {"item": "medicine", "in": [1]}},
                {"id": "mood", "type": "single_choice", "text": "x", "options": "o"}
            ]
        }))
        .expect("definition");
        let with = |pain: i64| {
            answers(json!([
                {"item": "pain", "value": pain}, {"item": "medicine", "value": true},
                {"item": "helps", "value": 0}, {"item": "mood", "value": 1}
            ]))
        };
        assert!(no_longer_asked(&def, &with(2)).is_empty());
        let gone: Vec<String> = no_longer_asked(&def, &with(1))
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(gone, ["medicine", "helps"]);
    }
}

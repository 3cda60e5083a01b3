//! A questionnaire as pages: items in order (per-lesion items once per lesion), at most
//! `PER_PAGE` to a page and a new page where the recall period changes, so the recall header
//! printed on each page is true for every item on it. Reads a posted page back into answers.
//! Shared by the participant's pages and staff entry (interview, paper).

use serde::Serialize;
use serde_json::Value;

use crate::{
    answering::LesionRef,
    domain::questionnaire::{
        Definition, ItemType,
        answers::{self, Answer},
        text::Wording,
    },
};

pub const PER_PAGE: usize = 6;

/// One question as asked: an item, for one lesion when the item is per lesion.
#[derive(Debug, Clone)]
pub struct Slot {
    pub item: String,
    pub lesion: Option<String>,
    pub recall: Option<String>,
    /// 1-based, as shown.
    pub number: usize,
}

impl Slot {
    /// The form field of this question.
    pub fn field(&self) -> String {
        match &self.lesion {
            Some(l) => format!("q.{}.{l}", self.item),
            None => format!("q.{}", self.item),
        }
    }
}

pub fn slots(def: &Definition, lesions: &[LesionRef]) -> Vec<Slot> {
    let mut out = Vec::new();
    for placed in def.all_items() {
        let ids: Vec<Option<String>> = if placed.group.is_some() {
            lesions.iter().map(|l| Some(l.id.clone())).collect()
        } else {
            vec![None]
        };
        for lesion in ids {
            out.push(Slot {
                item: placed.item.id.clone(),
                lesion,
                recall: placed.item.recall.clone(),
                number: out.len() + 1,
            });
        }
    }
    out
}

/// Page boundaries as index ranges into `slots`.
pub fn pages(slots: &[Slot]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=slots.len() {
        let end_here =
            i == slots.len() || i - start == PER_PAGE || slots[i].recall != slots[start].recall;
        if end_here {
            out.push(start..i);
            start = i;
        }
    }
    out
}

#[derive(Debug, Clone, Serialize)]
pub struct OptionView {
    pub value: String,
    pub text: String,
    pub checked: bool,
}

/// One question ready for the template.
#[derive(Debug, Clone, Serialize)]
pub struct ItemView {
    pub field: String,
    /// Safe for an HTML id.
    pub id: String,
    pub number: usize,
    pub text: String,
    pub lesion_label: Option<String>,
    /// choice, nrs, integer, date or text.
    pub kind: &'static str,
    pub options: Vec<OptionView>,
    pub anchor_min: Option<String>,
    pub anchor_max: Option<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub value: String,
    pub answered: bool,
    /// Not asked with the answers so far (`show_if`): sent hidden, shown by the page script when
    /// the answer it depends on (on the same page) changes.
    pub hidden: bool,
    /// The field this question depends on, when it is on the same page, and the values that
    /// show it ("1 2").
    pub show_field: Option<String>,
    pub show_values: String,
}

fn word(w: Option<&Wording>, key: &str) -> String {
    w.and_then(|w| w.get(key)).unwrap_or(key).to_string()
}

/// The wording's text for `key`, else `fallback` (a page word in the same language).
fn own_word(w: Option<&Wording>, key: &str, fallback: &str) -> String {
    w.and_then(|w| w.get(key)).unwrap_or(fallback).to_string()
}

/// Whether a slot's question is asked with `answers` (its `show_if` holds, or it has none).
pub fn applies(def: &Definition, slot: &Slot, answers: &[Answer]) -> bool {
    answers::is_asked(def, &slot.item, slot.lesion.as_deref(), |item, lesion| {
        answers
            .iter()
            .find(|a| a.item == item && a.lesion.as_deref() == lesion)
            .and_then(|a| answers::code_of_value(&a.value))
    })
}

/// `answers` with `posted` laid over them by (item, lesion); a `null` clears.
pub fn overlay(answers: &[Answer], posted: &[Answer]) -> Vec<Answer> {
    let mut out: Vec<Answer> = answers.to_vec();
    for p in posted {
        out.retain(|a| !(a.item == p.item && a.lesion == p.lesion));
        if !p.value.is_null() {
            out.push(p.clone());
        }
    }
    out
}

/// The stored value of a slot, if answered (not blank).
pub fn value_of<'a>(answers: &'a [Answer], slot: &Slot) -> Option<&'a Value> {
    answers
        .iter()
        .find(|a| a.item == slot.item && a.lesion == slot.lesion)
        .map(|a| &a.value)
        .filter(|v| !v.is_null())
}

fn value_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => i64::from(*b).to_string(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

pub fn item_view(
    def: &Definition,
    w: Option<&Wording>,
    slot: &Slot,
    lesions: &[LesionRef],
    lang: &str,
    answers: &[Answer],
    yes_no: &[String; 2],
) -> Option<ItemView> {
    let placed = def.item(&slot.item)?;
    let item = placed.item;
    let value = value_text(value_of(answers, slot));
    let options = |pairs: Vec<(String, String)>| {
        pairs
            .into_iter()
            .map(|(v, text)| OptionView {
                checked: v == value,
                value: v,
                text,
            })
            .collect()
    };
    let (kind, opts) = match item.kind {
        ItemType::SingleChoice => (
            "choice",
            options(
                def.options(item)
                    .iter()
                    .map(|o| (o.code.to_string(), word(w, &o.text)))
                    .collect(),
            ),
        ),
        ItemType::YesNo => (
            "choice",
            options(vec![
                ("1".into(), own_word(w, "yes", &yes_no[0])),
                ("0".into(), own_word(w, "no", &yes_no[1])),
            ]),
        ),
        ItemType::Nrs => {
            let (lo, hi) = (item.min.unwrap_or(0), item.max.unwrap_or(10));
            (
                "nrs",
                options((lo..=hi).map(|n| (n.to_string(), n.to_string())).collect()),
            )
        }
        ItemType::Integer => ("integer", vec![]),
        ItemType::Date => ("date", vec![]),
        ItemType::Text => ("text", vec![]),
    };
    let lesion_label = slot.lesion.as_ref().map(|id| {
        lesions
            .iter()
            .find(|l| l.id == *id)
            .map(|l| l.label(lang))
            .unwrap_or_else(|| id.clone())
    });
    // The lesion is named prominently above its question, and in the question where the
    // wording has a place for it.
    let mut text = word(w, &item.text);
    if let Some(label) = &lesion_label {
        text = text.replace("{lesion}", label);
    }
    Some(ItemView {
        field: slot.field(),
        id: format!("i{}", slot.number),
        number: slot.number,
        text,
        lesion_label,
        kind,
        options: opts,
        anchor_min: item.anchors.as_ref().map(|a| word(w, &a.min)),
        anchor_max: item.anchors.as_ref().map(|a| word(w, &a.max)),
        min: item.min,
        max: item.max,
        answered: !value.is_empty(),
        value,
        hidden: false,
        show_field: None,
        show_values: item
            .show_if
            .as_ref()
            .map(|c| {
                c.any_of
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
    })
}

/// The answers posted for the slots of one page. Fields left empty are not sent (a blank stays
/// blank; nothing earlier is cleared). A value that is not a number where one is expected is
/// reported with the question's number.
pub fn read_page(
    def: &Definition,
    slots: &[Slot],
    form: &[(String, String)],
) -> Result<Vec<Answer>, String> {
    let mut out = Vec::new();
    for slot in slots {
        let Some((_, raw)) = form.iter().rev().find(|(k, _)| *k == slot.field()) else {
            continue;
        };
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let Some(placed) = def.item(&slot.item) else {
            continue;
        };
        let value = match placed.item.kind {
            ItemType::SingleChoice | ItemType::Nrs | ItemType::Integer | ItemType::YesNo => raw
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("question {}: {raw:?} is not a number", slot.number))?,
            ItemType::Date | ItemType::Text => Value::String(raw.to_string()),
        };
        out.push(Answer {
            item: slot.item.clone(),
            value,
            lesion: slot.lesion.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(item: &str, recall: Option<&str>, number: usize) -> Slot {
        Slot {
            item: item.into(),
            lesion: None,
            recall: recall.map(String::from),
            number,
        }
    }

    #[test]
    fn pages_hold_at_most_six_and_break_where_the_recall_changes() {
        let mut s: Vec<Slot> = (1..=7).map(|n| slot(&format!("q{n}"), None, n)).collect();
        s.extend((8..=28).map(|n| slot(&format!("q{n}"), Some("week"), n)));
        let p = pages(&s);
        assert_eq!(p[0], 0..6);
        assert_eq!(p[1], 6..7, "q7 ends the general block");
        assert_eq!(p[2], 7..13);
        assert!(p.iter().all(|r| r.len() <= PER_PAGE));
        assert_eq!(p.last().map(|r| r.end), Some(28));
        for r in &p {
            assert!(s[r.clone()].iter().all(|x| x.recall == s[r.start].recall));
        }
    }

    #[test]
    fn an_empty_field_stays_blank_and_a_bad_number_names_the_question() {
        let def: Definition = serde_json::from_value(serde_json::json!({
            "key": "k", "version": "1", "title": "t", "license": {"holder": "h", "wording": "open"},
            "languages": ["en"], "option_sets": {"o": [{"code": 1, "text": "a"}]},
            "items": [{"id": "q1", "type": "single_choice", "text": "q1", "options": "o"},
                      {"id": "q2", "type": "nrs", "text": "q2", "min": 0, "max": 10}]
        }))
        .expect("definition");
        let s = slots(&def, &[]);
        let got = read_page(
            &def,
            &s,
            &[("q.q1".into(), "1".into()), ("q.q2".into(), "".into())],
        )
        .expect("read");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].value, Value::from(1));
        let err = read_page(&def, &s, &[("q.q2".into(), "x".into())]).expect_err("bad");
        assert!(err.contains("question 2"), "{err}");
    }
}

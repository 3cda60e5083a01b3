//! Questionnaire definitions: the structure of one published version (items, option sets,
//! per-lesion groups, conditions) with its text keys, and the checks that make a definition
//! trustworthy. Wording lives in `text`, scoring in `scoring`, answers in `answers`.
//! Pure: files are read by the `questionnaires` service and handed in as text.

pub(crate) mod answers;
pub mod fhir;
pub(crate) mod scoring;
pub(crate) mod text;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::audit::canonical_json;

/// JSON Schema every definition must satisfy (questionnaires/schema/definition.schema.json).
pub const DEFINITION_SCHEMA: &str =
    include_str!("../../../questionnaires/schema/definition.schema.json");
/// JSON Schema every scoring file must satisfy.
pub const SCORING_SCHEMA: &str = include_str!("../../../questionnaires/schema/scoring.schema.json");

/// One problem in a questionnaire file: which file, where in it (JSON pointer), what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {pointer}: {problem}")]
pub struct FormatError {
    pub file: String,
    pub pointer: String,
    pub problem: String,
}

impl FormatError {
    pub fn new(file: &str, pointer: impl Into<String>, problem: impl Into<String>) -> Self {
        let pointer = pointer.into();
        Self {
            file: file.to_string(),
            pointer: if pointer.is_empty() {
                "/".into()
            } else {
                pointer
            },
            problem: problem.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemType {
    SingleChoice,
    Nrs,
    Integer,
    YesNo,
    Date,
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub code: i64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchors {
    pub min: String,
    pub max: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub item: String,
    #[serde(rename = "in")]
    pub any_of: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ItemType,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchors: Option<Anchors>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_if: Option<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Repeat {
    PerActiveLesion,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub repeat: Repeat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub items: Vec<Item>,
}

/// An entry of `items`: a plain item, or a group repeated per active lesion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Item(Item),
    Group(Group),
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        if v.get("type").and_then(Value::as_str) == Some("group") {
            serde_json::from_value(v)
                .map(Entry::Group)
                .map_err(serde::de::Error::custom)
        } else {
            serde_json::from_value(v)
                .map(Entry::Item)
                .map_err(serde::de::Error::custom)
        }
    }
}

impl Serialize for Entry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Entry::Item(i) => i.serialize(s),
            Entry::Group(g) => {
                let mut v = serde_json::to_value(g).map_err(serde::ser::Error::custom)?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("type".into(), Value::String("group".into()));
                }
                v.serialize(s)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicensedWording {
    Open,
    Licensed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct License {
    pub holder: String,
    pub wording: LicensedWording,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One questionnaire version's structure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    pub key: String,
    pub version: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    pub license: License,
    pub languages: Vec<String>,
    #[serde(default)]
    pub option_sets: BTreeMap<String, Vec<Choice>>,
    pub items: Vec<Entry>,
}

/// An item with where it sits: inside a per-lesion group or not.
#[derive(Debug, Clone, Copy)]
pub struct Placed<'a> {
    pub item: &'a Item,
    pub group: Option<&'a Group>,
}

impl Definition {
    /// Every item in order, groups flattened.
    pub fn all_items(&self) -> Vec<Placed<'_>> {
        let mut out = Vec::new();
        for entry in &self.items {
            match entry {
                Entry::Item(item) => out.push(Placed { item, group: None }),
                Entry::Group(group) => out.extend(group.items.iter().map(|item| Placed {
                    item,
                    group: Some(group),
                })),
            }
        }
        out
    }

    pub fn item(&self, id: &str) -> Option<Placed<'_>> {
        self.all_items().into_iter().find(|p| p.item.id == id)
    }

    pub fn options(&self, item: &Item) -> &[Choice] {
        item.options
            .as_ref()
            .and_then(|name| self.option_sets.get(name))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The integer codes an item accepts, as (min, max) for range-like items.
    pub fn code_range(&self, item: &Item) -> Option<(i64, i64)> {
        match item.kind {
            ItemType::SingleChoice => {
                let codes = self.options(item).iter().map(|o| o.code);
                Some((codes.clone().min()?, codes.max()?))
            }
            ItemType::Nrs | ItemType::Integer => Some((item.min?, item.max?)),
            ItemType::YesNo => Some((0, 1)),
            ItemType::Date | ItemType::Text => None,
        }
    }

    pub fn item_count(&self) -> usize {
        self.all_items().len()
    }

    /// Every text key the definition uses; each text pack must provide them all.
    pub fn text_keys(&self) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        keys.insert(self.title.clone());
        keys.extend(self.instructions.clone());
        for set in self.option_sets.values() {
            keys.extend(set.iter().map(|o| o.text.clone()));
        }
        for entry in &self.items {
            if let Entry::Group(g) = entry {
                keys.extend(g.text.clone());
            }
        }
        for p in self.all_items() {
            keys.insert(p.item.text.clone());
            keys.extend(p.item.recall.clone());
            if let Some(a) = &p.item.anchors {
                keys.insert(a.min.clone());
                keys.insert(a.max.clone());
            }
        }
        keys
    }
}

/// sha256 of the canonical (RFC 8785) form of a JSON document: what published.lock records.
pub fn content_sha256(value: &Value) -> Result<String, String> {
    let canonical = canonical_json(value).map_err(|e| e.to_string())?;
    Ok(hex::encode(Sha256::digest(canonical.as_bytes())))
}

/// Validate a JSON value against one of the embedded schemas; each error with its pointer.
pub fn schema_errors(file: &str, schema: &str, value: &Value) -> Vec<FormatError> {
    let schema: Value = match serde_json::from_str(schema) {
        Ok(s) => s,
        Err(e) => {
            return vec![FormatError::new(
                file,
                "",
                format!("embedded schema unreadable: {e}"),
            )];
        }
    };
    let validator = match jsonschema::validator_for(&schema) {
        Ok(v) => v,
        Err(e) => {
            return vec![FormatError::new(
                file,
                "",
                format!("embedded schema invalid: {e}"),
            )];
        }
    };
    validator
        .iter_errors(value)
        .map(|e| FormatError::new(file, e.instance_path().as_str(), e.to_string()))
        .collect()
}

/// Parse and check a definition: the JSON Schema, then the rules a schema cannot express
/// (unique ids, known option sets, integer codes, bounds, conditions that point backwards).
pub fn parse_definition(file: &str, text: &str) -> Result<(Definition, Value), Vec<FormatError>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| vec![FormatError::new(file, "", format!("not valid JSON: {e}"))])?;
    let mut errors = Vec::new();
    // Option codes must be integers: checked here too, with a plain message.
    if let Some(sets) = value.get("option_sets").and_then(Value::as_object) {
        for (name, options) in sets {
            for (i, o) in options.as_array().into_iter().flatten().enumerate() {
                if let Some(code) = o.get("code")
                    && !code.is_i64()
                {
                    errors.push(FormatError::new(
                        file,
                        format!("/option_sets/{name}/{i}/code"),
                        format!("option code {code} is not an integer"),
                    ));
                }
            }
        }
    }
    errors.extend(schema_errors(file, DEFINITION_SCHEMA, &value));
    if !errors.is_empty() {
        return Err(errors);
    }
    let def: Definition = serde_json::from_value(value.clone())
        .map_err(|e| vec![FormatError::new(file, "", e.to_string())])?;
    let errors = semantic_errors(file, &def);
    if errors.is_empty() {
        Ok((def, value))
    } else {
        Err(errors)
    }
}

fn semantic_errors(file: &str, def: &Definition) -> Vec<FormatError> {
    let mut found: Vec<(String, String)> = Vec::new();
    for (name, set) in &def.option_sets {
        let mut seen = HashSet::new();
        for (i, o) in set.iter().enumerate() {
            if !seen.insert(o.code) {
                found.push((
                    format!("/option_sets/{name}/{i}/code"),
                    format!("duplicate option code {}", o.code),
                ));
            }
        }
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut earlier: Vec<&Item> = Vec::new();
    for (i, entry) in def.items.iter().enumerate() {
        match entry {
            Entry::Item(item) => {
                check_item(
                    def,
                    item,
                    format!("/items/{i}"),
                    &mut seen,
                    &earlier,
                    &mut found,
                );
                earlier.push(item);
            }
            Entry::Group(group) => {
                if !seen.insert(group.id.clone()) {
                    found.push((
                        format!("/items/{i}/id"),
                        format!("duplicate id {:?}", group.id),
                    ));
                }
                for (j, item) in group.items.iter().enumerate() {
                    check_item(
                        def,
                        item,
                        format!("/items/{i}/items/{j}"),
                        &mut seen,
                        &earlier,
                        &mut found,
                    );
                    earlier.push(item);
                }
            }
        }
    }
    found
        .into_iter()
        .map(|(pointer, problem)| FormatError::new(file, pointer, problem))
        .collect()
}

fn check_item(
    def: &Definition,
    item: &Item,
    pointer: String,
    seen: &mut HashSet<String>,
    earlier: &[&Item],
    found: &mut Vec<(String, String)>,
) {
    let mut err = |p: String, m: String| found.push((p, m));
    if !seen.insert(item.id.clone()) {
        err(
            format!("{pointer}/id"),
            format!("duplicate item id {:?}", item.id),
        );
    }
    match item.kind {
        ItemType::SingleChoice => {
            if let Some(name) = &item.options
                && !def.option_sets.contains_key(name)
            {
                err(
                    format!("{pointer}/options"),
                    format!("unknown option set {name:?}"),
                );
            }
        }
        ItemType::Nrs | ItemType::Integer => {
            if let (Some(min), Some(max)) = (item.min, item.max)
                && min >= max
            {
                err(
                    format!("{pointer}/max"),
                    format!("max {max} must be greater than min {min}"),
                );
            }
        }
        _ => {}
    }
    if item.kind != ItemType::SingleChoice && item.options.is_some() {
        err(
            format!("{pointer}/options"),
            "only single_choice items take options".into(),
        );
    }
    if let Some(cond) = &item.show_if {
        match earlier.iter().find(|e| e.id == cond.item) {
            None => err(
                format!("{pointer}/show_if/item"),
                format!(
                    "condition names {:?}, which is not an earlier item",
                    cond.item
                ),
            ),
            Some(target) if matches!(target.kind, ItemType::Date | ItemType::Text) => err(
                format!("{pointer}/show_if/item"),
                format!("condition item {:?} has no integer codes", cond.item),
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C30: &str = include_str!("../../../questionnaires/eortc-qlq-c30/3.0/definition.json");
    const NRS: &str = include_str!("../../../questionnaires/nrs-lesion-pain/1.0.0/definition.json");

    #[test]
    fn shipped_definitions_parse() {
        let (c30, _) = parse_definition("c30", C30).expect("c30");
        assert_eq!(c30.item_count(), 30);
        let q29 = c30.item("q29").expect("q29");
        assert_eq!(c30.code_range(q29.item), Some((1, 7)));
        let (nrs, _) = parse_definition("nrs", NRS).expect("nrs");
        let pain = nrs.item("worst_pain").expect("item");
        assert!(
            pain.group
                .is_some_and(|g| g.repeat == Repeat::PerActiveLesion)
        );
        assert_eq!(nrs.code_range(pain.item), Some((0, 10)));
    }

    fn errors_for(text: &str) -> Vec<FormatError> {
        parse_definition("x/definition.json", text).expect_err("invalid")
    }

    #[test]
    fn errors_name_file_pointer_and_problem() {
        let cases: Vec<(String, &str, &str)> = vec![
            (
                C30.replacen("\"type\": \"single_choice\"", "\"type\": \"slider\"", 1),
                "/items/0",
                "slider",
            ),
            (
                C30.replacen("\"id\": \"q2\"", "\"id\": \"q1\"", 1),
                "/items/1/id",
                "duplicate item id",
            ),
            (
                C30.replacen("\"code\": 2", "\"code\": 2.5", 1),
                "/option_sets/four_point/1/code",
                "not an integer",
            ),
            (
                C30.replacen(
                    "\"options\": \"four_point\"",
                    "\"options\": \"five_point\"",
                    1,
                ),
                "/items/0/options",
                "unknown option set",
            ),
            (
                NRS.replacen("\"max\": 10", "\"max\": 0", 1),
                "/items/0/items/0/max",
                "greater than min",
            ),
            ("{".to_string(), "/", "not valid JSON"),
        ];
        for (text, pointer, problem) in cases {
            let errors = errors_for(&text);
            assert!(
                errors.iter().any(|e| e.file == "x/definition.json"
                    && e.pointer.starts_with(pointer)
                    && e.to_string().contains(problem)),
                "expected {pointer} {problem}, got {errors:?}"
            );
        }
    }

    #[test]
    fn content_hash_ignores_formatting_but_not_content() {
        let a: Value = serde_json::from_str(C30).expect("json");
        let b: Value =
            serde_json::from_str(&serde_json::to_string(&a).expect("compact")).expect("json");
        assert_eq!(content_sha256(&a), content_sha256(&b));
        let c: Value =
            serde_json::from_str(&C30.replacen("\"code\": 4", "\"code\": 5", 1)).expect("json");
        assert_ne!(content_sha256(&a), content_sha256(&c));
    }
}

//! FHIR R4 rendering of a definition: a `Questionnaire` resource with the canonical url and
//! version, linkId = item id, coded answer options, the NRS as an integer item with a slider
//! item control, and per-lesion groups as repeating groups. Wording is included only when given.

use serde_json::{Value, json};

use super::{Definition, Entry, Item, ItemType, text::Wording};

const ITEM_CONTROL: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl";
const ITEM_CONTROL_SYSTEM: &str = "http://hl7.org/fhir/questionnaire-item-control";

/// The canonical url of a questionnaire (without version).
pub fn canonical_url(base_url: &str, key: &str) -> String {
    format!(
        "{}/fhir/Questionnaire/{key}",
        base_url.trim_end_matches('/')
    )
}

/// The code system of one option set.
pub fn option_system(base_url: &str, def: &Definition, set: &str) -> String {
    format!(
        "{}/fhir/CodeSystem/{}-{}-{set}",
        base_url.trim_end_matches('/'),
        def.key,
        def.version
    )
}

/// The computer-friendly name of a questionnaire (`Questionnaire.name`): its key in PascalCase.
pub fn name(key: &str) -> String {
    pascal(key)
}

fn pascal(key: &str) -> String {
    key.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn control(code: &str) -> Value {
    json!({ "url": ITEM_CONTROL, "valueCodeableConcept": { "coding": [{ "system": ITEM_CONTROL_SYSTEM, "code": code }] } })
}

pub fn questionnaire(
    def: &Definition,
    wording: Option<&Wording>,
    base_url: &str,
    language: &str,
) -> Value {
    let text = |key: &str| wording.and_then(|w| w.get(key)).map(str::to_string);
    let mut items = Vec::new();
    let mut recall: Option<String> = None;
    let mut headers = 0;
    for entry in &def.items {
        let first = match entry {
            Entry::Item(i) => Some(i),
            Entry::Group(g) => g.items.first(),
        };
        // A display item whenever the recall period changes, carrying its header.
        if let Some(r) = first.and_then(|i| i.recall.clone())
            && recall.as_ref() != Some(&r)
        {
            recall = Some(r.clone());
            headers += 1;
            if let Some(t) = text(&r) {
                items.push(
                    json!({ "linkId": format!("recall-{headers}"), "type": "display", "text": t }),
                );
            }
        }
        match entry {
            Entry::Item(item) => items.push(render_item(def, item, base_url, &text)),
            Entry::Group(group) => {
                let mut g = json!({
                    "linkId": group.id,
                    "type": "group",
                    "repeats": true,
                    "item": group.items.iter().map(|i| render_item(def, i, base_url, &text)).collect::<Vec<_>>(),
                });
                if let Some(t) = group.text.as_deref().and_then(text) {
                    g["text"] = json!(t);
                }
                items.push(g);
            }
        }
    }
    let mut q = json!({
        "resourceType": "Questionnaire",
        "id": format!("{}-{}", def.key, def.version),
        "url": canonical_url(base_url, &def.key),
        "version": def.version,
        "name": pascal(&def.key),
        "status": "active",
        "language": language,
        "publisher": def.license.holder,
        "item": items,
    });
    if let Some(t) = text(&def.title) {
        q["title"] = json!(t);
    }
    if let Some(t) = def.instructions.as_deref().and_then(text) {
        q["description"] = json!(t);
    }
    q
}

fn render_item(
    def: &Definition,
    item: &Item,
    base_url: &str,
    text: &dyn Fn(&str) -> Option<String>,
) -> Value {
    let mut v = json!({ "linkId": item.id, "required": item.required });
    if let Some(t) = text(&item.text) {
        v["text"] = json!(t);
    }
    match item.kind {
        ItemType::SingleChoice => {
            v["type"] = json!("choice");
            let set = item.options.clone().unwrap_or_default();
            let system = option_system(base_url, def, &set);
            v["answerOption"] = def
                .options(item)
                .iter()
                .map(|o| {
                    let mut coding = json!({ "system": system, "code": o.code.to_string() });
                    if let Some(t) = text(&o.text) {
                        coding["display"] = json!(t);
                    }
                    json!({ "valueCoding": coding })
                })
                .collect();
        }
        ItemType::Nrs => {
            v["type"] = json!("integer");
            let mut ext = vec![control("slider")];
            ext.extend(min_max(item));
            ext.push(json!({ "url": "http://hl7.org/fhir/StructureDefinition/questionnaire-sliderStepValue", "valueInteger": 1 }));
            v["extension"] = json!(ext);
            let anchors = anchors(item, text);
            if !anchors.is_empty() {
                v["item"] = json!(anchors);
            }
        }
        ItemType::Integer => {
            v["type"] = json!("integer");
            let ext = min_max(item);
            if !ext.is_empty() {
                v["extension"] = json!(ext);
            }
        }
        ItemType::YesNo => v["type"] = json!("boolean"),
        ItemType::Date => v["type"] = json!("date"),
        ItemType::Text => {
            v["type"] = json!("text");
            if let Some(m) = item.max_length {
                v["maxLength"] = json!(m);
            }
        }
    }
    if let Some(when) = enable_when(def, item, base_url) {
        if when.len() > 1 {
            v["enableBehavior"] = json!("any");
        }
        v["enableWhen"] = json!(when);
    }
    v
}

/// minValue / maxValue extensions of a numeric item.
fn min_max(item: &Item) -> Vec<Value> {
    let mut ext = vec![];
    if let Some(min) = item.min {
        ext.push(json!({ "url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": min }));
    }
    if let Some(max) = item.max {
        ext.push(json!({ "url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": max }));
    }
    ext
}

/// An NRS item's anchor texts (lower, upper) as display items.
fn anchors(item: &Item, text: &dyn Fn(&str) -> Option<String>) -> Vec<Value> {
    let Some(a) = &item.anchors else {
        return vec![];
    };
    [("lower", &a.min, "lower"), ("upper", &a.max, "upper")]
        .into_iter()
        .filter_map(|(suffix, key, code)| {
            text(key).map(|t| {
                json!({
                    "linkId": format!("{}-{suffix}", item.id),
                    "type": "display",
                    "text": t,
                    "extension": [control(code)],
                })
            })
        })
        .collect()
}

/// An item's display condition as FHIR enableWhen entries (any of them enables it).
fn enable_when(def: &Definition, item: &Item, base_url: &str) -> Option<Vec<Value>> {
    let cond = item.show_if.as_ref()?;
    let target = def.item(&cond.item)?;
    Some(
        cond.any_of
            .iter()
            .map(|code| {
                let mut w = json!({ "question": cond.item, "operator": "=" });
                match target.item.kind {
                    ItemType::SingleChoice => {
                        let set = target.item.options.clone().unwrap_or_default();
                        w["answerCoding"] = json!({ "system": option_system(base_url, def, &set), "code": code.to_string() });
                    }
                    ItemType::YesNo => w["answerBoolean"] = json!(*code == 1),
                    _ => w["answerInteger"] = json!(code),
                }
                w
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::questionnaire::{
        parse_definition,
        text::{Source, parse_pack},
    };

    #[test]
    fn nrs_renders_as_a_repeating_group_with_a_slider() {
        let text = include_str!("../../../questionnaires/nrs-lesion-pain/1.0.0/definition.json");
        let (def, _) = parse_definition("d", text).expect("def");
        let pack = parse_pack(
            "en",
            include_str!("../../../questionnaires/nrs-lesion-pain/1.0.0/text/en.json"),
            &def,
            "en",
            Source::Shipped,
        )
        .expect("pack");
        let q = questionnaire(&def, Some(&pack), "https://epro.example", "en");
        assert_eq!(
            q["url"],
            "https://epro.example/fhir/Questionnaire/nrs-lesion-pain"
        );
        assert_eq!(q["version"], "1.0.0");
        let group = q["item"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["type"] == "group")
            .expect("group");
        assert_eq!(group["repeats"], true);
        let nrs = &group["item"][0];
        assert_eq!(nrs["linkId"], "worst_pain");
        assert_eq!(nrs["type"], "integer");
        assert_eq!(
            nrs["extension"][0]["valueCodeableConcept"]["coding"][0]["code"],
            "slider"
        );
    }

    #[test]
    fn withheld_wording_leaves_no_text() {
        let text = include_str!("../../../questionnaires/eortc-qlq-c30/3.0/definition.json");
        let (def, _) = parse_definition("d", text).expect("def");
        let q = questionnaire(&def, None, "https://epro.example", "nl");
        let s = q.to_string();
        assert!(!s.contains("\"text\""), "{s}");
        assert_eq!(q["item"][0]["answerOption"][0]["valueCoding"]["code"], "1");
    }
}

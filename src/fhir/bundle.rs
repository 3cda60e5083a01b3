//! Searchset Bundles: entries with their full URL, `total`, and `self`/`next` links built from
//! the FHIR base (absolute, so clients that follow `next` as given stay on the base).

use serde_json::{Value, json};

/// The search URL of `kind` with `params` (in their order), `_cursor` replaced by `cursor`.
pub fn link(base: &str, kind: &str, params: &[(String, String)], cursor: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params.iter().filter(|(k, _)| k != "_cursor") {
        q.append_pair(k, v);
    }
    if let Some(c) = cursor {
        q.append_pair("_cursor", c);
    }
    let q = q.finish();
    if q.is_empty() {
        format!("{base}/{kind}")
    } else {
        format!("{base}/{kind}?{q}")
    }
}

/// A searchset Bundle of `resources` (each with `resourceType` and `id`).
pub fn searchset(
    base: &str,
    kind: &str,
    params: &[(String, String)],
    total: Option<u64>,
    resources: Vec<Value>,
    next: Option<String>,
) -> Value {
    let self_params: Vec<(String, String)> = params.to_vec();
    let mut links = vec![
        json!({ "relation": "self", "url": link(base, kind, &self_params, params.iter().find(|(k, _)| k == "_cursor").map(|(_, v)| v.as_str())) }),
    ];
    if let Some(c) = next {
        links.push(json!({ "relation": "next", "url": link(base, kind, params, Some(&c)) }));
    }
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let full = format!(
                "{base}/{}/{}",
                r["resourceType"].as_str().unwrap_or(kind),
                r["id"].as_str().unwrap_or_default()
            );
            json!({ "fullUrl": full, "resource": r, "search": { "mode": "match" } })
        })
        .collect();
    let mut b = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
    });
    if let Some(t) = total {
        b["total"] = json!(t);
    }
    if !entries.is_empty() {
        b["entry"] = json!(entries);
    }
    b
}

/// A searchset of no entries with its `total` (`_summary=count`, or a search that can match
/// nothing).
pub fn counted(base: &str, kind: &str, params: &[(String, String)], total: u64) -> Value {
    searchset(base, kind, params, Some(total), vec![], None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_replace_the_cursor_and_keep_the_rest() {
        let params = vec![
            (
                "questionnaire".to_string(),
                "https://x/fhir/Questionnaire/q|1.0".to_string(),
            ),
            ("_cursor".to_string(), "old".to_string()),
            ("_count".to_string(), "2".to_string()),
        ];
        let b = searchset(
            "https://x/fhir/r4",
            "QuestionnaireResponse",
            &params,
            Some(3),
            vec![],
            Some("new".into()),
        );
        assert_eq!(
            b["link"][1]["url"],
            "https://x/fhir/r4/QuestionnaireResponse?questionnaire=https%3A%2F%2Fx%2Ffhir%2FQuestionnaire%2Fq%7C1.0&_count=2&_cursor=new"
        );
        assert_eq!(
            b["link"][0]["url"],
            "https://x/fhir/r4/QuestionnaireResponse?questionnaire=https%3A%2F%2Fx%2Ffhir%2FQuestionnaire%2Fq%7C1.0&_count=2&_cursor=old"
        );
        assert!(b.get("entry").is_none());
        assert_eq!(b["total"], 3);
    }
}

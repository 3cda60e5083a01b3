//! How long the text people type may be. Every text field of every request has a maximum length
//! in characters — a named free-text field its own (a reason, a note, a lesion's detail), any
//! other string the general one — checked where requests enter (`startup`), so no text is
//! bounded only by the body limit and copied, whole, into the audit trail on every edit.
//! docs/security.md lists the limits.

/// Free-text fields by name (a JSON key, or a page form's field) and their maximum length.
pub const LIMITS: &[(&str, usize)] = &[
    // Why something was done: events, corrections, amendments, late entries, missed visits,
    // revocations, contact changes, lesion moves.
    ("reason", 1_000),
    ("entry_reason", 1_000),
    ("missed_reason", 1_000),
    // Notes and queries: a call's note, a query's text, a query's closing note.
    ("note", 2_000),
    ("text", 2_000),
    ("closing_note", 2_000),
    // A lesion: its detail and its plain-language labels (`labels.nl`, or `label_nl` on a page).
    ("detail", 500),
    ("labels", 80),
    ("label", 80),
    // Secrets: hashed (argon2id), never stored as typed.
    ("password", 1_024),
    ("current_password", 1_024),
    ("new_password", 1_024),
    ("current", 1_024),
    ("new", 1_024),
    ("pin", 64),
    // Contact data (checked again, more strictly, by `domain::contact`).
    ("email", 254),
    ("phone", 40),
];

/// Any other string: as long as the longest answer a questionnaire's text item may allow
/// (`max_length` is at most 10,000 in the definition schema).
pub const DEFAULT_MAX: usize = 10_000;

/// The longest text accepted for the field `name`.
pub fn max_chars(name: &str) -> usize {
    // A page carries the answers of a page being left under `carry.` (see `web::participant`).
    let name = name.strip_prefix("carry.").unwrap_or(name);
    let name = if name.starts_with("label_") {
        "label"
    } else {
        name
    };
    LIMITS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(DEFAULT_MAX, |(_, max)| *max)
}

/// `Some((max, length))` when `value` is longer than the field `name` allows.
pub fn too_long(name: &str, value: &str) -> Option<(usize, usize)> {
    let max = max_chars(name);
    // Cheap first: a text of at most `max` bytes has at most `max` characters.
    if value.len() <= max {
        return None;
    }
    let chars = value.chars().count();
    (chars > max).then_some((max, chars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_has_its_limit() {
        let cases = [
            ("reason", 1_000, 1_000, false),
            ("reason", 1_000, 1_001, true),
            ("detail", 500, 501, true),
            ("labels", 80, 81, true),
            ("label_fr", 80, 80, false),
            ("label_fr", 80, 81, true),
            ("carry.q.q1", DEFAULT_MAX, DEFAULT_MAX, false),
            ("note", 2_000, 2_001, true),
            ("value", DEFAULT_MAX, DEFAULT_MAX + 1, true),
            ("password", 1_024, 1_025, true),
        ];
        for (name, max, len, refused) in cases {
            assert_eq!(max_chars(name), max, "{name}");
            // Characters, not bytes: "é" is two bytes.
            let text = "é".repeat(len);
            assert_eq!(too_long(name, &text).is_some(), refused, "{name} × {len}");
        }
        assert_eq!(too_long("detail", &"x".repeat(600)), Some((500, 600)));
    }
}

use super::*;
use crate::domain::schedule::Anchor;

const SHIPPED: &str = include_str!("../../../studies/hermes.toml");

#[test]
fn the_shipped_hermes_file_is_valid() {
    let study = Study::parse("studies/hermes.toml", SHIPPED).expect("valid");
    assert_eq!(study.id, "HERMES");
    assert_eq!(study.time_zone, chrono_tz::Europe::Brussels);
    assert_eq!(study.languages, ["nl", "fr", "en"]);
    let codes: Vec<_> = study.sites.iter().map(|s| s.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "ZAS", "AZORG", "UZG", "JESSA", "AZGR", "UZL", "AZDELTA", "AZT"
        ]
    );
    assert_eq!(study.sha256.len(), 64);
    let codes: Vec<_> = study
        .protocol
        .visits
        .iter()
        .map(|v| v.code.as_str())
        .collect();
    assert_eq!(codes, ["BL", "M1", "M3", "M6", "M12", "M18", "M24"]);
    let m3 = study.visit_spec("M3").expect("M3");
    assert_eq!(
        (m3.months, m3.before_days, m3.after_days, m3.grace_days),
        (3, 14, 14, 7)
    );
    assert_eq!(study.visit_spec("M12").map(|v| v.before_days), Some(30));
    assert!(
        study
            .protocol
            .visits
            .iter()
            .all(|v| v.questionnaires.len() == 3)
    );
}

#[test]
fn study_ids_follow_the_pattern_for_the_site() {
    let study = Study::parse("s", SHIPPED).expect("valid");
    assert!(study.check_study_id("HERMES-ZAS-001", "ZAS").is_ok());
    for (id, site) in [
        ("HERMES-UZG-001", "ZAS"),
        ("HERMES-ZAS-01", "ZAS"),
        ("HERMES-ZAS-0001", "ZAS"),
        ("HERMES-ZAS-00a", "ZAS"),
        ("X", "ZAS"),
    ] {
        let e = study.check_study_id(id, site).expect_err(id);
        assert!(e.to_string().contains("HERMES-ZAS-001"), "{e}");
    }
}

#[test]
fn errors_name_the_file_and_field() {
    let cases = [
        (
            SHIPPED.replace("Europe/Brussels", "Europe/Brussel"),
            "study.time_zone",
        ),
        (
            SHIPPED.replace("\"fr\", \"en\"", "\"fr\", \"fr\""),
            "study.languages[2]",
        ),
        (
            SHIPPED.replace("code = \"UZG\"", "code = \"ZAS\""),
            "sites[2].code",
        ),
        (
            SHIPPED.replace("hermes-azt@example.org", "not an email"),
            "sites[7].email",
        ),
        (
            SHIPPED.replace("city = \"Gent\"", "city = \"Gent\"\nfax = \"1\""),
            "line",
        ),
        // Vocabularies: a label missing in a study language, a code twice, no locations.
        (
            SHIPPED.replace(", fr = \"fracture pathologique\"", ""),
            "events.sse_types[0].label",
        ),
        (
            SHIPPED.replace("{ code = \"C2\"", "{ code = \"C1\""),
            "lesions.locations[1].code",
        ),
        (
            SHIPPED.replacen("locations = [", "locations = []\nunused = [", 1),
            "line",
        ),
    ];
    for (text, field) in cases {
        let e = Study::parse("studies/x.toml", &text).expect_err(field);
        assert_eq!(e.file, "studies/x.toml");
        assert!(e.field.starts_with(field), "expected {field}, got {e}");
    }
}

/// Visit offsets: weeks and days, anchors on an earlier visit, and the refusals that name the
/// visit.
#[test]
fn visits_in_weeks_and_from_other_visits_parse_and_misorders_are_refused() {
    let weeks = SHIPPED.replacen("months = 1\n", "weeks = 6\n", 1);
    let study = Study::parse("s", &weeks).expect("weeks");
    let m1 = study.visit_spec("M1").expect("M1");
    assert_eq!((m1.months, m1.days), (0, 42));
    let chained = SHIPPED.replacen(
        "anchor = \"randomization\"\nmonths = 3\n",
        "anchor = \"visit:M1\"\nmonths = 2\n",
        1,
    );
    let study = Study::parse("s", &chained).expect("chained");
    let m3 = study.visit_spec("M3").expect("M3");
    assert_eq!(
        (m3.anchor, m3.anchor_visit.as_deref()),
        (Anchor::Visit, Some("M1"))
    );
    let cases = [
        // Anchored on a later visit.
        (
            SHIPPED.replacen(
                "anchor = \"randomization\"\nmonths = 1\n",
                "anchor = \"visit:M3\"\nmonths = 1\n",
                1,
            ),
            "visits[1].anchor",
        ),
        (
            SHIPPED.replacen(
                "anchor = \"randomization\"\nmonths = 1\n",
                "anchor = \"randomisation\"\nmonths = 1\n",
                1,
            ),
            "visits[1].anchor",
        ),
        // Six weeks is after month 1: visits out of time order.
        (
            SHIPPED.replacen("months = 3\n", "weeks = 3\n", 1),
            "visits[2]",
        ),
        // A second baseline.
        (
            SHIPPED.replacen(
                "anchor = \"randomization\"\nmonths = 1\n",
                "anchor = \"enrolment\"\n",
                1,
            ),
            "visits[1].anchor",
        ),
    ];
    for (text, field) in cases {
        let e = Study::parse("studies/x.toml", &text).expect_err(field);
        assert!(e.field.starts_with(field), "expected {field}, got {e}");
    }
}

/// The vocabularies are study data: HERMES's ship in its study file, and a study without lesions
/// needs none.
#[test]
fn vocabularies_come_from_the_study_file() {
    let study = Study::parse("s", SHIPPED).expect("valid");
    assert_eq!(study.lesion_locations.len(), 53);
    assert_eq!(study.high_risk_reasons.len(), 5);
    let types: Vec<&str> = study.sse_types.iter().map(|t| t.code.as_str()).collect();
    assert_eq!(
        types,
        [
            "pathological_fracture",
            "spinal_cord_compression",
            "palliative_radiotherapy",
            "orthopaedic_surgery"
        ]
    );
    assert_eq!(study.sse_types[1].label("fr"), "compression médullaire");
    let start = SHIPPED.find("locations = [").expect("locations");
    let end = start + SHIPPED[start..].find("\n]\n").expect("end") + 3;
    let without = format!("{}{}", &SHIPPED[..start], &SHIPPED[end..]);
    let e = Study::parse("s", &without).expect_err("lesions apply but no locations");
    assert_eq!(e.field, "lesions.locations");
    let no_lesions = without.replace("[lesions]\n", "[lesions]\napply = false\n");
    let study = Study::parse("s", &no_lesions).expect("a study without lesions needs no locations");
    assert!(!study.lesion_limits.apply && study.lesion_locations.is_empty());
}

/// HERMES's events after the SSE types are cut from the file (`None`: the `[events]` table and
/// `[schedule]` removed whole).
fn hermes_events(events: Option<&str>) -> String {
    let start = SHIPPED.find("[events]").expect("[events]");
    let end = SHIPPED.find("# Email reminders").expect("reminders");
    format!(
        "{}{}\n{}",
        &SHIPPED[..start],
        events.unwrap_or(""),
        &SHIPPED[end..]
    )
}

#[test]
fn events_are_study_data_with_defaults() {
    use crate::domain::participant::EventKind::{self, *};
    let kinds = |s: &Study| s.events.kinds.clone();
    let shipped = Study::parse("s", SHIPPED).expect("valid");
    assert_eq!(
        kinds(&shipped),
        [Randomization, Sse, ProDiscontinued, Withdrawal, Death]
    );
    let no_type = |s: &Study, kind: EventKind| s.events.missing(kind, |_| false).map(String::from);
    assert_eq!(no_type(&shipped, Sse).as_deref(), Some("sse_type"));
    assert_eq!(no_type(&shipped, Withdrawal), None);
    assert_eq!(
        (
            shipped.protocol.sse_target_days,
            shipped.protocol.sse_window_days
        ),
        (7, 14)
    );

    // No [events] and no [schedule]: no SSE, nothing required, the documented defaults.
    let bare = Study::parse("s", &hermes_events(None)).expect("valid without [schedule]");
    assert!(!bare.events.records(Sse), "no SSE unless the file says");
    assert_eq!(
        kinds(&bare),
        [Randomization, ProDiscontinued, Withdrawal, Death]
    );
    assert_eq!(no_type(&bare, Sse), None);
    assert_eq!(
        (bare.protocol.sse_target_days, bare.protocol.sse_window_days),
        (7, 14)
    );

    // Types without a list of kinds: SSE recorded, its type required (files written before
    // `kinds` existed keep their meaning).
    let types_only = hermes_events(Some(
        "[events]\nsse_types = [{ code = \"fracture\", label = { nl = \"f\", fr = \"f\", en = \"f\" } }]\n",
    ));
    let s = Study::parse("s", &types_only).expect("valid");
    assert!(s.events.records(Sse));
    assert_eq!(no_type(&s, Sse).as_deref(), Some("sse_type"));

    // Refused, each naming its field.
    for (events, field) in [
        (
            "[events]\nkinds = [\"randomization\", \"stroke\"]\n",
            "events.kinds[1]",
        ),
        (
            "[events]\nkinds = [\"randomization\", \"death\", \"death\"]\n",
            "events.kinds[2]",
        ),
        ("[events]\nkinds = [\"death\"]\n", "events.kinds"),
        (
            "[events]\nkinds = [\"randomization\"]\nrequired = { sse = [\"sse_type\"] }\n",
            "events.required.sse",
        ),
        (
            "[events]\nkinds = [\"randomization\", \"sse\"]\nrequired = { sse = [\"sse_type\"] }\n",
            "events.required.sse",
        ),
        (
            "[events]\nkinds = [\"randomization\", \"death\"]\nrequired = { death = [\"cause\"] }\n",
            "events.required.death",
        ),
        (
            "[events]\nkinds = [\"randomization\"]\nsse_types = [{ code = \"x\", label = { nl = \"x\", fr = \"x\", en = \"x\" } }]\n",
            "events.sse_types",
        ),
    ] {
        let e = Study::parse("s", &hermes_events(Some(events))).expect_err(events);
        assert_eq!(e.field, field, "{events}: {e}");
    }
}

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

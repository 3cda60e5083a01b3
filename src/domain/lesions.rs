//! High-risk lesions: the controlled vocabulary of locations, the high-risk reasons from the
//! HERMES eligibility criteria, and the rule of at most five active lesions.

use std::collections::BTreeMap;

/// A lesion as fixed in a response: its id and its labels.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LesionRef {
    pub id: String,
    pub labels: BTreeMap<String, String>,
}

impl LesionRef {
    pub fn label(&self, lang: &str) -> String {
        self.labels
            .get(lang)
            .cloned()
            .unwrap_or_else(|| self.id.clone())
    }
}

pub const MAX_ACTIVE_LESIONS: usize = 5;

/// One location of the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub code: String,
    pub labels: BTreeMap<&'static str, String>,
    /// Whether left/right must be given.
    pub sided: bool,
}

fn loc(code: &str, en: &str, nl: &str, fr: &str, sided: bool) -> Location {
    Location {
        code: code.to_string(),
        labels: BTreeMap::from([
            ("en", en.to_string()),
            ("nl", nl.to_string()),
            ("fr", fr.to_string()),
        ]),
        sided,
    }
}

/// The vocabulary: every vertebra C1–S5, then the pelvis, the long bones and the rest.
pub fn locations() -> Vec<Location> {
    let mut out = Vec::new();
    for (prefix, count) in [("C", 7), ("T", 12), ("L", 5), ("S", 5)] {
        for n in 1..=count {
            let code = format!("{prefix}{n}");
            out.push(loc(
                &code,
                &format!("Vertebra {code}"),
                &format!("Wervel {code}"),
                &format!("Vertèbre {code}"),
                false,
            ));
        }
    }
    let named = [
        ("sacrum", "Sacrum", "Heiligbeen", "Sacrum", false),
        ("coccyx", "Coccyx", "Stuitbeen", "Coccyx", false),
        ("ilium", "Ilium", "Darmbeen", "Ilion", true),
        ("ischium", "Ischium", "Zitbeen", "Ischion", true),
        ("pubis", "Pubis", "Schaambeen", "Pubis", true),
        (
            "sacroiliac_joint",
            "Sacroiliac joint",
            "Sacro-iliacaal gewricht",
            "Articulation sacro-iliaque",
            true,
        ),
        ("acetabulum", "Acetabulum", "Heupkom", "Acétabulum", true),
        (
            "femoral_head",
            "Femoral head",
            "Heupkop",
            "Tête fémorale",
            true,
        ),
        (
            "femoral_neck",
            "Femoral neck",
            "Dijbeenhals",
            "Col fémoral",
            true,
        ),
        (
            "femoral_shaft",
            "Femoral shaft",
            "Dijbeenschacht",
            "Diaphyse fémorale",
            true,
        ),
        (
            "humeral_head",
            "Humeral head",
            "Opperarmkop",
            "Tête humérale",
            true,
        ),
        (
            "humeral_shaft",
            "Humeral shaft",
            "Opperarmschacht",
            "Diaphyse humérale",
            true,
        ),
        ("glenoid", "Glenoid", "Glenoïd", "Glène", true),
        ("acromion", "Acromion", "Acromion", "Acromion", true),
        (
            "scapula",
            "Scapula (other)",
            "Schouderblad (overig)",
            "Omoplate (autre)",
            true,
        ),
        ("rib", "Rib", "Rib", "Côte", true),
        ("sternum", "Sternum", "Borstbeen", "Sternum", false),
        ("clavicle", "Clavicle", "Sleutelbeen", "Clavicule", true),
        ("radius", "Radius", "Spaakbeen", "Radius", true),
        ("ulna", "Ulna", "Ellepijp", "Cubitus", true),
        ("tibia", "Tibia", "Scheenbeen", "Tibia", true),
        ("fibula", "Fibula", "Kuitbeen", "Péroné", true),
        ("skull", "Skull", "Schedel", "Crâne", false),
        ("other", "Other", "Andere", "Autre", false),
    ];
    out.extend(
        named
            .iter()
            .map(|(c, en, nl, fr, sided)| loc(c, en, nl, fr, *sided)),
    );
    out
}

/// The high-risk reasons of eligibility criterion I2.
pub const HIGH_RISK_REASONS: [(&str, &str); 5] = [
    (
        "size_2cm",
        "Bulky site of disease in bone (diameter ≥ 2 cm)",
    ),
    ("joint", "Hip, shoulder or sacroiliac joint involvement"),
    (
        "long_bone_cortical",
        "Long bone with cortical involvement > 1/3 of the diameter",
    ),
    (
        "junctional_spine",
        "Junctional spine (C1–2, C7–T1, T12–L1, L5–S1)",
    ),
    (
        "posterior_or_epidural",
        "Posterior element involvement or epidural extension",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

/// Check location, side and reasons. Returns the normalized side.
pub fn check(
    location: &str,
    side: Option<&str>,
    reasons: &[String],
) -> Result<Option<Side>, (String, String)> {
    let vocab = locations();
    let Some(l) = vocab.iter().find(|l| l.code == location) else {
        return Err((
            "location".into(),
            format!("{location:?} is not in the vocabulary (GET /api/v1/lesion-locations)"),
        ));
    };
    let side = match (l.sided, side) {
        (true, Some("left")) => Some(Side::Left),
        (true, Some("right")) => Some(Side::Right),
        (true, Some(other)) => {
            return Err(("side".into(), format!("{other:?} is not left or right")));
        }
        (true, None) => {
            return Err((
                "side".into(),
                format!("{location} needs a side: left or right"),
            ));
        }
        (false, Some(_)) => return Err(("side".into(), format!("{location} has no side"))),
        (false, None) => None,
    };
    if reasons.is_empty() {
        return Err((
            "high_risk_reasons".into(),
            "at least one high-risk reason is required".into(),
        ));
    }
    for (i, r) in reasons.iter().enumerate() {
        if !HIGH_RISK_REASONS.iter().any(|(code, _)| code == r) {
            let known: Vec<_> = HIGH_RISK_REASONS.iter().map(|(c, _)| *c).collect();
            return Err((
                format!("high_risk_reasons[{i}]"),
                format!("{r:?} is not one of {}", known.join(", ")),
            ));
        }
    }
    Ok(side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_covers_the_spine_and_named_bones() {
        let v = locations();
        for code in [
            "C1",
            "C7",
            "T12",
            "L5",
            "S5",
            "sacrum",
            "acetabulum",
            "femoral_neck",
            "humeral_head",
            "glenoid",
            "rib",
            "other",
        ] {
            assert!(v.iter().any(|l| l.code == code), "{code}");
        }
        assert_eq!(
            v.iter()
                .filter(|l| l.code.len() <= 3
                    && l.code.chars().nth(1).is_some_and(|c| c.is_ascii_digit()))
                .count(),
            29
        );
    }

    #[test]
    fn table() {
        let r = vec!["joint".to_string()];
        assert_eq!(
            check("femoral_neck", Some("right"), &r),
            Ok(Some(Side::Right))
        );
        assert_eq!(check("L1", None, &r), Ok(None));
        for (loc, side, reasons, field) in [
            ("knee", None, r.clone(), "location"),
            ("femoral_neck", None, r.clone(), "side"),
            ("L1", Some("left"), r.clone(), "side"),
            ("L1", None, vec![], "high_risk_reasons"),
            ("L1", None, vec!["big".to_string()], "high_risk_reasons[0]"),
        ] {
            assert_eq!(check(loc, side, &reasons).expect_err(loc).0, field);
        }
    }
}

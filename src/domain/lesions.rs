//! High-risk lesions: a location of the study's vocabulary (`[lesions] locations`, HERMES's in
//! studies/hermes.toml), its side and high-risk reasons checked against the study file, and the
//! limits from the study file (at inclusion, per radiotherapy course, active during follow-up).

use std::collections::BTreeMap;

use super::problem::Problem;

/// A lesion as fixed in a response: its id and its labels.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LesionRef {
    pub id: String,
    pub labels: BTreeMap<String, String>,
}

impl LesionRef {
    /// The label in `lang`; else the one staff gave (labels are required only in the
    /// participant's language, so a participant who changed language still reads one).
    pub fn label(&self, lang: &str) -> String {
        self.labels
            .get(lang)
            .or_else(|| self.labels.values().next())
            .cloned()
            .unwrap_or_else(|| self.id.clone())
    }
}

/// A participant's lesion as the limits see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Registered at inclusion (before randomization, or when the participant was registered in
    /// epro), not during follow-up.
    pub at_inclusion: bool,
    /// The radiotherapy course it belongs to (its irradiation day).
    pub irradiation_date: Option<chrono::NaiveDate>,
    pub active: bool,
}

/// Which lesion limit a change would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    /// More lesions at inclusion than the limit (HERMES exclusion criterion E6: "More than 5").
    AtInclusion(usize),
    /// More lesions irradiated on one day than the limit (registration line 85: "A maximum of 5
    /// ... can be irradiated at once").
    PerCourse(usize, chrono::NaiveDate),
    /// More active lesions than the follow-up maximum.
    Active(usize),
}

/// Whether a change of a lesion needs a reason: moving it (another location or side) once it has
/// answers, because those answers were given about the old place. The reason goes into the
/// audit trail with the move.
pub fn move_needs_reason(
    before: (&str, Option<&str>),
    after: (&str, Option<&str>),
    has_answers: bool,
) -> bool {
    has_answers && before != after
}

/// Whether the lesions after a change keep the study's limits. A limit only refuses a change
/// that adds to a count over it, so data stored before a limit changed never blocks other edits.
pub fn check_limits(
    limits: &super::study::LesionLimits,
    before: &[Held],
    after: &[Held],
) -> Result<(), Breach> {
    // A lesion deactivated at inclusion (entered in error, replaced) does not count.
    let inclusion = |ls: &[Held]| ls.iter().filter(|l| l.at_inclusion && l.active).count();
    let active = |ls: &[Held]| ls.iter().filter(|l| l.active).count();
    let course = |ls: &[Held], day| {
        ls.iter()
            .filter(|l| l.irradiation_date == Some(day))
            .count()
    };
    let grew =
        |f: &dyn Fn(&[Held]) -> usize, limit: usize| f(after) > limit && f(after) > f(before);
    if grew(&inclusion, limits.at_inclusion) {
        return Err(Breach::AtInclusion(limits.at_inclusion));
    }
    for day in after.iter().filter_map(|l| l.irradiation_date) {
        if grew(&|ls: &[Held]| course(ls, day), limits.per_course) {
            return Err(Breach::PerCourse(limits.per_course, day));
        }
    }
    if grew(&active, limits.active_max) {
        return Err(Breach::Active(limits.active_max));
    }
    Ok(())
}

/// One lesion location of the study's vocabulary (`[lesions] locations`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub code: String,
    /// Whether left/right must be given.
    #[serde(default)]
    pub sided: bool,
    pub label: BTreeMap<String, String>,
}

impl Location {
    /// The label in `lang`, else English, else the code.
    pub fn label(&self, lang: &str) -> String {
        super::study::label_in(&self.label, lang, &self.code)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

/// Check location, side and reasons against the study's vocabularies. Returns the normalized
/// side.
pub fn check(
    study: &super::study::Study,
    location: &str,
    side: Option<&str>,
    reasons: &[String],
) -> Result<Option<Side>, (String, Problem)> {
    let Some(l) = study.lesion_locations.iter().find(|l| l.code == location) else {
        return Err((
            "location".into(),
            Problem::UnknownLocation {
                given: location.into(),
            },
        ));
    };
    let side = match (l.sided, side) {
        (true, Some("left")) => Some(Side::Left),
        (true, Some("right")) => Some(Side::Right),
        (true, Some(other)) => {
            return Err((
                "side".into(),
                Problem::NotOneOf {
                    given: other.into(),
                    allowed: vec!["left".into(), "right".into()],
                },
            ));
        }
        (true, None) => return Err(("side".into(), Problem::SideNeeded)),
        (false, Some(_)) => return Err(("side".into(), Problem::NoSide)),
        (false, None) => None,
    };
    let vocab = &study.high_risk_reasons;
    if reasons.is_empty() && !vocab.is_empty() {
        return Err(("high_risk_reasons".into(), Problem::HighRiskReasonNeeded));
    }
    for (i, r) in reasons.iter().enumerate() {
        if !vocab.iter().any(|t| t.code == *r) {
            return Err((
                format!("high_risk_reasons[{i}]"),
                Problem::NotOneOf {
                    given: r.clone(),
                    allowed: vocab.iter().map(|t| t.code.clone()).collect(),
                },
            ));
        }
    }
    Ok(side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hermes_vocabulary_covers_the_spine_and_named_bones() {
        let study = hermes();
        let v = &study.lesion_locations;
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
    fn lesion_limits_apply_at_inclusion_per_course_and_in_follow_up() {
        use chrono::NaiveDate;
        let limits = crate::domain::study::LesionLimits {
            apply: true,
            at_inclusion: 5,
            per_course: 5,
            active_max: 8,
        };
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let incl = |n: usize| {
            vec![
                Held {
                    at_inclusion: true,
                    irradiation_date: None,
                    active: true,
                };
                n
            ]
        };
        let follow = |irr: Option<NaiveDate>| Held {
            at_inclusion: false,
            irradiation_date: irr,
            active: true,
        };
        let with = |base: &[Held], extra: &[Held]| [base, extra].concat();
        let five = incl(5);
        // (lesions before, lesions after, the limit broken)
        type Case = (Vec<Held>, Vec<Held>, Result<(), Breach>);
        let cases: Vec<Case> = vec![
            (incl(4), incl(5), Ok(())),
            (five.clone(), incl(6), Err(Breach::AtInclusion(5))),
            // Arm B irradiates a new lesion during follow-up: a sixth active lesion is fine.
            (
                five.clone(),
                with(&five, &[follow(day("2026-06-01"))]),
                Ok(()),
            ),
            (
                with(&five, &[follow(None); 3]),
                with(&five, &[follow(None); 4]),
                Err(Breach::Active(8)),
            ),
            (
                vec![follow(day("2026-06-01")); 5],
                vec![follow(day("2026-06-01")); 6],
                Err(Breach::PerCourse(
                    5,
                    NaiveDate::from_ymd_opt(2026, 6, 1).expect("d"),
                )),
            ),
            // Data over a limit stored earlier never blocks an edit that adds nothing.
            (incl(6), incl(6), Ok(())),
        ];
        for (before, after, want) in cases {
            assert_eq!(check_limits(&limits, &before, &after), want, "{after:?}");
        }
    }

    fn hermes() -> crate::domain::study::Study {
        crate::domain::study::Study::parse(
            "studies/hermes.toml",
            include_str!("../../studies/hermes.toml"),
        )
        .expect("study")
    }

    #[test]
    fn table() {
        let study = hermes();
        let check = |loc: &str, side: Option<&str>, r: &[String]| check(&study, loc, side, r);
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

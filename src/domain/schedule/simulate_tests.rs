use super::*;
use chrono_tz::Europe::Brussels;

#[test]
fn simulation_applies_the_sse_rule() {
    let spec = |code: &str, months: u32| super::tests::spec(code, months, 14);
    let p = Protocol {
        time_zone: Brussels,
        visits: vec![
            spec("BL", 0),
            spec("M1", 1),
            spec("M3", 3),
            spec("M6", 6),
            spec("M12", 12),
        ],
        sse_target_days: 7,
        sse_window_days: 14,
    };
    let r: NaiveDate = "2026-01-15".parse().expect("date");
    let sse: NaiveDate = "2026-05-20".parse().expect("date");
    let now = DateTime::parse_from_rfc3339("2026-05-21T10:00:00Z")
        .expect("t")
        .with_timezone(&Utc);
    let rows = simulate(&p, r, Some(sse), now);
    let by = |c: &str| rows.iter().find(|x| x.code == c).expect("row");
    assert!(by("M6").sse_triggered);
    assert_eq!(by("M6").state, VisitState::Open);
    assert_eq!(by("M12").state, VisitState::NotApplicable);
    assert_eq!(by("M3").state, VisitState::Missed);
}

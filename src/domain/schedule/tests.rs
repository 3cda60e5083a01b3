use super::*;
use chrono::Duration;
use chrono_tz::Europe::Brussels;

fn d(s: &str) -> NaiveDate {
    s.parse().expect("date")
}
fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("instant")
        .with_timezone(&Utc)
}

/// A visit of the test protocols: `around` days either side of its target.
pub(super) fn spec(code: &str, months: u32, around: u32) -> VisitSpec {
    VisitSpec {
        code: code.into(),
        anchor: if months == 0 {
            Anchor::Enrolment
        } else {
            Anchor::Randomization
        },
        anchor_visit: None,
        months,
        days: 0,
        before_days: around,
        after_days: around,
        until_randomization_days: 3,
        grace_days: 7,
        questionnaires: vec!["a@1".into()],
    }
}

fn hermes() -> Protocol {
    Protocol {
        time_zone: Brussels,
        visits: vec![
            spec("BL", 0, 0),
            spec("M1", 1, 7),
            spec("M3", 3, 14),
            spec("M6", 6, 14),
            spec("M12", 12, 30),
            spec("M18", 18, 30),
            spec("M24", 24, 30),
        ],
        sse_target_days: 7,
        sse_window_days: 14,
    }
}

fn targets(randomized: &str) -> Vec<(String, NaiveDate)> {
    let p = hermes();
    p.visits
        .iter()
        .filter(|v| v.anchor == Anchor::Randomization)
        .map(|v| {
            (
                v.code.clone(),
                plan(&p, v, d(randomized), Some(d(randomized)))
                    .expect("planned")
                    .target,
            )
        })
        .collect()
}

#[test]
fn calendar_months_clamp_to_the_end_of_shorter_months() {
    let t = targets("2026-01-31");
    let expected = [
        ("M1", "2026-02-28"),
        ("M3", "2026-04-30"),
        ("M6", "2026-07-31"),
        ("M12", "2027-01-31"),
        ("M18", "2027-07-31"),
        ("M24", "2028-01-31"),
    ];
    for ((code, target), (c, e)) in t.iter().zip(expected) {
        assert_eq!((code.as_str(), *target), (c, d(e)));
    }
    // Leap year: randomized 2027-01-31 → M1 2027-02-28; 2028-01-31 → 2028-02-29.
    assert_eq!(targets("2028-01-31")[0].1, d("2028-02-29"));
}

#[test]
fn window_edges_are_local_midnights_across_dst() {
    let p = hermes();
    // Summer time starts Sunday 29 March 2026 (02:00 → 03:00) and ends Sunday 25 October
    // 2026 (03:00 → 02:00). M1 is ±7 days around randomization + 1 month.
    let cases = [
        // (randomized, visit, start UTC, end UTC (exclusive))
        (
            "2026-02-21",
            "M1",
            "2026-03-13T23:00:00Z",
            "2026-03-28T23:00:00Z",
        ), // last day 28 Mar: ends 00:00 on 29 Mar, +01:00
        (
            "2026-02-22",
            "M1",
            "2026-03-14T23:00:00Z",
            "2026-03-29T22:00:00Z",
        ), // last day 29 Mar: ends 00:00 on 30 Mar, +02:00
        (
            "2026-03-05",
            "M1",
            "2026-03-28T23:00:00Z",
            "2026-04-12T22:00:00Z",
        ), // first day 29 Mar: opens 00:00, +01:00
        (
            "2026-09-17",
            "M1",
            "2026-10-09T22:00:00Z",
            "2026-10-24T22:00:00Z",
        ), // last day 24 Oct: ends 00:00 on 25 Oct, +02:00
        (
            "2026-09-18",
            "M1",
            "2026-10-10T22:00:00Z",
            "2026-10-25T23:00:00Z",
        ), // last day 25 Oct: ends 00:00 on 26 Oct, +01:00
        (
            "2026-10-01",
            "M1",
            "2026-10-24T22:00:00Z",
            "2026-11-08T23:00:00Z",
        ), // first day 25 Oct: opens 00:00, +02:00
    ];
    for (r, code, start, end) in cases {
        let s = p.visits.iter().find(|v| v.code == code).expect("visit");
        let w = plan(&p, s, d(r), Some(d(r))).expect("window");
        assert_eq!(w.start, at(start), "{r} start");
        assert_eq!(w.end, Some(at(end)), "{r} end");
        for edge in [w.start, w.end.expect("end")] {
            assert_eq!(
                edge.with_timezone(&Brussels).format("%H:%M").to_string(),
                "00:00",
                "{r}: local midnight"
            );
        }
    }
}

#[test]
fn baseline_runs_from_enrolment_until_randomization_plus_3_days() {
    let p = hermes();
    let bl = &p.visits[0];
    let open = plan(&p, bl, d("2026-03-02"), None).expect("bl");
    assert_eq!(open.end, None, "open-ended until randomization");
    assert_eq!(
        state(&facts(open, None, &[]), at("2027-01-01T00:00:00Z")),
        VisitState::Open
    );
    let w = plan(&p, bl, d("2026-03-02"), Some(d("2026-03-10"))).expect("bl");
    assert_eq!(w.start, at("2026-03-01T23:00:00Z"));
    assert_eq!(w.end, Some(at("2026-03-13T23:00:00Z")), "last day 13 March");
    assert_eq!(w.grace_end, Some(at("2026-03-20T23:00:00Z")));
}

fn facts<'a>(
    window: Window,
    stop: Option<DateTime<Utc>>,
    submitted: &'a [(String, DateTime<Utc>)],
) -> VisitFacts<'a> {
    static DUE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    VisitFacts {
        window,
        stored: None,
        due: DUE.get_or_init(|| vec!["a@1".to_string()]),
        submitted,
        missed_reason: false,
        questionnaires_end: stop,
    }
}

#[test]
fn states_through_a_window() {
    let p = hermes();
    let m1 = plan(&p, &p.visits[1], d("2026-01-10"), Some(d("2026-01-10"))).expect("m1");
    // target 10 Feb, window 3–17 Feb, grace to 24 Feb (all CET).
    let cases = [
        ("2026-02-02T22:59:59Z", VisitState::Upcoming),
        ("2026-02-02T23:00:00Z", VisitState::Open),
        ("2026-02-17T22:59:59Z", VisitState::Open),
        ("2026-02-17T23:00:00Z", VisitState::Late),
        ("2026-02-24T22:59:59Z", VisitState::Late),
        ("2026-02-24T23:00:00Z", VisitState::Missed),
    ];
    for (now, expected) in cases {
        assert_eq!(state(&facts(m1, None, &[]), at(now)), expected, "{now}");
    }
}

#[test]
fn answered_on_the_last_day_before_local_midnight_is_completed() {
    let p = hermes();
    let m1 = plan(&p, &p.visits[1], d("2026-01-10"), Some(d("2026-01-10"))).expect("m1");
    let submitted = vec![("a@1".to_string(), at("2026-02-17T22:59:00Z"))]; // 23:59 local on 17 Feb
    let f = facts(m1, None, &submitted);
    assert_eq!(state(&f, at("2026-02-17T22:59:30Z")), VisitState::Completed);
    assert_eq!(state(&f, at("2026-06-01T00:00:00Z")), VisitState::Completed);
    assert!(
        submitted[0].1 < m1.end.expect("end"),
        "inside the window, not late"
    );
}

#[test]
fn an_sse_at_month_4_makes_m6_the_sse_visit() {
    let p = hermes();
    let r = d("2026-01-15");
    let visits: Vec<(Window, Option<VisitState>)> = p
        .visits
        .iter()
        .map(|v| (plan(&p, v, d("2026-01-05"), Some(r)).expect("w"), None))
        .collect();
    let mut visits = visits;
    for v in visits.iter_mut().take(3) {
        v.1 = Some(VisitState::Completed); // BL, M1, M3 done
    }
    let idx = sse_visit_index(&visits, Brussels, d("2026-05-20")).expect("sse visit");
    assert_eq!(p.visits[idx].code, "M6");
    // Recorded on the day: opens at once, targets a week later, 14-day window.
    let recorded = at("2026-05-20T09:30:00Z");
    let w = sse_window(&p, d("2026-05-20"), recorded, 7);
    assert_eq!(w.start, recorded);
    assert_eq!(w.target, d("2026-05-27"));
    assert_eq!(
        w.end,
        Some(at("2026-06-02T22:00:00Z")),
        "14 days: 20 May – 2 June, local"
    );
}

#[test]
fn an_sse_reported_three_weeks_late_still_gets_14_days_from_recording() {
    let p = hermes();
    let recorded = at("2026-06-10T08:00:00Z");
    let w = sse_window(&p, d("2026-05-20"), recorded, 7);
    assert_eq!(w.start, recorded);
    assert_eq!(w.target, d("2026-06-17"));
    assert_eq!(w.end, Some(at("2026-06-23T22:00:00Z")), "10 – 23 June");
    // An SSE dated in the future of its recording opens at the start of the SSE day.
    let early = sse_window(&p, d("2026-06-12"), recorded, 7);
    assert_eq!(early.start, at("2026-06-11T22:00:00Z"));
}

#[test]
fn stopping_questionnaires_makes_later_visits_not_applicable() {
    let p = hermes();
    let m3 = plan(&p, &p.visits[2], d("2026-01-10"), Some(d("2026-01-10"))).expect("m3");
    let withdrawn = Some(at("2026-02-01T10:00:00Z"));
    assert_eq!(
        state(&facts(m3, withdrawn, &[]), at("2026-05-01T00:00:00Z")),
        VisitState::NotApplicable
    );
    // A visit already missed before the withdrawal stays missed.
    let m1 = plan(&p, &p.visits[1], d("2026-01-10"), Some(d("2026-01-10"))).expect("m1");
    let late_withdrawal = Some(at("2026-03-15T10:00:00Z"));
    assert_eq!(
        state(&facts(m1, late_withdrawal, &[]), at("2026-04-01T00:00:00Z")),
        VisitState::Missed
    );
    // Stored final states are never recomputed.
    let mut f = facts(m3, None, &[]);
    f.stored = Some(VisitState::NotApplicable);
    assert_eq!(
        state(&f, at("2026-04-10T12:00:00Z")),
        VisitState::NotApplicable
    );
    let _ = Duration::zero();
}

/// The SSE visit by the day of the SSE, relative to M1 (randomized 2026-01-15: M1 targets
/// 2026-02-15, window 2026-02-08 – 2026-02-22, grace through 2026-03-01; M3 targets 2026-04-15).
#[test]
fn the_sse_visit_is_the_open_one_else_the_next() {
    let p = hermes();
    let r = d("2026-01-15");
    let follow_ups: Vec<(Window, Option<VisitState>)> = p
        .visits
        .iter()
        .skip(1)
        .map(|v| (plan(&p, v, d("2026-01-05"), Some(r)).expect("w"), None))
        .collect();
    let code = |i: Option<usize>| i.map(|i| p.visits[i + 1].code.clone());
    let cases = [
        ("2026-02-01", "M1", "before M1 opens: the next visit"),
        ("2026-02-08", "M1", "on M1's opening day"),
        ("2026-02-15", "M1", "on M1's target day: M1, not M3"),
        ("2026-02-26", "M1", "during M1's grace"),
        ("2026-03-01", "M1", "on M1's last day of grace"),
        ("2026-03-02", "M3", "the day after M1's grace"),
        ("2026-03-10", "M3", "after M1"),
    ];
    for (day, want, why) in cases {
        let got = code(sse_visit_index(&follow_ups, Brussels, d(day)));
        assert_eq!(got.as_deref(), Some(want), "SSE on {day}: {why}");
    }
    // A completed (or missed) M1 is never the SSE visit, even while its window is open.
    let mut done = follow_ups.clone();
    done[0].1 = Some(VisitState::Completed);
    assert_eq!(
        code(sse_visit_index(&done, Brussels, d("2026-02-15"))).as_deref(),
        Some("M3")
    );
    // After the last visit's grace there is none.
    assert_eq!(
        code(sse_visit_index(&follow_ups, Brussels, d("2028-06-01"))),
        None
    );
}

/// Offsets in days, weeks and calendar months from randomization, enrolment or an earlier
/// visit's target (docs/study-format.md, "Visits").
#[test]
fn offsets_count_from_their_anchor_in_months_then_days() {
    let visit =
        |code: &str, anchor: Anchor, from: Option<&str>, months: u32, days: u32| VisitSpec {
            code: code.into(),
            anchor,
            anchor_visit: from.map(String::from),
            months,
            days,
            before_days: 3,
            after_days: 3,
            until_randomization_days: 0,
            grace_days: 2,
            questionnaires: vec!["a@1".into()],
        };
    let p = Protocol {
        time_zone: Brussels,
        visits: vec![
            visit("BL", Anchor::Enrolment, None, 0, 0),
            visit("D10", Anchor::Enrolment, None, 0, 10),
            visit("W6", Anchor::Randomization, None, 0, 42),
            visit("M3", Anchor::Randomization, None, 3, 0),
            visit("M3W2", Anchor::Visit, Some("M3"), 0, 14),
            visit("M1D3", Anchor::Randomization, None, 1, 3),
        ],
        sse_target_days: 7,
        sse_window_days: 14,
    };
    // (enrolled, randomized, visit, target)
    let cases = [
        ("2026-01-20", "2026-01-31", "D10", "2026-01-30"),
        ("2026-01-20", "2026-01-31", "W6", "2026-03-14"),
        ("2026-01-20", "2026-01-31", "M3", "2026-04-30"),
        ("2026-01-20", "2026-01-31", "M3W2", "2026-05-14"),
        ("2026-01-20", "2026-01-31", "M1D3", "2026-03-03"),
        ("2026-03-01", "2026-03-02", "W6", "2026-04-13"),
        ("2026-03-01", "2026-03-02", "M3", "2026-06-02"),
    ];
    for (enrolled, randomized, code, target) in cases {
        let spec = p.visits.iter().find(|v| v.code == code).expect("visit");
        let w = plan(&p, spec, d(enrolled), Some(d(randomized))).expect("planned");
        assert_eq!(w.target, d(target), "{code} for {randomized}");
        assert_eq!(local_date(Brussels, w.start), d(target) - Duration::days(3));
    }
    // Follow-up visits wait for randomization, whatever their anchor.
    let d10 = &p.visits[1];
    assert!(plan(&p, d10, d("2026-01-20"), None).is_none());
    assert!(p.visits[0].is_baseline() && !d10.is_baseline());
}

/// One visit status (#32.4): a form counts for its visit whenever it came in — in the window,
/// in grace, or entered after grace with a reason — as it does in the per-form counts
/// (`domain::completion::outcome`, received late). Every form in: completed; some: partial.
#[test]
fn every_form_received_completes_the_visit_even_when_entered_late() {
    let p = hermes();
    let m1 = plan(&p, &p.visits[1], d("2026-01-10"), Some(d("2026-01-10"))).expect("m1");
    // Window 3–17 Feb, grace to 24 Feb (CET); looked at in June.
    let due = vec!["a@1".to_string(), "b@1".to_string()];
    let in_window = at("2026-02-10T09:00:00Z");
    let in_grace = at("2026-02-20T09:00:00Z");
    let after_grace = at("2026-03-15T09:00:00Z");
    let june = at("2026-06-01T00:00:00Z");
    // (forms sent with their instants, a whole-visit missed reason, the state, why)
    type Case<'a> = (Vec<(&'a str, DateTime<Utc>)>, bool, VisitState, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("a@1", in_window), ("b@1", in_window)],
            false,
            VisitState::Completed,
            "in the window",
        ),
        (
            vec![("a@1", in_window), ("b@1", in_grace)],
            false,
            VisitState::Completed,
            "one in grace",
        ),
        (
            vec![("a@1", after_grace), ("b@1", after_grace)],
            false,
            VisitState::Completed,
            "both entered late",
        ),
        (
            vec![("a@1", after_grace), ("b@1", after_grace)],
            true,
            VisitState::Completed,
            "late, after a missed reason",
        ),
        (
            vec![("a@1", after_grace)],
            false,
            VisitState::Partial,
            "one of two, late",
        ),
        (
            vec![("a@1", in_window)],
            true,
            VisitState::Partial,
            "one of two, the rest missed with a reason",
        ),
        (vec![], false, VisitState::Missed, "none"),
    ];
    for (sent, reason, want, why) in cases {
        let submitted: Vec<(String, DateTime<Utc>)> =
            sent.iter().map(|(k, t)| (k.to_string(), *t)).collect();
        let f = VisitFacts {
            window: m1,
            stored: None,
            due: &due,
            submitted: &submitted,
            missed_reason: reason,
            questionnaires_end: None,
        };
        assert_eq!(state(&f, june), want, "{why}");
    }
}

//! Visit windows and states, and the SSE rule — pure functions of the protocol, the
//! participant's dates and events, and the clock (passed in).
//!
//! A window runs from local 00:00 of its first day up to, not including, local 00:00 after its
//! last day, in the study time zone; follow-up targets are calendar months after randomization
//! (31 January + 1 month = 28/29 February). Instants are UTC; dates are local calendar dates.

use chrono::{DateTime, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// Baseline: from enrolment until randomization + N days.
    Enrolment,
    /// Follow-up: calendar months after randomization.
    Randomization,
}

/// One visit of the protocol (from the study file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitSpec {
    pub code: String,
    pub anchor: Anchor,
    /// Calendar months after randomization (follow-up visits).
    pub months: u32,
    pub before_days: u32,
    pub after_days: u32,
    /// Baseline only: the window ends this many days after randomization.
    pub until_randomization_days: u32,
    pub grace_days: u32,
    /// `key@version`, in order.
    pub questionnaires: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub time_zone: Tz,
    pub visits: Vec<VisitSpec>,
    /// The SSE visit targets this many days after it opens…
    pub sse_target_days: u32,
    /// …and its window lasts this many days.
    pub sse_window_days: u32,
}

/// Where a visit sits in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub target: NaiveDate,
    pub start: DateTime<Utc>,
    /// Exclusive. `None`: open until randomization is known (baseline).
    pub end: Option<DateTime<Utc>>,
    /// Exclusive end of the grace period after the window.
    pub grace_end: Option<DateTime<Utc>>,
}

/// Local 00:00 of `date` in `tz`, as a UTC instant. If midnight does not exist that day (a DST
/// jump at midnight in some zones), the first instant of the day.
pub fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_time(chrono::NaiveTime::MIN);
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(earliest, _) => earliest.with_timezone(&Utc),
        chrono::LocalResult::None => {
            // Walk forward to the first valid local minute of the day.
            (1..=180)
                .find_map(|m| {
                    tz.from_local_datetime(&(naive + chrono::Duration::minutes(m)))
                        .earliest()
                })
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
        }
    }
}

/// The local calendar date of an instant.
pub fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

pub fn add_months(date: NaiveDate, months: u32) -> NaiveDate {
    date.checked_add_months(Months::new(months)).unwrap_or(date)
}

fn plus_days(date: NaiveDate, days: u32) -> NaiveDate {
    date.checked_add_days(Days::new(u64::from(days)))
        .unwrap_or(date)
}

fn minus_days(date: NaiveDate, days: u32) -> NaiveDate {
    date.checked_sub_days(Days::new(u64::from(days)))
        .unwrap_or(date)
}

/// The window of a visit whose first and last days are known.
pub fn window_of_days(
    tz: Tz,
    target: NaiveDate,
    first: NaiveDate,
    last: NaiveDate,
    grace_days: u32,
) -> Window {
    Window {
        target,
        start: local_midnight(tz, first),
        end: Some(local_midnight(tz, plus_days(last, 1))),
        grace_end: Some(local_midnight(tz, plus_days(last, 1 + grace_days))),
    }
}

/// The planned window of one visit, from the participant's dates.
pub fn plan(
    protocol: &Protocol,
    spec: &VisitSpec,
    enrolled_on: NaiveDate,
    randomized_on: Option<NaiveDate>,
) -> Option<Window> {
    let tz = protocol.time_zone;
    match spec.anchor {
        Anchor::Enrolment => Some(match randomized_on {
            Some(r) => {
                let last = plus_days(r, spec.until_randomization_days).max(enrolled_on);
                window_of_days(tz, enrolled_on, enrolled_on, last, spec.grace_days)
            }
            None => Window {
                target: enrolled_on,
                start: local_midnight(tz, enrolled_on),
                end: None,
                grace_end: None,
            },
        }),
        Anchor::Randomization => {
            let r = randomized_on?;
            let target = add_months(r, spec.months);
            Some(window_of_days(
                tz,
                target,
                minus_days(target, spec.before_days),
                plus_days(target, spec.after_days),
                spec.grace_days,
            ))
        }
    }
}

/// The SSE visit's window: it opens when the SSE is recorded (or at the start of the SSE day, if
/// that is later), targets `sse_target_days` after the opening day and lasts `sse_window_days`.
pub fn sse_window(
    protocol: &Protocol,
    sse_date: NaiveDate,
    recorded_at: DateTime<Utc>,
    grace_days: u32,
) -> Window {
    let tz = protocol.time_zone;
    let opens = recorded_at.max(local_midnight(tz, sse_date));
    let open_day = local_date(tz, opens);
    let last = plus_days(open_day, protocol.sse_window_days.saturating_sub(1));
    Window {
        target: plus_days(open_day, protocol.sse_target_days),
        start: opens,
        end: Some(local_midnight(tz, plus_days(last, 1))),
        grace_end: Some(local_midnight(tz, plus_days(last, 1 + grace_days))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum VisitState {
    Upcoming,
    Open,
    /// Window closed, inside grace.
    Late,
    Completed,
    Missed,
    NotApplicable,
}

impl VisitState {
    pub fn as_str(self) -> &'static str {
        match self {
            VisitState::Upcoming => "upcoming",
            VisitState::Open => "open",
            VisitState::Late => "late",
            VisitState::Completed => "completed",
            VisitState::Missed => "missed",
            VisitState::NotApplicable => "not_applicable",
        }
    }

    /// Completed, missed and not_applicable are stored once reached and never recomputed.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            VisitState::Completed | VisitState::Missed | VisitState::NotApplicable
        )
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            VisitState::Upcoming,
            VisitState::Open,
            VisitState::Late,
            VisitState::Completed,
            VisitState::Missed,
            VisitState::NotApplicable,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// What is known about one visit when its state is asked.
#[derive(Debug, Clone)]
pub struct VisitFacts<'a> {
    pub window: Window,
    /// A final state stored earlier, if any.
    pub stored: Option<VisitState>,
    /// Questionnaires due at the visit.
    pub due: &'a [String],
    /// Questionnaires submitted for the visit, with the submission instant.
    pub submitted: &'a [(String, DateTime<Utc>)],
    /// Staff recorded why the visit was missed.
    pub missed_reason: bool,
    /// Questionnaires stop from this instant on (withdrawal, death, PRO discontinuation, or the
    /// end of questionnaires after an SSE for visits after the SSE visit).
    pub questionnaires_end: Option<DateTime<Utc>>,
}

/// The state of a visit at `now`.
pub fn state(f: &VisitFacts<'_>, now: DateTime<Utc>) -> VisitState {
    if let Some(s) = f.stored.filter(|s| s.is_final()) {
        return s;
    }
    let grace_end = f.window.grace_end;
    let in_time = |at: &DateTime<Utc>| grace_end.is_none_or(|g| *at < g);
    let complete = !f.due.is_empty()
        && f.due
            .iter()
            .all(|q| f.submitted.iter().any(|(k, at)| k == q && in_time(at)));
    if complete {
        return VisitState::Completed;
    }
    if f.missed_reason {
        return VisitState::Missed;
    }
    if let Some(stop) = f.questionnaires_end
        && grace_end.is_none_or(|g| stop < g)
    {
        // Stopped before this visit could be finished: no questionnaires are expected.
        if grace_end.is_some_and(|g| g <= now) && stop >= f.window.end.unwrap_or(stop) {
            return VisitState::Missed;
        }
        return VisitState::NotApplicable;
    }
    if now < f.window.start {
        VisitState::Upcoming
    } else if f.window.end.is_none_or(|e| now < e) {
        VisitState::Open
    } else if grace_end.is_some_and(|g| now < g) {
        VisitState::Late
    } else {
        VisitState::Missed
    }
}

/// Which visit an SSE turns into the SSE visit: the first not-yet-final visit whose target is
/// after the SSE date. Returns its index.
pub fn sse_visit_index(
    visits: &[(NaiveDate, Option<VisitState>)],
    sse_date: NaiveDate,
) -> Option<usize> {
    visits
        .iter()
        .position(|(target, state)| *target > sse_date && !state.is_some_and(|s| s.is_final()))
}

#[cfg(test)]
mod tests {
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

    fn spec(code: &str, months: u32, around: u32) -> VisitSpec {
        VisitSpec {
            code: code.into(),
            anchor: if months == 0 {
                Anchor::Enrolment
            } else {
                Anchor::Randomization
            },
            months,
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
        let visits: Vec<(NaiveDate, Option<VisitState>)> = p
            .visits
            .iter()
            .map(|v| {
                (
                    plan(&p, v, d("2026-01-05"), Some(r)).expect("w").target,
                    None,
                )
            })
            .collect();
        let mut visits = visits;
        for v in visits.iter_mut().take(3) {
            v.1 = Some(VisitState::Completed); // BL, M1, M3 done
        }
        let idx = sse_visit_index(&visits, d("2026-05-20")).expect("sse visit");
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
}

/// One row of a simulated schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulated {
    pub code: String,
    pub window: Window,
    pub state: VisitState,
    pub sse_triggered: bool,
}

/// The schedule a participant would have: enrolled (and randomized) on `randomized_on`, with an
/// optional SSE recorded at the start of its day, looked at `now`, with nothing answered.
pub fn simulate(
    protocol: &Protocol,
    randomized_on: NaiveDate,
    sse: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Vec<Simulated> {
    let mut rows: Vec<Simulated> = protocol
        .visits
        .iter()
        .filter_map(|spec| {
            plan(protocol, spec, randomized_on, Some(randomized_on)).map(|window| Simulated {
                code: spec.code.clone(),
                window,
                state: VisitState::Upcoming,
                sse_triggered: false,
            })
        })
        .collect();
    let mut not_applicable_from = None;
    if let Some(sse_date) = sse {
        let keyed: Vec<(NaiveDate, Option<VisitState>)> = rows
            .iter()
            .skip(1)
            .map(|r| (r.window.target, None))
            .collect();
        if let Some(i) = sse_visit_index(&keyed, sse_date) {
            let idx = i + 1;
            let grace = protocol.visits.get(idx).map_or(7, |s| s.grace_days);
            rows[idx].window = sse_window(
                protocol,
                sse_date,
                local_midnight(protocol.time_zone, sse_date),
                grace,
            );
            rows[idx].sse_triggered = true;
            not_applicable_from = Some(idx + 1);
        }
    }
    for (i, row) in rows.iter_mut().enumerate() {
        let due = protocol
            .visits
            .get(i)
            .map(|s| s.questionnaires.clone())
            .unwrap_or_default();
        let stored = not_applicable_from
            .filter(|from| i >= *from)
            .map(|_| VisitState::NotApplicable);
        row.state = state(
            &VisitFacts {
                window: row.window,
                stored,
                due: &due,
                submitted: &[],
                missed_reason: false,
                questionnaires_end: None,
            },
            now,
        );
    }
    rows
}

#[cfg(test)]
mod simulate_tests {
    use super::*;
    use chrono_tz::Europe::Brussels;

    #[test]
    fn simulation_applies_the_sse_rule() {
        let spec = |code: &str, months: u32| VisitSpec {
            code: code.into(),
            anchor: if months == 0 {
                Anchor::Enrolment
            } else {
                Anchor::Randomization
            },
            months,
            before_days: 14,
            after_days: 14,
            until_randomization_days: 3,
            grace_days: 7,
            questionnaires: vec!["q@1".into()],
        };
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
}

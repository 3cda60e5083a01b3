//! What an event does to a participant's stored visits, as a list of changes that the service
//! writes and audits one by one. Pure: the stored visits, the protocol and the time come in.
//!
//! - Randomization: every visit whose window is now known is planned; visits not yet open move
//!   with the randomization date; an open baseline learns when it ends.
//! - The first SSE: the SSE visit (`sse_visit_index`: the open or late follow-up visit, else the
//!   next one) is re-timed to open at the SSE and be done within a week (registration, line 87),
//!   and every later visit is not applicable (only survival follow-up remains). Later SSEs change
//!   nothing.
//! - PRO discontinuation, withdrawal, death: every visit without a final state that can no longer
//!   be answered gets its final state.

use chrono::{DateTime, NaiveDate, Utc};

use super::{Protocol, VisitFacts, VisitState, Window, plan, sse_visit_index, sse_window, state};

/// A stored visit, as these rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVisit {
    pub code: String,
    /// 0 for baseline, then the protocol's order.
    pub position: i32,
    pub window: Window,
    pub final_state: Option<VisitState>,
    pub sse_triggered: bool,
    pub missed_reason: bool,
    /// The questionnaires due at the visit (`key@version`).
    pub due: Vec<String>,
    /// A `missed` state the system stored when grace passed (no staff reason, no event): an
    /// event recorded later may still show the visit was never expected.
    pub recomputable: bool,
    /// The visit's submitted questionnaires (`key@version`) with their assessment instants.
    pub submitted: Vec<(String, DateTime<Utc>)>,
}

/// One change to one visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VisitChange {
    /// A visit not stored yet: its window became known.
    Insert {
        position: usize,
        code: String,
        questionnaires: Vec<String>,
        window: Window,
    },
    /// A visit not yet open moves with the randomization date (an open baseline: its end only).
    Reschedule { code: String, window: Window },
    /// The visit after an SSE: due within the SSE window.
    SseTriggered { code: String, window: Window },
    /// The visit gets a final state (not applicable after an SSE; after questionnaires stop,
    /// whatever final state it has then).
    Close { code: String, state: VisitState },
    /// The window closed before the participant was registered in epro (go-live).
    NotExpected { code: String },
}

/// The participant's dates, as the randomization rules need them.
#[derive(Debug, Clone, Copy)]
pub struct Dates {
    pub enrolled_on: NaiveDate,
    pub randomized: NaiveDate,
    /// When the participant was registered in epro: windows that closed before are not
    /// expected.
    pub registered_at: DateTime<Utc>,
}

/// After a randomization (a new one, or a corrected date). Visits whose grace period ended before
/// the participant was registered in epro (a go-live participant, or one entered late) are not
/// expected; a visit still in its grace period at registration can still be answered, so it is
/// expected (docs/trial-rules.md, "Enrolment in the past"). A baseline that reached its final
/// state before randomization was recorded (finished during screening, as the protocol wants)
/// still learns when its window ends.
pub fn after_randomization(
    protocol: &Protocol,
    dates: Dates,
    visits: &[StoredVisit],
    now: DateTime<Utc>,
) -> Vec<VisitChange> {
    let mut out = Vec::new();
    let closed_before_registration = |w: &Window| {
        w.grace_end
            .or(w.end)
            .is_some_and(|end| end <= dates.registered_at)
    };
    for (position, spec) in protocol.visits.iter().enumerate() {
        let Some(planned) = plan(protocol, spec, dates.enrolled_on, Some(dates.randomized)) else {
            continue;
        };
        let Some(v) = visits.iter().find(|v| v.code == spec.code) else {
            out.push(VisitChange::Insert {
                position,
                code: spec.code.clone(),
                questionnaires: spec.questionnaires.clone(),
                window: planned,
            });
            if closed_before_registration(&planned) {
                out.push(VisitChange::NotExpected {
                    code: spec.code.clone(),
                });
            }
            continue;
        };
        let baseline = spec.is_baseline();
        let open_ended_baseline = baseline && v.window.end.is_none();
        let movable = (v.final_state.is_none() || open_ended_baseline)
            && !v.sse_triggered
            && (v.window.start > now || open_ended_baseline);
        if !movable {
            continue;
        }
        let window = if baseline && v.window.start <= now {
            Window {
                end: planned.end,
                grace_end: planned.grace_end,
                ..v.window
            }
        } else {
            planned
        };
        if window != v.window {
            out.push(VisitChange::Reschedule {
                code: v.code.clone(),
                window,
            });
        }
        if v.final_state.is_none() && closed_before_registration(&window) {
            out.push(VisitChange::NotExpected {
                code: v.code.clone(),
            });
        }
    }
    out
}

/// After the participant's first SSE, on `sse_date`, recorded at `recorded_at`.
pub fn after_first_sse(
    protocol: &Protocol,
    visits: &[StoredVisit],
    sse_date: NaiveDate,
    recorded_at: DateTime<Utc>,
) -> Vec<VisitChange> {
    let follow_ups: Vec<&StoredVisit> = visits.iter().filter(|v| v.position > 0).collect();
    let keyed: Vec<(Window, Option<VisitState>)> = follow_ups
        .iter()
        .map(|v| (v.window, v.final_state))
        .collect();
    let Some(i) = sse_visit_index(&keyed, protocol.time_zone, sse_date) else {
        return Vec::new();
    };
    let next = follow_ups[i];
    let grace = protocol
        .visits
        .iter()
        .find(|s| s.code == next.code)
        .map_or(7, |s| s.grace_days);
    let mut out = vec![VisitChange::SseTriggered {
        code: next.code.clone(),
        window: sse_window(protocol, sse_date, recorded_at, grace),
    }];
    out.extend(
        follow_ups
            .iter()
            .skip(i + 1)
            .filter(|v| v.final_state.is_none())
            .map(|v| VisitChange::Close {
                code: v.code.clone(),
                state: VisitState::NotApplicable,
            }),
    );
    out
}

/// After questionnaires stop at `stop` (PRO discontinuation, withdrawal, death): each visit gets
/// the state the participant's status at its window's end gives it, whenever the event was typed
/// in; a visit the system had closed as missed is recomputed.
pub fn after_questionnaires_stop(
    visits: &[StoredVisit],
    stop: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<VisitChange> {
    visits
        .iter()
        .filter(|v| v.final_state.is_none() || v.recomputable)
        .filter_map(|v| {
            let s = state(
                &VisitFacts {
                    window: v.window,
                    stored: None,
                    due: &v.due,
                    submitted: &v.submitted,
                    missed_reason: v.missed_reason,
                    questionnaires_end: stop,
                },
                now,
            );
            // Only what stopping decides: a visit done in time stays as the clock will store it.
            let stopped = matches!(
                s,
                VisitState::NotApplicable | VisitState::Missed | VisitState::Partial
            );
            (stopped && Some(s) != v.final_state).then(|| VisitChange::Close {
                code: v.code.clone(),
                state: s,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use chrono_tz::Europe::Brussels;

    use super::*;
    use crate::domain::schedule::local_midnight;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn protocol() -> Protocol {
        let spec = |code: &str, months: u32| crate::domain::schedule::tests::spec(code, months, 14);
        Protocol {
            time_zone: Brussels,
            visits: vec![spec("BL", 0), spec("M1", 1), spec("M3", 3), spec("M6", 6)],
            sse_target_days: 3,
            sse_window_days: 7,
        }
    }

    /// The visits a participant randomized on `r` has, as stored after planning.
    fn stored(p: &Protocol, enrolled: NaiveDate, r: NaiveDate) -> Vec<StoredVisit> {
        p.visits
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                Some(StoredVisit {
                    code: s.code.clone(),
                    position: i as i32,
                    window: plan(p, s, enrolled, Some(r))?,
                    final_state: None,
                    sse_triggered: false,
                    missed_reason: false,
                    due: s.questionnaires.clone(),
                    recomputable: false,
                    submitted: Vec::new(),
                })
            })
            .collect()
    }

    fn at(date: &str) -> DateTime<Utc> {
        local_midnight(Brussels, d(date)) + chrono::Duration::hours(10)
    }

    fn dates(enrolled_on: NaiveDate, randomized: &str, registered_at: DateTime<Utc>) -> Dates {
        Dates {
            enrolled_on,
            randomized: d(randomized),
            registered_at,
        }
    }

    fn codes(changes: &[VisitChange]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match c {
                VisitChange::Insert { code, .. } => format!("insert {code}"),
                VisitChange::Reschedule { code, .. } => format!("move {code}"),
                VisitChange::SseTriggered { code, .. } => format!("sse {code}"),
                VisitChange::Close { code, state } => format!("close {code} {state}"),
                VisitChange::NotExpected { code } => format!("not expected {code}"),
            })
            .collect()
    }

    /// A baseline as stored at enrolment, open until randomization.
    fn open_baseline(p: &Protocol, enrolled: NaiveDate) -> StoredVisit {
        StoredVisit {
            code: "BL".into(),
            position: 0,
            window: plan(p, &p.visits[0], enrolled, None).expect("baseline"),
            final_state: None,
            sse_triggered: false,
            missed_reason: false,
            due: vec![],
            recomputable: false,
            submitted: Vec::new(),
        }
    }

    /// The open baseline learns its end, last day and grace from the randomization; so does a
    /// baseline finished during screening (completed before randomization was recorded, the
    /// order the protocol wants), which stays completed.
    #[test]
    fn randomization_plans_the_follow_up_and_ends_the_open_baseline() {
        let p = protocol();
        let enrolled = d("2026-03-02");
        for state in [None, Some(VisitState::Completed)] {
            let mut bl = open_baseline(&p, enrolled);
            bl.final_state = state;
            let changes = after_randomization(
                &p,
                dates(enrolled, "2026-03-05", at("2026-03-02")),
                &[bl],
                at("2026-03-05"),
            );
            assert_eq!(
                codes(&changes),
                ["move BL", "insert M1", "insert M3", "insert M6"],
                "{state:?}"
            );
            let VisitChange::Reschedule { window, .. } = &changes[0] else {
                panic!("{changes:?}")
            };
            assert_eq!(
                window.start,
                local_midnight(Brussels, enrolled),
                "start stays"
            );
            assert_eq!(window.end, Some(local_midnight(Brussels, d("2026-03-09"))));
            assert_eq!(
                window.grace_end,
                Some(local_midnight(Brussels, d("2026-03-16")))
            );
        }
    }

    #[test]
    fn a_corrected_randomization_moves_only_visits_not_yet_open() {
        let p = protocol();
        let enrolled = d("2026-01-05");
        let visits = stored(&p, enrolled, d("2026-01-10"));
        // M1 (target 2026-02-10) is open on 2026-02-01; M3 and M6 are not.
        let registered = at("2026-01-05");
        let changes = after_randomization(
            &p,
            dates(enrolled, "2026-01-12", registered),
            &visits,
            at("2026-02-01"),
        );
        assert_eq!(codes(&changes), ["move M3", "move M6"]);
        // A closed or SSE visit never moves.
        let mut done = visits.clone();
        done[2].final_state = Some(VisitState::Missed);
        done[3].sse_triggered = true;
        let changes = after_randomization(
            &p,
            dates(enrolled, "2026-01-12", registered),
            &done,
            at("2026-02-01"),
        );
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn the_first_sse_brings_the_next_visit_forward_and_closes_the_rest() {
        let p = protocol();
        let visits = stored(&p, d("2026-01-05"), d("2026-01-10"));
        let recorded = Brussels
            .with_ymd_and_hms(2026, 2, 20, 15, 0, 0)
            .single()
            .expect("time")
            .with_timezone(&Utc);
        // table: SSE day -> changes
        let cases: [(&str, &[&str]); 4] = [
            // M1 (target 2026-02-10) is open on the SSE day: it is the SSE visit, not M3.
            (
                "2026-02-20",
                &[
                    "sse M1",
                    "close M3 not_applicable",
                    "close M6 not_applicable",
                ],
            ),
            // M1's grace is over: the next visit.
            ("2026-03-10", &["sse M3", "close M6 not_applicable"]),
            (
                "2026-01-20",
                &[
                    "sse M1",
                    "close M3 not_applicable",
                    "close M6 not_applicable",
                ],
            ),
            ("2026-12-01", &[]),
        ];
        for (day, want) in cases {
            let changes = after_first_sse(&p, &visits, d(day), recorded);
            assert_eq!(codes(&changes), want, "SSE on {day}");
        }
        let changes = after_first_sse(&p, &visits, d("2026-02-20"), recorded);
        let VisitChange::SseTriggered { window, .. } = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(window.start, recorded, "due from the moment it is recorded");
        assert_eq!(
            window.end,
            Some(local_midnight(Brussels, d("2026-02-27"))),
            "a week"
        );
    }

    #[test]
    fn when_questionnaires_stop_open_and_future_visits_close() {
        let p = protocol();
        let visits = stored(&p, d("2026-01-05"), d("2026-01-10"));
        let stop = at("2026-02-01");
        let changes = after_questionnaires_stop(&visits, Some(stop), at("2026-02-01"));
        // Baseline's window (to 2026-01-13, grace to 2026-01-20) passed without answers.
        assert_eq!(
            codes(&changes),
            [
                "close BL missed",
                "close M1 not_applicable",
                "close M3 not_applicable",
                "close M6 not_applicable"
            ]
        );
        assert!(after_questionnaires_stop(&visits, None, at("2026-01-06")).is_empty());
    }

    #[test]
    fn a_go_live_participant_expects_only_visits_still_open_at_registration() {
        let p = protocol();
        // Enrolled and randomized a year ago, registered in epro today (2026-02-20).
        let enrolled = d("2025-02-10");
        let bl = open_baseline(&p, enrolled);
        let now = at("2026-02-20");
        let changes = after_randomization(&p, dates(enrolled, "2025-02-12", now), &[bl], now);
        assert_eq!(
            codes(&changes),
            [
                "move BL",
                "not expected BL",
                "insert M1",
                "not expected M1",
                "insert M3",
                "not expected M3",
                "insert M6",
                "not expected M6"
            ]
        );
        // Randomized five months ago: M6 (target 2026-02-12 + 1 month) is still to come.
        let enrolled = d("2025-09-10");
        let changes = after_randomization(&p, dates(enrolled, "2025-09-12", now), &[], now);
        assert_eq!(
            codes(&changes),
            [
                "insert BL",
                "not expected BL",
                "insert M1",
                "not expected M1",
                "insert M3",
                "not expected M3",
                "insert M6"
            ]
        );
    }

    /// M1 of a participant randomized 2025-12-20: window 6 Jan – 3 Feb 2026 (±14 days), grace to
    /// 10 Feb (last day). Registered in epro while M1 is open or in grace, M1 is expected; once
    /// its grace has ended, it is not.
    #[test]
    fn a_visit_in_grace_at_registration_is_expected() {
        let p = protocol();
        let enrolled = d("2025-12-18");
        let cases: [(&str, bool); 5] = [
            ("2026-01-20", true),  // open
            ("2026-02-03", true),  // last day of the window
            ("2026-02-04", true),  // first day of grace
            ("2026-02-10", true),  // last day of grace
            ("2026-02-11", false), // grace over
        ];
        for (registered, expected) in cases {
            let now = at(registered);
            let changes = after_randomization(&p, dates(enrolled, "2025-12-20", now), &[], now);
            let not_expected = codes(&changes).contains(&"not expected M1".to_string());
            assert_eq!(
                !not_expected, expected,
                "registered {registered}: {changes:?}"
            );
        }
    }

    /// A go-live participant's baseline completed before randomization was recorded is not made
    /// not_expected by it.
    #[test]
    fn a_baseline_completed_before_randomization_learns_its_end() {
        let p = protocol();
        // A go-live participant's completed baseline is not made not_expected.
        let mut bl = open_baseline(&p, d("2025-02-10"));
        bl.final_state = Some(VisitState::Completed);
        let now = at("2026-02-20");
        let changes =
            after_randomization(&p, dates(d("2025-02-10"), "2025-02-12", now), &[bl], now);
        assert_eq!(codes(&changes)[..2], ["move BL", "insert M1"]);
    }

    /// M1 of a participant randomized 2026-01-10: window 27 Jan – 24 Feb (±14 days), grace to
    /// 3 March. Whether it was expected depends on the day of death, never on the day the death
    /// was typed in: the same answer whether recorded in grace or a month later (when the
    /// system had already stored "missed").
    #[test]
    fn a_death_decides_by_its_date_not_by_when_it_was_recorded() {
        let p = protocol();
        let visits = stored(&p, d("2026-01-05"), d("2026-01-10"));
        let m1 = |vs: &[StoredVisit]| vs.iter().find(|v| v.code == "M1").cloned().expect("M1");
        let cases: [(&str, &str, &str); 6] = [
            // (death date, recorded on, M1 becomes)
            ("2026-02-10", "2026-02-11", "not_applicable"), // in the window, recorded at once
            ("2026-02-10", "2026-04-01", "not_applicable"), // in the window, recorded late
            ("2026-02-27", "2026-02-28", "missed"),         // in grace, recorded in grace
            ("2026-02-27", "2026-04-01", "missed"),         // in grace, recorded late
            ("2026-03-10", "2026-03-11", "missed"),         // after grace
            ("2026-01-20", "2026-04-01", "not_applicable"), // before the window opened
        ];
        for (died, recorded, want) in cases {
            let now = at(recorded);
            let mut vs = vs_at(&visits, now);
            let stop = Some(local_midnight(Brussels, d(died)));
            let changes = after_questionnaires_stop(&vs, stop, now);
            for c in &changes {
                if let VisitChange::Close { code, state } = c
                    && let Some(v) = vs.iter_mut().find(|v| v.code == *code)
                {
                    v.final_state = Some(*state);
                }
            }
            let got = m1(&vs).final_state.map(|s| s.to_string());
            assert_eq!(
                got.as_deref(),
                Some(want),
                "died {died}, recorded {recorded}"
            );
        }
    }

    /// The visits as stored when looked at on `now`: those whose grace passed are stored as
    /// missed by the system.
    fn vs_at(visits: &[StoredVisit], now: DateTime<Utc>) -> Vec<StoredVisit> {
        visits
            .iter()
            .cloned()
            .map(|mut v| {
                if v.window.grace_end.is_some_and(|g| g <= now) {
                    v.final_state = Some(VisitState::Missed);
                    v.recomputable = true;
                }
                v
            })
            .collect()
    }
}

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

use super::{
    Anchor, Protocol, VisitFacts, VisitState, Window, plan, sse_visit_index, sse_window, state,
};

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
}

/// After a randomization on `randomized` (a new one, or a corrected date).
pub fn after_randomization(
    protocol: &Protocol,
    enrolled_on: NaiveDate,
    randomized: NaiveDate,
    visits: &[StoredVisit],
    now: DateTime<Utc>,
) -> Vec<VisitChange> {
    let mut out = Vec::new();
    for (position, spec) in protocol.visits.iter().enumerate() {
        let Some(planned) = plan(protocol, spec, enrolled_on, Some(randomized)) else {
            continue;
        };
        let Some(v) = visits.iter().find(|v| v.code == spec.code) else {
            out.push(VisitChange::Insert {
                position,
                code: spec.code.clone(),
                questionnaires: spec.questionnaires.clone(),
                window: planned,
            });
            continue;
        };
        let baseline = spec.anchor == Anchor::Enrolment;
        let movable = v.final_state.is_none()
            && !v.sse_triggered
            && (v.window.start > now || (baseline && v.window.end.is_none()));
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

/// After questionnaires stop at `stop` (PRO discontinuation, withdrawal, death).
pub fn after_questionnaires_stop(
    visits: &[StoredVisit],
    stop: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<VisitChange> {
    visits
        .iter()
        .filter(|v| v.final_state.is_none())
        .filter_map(|v| {
            let s = state(
                &VisitFacts {
                    window: v.window,
                    stored: None,
                    due: &v.due,
                    submitted: &[],
                    missed_reason: v.missed_reason,
                    questionnaires_end: stop,
                },
                now,
            );
            s.is_final().then(|| VisitChange::Close {
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
                })
            })
            .collect()
    }

    fn at(date: &str) -> DateTime<Utc> {
        local_midnight(Brussels, d(date)) + chrono::Duration::hours(10)
    }

    fn codes(changes: &[VisitChange]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match c {
                VisitChange::Insert { code, .. } => format!("insert {code}"),
                VisitChange::Reschedule { code, .. } => format!("move {code}"),
                VisitChange::SseTriggered { code, .. } => format!("sse {code}"),
                VisitChange::Close { code, state } => format!("close {code} {state}"),
            })
            .collect()
    }

    #[test]
    fn randomization_plans_the_follow_up_and_ends_the_open_baseline() {
        let p = protocol();
        let enrolled = d("2026-03-02");
        let bl = StoredVisit {
            code: "BL".into(),
            position: 0,
            window: plan(&p, &p.visits[0], enrolled, None).expect("baseline"),
            final_state: None,
            sse_triggered: false,
            missed_reason: false,
            due: vec![],
        };
        let changes = after_randomization(&p, enrolled, d("2026-03-05"), &[bl], at("2026-03-05"));
        assert_eq!(
            codes(&changes),
            ["move BL", "insert M1", "insert M3", "insert M6"]
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
    }

    #[test]
    fn a_corrected_randomization_moves_only_visits_not_yet_open() {
        let p = protocol();
        let enrolled = d("2026-01-05");
        let visits = stored(&p, enrolled, d("2026-01-10"));
        // M1 (target 2026-02-10) is open on 2026-02-01; M3 and M6 are not.
        let changes = after_randomization(&p, enrolled, d("2026-01-12"), &visits, at("2026-02-01"));
        assert_eq!(codes(&changes), ["move M3", "move M6"]);
        // A closed or SSE visit never moves.
        let mut done = visits.clone();
        done[2].final_state = Some(VisitState::Missed);
        done[3].sse_triggered = true;
        let changes = after_randomization(&p, enrolled, d("2026-01-12"), &done, at("2026-02-01"));
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
}

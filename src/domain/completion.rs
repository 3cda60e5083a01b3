//! CONSORT-PRO completion, per visit × instrument (× arm): what became of each questionnaire a
//! participant's visit was due to collect. Pure: the visit's state, the form's submission and
//! its missed reason come in.
//!
//! A form is *expected* when the participant was on study at the window's end and the window
//! has closed (or the form came in earlier); *received* when it was submitted with at least one
//! item answered (empty forms are refused), in the window or late; *scorable* when its scoring
//! yields a score. A form not received is *missed* once the visit has closed, or as soon as staff
//! record why it was not done; a missed form without a reason is a to-do for the site.

use std::collections::BTreeMap;

use super::schedule::VisitState;

/// The missed-reason key of a form missed without a recorded reason.
pub const NO_REASON: &str = "no_reason";

/// When a submitted form was filled in, relative to its visit's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Before the window's first day (a paper form entered with a reason, flagged
    /// `outside_window`): neither in the window nor late.
    Early,
    InWindow,
    /// After the window's last day (in grace, or later with a reason).
    Late,
}

impl Arrival {
    /// From a stored response: its `late` mark and whether it is flagged `outside_window` (an
    /// outside-window form that is not late was filled in before the window).
    pub fn of(late: bool, outside_window: bool) -> Arrival {
        match (late, outside_window) {
            (true, _) => Arrival::Late,
            (false, true) => Arrival::Early,
            (false, false) => Arrival::InWindow,
        }
    }
}

/// A submitted form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub arrival: Arrival,
    pub scorable: bool,
}

/// One questionnaire of one participant's visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub visit_state: VisitState,
    /// Why the visit is not applicable (`death`, `withdrawal`, `pro_discontinued`, `sse`).
    pub cause: Option<String>,
    pub received: Option<Received>,
    /// Why this form (or, failing that, the whole visit) was not done.
    pub missed_reason: Option<String>,
}

/// What became of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The window has not opened.
    NotDue,
    /// The window is open and the form has not come in: not yet expected.
    Pending,
    /// The window closed, the grace period has not: expected, still answerable.
    Awaited,
    Received(Received),
    /// Expected and not received; the reason, if staff recorded one.
    Missed(Option<String>),
    /// Not on study at the window's end (the cause).
    NotApplicable(String),
    /// The window closed before the participant was registered in epro.
    NotExpected,
}

pub fn outcome(f: &Form) -> Outcome {
    match f.visit_state {
        VisitState::NotExpected => return Outcome::NotExpected,
        VisitState::NotApplicable => {
            return Outcome::NotApplicable(f.cause.clone().unwrap_or_else(|| "unknown".into()));
        }
        VisitState::Upcoming => return Outcome::NotDue,
        _ => {}
    }
    if let Some(r) = f.received {
        return Outcome::Received(r);
    }
    match (f.visit_state, &f.missed_reason) {
        (_, Some(reason)) => Outcome::Missed(Some(reason.clone())),
        (VisitState::Open, None) => Outcome::Pending,
        (VisitState::Late, None) => Outcome::Awaited,
        _ => Outcome::Missed(None),
    }
}

/// The counts of one visit × instrument (× arm).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Count {
    /// Received + missed + awaited.
    pub expected: u32,
    pub received_in_window: u32,
    pub received_late: u32,
    /// Filled in before the window opened (paper, with a reason; flagged `outside_window`).
    pub received_early: u32,
    pub scorable: u32,
    pub missed: u32,
    /// By reason; `no_reason` for the site's to-do list.
    pub missed_reasons: BTreeMap<String, u32>,
    /// Window closed, still in grace.
    pub awaited: u32,
    /// Window open, not yet received.
    pub pending: u32,
    pub not_applicable: BTreeMap<String, u32>,
    pub not_expected: u32,
}

impl Count {
    pub fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::NotDue => {}
            Outcome::Pending => self.pending += 1,
            Outcome::Awaited => {
                self.expected += 1;
                self.awaited += 1;
            }
            Outcome::Received(r) => {
                self.expected += 1;
                match r.arrival {
                    Arrival::Early => self.received_early += 1,
                    Arrival::InWindow => self.received_in_window += 1,
                    Arrival::Late => self.received_late += 1,
                }
                if r.scorable {
                    self.scorable += 1;
                }
            }
            Outcome::Missed(reason) => {
                self.expected += 1;
                self.missed += 1;
                let key = reason.clone().unwrap_or_else(|| NO_REASON.into());
                *self.missed_reasons.entry(key).or_default() += 1;
            }
            Outcome::NotApplicable(cause) => {
                *self.not_applicable.entry(cause.clone()).or_default() += 1;
            }
            Outcome::NotExpected => self.not_expected += 1,
        }
    }

    pub fn received(&self) -> u32 {
        self.received_in_window + self.received_late + self.received_early
    }

    /// Received / expected; none while nothing is expected.
    pub fn rate(&self) -> Option<f64> {
        (self.expected > 0).then(|| f64::from(self.received()) / f64::from(self.expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(state: VisitState, received: Option<(Arrival, bool)>, reason: Option<&str>) -> Form {
        Form {
            visit_state: state,
            cause: (state == VisitState::NotApplicable).then(|| "death".to_string()),
            received: received.map(|(arrival, scorable)| Received { arrival, scorable }),
            missed_reason: reason.map(str::to_string),
        }
    }

    #[test]
    fn each_form_counts_once_by_what_became_of_it() {
        use VisitState::*;
        let ok = Some((Arrival::InWindow, true));
        let cases: Vec<(Form, Outcome)> = vec![
            (form(Upcoming, None, None), Outcome::NotDue),
            (form(Open, None, None), Outcome::Pending),
            (
                form(Open, ok, None),
                Outcome::Received(Received {
                    arrival: Arrival::InWindow,
                    scorable: true,
                }),
            ),
            // A form staff say will not be done is missed while the window is still open.
            (
                form(Open, None, Some("too_ill")),
                Outcome::Missed(Some("too_ill".into())),
            ),
            (form(Late, None, None), Outcome::Awaited),
            // C30 received, BM22 not: the visit is partial, each form counts on its own.
            (
                form(Partial, Some((Arrival::Late, false)), None),
                Outcome::Received(Received {
                    arrival: Arrival::Late,
                    scorable: false,
                }),
            ),
            (form(Partial, None, None), Outcome::Missed(None)),
            (
                form(Missed, None, Some("declined")),
                Outcome::Missed(Some("declined".into())),
            ),
            (
                form(NotApplicable, None, None),
                Outcome::NotApplicable("death".into()),
            ),
            // A paper form transcribed for a visit before registration stays out of the counts.
            (form(NotExpected, ok, None), Outcome::NotExpected),
        ];
        for (f, want) in cases {
            assert_eq!(outcome(&f), want, "{f:?}");
        }
    }

    #[test]
    fn a_form_filled_in_before_the_window_is_early_not_late() {
        // (late, flagged outside_window) -> arrival
        let cases = [
            (false, false, Arrival::InWindow),
            (true, false, Arrival::Late),
            (true, true, Arrival::Late), // after grace, with a reason
            (false, true, Arrival::Early),
        ];
        for (late, outside, want) in cases {
            assert_eq!(
                Arrival::of(late, outside),
                want,
                "late {late}, outside {outside}"
            );
        }
    }

    #[test]
    fn counts_add_up_to_consort_pro_rows() {
        let mut c = Count::default();
        for o in [
            Outcome::Received(Received {
                arrival: Arrival::InWindow,
                scorable: true,
            }),
            Outcome::Received(Received {
                arrival: Arrival::Late,
                scorable: true,
            }),
            Outcome::Received(Received {
                arrival: Arrival::Early,
                scorable: false,
            }),
            Outcome::Missed(None),
            Outcome::Missed(Some("too_ill".into())),
            Outcome::Awaited,
            Outcome::Pending,
            Outcome::NotApplicable("death".into()),
            Outcome::NotExpected,
            Outcome::NotDue,
        ] {
            c.add(&o);
        }
        assert_eq!(c.expected, 6, "received 3 + missed 2 + awaited 1");
        assert_eq!(
            (
                c.received_in_window,
                c.received_late,
                c.received_early,
                c.scorable
            ),
            (1, 1, 1, 2)
        );
        assert_eq!(c.received(), 3);
        assert_eq!(c.missed_reasons.get(NO_REASON), Some(&1));
        assert_eq!(c.missed_reasons.get("too_ill"), Some(&1));
        assert_eq!((c.pending, c.not_expected), (1, 1));
        assert_eq!(c.not_applicable.get("death"), Some(&1));
        assert_eq!(c.rate(), Some(0.5));
        assert_eq!(Count::default().rate(), None);
    }
}

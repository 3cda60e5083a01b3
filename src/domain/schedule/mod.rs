//! Visit windows and states, and the SSE rule — pure functions of the protocol, the
//! participant's dates and events, and the clock (passed in).
//!
//! A window runs from local 00:00 of its first day up to, not including, local 00:00 after its
//! last day, in the study time zone; follow-up targets are offsets from an anchor (randomization,
//! enrolment or an earlier visit's target): calendar months first (31 January + 1 month = 28/29
//! February), then days (weeks are 7 days). Instants are UTC; dates are local calendar dates.

use chrono::{DateTime, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

pub(crate) mod after_event;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// The baseline (from enrolment until randomization + N days), or an offset after enrolment.
    Enrolment,
    /// An offset after randomization.
    Randomization,
    /// An offset after an earlier visit's target (`VisitSpec::anchor_visit`).
    Visit,
}

/// One visit of the protocol (from the study file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitSpec {
    pub code: String,
    pub anchor: Anchor,
    /// The visit whose target this one is counted from (`Anchor::Visit`).
    pub anchor_visit: Option<String>,
    /// Calendar months after the anchor…
    pub months: u32,
    /// …then this many days (the study file's weeks × 7 + days).
    pub days: u32,
    pub before_days: u32,
    pub after_days: u32,
    /// Baseline only: the window ends this many days after randomization.
    pub until_randomization_days: u32,
    pub grace_days: u32,
    /// `key@version`, in order.
    pub questionnaires: Vec<String>,
}

impl VisitSpec {
    /// The baseline: anchored at enrolment with no offset (the study file's first visit).
    pub fn is_baseline(&self) -> bool {
        self.anchor == Anchor::Enrolment && self.months == 0 && self.days == 0
    }
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

/// The last local day before an exclusive end instant (a window's or grace period's last day).
pub fn last_day(tz: Tz, end: DateTime<Utc>) -> Option<NaiveDate> {
    local_date(tz, end).pred_opt()
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
    if spec.is_baseline() {
        return Some(match randomized_on {
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
        });
    }
    // Follow-up visits are planned once randomization is recorded, whatever their anchor.
    let r = randomized_on?;
    let from = match spec.anchor {
        Anchor::Randomization => r,
        Anchor::Enrolment => enrolled_on,
        Anchor::Visit => {
            let code = spec.anchor_visit.as_deref()?;
            // The study file only lets a visit count from an earlier one: no cycle.
            let earlier = protocol
                .visits
                .iter()
                .take_while(|v| v.code != spec.code)
                .find(|v| v.code == code)?;
            plan(protocol, earlier, enrolled_on, randomized_on)?.target
        }
    };
    let target = plus_days(add_months(from, spec.months), spec.days);
    Some(window_of_days(
        tz,
        target,
        minus_days(target, spec.before_days),
        plus_days(target, spec.after_days),
        spec.grace_days,
    ))
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
    /// Closed with some but not all questionnaires received.
    Partial,
    Missed,
    NotApplicable,
    /// The grace period had ended before the participant was registered in epro (go-live):
    /// nothing was expected, nothing is reminded; staff may still transcribe paper forms for it.
    /// A visit still in grace at registration is expected (it can still be answered).
    NotExpected,
}

/// The cause stored with a visit that is `not_expected` because its grace period ended before the
/// participant was registered in epro.
pub const BEFORE_REGISTRATION: &str = "before_registration";

impl VisitState {
    pub const ALL: [VisitState; 8] = [
        VisitState::Upcoming,
        VisitState::Open,
        VisitState::Late,
        VisitState::Completed,
        VisitState::Partial,
        VisitState::Missed,
        VisitState::NotApplicable,
        VisitState::NotExpected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VisitState::Upcoming => "upcoming",
            VisitState::Open => "open",
            VisitState::Late => "late",
            VisitState::Completed => "completed",
            VisitState::Partial => "partial",
            VisitState::Missed => "missed",
            VisitState::NotApplicable => "not_applicable",
            VisitState::NotExpected => "not_expected",
        }
    }

    /// Completed, missed, not_applicable and not_expected are stored once reached; only a
    /// late-recorded event or an entry that completes the visit recomputes them.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            VisitState::Completed
                | VisitState::Partial
                | VisitState::Missed
                | VisitState::NotApplicable
                | VisitState::NotExpected
        )
    }

    /// Still answerable by the participant: the window is open, or closed with the grace
    /// period running. Reminders go out, and a visit no reminder can reach is flagged.
    pub fn is_answerable(self) -> bool {
        matches!(self, VisitState::Open | VisitState::Late)
    }

    /// Counted in a visit's denominator: the participant was on study at the window's end.
    pub fn is_expected(self) -> bool {
        !matches!(
            self,
            VisitState::NotApplicable | VisitState::NotExpected | VisitState::Upcoming
        )
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for VisitState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for VisitState {
    type Err = crate::domain::UnknownCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| crate::domain::UnknownCode {
            what: "VisitState",
            value: s.to_string(),
        })
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
///
/// Whether a visit is expected depends only on the participant's status at the window's end,
/// never on when an event was typed in: questionnaires that stopped (death, withdrawal, PRO
/// discontinuation) before the window ended make it not applicable; stopped after the window
/// ended but before grace ended, it was expected and can no longer be answered: missed.
pub fn state(f: &VisitFacts<'_>, now: DateTime<Utc>) -> VisitState {
    if let Some(s) = f.stored.filter(|s| s.is_final()) {
        return s;
    }
    let grace_end = f.window.grace_end;
    // A form counts for its visit whenever it came in: in the window, in grace, or entered
    // later with a reason (each form keeps its own `late` flag). The visit's state is thus
    // what its forms' outcomes say (`domain::completion::outcome`): every form received is a
    // completed visit, some a partial one, none a missed one.
    let received = |q: &String| f.submitted.iter().any(|(k, _)| k == q);
    if !f.due.is_empty() && f.due.iter().all(received) {
        return VisitState::Completed;
    }
    // Closed without every questionnaire: partial when some came in, else missed.
    let closed = if f.due.iter().any(received) {
        VisitState::Partial
    } else {
        VisitState::Missed
    };
    if f.missed_reason {
        return closed;
    }
    if let Some(stop) = f.questionnaires_end {
        match f.window.end {
            // The baseline while randomization is unknown: it ends with questionnaires.
            None => return VisitState::NotApplicable,
            Some(end) if stop < end => return VisitState::NotApplicable,
            Some(_) if grace_end.is_none_or(|g| stop < g) => return closed,
            Some(_) => {}
        }
    }
    if now < f.window.start {
        VisitState::Upcoming
    } else if f.window.end.is_none_or(|e| now < e) {
        VisitState::Open
    } else if grace_end.is_some_and(|g| now < g) {
        VisitState::Late
    } else {
        closed
    }
}

/// The SSE visit (registration, line 87: "the assessments that should take place during the
/// next follow-up visit, should be completed at that time point, preferably within one week"):
/// the first follow-up visit that on the SSE day is neither final (completed, missed, not
/// applicable) nor past its grace period: the open (or late) visit if there is one, otherwise
/// the next. One SSE never leaves two visits open.
pub fn sse_visit_index(
    visits: &[(Window, Option<VisitState>)],
    tz: Tz,
    sse_date: NaiveDate,
) -> Option<usize> {
    let sse = local_midnight(tz, sse_date);
    visits.iter().position(|(w, state)| {
        !state.is_some_and(|s| s.is_final()) && w.grace_end.or(w.end).is_none_or(|g| g > sse)
    })
}

#[cfg(test)]
mod tests;

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
        let keyed: Vec<(Window, Option<VisitState>)> =
            rows.iter().skip(1).map(|r| (r.window, None)).collect();
        if let Some(i) = sse_visit_index(&keyed, protocol.time_zone, sse_date) {
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
mod simulate_tests;

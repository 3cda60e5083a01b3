//! The code lists of answering: a response's status, how an answer was entered, why a visit was
//! missed, and on what basis a submitted answer may be amended; and which entries a visit
//! accepts.

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;

use super::schedule::{VisitState, Window, local_date};

crate::code_enum! {
    /// A response's life: a draft until submitted, then completed; amended after a change.
    pub enum ResponseStatus {
        Draft = "draft",
        Completed = "completed",
        Amended = "amended",
    }
}

impl ResponseStatus {
    /// Submitted (completed or amended): locked, scored, counted.
    pub fn is_submitted(self) -> bool {
        !matches!(self, ResponseStatus::Draft)
    }
}

crate::code_enum! {
    /// Who entered an answer and how: the participant (`self`), staff during a
    /// teleconsultation (`interviewer`), or staff typing in a paper form (`paper`). A response
    /// whose answers were entered in more than one way is `mixed`.
    pub enum EntryMode {
        SelfReport = "self",
        Interviewer = "interviewer",
        Paper = "paper",
        Mixed = "mixed",
    }
}

impl EntryMode {
    /// The mode of a response from the modes of its answers: their one mode, or `mixed`.
    pub fn of_answers(modes: impl IntoIterator<Item = EntryMode>) -> Option<EntryMode> {
        let mut it = modes.into_iter();
        let first = it.next()?;
        Some(if it.all(|m| m == first) {
            first
        } else {
            EntryMode::Mixed
        })
    }

    /// Staff may enter on a participant's behalf only as interviewer or from paper.
    pub fn staff_entry(s: &str) -> Option<EntryMode> {
        EntryMode::parse(s).filter(|m| matches!(m, EntryMode::Interviewer | EntryMode::Paper))
    }
}

crate::code_enum! {
    /// A questionnaire on a participant's task list.
    pub enum TaskStatus {
        NotStarted = "not_started",
        InProgress = "in_progress",
        Completed = "completed",
    }
}

impl TaskStatus {
    /// From the response stored for it, if any.
    pub fn of(response: Option<ResponseStatus>) -> TaskStatus {
        match response {
            None => TaskStatus::NotStarted,
            Some(ResponseStatus::Draft) => TaskStatus::InProgress,
            Some(_) => TaskStatus::Completed,
        }
    }
}

crate::code_enum! {
    /// Why a visit's questionnaires were not completed (CONSORT-PRO: reasons for missing data).
    pub enum MissedReason {
        TooIll = "too_ill",
        Hospitalised = "hospitalised",
        Declined = "declined",
        UnableVision = "unable_vision",
        UnableCognition = "unable_cognition",
        UnableLanguage = "unable_language",
        TechnicalProblem = "technical_problem",
        AdministrativeFailure = "administrative_failure",
        Deceased = "deceased",
        Other = "other",
    }
}

crate::code_enum! {
    /// Why a submitted answer is changed: the participant asked (self-reported answers may only
    /// change so), or staff mistyped what they entered.
    pub enum AmendmentBasis {
        ParticipantRequest = "participant_request",
        TranscriptionError = "transcription_error",
    }
}

/// A submitted answer may change: a self-reported one only at the participant's documented
/// request; one staff entered also to correct a transcription error.
pub fn may_amend(mode: EntryMode, basis: AmendmentBasis) -> bool {
    mode != EntryMode::SelfReport || basis == AmendmentBasis::ParticipantRequest
}

/// An amended answer keeps the way it was first given (self or paper); an interviewer answer
/// stays an interviewer answer.
pub fn amended_mode(mode: EntryMode) -> EntryMode {
    match mode {
        EntryMode::SelfReport | EntryMode::Paper => mode,
        EntryMode::Interviewer | EntryMode::Mixed => EntryMode::Interviewer,
    }
}

/// Why a visit refuses an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The window has not opened: nothing is entered or drafted for a visit before it opens.
    NotOpen,
    /// Past the grace period: staff may still enter it, with a reason for the late entry.
    NeedsReason,
    /// Not open to this entrant (participants: only while open or in grace).
    Closed,
    /// A paper form filled in outside the window and its grace period: it needs a reason.
    OutsideWindow,
}

/// Where the day a paper form was filled in falls, relative to the visit's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    Before,
    InWindow,
    InGrace,
    After,
}

/// The timing of an assessment day: days are local days in the study time zone, the window's
/// first day is the day it opens (an SSE visit may open mid-day), its last day the day before
/// its exclusive end.
pub fn timing(tz: Tz, w: &Window, day: NaiveDate) -> Timing {
    let last_day = |end: chrono::DateTime<chrono::Utc>| {
        local_date(tz, end)
            .checked_sub_days(Days::new(1))
            .unwrap_or(day)
    };
    if day < local_date(tz, w.start) {
        Timing::Before
    } else if w.end.is_none_or(|e| day <= last_day(e)) {
        Timing::InWindow
    } else if w.grace_end.is_none_or(|g| day <= last_day(g)) {
        Timing::InGrace
    } else {
        Timing::After
    }
}

/// Which entries a visit accepts: `Ok(late)` when it accepts one, `late` when it is past the
/// window's last day. No one enters anything before the window opens. Participants answer while
/// the window is open or in grace; an interviewer may also enter after the grace period, with a
/// reason. A paper form is judged by the day it was filled in (`paper`): inside the window or
/// its grace it is taken whenever it is typed in (also for a visit that closed meanwhile, or
/// one before the participant's registration in epro); outside them only with a reason. A paper
/// form filled in before the window opened is early, not late (it is flagged `outside_window`).
pub fn accepts(
    state: VisitState,
    mode: EntryMode,
    has_reason: bool,
    paper: Option<Timing>,
) -> Result<bool, Refusal> {
    let staff = matches!(mode, EntryMode::Interviewer | EntryMode::Paper);
    if let (EntryMode::Paper, Some(t)) = (mode, paper) {
        return match (state, t) {
            (VisitState::Upcoming, _) => Err(Refusal::NotOpen),
            (VisitState::Completed | VisitState::NotApplicable, _) => Err(Refusal::Closed),
            (_, Timing::InWindow) => Ok(false),
            (_, Timing::InGrace) => Ok(true),
            (_, Timing::Before) if has_reason => Ok(false),
            (_, Timing::After) if has_reason => Ok(true),
            (_, Timing::Before | Timing::After) => Err(Refusal::OutsideWindow),
        };
    }
    match state {
        VisitState::Upcoming => Err(Refusal::NotOpen),
        VisitState::Open => Ok(false),
        VisitState::Late => Ok(true),
        VisitState::Missed | VisitState::Partial if staff && has_reason => Ok(true),
        VisitState::Missed | VisitState::Partial if staff => Err(Refusal::NeedsReason),
        _ => Err(Refusal::Closed),
    }
}

/// Whether a draft may be saved: never before the window opens; a participant only while it is
/// open or in grace; staff also later (the reason is asked at submission).
pub fn may_draft(state: VisitState, mode: EntryMode) -> Result<(), Refusal> {
    match state {
        VisitState::Upcoming => Err(Refusal::NotOpen),
        VisitState::Open | VisitState::Late => Ok(()),
        _ if mode == EntryMode::SelfReport => Err(Refusal::Closed),
        _ => Ok(()),
    }
}

/// How far a phone's clock may be off the server's when its completion time is judged
/// (docs/trial-rules.md, "Answers sent from a phone that was offline"): phones set their clocks
/// from the network and rarely drift by more than seconds; five minutes also covers a clock set
/// by hand to the minute.
pub const DEVICE_CLOCK_SKEW_SECONDS: i64 = 300;

/// Why a phone's completion time does not make a late-arriving form on time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineRefusal {
    /// Later than the server received it (beyond the allowed skew): the phone's clock is wrong.
    AfterReceipt,
    /// Earlier than the server's record of the form being opened (its draft), beyond the skew,
    /// or the server has no record of it being opened.
    BeforeOpened,
    /// Before the window opened or after its grace period ended.
    OutsideWindow,
}

impl OfflineRefusal {
    /// The code recorded in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            OfflineRefusal::AfterReceipt => "after_receipt",
            OfflineRefusal::BeforeOpened => "before_opened",
            OfflineRefusal::OutsideWindow => "outside_window",
        }
    }
}

/// A form a participant finished on the phone, received after its visit closed: taken when
/// the phone's completion time (`device`) is plausible — not after the server's receipt
/// (`received`) and not before the server's record of the form being opened (`opened`), each
/// with `DEVICE_CLOCK_SKEW_SECONDS` allowed — and inside the window or its grace period.
/// `Ok(late)`: late when the completion time is past the window's end (in grace).
pub fn offline_completion(
    w: &Window,
    device: DateTime<Utc>,
    opened: Option<DateTime<Utc>>,
    received: DateTime<Utc>,
) -> Result<bool, OfflineRefusal> {
    plausible(device, opened, received)?;
    if device < w.start || w.grace_end.is_some_and(|g| device >= g) {
        return Err(OfflineRefusal::OutsideWindow);
    }
    Ok(w.end.is_some_and(|e| device >= e))
}

/// Whether a phone's completion time can be true: not after the server received the form and
/// not before the server's record of it being opened, each with `DEVICE_CLOCK_SKEW_SECONDS`.
pub fn plausible(
    device: DateTime<Utc>,
    opened: Option<DateTime<Utc>>,
    received: DateTime<Utc>,
) -> Result<(), OfflineRefusal> {
    let skew = chrono::Duration::seconds(DEVICE_CLOCK_SKEW_SECONDS);
    if device > received + skew {
        Err(OfflineRefusal::AfterReceipt)
    } else if opened.is_none_or(|o| device < o - skew) {
        Err(OfflineRefusal::BeforeOpened)
    } else {
        Ok(())
    }
}

/// Whether the phone's completion time decides a participant's submission: only for one the
/// visit refuses because it closed (`Closed`: missed or partial) — a visit still open takes it
/// as any other.
pub fn judged_by_device(state: VisitState, mode: EntryMode) -> bool {
    mode == EntryMode::SelfReport && matches!(state, VisitState::Missed | VisitState::Partial)
}

crate::code_enum! {
    /// Why a received form needs a second look in the analysis.
    pub enum ResponseFlag {
        /// Filled in outside the window and its grace period (a reason was given).
        OutsideWindow = "outside_window",
        /// A baseline form filled in after the participant was randomized (registration line
        /// 79: baseline questionnaires belong to screening, before allocation).
        AfterRandomization = "after_randomization",
        /// An SSE visit's form filled in more than the SSE target (a week) after the SSE
        /// (registration line 87: "preferably within one week").
        AfterSseWeek = "after_sse_week",
    }
}

/// What the flags of a submitted form depend on.
#[derive(Debug, Clone, Copy)]
pub struct Assessment {
    /// The day the form was filled in (study time zone): a paper form's `completed_on`, else the
    /// submission day.
    pub day: NaiveDate,
    pub outside_window: bool,
    /// The visit is the baseline.
    pub baseline: bool,
    pub randomized_on: Option<NaiveDate>,
    /// The first SSE's day, when the visit is the SSE visit.
    pub sse_on: Option<NaiveDate>,
    pub sse_target_days: u32,
}

/// A submitted form's flags, and its days from the SSE (SSE visits only).
pub fn flags(a: &Assessment) -> (Vec<ResponseFlag>, Option<i32>) {
    let mut out = Vec::new();
    if a.outside_window {
        out.push(ResponseFlag::OutsideWindow);
    }
    if a.baseline && a.randomized_on.is_some_and(|r| a.day > r) {
        out.push(ResponseFlag::AfterRandomization);
    }
    let days_from_sse = a
        .sse_on
        .map(|sse| i32::try_from((a.day - sse).num_days()).unwrap_or(i32::MAX));
    if days_from_sse.is_some_and(|d| d > i32::try_from(a.sse_target_days).unwrap_or(i32::MAX)) {
        out.push(ResponseFlag::AfterSseWeek);
    }
    (out, days_from_sse)
}

/// What the completion date of an entry must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateRule {
    /// Only a paper form has a date the participant filled it in.
    OnlyPaper,
    /// A paper form must say the day it was filled in.
    PaperNeedsDate,
    /// The day is after today (study time zone).
    InTheFuture,
    /// The day is before the participant was enrolled.
    BeforeEnrolment,
}

/// A paper entry carries the day the participant filled it in, which is neither in the future
/// nor before enrolment; no other entry has one.
pub fn completion_date(
    mode: EntryMode,
    date: Option<NaiveDate>,
    today: NaiveDate,
    enrolled_on: NaiveDate,
) -> Result<(), DateRule> {
    match (mode == EntryMode::Paper, date) {
        (false, None) => Ok(()),
        (false, Some(_)) => Err(DateRule::OnlyPaper),
        (true, None) => Err(DateRule::PaperNeedsDate),
        (true, Some(d)) if d > today => Err(DateRule::InTheFuture),
        (true, Some(d)) if d < enrolled_on => Err(DateRule::BeforeEnrolment),
        (true, Some(_)) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_offline_form_is_judged_by_the_phones_plausible_completion_time() {
        use OfflineRefusal::*;
        let at = |h: i64| {
            chrono::DateTime::<Utc>::from_timestamp(1_800_000_000 + h * 3600, 0).unwrap_or_default()
        };
        let skew = chrono::Duration::seconds(DEVICE_CLOCK_SKEW_SECONDS);
        let w = Window {
            target: NaiveDate::default(),
            start: at(0),
            end: Some(at(48)),
            grace_end: Some(at(72)),
        };
        let received = at(100);
        // (device time, form opened, expected)
        type Case = (
            DateTime<Utc>,
            Option<DateTime<Utc>>,
            Result<bool, OfflineRefusal>,
        );
        let cases: [Case; 12] = [
            (at(10), Some(at(5)), Ok(false)),
            (at(47), Some(at(5)), Ok(false)),
            (at(48), Some(at(5)), Ok(true)),
            (at(71), Some(at(5)), Ok(true)),
            (at(72), Some(at(5)), Err(OutsideWindow)),
            (at(80), Some(at(5)), Err(OutsideWindow)),
            (at(10), Some(at(11)), Err(BeforeOpened)),
            (at(10), Some(at(10) + skew), Ok(false)),
            (at(10), None, Err(BeforeOpened)),
            (received + skew, Some(at(5)), Err(OutsideWindow)),
            (
                received + skew + chrono::Duration::seconds(1),
                Some(at(5)),
                Err(AfterReceipt),
            ),
            (
                at(0) - chrono::Duration::seconds(1),
                Some(at(0) - skew),
                Err(OutsideWindow),
            ),
        ];
        for (device, opened, want) in cases {
            assert_eq!(
                offline_completion(&w, device, opened, received),
                want,
                "{device} opened {opened:?}"
            );
        }
        assert!(judged_by_device(VisitState::Missed, EntryMode::SelfReport));
        assert!(judged_by_device(VisitState::Partial, EntryMode::SelfReport));
        assert!(!judged_by_device(VisitState::Open, EntryMode::SelfReport));
        assert!(!judged_by_device(
            VisitState::Missed,
            EntryMode::Interviewer
        ));
    }

    #[test]
    fn each_code_has_one_string_form_both_ways() {
        for s in ResponseStatus::ALL {
            assert_eq!(ResponseStatus::parse(s.as_str()), Some(*s));
        }
        for m in EntryMode::ALL {
            assert_eq!(m.as_str().parse::<EntryMode>(), Ok(*m));
            assert_eq!(serde_json::to_value(m).ok(), Some(m.as_str().into()));
        }
        assert_eq!(MissedReason::ALL.len(), 10);
        assert!("sick".parse::<MissedReason>().is_err());
    }

    #[test]
    fn a_response_mode_is_its_answers_one_mode_or_mixed() {
        use EntryMode::*;
        let cases: [(&[EntryMode], Option<EntryMode>); 4] = [
            (&[], None),
            (&[SelfReport, SelfReport], Some(SelfReport)),
            (&[Paper], Some(Paper)),
            (&[SelfReport, Interviewer], Some(Mixed)),
        ];
        for (modes, want) in cases {
            assert_eq!(
                EntryMode::of_answers(modes.iter().copied()),
                want,
                "{modes:?}"
            );
        }
    }

    #[test]
    fn staff_enter_as_interviewer_or_from_paper_only() {
        assert_eq!(EntryMode::staff_entry("paper"), Some(EntryMode::Paper));
        assert_eq!(
            EntryMode::staff_entry("interviewer"),
            Some(EntryMode::Interviewer)
        );
        assert_eq!(EntryMode::staff_entry("self"), None);
        assert_eq!(EntryMode::staff_entry("mixed"), None);
    }

    #[test]
    fn which_entries_a_visit_accepts() {
        use EntryMode::*;
        use VisitState::*;
        let closed = Err(Refusal::Closed);
        let not_open = Err(Refusal::NotOpen);
        let (inw, grace, after) = (
            Some(Timing::InWindow),
            Some(Timing::InGrace),
            Some(Timing::After),
        );
        // (state, mode, reason given, paper day) -> accepted as late?, or why not
        let cases = [
            (Open, SelfReport, false, None, Ok(false)),
            (Open, Paper, false, inw, Ok(false)),
            (Late, SelfReport, false, None, Ok(true)),
            (Late, Interviewer, false, None, Ok(true)),
            (Missed, SelfReport, true, None, closed),
            (Missed, Interviewer, false, None, Err(Refusal::NeedsReason)),
            (Missed, Interviewer, true, None, Ok(true)),
            (Partial, Interviewer, true, None, Ok(true)),
            // Paper filled in inside the window, typed in after grace: in window, no reason.
            (Missed, Paper, false, inw, Ok(false)),
            (Partial, Paper, false, inw, Ok(false)),
            (Missed, Paper, false, grace, Ok(true)),
            (Missed, Paper, false, after, Err(Refusal::OutsideWindow)),
            (Missed, Paper, true, after, Ok(true)),
            (
                Open,
                Paper,
                false,
                Some(Timing::Before),
                Err(Refusal::OutsideWindow),
            ),
            // Filled in before the window opened, entered with a reason: early, not late (it is
            // flagged outside_window), whatever the visit's state when typed in.
            (Open, Paper, true, Some(Timing::Before), Ok(false)),
            (Missed, Paper, true, Some(Timing::Before), Ok(false)),
            (Late, Paper, true, Some(Timing::Before), Ok(false)),
            // A visit before registration in epro takes transcribed paper forms only.
            (NotExpected, Paper, false, inw, Ok(false)),
            (NotExpected, Interviewer, true, None, closed),
            (Upcoming, SelfReport, false, None, not_open),
            (Upcoming, Paper, false, inw, not_open),
            (Upcoming, Paper, true, inw, not_open),
            (Upcoming, Interviewer, true, None, not_open),
            (Completed, Interviewer, true, None, closed),
            (NotApplicable, Paper, true, inw, closed),
        ];
        for (state, mode, reason, paper, want) in cases {
            assert_eq!(
                accepts(state, mode, reason, paper),
                want,
                "{state:?} {mode:?} reason {reason} {paper:?}"
            );
        }
    }

    #[test]
    fn flags_name_what_a_statistician_must_know() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        let base = Assessment {
            day: day("2026-03-10"),
            outside_window: false,
            baseline: false,
            randomized_on: Some(day("2026-03-10")),
            sse_on: None,
            sse_target_days: 7,
        };
        use ResponseFlag::*;
        let cases: Vec<(Assessment, Vec<ResponseFlag>, Option<i32>)> = vec![
            (base, vec![], None),
            // Baseline on the randomization day is still before allocation is known.
            (
                Assessment {
                    baseline: true,
                    ..base
                },
                vec![],
                None,
            ),
            (
                Assessment {
                    baseline: true,
                    day: day("2026-03-11"),
                    ..base
                },
                vec![AfterRandomization],
                None,
            ),
            (
                Assessment {
                    outside_window: true,
                    ..base
                },
                vec![OutsideWindow],
                None,
            ),
            (
                Assessment {
                    sse_on: Some(day("2026-03-03")),
                    ..base
                },
                vec![],
                Some(7),
            ),
            (
                Assessment {
                    sse_on: Some(day("2026-03-02")),
                    ..base
                },
                vec![AfterSseWeek],
                Some(8),
            ),
        ];
        for (a, want, days) in cases {
            assert_eq!(flags(&a), (want, days), "{a:?}");
        }
    }

    #[test]
    fn a_paper_day_is_placed_by_local_days() {
        use chrono_tz::Europe::Brussels;
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        let p = crate::domain::schedule::local_midnight;
        // Window 3–17 Feb, grace to 24 Feb (exclusive ends at local midnight).
        let w = Window {
            target: day("2026-02-10"),
            start: p(Brussels, day("2026-02-03")),
            end: Some(p(Brussels, day("2026-02-18"))),
            grace_end: Some(p(Brussels, day("2026-02-25"))),
        };
        let cases = [
            ("2026-02-02", Timing::Before),
            ("2026-02-03", Timing::InWindow),
            ("2026-02-17", Timing::InWindow),
            ("2026-02-18", Timing::InGrace),
            ("2026-02-24", Timing::InGrace),
            ("2026-02-25", Timing::After),
        ];
        for (d, want) in cases {
            assert_eq!(timing(Brussels, &w, day(d)), want, "{d}");
        }
        // An SSE visit opening mid-day takes a form filled in that day.
        let sse = Window {
            start: p(Brussels, day("2026-02-03")) + chrono::Duration::hours(15),
            ..w
        };
        assert_eq!(timing(Brussels, &sse, day("2026-02-03")), Timing::InWindow);
    }

    #[test]
    fn drafts_never_before_the_window_opens_and_participants_only_while_open() {
        use EntryMode::*;
        use VisitState::*;
        let cases = [
            (Upcoming, SelfReport, Err(Refusal::NotOpen)),
            (Upcoming, Paper, Err(Refusal::NotOpen)),
            (Open, SelfReport, Ok(())),
            (Late, SelfReport, Ok(())),
            (Missed, SelfReport, Err(Refusal::Closed)),
            (Missed, Interviewer, Ok(())),
            (Completed, SelfReport, Err(Refusal::Closed)),
        ];
        for (state, mode, want) in cases {
            assert_eq!(may_draft(state, mode), want, "{state:?} {mode:?}");
        }
    }

    #[test]
    fn only_paper_has_a_completion_date_and_paper_always_has_one() {
        use EntryMode::*;
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let (today, enrolled) = (day("2026-03-10").expect("d"), day("2026-01-05").expect("d"));
        let cases = [
            (Paper, day("2026-03-01"), Ok(())),
            (Paper, day("2026-03-10"), Ok(())),
            (Paper, day("2026-01-05"), Ok(())),
            (Paper, None, Err(DateRule::PaperNeedsDate)),
            (Paper, day("2026-03-11"), Err(DateRule::InTheFuture)),
            (Paper, day("2026-01-04"), Err(DateRule::BeforeEnrolment)),
            (Interviewer, day("2026-03-01"), Err(DateRule::OnlyPaper)),
            (SelfReport, None, Ok(())),
        ];
        for (mode, date, want) in cases {
            assert_eq!(
                completion_date(mode, date, today, enrolled),
                want,
                "{mode:?} {date:?}"
            );
        }
    }

    #[test]
    fn self_reported_answers_change_only_at_the_participants_request() {
        use AmendmentBasis::*;
        use EntryMode::*;
        let cases = [
            (SelfReport, ParticipantRequest, true),
            (SelfReport, TranscriptionError, false),
            (Interviewer, TranscriptionError, true),
            (Paper, TranscriptionError, true),
            (Paper, ParticipantRequest, true),
        ];
        for (mode, basis, ok) in cases {
            assert_eq!(may_amend(mode, basis), ok, "{mode:?} {basis:?}");
        }
        assert_eq!(amended_mode(Paper), Paper);
        assert_eq!(amended_mode(Mixed), Interviewer);
    }
}

//! The code lists of answering: a response's status, how an answer was entered, why a visit was
//! missed, and on what basis a submitted answer may be amended; and which entries a visit
//! accepts.

use super::schedule::VisitState;

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
    /// Past the grace period: staff may still enter it, with a reason for the late entry.
    NeedsReason,
    /// Not open to this entrant (participants: only while open or in grace).
    Closed,
}

/// Which entries a visit accepts: `Ok(late)` when it accepts one, `late` when it is past the
/// window's last day. Participants answer while the window is open or in grace; staff may also
/// enter after the grace period or before the window opens (a paper form typed in early or
/// late), with a reason.
pub fn accepts(state: VisitState, mode: EntryMode, has_reason: bool) -> Result<bool, Refusal> {
    let staff = matches!(mode, EntryMode::Interviewer | EntryMode::Paper);
    match state {
        VisitState::Open => Ok(false),
        VisitState::Late => Ok(true),
        VisitState::Missed | VisitState::Upcoming if staff && has_reason => Ok(true),
        VisitState::Missed if staff => Err(Refusal::NeedsReason),
        _ => Err(Refusal::Closed),
    }
}

/// What the completion date of an entry must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateRule {
    /// Only a paper form has a date the participant filled it in.
    OnlyPaper,
    /// A paper form must say the day it was filled in.
    PaperNeedsDate,
}

/// A paper entry carries the day the participant filled it in; no other entry does.
pub fn completion_date(mode: EntryMode, has_date: bool) -> Result<(), DateRule> {
    match (mode == EntryMode::Paper, has_date) {
        (true, true) | (false, false) => Ok(()),
        (false, true) => Err(DateRule::OnlyPaper),
        (true, false) => Err(DateRule::PaperNeedsDate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // (state, mode, reason given) -> accepted as late?, or why not
        let cases = [
            (Open, SelfReport, false, Ok(false)),
            (Open, Paper, false, Ok(false)),
            (Late, SelfReport, false, Ok(true)),
            (Late, Interviewer, false, Ok(true)),
            (Missed, SelfReport, true, closed),
            (Missed, Interviewer, false, Err(Refusal::NeedsReason)),
            (Missed, Paper, true, Ok(true)),
            (Upcoming, SelfReport, false, closed),
            (Upcoming, Paper, false, closed),
            (Upcoming, Paper, true, Ok(true)),
            (Completed, Interviewer, true, closed),
            (NotApplicable, Paper, true, closed),
        ];
        for (state, mode, reason, want) in cases {
            assert_eq!(
                accepts(state, mode, reason),
                want,
                "{state:?} {mode:?} reason {reason}"
            );
        }
    }

    #[test]
    fn only_paper_has_a_completion_date_and_paper_always_has_one() {
        use EntryMode::*;
        let cases = [
            (Paper, true, Ok(())),
            (Paper, false, Err(DateRule::PaperNeedsDate)),
            (Interviewer, true, Err(DateRule::OnlyPaper)),
            (SelfReport, false, Ok(())),
        ];
        for (mode, date, want) in cases {
            assert_eq!(completion_date(mode, date), want, "{mode:?} {date}");
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

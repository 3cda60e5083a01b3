//! Why an input is refused, as a typed value (the variant is the code, as kanidm's errors): the
//! API writes it in English after the field's name (`Display`); pages write it from the text
//! catalogue in the reader's language (`invalid_<key>`, `args`), dates in the local format. No
//! page ever shows the English text, and nobody matches a message by its words.

use chrono::NaiveDate;

/// One refused value. Parameters are values (dates, numbers, an example), never prose, except
/// the English details of `NotAnEmail`/`NotAPhone` (the API's explanation) and `Operator` (a
/// configuration, command-line or protocol parameter no page can send).
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The field must be filled in.
    Required,
    /// A reason (for the audit trail) must be given.
    ReasonRequired,
    /// "Other" was chosen: say what the other reason is.
    OtherReasonText,
    TooLong {
        max: usize,
    },
    NotADate {
        given: String,
    },
    NotANumber,
    OutOfRange {
        min: f64,
        max: f64,
    },
    InTheFuture {
        date: NaiveDate,
        today: NaiveDate,
    },
    BeforeEnrolment {
        date: NaiveDate,
        enrolled_on: NaiveDate,
    },
    BeforeStudyStart {
        date: NaiveDate,
        start: NaiveDate,
    },
    BeforeRandomization {
        date: NaiveDate,
        randomized_on: NaiveDate,
    },
    /// An SSE before any randomization.
    NotRandomized,
    /// Participation ended (withdrawal, death) on `date`: no further events.
    ParticipationEnded {
        kind: String,
        date: NaiveDate,
    },
    /// An event of this kind exists already (correct it instead).
    AlreadyRecorded {
        kind: String,
    },
    /// A correction must change something.
    NothingToCorrect,
    /// Only an SSE takes an SSE type and a lesion.
    OnlySse,
    /// A value outside its list (`allowed`: the codes, for the API).
    NotOneOf {
        given: String,
        allowed: Vec<String>,
    },
    NotAStudyLanguage {
        given: String,
        languages: Vec<String>,
    },
    UnknownSite {
        given: String,
    },
    NotYourSite {
        site: String,
    },
    /// The study id does not follow the study's pattern; `example` is this site's first id.
    StudyIdPattern {
        given: String,
        pattern: String,
        example: String,
    },
    NotAnEmail(String),
    NotAPhone(String),
    /// Reminders by SMS need a mobile number.
    NeedsMobile,
    /// A fixed line cannot receive an SMS.
    FixedLine,
    /// Reminders by email and SMS need an email address.
    NeedsEmail,
    /// This server has no SMS gateway.
    NoSmsGateway,
    /// The study records no arms.
    NoArms,
    /// An arm is given only with a randomization.
    ArmWithoutRandomization,
    /// A lesion location outside the study's vocabulary.
    UnknownLocation {
        given: String,
    },
    /// A sided location needs left or right.
    SideNeeded,
    /// This location has no side.
    NoSide,
    HighRiskReasonNeeded,
    /// The plain-language label is needed in `language` (the participant's).
    LabelNeeded {
        language: String,
    },
    PasswordTooShort {
        min: usize,
    },
    PasswordTooLong {
        max: usize,
    },
    PasswordUnchanged,
    WrongCurrentPassword,
    /// A PIN is 4 to 8 digits.
    PinFormat,
    /// A step that undoes something (a PIN reset) must be confirmed.
    ConfirmNeeded,
    /// A questionnaire not due at the visit.
    NotDueAtVisit {
        questionnaire: String,
        visit: String,
    },
    /// A form dated outside the visit's window and grace period, without a reason.
    OutsideWindow {
        date: NaiveDate,
        visit: String,
    },
    /// The form is outside the visit's window and grace period.
    FormOutsideWindow {
        visit: String,
    },
    OnlyPaperHasDate,
    PaperNeedsDate,
    NoAnswers,
    /// A configuration, command-line or protocol parameter (headers, query parameters) that no
    /// page sends: English for the operator or the client's developer.
    Operator(String),
}

fn quoted_list(xs: &[String]) -> String {
    xs.join(", ")
}

impl std::fmt::Display for Problem {
    /// The English text of the API's `message` (after `field: `).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use Problem::*;
        match self {
            Required => f.write_str("required"),
            ReasonRequired => f.write_str("a reason is required"),
            OtherReasonText => f.write_str("say what the other reason is"),
            TooLong { max } => write!(f, "at most {max} characters"),
            NotADate { given } => write!(f, "{given:?} is not a date as YYYY-MM-DD"),
            NotANumber => f.write_str("give a number"),
            OutOfRange { min, max } => write!(f, "must be between {min} and {max}"),
            InTheFuture { date, today } => {
                write!(f, "{date} is in the future (today is {today})")
            }
            BeforeEnrolment { date, enrolled_on } => {
                write!(f, "{date} is before enrolment on {enrolled_on}")
            }
            BeforeStudyStart { date, start } => {
                write!(f, "{date} is before the study started ({start})")
            }
            BeforeRandomization {
                date,
                randomized_on,
            } => write!(f, "{date} is before randomization on {randomized_on}"),
            NotRandomized => f.write_str("an SSE can only be recorded after randomization"),
            ParticipationEnded { kind, date } => write!(
                f,
                "the participant's participation ended ({kind} on {date}); no further events"
            ),
            AlreadyRecorded { kind } => {
                write!(f, "a {kind} event is already recorded; correct it instead")
            }
            NothingToCorrect => {
                f.write_str("give a corrected date or arm, or entered_in_error: true")
            }
            OnlySse => f.write_str("only an SSE takes sse_type and lesion"),
            NotOneOf { given, allowed } if allowed.is_empty() => {
                write!(f, "{given:?}: this study has no such list")
            }
            NotOneOf { given, allowed } => {
                write!(f, "{given:?} is not one of {}", quoted_list(allowed))
            }
            NotAStudyLanguage { given, languages } => write!(
                f,
                "{given:?} is not a study language ({})",
                quoted_list(languages)
            ),
            UnknownSite { given } => write!(f, "unknown site {given:?}"),
            NotYourSite { site } => write!(f, "you do not work at site {site}"),
            StudyIdPattern {
                given,
                pattern,
                example,
            } => write!(f, "{given:?} does not match {pattern:?} (e.g. {example})"),
            NotAnEmail(why) | NotAPhone(why) => f.write_str(why),
            NeedsMobile => f.write_str("reminders by SMS need a mobile phone number"),
            FixedLine => f.write_str("is a fixed line, which cannot receive an SMS"),
            NeedsEmail => f.write_str("reminders by email and SMS need an email address"),
            NoSmsGateway => {
                f.write_str("this server sends no SMS (EPRO_SMS_GATEWAY_URL is not set)")
            }
            NoArms => f.write_str("this study records no arms"),
            ArmWithoutRandomization => f.write_str("an arm is given only with a randomization"),
            UnknownLocation { given } => write!(
                f,
                "{given:?} is not in the vocabulary (GET /api/v1/lesion-locations)"
            ),
            SideNeeded => f.write_str("this location needs a side: left or right"),
            NoSide => f.write_str("this location has no side"),
            HighRiskReasonNeeded => f.write_str("at least one high-risk reason is required"),
            LabelNeeded { language } => write!(
                f,
                "a plain-language label is required in the participant's language ({language})"
            ),
            PasswordTooShort { min } => {
                write!(f, "password must have at least {min} characters")
            }
            PasswordTooLong { max } => write!(f, "password must have at most {max} characters"),
            PasswordUnchanged => f.write_str("must differ from the current password"),
            WrongCurrentPassword => f.write_str("is not your current password"),
            PinFormat => f.write_str("a PIN is 4 to 8 digits"),
            ConfirmNeeded => f.write_str("confirm first (confirm=1)"),
            NotDueAtVisit {
                questionnaire,
                visit,
            } => write!(f, "{questionnaire:?} is not due at visit {visit}"),
            OutsideWindow { date, visit } => write!(
                f,
                "{date} is outside visit {visit}'s window and grace period; give a reason \
                 (entry_reason) to enter it anyway (it is flagged outside_window)"
            ),
            FormOutsideWindow { visit } => write!(
                f,
                "the form is outside visit {visit}'s window and grace period"
            ),
            OnlyPaperHasDate => f.write_str("only paper questionnaires have a completion date"),
            PaperNeedsDate => f.write_str(
                "the date the participant filled in the paper questionnaire is required",
            ),
            NoAnswers => f.write_str("give the answers to amend"),
            Operator(text) => f.write_str(text),
        }
    }
}

/// A problem's words on a page: a catalogue key (`invalid_<key>`) and its placeholders. Dates
/// come back as dates, for the page to write in its language.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(String),
    Number(f64),
    Date(NaiveDate),
    /// A language code, for the page to name in its language.
    Language(String),
}

impl Problem {
    /// The catalogue key (after `invalid_`) and the placeholders of this problem's page text.
    pub fn page_text(&self) -> (&'static str, Vec<(&'static str, Arg)>) {
        use Arg::*;
        use Problem::*;
        match self {
            Required => ("required", vec![]),
            ReasonRequired => ("reason", vec![]),
            OtherReasonText => ("other_text", vec![]),
            TooLong { max } => ("too_long", vec![("max", Number(*max as f64))]),
            NotADate { .. } => ("not_a_date", vec![]),
            NotANumber => ("not_a_number", vec![]),
            OutOfRange { min, max } => (
                "out_of_range",
                vec![("min", Number(*min)), ("max", Number(*max))],
            ),
            InTheFuture { date, today } => (
                "in_the_future",
                vec![("date", Date(*date)), ("today", Date(*today))],
            ),
            BeforeEnrolment { date, enrolled_on } => (
                "before_enrolment",
                vec![("date", Date(*date)), ("enrolled_on", Date(*enrolled_on))],
            ),
            BeforeStudyStart { date, start } => (
                "before_study_start",
                vec![("date", Date(*date)), ("start", Date(*start))],
            ),
            BeforeRandomization {
                date,
                randomized_on,
            } => (
                "before_randomization",
                vec![
                    ("date", Date(*date)),
                    ("randomized_on", Date(*randomized_on)),
                ],
            ),
            NotRandomized => ("not_randomized", vec![]),
            ParticipationEnded { date, .. } => ("participation_ended", vec![("date", Date(*date))]),
            AlreadyRecorded { .. } => ("already_recorded", vec![]),
            NothingToCorrect => ("nothing_to_correct", vec![]),
            OnlySse => ("only_sse", vec![]),
            NotOneOf { .. } => ("not_one_of", vec![]),
            NotAStudyLanguage { .. } => ("not_a_study_language", vec![]),
            UnknownSite { .. } => ("unknown_site", vec![]),
            NotYourSite { site } => ("not_your_site", vec![("site", Text(site.clone()))]),
            StudyIdPattern { example, .. } => {
                ("study_id_pattern", vec![("example", Text(example.clone()))])
            }
            NotAnEmail(_) => ("not_an_email", vec![]),
            NotAPhone(_) => ("not_a_phone", vec![]),
            NeedsMobile => ("needs_mobile", vec![]),
            FixedLine => ("fixed_line", vec![]),
            NeedsEmail => ("needs_email", vec![]),
            NoSmsGateway => ("no_sms_gateway", vec![]),
            NoArms => ("no_arms", vec![]),
            ArmWithoutRandomization => ("arm_without_randomization", vec![]),
            UnknownLocation { .. } => ("unknown_location", vec![]),
            SideNeeded => ("side_needed", vec![]),
            NoSide => ("no_side", vec![]),
            HighRiskReasonNeeded => ("high_risk_reason_needed", vec![]),
            LabelNeeded { language } => (
                "label_needed",
                vec![("language", Language(language.clone()))],
            ),
            PasswordTooShort { min } => ("password_too_short", vec![("min", Number(*min as f64))]),
            PasswordTooLong { max } => ("password_too_long", vec![("max", Number(*max as f64))]),
            PasswordUnchanged => ("password_unchanged", vec![]),
            WrongCurrentPassword => ("wrong_current_password", vec![]),
            PinFormat => ("pin_format", vec![]),
            ConfirmNeeded => ("confirm_needed", vec![]),
            NotDueAtVisit { .. } => ("not_due_at_visit", vec![]),
            OutsideWindow { date, .. } => ("outside_window", vec![("date", Date(*date))]),
            FormOutsideWindow { .. } => ("form_outside_window", vec![]),
            OnlyPaperHasDate => ("only_paper_has_date", vec![]),
            PaperNeedsDate => ("paper_needs_date", vec![]),
            NoAnswers => ("no_answers", vec![]),
            Operator(_) => ("other", vec![]),
        }
    }
}

/// One problem of each kind (tests: every kind has its page text in every language). The match
/// makes a new variant fail to compile here until it is listed.
#[cfg(test)]
pub fn one_of_each() -> Vec<Problem> {
    use Problem::*;
    let day = NaiveDate::MIN;
    let all = vec![
        Required,
        ReasonRequired,
        OtherReasonText,
        TooLong { max: 1 },
        NotADate { given: "x".into() },
        NotANumber,
        OutOfRange { min: 0.0, max: 1.0 },
        InTheFuture {
            date: day,
            today: day,
        },
        BeforeEnrolment {
            date: day,
            enrolled_on: day,
        },
        BeforeStudyStart {
            date: day,
            start: day,
        },
        BeforeRandomization {
            date: day,
            randomized_on: day,
        },
        NotRandomized,
        ParticipationEnded {
            kind: "death".into(),
            date: day,
        },
        AlreadyRecorded { kind: "sse".into() },
        NothingToCorrect,
        OnlySse,
        NotOneOf {
            given: "x".into(),
            allowed: vec![],
        },
        NotAStudyLanguage {
            given: "x".into(),
            languages: vec![],
        },
        UnknownSite { given: "x".into() },
        NotYourSite { site: "x".into() },
        StudyIdPattern {
            given: "x".into(),
            pattern: "p".into(),
            example: "e".into(),
        },
        NotAnEmail("x".into()),
        NotAPhone("x".into()),
        NeedsMobile,
        FixedLine,
        NeedsEmail,
        NoSmsGateway,
        NoArms,
        ArmWithoutRandomization,
        UnknownLocation { given: "x".into() },
        SideNeeded,
        NoSide,
        HighRiskReasonNeeded,
        LabelNeeded {
            language: "fr".into(),
        },
        PasswordTooShort { min: 1 },
        PasswordTooLong { max: 1 },
        PasswordUnchanged,
        WrongCurrentPassword,
        PinFormat,
        ConfirmNeeded,
        NotDueAtVisit {
            questionnaire: "q".into(),
            visit: "v".into(),
        },
        OutsideWindow {
            date: day,
            visit: "v".into(),
        },
        FormOutsideWindow { visit: "v".into() },
        OnlyPaperHasDate,
        PaperNeedsDate,
        NoAnswers,
        Operator("x".into()),
    ];
    for p in &all {
        match p {
            Required
            | ReasonRequired
            | OtherReasonText
            | TooLong { .. }
            | NotADate { .. }
            | NotANumber
            | OutOfRange { .. }
            | InTheFuture { .. }
            | BeforeEnrolment { .. }
            | BeforeStudyStart { .. }
            | BeforeRandomization { .. }
            | NotRandomized
            | ParticipationEnded { .. }
            | AlreadyRecorded { .. }
            | NothingToCorrect
            | OnlySse
            | NotOneOf { .. }
            | NotAStudyLanguage { .. }
            | UnknownSite { .. }
            | NotYourSite { .. }
            | StudyIdPattern { .. }
            | NotAnEmail(_)
            | NotAPhone(_)
            | NeedsMobile
            | FixedLine
            | NeedsEmail
            | NoSmsGateway
            | NoArms
            | ArmWithoutRandomization
            | UnknownLocation { .. }
            | SideNeeded
            | NoSide
            | HighRiskReasonNeeded
            | LabelNeeded { .. }
            | PasswordTooShort { .. }
            | PasswordTooLong { .. }
            | PasswordUnchanged
            | WrongCurrentPassword
            | PinFormat
            | ConfirmNeeded
            | NotDueAtVisit { .. }
            | OutsideWindow { .. }
            | FormOutsideWindow { .. }
            | OnlyPaperHasDate
            | PaperNeedsDate
            | NoAnswers
            | Operator(_) => {}
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn english_for_the_api_and_typed_values_for_pages() {
        let cases = [
            (
                Problem::InTheFuture {
                    date: d("2026-12-20"),
                    today: d("2026-12-07"),
                },
                "2026-12-20 is in the future (today is 2026-12-07)",
                "in_the_future",
                vec![
                    ("date", Arg::Date(d("2026-12-20"))),
                    ("today", Arg::Date(d("2026-12-07"))),
                ],
            ),
            (
                Problem::StudyIdPattern {
                    given: "X-1".into(),
                    pattern: "HERMES-{site}-{nnn}".into(),
                    example: "HERMES-ZAS-001".into(),
                },
                "\"X-1\" does not match \"HERMES-{site}-{nnn}\" (e.g. HERMES-ZAS-001)",
                "study_id_pattern",
                vec![("example", Arg::Text("HERMES-ZAS-001".into()))],
            ),
            (
                Problem::LabelNeeded {
                    language: "fr".into(),
                },
                "a plain-language label is required in the participant's language (fr)",
                "label_needed",
                vec![("language", Arg::Language("fr".into()))],
            ),
            (
                Problem::NotAPhone("is not a phone number".into()),
                "is not a phone number",
                "not_a_phone",
                vec![],
            ),
        ];
        for (problem, english, key, args) in cases {
            assert_eq!(problem.to_string(), english);
            assert_eq!(problem.page_text(), (key, args));
        }
    }
}

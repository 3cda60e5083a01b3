//! Participants' events and the status they imply. Status is never set: it is derived from
//! randomization, SSE, PRO discontinuation, withdrawal and death events (those marked
//! entered-in-error do not count). Also the rules a new event must satisfy.

use super::problem::Problem;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::schedule::local_midnight;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Randomization,
    Sse,
    ProDiscontinued,
    Withdrawal,
    Death,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::Randomization,
        EventKind::Sse,
        EventKind::ProDiscontinued,
        EventKind::Withdrawal,
        EventKind::Death,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Randomization => "randomization",
            EventKind::Sse => "sse",
            EventKind::ProDiscontinued => "pro_discontinued",
            EventKind::Withdrawal => "withdrawal",
            EventKind::Death => "death",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// Events after which no questionnaires are asked.
    pub fn stops_questionnaires(self) -> bool {
        matches!(
            self,
            EventKind::ProDiscontinued | EventKind::Withdrawal | EventKind::Death
        )
    }
    /// Events that end everything: links revoked, contact data purged.
    pub fn ends_participation(self) -> bool {
        matches!(self, EventKind::Withdrawal | EventKind::Death)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventKind {
    type Err = super::UnknownCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| super::UnknownCode {
            what: "EventKind",
            value: s.to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub kind: EventKind,
    pub date: NaiveDate,
    pub recorded_at: DateTime<Utc>,
    pub entered_in_error: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Enrolled,
    Randomized,
    PostSse,
    Completed,
    ProDiscontinued,
    Withdrawn,
    Deceased,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Enrolled,
        Status::Randomized,
        Status::PostSse,
        Status::Completed,
        Status::ProDiscontinued,
        Status::Withdrawn,
        Status::Deceased,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Enrolled => "enrolled",
            Status::Randomized => "randomized",
            Status::PostSse => "post_sse",
            Status::Completed => "completed",
            Status::ProDiscontinued => "pro_discontinued",
            Status::Withdrawn => "withdrawn",
            Status::Deceased => "deceased",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

fn valid(events: &[Event]) -> impl Iterator<Item = &Event> {
    events.iter().filter(|e| !e.entered_in_error)
}

pub fn find(events: &[Event], kind: EventKind) -> Option<&Event> {
    valid(events)
        .filter(|e| e.kind == kind)
        .min_by_key(|e| (e.date, e.recorded_at))
}

pub fn randomized_on(events: &[Event]) -> Option<NaiveDate> {
    find(events, EventKind::Randomization).map(|e| e.date)
}

/// The status: deceased and withdrawn end everything; PRO discontinuation stops questionnaires;
/// follow-up over (the last visit's grace passed) completes; an SSE leaves survival follow-up.
pub fn status(events: &[Event], follow_up_over: bool) -> Status {
    if find(events, EventKind::Death).is_some() {
        Status::Deceased
    } else if find(events, EventKind::Withdrawal).is_some() {
        Status::Withdrawn
    } else if find(events, EventKind::ProDiscontinued).is_some() {
        Status::ProDiscontinued
    } else if follow_up_over {
        Status::Completed
    } else if find(events, EventKind::Sse).is_some() {
        Status::PostSse
    } else if randomized_on(events).is_some() {
        Status::Randomized
    } else {
        Status::Enrolled
    }
}

/// From when no questionnaires are asked: the start (local midnight) of the earliest
/// withdrawal, death or PRO-discontinuation date.
pub fn questionnaires_end(events: &[Event], tz: Tz) -> Option<DateTime<Utc>> {
    valid(events)
        .filter(|e| e.kind.stops_questionnaires())
        .map(|e| local_midnight(tz, e.date))
        .min()
}

/// Why a new event cannot be recorded: (field, message).
pub fn check_new(
    kind: EventKind,
    date: NaiveDate,
    events: &[Event],
    enrolled_on: NaiveDate,
    today: NaiveDate,
) -> Result<(), (&'static str, Problem)> {
    if date > today {
        return Err(("date", Problem::InTheFuture { date, today }));
    }
    if let Some(end) = valid(events).find(|e| e.kind.ends_participation()) {
        return Err((
            "type",
            Problem::ParticipationEnded {
                kind: end.kind.as_str().into(),
                date: end.date,
            },
        ));
    }
    if kind != EventKind::Sse && find(events, kind).is_some() {
        return Err((
            "type",
            Problem::AlreadyRecorded {
                kind: kind.as_str().into(),
            },
        ));
    }
    match kind {
        EventKind::Sse => match randomized_on(events) {
            None => Err(("date", Problem::NotRandomized)),
            Some(r) if date < r => Err((
                "date",
                Problem::BeforeRandomization {
                    date,
                    randomized_on: r,
                },
            )),
            _ => Ok(()),
        },
        _ if date < enrolled_on => Err(("date", Problem::BeforeEnrolment { date, enrolled_on })),
        _ => Ok(()),
    }
}

/// Why an enrolment date cannot be taken: (field, message). A participant may be registered in
/// epro after being enrolled (go-live, or a site entering late): the enrolment day is never in
/// the future nor before the study started, and randomization is never before enrolment.
pub fn check_enrolment(
    enrolled_on: NaiveDate,
    randomized_on: Option<NaiveDate>,
    today: NaiveDate,
    study_start: Option<NaiveDate>,
) -> Result<(), (&'static str, Problem)> {
    if enrolled_on > today {
        return Err((
            "enrolled_on",
            Problem::InTheFuture {
                date: enrolled_on,
                today,
            },
        ));
    }
    if let Some(start) = study_start
        && enrolled_on < start
    {
        return Err((
            "enrolled_on",
            Problem::BeforeStudyStart {
                date: enrolled_on,
                start,
            },
        ));
    }
    match randomized_on {
        Some(r) if r > today => Err((
            "randomization_date",
            Problem::InTheFuture { date: r, today },
        )),
        Some(r) if r < enrolled_on => Err((
            "randomization_date",
            Problem::BeforeEnrolment {
                date: r,
                enrolled_on,
            },
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrolment_may_be_in_the_past_but_not_before_the_study_or_after_today() {
        let start = Some(d("2025-02-05"));
        let today = d("2026-12-02");
        let cases: [(&str, Option<&str>, Option<&str>); 7] = [
            ("2026-12-02", None, None),
            ("2026-12-02", Some("2026-12-02"), None),
            // Go-live: enrolled and randomized a year ago.
            ("2025-11-20", Some("2025-11-24"), None),
            ("2025-02-05", Some("2025-02-05"), None),
            ("2025-02-04", None, Some("enrolled_on")),
            ("2026-12-03", None, Some("enrolled_on")),
            ("2026-01-10", Some("2026-01-09"), Some("randomization_date")),
        ];
        for (enrolled, randomized, refused) in cases {
            let r = check_enrolment(d(enrolled), randomized.map(d), today, start);
            assert_eq!(
                r.as_ref().err().map(|(f, _)| *f),
                refused,
                "{enrolled} {randomized:?}: {r:?}"
            );
        }
        assert!(
            check_enrolment(
                d("2026-12-03"),
                Some(d("2026-12-04")),
                d("2026-12-04"),
                start
            )
            .is_ok()
        );
        assert!(check_enrolment(d("2020-01-01"), None, today, None).is_ok());
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }
    fn ev(kind: EventKind, date: &str) -> Event {
        Event {
            id: format!("{}-{date}", kind.as_str()),
            kind,
            date: d(date),
            recorded_at: DateTime::parse_from_rfc3339(&format!("{date}T12:00:00Z"))
                .expect("t")
                .with_timezone(&Utc),
            entered_in_error: false,
        }
    }

    #[test]
    fn status_is_derived_from_events() {
        use EventKind::*;
        let cases: Vec<(Vec<Event>, bool, Status)> = vec![
            (vec![], false, Status::Enrolled),
            (
                vec![ev(Randomization, "2026-01-10")],
                false,
                Status::Randomized,
            ),
            (
                vec![ev(Randomization, "2026-01-10"), ev(Sse, "2026-05-01")],
                false,
                Status::PostSse,
            ),
            (
                vec![ev(Randomization, "2026-01-10"), ev(Sse, "2026-05-01")],
                true,
                Status::Completed,
            ),
            (
                vec![
                    ev(Randomization, "2026-01-10"),
                    ev(ProDiscontinued, "2026-03-01"),
                ],
                false,
                Status::ProDiscontinued,
            ),
            (
                vec![
                    ev(Randomization, "2026-01-10"),
                    ev(Withdrawal, "2026-03-01"),
                ],
                false,
                Status::Withdrawn,
            ),
            (
                vec![ev(Randomization, "2026-01-10"), ev(Death, "2026-03-01")],
                true,
                Status::Deceased,
            ),
        ];
        for (events, over, expected) in cases {
            assert_eq!(status(&events, over), expected, "{events:?}");
        }
        let mut erroneous = ev(Withdrawal, "2026-03-01");
        erroneous.entered_in_error = true;
        assert_eq!(
            status(&[ev(Randomization, "2026-01-10"), erroneous], false),
            Status::Randomized
        );
    }

    #[test]
    fn new_event_rules() {
        use EventKind::*;
        let enrolled = d("2026-01-05");
        let today = d("2026-06-01");
        let randomized = vec![ev(Randomization, "2026-01-10")];
        let cases: Vec<(EventKind, &str, Vec<Event>, Option<&str>)> = vec![
            (Randomization, "2026-01-10", vec![], None),
            (
                Randomization,
                "2026-01-01",
                vec![],
                Some("before enrolment"),
            ),
            (
                Randomization,
                "2026-02-01",
                randomized.clone(),
                Some("already recorded"),
            ),
            (Sse, "2026-05-01", vec![], Some("after randomization")),
            (
                Sse,
                "2026-01-08",
                randomized.clone(),
                Some("before randomization"),
            ),
            (Sse, "2026-07-01", randomized.clone(), Some("in the future")),
            (Sse, "2026-05-01", randomized.clone(), None),
            (Withdrawal, "2026-05-01", randomized.clone(), None),
            (
                Sse,
                "2026-05-10",
                vec![
                    ev(Randomization, "2026-01-10"),
                    ev(Withdrawal, "2026-05-01"),
                ],
                Some("participation ended"),
            ),
        ];
        for (kind, date, events, problem) in cases {
            let result = check_new(kind, d(date), &events, enrolled, today);
            match problem {
                None => assert!(result.is_ok(), "{kind:?} {date}: {result:?}"),
                Some(p) => assert!(
                    result
                        .as_ref()
                        .is_err_and(|(_, m)| m.to_string().contains(p)),
                    "{kind:?} {date}: {result:?}"
                ),
            }
        }
    }
}

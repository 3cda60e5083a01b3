//! FHIR search-parameter parsing (pure: no I/O, no clock): date prefixes, canonicals with and
//! without `|version`, `_count`, `_sort`, and the opaque keyset cursor of `next` links. A value
//! that does not parse is an error naming the parameter (the handler answers 400).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

/// Page size when `_count` is absent, and the cap on `_count` (larger values are lowered).
pub const DEFAULT_COUNT: u64 = 50;
pub const MAX_COUNT: u64 = 200;

/// A refused parameter value: which parameter and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadParam {
    pub param: String,
    pub problem: String,
}

impl std::fmt::Display for BadParam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "search parameter {}: {}", self.param, self.problem)
    }
}

fn bad(param: &str, problem: impl Into<String>) -> BadParam {
    BadParam {
        param: param.to_string(),
        problem: problem.into(),
    }
}

/// Bounds on an instant from one date parameter: lower bounds (instant, inclusive) and upper
/// bounds (instant, inclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bounds {
    pub after: Vec<(DateTime<Utc>, bool)>,
    pub before: Vec<(DateTime<Utc>, bool)>,
}

/// Parse one date search value (`ge2026-03-01`, `lt2026-03-01T10:00:00+01:00`, `2026-03`…) into
/// bounds, adding them to `into`. A value without an offset is read in the study's time zone
/// `tz`; its precision makes a range (a day is [00:00, next 00:00)), as FHIR's date search says.
pub fn date(param: &str, value: &str, tz: Tz, into: &mut Bounds) -> Result<(), BadParam> {
    let (prefix, rest) = match value.get(..2) {
        Some(p @ ("eq" | "ne" | "gt" | "lt" | "ge" | "le" | "sa" | "eb" | "ap")) => {
            (p, &value[2..])
        }
        _ => ("eq", value),
    };
    let (start, end) = range(rest, tz).ok_or_else(|| {
        bad(
            param,
            format!("{value:?} is not a FHIR date or dateTime (e.g. 2026-03-01 or 2026-03-01T10:00:00+01:00)"),
        )
    })?;
    match prefix {
        "eq" => {
            into.after.push((start, true));
            into.before.push((end, false));
        }
        "ge" => into.after.push((start, true)),
        "gt" => into.after.push((end, true)),
        "le" => into.before.push((end, false)),
        "lt" => into.before.push((start, false)),
        other => {
            return Err(bad(
                param,
                format!("prefix {other:?} is not supported (eq, ge, gt, le, lt are)"),
            ));
        }
    }
    Ok(())
}

/// The instants a date value covers: [start, end).
fn range(v: &str, tz: Tz) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let local = |n: NaiveDateTime| {
        tz.from_local_datetime(&n)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    let day = |d: NaiveDate| d.and_hms_opt(0, 0, 0).and_then(local);
    if let Ok(at) = DateTime::parse_from_rfc3339(v) {
        let at = at.with_timezone(&Utc);
        return Some((at, at + Duration::seconds(1)));
    }
    if v.contains('T') {
        // A dateTime without an offset: the study's local time.
        for (fmt, step) in [
            ("%Y-%m-%dT%H:%M:%S", Duration::seconds(1)),
            ("%Y-%m-%dT%H:%M", Duration::minutes(1)),
        ] {
            if let Ok(n) = NaiveDateTime::parse_from_str(v, fmt) {
                let at = local(n)?;
                return Some((at, at + step));
            }
        }
        return None;
    }
    let parts: Vec<&str> = v.split('-').collect();
    match parts.as_slice() {
        [y] if y.len() == 4 => {
            let y: i32 = y.parse().ok()?;
            Some((
                day(NaiveDate::from_ymd_opt(y, 1, 1)?)?,
                day(NaiveDate::from_ymd_opt(y + 1, 1, 1)?)?,
            ))
        }
        [y, m] if y.len() == 4 && m.len() == 2 => {
            let first = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)?;
            let next = first.checked_add_months(chrono::Months::new(1))?;
            Some((day(first)?, day(next)?))
        }
        [_, _, _] => {
            let d = NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
            Some((day(d)?, day(d.succ_opt()?)?))
        }
        _ => None,
    }
}

/// A canonical search value: `url`, `url|version`; a `#fragment` on the url is ignored.
pub fn canonical(value: &str) -> (String, Option<String>) {
    let (url, version) = match value.split_once('|') {
        Some((u, v)) if !v.is_empty() => (u, Some(v.to_string())),
        Some((u, _)) => (u, None),
        None => (value, None),
    };
    let url = url.split('#').next().unwrap_or_default();
    (url.to_string(), version)
}

/// `_count`: a non-negative integer, capped at MAX_COUNT.
pub fn count(value: &str) -> Result<u64, BadParam> {
    value
        .parse::<u64>()
        .map(|n| n.min(MAX_COUNT))
        .map_err(|_| bad("_count", format!("{value:?} is not a non-negative integer")))
}

/// `_sort`: `authored` (oldest first) or `-authored`; returns whether descending.
pub fn sort(value: &str) -> Result<bool, BadParam> {
    match value {
        "authored" => Ok(false),
        "-authored" => Ok(true),
        other => Err(bad(
            "_sort",
            format!("{other:?} is not supported (authored and -authored are)"),
        )),
    }
}

/// The opaque keyset cursor of a `next` link: the last row's submission instant and id.
pub fn cursor_text(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", at.timestamp_micros()))
}

pub fn cursor(value: &str) -> Result<(DateTime<Utc>, Uuid), BadParam> {
    key(&cursor_plain(value)?)
}

fn broken_cursor() -> BadParam {
    bad(
        "_cursor",
        "not a cursor this server gave out; follow the next link as given",
    )
}

fn cursor_plain(value: &str) -> Result<String, BadParam> {
    let text = URL_SAFE_NO_PAD.decode(value).map_err(|_| broken_cursor())?;
    String::from_utf8(text).map_err(|_| broken_cursor())
}

/// `<micros>|<id>` to the instant and id.
fn key(text: &str) -> Result<(DateTime<Utc>, Uuid), BadParam> {
    let (micros, id) = text.split_once('|').ok_or_else(broken_cursor)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(broken_cursor)?;
    Ok((at, id.parse().map_err(|_| broken_cursor())?))
}

/// The cursor of an Observation page: the response the next page starts in (its submission
/// instant and id) and how many of its Observations the earlier pages already gave.
pub fn position_text(at: DateTime<Utc>, id: Uuid, given: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}|{given}", at.timestamp_micros()))
}

pub fn position(value: &str) -> Result<(DateTime<Utc>, Uuid, usize), BadParam> {
    let text = cursor_plain(value)?;
    let (rest, given) = text.rsplit_once('|').ok_or_else(broken_cursor)?;
    let (at, id) = key(rest)?;
    Ok((at, id, given.parse().map_err(|_| broken_cursor())?))
}

/// A reference search value (`Patient/<id>` or `<id>`) to the id, when it names a resource of
/// `kind`.
pub fn reference(param: &str, value: &str, kind: &str) -> Result<Uuid, BadParam> {
    let id = value
        .strip_prefix(&format!("{kind}/"))
        .or_else(|| value.rsplit_once(&format!("/{kind}/")).map(|(_, id)| id))
        .unwrap_or(value);
    id.parse().map_err(|_| {
        bad(
            param,
            format!("{value:?} is not a {kind} reference of this server"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn date_prefixes_read_local_values_in_the_study_time_zone() {
        let tz: Tz = "Europe/Brussels".parse().expect("tz");
        let cases: &[(&str, Bounds)] = &[
            (
                "2026-03-01",
                Bounds {
                    after: vec![(utc("2026-02-28T23:00:00Z"), true)],
                    before: vec![(utc("2026-03-01T23:00:00Z"), false)],
                },
            ),
            (
                // Summer time: Brussels is UTC+2 in July.
                "ge2026-07-01",
                Bounds {
                    after: vec![(utc("2026-06-30T22:00:00Z"), true)],
                    before: vec![],
                },
            ),
            (
                "gt2026-03-01",
                Bounds {
                    after: vec![(utc("2026-03-01T23:00:00Z"), true)],
                    before: vec![],
                },
            ),
            (
                "lt2026-03",
                Bounds {
                    after: vec![],
                    before: vec![(utc("2026-02-28T23:00:00Z"), false)],
                },
            ),
            (
                "le2026",
                Bounds {
                    after: vec![],
                    before: vec![(utc("2026-12-31T23:00:00Z"), false)],
                },
            ),
            (
                "ge2026-03-01T10:00:00+00:00",
                Bounds {
                    after: vec![(utc("2026-03-01T10:00:00Z"), true)],
                    before: vec![],
                },
            ),
            (
                "lt2026-03-01T10:00",
                Bounds {
                    after: vec![],
                    before: vec![(utc("2026-03-01T09:00:00Z"), false)],
                },
            ),
        ];
        for (value, want) in cases {
            let mut got = Bounds::default();
            date("authored", value, tz, &mut got).expect(value);
            assert_eq!(&got, want, "{value}");
        }
        for value in [
            "2026-13-01",
            "yesterday",
            "ne2026-03-01",
            "2026-03-01T25:00",
        ] {
            let err = date("authored", value, tz, &mut Bounds::default()).expect_err(value);
            assert_eq!(err.param, "authored");
        }
    }

    #[test]
    fn canonicals_keep_the_version_apart() {
        let url = "https://epro.example/fhir/Questionnaire/eortc-qlq-c30";
        assert_eq!(canonical(url), (url.to_string(), None));
        assert_eq!(
            canonical(&format!("{url}|3.0")),
            (url.to_string(), Some("3.0".to_string()))
        );
        assert_eq!(
            canonical(&format!("{url}#part|3.0")),
            (url.to_string(), Some("3.0".to_string()))
        );
    }

    #[test]
    fn count_is_capped_and_cursors_round_trip() {
        assert_eq!(count("10"), Ok(10));
        assert_eq!(count("100000"), Ok(MAX_COUNT));
        assert!(count("-1").is_err());
        let at = utc("2026-03-01T10:00:00.123456Z");
        let id = Uuid::new_v4();
        assert_eq!(cursor(&cursor_text(at, id)), Ok((at, id)));
        assert_eq!(position(&position_text(at, id, 3)), Ok((at, id, 3)));
        assert!(position(&cursor_text(at, id)).is_err());
        assert!(cursor(&position_text(at, id, 3)).is_err());
        assert_eq!(
            cursor("garbage!").map_err(|e| e.param),
            Err("_cursor".into())
        );
        assert!(sort("-authored").expect("sort"));
        assert!(sort("_lastUpdated").is_err());
        let p = Uuid::new_v4();
        assert_eq!(
            reference("patient", &format!("Patient/{p}"), "Patient"),
            Ok(p)
        );
        assert!(reference("patient", "Group/x", "Patient").is_err());
    }
}

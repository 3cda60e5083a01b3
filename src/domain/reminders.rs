//! Reminder planning, pure: when each planned reminder of a visit is due (anchored at the
//! window's opening or closing, moved into the sending hours of the study time zone), which of
//! them to send now (only the latest of several overdue ones; the others are skipped), and the
//! rule of at most one email per participant per day. The clock is an argument.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::{
    schedule::{Window, local_date, local_midnight},
    study::{ReminderEdge, ReminderPlan, ReminderRule},
};

/// The first instant at or after `at` inside the sending hours (study time zone).
pub fn into_sending_hours(plan: &ReminderPlan, tz: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
    let local = at.with_timezone(&tz);
    let day = local.date_naive();
    let at_time = |d: NaiveDate, t: NaiveTime| {
        tz.from_local_datetime(&d.and_time(t))
            .earliest()
            .map(|x| x.with_timezone(&Utc))
            .unwrap_or_else(|| local_midnight(tz, d))
    };
    let t = local.time();
    if t < plan.send_from {
        at_time(day, plan.send_from)
    } else if t >= plan.send_until {
        at_time(day.succ_opt().unwrap_or(day), plan.send_from)
    } else {
        at
    }
}

/// When a rule falls due for a window (inside sending hours). `None` when the window has no end
/// yet and the rule is anchored at the end.
pub fn due_at(
    plan: &ReminderPlan,
    tz: Tz,
    rule: &ReminderRule,
    window: &Window,
) -> Option<DateTime<Utc>> {
    let edge = match rule.from {
        ReminderEdge::Open => window.start,
        ReminderEdge::Close => window.end?,
    };
    Some(into_sending_hours(
        plan,
        tz,
        edge + Duration::days(i64::from(rule.days)),
    ))
}

crate::code_enum! {
    /// A reminder's life in the outbox: planned (`pending`), claimed by a worker (`sending`),
    /// then `sent`, `skipped` (superseded by a later one), `cancelled` (no longer due when it
    /// was to be sent) or `failed` (after the last attempt).
    pub enum ReminderStatus {
        Pending = "pending",
        Sending = "sending",
        Sent = "sent",
        Skipped = "skipped",
        Cancelled = "cancelled",
        Failed = "failed",
    }
}

impl ReminderStatus {
    /// Staff may send these again by hand.
    pub fn resendable(self) -> bool {
        matches!(
            self,
            ReminderStatus::Failed | ReminderStatus::Skipped | ReminderStatus::Cancelled
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send (at or after `due_at`).
    Send { kind: String, due_at: DateTime<Utc> },
    /// Overdue, but a later reminder of the same visit supersedes it.
    Skip { kind: String, due_at: DateTime<Utc> },
}

/// The reminders of one open (or late) and incomplete visit that are due at `now`: the latest
/// overdue one is sent, earlier overdue ones are skipped — so a participant enrolled mid-window,
/// or a server down for days, gets one reminder, not a burst. Rules whose time has not come yet
/// are not planned. A rule due before the window opened (a "closing" reminder of a window shorter
/// than its lead time, such as a baseline that closes with the randomization day) or after the
/// window (and grace) ended is never planned.
pub fn due_now(
    plan: &ReminderPlan,
    tz: Tz,
    rules: &[ReminderRule],
    window: &Window,
    now: DateTime<Utc>,
) -> Vec<Decision> {
    let mut due: Vec<(DateTime<Utc>, &ReminderRule)> = rules
        .iter()
        .filter_map(|r| due_at(plan, tz, r, window).map(|d| (d, r)))
        .filter(|(d, _)| *d <= now && *d >= window.start && window.grace_end.is_none_or(|g| *d < g))
        .collect();
    due.sort_by_key(|(d, _)| *d);
    let last = due.len().saturating_sub(1);
    due.into_iter()
        .enumerate()
        .map(|(i, (due_at, r))| {
            let kind = r.kind.clone();
            if i == last {
                Decision::Send { kind, due_at }
            } else {
                Decision::Skip { kind, due_at }
            }
        })
        .collect()
}

/// At most one email per participant per day: if one was already sent on the local day of `now`,
/// the next may go at the next day's opening hour.
pub fn next_slot(
    plan: &ReminderPlan,
    tz: Tz,
    now: DateTime<Utc>,
    last_sent: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    match last_sent {
        Some(sent) if local_date(tz, sent) == local_date(tz, now) => {
            let tomorrow = local_date(tz, now)
                .succ_opt()
                .unwrap_or_else(|| local_date(tz, now));
            into_sending_hours(plan, tz, local_midnight(tz, tomorrow))
        }
        _ => into_sending_hours(plan, tz, now),
    }
}

/// Retry delay after `attempts` failures: exponential from one minute, capped at six hours, with
/// up to 20 % jitter (`jitter` in [0, 1)) so retries of many rows do not arrive together.
pub fn backoff(attempts: u32, jitter: f64) -> Duration {
    let base = 60_i64
        .saturating_mul(1_i64 << attempts.min(12))
        .min(6 * 3600);
    let extra = (base as f64 * 0.2 * jitter.clamp(0.0, 1.0)) as i64;
    Duration::seconds(base + extra)
}

/// How a participant is reminded: by email, by SMS, or both (the same reminder on each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Both,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Both];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Both => "both",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn email(self) -> bool {
        matches!(self, Channel::Email | Channel::Both)
    }

    pub fn sms(self) -> bool {
        matches!(self, Channel::Sms | Channel::Both)
    }

    /// Whether a reminder on this channel reaches a participant with these details.
    pub fn reaches(self, has_email: bool, has_phone: bool) -> bool {
        (self.email() && has_email) || (self.sms() && has_phone)
    }
}

/// An SMS's delivery as the gateway reports it. It only moves forward — submitted, then
/// buffered, then delivered or failed (final) — so a repeated, late or rewritten report changes
/// nothing: the report address (whose status is Kannel's `%d`, not signed) can cause at most
/// three changes to its reminder, whoever replays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Submitted,
    Buffered,
    Delivered,
    Failed,
}

impl Delivery {
    pub const ALL: [Delivery; 4] = [
        Delivery::Submitted,
        Delivery::Buffered,
        Delivery::Delivered,
        Delivery::Failed,
    ];

    /// Kannel's DLR type (`%d`): 1 delivered, 2 failed, 4 buffered, 8 submitted to the SMSC, 16
    /// rejected by it.
    pub fn from_kannel(code: i64) -> Option<Self> {
        match code {
            1 => Some(Delivery::Delivered),
            2 | 16 => Some(Delivery::Failed),
            4 => Some(Delivery::Buffered),
            8 => Some(Delivery::Submitted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Submitted => "submitted",
            Delivery::Buffered => "buffered",
            Delivery::Delivered => "delivered",
            Delivery::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    fn stage(self) -> u8 {
        match self {
            Delivery::Submitted => 1,
            Delivery::Buffered => 2,
            Delivery::Delivered | Delivery::Failed => 3,
        }
    }

    /// Whether a report of `self` moves a reminder whose delivery is `current` forward. A final
    /// state (delivered or failed) is never left: delivered → failed is refused like any other
    /// step back or sideways.
    pub fn advances(self, current: Option<Delivery>) -> bool {
        self.stage() > current.map_or(0, Delivery::stage)
    }

    /// The states a reminder may be in for a report of `self` to change it.
    pub fn earlier(self) -> Vec<Delivery> {
        Self::ALL
            .into_iter()
            .filter(|d| self.advances(Some(*d)))
            .collect()
    }
}

/// Whether a participant can be reminded on `channel`: SMS needs a gateway and a phone that
/// takes SMS; email needs an address. Returns the field at fault and why.
pub fn check_channel(
    channel: Channel,
    has_email: bool,
    phone_takes_sms: Option<bool>,
    sms_gateway: bool,
) -> Result<(), (&'static str, super::problem::Problem)> {
    use super::problem::Problem;
    if channel.sms() {
        if !sms_gateway {
            return Err(("reminder_channel", Problem::NoSmsGateway));
        }
        match phone_takes_sms {
            None => return Err(("phone", Problem::NeedsMobile)),
            Some(false) => return Err(("phone", Problem::FixedLine)),
            Some(true) => {}
        }
    }
    if channel == Channel::Both && !has_email {
        return Err(("email", Problem::NeedsEmail));
    }
    Ok(())
}

/// The GSM 03.38 default alphabet (one septet each) and its extension table (two septets each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENDED: &str = "^{}\\[~]|€\u{c}";

/// How an SMS text travels: GSM-7 (160 septets in one message, 153 per part when split) or, with
/// any character outside it, UCS-2 (70, 67 per part). Returns (`gsm7`, septets or characters,
/// message parts).
pub fn sms_parts(text: &str) -> (bool, usize, usize) {
    let gsm7 = text
        .chars()
        .all(|c| GSM7_BASIC.contains(c) || GSM7_EXTENDED.contains(c));
    let (units, single, part) = if gsm7 {
        let septets = text
            .chars()
            .map(|c| if GSM7_EXTENDED.contains(c) { 2 } else { 1 })
            .sum();
        (septets, 160, 153)
    } else {
        (text.encode_utf16().count(), 70, 67)
    };
    let parts = if units <= single {
        1
    } else {
        units.div_ceil(part)
    };
    (gsm7, units, parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Brussels;
    use std::collections::BTreeMap;

    fn plan() -> ReminderPlan {
        ReminderPlan {
            send_from: NaiveTime::from_hms_opt(9, 0, 0).expect("t"),
            send_until: NaiveTime::from_hms_opt(19, 0, 0).expect("t"),
            digest_at: NaiveTime::from_hms_opt(8, 0, 0).expect("t"),
            default_rules: vec![
                ReminderRule {
                    kind: "window_open".into(),
                    from: ReminderEdge::Open,
                    days: 0,
                },
                ReminderRule {
                    kind: "follow_up".into(),
                    from: ReminderEdge::Open,
                    days: 3,
                },
                ReminderRule {
                    kind: "closing".into(),
                    from: ReminderEdge::Close,
                    days: -2,
                },
            ],
            per_visit: BTreeMap::new(),
        }
    }
    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("t")
            .with_timezone(&Utc)
    }
    fn window() -> Window {
        // 8–22 February 2026 (CET), grace to 1 March.
        Window {
            target: "2026-02-15".parse().expect("d"),
            start: at("2026-02-07T23:00:00Z"),
            end: Some(at("2026-02-22T23:00:00Z")),
            grace_end: Some(at("2026-03-01T23:00:00Z")),
        }
    }

    #[test]
    fn due_times_fall_in_sending_hours() {
        let p = plan();
        let times: Vec<_> = p
            .default_rules
            .iter()
            .map(|r| due_at(&p, Brussels, r, &window()).expect("due"))
            .collect();
        // Opens at local midnight → 09:00 local; +3 days → 11 Feb 09:00; close −2 days → 21 Feb 00:00 → 09:00.
        assert_eq!(
            times,
            [
                at("2026-02-08T08:00:00Z"),
                at("2026-02-11T08:00:00Z"),
                at("2026-02-21T08:00:00Z")
            ]
        );
        assert_eq!(
            into_sending_hours(&p, Brussels, at("2026-02-10T18:30:00Z")),
            at("2026-02-11T08:00:00Z"),
            "after 19:00 → next morning"
        );
        assert_eq!(
            into_sending_hours(&p, Brussels, at("2026-02-10T12:00:00Z")),
            at("2026-02-10T12:00:00Z")
        );
        // Summer time: 09:00 local is 07:00 UTC.
        assert_eq!(
            into_sending_hours(&p, Brussels, at("2026-07-01T03:00:00Z")),
            at("2026-07-01T07:00:00Z")
        );
    }

    #[test]
    fn only_the_latest_overdue_reminder_is_sent() {
        let p = plan();
        let cases = [
            ("2026-02-07T12:00:00Z", vec![]),
            ("2026-02-08T08:00:00Z", vec!["send window_open"]),
            (
                "2026-02-12T10:00:00Z",
                vec!["skip window_open", "send follow_up"],
            ),
            (
                "2026-02-25T10:00:00Z",
                vec!["skip window_open", "skip follow_up", "send closing"],
            ),
        ];
        for (now, expected) in cases {
            let got: Vec<String> = due_now(&p, Brussels, &p.default_rules, &window(), at(now))
                .into_iter()
                .map(|d| match d {
                    Decision::Send { kind, .. } => format!("send {kind}"),
                    Decision::Skip { kind, .. } => format!("skip {kind}"),
                })
                .collect();
            assert_eq!(got, expected, "{now}");
        }
        // A one-day baseline window (it closes with the randomization day): its "closing"
        // reminder would fall before it opened, so it is never planned.
        let one_day = Window {
            target: "2026-02-08".parse().expect("d"),
            start: at("2026-02-07T23:00:00Z"),
            end: Some(at("2026-02-08T23:00:00Z")),
            grace_end: Some(at("2026-02-15T23:00:00Z")),
        };
        let kinds: Vec<String> = due_now(
            &p,
            Brussels,
            &p.default_rules,
            &one_day,
            at("2026-02-08T10:00:00Z"),
        )
        .into_iter()
        .map(|d| match d {
            Decision::Send { kind, .. } | Decision::Skip { kind, .. } => kind,
        })
        .collect();
        assert_eq!(kinds, ["window_open"]);
    }

    #[test]
    fn one_email_per_day() {
        let p = plan();
        let now = at("2026-02-11T10:00:00Z");
        assert_eq!(next_slot(&p, Brussels, now, None), now);
        assert_eq!(
            next_slot(&p, Brussels, now, Some(at("2026-02-11T08:00:00Z"))),
            at("2026-02-12T08:00:00Z")
        );
        assert_eq!(
            next_slot(&p, Brussels, now, Some(at("2026-02-10T08:00:00Z"))),
            now
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0, 0.0), Duration::seconds(60));
        assert_eq!(backoff(3, 0.0), Duration::seconds(480));
        assert_eq!(backoff(30, 0.0), Duration::seconds(6 * 3600));
        assert!(backoff(3, 0.99) > backoff(3, 0.0));
    }

    #[test]
    fn sms_parts_count_gsm7_septets_and_fall_back_to_ucs2() {
        let cases = [
            ("Hallo", true, 5, 1),
            (&"a".repeat(160)[..], true, 160, 1),
            (&"a".repeat(161)[..], true, 161, 2),
            ("€uro [1]", true, 11, 1),
            ("Crème brûlée", false, 12, 1),
            ("é à ü ö ñ É Ç", true, 13, 1),
        ];
        for (text, gsm7, units, parts) in cases {
            assert_eq!(sms_parts(text), (gsm7, units, parts), "{text:?}");
        }
        assert_eq!(sms_parts(&"û".repeat(71)).2, 2);
        assert_eq!(sms_parts(&"a".repeat(306)).2, 2);
        assert_eq!(sms_parts(&"a".repeat(307)).2, 3);
    }

    #[test]
    fn a_channel_needs_what_it_sends_to() {
        use Channel::*;
        // (channel, email, phone takes sms, gateway) -> field at fault
        let cases = [
            (Email, false, None, false, None),
            (Email, true, None, false, None),
            (Sms, false, Some(true), true, None),
            (Sms, false, Some(true), false, Some("reminder_channel")),
            (Sms, true, None, true, Some("phone")),
            (Sms, true, Some(false), true, Some("phone")),
            (Both, true, Some(true), true, None),
            (Both, false, Some(true), true, Some("email")),
        ];
        for (channel, email, phone, gateway, want) in cases {
            let got = check_channel(channel, email, phone, gateway)
                .err()
                .map(|(f, _)| f);
            assert_eq!(
                got, want,
                "{channel:?} email={email} phone={phone:?} gateway={gateway}"
            );
        }
    }

    /// Delivery states only move forward; a final state is never left.
    #[test]
    fn delivery_only_moves_forward() {
        use Delivery::*;
        let cases: [(Option<Delivery>, Delivery, bool); 14] = [
            (None, Submitted, true),
            (None, Buffered, true),
            (None, Delivered, true),
            (None, Failed, true),
            (Some(Submitted), Submitted, false),
            (Some(Submitted), Buffered, true),
            (Some(Submitted), Delivered, true),
            (Some(Buffered), Submitted, false),
            (Some(Buffered), Failed, true),
            (Some(Delivered), Delivered, false),
            (Some(Delivered), Failed, false),
            (Some(Failed), Delivered, false),
            (Some(Delivered), Submitted, false),
            (Some(Failed), Buffered, false),
        ];
        for (current, report, changes) in cases {
            assert_eq!(
                report.advances(current),
                changes,
                "{current:?} then {report:?}"
            );
        }
        assert_eq!(Delivered.earlier(), [Submitted, Buffered]);
        assert!(Submitted.earlier().is_empty());
        for (code, d) in [
            (1, Delivered),
            (2, Failed),
            (16, Failed),
            (4, Buffered),
            (8, Submitted),
        ] {
            assert_eq!(Delivery::from_kannel(code), Some(d));
            assert_eq!(Delivery::parse(d.as_str()), Some(d));
        }
        assert_eq!(Delivery::from_kannel(3), None);
    }
}

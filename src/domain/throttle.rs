//! The throttling rule for guessing attacks: after `max_failures` failed attempts within
//! `window`, further attempts wait until the oldest of those failures leaves the window.
//! Staff logins are counted per account and, separately, per client address.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_failures: usize,
    pub window: Duration,
}

/// Per staff account: five wrong passwords in 15 minutes.
pub const STAFF_ACCOUNT: Policy = Policy {
    max_failures: 5,
    window: Duration::minutes(15),
};

/// Per client address: generous, so one hospital NAT with many nurses is not locked out by
/// one person's typos, yet a scripted guesser is slowed down.
pub const CLIENT_ADDRESS: Policy = Policy {
    max_failures: 50,
    window: Duration::minutes(15),
};

impl Policy {
    /// The earliest failure that still counts at `now`.
    pub fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.window
    }

    /// `failures`: the times of failures inside the window, any order. `None` = may try now;
    /// `Some(wait)` = locked for that long.
    pub fn locked_for(&self, failures: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<Duration> {
        let mut recent: Vec<_> = failures
            .iter()
            .copied()
            .filter(|t| *t > self.window_start(now) && *t <= now)
            .collect();
        if recent.len() < self.max_failures {
            return None;
        }
        recent.sort();
        // The attempt is allowed again once fewer than `max_failures` remain in the window.
        let pivot = recent[recent.len() - self.max_failures];
        let wait = pivot + self.window - now;
        (wait > Duration::zero()).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0)
            .single()
            .expect("time")
            + Duration::minutes(min)
    }

    #[test]
    fn table() {
        let p = STAFF_ACCOUNT;
        type Case = (
            &'static str,
            Vec<DateTime<Utc>>,
            DateTime<Utc>,
            Option<Duration>,
        );
        let cases: Vec<Case> = vec![
            ("no failures", vec![], t(0), None),
            ("four failures", (0..4).map(t).collect(), t(4), None),
            (
                "five failures lock",
                (0..5).map(t).collect(),
                t(5),
                Some(Duration::minutes(10)),
            ),
            (
                "lock ends when the first leaves",
                (0..5).map(t).collect(),
                t(15),
                None,
            ),
            (
                "old failures do not count",
                (0..5).map(|m| t(m - 30)).collect(),
                t(0),
                None,
            ),
        ];
        for (name, failures, now, expected) in cases {
            assert_eq!(p.locked_for(&failures, now), expected, "{name}");
        }
    }
}

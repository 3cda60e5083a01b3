//! The throttling rule for guessing attacks: after `max_failures` failed attempts within
//! `window`, further attempts wait until the oldest of those failures leaves the window. Each
//! `Limit` names what it counts (its scope) and its policy; a check counts against all of its
//! limits. The counters are chosen so that a third party cannot lock a legitimate user out
//! (docs/security.md): staff are counted per account *and source address*, PINs per link.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_failures: usize,
    pub window: Duration,
}

/// What is counted (the scope stored with each attempt) and how much is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub scope: &'static str,
    pub policy: Policy,
}

/// One staff account from one source address: five wrong passwords in 15 minutes. Someone
/// elsewhere who guesses at the account does not lock its owner out.
pub const STAFF_ACCOUNT_SOURCE: Limit = Limit {
    scope: "staff_account_source",
    policy: Policy {
        max_failures: 5,
        window: Duration::minutes(15),
    },
};

/// One staff account from all addresses: a ceiling against guessing spread over many
/// addresses, high enough that it takes a botnet to reach it.
pub const STAFF_ACCOUNT: Limit = Limit {
    scope: "staff_account",
    policy: Policy {
        max_failures: 50,
        window: Duration::hours(1),
    },
};

/// One client address, any account: generous, so one hospital NAT with many nurses is not
/// locked out by one person's typos, yet a scripted guesser is slowed down.
pub const CLIENT_ADDRESS: Limit = Limit {
    scope: "staff_address",
    policy: Policy {
        max_failures: 50,
        window: Duration::minutes(15),
    },
};

/// Guesses of the current password when changing it (a stolen session must not become a
/// password oracle).
pub const PASSWORD_CHANGE: Limit = Limit {
    scope: "password_change",
    policy: Policy {
        max_failures: 5,
        window: Duration::minutes(15),
    },
};

/// One access link: five wrong PINs in 15 minutes. Counting per link (not per participant)
/// means someone holding an old link cannot lock the participant out: a fresh link has its own
/// count.
pub const PIN_LINK: Limit = Limit {
    scope: "pin_link",
    policy: Policy {
        max_failures: 5,
        window: Duration::minutes(15),
    },
};

/// One access link over a day: at most 20 wrong PINs, so a leaked link cannot be used to try
/// the PIN space slowly (6 digits: 10^6).
pub const PIN_LINK_DAY: Limit = Limit {
    scope: "pin_link_day",
    policy: Policy {
        max_failures: 20,
        window: Duration::hours(24),
    },
};

/// The client as address throttles count it: an IPv4 address alone, an IPv6 address by its
/// network of `v6_prefix` bits (default /64). Whoever holds one IPv6 address usually holds its
/// whole /64 and can pick a fresh address in it for every attempt, so counting addresses alone
/// would give them 2⁶⁴ counters. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) counts as IPv4.
pub fn client_source(ip: std::net::IpAddr, v6_prefix: u8) -> String {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let bits = u128::from(v6);
                let prefix = u32::from(v6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                format!("{}/{prefix}", std::net::Ipv6Addr::from(bits & mask))
            }
        },
    }
}

impl Policy {
    /// The earliest failure that still counts at `now`.
    pub fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.window
    }

    /// How many more failures `failures` leave before the next attempt waits (0: it waits).
    pub fn attempts_left(&self, failures: &[DateTime<Utc>], now: DateTime<Utc>) -> usize {
        let recent = failures
            .iter()
            .filter(|t| **t > self.window_start(now))
            .count();
        self.max_failures.saturating_sub(recent)
    }

    /// `failures`: the times of failures inside the window, any order. `None` = may try now;
    /// `Some(wait)` = locked for that long. Failures stamped a little after `now` count too: a
    /// concurrent attempt that read the clock later may have been recorded first.
    pub fn locked_for(&self, failures: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<Duration> {
        let mut recent: Vec<_> = failures
            .iter()
            .copied()
            .filter(|t| *t > self.window_start(now))
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
        let p = STAFF_ACCOUNT_SOURCE.policy;
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
                "failures recorded by concurrent attempts stamped just after now count",
                (0..5)
                    .map(|m| t(5) + Duration::milliseconds(m + 1))
                    .collect(),
                t(5),
                Some(Duration::minutes(15) + Duration::milliseconds(1)),
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

    #[test]
    fn ipv6_clients_count_per_network_and_ipv4_per_address() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        let cases = [
            ("203.0.113.7", 64, "203.0.113.7"),
            ("203.0.113.8", 64, "203.0.113.8"),
            ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64"),
            ("2001:db8:1:2::1", 64, "2001:db8:1:2::/64"),
            ("2001:db8:1:3::1", 64, "2001:db8:1:3::/64"),
            ("2001:db8:1:2:aaaa::1", 48, "2001:db8:1::/48"),
            ("2001:db8:1:2:aaaa::1", 128, "2001:db8:1:2:aaaa::1/128"),
            ("::ffff:198.51.100.4", 64, "198.51.100.4"),
        ];
        for (addr, prefix, source) in cases {
            assert_eq!(client_source(ip(addr), prefix), source, "{addr} /{prefix}");
        }
    }

    #[test]
    fn attempts_left_count_down_to_the_lock() {
        let p = PIN_LINK.policy;
        // (failures at these minutes, now, attempts left)
        let cases: [(&[i64], i64, usize); 5] = [
            (&[], 0, 5),
            (&[0], 1, 4),
            (&[0, 1, 2, 3], 4, 1),
            (&[0, 1, 2, 3, 4], 5, 0),
            (&[-30, -20, 0], 1, 4),
        ];
        for (mins, now, left) in cases {
            let failures: Vec<_> = mins.iter().map(|m| t(*m)).collect();
            assert_eq!(
                p.attempts_left(&failures, t(now)),
                left,
                "{mins:?} at {now}"
            );
            assert_eq!(
                p.locked_for(&failures, t(now)).is_some(),
                left == 0,
                "no attempt left is a lock: {mins:?}"
            );
        }
    }
}

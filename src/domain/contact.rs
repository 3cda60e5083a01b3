//! Participant contact data parsed at the boundary (email and phone). An email address is accepted only if the
//! mailer will take it as a recipient (lettre's `Address`, the type the SMTP envelope uses) and
//! it is an ordinary address, so a reminder never fails later on an address that was accepted.

use std::{fmt, str::FromStr};

/// A participant's email address, as the mailer will send to it. Personal data: never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct ParticipantEmail(String);

impl ParticipantEmail {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("is empty".into());
        }
        if s.len() > 254 {
            return Err("is longer than 254 characters".into());
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must be one address without spaces or control characters".into());
        }
        if !email_address::EmailAddress::is_valid(s) {
            return Err("is not a valid email address".into());
        }
        plain_address(s)?;
        lettre::Address::from_str(s)
            .map_err(|e| format!("is not an address the mailer can send to ({e})"))?;
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ordinary mailbox: a dot-atom local part (letters, digits and ``!#$%&'*+-/=?^_`{|}~``,
/// dots only between them — no quoted string such as `"a,b"`) at a domain name with at least
/// one dot (no IP literal `[127.0.0.1]`, no bare `localhost`). RFC 5322 allows the rest, but
/// no participant's address needs it and each is a way to reach somewhere unexpected.
fn plain_address(s: &str) -> Result<(), String> {
    let (local, domain) = s.rsplit_once('@').ok_or("has no @")?;
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let dot_atom = |part: &str| {
        !part.is_empty()
            && part
                .split('.')
                .all(|a| !a.is_empty() && a.chars().all(atext))
    };
    if !dot_atom(local) {
        return Err(
            "must be a plain address (letters, digits, dots and + - _ before the @; no quotes)"
                .into(),
        );
    }
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || !labels.iter().all(|l| label(l))
        || labels.iter().all(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(
            "must end in a domain name with a dot (like example.be), not an IP address".into(),
        );
    }
    Ok(())
}

impl fmt::Debug for ParticipantEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ParticipantEmail(***)")
    }
}

/// A participant's phone number, stored in E.164 (`+32471123456`) whatever way the site typed it
/// (`0471 12 34 56`, `+32 9 332 21 11`, `09/332.21.11`): read as Belgian unless it starts with a
/// country code, and checked against the numbering plan (libphonenumber's metadata, through the
/// `phonenumber` crate). Personal data: never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct ParticipantPhone(String);

impl ParticipantPhone {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("is empty".into());
        }
        if s.len() > 40 {
            return Err("is longer than 40 characters".into());
        }
        let number = phonenumber::parse(Some(phonenumber::country::Id::BE), s)
            .ok()
            .filter(phonenumber::is_valid)
            .ok_or_else(|| {
                "is not a phone number (write it as on a card: 0471 12 34 56, or with the \
                 country code: +32 471 12 34 56)"
                    .to_string()
            })?;
        // Nobody's own phone is a number that costs the caller extra: the site would pay to call
        // it, and an SMS sent to it could be charged.
        if matches!(
            number.number_type(&phonenumber::metadata::DATABASE),
            phonenumber::Type::PremiumRate | phonenumber::Type::SharedCost
        ) {
            return Err(
                "is a premium-rate or shared-cost service number, not a participant's phone".into(),
            );
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// Whether the number can receive reminders by SMS: a mobile number (or one the numbering
    /// plan cannot tell from a fixed line, as in the USA) — never a fixed line, premium-rate,
    /// shared-cost, toll-free, VoIP, pager or other service number.
    pub fn takes_sms(&self) -> bool {
        phonenumber::parse(None, &self.0).is_ok_and(|n| {
            matches!(
                n.number_type(&phonenumber::metadata::DATABASE),
                phonenumber::Type::Mobile | phonenumber::Type::FixedLineOrMobile
            )
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored number as a person reads it (`+32 470 12 34 56`); a number stored before E.164 as it
/// was typed.
pub fn display_phone(stored: &str) -> String {
    phonenumber::parse(Some(phonenumber::country::Id::BE), stored)
        .map(|n| {
            n.format()
                .mode(phonenumber::Mode::International)
                .to_string()
        })
        .unwrap_or_else(|_| stored.to_string())
}

impl fmt::Debug for ParticipantPhone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ParticipantPhone(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_accepted_only_as_the_mailer_takes_them() {
        let cases = [
            ("an.peeters@example.be", true),
            ("  an.peeters@example.be ", true),
            ("an+hermes@zas.be", true),
            ("", false),
            ("an peeters@example.be", false),
            ("an@", false),
            ("@example.be", false),
            ("an@example.be\0", false),
            ("An Peeters <an@example.be>", false),
            ("an@example.be, bob@example.be", false),
            ("\"an peeters\"@example.be", false),
            ("an@[192.168.0.1]", false),
            ("x@[127.0.0.1]", false),
            ("x@[IPv6:::1]", false),
            ("\"a,b\"@example.org", false),
            ("a@b", false),
            ("a@localhost", false),
            ("a@127.0.0.1", false),
            ("a..b@example.org", false),
            (".a@example.org", false),
            ("a.@example.org", false),
            ("a@-example.org", false),
            ("a@example..org", false),
            ("o'brien@example.ie", true),
            ("an.peeters@zas.example.be", true),
        ];
        for (raw, ok) in cases {
            let parsed = ParticipantEmail::parse(raw);
            assert_eq!(parsed.is_ok(), ok, "{raw:?}: {parsed:?}");
            if let Ok(e) = parsed {
                // What is stored is what the mailer parses.
                assert!(lettre::Address::from_str(e.as_str()).is_ok());
            }
        }
    }

    #[test]
    fn the_address_never_reaches_debug_output() {
        let e = ParticipantEmail::parse("an@example.be").expect("valid");
        assert!(!format!("{e:?}").contains("an@"));
    }

    #[test]
    fn phone_numbers_are_stored_in_e164_as_belgians_write_them() {
        let cases = [
            ("+32 9 332 21 11", Some("+3293322111")),
            ("09/332.21.11", Some("+3293322111")),
            (" 0471 12 34 56 ", Some("+32471123456")),
            ("0032 471 12 34 56", Some("+32471123456")),
            ("(03) 821-30-00", Some("+3238213000")),
            ("+31 6 12345678", Some("+31612345678")),
            ("", None),
            ("12345", None),
            ("call the ward", None),
            ("0471 12 34 56 ext. 2 then 3 and 4 and 5", None),
            ("+32 9 332 21 11; 0471 12 34 56 77 88 99 00 11", None),
        ];
        for (raw, want) in cases {
            let parsed = ParticipantPhone::parse(raw);
            assert_eq!(
                parsed.as_ref().ok().map(ParticipantPhone::as_str),
                want,
                "{raw:?}: {parsed:?}"
            );
        }
        // Which numbers take reminders by SMS: mobiles only.
        for (raw, parses, sms) in [
            ("0471 12 34 56", true, true),
            ("+31 6 12345678", true, true),
            ("+1 202 555 0143", true, true),
            ("09 332 21 11", true, false),
            ("0800 12 345", true, false),
            ("0903 12 345", false, false),
            ("0905 12 345", false, false),
            ("070 12 34 56", false, false),
        ] {
            let parsed = ParticipantPhone::parse(raw);
            assert_eq!(parsed.is_ok(), parses, "{raw:?}: {parsed:?}");
            if let Ok(p) = parsed {
                assert_eq!(p.takes_sms(), sms, "{raw:?} takes SMS");
            }
        }
        let p = ParticipantPhone::parse("0471 12 34 56").expect("valid");
        assert!(!format!("{p:?}").contains("471"));
        assert!(p.takes_sms());
        assert_eq!(display_phone(p.as_str()), "+32 471 12 34 56");
        assert!(
            !ParticipantPhone::parse("09 332 21 11")
                .expect("valid")
                .takes_sms()
        );
    }
}

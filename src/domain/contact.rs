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
        lettre::Address::from_str(s)
            .map_err(|e| format!("is not an address the mailer can send to ({e})"))?;
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ParticipantEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ParticipantEmail(***)")
    }
}

/// A participant's phone number as a site types it: digits with the usual separators (spaces,
/// `+ - ( ) . /`), at least 6 digits and at most 40 characters. Personal data: never logged.
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
        if !s
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()./".contains(c))
        {
            return Err("may contain only digits, spaces and + - ( ) . /".into());
        }
        if s.chars().filter(char::is_ascii_digit).count() < 6 {
            return Err("needs at least 6 digits".into());
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
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
            ("an@[192.168.0.1]", true),
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
    fn phone_numbers_are_digits_with_the_usual_separators() {
        let cases = [
            ("+32 9 332 21 11", true),
            ("09/332.21.11", true),
            (" 0471 12 34 56 ", true),
            ("(03) 821-30-00", true),
            ("", false),
            ("12345", false),
            ("call the ward", false),
            ("0471 12 34 56 ext. 2", false),
            ("+32 9 332 21 11; 0471 12 34 56 77 88 99 00 11", false),
        ];
        for (raw, ok) in cases {
            let parsed = ParticipantPhone::parse(raw);
            assert_eq!(parsed.is_ok(), ok, "{raw:?}: {parsed:?}");
        }
        let p = ParticipantPhone::parse("0471 12 34 56").expect("valid");
        assert!(!format!("{p:?}").contains("0471"));
    }
}

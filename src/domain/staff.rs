//! Staff identities: roles, validated emails and the password rule. Emails are personal data:
//! this module parses them; it never logs them.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    DataManager,
    Monitor,
    SiteStaff,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Admin,
        Role::DataManager,
        Role::Monitor,
        Role::SiteStaff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::DataManager => "data_manager",
            Role::Monitor => "monitor",
            Role::SiteStaff => "site_staff",
        }
    }

    /// Site staff and monitors work on the sites they belong to; the others see every site.
    pub fn is_site_bound(self) -> bool {
        matches!(self, Role::Monitor | Role::SiteStaff)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role {s:?}; expected admin, data_manager, monitor or site_staff")
            })
    }
}

/// A syntactically valid email address, lower-cased so logins are case-insensitive.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StaffEmail(String);

impl StaffEmail {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.len() > 254 || !email_address::EmailAddress::is_valid(trimmed) {
            return Err("email is not a valid address".into());
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Personal data: Debug does not show the address.
impl fmt::Debug for StaffEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaffEmail(***)")
    }
}

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A password that meets the rule: 12 to 256 characters (length is what matters; NIST 800-63B).
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(raw: &str) -> Result<Self, super::problem::Problem> {
        let n = raw.chars().count();
        if n < MIN_PASSWORD_CHARS {
            return Err(super::problem::Problem::PasswordTooShort {
                min: MIN_PASSWORD_CHARS,
            });
        }
        if n > MAX_PASSWORD_CHARS {
            return Err(super::problem::Problem::PasswordTooLong {
                max: MAX_PASSWORD_CHARS,
            });
        }
        Ok(Self(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_validated_and_lowercased() {
        assert_eq!(
            StaffEmail::parse(" Nurse@UZ.example ")
                .expect("valid")
                .as_str(),
            "nurse@uz.example"
        );
        for bad in ["", "nurse", "nurse@", "@uz.example", "a b@uz.example"] {
            assert!(StaffEmail::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn password_length_rule() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("twelve chars").is_ok());
        assert!(NewPassword::parse(&"x".repeat(257)).is_err());
    }

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }
}

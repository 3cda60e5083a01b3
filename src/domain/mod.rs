//! The rules of the trial as plain types and pure functions: no database, no HTTP, no clock
//! (time comes in as an argument). Most unit tests live here.

pub mod answering;
pub mod audit;
pub(crate) mod completion;
pub(crate) mod contact;
pub(crate) mod dates;
pub mod fhir_subscription;
pub mod free_text;
pub mod ledger;
pub(crate) mod lesions;
pub mod pain;
pub(crate) mod participant;
pub mod permissions;
pub mod problem;
pub mod questionnaire;
pub mod reminders;
pub mod schedule;
pub(crate) mod staff;
pub(crate) mod study;
pub mod throttle;

/// A text that is not one of a code list's values (names the list and the value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a known {what}")]
pub struct UnknownCode {
    pub what: &'static str,
    pub value: String,
}

/// A closed list of codes, each with one string form: the form stored in the database, sent in
/// JSON and written to exports. `as_str`, `parse`, `ALL`, `Display`, `FromStr` and serde all use
/// that one form.
#[macro_export]
macro_rules! code_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$v),)+ _ => None }
            }

            /// Every string form, comma-separated (for messages).
            pub fn list() -> String {
                Self::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::UnknownCode;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s).ok_or_else(|| $crate::domain::UnknownCode {
                    what: stringify!($name),
                    value: s.to_string(),
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

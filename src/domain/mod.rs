//! The rules of the trial as plain types and pure functions: no database, no HTTP, no clock
//! (time comes in as an argument). Most unit tests live here.

pub mod audit;
pub mod contact;
pub mod lesions;
pub mod pain;
pub mod participant;
pub mod permissions;
pub mod questionnaire;
pub mod reminders;
pub mod schedule;
pub mod staff;
pub mod study;
pub mod throttle;

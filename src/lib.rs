//! epro: an electronic patient-reported outcomes server for clinical trials.
//! See DESIGN in the README: domain (pure rules) · store (the only database code) · services ·
//! api (JSON, OpenAPI) — all assembled by `startup`.

pub mod access;
pub mod api;
pub mod app;
pub mod archive;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod completion;
pub mod config;
pub mod digest;
pub mod domain;
pub mod email;
pub mod error;
pub mod export;
pub mod hashing;
pub mod housekeeping;
pub mod keys;
pub mod mail;
pub mod pain;
pub mod participants;
pub mod questionnaires;
pub mod reminders;
pub mod responses;
pub mod sites;
pub mod startup;
pub mod store;
pub mod study;
pub mod telemetry;
pub mod throttle;
pub mod users;
pub mod web;

//! epro: an electronic patient-reported outcomes server for clinical trials.
//!
//! Layers (see docs/architecture.md): `domain` holds the trial's rules as pure functions,
//! `store` is the only code that touches the database, the feature modules load → decide →
//! write → audit, and `api` (JSON, OpenAPI) and `web` (pages) are the two ways in, assembled by
//! `startup`. The `epro` binary's commands live in `src/cli/`.

// Platform: settings, keys, clock, errors, the assembled application.
pub mod app;
pub mod clock;
pub mod config;
pub(crate) mod error;
pub mod keys;
pub mod listener;
pub mod startup;
pub mod telemetry;
pub mod texts;

// Layers.
pub mod api;
pub mod domain;
pub mod store;
pub(crate) mod web;

// Features.
pub mod admin;
pub mod answering;
pub mod audit;
pub mod auth;
pub mod exports;
pub mod fhir;
pub mod jobs;
pub mod notify;
pub mod participants;
pub mod questionnaires;
pub mod reminders;
pub mod study;

//! Integration tests through the public HTTP surface and the `epro` binary, against a real
//! server and a real database (SQLite by default, PostgreSQL with EPRO_TEST_DATABASE_URL).

mod answering;
mod archive;
mod audit;
mod auth;
mod backup;
mod crash;
mod exports;
mod fhir;
mod fhir_observations;
mod fhir_subscriptions;
mod health;
mod helpers;
mod metrics;
mod migration;
mod new_trial;
mod odm;
mod offline;
mod pages;
mod participant_pages;
mod participants;
mod permissions;
mod privacy;
mod questionnaires;
mod red_team;
mod reminders;
mod scale_out;
mod security;
mod sequencer;
mod sms;
mod startup;
mod texts;
mod trial_rules;
mod upgrade;
mod validate;
mod visit_status;

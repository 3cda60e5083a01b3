//! Database migrations for epro, one file per change, append-only: a migration that has landed
//! on main is never edited; a correction is a new migration.
//! The server runs `Migrator::up` at start; `epro database migrate` runs it on demand.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_foundation;
mod m20261127_000002_questionnaires;
mod m20261127_000003_participants;
mod m20261127_000004_responses;
mod m20261127_000005_staff_entry;
mod m20261127_000006_queries_analgesics;
mod m20261127_000007_reminders;
mod m20261127_000008_digest_log;
mod m20261202_000009_trial_rules;
mod m20261202_000010_calls_staff_language;
mod m20261202_000011_participant_revision;
mod m20261202_000012_study_file_text;
mod m20261202_000013_wording_pack;
mod m20261202_000014_sms;
mod m20261207_000015_odm_audit_entity_index;
mod m20261207_000016_fhir_smart_clients;
mod m20261207_000017_ledger_checkpoint;
mod m20261207_000018_offline_draft_saves;
mod m20261208_000019_late_offline_completion;
mod m20261208_000020_seq_audit_sequencer;
mod m20261208_000021_fhirsub_subscriptions;
mod m20261208_000022_perf_reminder_keeps_plan_mark;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_foundation::Migration),
            Box::new(m20261127_000002_questionnaires::Migration),
            Box::new(m20261127_000003_participants::Migration),
            Box::new(m20261127_000004_responses::Migration),
            Box::new(m20261127_000005_staff_entry::Migration),
            Box::new(m20261127_000006_queries_analgesics::Migration),
            Box::new(m20261127_000007_reminders::Migration),
            Box::new(m20261127_000008_digest_log::Migration),
            Box::new(m20261202_000009_trial_rules::Migration),
            Box::new(m20261202_000010_calls_staff_language::Migration),
            Box::new(m20261202_000011_participant_revision::Migration),
            Box::new(m20261202_000012_study_file_text::Migration),
            Box::new(m20261202_000013_wording_pack::Migration),
            Box::new(m20261202_000014_sms::Migration),
            Box::new(m20261207_000015_odm_audit_entity_index::Migration),
            Box::new(m20261207_000016_fhir_smart_clients::Migration),
            Box::new(m20261207_000017_ledger_checkpoint::Migration),
            Box::new(m20261207_000018_offline_draft_saves::Migration),
            Box::new(m20261208_000019_late_offline_completion::Migration),
            Box::new(m20261208_000020_seq_audit_sequencer::Migration),
            Box::new(m20261208_000021_fhirsub_subscriptions::Migration),
            Box::new(m20261208_000022_perf_reminder_keeps_plan_mark::Migration),
        ]
    }
}

//! The nurse's call log (reached / not reached / note, per participant), and each staff
//! member's language (for the daily digest).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CallLog {
    Table,
    Id,
    ParticipantId,
    StaffId,
    Outcome,
    Note,
    Reasons,
    LoggedAt,
}

#[derive(DeriveIden)]
enum StaffUser {
    Table,
    Language,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CallLog::Table)
                    .col(ColumnDef::new(CallLog::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(CallLog::ParticipantId).uuid().not_null())
                    .col(ColumnDef::new(CallLog::StaffId).uuid().not_null())
                    .col(ColumnDef::new(CallLog::Outcome).string().not_null())
                    .col(ColumnDef::new(CallLog::Note).text().null())
                    .col(ColumnDef::new(CallLog::Reasons).text().not_null())
                    .col(
                        ColumnDef::new(CallLog::LoggedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_call_log_participant")
                    .table(CallLog::Table)
                    .col(CallLog::ParticipantId)
                    .col(CallLog::LoggedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(StaffUser::Table)
                    .add_column(ColumnDef::new(StaffUser::Language).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(StaffUser::Table)
                    .drop_column(StaffUser::Language)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(CallLog::Table).to_owned())
            .await
    }
}

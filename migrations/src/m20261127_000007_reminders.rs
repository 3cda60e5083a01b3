//! The reminder outbox: one row per (participant, visit, reminder kind), so planning twice never
//! makes two emails.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Reminder {
    Table,
    Id,
    ParticipantId,
    VisitCode,
    Kind,
    DueAt,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedAt,
    LastError,
    SentAt,
    MessageId,
    Reason,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Reminder::Table)
                    .col(ColumnDef::new(Reminder::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Reminder::ParticipantId).uuid().not_null())
                    .col(ColumnDef::new(Reminder::VisitCode).string().not_null())
                    .col(ColumnDef::new(Reminder::Kind).string().not_null())
                    .col(
                        ColumnDef::new(Reminder::DueAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Reminder::Status).string().not_null())
                    .col(ColumnDef::new(Reminder::Attempts).integer().not_null())
                    .col(
                        ColumnDef::new(Reminder::NextAttemptAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Reminder::ClaimedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Reminder::LastError).text().null())
                    .col(
                        ColumnDef::new(Reminder::SentAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Reminder::MessageId).string().null())
                    .col(ColumnDef::new(Reminder::Reason).text().null())
                    .col(
                        ColumnDef::new(Reminder::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("reminder_once_key")
                    .table(Reminder::Table)
                    .col(Reminder::ParticipantId)
                    .col(Reminder::VisitCode)
                    .col(Reminder::Kind)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("reminder_due")
                    .table(Reminder::Table)
                    .col(Reminder::Status)
                    .col(Reminder::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Reminder::Table).to_owned())
            .await
    }
}

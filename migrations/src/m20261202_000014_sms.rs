//! SMS reminders (docs/reminders.md, "SMS"): each participant's reminder channel (email, sms or
//! both), and per reminder the channel it was planned for, when each channel's message left, and
//! the gateway's delivery report. One column per statement: SQLite alters one at a time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ParticipantContact {
    Table,
    ReminderChannel,
}

#[derive(DeriveIden)]
enum Reminder {
    Table,
    Channel,
    EmailSentAt,
    SmsSentAt,
    Delivery,
    DeliveryAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ParticipantContact::Table)
                    .add_column(
                        ColumnDef::new(ParticipantContact::ReminderChannel)
                            .string()
                            .not_null()
                            .default("email"),
                    )
                    .to_owned(),
            )
            .await?;
        let columns = [
            ColumnDef::new(Reminder::Channel)
                .string()
                .not_null()
                .default("email")
                .to_owned(),
            ColumnDef::new(Reminder::EmailSentAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Reminder::SmsSentAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Reminder::Delivery)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Reminder::DeliveryAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ];
        for mut c in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Reminder::Table)
                        .add_column(&mut c)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for c in [
            Reminder::Channel,
            Reminder::EmailSentAt,
            Reminder::SmsSentAt,
            Reminder::Delivery,
            Reminder::DeliveryAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Reminder::Table)
                        .drop_column(c)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(ParticipantContact::Table)
                    .drop_column(ParticipantContact::ReminderChannel)
                    .to_owned(),
            )
            .await
    }
}

//! A form finished offline that reaches the server after its visit closed (docs/trial-rules.md,
//! "Answers sent from a phone that was offline"): the device's completion time as the page sent
//! it, `synced_late` when it was accepted on that time, and `quarantined_at` (the receipt) when
//! it was refused and its answers kept as a draft for the site to see.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Response {
    Table,
    DeviceCompletedAt,
    SyncedLate,
    QuarantinedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for col in [
            ColumnDef::new(Response::DeviceCompletedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Response::SyncedLate)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(Response::QuarantinedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ] {
            let mut col = col;
            manager
                .alter_table(
                    Table::alter()
                        .table(Response::Table)
                        .add_column(&mut col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            Response::DeviceCompletedAt,
            Response::SyncedLate,
            Response::QuarantinedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Response::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

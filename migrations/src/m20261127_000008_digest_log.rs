//! Which site got its daily digest on which (study-time) day, so it goes once a day.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DigestLog {
    Table,
    SiteCode,
    Day,
    SentAt,
    Recipients,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DigestLog::Table)
                    .col(ColumnDef::new(DigestLog::SiteCode).string().not_null())
                    .col(ColumnDef::new(DigestLog::Day).date().not_null())
                    .col(
                        ColumnDef::new(DigestLog::SentAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(DigestLog::Recipients).integer().not_null())
                    .primary_key(Index::create().col(DigestLog::SiteCode).col(DigestLog::Day))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DigestLog::Table).to_owned())
            .await
    }
}

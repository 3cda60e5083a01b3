//! Hashes of every questionnaire version and scoring file a database has served, so a server
//! refuses to start when a published version's content changed.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum QuestionnaireLock {
    Table,
    Key,
    Version,
    Part,
    Sha256,
    RecordedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(QuestionnaireLock::Table)
                    .col(ColumnDef::new(QuestionnaireLock::Key).string().not_null())
                    .col(
                        ColumnDef::new(QuestionnaireLock::Version)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(QuestionnaireLock::Part).string().not_null())
                    .col(
                        ColumnDef::new(QuestionnaireLock::Sha256)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(QuestionnaireLock::RecordedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(QuestionnaireLock::Key)
                            .col(QuestionnaireLock::Version)
                            .col(QuestionnaireLock::Part),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(QuestionnaireLock::Table).to_owned())
            .await
    }
}

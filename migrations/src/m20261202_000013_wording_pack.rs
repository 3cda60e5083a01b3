//! Every wording pack a deployment has served (shipped or licensed), by the sha256 responses
//! record as "the wording shown", with its texts: a changed pack is a new pack, recorded and
//! audited, and the exports map each hash to its words (docs/questionnaires.md).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WordingPack {
    Table,
    Sha256,
    Key,
    Version,
    Language,
    Kind,
    Texts,
    RecordedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WordingPack::Table)
                    .col(
                        ColumnDef::new(WordingPack::Sha256)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(WordingPack::Key).string().not_null())
                    .col(ColumnDef::new(WordingPack::Version).string().not_null())
                    .col(ColumnDef::new(WordingPack::Language).string().not_null())
                    .col(ColumnDef::new(WordingPack::Kind).string().not_null())
                    .col(ColumnDef::new(WordingPack::Texts).text().not_null())
                    .col(
                        ColumnDef::new(WordingPack::RecordedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WordingPack::Table).to_owned())
            .await
    }
}

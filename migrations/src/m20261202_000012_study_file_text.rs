//! The study file's text kept with its registration, so that an amendment can be compared with
//! the file it replaces (the change set goes into the audit trail; docs/study-format.md).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Study {
    Table,
    FileText,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Study::Table)
                    .add_column(ColumnDef::new(Study::FileText).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Study::Table)
                    .drop_column(Study::FileText)
                    .to_owned(),
            )
            .await
    }
}

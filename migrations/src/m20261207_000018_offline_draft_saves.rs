//! Draft saves by client id (docs/api.md, "Drafts"; docs/trial-rules.md, "Answers sent from a
//! phone that was offline"): a page that saves while its connection comes and goes sends each
//! save with an id it made, so a resend is answered with the original result instead of a second
//! save, and the same id with other answers is refused. One row per (response, save id).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DraftSave {
    Table,
    ResponseId,
    SaveId,
    RequestSha256,
    Revision,
    SavedAt,
}

#[derive(DeriveIden)]
enum Response {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DraftSave::Table)
                    .col(ColumnDef::new(DraftSave::ResponseId).uuid().not_null())
                    .col(ColumnDef::new(DraftSave::SaveId).string().not_null())
                    .col(ColumnDef::new(DraftSave::RequestSha256).string().not_null())
                    .col(ColumnDef::new(DraftSave::Revision).integer().not_null())
                    .col(
                        ColumnDef::new(DraftSave::SavedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(DraftSave::ResponseId)
                            .col(DraftSave::SaveId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DraftSave::Table, DraftSave::ResponseId)
                            .to(Response::Table, Response::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DraftSave::Table).to_owned())
            .await
    }
}

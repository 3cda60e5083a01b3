//! Data queries on responses (raised by data managers, closed by sites) and the analgesic dose
//! (oral morphine equivalent, mg/day) recorded per visit.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ResponseQuery {
    Table,
    Id,
    ResponseId,
    Text,
    RaisedBy,
    RaisedAt,
    ClosedBy,
    ClosedAt,
    ClosingNote,
}

#[derive(DeriveIden)]
enum AnalgesicDose {
    Table,
    ParticipantId,
    VisitCode,
    OmedMgPerDay,
    RecordedBy,
    RecordedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ResponseQuery::Table)
                    .col(
                        ColumnDef::new(ResponseQuery::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ResponseQuery::ResponseId).uuid().not_null())
                    .col(ColumnDef::new(ResponseQuery::Text).text().not_null())
                    .col(ColumnDef::new(ResponseQuery::RaisedBy).string().not_null())
                    .col(
                        ColumnDef::new(ResponseQuery::RaisedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ResponseQuery::ClosedBy).string().null())
                    .col(
                        ColumnDef::new(ResponseQuery::ClosedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(ResponseQuery::ClosingNote).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AnalgesicDose::Table)
                    .col(
                        ColumnDef::new(AnalgesicDose::ParticipantId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AnalgesicDose::VisitCode).string().not_null())
                    .col(
                        ColumnDef::new(AnalgesicDose::OmedMgPerDay)
                            .double()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AnalgesicDose::RecordedBy)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AnalgesicDose::RecordedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(AnalgesicDose::ParticipantId)
                            .col(AnalgesicDose::VisitCode),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AnalgesicDose::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ResponseQuery::Table).to_owned())
            .await
    }
}

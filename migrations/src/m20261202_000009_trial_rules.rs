//! Trial rules (issue 13): a response's flags (`outside_window`, `after_randomization`,
//! `after_sse_week`) and its days from the SSE; a visit's missed reasons per questionnaire.
//! Existing rows get an empty list / map: nothing stored before was flagged or missed per form.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Response {
    Table,
    Flags,
    DaysFromSse,
}

#[derive(DeriveIden)]
enum Visit {
    Table,
    MissedForms,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Response::Table)
                    .add_column(
                        ColumnDef::new(Response::Flags)
                            .text()
                            .not_null()
                            .default("[]"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Response::Table)
                    .add_column(ColumnDef::new(Response::DaysFromSse).integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Visit::Table)
                    .add_column(
                        ColumnDef::new(Visit::MissedForms)
                            .text()
                            .not_null()
                            .default("{}"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [Response::Flags, Response::DaysFromSse] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Response::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Visit::Table)
                    .drop_column(Visit::MissedForms)
                    .to_owned(),
            )
            .await
    }
}

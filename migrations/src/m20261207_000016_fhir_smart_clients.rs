//! FHIR R4 access for systems (#26, docs/fhir.md): registered SMART Backend Services clients
//! (their public keys as a JWKS, the sites and scopes they may read), every client-assertion `jti`
//! ever accepted (the primary key refuses a replay atomically), and the short-lived access tokens
//! issued to clients (stored as sha256, like staff sessions).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FhirClient {
    Table,
    Id,
    Name,
    Jwks,
    Sites,
    Scopes,
    Disabled,
    CreatedAt,
}

#[derive(DeriveIden)]
enum FhirJti {
    Table,
    ClientId,
    Jti,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum FhirToken {
    Table,
    TokenHash,
    ClientId,
    Scopes,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FhirClient::Table)
                    .col(
                        ColumnDef::new(FhirClient::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(FhirClient::Name).string().not_null())
                    .col(ColumnDef::new(FhirClient::Jwks).text().not_null())
                    .col(ColumnDef::new(FhirClient::Sites).text().not_null())
                    .col(ColumnDef::new(FhirClient::Scopes).text().not_null())
                    .col(
                        ColumnDef::new(FhirClient::Disabled)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(FhirClient::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FhirJti::Table)
                    .col(ColumnDef::new(FhirJti::ClientId).uuid().not_null())
                    .col(ColumnDef::new(FhirJti::Jti).string().not_null())
                    .col(
                        ColumnDef::new(FhirJti::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(Index::create().col(FhirJti::ClientId).col(FhirJti::Jti))
                    .foreign_key(
                        ForeignKey::create()
                            .from(FhirJti::Table, FhirJti::ClientId)
                            .to(FhirClient::Table, FhirClient::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FhirToken::Table)
                    .col(
                        ColumnDef::new(FhirToken::TokenHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(FhirToken::ClientId).uuid().not_null())
                    .col(ColumnDef::new(FhirToken::Scopes).text().not_null())
                    .col(
                        ColumnDef::new(FhirToken::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(FhirToken::Table, FhirToken::ClientId)
                            .to(FhirClient::Table, FhirClient::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            FhirToken::Table.into_iden(),
            FhirJti::Table.into_iden(),
            FhirClient::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

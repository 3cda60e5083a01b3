//! Signed checkpoints of the audit log (#29.3): the tree of the first `size` audit events has
//! `root` (RFC 6962, hex), signed at `time` with the Ed25519 checkpoint key whose public key is
//! `public_key` (hex). One per size: a second instance signing the same size signs the same root.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditCheckpoint {
    Table,
    Size,
    Root,
    Time,
    Signature,
    PublicKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditCheckpoint::Table)
                    .col(
                        ColumnDef::new(AuditCheckpoint::Size)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuditCheckpoint::Root).string().not_null())
                    .col(ColumnDef::new(AuditCheckpoint::Time).string().not_null())
                    .col(
                        ColumnDef::new(AuditCheckpoint::Signature)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditCheckpoint::PublicKey)
                            .string()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditCheckpoint::Table).to_owned())
            .await
    }
}

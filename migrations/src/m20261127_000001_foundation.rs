//! Foundation tables: the study a database belongs to, site state, staff accounts and sessions,
//! login-failure records for throttling, and the append-only audit trail with its chain head.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

// The column is named study_id; the lint objects to the enum prefix only.
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden)]
enum Study {
    Table,
    Id,
    StudyId,
    FileSha256,
    LoadedAt,
}

#[derive(DeriveIden)]
enum SiteState {
    Table,
    Code,
    Disabled,
    ChangedAt,
}

#[derive(DeriveIden)]
enum StaffUser {
    Table,
    Id,
    Email,
    PasswordHash,
    Role,
    Disabled,
    MustChangePassword,
    CreatedAt,
}

#[derive(DeriveIden)]
enum StaffUserSite {
    Table,
    UserId,
    SiteCode,
}

#[derive(DeriveIden)]
enum StaffSession {
    Table,
    TokenHash,
    UserId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum LoginFailure {
    Table,
    Id,
    Scope,
    KeyHash,
    At,
}

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    Seq,
    At,
    ActorKind,
    ActorId,
    Action,
    EntityType,
    EntityId,
    Before,
    After,
    Reason,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditHead {
    Table,
    Id,
    Seq,
    Hash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Study::Table)
                    .col(ColumnDef::new(Study::Id).integer().not_null().primary_key())
                    .col(ColumnDef::new(Study::StudyId).string().not_null())
                    .col(ColumnDef::new(Study::FileSha256).string().not_null())
                    .col(
                        ColumnDef::new(Study::LoadedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SiteState::Table)
                    .col(
                        ColumnDef::new(SiteState::Code)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SiteState::Disabled).boolean().not_null())
                    .col(
                        ColumnDef::new(SiteState::ChangedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(StaffUser::Table)
                    .col(
                        ColumnDef::new(StaffUser::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(StaffUser::Email).string().not_null())
                    .col(ColumnDef::new(StaffUser::PasswordHash).string().not_null())
                    .col(ColumnDef::new(StaffUser::Role).string().not_null())
                    .col(ColumnDef::new(StaffUser::Disabled).boolean().not_null())
                    .col(
                        ColumnDef::new(StaffUser::MustChangePassword)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StaffUser::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("staff_user_email_key")
                    .table(StaffUser::Table)
                    .col(StaffUser::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(StaffUserSite::Table)
                    .col(ColumnDef::new(StaffUserSite::UserId).uuid().not_null())
                    .col(ColumnDef::new(StaffUserSite::SiteCode).string().not_null())
                    .primary_key(
                        Index::create()
                            .col(StaffUserSite::UserId)
                            .col(StaffUserSite::SiteCode),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(StaffUserSite::Table, StaffUserSite::UserId)
                            .to(StaffUser::Table, StaffUser::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(StaffSession::Table)
                    .col(
                        ColumnDef::new(StaffSession::TokenHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(StaffSession::UserId).uuid().not_null())
                    .col(
                        ColumnDef::new(StaffSession::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StaffSession::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(StaffSession::Table, StaffSession::UserId)
                            .to(StaffUser::Table, StaffUser::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LoginFailure::Table)
                    .col(
                        ColumnDef::new(LoginFailure::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(LoginFailure::Scope).string().not_null())
                    .col(ColumnDef::new(LoginFailure::KeyHash).string().not_null())
                    .col(
                        ColumnDef::new(LoginFailure::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("login_failure_lookup")
                    .table(LoginFailure::Table)
                    .col(LoginFailure::Scope)
                    .col(LoginFailure::KeyHash)
                    .col(LoginFailure::At)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvent::Table)
                    .col(
                        ColumnDef::new(AuditEvent::Seq)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    // Microsecond UTC instant as RFC 3339 text: it is hashed, so it must read
                    // back byte-for-byte the same on SQLite and PostgreSQL.
                    .col(ColumnDef::new(AuditEvent::At).string().not_null())
                    .col(ColumnDef::new(AuditEvent::ActorKind).string().not_null())
                    .col(ColumnDef::new(AuditEvent::ActorId).string().null())
                    .col(ColumnDef::new(AuditEvent::Action).string().not_null())
                    .col(ColumnDef::new(AuditEvent::EntityType).string().not_null())
                    .col(ColumnDef::new(AuditEvent::EntityId).string().null())
                    // Canonical (RFC 8785) JSON text, stored as text for the same reason.
                    .col(ColumnDef::new(AuditEvent::Before).text().null())
                    .col(ColumnDef::new(AuditEvent::After).text().null())
                    .col(ColumnDef::new(AuditEvent::Reason).text().null())
                    .col(ColumnDef::new(AuditEvent::PrevHash).string().not_null())
                    .col(ColumnDef::new(AuditEvent::Hash).string().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditHead::Table)
                    .col(
                        ColumnDef::new(AuditHead::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuditHead::Seq).big_integer().not_null())
                    .col(ColumnDef::new(AuditHead::Hash).string().not_null())
                    .to_owned(),
            )
            .await?;
        // The single head row every append locks; seq 0 and the all-zero genesis hash.
        let genesis = Query::insert()
            .into_table(AuditHead::Table)
            .columns([AuditHead::Id, AuditHead::Seq, AuditHead::Hash])
            .values_panic([1.into(), 0i64.into(), "0".repeat(64).into()])
            .to_owned();
        manager.exec_stmt(genesis).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditHead::Table.into_iden(),
            AuditEvent::Table.into_iden(),
            LoginFailure::Table.into_iden(),
            StaffSession::Table.into_iden(),
            StaffUserSite::Table.into_iden(),
            StaffUser::Table.into_iden(),
            SiteState::Table.into_iden(),
            Study::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

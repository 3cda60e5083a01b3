//! Participant access (PIN, links, sessions) and answering (responses, answers, scores).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ParticipantPin {
    Table,
    ParticipantId,
    PinHash,
    SetAt,
}

#[derive(DeriveIden)]
enum AccessLink {
    Table,
    Id,
    TokenHash,
    ParticipantId,
    Kind,
    VisitCode,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    CreatedBy,
}

#[derive(DeriveIden)]
enum ParticipantSession {
    Table,
    TokenHash,
    ParticipantId,
    LinkId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Response {
    Table,
    Id,
    ParticipantId,
    VisitCode,
    QuestionnaireKey,
    QuestionnaireVersion,
    Language,
    WordingSha256,
    Lesions,
    Status,
    Revision,
    StartedAt,
    SubmittedAt,
    ClientUtcOffsetMinutes,
    Late,
    Mode,
    IdempotencyKey,
    RequestSha256,
}

#[derive(DeriveIden)]
enum Answer {
    Table,
    ResponseId,
    Item,
    Lesion,
    Value,
    Mode,
    ActorKind,
    ActorId,
    AnsweredAt,
}

#[derive(DeriveIden)]
enum Score {
    Table,
    ResponseId,
    Scoring,
    Results,
    ComputedAt,
}

fn ts(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ParticipantPin::Table)
                    .col(
                        ColumnDef::new(ParticipantPin::ParticipantId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ParticipantPin::PinHash).string().not_null())
                    .col(ts(ParticipantPin::SetAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccessLink::Table)
                    .col(
                        ColumnDef::new(AccessLink::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AccessLink::TokenHash)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(AccessLink::ParticipantId).uuid().not_null())
                    .col(ColumnDef::new(AccessLink::Kind).string().not_null())
                    .col(ColumnDef::new(AccessLink::VisitCode).string().null())
                    .col(ts(AccessLink::CreatedAt))
                    .col(
                        ColumnDef::new(AccessLink::ExpiresAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AccessLink::RevokedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(AccessLink::CreatedBy).string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ParticipantSession::Table)
                    .col(
                        ColumnDef::new(ParticipantSession::TokenHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ParticipantSession::ParticipantId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ParticipantSession::LinkId).uuid().not_null())
                    .col(ts(ParticipantSession::CreatedAt))
                    .col(ts(ParticipantSession::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Response::Table)
                    .col(ColumnDef::new(Response::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Response::ParticipantId).uuid().not_null())
                    .col(ColumnDef::new(Response::VisitCode).string().not_null())
                    .col(
                        ColumnDef::new(Response::QuestionnaireKey)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Response::QuestionnaireVersion)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Response::Language).string().not_null())
                    .col(ColumnDef::new(Response::WordingSha256).string().not_null())
                    .col(ColumnDef::new(Response::Lesions).text().not_null())
                    .col(ColumnDef::new(Response::Status).string().not_null())
                    .col(ColumnDef::new(Response::Revision).integer().not_null())
                    .col(ts(Response::StartedAt))
                    .col(
                        ColumnDef::new(Response::SubmittedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Response::ClientUtcOffsetMinutes)
                            .integer()
                            .null(),
                    )
                    .col(ColumnDef::new(Response::Late).boolean().not_null())
                    .col(ColumnDef::new(Response::Mode).string().null())
                    .col(ColumnDef::new(Response::IdempotencyKey).string().null())
                    .col(ColumnDef::new(Response::RequestSha256).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("response_visit_questionnaire_key")
                    .table(Response::Table)
                    .col(Response::ParticipantId)
                    .col(Response::VisitCode)
                    .col(Response::QuestionnaireKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Answer::Table)
                    .col(ColumnDef::new(Answer::ResponseId).uuid().not_null())
                    .col(ColumnDef::new(Answer::Item).string().not_null())
                    // Empty string for items not asked per lesion (part of the key).
                    .col(ColumnDef::new(Answer::Lesion).string().not_null())
                    .col(ColumnDef::new(Answer::Value).text().not_null())
                    .col(ColumnDef::new(Answer::Mode).string().not_null())
                    .col(ColumnDef::new(Answer::ActorKind).string().not_null())
                    .col(ColumnDef::new(Answer::ActorId).string().not_null())
                    .col(ts(Answer::AnsweredAt))
                    .primary_key(
                        Index::create()
                            .col(Answer::ResponseId)
                            .col(Answer::Item)
                            .col(Answer::Lesion),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Score::Table)
                    .col(ColumnDef::new(Score::ResponseId).uuid().not_null())
                    .col(ColumnDef::new(Score::Scoring).string().not_null())
                    .col(ColumnDef::new(Score::Results).text().not_null())
                    .col(ts(Score::ComputedAt))
                    .primary_key(Index::create().col(Score::ResponseId).col(Score::Scoring))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Score::Table.into_iden(),
            Answer::Table.into_iden(),
            Response::Table.into_iden(),
            ParticipantSession::Table.into_iden(),
            AccessLink::Table.into_iden(),
            ParticipantPin::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}

//! Participants (pseudonymous), their contact data (encrypted, in its own table), events,
//! high-risk lesions and visits.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Participant {
    Table,
    Id,
    StudyId,
    SiteCode,
    Language,
    EnrolledOn,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ParticipantContact {
    Table,
    ParticipantId,
    EmailSealed,
    PhoneSealed,
}

#[derive(DeriveIden)]
enum ParticipantEvent {
    Table,
    Id,
    ParticipantId,
    Kind,
    EventDate,
    Details,
    Reason,
    RecordedAt,
    RecordedBy,
    EnteredInError,
}

#[derive(DeriveIden)]
enum Lesion {
    Table,
    Id,
    ParticipantId,
    Location,
    Side,
    Labels,
    Detail,
    HighRiskReasons,
    IrradiationDate,
    RegisteredOn,
    Active,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Visit {
    Table,
    Id,
    ParticipantId,
    Code,
    Position,
    TargetDate,
    WindowStart,
    WindowEnd,
    GraceEnd,
    SseTriggered,
    FinalState,
    FinalCause,
    MissedReason,
    Questionnaires,
}

fn fk(from: (Alias, Alias)) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(Participant::Table, Participant::Id)
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Participant::Table)
                    .col(
                        ColumnDef::new(Participant::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Participant::StudyId).string().not_null())
                    .col(ColumnDef::new(Participant::SiteCode).string().not_null())
                    .col(ColumnDef::new(Participant::Language).string().not_null())
                    .col(ColumnDef::new(Participant::EnrolledOn).date().not_null())
                    .col(
                        ColumnDef::new(Participant::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("participant_study_id_key")
                    .table(Participant::Table)
                    .col(Participant::StudyId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ParticipantContact::Table)
                    .col(
                        ColumnDef::new(ParticipantContact::ParticipantId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ParticipantContact::EmailSealed)
                            .text()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ParticipantContact::PhoneSealed)
                            .text()
                            .null(),
                    )
                    .foreign_key(&mut fk((
                        Alias::new("participant_contact"),
                        Alias::new("participant_id"),
                    )))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ParticipantEvent::Table)
                    .col(
                        ColumnDef::new(ParticipantEvent::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ParticipantEvent::ParticipantId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ParticipantEvent::Kind).string().not_null())
                    .col(
                        ColumnDef::new(ParticipantEvent::EventDate)
                            .date()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ParticipantEvent::Details).text().not_null())
                    .col(ColumnDef::new(ParticipantEvent::Reason).text().not_null())
                    .col(
                        ColumnDef::new(ParticipantEvent::RecordedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ParticipantEvent::RecordedBy)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ParticipantEvent::EnteredInError)
                            .boolean()
                            .not_null(),
                    )
                    .foreign_key(&mut fk((
                        Alias::new("participant_event"),
                        Alias::new("participant_id"),
                    )))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Lesion::Table)
                    .col(ColumnDef::new(Lesion::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Lesion::ParticipantId).uuid().not_null())
                    .col(ColumnDef::new(Lesion::Location).string().not_null())
                    .col(ColumnDef::new(Lesion::Side).string().null())
                    .col(ColumnDef::new(Lesion::Labels).text().not_null())
                    .col(ColumnDef::new(Lesion::Detail).text().null())
                    .col(ColumnDef::new(Lesion::HighRiskReasons).text().not_null())
                    .col(ColumnDef::new(Lesion::IrradiationDate).date().null())
                    .col(ColumnDef::new(Lesion::RegisteredOn).date().not_null())
                    .col(ColumnDef::new(Lesion::Active).boolean().not_null())
                    .col(
                        ColumnDef::new(Lesion::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut fk((
                        Alias::new("lesion"),
                        Alias::new("participant_id"),
                    )))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Visit::Table)
                    .col(ColumnDef::new(Visit::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Visit::ParticipantId).uuid().not_null())
                    .col(ColumnDef::new(Visit::Code).string().not_null())
                    .col(ColumnDef::new(Visit::Position).integer().not_null())
                    .col(ColumnDef::new(Visit::TargetDate).date().not_null())
                    .col(
                        ColumnDef::new(Visit::WindowStart)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Visit::WindowEnd)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Visit::GraceEnd)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Visit::SseTriggered).boolean().not_null())
                    .col(ColumnDef::new(Visit::FinalState).string().null())
                    .col(ColumnDef::new(Visit::FinalCause).string().null())
                    .col(ColumnDef::new(Visit::MissedReason).text().null())
                    .col(ColumnDef::new(Visit::Questionnaires).text().not_null())
                    .foreign_key(&mut fk((Alias::new("visit"), Alias::new("participant_id"))))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("visit_participant_code_key")
                    .table(Visit::Table)
                    .col(Visit::ParticipantId)
                    .col(Visit::Code)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Visit::Table.into_iden(),
            Lesion::Table.into_iden(),
            ParticipantEvent::Table.into_iden(),
            ParticipantContact::Table.into_iden(),
            Participant::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}

//! FHIR R4 rest-hook Subscriptions (#26.3, docs/fhir.md "Subscriptions"): a subscription of a
//! registered FHIR client (criteria, endpoint, payload, its signing secret sealed with
//! EPRO_DATA_KEY, status and failure count), and the delivery outbox: one row per (subscription,
//! response event), unique, written in the submission's or amendment's own transaction.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FhirSubscription {
    Table,
    Id,
    ClientId,
    Criteria,
    Events,
    QuestionnaireUrl,
    QuestionnaireVersion,
    Endpoint,
    Payload,
    SecretSealed,
    Status,
    Error,
    Failures,
    NextAttemptAt,
    ClaimedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum FhirDelivery {
    Table,
    Id,
    SubscriptionId,
    ResponseId,
    Revision,
    Event,
    EventAt,
    Status,
    Attempts,
    DeliveredAt,
    LastError,
}

#[derive(DeriveIden)]
enum FhirClient {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FhirSubscription::Table)
                    .col(
                        ColumnDef::new(FhirSubscription::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(FhirSubscription::ClientId).uuid().not_null())
                    .col(ColumnDef::new(FhirSubscription::Criteria).text().not_null())
                    .col(ColumnDef::new(FhirSubscription::Events).text().not_null())
                    .col(ColumnDef::new(FhirSubscription::QuestionnaireUrl).text())
                    .col(ColumnDef::new(FhirSubscription::QuestionnaireVersion).string())
                    .col(ColumnDef::new(FhirSubscription::Endpoint).text().not_null())
                    .col(
                        ColumnDef::new(FhirSubscription::Payload)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FhirSubscription::SecretSealed)
                            .text()
                            .not_null(),
                    )
                    .col(ColumnDef::new(FhirSubscription::Status).string().not_null())
                    .col(ColumnDef::new(FhirSubscription::Error).text())
                    .col(
                        ColumnDef::new(FhirSubscription::Failures)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(FhirSubscription::NextAttemptAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(FhirSubscription::ClaimedAt).timestamp_with_time_zone())
                    .col(
                        ColumnDef::new(FhirSubscription::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(FhirSubscription::Table, FhirSubscription::ClientId)
                            .to(FhirClient::Table, FhirClient::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FhirDelivery::Table)
                    .col(
                        ColumnDef::new(FhirDelivery::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(FhirDelivery::SubscriptionId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(FhirDelivery::ResponseId).uuid().not_null())
                    .col(ColumnDef::new(FhirDelivery::Revision).integer().not_null())
                    .col(ColumnDef::new(FhirDelivery::Event).string().not_null())
                    .col(
                        ColumnDef::new(FhirDelivery::EventAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(FhirDelivery::Status).string().not_null())
                    .col(
                        ColumnDef::new(FhirDelivery::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(FhirDelivery::DeliveredAt).timestamp_with_time_zone())
                    .col(ColumnDef::new(FhirDelivery::LastError).text())
                    .foreign_key(
                        ForeignKey::create()
                            .from(FhirDelivery::Table, FhirDelivery::SubscriptionId)
                            .to(FhirSubscription::Table, FhirSubscription::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Exactly once per (subscription, response event): the event is the response's revision.
        manager
            .create_index(
                Index::create()
                    .name("fhir_delivery_event_once")
                    .table(FhirDelivery::Table)
                    .col(FhirDelivery::SubscriptionId)
                    .col(FhirDelivery::ResponseId)
                    .col(FhirDelivery::Revision)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The job reads a subscription's pending rows in event order; replay by event time.
        manager
            .create_index(
                Index::create()
                    .name("fhir_delivery_queue")
                    .table(FhirDelivery::Table)
                    .col(FhirDelivery::SubscriptionId)
                    .col(FhirDelivery::Status)
                    .col(FhirDelivery::EventAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            FhirDelivery::Table.into_iden(),
            FhirSubscription::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

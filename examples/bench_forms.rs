//! Benchmarks only (docs/benchmarks.md): give every participant of the configured database
//! submitted forms — the first VISITS visits × the three HERMES questionnaires (C30, BM22, the
//! NRS for one lesion) — written through `store` with a `response.submitted` audit event each,
//! one transaction per participant, so the exports have realistic rows to stream. Answers are
//! not validated and not scored: this measures exports, not entry (benches/run.sh, "ODM export").
//!
//!   EPRO_DATABASE_URL=… EPRO_STUDY_FILE=… cargo run --release --example bench_forms -- [VISITS]

use std::sync::Arc;

use chrono::Utc;
use epro::{
    audit::{self, Entry},
    clock::ManualClock,
    config::Settings,
    domain::{
        answering::{EntryMode, ResponseStatus},
        audit::{Actor, ActorKind},
    },
    startup,
    store::{self, Json, responses::AnswerRow, responses::ResponseRow},
};
use serde_json::json;
use uuid::Uuid;

const FORMS: [(&str, &str, std::ops::RangeInclusive<u32>); 3] = [
    ("eortc-qlq-c30", "3.0", 1..=30),
    ("eortc-qlq-bm22", "1.0", 31..=52),
    ("nrs-lesion-pain", "1.0.0", 0..=0),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let visits: usize = std::env::args()
        .nth(1)
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(7);
    let settings = Settings::load()?;
    let now = Utc::now();
    let app = startup::prepare(settings, Arc::new(ManualClock::new(now))).await?;
    let codes: Vec<String> = app
        .study
        .protocol
        .visits
        .iter()
        .take(visits)
        .map(|v| v.code.clone())
        .collect();
    let started = std::time::Instant::now();
    // Every participant (id, study id, language), read directly: the store's participant list is
    // not public.
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.db.get_database_backend();
    let mut people = Vec::new();
    for row in app
        .db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id, study_id, language FROM participant ORDER BY study_id",
        ))
        .await?
    {
        let id: Uuid = row.try_get("", "id")?;
        let study_id: String = row.try_get("", "study_id")?;
        let language: String = row.try_get("", "language")?;
        people.push((id, study_id, language));
    }
    let mut forms = 0usize;
    for (participant_id, study_id, language) in &people {
        let lesion = Uuid::new_v4().to_string();
        let txn = store::begin_write(&app.db).await?;
        for visit in &codes {
            for (key, version, items) in FORMS {
                let id = Uuid::new_v4();
                store::responses::insert(
                    &txn,
                    ResponseRow {
                        id,
                        participant_id: *participant_id,
                        visit_code: visit.clone(),
                        questionnaire_key: key.into(),
                        questionnaire_version: version.into(),
                        language: language.clone(),
                        wording_sha256: String::new(),
                        lesions: Json(Vec::new()),
                        status: ResponseStatus::Completed,
                        revision: 1,
                        started_at: now,
                        submitted_at: Some(now),
                        client_utc_offset_minutes: None,
                        late: false,
                        mode: Some(EntryMode::SelfReport),
                        idempotency_key: None,
                        request_sha256: None,
                        completed_on: None,
                        entry_reason: None,
                        flags: Json(Vec::new()),
                        days_from_sse: None,
                        device_completed_at: None,
                        synced_late: false,
                        quarantined_at: None,
                    },
                )
                .await?;
                let answer = |item: String, lesion: &str| AnswerRow {
                    response_id: id,
                    item,
                    lesion: lesion.to_string(),
                    value: Json(json!(2)),
                    mode: EntryMode::SelfReport,
                    actor_kind: "participant".into(),
                    actor_id: study_id.clone(),
                    answered_at: now,
                };
                let rows: Vec<AnswerRow> = if key == "nrs-lesion-pain" {
                    vec![answer("worst_pain".into(), &lesion)]
                } else {
                    items.map(|n| answer(format!("q{n}"), "")).collect()
                };
                store::responses::write_answers(&txn, id, rows, Vec::new()).await?;
                let actor = Actor {
                    kind: ActorKind::Participant,
                    id: Some(study_id.clone()),
                };
                audit::record(
                    &txn,
                    &app.keys.audit,
                    now,
                    Entry::new(actor, "response.submitted", "response").entity(id),
                )
                .await?;
                forms += 1;
            }
        }
        txn.commit().await?;
    }
    println!(
        "seeded {forms} forms for {} participants in {:?}",
        people.len(),
        started.elapsed()
    );
    Ok(())
}

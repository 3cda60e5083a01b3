//! GET /api/v1/completion: the site dashboard's data as JSON, for sites that script their
//! follow-up lists. Site-scoped like every staff read.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};

use super::{ApiError, StaffToken, Tag};
use crate::{
    answering::completion::{self, Filter},
    app::App,
};

pub struct CompletionApi {
    pub app: Arc<App>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LastReminderOut {
    pub kind: String,
    /// pending, sending, sent, skipped, cancelled or failed.
    pub status: String,
    /// When it was sent, or is (was) due.
    pub at: DateTime<Utc>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CellOut {
    pub visit: String,
    /// upcoming, open, late, completed, missed or not_applicable.
    pub state: String,
    pub target: NaiveDate,
    pub window_start: DateTime<Utc>,
    /// Exclusive; absent while the baseline waits for randomization.
    pub window_end: Option<DateTime<Utc>>,
    pub grace_end: Option<DateTime<Utc>>,
    /// A draft or a submission exists for this visit.
    pub started: bool,
    pub missed_reason: Option<String>,
    pub last_reminder: Option<LastReminderOut>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RowOut {
    pub study_id: String,
    pub site: String,
    pub status: String,
    pub visits: Vec<CellOut>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CountOut {
    pub visit: String,
    /// Completed + missed + late (windows that have closed, or completed early).
    pub expected: u32,
    pub received: u32,
    pub missed: u32,
    /// Open and not yet completed: not yet counted as expected.
    pub pending: u32,
    pub missed_reasons: BTreeMap<String, u32>,
    /// received / expected; absent while nothing is expected.
    pub rate: Option<f64>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CompletionOut {
    pub participants: Vec<RowOut>,
    pub counts: Vec<CountOut>,
}

#[OpenApi(tag = "Tag::Participants")]
impl CompletionApi {
    /// Completion per participant and visit on your sites, with per-visit counts.
    #[oai(path = "/v1/completion", method = "get")]
    async fn completion(
        &self,
        token: StaffToken,
        site: Query<Option<String>>,
        visit: Query<Option<String>>,
        state: Query<Option<String>>,
    ) -> Result<Json<CompletionOut>, ApiError> {
        let actor = token.actor(&self.app).await?;
        let filter = Filter {
            site: site.0,
            visit: visit.0,
            state: state.0,
        };
        let c = completion::overview(&self.app, &actor, &filter).await?;
        Ok(Json(CompletionOut {
            participants: c
                .rows
                .into_iter()
                .map(|r| RowOut {
                    study_id: r.study_id,
                    site: r.site,
                    status: r.status,
                    visits: r
                        .cells
                        .into_iter()
                        .map(|c| CellOut {
                            visit: c.visit,
                            state: c.state.as_str().into(),
                            target: c.window.target,
                            window_start: c.window.start,
                            window_end: c.window.end,
                            grace_end: c.window.grace_end,
                            started: c.started,
                            missed_reason: c.missed_reason,
                            last_reminder: c.last_reminder.map(|l| LastReminderOut {
                                kind: l.kind,
                                status: l.status.to_string(),
                                at: l.at,
                            }),
                        })
                        .collect(),
                })
                .collect(),
            counts: c
                .counts
                .into_iter()
                .map(|n| CountOut {
                    visit: n.visit,
                    expected: n.expected,
                    received: n.received,
                    missed: n.missed,
                    pending: n.pending,
                    missed_reasons: n.missed_reasons,
                    rate: n.rate,
                })
                .collect(),
        }))
    }
}

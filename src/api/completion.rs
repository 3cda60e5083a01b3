//! GET /api/v1/completion: the site dashboard's data as JSON, for sites that script their
//! follow-up lists. Site-scoped like every staff read.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Query};
use serde::{Serialize, Serializer};

use super::{ApiError, StaffToken, Tag, questionnaires::JsonBytes};
use crate::{
    answering::completion::{self, Filter},
    app::App,
};

pub struct CompletionApi {
    pub app: Arc<App>,
}

// The response is serialized with serde straight to bytes (2,300 participants × 7 visits is
// ~1.6 MB: building poem-openapi's JSON value tree first doubled the dashboard's time,
// docs/benchmarks.md); instants are written as poem-openapi writes them (`to_rfc3339`), and
// `serde_and_openapi_write_the_same_json` keeps the two identical.
fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339())
}

fn rfc3339_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Object, Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct LastReminderOut {
    pub kind: String,
    /// pending, sending, sent, skipped, cancelled or failed.
    pub status: String,
    /// When it was sent, or is (was) due.
    #[serde(serialize_with = "rfc3339")]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Object, Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct CellOut {
    pub visit: String,
    /// upcoming, open, late, completed, partial, missed, not_applicable or not_expected.
    pub state: String,
    pub target: NaiveDate,
    #[serde(serialize_with = "rfc3339")]
    pub window_start: DateTime<Utc>,
    /// Exclusive; absent while the baseline waits for randomization.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339_opt"
    )]
    pub window_end: Option<DateTime<Utc>>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339_opt"
    )]
    pub grace_end: Option<DateTime<Utc>>,
    /// A draft or a submission exists for this visit.
    pub started: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reminder: Option<LastReminderOut>,
}

#[derive(Debug, Object, Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct RowOut {
    pub study_id: String,
    pub site: String,
    pub status: String,
    pub visits: Vec<CellOut>,
}

#[derive(Debug, Object, Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct CountOut {
    pub visit: String,
    /// received + partial + missed + awaited: visits whose window has closed (or that were
    /// completed early). Not applicable and not expected visits are outside it.
    pub expected: u32,
    /// Completed visits: every questionnaire received (in the window, in grace, or entered
    /// late with a reason; each form says whether it was late).
    pub received: u32,
    /// Closed with some questionnaires received.
    pub partial: u32,
    /// Closed with no questionnaire received.
    pub missed: u32,
    /// Window closed, grace period running: expected, still answerable.
    pub awaited: u32,
    /// Open and not yet completed: not yet counted as expected.
    pub pending: u32,
    /// By reason code; `no_reason` when staff have not said why.
    pub missed_reasons: BTreeMap<String, u32>,
    pub not_applicable: u32,
    /// Windows that closed before the participant was registered in epro.
    pub not_expected: u32,
    /// received / expected; absent while nothing is expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

/// CONSORT-PRO: what became of one instrument at one visit, in one arm.
#[derive(Debug, Object, Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct FormCountOut {
    pub visit: String,
    /// Questionnaire key, e.g. eortc-qlq-c30.
    pub instrument: String,
    /// Arm code; absent for participants without a recorded arm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
    /// received + missed + awaited: forms of participants on study at the window's end whose
    /// window has closed (or that came in earlier).
    pub expected: u32,
    pub received: u32,
    pub received_in_window: u32,
    /// Filled in after the window's last day (in grace, or later with a reason).
    pub received_late: u32,
    /// Filled in before the window opened (paper, entered with a reason; flagged
    /// `outside_window`): neither in the window nor late.
    pub received_early: u32,
    /// Received forms whose scoring yields a score.
    pub scorable: u32,
    pub missed: u32,
    /// By reason code; `no_reason` when staff have not said why (the site's to-do).
    pub missed_reasons: BTreeMap<String, u32>,
    /// Window closed, grace period running: expected, still answerable.
    pub awaited: u32,
    /// Window open, not yet received: not yet expected.
    pub pending: u32,
    /// By cause: death, withdrawal, pro_discontinued, sse.
    pub not_applicable: BTreeMap<String, u32>,
    /// Window closed before the participant was registered in epro.
    pub not_expected: u32,
    /// received / expected; absent while nothing is expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

/// A questionnaire missed without a reason: the site should record why.
#[derive(Debug, Object, Serialize)]
pub struct TodoOut {
    pub study_id: String,
    pub site: String,
    pub visit: String,
    /// key@version.
    pub questionnaire: String,
}

#[derive(Debug, Object, Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct CompletionOut {
    pub participants: Vec<RowOut>,
    /// Per visit.
    pub counts: Vec<CountOut>,
    /// Per visit × instrument × arm (CONSORT-PRO).
    pub forms: Vec<FormCountOut>,
    /// Questionnaires missed without a reason.
    pub todo: Vec<TodoOut>,
}

fn form_count_out(f: completion::FormCount) -> FormCountOut {
    let n = &f.count;
    FormCountOut {
        received: n.received(),
        rate: n.rate(),
        expected: n.expected,
        received_in_window: n.received_in_window,
        received_late: n.received_late,
        received_early: n.received_early,
        scorable: n.scorable,
        missed: n.missed,
        missed_reasons: n.missed_reasons.clone(),
        awaited: n.awaited,
        pending: n.pending,
        not_applicable: n.not_applicable.clone(),
        not_expected: n.not_expected,
        visit: f.visit,
        instrument: f.instrument,
        arm: f.arm,
    }
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
    ) -> Result<CompletionResponse, ApiError> {
        let actor = token.actor(&self.app).await?;
        let filter = Filter {
            site: site.0,
            visit: visit.0,
            state: state.0,
        };
        let body = completion::overview_rendered(&self.app, &actor, &filter, |c| {
            serde_json::to_vec(&completion_out(c))
                .map(bytes::Bytes::from)
                .map_err(|e| crate::error::Error::Internal(e.to_string()))
        })
        .await?;
        Ok(CompletionResponse::Ok(JsonBytes::new(body)))
    }
}

#[derive(ApiResponse)]
pub enum CompletionResponse {
    /// Completion per participant and visit, with the counts.
    #[oai(status = 200)]
    Ok(JsonBytes<CompletionOut>),
}

fn completion_out(c: completion::Completion) -> CompletionOut {
    {
        CompletionOut {
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
                    partial: n.partial,
                    missed: n.missed,
                    awaited: n.awaited,
                    pending: n.pending,
                    missed_reasons: n.missed_reasons,
                    not_applicable: n.not_applicable,
                    not_expected: n.not_expected,
                    rate: n.rate,
                })
                .collect(),
            forms: c.forms.into_iter().map(form_count_out).collect(),
            todo: c
                .todo
                .into_iter()
                .map(|t| TodoOut {
                    study_id: t.study_id,
                    site: t.site,
                    visit: t.visit,
                    questionnaire: t.questionnaire,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use poem_openapi::types::ToJSON;

    /// The serde bytes the endpoint sends equal poem-openapi's JSON for the documented schema.
    #[test]
    fn serde_and_openapi_write_the_same_json() {
        let at = Utc
            .with_ymd_and_hms(2026, 3, 1, 9, 30, 0)
            .single()
            .expect("t");
        let cell = |end: Option<DateTime<Utc>>, reminder: bool| CellOut {
            visit: "M1".into(),
            state: "open".into(),
            target: at.date_naive(),
            window_start: at,
            window_end: end,
            grace_end: end,
            started: true,
            missed_reason: end.map(|_| "declined".into()),
            last_reminder: reminder.then(|| LastReminderOut {
                kind: "window_open".into(),
                status: "sent".into(),
                at,
            }),
        };
        let out = CompletionOut {
            participants: vec![RowOut {
                study_id: "HERMES-ZAS-001".into(),
                site: "ZAS".into(),
                status: "on_study".into(),
                visits: vec![cell(None, false), cell(Some(at), true)],
            }],
            counts: vec![CountOut {
                visit: "M1".into(),
                expected: 2,
                received: 1,
                partial: 0,
                missed: 1,
                awaited: 0,
                pending: 0,
                missed_reasons: [("declined".to_string(), 1)].into(),
                not_applicable: 0,
                not_expected: 0,
                rate: Some(0.5),
            }],
            forms: vec![],
            todo: vec![TodoOut {
                study_id: "HERMES-ZAS-001".into(),
                site: "ZAS".into(),
                visit: "M1".into(),
                questionnaire: "eortc-qlq-c30@3.0".into(),
            }],
        };
        let serde = serde_json::to_value(&out).expect("serde");
        assert_eq!(Some(serde), out.to_json());
    }
}

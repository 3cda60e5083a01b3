//! The nurse's work list ("call today"): whom to call, why (with the numbers), and the call
//! log (reached / not reached / note, audited) that takes a participant off today's list.

use crate::domain::problem::Problem;
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::completion::{Filter, overview};
use crate::{
    app::App,
    audit::{self, Entry},
    auth::{self, StaffActor},
    domain::reminders::ReminderStatus,
    domain::{
        permissions::Action,
        schedule::{VisitState, local_date},
    },
    error::{Error, Result},
    participants, store,
};

/// Why a participant is on the "call today" list, with the numbers behind it.
#[derive(Debug, Clone)]
pub struct Call {
    pub study_id: String,
    pub site: String,
    /// not_started_closing, late, reminder_failed, assess_for_sse, missed_no_reason, no_pin or
    /// no_email.
    pub reason: &'static str,
    pub visit: Option<String>,
    /// The first questionnaire of the visit not received (where a teleconsultation starts).
    pub form: Option<String>,
    /// "Missed without a reason": how many of the visit's questionnaires.
    pub forms_missed: Option<usize>,
    /// The last day to answer: the window's (closing) or the grace period's (late).
    pub until: Option<NaiveDate>,
    /// The failed reminder's kind.
    pub reminder_kind: Option<String>,
    /// "Assess for SSE": the lesion's first and latest worst pain, and its label.
    pub pain: Option<(i64, i64)>,
    pub lesion: Option<String>,
    /// The flagged lesion's id (part of the flag's key; not shown).
    lesion_id: Option<String>,
    /// For the participant's own site staff only.
    pub phone: Option<String>,
    /// The participant's latest logged call, if any.
    pub last_call: Option<LoggedCall>,
}

impl Call {
    fn new(study_id: &str, site: &str, reason: &'static str, visit: Option<String>) -> Self {
        Self {
            study_id: study_id.to_string(),
            site: site.to_string(),
            reason,
            visit,
            form: None,
            forms_missed: None,
            until: None,
            reminder_kind: None,
            pain: None,
            lesion: None,
            lesion_id: None,
            phone: None,
            last_call: None,
        }
    }

    /// An "assess for SSE" pain flag of one lesion: its first and latest worst pain, at the
    /// latest reading's visit.
    fn flag(study_id: &str, site: &str, lesion: &crate::answering::pain::LesionPain) -> Self {
        let mut call = Call::new(
            study_id,
            site,
            "assess_for_sse",
            lesion.points.last().map(|p| p.visit.clone()),
        );
        call.pain = lesion
            .points
            .first()
            .zip(lesion.points.last())
            .map(|(a, b)| (a.value, b.value));
        call.lesion_id = Some(lesion.lesion.clone());
        call
    }

    /// What this reason is, independent of the reader's language (the call log's fingerprint).
    /// A pain flag is named by its lesion, visit and readings: a new reading is a new flag.
    fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}|{:?}|{}|{}",
            self.reason,
            self.visit.as_deref().unwrap_or(""),
            self.until.map(|d| d.to_string()).unwrap_or_default(),
            self.reminder_kind.as_deref().unwrap_or(""),
            self.pain,
            self.lesion_id.as_deref().unwrap_or(""),
            self.forms_missed.unwrap_or(0),
        )
    }
}

/// A call made from the list.
#[derive(Debug, Clone)]
pub struct LoggedCall {
    pub at: DateTime<Utc>,
    /// reached or not_reached
    pub outcome: String,
    pub note: Option<String>,
}

/// A call's outcomes. `reached_no_sse`: reached, and the "assess for SSE" pain flags on the
/// list were assessed as no SSE: those flags are closed (they come back only with a new
/// reading). `not_reached` leaves the participant on the list.
pub const OUTCOMES: [&str; 3] = ["reached", "reached_no_sse", "not_reached"];

/// The outcome that closes the pain flags a call was about.
pub const NO_SSE: &str = "reached_no_sse";

/// Whether a call with this outcome takes the participant off today's list (someone was
/// reached); a call that reached no one leaves them on it, to try again.
fn reached(outcome: &str) -> bool {
    outcome != "not_reached"
}

/// One participant's reasons to call, as stored with a call: one key a line, sorted.
fn reason_keys<'c>(calls: impl Iterator<Item = &'c Call>) -> String {
    let mut keys: Vec<String> = calls.map(Call::key).collect();
    keys.sort();
    keys.dedup();
    keys.join("\n")
}

/// Whether a participant called on `called_on` with `logged` reasons and `outcome` stays off
/// the list on `today` with `current` reasons: someone was reached, the same day, and no reason
/// appeared that was not there at the call.
fn stays_off(
    called_on: NaiveDate,
    today: NaiveDate,
    outcome: &str,
    logged: &str,
    current: &str,
) -> bool {
    let logged: std::collections::HashSet<&str> = logged.lines().collect();
    reached(outcome) && called_on == today && current.lines().all(|k| logged.contains(k))
}

/// A pain flag as a call closes it: the participant and the flag's key.
pub(crate) fn flag_key(study_id: &str, lesion: &crate::answering::pain::LesionPain) -> String {
    format!("{study_id}\n{}", Call::flag(study_id, "", lesion).key())
}

/// The pain flags (`flag_key`) of these participants (id, study id) that a call assessed as no
/// SSE: closed, on Call today and in the digest, until a new reading makes a new flag.
pub(crate) async fn assessed_flags(
    app: &App,
    people: &[(uuid::Uuid, String)],
) -> Result<std::collections::HashSet<String>> {
    let ids: Vec<_> = people.iter().map(|(id, _)| *id).collect();
    let logged = store::calls::reasons_logged_as(&app.db, &ids, NO_SSE).await?;
    Ok(people
        .iter()
        .flat_map(|(id, study_id)| {
            logged
                .get(id)
                .into_iter()
                .flatten()
                .filter(|k| k.starts_with("assess_for_sse|"))
                .map(move |k| format!("{study_id}\n{k}"))
        })
        .collect())
}

/// Days before a window's end from which an unstarted open visit is worth a call.
pub const CLOSING_DAYS: i64 = 3;

/// Whom to call today: open visits not started near their end, late visits, failed reminders,
/// open visits that no reminder can reach (no PIN, no email), forms missed without a reason
/// (the dashboard's to-do) and "assess for SSE" pain flags not yet assessed as no SSE, on the
/// actor's sites. A participant reached today is left out until tomorrow, or until a reason
/// appears that was not there at the call; one not reached stays on the list.
pub async fn call_today(
    app: &App,
    actor: &StaffActor,
    site: Option<String>,
    lang: &str,
) -> Result<Vec<Call>> {
    let now = app.clock.now();
    let c = overview(
        app,
        actor,
        &Filter {
            site: site.clone(),
            ..Default::default()
        },
    )
    .await?;
    let flags = crate::answering::pain::flags(app, actor).await?;
    let people =
        store::participants::list(&app.db, auth::site_scope(actor, site.clone()).as_deref())
            .await?;
    let ids: Vec<_> = people.iter().map(|p| p.id).collect();
    let with_pin = store::access::with_pin(&app.db, &ids).await?;
    let no_pin: std::collections::HashSet<&str> = people
        .iter()
        .filter(|p| !with_pin.contains(&p.id))
        .map(|p| p.study_id.as_str())
        .collect();
    // Open visits no reminder can reach (the reason keeps its code, `no_email`).
    let no_email = store::participants::unreachable(&app.db, &ids).await?;
    let tz = app.study.time_zone;
    let last_day = |end: DateTime<Utc>| local_date(tz, end - Duration::seconds(1));
    let mut calls = Vec::new();
    for row in &c.rows {
        let (id, site) = (row.study_id.as_str(), row.site.as_str());
        // Open visits that no reminder can reach.
        if let Some(cell) = row
            .cells
            .iter()
            .find(|c| matches!(c.state, VisitState::Open | VisitState::Late))
        {
            if no_pin.contains(id) {
                calls.push(Call::new(id, site, "no_pin", Some(cell.visit.clone())));
            }
            if people
                .iter()
                .any(|p| p.study_id == id && no_email.contains(&p.id))
            {
                calls.push(Call::new(id, site, "no_email", Some(cell.visit.clone())));
            }
        }
        for cell in &row.cells {
            match cell.state {
                VisitState::Open
                    if !cell.started
                        && cell
                            .window
                            .end
                            .is_some_and(|e| e - now <= Duration::days(CLOSING_DAYS)) =>
                {
                    let mut call =
                        Call::new(id, site, "not_started_closing", Some(cell.visit.clone()));
                    call.until = cell.window.end.map(last_day);
                    calls.push(call);
                }
                VisitState::Late => {
                    let mut call = Call::new(id, site, "late", Some(cell.visit.clone()));
                    call.until = cell.window.grace_end.map(last_day);
                    calls.push(call);
                }
                _ => {}
            }
            if let Some(r) = &cell.last_reminder
                && r.status == ReminderStatus::Failed
                && !matches!(cell.state, VisitState::Completed)
            {
                let mut call = Call::new(id, site, "reminder_failed", Some(cell.visit.clone()));
                call.reminder_kind = Some(r.kind.clone());
                calls.push(call);
            }
        }
        // Forms missed without a reason: the site's to-do (record why, or enter them late).
        for cell in &row.cells {
            let n = c
                .todo
                .iter()
                .filter(|t| t.study_id == id && t.visit == cell.visit)
                .count();
            if n > 0 {
                let mut call = Call::new(id, site, "missed_no_reason", Some(cell.visit.clone()));
                call.forms_missed = Some(n);
                calls.push(call);
            }
        }
        for (study_id, _, lesion) in &flags {
            if study_id == id {
                let mut call = Call::flag(id, site, lesion);
                call.lesion = Some(crate::answering::pain::label_of(lesion, lang));
                calls.push(call);
            }
        }
        // Where a teleconsultation about a visit starts: its first form not received.
        for call in calls.iter_mut().filter(|c| c.study_id == id) {
            call.form = call.visit.as_ref().and_then(|v| {
                row.cells
                    .iter()
                    .find(|c| c.visit == *v)
                    .and_then(|c| c.unreceived.first().cloned())
            });
        }
    }
    // Pain flags assessed as no SSE on a call are closed.
    let people_ids: Vec<(uuid::Uuid, String)> =
        people.iter().map(|p| (p.id, p.study_id.clone())).collect();
    let closed = assessed_flags(app, &people_ids).await?;
    calls.retain(|call| {
        call.reason != "assess_for_sse"
            || !closed.contains(&format!("{}\n{}", call.study_id, call.key()))
    });
    // Called today, and nothing new since: not on today's list.
    let today = local_date(tz, now);
    let logs = store::calls::latest(&app.db, &ids).await?;
    let mut last: BTreeMap<String, LoggedCall> = BTreeMap::new();
    let mut hidden = std::collections::HashSet::new();
    for p in &people {
        if let Some(log) = logs.get(&p.id) {
            let current = reason_keys(calls.iter().filter(|c| c.study_id == p.study_id));
            let called_on = local_date(tz, log.logged_at);
            if stays_off(called_on, today, &log.outcome, &log.reasons, &current) {
                hidden.insert(p.study_id.clone());
            }
            last.insert(
                p.study_id.clone(),
                LoggedCall {
                    at: log.logged_at,
                    outcome: log.outcome.clone(),
                    note: log.note.clone(),
                },
            );
        }
    }
    calls.retain(|c| !hidden.contains(&c.study_id));
    for call in &mut calls {
        call.last_call = last.get(&call.study_id).cloned();
    }
    // The phone number, only where the actor may see this participant's contact details.
    let mut phones: BTreeMap<String, Option<String>> = BTreeMap::new();
    for call in &mut calls {
        if !phones.contains_key(&call.study_id) {
            let phone =
                if auth::authorize(actor, Action::ParticipantContact, Some(&call.site)).is_ok() {
                    participants::get(app, actor, &call.study_id).await?.phone
                } else {
                    None
                };
            phones.insert(call.study_id.clone(), phone);
        }
        call.phone = phones.get(&call.study_id).cloned().flatten();
    }
    Ok(calls)
}

/// Log a call to a participant: its outcome (reached / not reached) and a note, in the audit
/// trail. The participant leaves today's list until tomorrow, or until something new.
pub async fn log_call(
    app: &App,
    actor: &StaffActor,
    study_id: &str,
    outcome: &str,
    note: Option<&str>,
) -> Result<()> {
    let p = participants::for_staff(&app.db, actor, Action::ParticipantContact, study_id, false)
        .await?;
    if !OUTCOMES.contains(&outcome) {
        return Err(Error::invalid(
            "outcome",
            Problem::NotOneOf {
                given: outcome.to_string(),
                allowed: OUTCOMES.iter().map(|o| o.to_string()).collect(),
            },
        ));
    }
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 2000) {
        return Err(Error::invalid("note", Problem::TooLong { max: 2000 }));
    }
    // What the call was about: the reasons on the list now.
    let current = call_today(app, actor, Some(p.site_code.clone()), "en").await?;
    let reasons = reason_keys(current.iter().filter(|c| c.study_id == study_id));
    let now = app.clock.now();
    let txn = store::begin_write(&app.db).await?;
    store::calls::insert(
        &txn,
        store::calls::CallRow {
            id: uuid::Uuid::new_v4(),
            participant_id: p.id,
            staff_id: actor.id,
            outcome: outcome.to_string(),
            note: note.map(String::from),
            reasons,
            logged_at: now,
        },
    )
    .await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(
            actor.audit_actor(),
            "participant.call_logged",
            "participant",
        )
        .entity(study_id)
        .after(serde_json::json!({ "outcome": outcome, "note": note })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reached_participant_stays_off_the_list_until_tomorrow_or_something_new() {
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).expect("day");
        let late = "late|M1|2026-12-04||None||0";
        let no_pin = "no_pin|M1|||None||0";
        let pain = "assess_for_sse|M1|||Some((3, 6))|l1|0";
        let both = format!("{late}\n{no_pin}");
        let (r, nr, ns) = ("reached", "not_reached", NO_SSE);
        for (called_on, today, outcome, logged, current, off, why) in [
            (day(2), day(2), r, late, late, true, "same day, same reason"),
            (day(2), day(3), r, late, late, false, "the next day"),
            (
                day(2),
                day(2),
                r,
                both.as_str(),
                late,
                true,
                "a reason gone is nothing new",
            ),
            (
                day(2),
                day(2),
                r,
                late,
                both.as_str(),
                false,
                "a new reason the same day",
            ),
            (
                day(2),
                day(2),
                r,
                late,
                pain,
                false,
                "a pain flag since the call",
            ),
            (
                day(2),
                day(2),
                r,
                late,
                "",
                true,
                "nothing left to call about",
            ),
            (
                day(2),
                day(2),
                nr,
                late,
                late,
                false,
                "not reached: try again",
            ),
            (day(2), day(2), ns, pain, pain, true, "reached, no SSE"),
        ] {
            assert_eq!(
                stays_off(called_on, today, outcome, logged, current),
                off,
                "{why}"
            );
        }
    }
}

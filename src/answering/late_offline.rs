//! A form finished offline that reaches the server after its visit closed (#28.4;
//! docs/trial-rules.md, "Answers sent from a phone that was offline"): taken as on time by the
//! phone's plausible completion time (`synced_late`), or refused and its answers kept as a
//! quarantined draft the site sees. The rule itself is `domain::answering::offline_completion`.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Entrant, as_answers, definition, lesion_ids, merge, start_or_load, write_changes};
use crate::{
    app::App,
    audit::{self, Entry},
    domain::answering::{self as entry, EntryMode, OfflineRefusal, ResponseStatus},
    domain::audit::format_at,
    domain::questionnaire::answers::{self, Answer},
    error::{Code, Error, Result},
    participants::VisitView,
    store::{self, participants::ParticipantRow},
};

/// What a submission's timing comes to once the phone's completion time is weighed.
#[derive(Debug)]
pub(super) enum Decision {
    /// Taken: `late` (in grace), the phone's time when plausible, `synced_late` when that time
    /// made a form received after the visit closed on time.
    Take {
        late: bool,
        device: Option<DateTime<Utc>>,
        synced_late: bool,
    },
    /// Refused by the phone's time: keep the answers as a quarantined draft.
    Quarantine {
        device: DateTime<Utc>,
        why: OfflineRefusal,
    },
    Refuse(Error),
}

/// Weigh the phone's completion time (`device`) against the visit's answer for this entry
/// (`allowed`, `Ok(late)`), the server's record of the form being opened and its receipt.
pub(super) fn decide(
    v: &VisitView,
    mode: EntryMode,
    device: Option<DateTime<Utc>>,
    opened: Option<DateTime<Utc>>,
    received: DateTime<Utc>,
    allowed: Result<bool>,
) -> Decision {
    match (allowed, device) {
        (Ok(late), device) => Decision::Take {
            late,
            // A time that cannot be true is not recorded (the form is taken as any other).
            device: device.filter(|d| entry::plausible(*d, opened, received).is_ok()),
            synced_late: false,
        },
        (Err(_), Some(d)) if entry::judged_by_device(v.state, mode) => {
            match entry::offline_completion(&v.window, d, opened, received) {
                Ok(late) => Decision::Take {
                    late,
                    device: Some(d),
                    synced_late: true,
                },
                Err(why) => Decision::Quarantine { device: d, why },
            }
        }
        (Err(e), _) => Decision::Refuse(e),
    }
}

/// The flags of a form taken as on time by the phone's time: it was finished inside the window,
/// so never `outside_window` (the visit's closed state says otherwise).
pub(super) fn flags_in_window(
    (flags, days_from_sse): (Vec<entry::ResponseFlag>, Option<i32>),
) -> (Vec<entry::ResponseFlag>, Option<i32>) {
    let flags = flags
        .into_iter()
        .filter(|f| *f != entry::ResponseFlag::OutsideWindow)
        .collect();
    (flags, days_from_sse)
}

/// The refusal the caller sees: the window, both times and why, as JSON `code`
/// `offline_completion_refused` (the page shows `code_offline_completion_refused`).
fn refusal(
    v: &VisitView,
    device: DateTime<Utc>,
    received: DateTime<Utc>,
    why: OfflineRefusal,
) -> Error {
    let until = v.window.grace_end.or(v.window.end).map(format_at);
    let reason = match why {
        OfflineRefusal::AfterReceipt => "the phone's time is later than the server received it",
        OfflineRefusal::BeforeOpened => {
            "the phone's time is before the server's record of the form being opened"
        }
        OfflineRefusal::OutsideWindow => {
            "the phone's time is outside the window and its grace period"
        }
    };
    Error::Conflict {
        code: Code::OfflineCompletionRefused,
        message: format!(
            "visit {} (window {} to {}) closed before this form arrived: it was finished at {} by \
             the phone's clock and received at {}, and {reason}; its answers are kept as a draft \
             the site sees",
            v.code,
            format_at(v.window.start),
            until.unwrap_or_else(|| "open".into()),
            format_at(device),
            format_at(received),
        ),
    }
}

/// Keep a refused late offline submission as a quarantined draft: its answers merged into the
/// draft (as a save would), the phone's time and the receipt recorded, one audit event; then
/// the refusal. A resend of the same refusal changes nothing.
#[allow(clippy::too_many_arguments)]
pub(super) async fn quarantine(
    app: &App,
    p: &ParticipantRow,
    who: &Entrant,
    v: &VisitView,
    (key, version): (&str, &str),
    incoming: &[Answer],
    (device, why): (DateTime<Utc>, OfflineRefusal),
    now: DateTime<Utc>,
) -> Result<Error> {
    let txn = store::begin_write(&app.db).await?;
    let (mut r, _) = start_or_load(&txn, app, p, &v.code, key, version, now).await?;
    if r.status != ResponseStatus::Draft {
        return Ok(super::submit::window_closed(v));
    }
    let def = definition(app, &r)?;
    // Answers that do not fit the form are not kept (the draft keeps what it has).
    let changes = if answers::validate(def, incoming, Some(&lesion_ids(&r))).is_ok() {
        let current = as_answers(&store::responses::answers(&txn, r.id).await?);
        merge(def, &current, incoming).1
    } else {
        Vec::new()
    };
    if r.quarantined_at.is_some() && r.device_completed_at == Some(device) && changes.is_empty() {
        return Ok(refusal(v, device, now, why));
    }
    write_changes(&txn, &r, &changes, who, now).await?;
    r.quarantined_at = r.quarantined_at.or(Some(now));
    r.device_completed_at = Some(device);
    r.revision += 1;
    store::responses::update(&txn, r.clone()).await?;
    audit::record(
        &txn,
        &app.keys.audit,
        now,
        Entry::new(who.actor.clone(), "response.quarantined", "response")
            .entity(r.id)
            .after(json!({
                "participant": p.study_id, "visit": v.code,
                "questionnaire": format!("{key}@{}", r.questionnaire_version),
                "revision": r.revision, "device_completed_at": format_at(device),
                "received_at": format_at(now), "refusal": why.as_str(), "changes": changes,
            })),
    )
    .await?;
    txn.commit().await?;
    Ok(refusal(v, device, now, why))
}

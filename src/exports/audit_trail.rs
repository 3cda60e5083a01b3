//! audit.csv: the audit trail as staff may see it.

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, stream};

use super::{ByteStream, Dialect, TextColumns, csv_bytes, csv_start};
use crate::{
    app::App,
    auth::{self, StaffActor},
    domain::permissions::{Access, Action, access},
    error::{Error, Result},
    store::{self},
};

pub const AUDIT_COLUMNS: [&str; 12] = [
    "seq",
    "at",
    "actor_kind",
    "actor_id",
    "action",
    "entity_type",
    "entity_id",
    "before",
    "after",
    "reason",
    "prev_hash",
    "hash",
];

/// The whole audit trail (data managers: it spans every site).
pub async fn audit_csv(app: Arc<App>, actor: &StaffActor, dialect: Dialect) -> Result<ByteStream> {
    auth::authorize(actor, Action::ResponseRead, None)?;
    if access(actor.role, Action::ResponseRead) != Access::AllSites {
        return Err(Error::Forbidden(Action::ResponseRead));
    }
    let head = csv_start(
        dialect,
        &[AUDIT_COLUMNS.iter().map(|s| s.to_string()).collect()],
    );
    let text = TextColumns::of(&AUDIT_COLUMNS);
    // Every event committed before the export is in it: number those not sequenced yet.
    crate::jobs::sequencer::pass(&app, true).await?;
    let pages = stream::unfold(Some(0i64), move |after| {
        let (app, text) = (app.clone(), text.clone());
        async move {
            let after = after?;
            match store::audit::page(&app.db, after, 500).await {
                Ok(page) if page.is_empty() => None,
                Ok(page) => {
                    let next = page.last().map(|e| e.content.seq);
                    let rows: Vec<Vec<String>> = page
                        .into_iter()
                        .map(|e| {
                            let c = e.content;
                            vec![
                                c.seq.to_string(),
                                c.at,
                                c.actor_kind,
                                c.actor_id.unwrap_or_default(),
                                c.action,
                                c.entity_type,
                                c.entity_id.unwrap_or_default(),
                                c.before.unwrap_or_default(),
                                c.after.unwrap_or_default(),
                                c.reason.unwrap_or_default(),
                                e.prev_hash,
                                e.hash,
                            ]
                        })
                        .collect();
                    Some((Ok(csv_bytes(dialect, &text, &rows)), next))
                }
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    });
    Ok(Box::pin(
        stream::once(async move { Ok(Bytes::from(head)) }).chain(pages),
    ))
}

//! `epro scores recompute`: a new scoring file applied to the responses that lack it.

use serde_json::json;

use super::{as_answers, invalid, score_row};
use crate::{
    app::App,
    audit::{self, Entry},
    domain::{
        audit::Actor,
        questionnaire::{
            answers::{self},
            scoring::{self},
        },
    },
    error::{Error, Result},
    questionnaires::{self},
    store::{self},
};

/// Apply a scoring file to every submitted response of its questionnaire version that does not
/// have it yet (audited per response). Returns how many responses were scored.
pub async fn recompute_scores(app: &App, scoring_id: &str) -> Result<usize> {
    let parts: Vec<&str> = scoring_id.split('/').collect();
    let [key, version, file] = parts.as_slice() else {
        return Err(Error::operator(
            "--scoring",
            format!("{scoring_id:?} is not <key>/<version>/scoring-<n>"),
        ));
    };
    let v = questionnaires::find(&app.library, key, version)?;
    let n: u32 = file
        .strip_prefix("scoring-")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::operator("--scoring", format!("{file:?} is not scoring-<n>")))?;
    let (rules, _) = v.scorings.get(&n).ok_or_else(|| {
        Error::operator(
            "--scoring",
            format!("{key} {version} has no scoring-{n}.json"),
        )
    })?;
    let now = app.clock.now();
    let mut scored = 0;
    for r in store::responses::submitted_of(&app.db, key, version).await? {
        let rows = store::responses::answers(&app.db, r.id).await?;
        let valid = answers::validate(&v.definition, &as_answers(&rows), None).map_err(invalid)?;
        let result = scoring::score(&v.definition, rules, &valid);
        let txn = store::begin_write(&app.db).await?;
        let inserted = store::responses::insert_score(&txn, score_row(r.id, &result, now)).await?;
        if inserted {
            let facts = audit::response_facts(&txn, r.id).await?;
            audit::record(
                &txn,
                &app.keys.audit,
                now,
                Entry::new(Actor::system(), "score.recomputed", "response")
                    .entity(r.id)
                    .after(json!({ "scoring": result.scoring, "facts": facts })),
            )
            .await?;
            scored += 1;
        }
        txn.commit().await?;
    }
    Ok(scored)
}

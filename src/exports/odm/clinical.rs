//! The `ClinicalData` of odm.xml, one participant at a time: submitted forms with their audit
//! records (snapshot), or their inserts and updates in a period (transactional), and missed
//! forms with their reasons (snapshot).

use super::{metadata::per_lesion, *};

/// Who made an audit event, as a UserRef of this file.
fn user_ref(kind: &str, id: Option<&str>, staff: &HashSet<String>) -> String {
    match (kind, id) {
        ("participant", Some(id)) => participant_user(id),
        ("staff", Some(id)) if staff.contains(id) => staff_user(id),
        ("staff", _) => OTHER_STAFF_USER.to_string(),
        _ => SYSTEM_USER.to_string(),
    }
}

/// One audit record: who, where, when, why, and the audit event's sequence number.
struct Audit {
    user: String,
    at: String,
    reason: Option<String>,
    source: Option<String>,
}

fn audit_record(x: &mut Xml, a: &Audit, site: &str) {
    x.start("AuditRecord", &[]);
    x.empty("UserRef", &[("UserOID", &a.user)]);
    x.empty("LocationRef", &[("LocationOID", &location_oid(site))]);
    x.text("DateTimeStamp", &[], &a.at);
    if let Some(r) = &a.reason {
        x.text("ReasonForChange", &[], r);
    }
    if let Some(s) = &a.source {
        x.text("SourceID", &[], s);
    }
    x.end("AuditRecord");
}

/// An item's place: (group, lesion) and item id; values are the exported cell (`None`: blank).
type Key = (Option<String>, String, String);

/// One amendment from the audit trail.
struct Amendment {
    at: DateTime<Utc>,
    audit: Audit,
    changes: Vec<(String, String, Option<String>, Option<String>)>,
}

/// Score groups: (group OID, lesion) → [(item OID, value)].
type ScoreGroups = BTreeMap<(String, Option<String>), Vec<(String, Option<String>)>>;

/// A submitted response with what the file needs of it.
struct Form {
    response: ResponseRow,
    submitted: Audit,
    submitted_at: DateTime<Utc>,
    /// The final values.
    values: BTreeMap<Key, Option<String>>,
    amendments: Vec<Amendment>,
    /// Score groups: (group OID, lesion) → (item OID, value).
    scores: ScoreGroups,
}

fn value_of(v: &Value) -> Option<String> {
    if v.is_null() { None } else { Some(cell(v)) }
}

fn parse_at(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

async fn form(app: &App, r: ResponseRow, staff: &HashSet<String>) -> Result<Option<Form>> {
    let Some(v) = app
        .library
        .get(&r.questionnaire_key, &r.questionnaire_version)
    else {
        return Ok(None);
    };
    let def = &v.definition;
    let group_of = |item: &str| def.item(item).and_then(|p| p.group.map(|g| g.id.clone()));
    let mut values = BTreeMap::new();
    for a in store::responses::answers(&app.db, r.id).await? {
        if def.item(&a.item).is_none() {
            continue;
        }
        values.insert(
            (group_of(&a.item), a.lesion.clone(), a.item.clone()),
            value_of(&a.value),
        );
    }
    let events = store::audit::for_entity(&app.db, "response", &r.id.to_string()).await?;
    let submitted_at = r.submitted_at.unwrap_or(r.started_at);
    let submitted = events
        .iter()
        .find(|e| e.content.action == "response.submitted")
        .map(|e| Audit {
            user: user_ref(&e.content.actor_kind, e.content.actor_id.as_deref(), staff),
            at: parse_at(&e.content.at)
                .map(iso)
                .unwrap_or_else(|| e.content.at.clone()),
            reason: None,
            source: (e.content.seq > 0).then(|| e.content.seq.to_string()),
        })
        .unwrap_or_else(|| Audit {
            user: SYSTEM_USER.into(),
            at: iso(submitted_at),
            reason: None,
            source: None,
        });
    let mut amendments = Vec::new();
    for (content, before, after) in events
        .iter()
        .filter_map(|e| crate::exports::amendments::amendment_of(&e.content))
    {
        let c = &content;
        let olds = before["answers"].as_array().cloned().unwrap_or_default();
        let changes = after["answers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| {
                let item = n["item"].as_str()?.to_string();
                let lesion = n["lesion"].as_str().unwrap_or_default().to_string();
                let old = olds
                    .iter()
                    .find(|o| o["item"] == n["item"] && o["lesion"] == n["lesion"])
                    .and_then(|o| value_of(&o["value"]));
                Some((item, lesion, old, value_of(&n["value"])))
            })
            .collect();
        let basis = after["basis"].as_str().unwrap_or_default();
        let why = c.reason.clone().unwrap_or_default();
        let at = parse_at(&c.at).unwrap_or(submitted_at);
        amendments.push(Amendment {
            at,
            audit: Audit {
                user: user_ref(&c.actor_kind, c.actor_id.as_deref(), staff),
                at: iso(at),
                reason: Some(match (basis.is_empty(), why.is_empty()) {
                    (false, false) => format!("{basis}: {why}"),
                    (false, true) => basis.to_string(),
                    _ => why,
                }),
                source: (c.seq > 0).then(|| c.seq.to_string()),
            },
            changes,
        });
    }
    let mut scores = ScoreGroups::new();
    for s in store::responses::scores(&app.db, r.id).await? {
        let Some((n, (file, _))) = v.scorings.iter().find(|(_, (f, _))| f.id() == s.scoring) else {
            continue;
        };
        let results: &Value = &s.results;
        let scales = results["scales"].as_array().cloned().unwrap_or_default();
        let summaries = results["summaries"].as_array().cloned().unwrap_or_default();
        for scale in scales.iter().chain(summaries.iter()) {
            let code = scale["code"].as_str().unwrap_or_default();
            let lesion = scale["lesion"].as_str().filter(|l| !l.is_empty());
            let flag = file
                .scales
                .iter()
                .find(|sc| sc.code == code)
                .is_some_and(|sc| per_lesion(def, &sc.items));
            if flag != lesion.is_some() {
                continue;
            }
            scores
                .entry((
                    score_group_oid(&def.key, &def.version, *n, flag),
                    lesion.map(str::to_string),
                ))
                .or_default()
                .push((
                    score_item_oid(&def.key, &def.version, *n, code),
                    scale["score"].as_f64().map(|x| format!("{x:.4}")),
                ));
        }
    }
    Ok(Some(Form {
        response: r,
        submitted,
        submitted_at,
        values,
        amendments,
        scores,
    }))
}

/// Write one item group's items: `(group, lesion) → [(item, value, audit)]`.
#[allow(clippy::type_complexity)]
fn item_groups(
    x: &mut Xml,
    key: &str,
    version: &str,
    groups: &BTreeMap<(Option<String>, String), Vec<(String, Option<String>, Option<&Audit>)>>,
    transaction: Option<&str>,
    site: &str,
) {
    for ((group, lesion), items) in groups {
        let oid = group_oid(key, version, group.as_deref());
        let mut attrs = vec![("ItemGroupOID", oid.as_str())];
        if group.is_some() {
            attrs.push(("ItemGroupRepeatKey", lesion.as_str()));
        }
        if let Some(t) = transaction {
            attrs.push(("TransactionType", t));
        }
        x.start("ItemGroupData", &attrs);
        for (item, value, audit) in items {
            item_data(
                x,
                &item_oid(key, version, item),
                value.as_deref(),
                transaction,
                *audit,
                site,
            );
        }
        x.end("ItemGroupData");
    }
}

fn item_data(
    x: &mut Xml,
    oid: &str,
    value: Option<&str>,
    transaction: Option<&str>,
    audit: Option<&Audit>,
    site: &str,
) {
    let mut attrs = vec![("ItemOID", oid)];
    if let Some(t) = transaction {
        attrs.push(("TransactionType", t));
    }
    match value {
        Some(v) => attrs.push(("Value", v)),
        None => attrs.push(("IsNull", "Yes")),
    }
    match audit {
        Some(a) => {
            x.start("ItemData", &attrs);
            audit_record(x, a, site);
            x.end("ItemData");
        }
        None => x.empty("ItemData", &attrs),
    }
}

/// The shared form group: response id, status, entry mode, paper day, language, late.
fn form_group(x: &mut Xml, r: &ResponseRow, transaction: Option<&str>, site: &str) {
    let mut attrs = vec![("ItemGroupOID", FORM_GROUP)];
    if let Some(t) = transaction {
        attrs.push(("TransactionType", t));
    }
    x.start("ItemGroupData", &attrs);
    let id = r.id.to_string();
    let mode = r.mode.map(|m| m.to_string());
    let completed = r.completed_on.map(|d| d.to_string());
    let late = r.late.to_string();
    // Only on forms received after their visit closed and taken by the phone's time.
    let synced = r.synced_late.then(|| "true".to_string());
    let device = r.device_completed_at.map(iso);
    for (oid, value) in [
        ("I.FORM.RESPONSE_ID", Some(id.as_str())),
        ("I.FORM.STATUS", Some("received")),
        ("I.FORM.ENTRY_MODE", mode.as_deref()),
        ("I.FORM.COMPLETED_ON", completed.as_deref()),
        ("I.FORM.LANGUAGE", Some(r.language.as_str())),
        ("I.FORM.LATE", Some(late.as_str())),
        ("I.FORM.SYNCED_LATE", synced.as_deref()),
        ("I.FORM.DEVICE_COMPLETED_AT", device.as_deref()),
    ] {
        if value.is_some() {
            item_data(x, oid, value, transaction, None, site);
        }
    }
    x.end("ItemGroupData");
}

/// Score groups (derived items), as they stand.
fn score_groups(x: &mut Xml, f: &Form, transaction: Option<&str>, site: &str) {
    for ((group, lesion), items) in &f.scores {
        let mut attrs = vec![("ItemGroupOID", group.as_str())];
        if let Some(l) = lesion {
            attrs.push(("ItemGroupRepeatKey", l.as_str()));
        }
        if let Some(t) = transaction {
            attrs.push(("TransactionType", t));
        }
        x.start("ItemGroupData", &attrs);
        for (oid, value) in items {
            item_data(x, oid, value.as_deref(), transaction, None, site);
        }
        x.end("ItemGroupData");
    }
}

/// A form as it stands: final values; an amended item carries its last amendment's audit record.
fn snapshot_form(x: &mut Xml, f: &Form, site: &str) {
    let r = &f.response;
    let (key, version) = (&r.questionnaire_key, &r.questionnaire_version);
    x.start("FormData", &[("FormOID", &form_oid(key, version))]);
    audit_record(x, &f.submitted, site);
    form_group(x, r, None, site);
    let mut groups: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for ((group, lesion, item), value) in &f.values {
        let last = f.amendments.iter().rev().find(|a| {
            a.changes
                .iter()
                .any(|(i, l, _, _)| i == item && l == lesion)
        });
        groups
            .entry((group.clone(), lesion.clone()))
            .or_default()
            .push((item.clone(), value.clone(), last.map(|a| &a.audit)));
    }
    item_groups(x, key, version, &groups, None, site);
    score_groups(x, f, None, site);
    x.end("FormData");
}

/// A form's transactions in `[since, until)`: its submission (Insert, with the values as
/// submitted) and each amendment (Update, with the changed items); the scores (Upsert) go with
/// the form's last change when it lies in the period.
fn transactional_form(
    x: &mut Xml,
    f: &Form,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    site: &str,
) -> bool {
    let r = &f.response;
    let (key, version) = (&r.questionnaire_key, &r.questionnaire_version);
    let inside = |t: DateTime<Utc>| t >= since && t < until;
    let last = f.amendments.last().map_or(f.submitted_at, |a| a.at);
    let mut wrote = false;
    if inside(f.submitted_at) {
        // The values as submitted: the final ones with every amendment undone, newest first.
        let mut values = f.values.clone();
        for a in f.amendments.iter().rev() {
            for (item, lesion, old, _) in &a.changes {
                if let Some(k) = values
                    .keys()
                    .find(|(_, l, i)| l == lesion && i == item)
                    .cloned()
                {
                    values.insert(k, old.clone());
                }
            }
        }
        x.start(
            "FormData",
            &[
                ("FormOID", &form_oid(key, version)),
                ("TransactionType", "Insert"),
            ],
        );
        audit_record(x, &f.submitted, site);
        form_group(x, r, Some("Insert"), site);
        let mut groups: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for ((group, lesion, item), value) in values {
            groups
                .entry((group, lesion))
                .or_default()
                .push((item, value, None));
        }
        item_groups(x, key, version, &groups, Some("Insert"), site);
        if inside(last) && f.amendments.is_empty() {
            score_groups(x, f, Some("Upsert"), site);
        }
        x.end("FormData");
        wrote = true;
    }
    for (i, a) in f.amendments.iter().enumerate() {
        if !inside(a.at) {
            continue;
        }
        x.start(
            "FormData",
            &[
                ("FormOID", &form_oid(key, version)),
                ("TransactionType", "Update"),
            ],
        );
        audit_record(x, &a.audit, site);
        let mut groups: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for (item, lesion, _, new) in &a.changes {
            let group = f
                .values
                .keys()
                .find(|(_, l, i)| i == item && l == lesion)
                .and_then(|(g, _, _)| g.clone());
            groups.entry((group, lesion.clone())).or_default().push((
                item.clone(),
                new.clone(),
                Some(&a.audit),
            ));
        }
        item_groups(x, key, version, &groups, Some("Update"), site);
        if i + 1 == f.amendments.len() {
            score_groups(x, f, Some("Upsert"), site);
        }
        x.end("FormData");
        wrote = true;
    }
    wrote
}

/// A missed form (snapshot only): the form group with its status and reason.
fn missed_form(x: &mut Xml, q: &str, reason: Option<&str>) {
    let Some((key, version)) = q.split_once('@') else {
        return;
    };
    x.start("FormData", &[("FormOID", &form_oid(key, version))]);
    x.start("ItemGroupData", &[("ItemGroupOID", FORM_GROUP)]);
    x.empty(
        "ItemData",
        &[("ItemOID", "I.FORM.STATUS"), ("Value", "missed")],
    );
    // The stored reason is `<code>` or `<code>: <words>`; the code goes here (visits.csv keeps
    // the words).
    let code = reason
        .map(|r| r.split(':').next().unwrap_or(r).trim().to_string())
        .unwrap_or_else(|| "no_reason".into());
    x.empty(
        "ItemData",
        &[("ItemOID", "I.FORM.MISSED_REASON"), ("Value", &code)],
    );
    x.end("ItemGroupData");
    x.end("FormData");
}

/// One participant's `SubjectData` (empty when a transactional file has nothing of theirs).
pub(super) async fn subject(
    app: &App,
    p: &ParticipantRow,
    file: OdmFile,
    staff: &HashSet<String>,
) -> Result<Bytes> {
    let site = p.site_code.as_str();
    let responses = store::responses::of_participant(&app.db, p.id).await?;
    let mut forms = Vec::new();
    for r in responses.iter().filter(|r| r.status.is_submitted()) {
        if let Some(f) = form(app, r.clone(), staff).await? {
            forms.push(f);
        }
    }
    // Missed forms with their reasons (snapshot only: a form becomes missed as time passes).
    let mut missed: BTreeMap<String, Vec<(String, Option<String>)>> = BTreeMap::new();
    if file == OdmFile::Snapshot {
        let views = participants::current_views(&app.db, app, p, app.clock.now()).await?;
        let ids: Vec<_> = forms.iter().map(|f| f.response.id).collect();
        let scorable = store::bulk::scorable(&app.db, &ids).await?;
        for v in &views {
            for (q, outcome) in form_outcomes(v, &responses, &scorable) {
                if let Outcome::Missed(reason) = outcome {
                    missed.entry(v.code.clone()).or_default().push((q, reason));
                }
            }
        }
    }
    let transaction = match file {
        OdmFile::Snapshot => None,
        OdmFile::Transactional { .. } => Some("Upsert"),
    };
    let mut x = Xml::new();
    let mut attrs = vec![("SubjectKey", p.study_id.as_str())];
    if let Some(t) = transaction {
        attrs.push(("TransactionType", t));
    }
    let mut any = false;
    x.start("SubjectData", &attrs);
    x.empty("SiteRef", &[("LocationOID", &location_oid(site))]);
    for visit in &app.study.protocol.visits {
        let mut inner = Xml::new();
        let mut wrote = false;
        for f in forms.iter().filter(|f| f.response.visit_code == visit.code) {
            match file {
                OdmFile::Snapshot => {
                    snapshot_form(&mut inner, f, site);
                    wrote = true;
                }
                OdmFile::Transactional { since, until } => {
                    // Set once for the whole file (odm_of).
                    let until = until.unwrap_or_else(|| app.clock.now());
                    wrote |= transactional_form(&mut inner, f, since, until, site);
                }
            }
        }
        for (q, reason) in missed.get(&visit.code).into_iter().flatten() {
            missed_form(&mut inner, q, reason.as_deref());
            wrote = true;
        }
        if wrote {
            let oid = event_oid(&visit.code);
            let mut attrs = vec![("StudyEventOID", oid.as_str())];
            if let Some(t) = transaction {
                attrs.push(("TransactionType", t));
            }
            x.start("StudyEventData", &attrs);
            x.0.get_mut().extend_from_slice(&inner.bytes());
            x.end("StudyEventData");
            any = true;
        }
    }
    x.end("SubjectData");
    if !any && file != OdmFile::Snapshot {
        return Ok(Bytes::new());
    }
    Ok(x.bytes())
}

//! dictionary.csv: every column of every export, every code list, every scale and every item
//! (recall period, option codes, labels per language). Columns: `file`, `column`, `code`,
//! `meaning` (English), then one label column per study language.

use bytes::Bytes;

use super::{
    Dialect, FILES, amendments::AMENDMENT_COLUMNS, answers::ANSWER_COLUMNS,
    audit_trail::AUDIT_COLUMNS, csv_start, records, scores::SCORE_COLUMNS, visits::VISIT_COLUMNS,
};
use crate::{
    app::App,
    domain::{
        answering::{EntryMode, MissedReason, ResponseFlag, ResponseStatus},
        participant::EventKind,
        questionnaire::{Entry, scoring::scale_key},
        schedule::VisitState,
    },
};

/// The meaning of a column, wherever it appears (some depend on the file).
fn meaning(file: &str, column: &str) -> &'static str {
    match (file, column) {
        ("*", "*") => {
            "In columns that can carry free or user-supplied text (answers as typed, reasons, labels, details, wording, audit values; docs/exports.md lists them), cells that begin with =, +, -, @, a tab or a carriage return are written with a leading apostrophe (') so spreadsheet programs do not run them as formulas (OWASP CSV injection); strip it to get the value typed in. Numbers such as -1.5 are written as they are, and so is every other column (codes, ids, dates, instants, ISO 8601 durations such as QSEVLINT -P1W: import those as text in a spreadsheet). ?dialect=excel writes a BOM and ; separators but keeps the decimal point: a decimal comma would change the numbers' text between dialects, so in Belgian Excel set the decimal separator to '.' (or use Data > From Text) when opening."
        }
        ("visits.csv", "missed_reason") | ("answers.csv", "missed_reason") => {
            "Why the form was not done (missed_reason code, ': text' for other); empty when no reason was recorded (the site's to-do)"
        }
        ("scores.csv", "status") => "complete, half_rule or missing (too few items answered)",
        ("wording.csv", "wording_sha256") => {
            "sha256 of the wording pack (answers.csv wording_sha256: the wording a response was answered in)"
        }
        ("wording.csv", "kind") => {
            "open (our wording), demo (placeholder) or licensed (installed by the deployment)"
        }
        ("wording.csv", "text_key") => {
            "The key the definition uses for this text (item text, option, anchor, recall)"
        }
        ("wording.csv", "text") => "The words shown, in the pack's language",
        ("staff.csv", "staff_id") => {
            "Staff account id: actor_id (answers, audit), amended_by, recorded_by in the other files"
        }
        ("staff.csv", "role") => "admin, data_manager, monitor or site_staff",
        ("staff.csv", "sites") => "|-separated site codes the account works for (empty: all sites)",
        ("staff.csv", "disabled") => "true when the account can no longer sign in",
        ("staff.csv", "created_at") => "When the account was created (UTC, ISO 8601)",
        ("answers.csv", "status") => "completed or amended (draft only with include=drafts)",
        ("amendments.csv", "reason") | ("events.csv", "reason") => "Why, as staff wrote it",
        ("events.csv", "arm") => "Randomization only: the arm (arms code list)",
        (_, "study_id") => "Pseudonymous participant id",
        (_, "site") => "Site code (study file)",
        (_, "arm") => {
            "Arm recorded with the randomization (arms code list); empty before randomization"
        }
        (_, "visit") => "Visit code (visits code list)",
        (_, "visit_num") => "Visit order: 0 = baseline",
        (_, "questionnaire") => "Questionnaire key@version in visits.csv; key elsewhere",
        (_, "version") => {
            "Questionnaire version answered: text (3.0 is not 3), read it as a string (docs/exports.md, Loading)"
        }
        (_, "language") => {
            "Language the questionnaire was answered in, or the participant's language"
        }
        (_, "wording_sha256") => "sha256 of the wording shown",
        (_, "item") => "Item id (see the questionnaire's rows below)",
        (_, "lesion_id") => "Lesion id (lesions.csv); per-lesion items and scales only",
        (_, "lesion_label") => "The lesion's plain-language label in the response language",
        (_, "value") => {
            "Answer code or value: a choice's code, a number, a date (YYYY-MM-DD) or text; yes/no \
             items 0 = no, 1 = yes whatever the client sent (items left blank have no row)"
        }
        (_, "mode") => "How it was entered (mode code list)",
        (_, "actor_kind") => "participant or staff",
        (_, "actor_id") => "Who entered it: the staff user id, or the participant's session",
        (_, "answered_at") => {
            "When the answer was last saved (UTC, ISO 8601); later than submitted_at for amended answers"
        }
        (_, "submitted_at") => "When the response was submitted (UTC, ISO 8601)",
        (_, "assessment_date") => {
            "The day the form was filled in (study time zone): completed_on for paper, the local day of device_completed_at for a synced_late form, the submission's local day otherwise"
        }
        (_, "completed_on") => {
            "Paper forms: the day the participant filled it in (study time zone); it decides in-window or late"
        }
        (_, "late") => {
            "Filled in after the window's last day (inside grace, or later with a reason); a form filled in before the window is not late (flag outside_window)"
        }
        (_, "status") => "Status (code list of the file)",
        (_, "amended") => {
            "true when this answer was changed after submission (old value in amendments.csv)"
        }
        (_, "flags") => "|-separated flags (flags code list)",
        (_, "days_from_sse") => "SSE visit only: assessment day minus the first SSE's day",
        (_, "synced_late") => {
            "true when the form reached the server after its visit closed and was taken as on time because the phone finished it inside the window (device_completed_at; docs/trial-rules.md)"
        }
        (_, "device_completed_at") => {
            "When send was pressed by the phone's clock (UTC, ISO 8601), when the page sent it and it was plausible; empty otherwise"
        }
        (_, "response_id") => {
            "Response id (the same in answers, scores, visits, pain, amendments, FHIR)"
        }
        (_, "item_count") => "Items",
        (_, "old_value") => "The value before the amendment (empty: was blank)",
        (_, "new_value") => "The value after the amendment (empty: cleared)",
        (_, "amended_at") => "When (UTC, ISO 8601)",
        (_, "amended_by") => "Staff user id",
        (_, "basis") => "participant_request or transcription_error",
        (_, "target") => "Target date (local date, study time zone)",
        (_, "first_day") => "First day of the window (local date, study time zone)",
        (_, "window_start") => "Window start (UTC instant, ISO 8601)",
        (_, "window_end") => {
            "Window end, exclusive: local midnight after last_day (UTC instant, ISO 8601); empty for a baseline before randomization"
        }
        (_, "last_day") => "Last day of the window (local date, study time zone)",
        (_, "grace_last_day") => "Last day of the grace period (local date, study time zone)",
        (_, "grace_end") => {
            "Grace period end, exclusive: local midnight after grace_last_day (UTC instant, ISO 8601), as the schedule API's grace_end"
        }
        (_, "visit_state") => "The visit's state (visit_state code list)",
        (_, "expected") => {
            "true when the form counts in the CONSORT-PRO denominator (on study at the window's end, window closed or form received)"
        }
        (_, "outcome") => "What became of the form (outcome code list)",
        (_, "cause") => "Why not expected (cause code list)",
        (_, "scorable") => "Received and its scoring yields a score",
        (_, "sse_triggered") => "The visit is the SSE visit (re-timed to the SSE)",
        (_, "sse_date") => "The participant's first SSE day, if any",
        (_, "days_from_randomization") => "Target date minus randomization date, in days",
        (_, "scoring") => "Scoring file: key/version/scoring-n",
        (_, "current") => {
            "true when the scoring file is the version's current (latest) one; older files' rows are kept and re-scored on amendment"
        }
        (_, "scale") => "Official scale abbreviation (may repeat across instruments)",
        (_, "scale_key") => {
            "Instrument-qualified scale key, unique across instruments: the questionnaire key in capitals and the scale code (PALLIO_SYMPTOMS_BURDEN); instruments published before that rule keep their short prefix for compatibility (eortc-qlq-c30 C30, eortc-qlq-bm22 BM22, nrs-lesion-pain NRS: C30_PA is Pain, BM22_PA Psychosocial aspects)"
        }
        (_, "scale_label") => "Scale name",
        (_, "kind") => "functional, symptom, global, raw or summary",
        (_, "direction") => "higher_is_better, higher_is_worse or as_answered",
        (_, "score_min") | (_, "score_max") => "The score's range",
        (_, "score") => {
            "The score (0–100; the answer for raw scales); empty when too few items were answered"
        }
        (_, "answered") => "Items answered",
        (_, "items_used") => "|-separated items (or scales, for summaries) of the score",
        (_, "event_id") => "Event id",
        (_, "type") => "Event type (event_type code list)",
        (_, "date") => "The day it happened",
        (_, "sse_type") => "SSE only (sse_type code list)",
        (_, "recorded_at") => "When it was recorded (UTC, ISO 8601)",
        (_, "recorded_by") => "Staff user id",
        (_, "entered_in_error") => "true when marked entered in error (it counts for nothing)",
        (_, "corrections") => "How many times a data manager corrected it",
        (_, "last_corrected_at") => "When it was last corrected (UTC, ISO 8601)",
        (_, "location") => "Lesion location code (GET /api/v1/lesion-locations)",
        (_, "location_label") => "Location name (English)",
        (_, "side") => "left or right, for sided bones",
        (_, "label") => "The lesion's plain-language label in the participant's language",
        (_, "high_risk_reasons") => "|-separated high-risk reasons (eligibility criteria)",
        (_, "irradiation_date") => "The lesion's radiotherapy day, if irradiated",
        (_, "registered_on") => "The day the lesion was registered in epro",
        (_, "active") => "Asked about now",
        (_, "active_periods") => {
            "|-separated from..to day ranges the lesion was active (open-ended while active)"
        }
        (_, "detail") => "Free-text detail of the location",
        (_, "omed_mg_per_day") => "Analgesics: oral morphine equivalent, mg/day",
        (_, "reference_date") => {
            "The lesion's reference day: radiotherapy if irradiated, else randomization"
        }
        (_, "asked") => "The lesion was asked about in this form",
        (_, "nrs") => "Worst pain 0–10; empty when asked and left blank, or not asked",
        (_, "baseline_date") | (_, "baseline_nrs") => {
            "The lesion's baseline: its last NRS on or before the reference day"
        }
        (_, "change_from_baseline") => "nrs minus baseline_nrs",
        (_, "category") => {
            "Consensus response category (consensus_category code list): not_evaluable with the reason in not_evaluable"
        }
        (_, "not_evaluable") => {
            "Why the category is not_evaluable (not_evaluable code list); empty when it was judged"
        }
        (_, "progression") => {
            "Pain progression: the consensus definition, or pain alone (up by 2 or more) when a dose is not recorded (progression_basis)"
        }
        (_, "progression_basis") => {
            "What progression rests on: pain_and_analgesics (consensus) or pain_only (no OMED recorded at baseline or this visit: the analgesic condition was not assessed)"
        }
        (_, "time_to_progression_days") => {
            "Days from the reference day to the lesion's first progression"
        }
        (_, "enrolled_on") => "Enrolment day",
        (_, "registered_at") => {
            "When the participant was registered in epro (UTC); visits that closed before are not_expected"
        }
        (_, "randomization_date") => "Randomization day",
        ("qs.csv", "STUDYID") => "Study identifier",
        ("qs.csv", "DOMAIN") => "QS",
        ("qs.csv", "USUBJID") => "Unique subject identifier (the study id)",
        ("qs.csv", "QSSEQ") => "Sequence number within the subject",
        ("qs.csv", "QSGRPID") => "Group: the response_id",
        ("qs.csv", "QSSPID") => "Sponsor id: the lesion_id for per-lesion items",
        ("qs.csv", "QSTESTCD") => "Test code (mapping file, else instrument code + item id)",
        ("qs.csv", "QSTEST") => "Test name (mapping file, else the item id)",
        ("qs.csv", "QSCAT") => "Category: the instrument (mapping file, else its key)",
        ("qs.csv", "QSORRES") => "Result as collected",
        ("qs.csv", "QSSTRESC") => "Result in character form",
        ("qs.csv", "QSSTRESN") => "Result in numeric form",
        ("qs.csv", "QSSTAT") => "NOT DONE when the item has no result",
        ("qs.csv", "QSREASND") => "Why not done: the missed reason, or not answered",
        ("qs.csv", "VISITNUM") => "Visit number (0 = baseline)",
        ("qs.csv", "VISIT") => "Visit code",
        ("qs.csv", "QSDTC") => "Assessment date (ISO 8601)",
        ("qs.csv", "QSEVLINT") => "Evaluation interval of the recall period (ISO 8601 duration)",
        (_, "seq") => "Audit sequence number (gapless)",
        (_, "at") => "When (UTC, ISO 8601)",
        (_, "action") => "What was done",
        (_, "entity_type") | (_, "entity_id") => "What it was done to",
        (_, "before") | (_, "after") => "Values before and after (JSON)",
        (_, "reason") => "Why",
        (_, "prev_hash") | (_, "hash") => "Hash chain (epro audit verify)",
        _ => "",
    }
}

/// The columns of each CSV export.
fn columns(file: &str) -> &'static [&'static str] {
    match file {
        "answers.csv" => &ANSWER_COLUMNS,
        "amendments.csv" => &AMENDMENT_COLUMNS,
        "visits.csv" => &VISIT_COLUMNS,
        "scores.csv" => &SCORE_COLUMNS,
        "events.csv" => &records::EVENT_COLUMNS,
        "lesions.csv" => &records::LESION_COLUMNS,
        "analgesics.csv" => &records::ANALGESIC_COLUMNS,
        "pain.csv" => &records::PAIN_COLUMNS,
        "participants.csv" => &records::PARTICIPANT_COLUMNS,
        "qs.csv" => &super::qs::QS_COLUMNS,
        "audit.csv" => &AUDIT_COLUMNS,
        "wording.csv" => &super::WORDING_COLUMNS,
        "staff.csv" => &super::STAFF_COLUMNS,
        _ => &[],
    }
}

/// What an entry mode means (the dictionary's `mode` list, the ODM code list).
pub(super) fn mode_meaning(m: EntryMode) -> &'static str {
    match m {
        EntryMode::SelfReport => "The participant answered",
        EntryMode::Interviewer => "Staff asked and entered during a teleconsultation",
        EntryMode::Paper => "Staff typed in a paper form",
        EntryMode::Mixed => "Answers entered in more than one way",
    }
}

/// A yes/no item's code (0 no, 1 yes) in words of a language (English where not nl or fr).
pub(super) fn yes_no_word(code: i64, lang: &str) -> &'static str {
    let words = if code == 1 {
        ["ja", "oui", "yes"]
    } else {
        ["nee", "non", "no"]
    };
    match lang {
        "nl" => words[0],
        "fr" => words[1],
        _ => words[2],
    }
}

/// The code lists the exports use: (list, code, meaning).
fn code_lists(app: &App) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut add = |list: &str, code: &str, meaning: &str| {
        out.push((list.into(), code.into(), meaning.into()))
    };
    for (code, m) in [
        ("upcoming", "The window has not opened"),
        ("open", "Inside the window"),
        ("late", "Window closed, inside the grace period"),
        (
            "completed",
            "Every questionnaire filled in before grace ended",
        ),
        (
            "partial",
            "Closed with some questionnaires received in time",
        ),
        (
            "missed",
            "Closed with none received in time (or staff recorded a reason)",
        ),
        ("not_applicable", "Not on study at the window's end (cause)"),
        (
            "not_expected",
            "Window closed before the participant was registered in epro",
        ),
    ] {
        debug_assert!(VisitState::parse(code).is_some());
        add("visit_state", code, m);
    }
    for (code, m) in [
        ("not_due", "The window has not opened"),
        (
            "pending",
            "Window open, not yet received (not yet expected)",
        ),
        (
            "awaited",
            "Window closed, grace running: expected, still answerable",
        ),
        ("received", "Submitted with at least one item answered"),
        ("missed", "Expected and not received"),
        ("not_applicable", "Not expected (cause)"),
        ("not_expected", "Before registration in epro"),
    ] {
        add("outcome", code, m);
    }
    for (code, m) in [
        ("death", "Died before the window ended"),
        ("withdrawal", "Withdrew before the window ended"),
        (
            "pro_discontinued",
            "Questionnaires stopped before the window ended",
        ),
        ("sse", "After an SSE only survival follow-up remains"),
        (
            "before_registration",
            "The window closed before registration in epro",
        ),
    ] {
        add("cause", code, m);
    }
    for m in EntryMode::ALL {
        add("mode", m.as_str(), mode_meaning(*m));
    }
    for r in MissedReason::ALL {
        add(
            "missed_reason",
            r.as_str(),
            "Why a form was not done (CONSORT-PRO)",
        );
    }
    add(
        "missed_reason",
        "no_reason",
        "Missed, no reason recorded (to-do)",
    );
    for f in ResponseFlag::ALL {
        add(
            "flags",
            f.as_str(),
            match f {
                ResponseFlag::OutsideWindow => {
                    "Filled in outside window and grace (a reason was given): before the window (late = false, early) or after grace (late = true)"
                }
                ResponseFlag::AfterRandomization => {
                    "A baseline form filled in after the randomization day"
                }
                ResponseFlag::AfterSseWeek => {
                    "An SSE visit's form filled in more than the SSE target after the SSE"
                }
            },
        );
    }
    for s in ResponseStatus::ALL {
        add("response_status", s.as_str(), "Response status");
    }
    for k in EventKind::ALL {
        add("event_type", k.as_str(), "Participant event");
    }
    for t in &app.study.sse_types {
        add("sse_type", &t.code, &t.label("en"));
    }
    for l in &app.study.lesion_locations {
        add("location", &l.code, &l.label("en"));
    }
    for t in &app.study.high_risk_reasons {
        add("high_risk_reason", &t.code, &t.label("en"));
    }
    for a in &app.study.arms {
        let en = a.label.get("en").cloned().unwrap_or_default();
        add("arms", &a.code, &en);
    }
    for v in &app.study.protocol.visits {
        let en = app
            .study
            .visit_labels
            .get(&v.code)
            .and_then(|l| l.get("en"))
            .cloned()
            .unwrap_or_default();
        add("visits", &v.code, &en);
    }
    if let Ok(rules) = crate::domain::pain::ConsensusRules::shipped() {
        for c in &rules.categories {
            add("consensus_category", &c.code, &c.label);
        }
        add("consensus_category", &rules.otherwise, "None of the above");
        add(
            "consensus_category",
            crate::domain::pain::NOT_EVALUABLE,
            "Not judged for response (the reason in not_evaluable)",
        );
    }
    for (code, m) in [
        (
            "pain_and_analgesics",
            "The consensus definition: pain and both analgesic doses",
        ),
        (
            "pain_only",
            "Pain alone (up by 2 or more): a dose is not recorded, the analgesic condition was not assessed",
        ),
    ] {
        add("progression_basis", code, m);
    }
    for (code, m) in [
        (
            "before_reference",
            "Read on or before the lesion's reference day",
        ),
        (
            "not_irradiated",
            "Response is judged for irradiated lesions only",
        ),
        ("no_baseline", "No NRS on or before the reference day"),
        (
            "baseline_pain_below_2",
            "Baseline worst pain below 2: response not evaluable (consensus)",
        ),
        (
            "no_analgesic_dose",
            "No OMED recorded at baseline or at this visit",
        ),
    ] {
        add("not_evaluable", code, m);
    }
    out
}

/// Every column of every export, every code, scale and item, with its meaning.
pub fn dictionary_csv(app: &App, dialect: Dialect) -> Bytes {
    let langs = app.study.languages.clone();
    let mut head: Vec<String> = ["file", "column", "code", "meaning", "recall"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    head.extend(langs.iter().map(|l| format!("label_{l}")));
    let width = head.len();
    let mut rows: Vec<Vec<String>> = vec![head];
    let mut push = |mut r: Vec<String>| {
        r.resize(width, String::new());
        rows.push(r);
    };
    push(vec![
        "*".into(),
        "*".into(),
        String::new(),
        meaning("*", "*").into(),
    ]);
    for file in FILES {
        for c in columns(file) {
            push(vec![
                file.into(),
                c.to_string(),
                String::new(),
                meaning(file, c).into(),
            ]);
        }
    }
    push(vec![
        "odm.xml".into(),
        "*".into(),
        String::new(),
        "CDISC ODM 1.3.2: the metadata (visits, questionnaire versions, items, code lists, scoring methods), sites and users, and every submitted form with its audit records; ?type=transactional&since= gives the inserts and updates of a period (docs/exports.md)".into(),
    ]);
    push(vec![
        "fhir.ndjson".into(),
        "*".into(),
        String::new(),
        "One FHIR R4 QuestionnaireResponse per submitted response: id = response_id, the visit as an extension, authored = the paper day or the submission, author = the staff member for staff entry, one repeated group per lesion".into(),
    ]);
    for (list, code, m) in code_lists(app) {
        let mut r = vec!["codes".into(), list.clone(), code.clone(), m];
        r.push(String::new());
        if list == "arms" {
            if let Some(a) = app.study.arm(&code) {
                r.extend(
                    langs
                        .iter()
                        .map(|l| a.label.get(l).cloned().unwrap_or_default()),
                );
            }
        } else if list == "visits" {
            let labels = app.study.visit_labels.get(&code);
            r.extend(
                langs
                    .iter()
                    .map(|l| labels.and_then(|x| x.get(l)).cloned().unwrap_or_default()),
            );
        }
        push(r);
    }
    for v in app.library.versions() {
        let def = &v.definition;
        let file = format!("{}@{}", def.key, def.version);
        if let Some(s) = v.latest_scoring() {
            for scale in &s.scales {
                push(vec![
                    "scales".into(),
                    scale_key(&def.key, &scale.code),
                    scale.code.clone(),
                    format!(
                        "{} ({}, {}; items {}; {})",
                        scale.label,
                        scale.kind.as_str(),
                        scale.kind.direction(),
                        scale.items.join(" "),
                        s.id()
                    ),
                ]);
            }
            for summary in &s.summaries {
                push(vec![
                    "scales".into(),
                    scale_key(&def.key, &summary.code),
                    summary.code.clone(),
                    format!("{} (summary, higher_is_better; {})", summary.label, s.id()),
                ]);
            }
        }
        let text = |lang: &str, key: &str| {
            v.wording(lang)
                .and_then(|w| w.get(key))
                .map(str::to_string)
                .unwrap_or_default()
        };
        for entry in &def.items {
            let items = match entry {
                Entry::Item(i) => vec![i],
                Entry::Group(g) => g.items.iter().collect(),
            };
            for item in items {
                let recall = item
                    .recall
                    .as_deref()
                    .map(|r| text("en", r))
                    .unwrap_or_default();
                let mut r = vec![
                    file.clone(),
                    item.id.clone(),
                    String::new(),
                    format!("{:?} item", item.kind).to_lowercase(),
                    recall,
                ];
                r.extend(langs.iter().map(|l| text(l, &item.text)));
                push(r);
                for o in def.options(item) {
                    let mut r = vec![
                        file.clone(),
                        item.id.clone(),
                        o.code.to_string(),
                        "option".into(),
                        String::new(),
                    ];
                    r.extend(langs.iter().map(|l| text(l, &o.text)));
                    push(r);
                }
                if item.kind == crate::domain::questionnaire::ItemType::YesNo {
                    for code in [0, 1] {
                        let mut r = vec![
                            file.clone(),
                            item.id.clone(),
                            code.to_string(),
                            "option".into(),
                            String::new(),
                        ];
                        r.extend(langs.iter().map(|l| yes_no_word(code, l).to_string()));
                        push(r);
                    }
                }
            }
        }
    }
    Bytes::from(csv_start(dialect, &rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_of_every_export_has_a_meaning() {
        for file in FILES {
            for c in columns(file) {
                assert!(!meaning(file, c).is_empty(), "{file}: {c}");
            }
        }
    }
}

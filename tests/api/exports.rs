//! A seeded two-site trial exported as a statistician gets it: self, interviewer and paper
//! entries, an SSE, a death, an amendment, a lesion left blank, a draft, two scoring files, a
//! go-live participant's transcribed paper form, missed per-lesion NRS forms. Each
//! export is checked here and written to EPRO_EXPORT_SAMPLE_DIR for `.ci/check_exports.py`
//! (pandas: types and joins).

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

fn at(y: i32, m: u32, d: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).single().expect("t")
}

pub(crate) fn all(range: std::ops::RangeInclusive<u32>, value: i64) -> Value {
    Value::Array(
        range
            .map(|n| json!({"item": format!("q{n}"), "value": value}))
            .collect(),
    )
}

async fn ok(resp: reqwest::Response, what: &str) -> Value {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{what}: {text}");
    serde_json::from_str(&text).unwrap_or_default()
}

pub(crate) async fn submit(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let resp = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .expect("sent");
    ok(resp, path).await
}

pub(crate) async fn lesion(
    app: &TestApp,
    staff: &str,
    id: &str,
    location: &str,
    irradiated: Option<&str>,
) -> String {
    let l = ok(
        app.post(
            &format!("/api/v1/participants/{id}/lesions"),
            Some(staff),
            json!({"location": location, "labels": {"nl": format!("plek {location}"), "fr": format!("endroit {location}"), "en": format!("place {location}")}, "high_risk_reasons": ["size_2cm"], "irradiation_date": irradiated}),
        )
        .await,
        "lesion",
    )
    .await;
    l["id"].as_str().expect("lesion id").to_string()
}

/// A CSV file as its header and rows.
pub(crate) fn table(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header = r
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows = r
        .records()
        .map(|x| x.expect("row").iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn column<'a>(t: &'a (Vec<String>, Vec<Vec<String>>), name: &str) -> Vec<&'a str> {
    let i =
        t.0.iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("column {name}"));
    t.1.iter().map(|r| r[i].as_str()).collect()
}

/// The shipped questionnaires with a second NRS scoring file published (the current one), in
/// `dir`.
pub(crate) fn nrs_with_two_scorings(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let copy = dir.path().join("questionnaires");
    crate::questionnaires::copy_dir(&crate::helpers::questionnaires_dir(), &copy);
    let v1 =
        std::fs::read_to_string(copy.join("nrs-lesion-pain/1.0.0/scoring-1.json")).expect("read");
    std::fs::write(
        copy.join("nrs-lesion-pain/1.0.0/scoring-2.json"),
        v1.replace("\"scoring\": 1", "\"scoring\": 2"),
    )
    .expect("write");
    let publish = std::process::Command::new(env!("CARGO_BIN_EXE_epro"))
        .args(["questionnaires", "publish", &copy.display().to_string()])
        .output()
        .expect("run");
    assert!(publish.status.success());
    copy
}

/// A two-site trial with every kind of data (self-reported, interviewer and paper forms,
/// amendments, an SSE, a death, a missed form with its reason, lesions added and deactivated).
pub(crate) async fn seeded() -> (TestApp, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = nrs_with_two_scorings(&dir);
    let app = spawn_app_with(move |s| {
        s.session_hours = 24 * 365 * 3;
        s.questionnaires_dir = copy;
    })
    .await;
    app.clock.set(at(2026, 1, 15));
    let zas = app.staff_token("site_staff", &["ZAS"]).await;
    let uzg = app.staff_token("site_staff", &["UZG"]).await;
    let dm = app.staff_token("data_manager", &[]).await;
    let (a, b) = ("HERMES-ZAS-701", "HERMES-UZG-701");
    app.enrol(
        &zas,
        a,
        json!({"randomization_date": "2026-01-15", "arm": "A", "email": "a@example.be"}),
    )
    .await;
    app.enrol(
        &uzg,
        b,
        json!({"randomization_date": "2026-01-15", "arm": "B"}),
    )
    .await;
    let (a1, a2) = (
        lesion(&app, &zas, a, "L1", None).await,
        lesion(&app, &zas, a, "T12", None).await,
    );
    let b1 = lesion(&app, &uzg, b, "L3", Some("2026-01-20")).await;
    // C: never answers; two lesions, one deactivated on 1 February (#32.15: a missed NRS has a
    // NOT DONE row per lesion active then).
    let c = "HERMES-ZAS-703";
    app.enrol(
        &zas,
        c,
        json!({"randomization_date": "2026-01-15", "arm": "B"}),
    )
    .await;
    let c1 = lesion(&app, &zas, c, "L2", None).await;
    lesion(&app, &zas, c, "T11", None).await;
    // A: self-reported baseline; the second lesion's NRS left blank.
    let token = app.participant_token(&zas, a).await;
    let me = |v: &str, k: &str| format!("/api/v1/me/visits/{v}/responses/{k}/submit");
    submit(
        &app,
        &me("BL", "eortc-qlq-c30"),
        &token,
        json!({"answers": all(1..=30, 2)}),
    )
    .await;
    submit(
        &app,
        &me("BL", "eortc-qlq-bm22"),
        &token,
        json!({"answers": all(31..=52, 1)}),
    )
    .await;
    submit(
        &app,
        &me("BL", "nrs-lesion-pain"),
        &token,
        json!({"answers": [{"item": "worst_pain", "value": 1, "lesion": a1}]}),
    )
    .await;
    // B: interviewer C30 and NRS, BM22 on paper; analgesic doses.
    let staff =
        |v: &str, k: &str| format!("/api/v1/participants/{b}/visits/{v}/responses/{k}/submit");
    let c30 = submit(
        &app,
        &staff("BL", "eortc-qlq-c30"),
        &uzg,
        json!({"mode": "interviewer", "answers": all(1..=30, 2)}),
    )
    .await;
    submit(
        &app,
        &staff("BL", "eortc-qlq-bm22"),
        &uzg,
        json!({"mode": "paper", "completed_on": "2026-01-15", "answers": all(31..=52, 2)}),
    )
    .await;
    let nrs = submit(
        &app,
        &staff("BL", "nrs-lesion-pain"),
        &uzg,
        json!({"mode": "interviewer", "answers": [{"item": "worst_pain", "value": 2, "lesion": b1}]}),
    )
    .await;
    for (visit, mg) in [("BL", 30.0), ("M1", 30.0)] {
        ok(
            app.post(
                &format!("/api/v1/participants/{b}/visits/{visit}/analgesic"),
                Some(&uzg),
                json!({"omed_mg_per_day": mg}),
            )
            .await,
            "dose",
        )
        .await;
    }
    // The interviewer's C30 is amended (transcription error).
    let rid = c30["response_id"].as_str().expect("response id");
    app.post_ok(
        &format!("/api/v1/participants/{b}/responses/{rid}/amend"),
        Some(&uzg),
        json!({"basis": "transcription_error", "reason": "typed 2 for 3", "answers": [{"item": "q1", "value": 3}]}),
    )
    .await;
    // The NRS too: the amendment re-scores it with both scoring files.
    let rid = nrs["response_id"].as_str().expect("response id");
    app.post_ok(
        &format!("/api/v1/participants/{b}/responses/{rid}/amend"),
        Some(&uzg),
        json!({"basis": "transcription_error", "reason": "typed 2 for 3", "answers": [{"item": "worst_pain", "lesion": b1, "value": 3}]}),
    )
    .await;
    // A: an SSE on 10 Feb; M1 becomes the SSE visit; A answers its C30 and starts a BM22 draft.
    app.clock.set(at(2026, 2, 10));
    let resp = app
        .client
        .patch(format!(
            "{}/api/v1/participants/{c}/lesions/{c1}",
            app.address
        ))
        .bearer_auth(&zas)
        .json(&json!({"active": false}))
        .send()
        .await
        .expect("patch");
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    app.post_ok(
        &format!("/api/v1/participants/{a}/events"),
        Some(&zas),
        json!({"type": "sse", "date": "2026-02-10", "reason": "fracture", "sse_type": "pathological_fracture", "lesion": a2}),
    )
    .await;
    app.clock.set(at(2026, 2, 12));
    submit(
        &app,
        &me("M1", "eortc-qlq-c30"),
        &token,
        json!({"answers": all(1..=30, 3)}),
    )
    .await;
    submit(
        &app,
        &me("M1", "nrs-lesion-pain"),
        &token,
        json!({"answers": [{"item": "worst_pain", "value": 4, "lesion": a1}, {"item": "worst_pain", "value": 2, "lesion": a2}]}),
    )
    .await;
    let draft = app
        .client
        .put(format!(
            "{}/api/v1/me/visits/M1/responses/eortc-qlq-bm22",
            app.address
        ))
        .bearer_auth(&token)
        .json(&json!({"answers": [{"item": "q31", "value": 2}]}))
        .send()
        .await
        .expect("draft");
    assert_eq!(draft.status(), 200);
    // B: M1 NRS by interview, then a death on 20 March typed in on 25 March.
    app.clock.set(at(2026, 2, 16));
    submit(
        &app,
        &staff("M1", "nrs-lesion-pain"),
        &uzg,
        json!({"mode": "interviewer", "answers": [{"item": "worst_pain", "value": 6, "lesion": b1}]}),
    )
    .await;
    app.clock.set(at(2026, 3, 25));
    app.post_ok(
        &format!("/api/v1/participants/{b}/events"),
        Some(&uzg),
        json!({"type": "death", "date": "2026-03-20", "reason": "reported by the GP"}),
    )
    .await;
    // D: registered in epro today, randomized in June 2025 (go-live): M3 is not expected, and
    // its paper C30 found in the file is transcribed (#32.15: it has qs.csv rows).
    let d = "HERMES-ZAS-702";
    app.enrol(
        &zas,
        d,
        json!({"enrolled_on": "2025-06-01", "randomization_date": "2025-06-02", "arm": "A"}),
    )
    .await;
    submit(
        &app,
        &format!("/api/v1/participants/{d}/visits/M3/responses/eortc-qlq-c30/submit"),
        &zas,
        json!({"mode": "paper", "completed_on": "2025-09-02", "answers": all(1..=30, 2)}),
    )
    .await;
    app.clock.set(at(2026, 4, 20));
    // C's M1 NRS was not done: the site says why.
    app.post_ok(
        &format!("/api/v1/participants/{c}/visits/M1/missed"),
        Some(&zas),
        json!({"questionnaire": "nrs-lesion-pain", "reason": "too_ill"}),
    )
    .await;
    (app, dm, dir)
}

#[tokio::test]
async fn a_seeded_trial_exports_analysis_ready_files() {
    let (app, dm, _questionnaires) = seeded().await;
    let mut files = std::collections::BTreeMap::new();
    for f in [
        "answers.csv",
        "amendments.csv",
        "visits.csv",
        "scores.csv",
        "events.csv",
        "lesions.csv",
        "analgesics.csv",
        "pain.csv",
        "qs.csv",
        "participants.csv",
        "dictionary.csv",
        "wording.csv",
        "fhir.ndjson",
        "staff.csv",
    ] {
        let resp = app.get(&format!("/api/v1/exports/{f}"), Some(&dm)).await;
        assert_eq!(resp.status(), 200, "{f}");
        files.insert(f, resp.text().await.expect("body"));
    }
    // Submitted data only: the M1 BM22 draft appears only when a data manager asks.
    let answers = table(&files["answers.csv"]);
    let statuses = column(&answers, "status");
    assert!(
        statuses.iter().all(|s| *s != "draft"),
        "no draft by default"
    );
    let with_drafts = app
        .get("/api/v1/exports/answers.csv?include=drafts", Some(&dm))
        .await
        .text()
        .await
        .expect("body");
    assert!(table(&with_drafts).1.len() > answers.1.len());
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    assert_eq!(
        app.get("/api/v1/exports/answers.csv?include=drafts", Some(&nurse))
            .await
            .status(),
        403
    );
    // Paper: the assessment date is the day on the form.
    let paper: Vec<usize> = column(&answers, "mode")
        .iter()
        .enumerate()
        .filter(|(i, m)| **m == "paper" && column(&answers, "study_id")[*i] == "HERMES-UZG-701")
        .map(|(i, _)| i)
        .collect();
    assert!(!paper.is_empty());
    for i in paper {
        assert_eq!(column(&answers, "assessment_date")[i], "2026-01-15");
        assert_eq!(column(&answers, "completed_on")[i], "2026-01-15");
    }
    assert!(column(&answers, "amended").contains(&"true"));
    // amendments.csv: the old and the new value, the basis and the reason.
    let amendments = table(&files["amendments.csv"]);
    assert_eq!(amendments.1.len(), 2);
    assert_eq!(
        (
            column(&amendments, "old_value")[0],
            column(&amendments, "new_value")[0],
            column(&amendments, "basis")[0]
        ),
        ("2", "3", "transcription_error")
    );
    // visits.csv: per visit and questionnaire; the SSE visit, the death's cause, the arm.
    let visits = table(&files["visits.csv"]);
    let rows_of = |study: &str, visit: &str| -> Vec<usize> {
        (0..visits.1.len())
            .filter(|i| {
                column(&visits, "study_id")[*i] == study && column(&visits, "visit")[*i] == visit
            })
            .collect()
    };
    let a_m1 = rows_of("HERMES-ZAS-701", "M1");
    assert_eq!(a_m1.len(), 3, "one row per questionnaire");
    for i in &a_m1 {
        assert_eq!(column(&visits, "sse_triggered")[*i], "true");
        assert_eq!(column(&visits, "sse_date")[*i], "2026-02-10");
        assert_eq!(column(&visits, "arm")[*i], "A");
    }
    // B's baseline was answered in time: the later death does not make it missed.
    let b_bl = rows_of("HERMES-UZG-701", "BL");
    assert!(
        b_bl.iter()
            .all(|i| column(&visits, "visit_state")[*i] == "completed")
    );
    let b_m3 = rows_of("HERMES-UZG-701", "M3");
    assert!(b_m3.iter().all(|i| column(&visits, "cause")[*i] == "death"));
    assert!(
        b_m3.iter()
            .all(|i| column(&visits, "expected")[*i] == "false")
    );
    // scores.csv: instrument-qualified keys, direction, and the current scoring file.
    let scores = table(&files["scores.csv"]);
    let keys = column(&scores, "scale_key");
    assert!(keys.contains(&"C30_PA") && keys.contains(&"BM22_PA"));
    let current = column(&scores, "current");
    assert!(
        current.contains(&"true") && current.contains(&"false"),
        "two NRS scoring files"
    );
    // events, lesions, analgesics, pain.
    let events = table(&files["events.csv"]);
    let types = column(&events, "type");
    assert!(types.contains(&"sse") && types.contains(&"death") && types.contains(&"randomization"));
    assert!(column(&events, "arm").contains(&"B"));
    assert_eq!(table(&files["lesions.csv"]).1.len(), 5);
    assert_eq!(table(&files["analgesics.csv"]).1.len(), 2);
    let pain = table(&files["pain.csv"]);
    let blank = (0..pain.1.len())
        .find(|i| column(&pain, "asked")[*i] == "true" && column(&pain, "nrs")[*i].is_empty());
    assert!(
        blank.is_some(),
        "a lesion asked and left blank leaves a row"
    );
    assert!(column(&pain, "not_evaluable").contains(&"not_irradiated"));
    // #32.16: arm A, no dose recorded: A's first lesion rose from 1 to 4 by M1: progression on
    // pain alone, flagged; the category is not_evaluable with its reason.
    let row = |t: &(Vec<String>, Vec<Vec<String>>),
               i: usize|
     -> std::collections::HashMap<String, String> {
        t.0.iter().cloned().zip(t.1[i].iter().cloned()).collect()
    };
    let pain_rows: Vec<_> = (0..pain.1.len()).map(|i| row(&pain, i)).collect();
    let a_m1 = pain_rows
        .iter()
        .find(|r| r["study_id"] == "HERMES-ZAS-701" && r["visit"] == "M1" && r["nrs"] == "4")
        .expect("A's M1 reading");
    assert_eq!(
        (
            a_m1["progression"].as_str(),
            a_m1["progression_basis"].as_str(),
            a_m1["category"].as_str(),
            a_m1["not_evaluable"].as_str()
        ),
        ("true", "pain_only", "not_evaluable", "not_irradiated"),
        "{a_m1:?}"
    );
    let b_m1 = pain_rows
        .iter()
        .find(|r| r["study_id"] == "HERMES-UZG-701" && r["visit"] == "M1")
        .expect("B's M1 reading");
    assert_eq!(
        (
            b_m1["progression_basis"].as_str(),
            b_m1["category"].as_str()
        ),
        ("pain_and_analgesics", "progression"),
        "{b_m1:?}"
    );
    assert!(
        pain_rows
            .iter()
            .all(|r| r["category"].is_empty() == r["progression"].is_empty()
                || !r["category"].is_empty()),
        "every judged reading has a category"
    );
    let api: Value = app
        .get("/api/v1/participants/HERMES-ZAS-701/pain", Some(&dm))
        .await
        .json()
        .await
        .expect("pain");
    assert!(
        api.to_string()
            .contains("\"progression_basis\":\"pain_only\""),
        "{api}"
    );
    // qs.csv: SDTM-like, with NOT DONE for the blank lesion.
    let qs = table(&files["qs.csv"]);
    assert!(column(&qs, "QSSTAT").contains(&"NOT DONE"));
    assert!(column(&qs, "QSTESTCD").iter().all(|c| c.len() <= 8));
    // #32.13: an ISO 8601 duration is data, not a formula: no apostrophe.
    let evlint = column(&qs, "QSEVLINT");
    assert!(evlint.contains(&"-P1W"));
    assert!(evlint.iter().all(|c| !c.starts_with('\'')), "no apostrophe");
    // #32.15: every submitted form has its rows, the go-live participant's transcribed paper
    // form of a not_expected visit too.
    let grpids: std::collections::BTreeSet<&str> = column(&qs, "QSGRPID").into_iter().collect();
    for rid in column(&answers, "response_id") {
        assert!(grpids.contains(rid), "response {rid} has no qs.csv rows");
    }
    let qs_rows: Vec<_> = (0..qs.1.len()).map(|i| row(&qs, i)).collect();
    let d_m3 = qs_rows
        .iter()
        .filter(|r| r["USUBJID"] == "HERMES-ZAS-702" && r["VISIT"] == "M3")
        .count();
    assert_eq!(d_m3, 30, "the transcribed C30 of a not_expected visit");
    // A missed per-lesion NRS: one NOT DONE row per lesion active on the visit's last day.
    let nrs_rows = |visit: &str| -> Vec<&std::collections::HashMap<String, String>> {
        qs_rows
            .iter()
            .filter(|r| {
                r["USUBJID"] == "HERMES-ZAS-703"
                    && r["VISIT"] == visit
                    && r["QSCAT"] == "nrs-lesion-pain"
            })
            .collect()
    };
    let bl = nrs_rows("BL");
    assert_eq!(bl.len(), 2, "both lesions at baseline: {bl:?}");
    assert!(
        bl.iter()
            .all(|r| r["QSSTAT"] == "NOT DONE" && !r["QSSPID"].is_empty())
    );
    assert_ne!(bl[0]["QSSPID"], bl[1]["QSSPID"]);
    let m1 = nrs_rows("M1");
    assert_eq!(m1.len(), 1, "one lesion active at M1: {m1:?}");
    assert_eq!(m1[0]["QSREASND"], "too_ill");
    assert!(bl.iter().any(|r| r["QSSPID"] == m1[0]["QSSPID"]));
    // #32.17: staff.csv decodes the staff ids of the other files, without emails.
    let staff = table(&files["staff.csv"]);
    let staff_ids: std::collections::BTreeSet<&str> =
        column(&staff, "staff_id").into_iter().collect();
    for (kind, id) in column(&answers, "actor_kind")
        .into_iter()
        .zip(column(&answers, "actor_id"))
    {
        if kind == "staff" {
            assert!(staff_ids.contains(id), "staff {id} in staff.csv");
        }
    }
    assert!(!files["staff.csv"].contains('@'), "no email");
    assert!(column(&staff, "role").contains(&"site_staff"));
    // FHIR: the visit, the paper day as authored, the staff author.
    let fhir: Vec<Value> = files["fhir.ndjson"]
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(fhir.len(), answers_responses(&answers));
    assert!(fhir.iter().any(|r| r["authored"] == "2026-01-15"));
    assert!(
        fhir.iter()
            .any(|r| r["author"]["identifier"]["value"].is_string())
    );
    assert!(
        fhir.iter()
            .all(|r| r["extension"][0]["valueCode"].is_string())
    );
    // The dictionary names every column of every file.
    let dictionary = table(&files["dictionary.csv"]);
    for (f, text) in &files {
        if f.ends_with(".csv") && *f != "dictionary.csv" {
            let (header, _) = table(text);
            for c in header {
                assert!(
                    dictionary.1.iter().any(|r| r[0] == *f && r[1] == c),
                    "{f}: {c} not in the dictionary"
                );
            }
        }
    }
    if let Ok(dir) = std::env::var("EPRO_EXPORT_SAMPLE_DIR") {
        std::fs::create_dir_all(&dir).expect("dir");
        for (f, text) in &files {
            std::fs::write(format!("{dir}/{f}"), text).expect("write");
        }
    }
}

/// Responses in answers.csv (distinct response ids).
fn answers_responses(answers: &(Vec<String>, Vec<Vec<String>>)) -> usize {
    column(answers, "response_id")
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

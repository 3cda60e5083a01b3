//! odm.xml (CDISC ODM 1.3.2) of the seeded two-site trial (tests/api/exports.rs), plus an
//! amendment on a later day: every reference resolves, every coded value is in its code list,
//! the values equal answers.csv row for row, an amendment carries the new value with its
//! ReasonForChange, the snapshot equals the sum of its transactional increments, and a site's
//! staff get their site only. The files are written to EPRO_EXPORT_SAMPLE_DIR/odm/ for
//! `.ci/check_odm.py` and xmllint (the 1.3.2 schema in tests/fixtures/odm-1.3.2/).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeZone, Utc};
use quick_xml::events::{BytesStart, Event};
use serde_json::json;

use crate::helpers::TestApp;

/// An element with its attributes, text and children: enough of a DOM to check a file.
#[derive(Debug, Default, Clone)]
struct Node {
    name: String,
    attrs: BTreeMap<String, String>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    /// Every descendant (and self) named `name`, in document order.
    fn all<'a>(&'a self, name: &str, out: &mut Vec<&'a Node>) {
        if self.name == name {
            out.push(self);
        }
        for c in &self.children {
            c.all(name, out);
        }
    }

    fn find(&self, name: &str) -> Vec<&Node> {
        let mut out = Vec::new();
        self.all(name, &mut out);
        out
    }

    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
}

fn element(e: &BytesStart) -> Node {
    Node {
        name: String::from_utf8(e.name().as_ref().to_vec()).expect("utf8 name"),
        attrs: e
            .attributes()
            .map(|a| {
                let a = a.expect("attribute");
                (
                    String::from_utf8(a.key.as_ref().to_vec()).expect("utf8 key"),
                    a.unescape_value().expect("value").into_owned(),
                )
            })
            .collect(),
        ..Node::default()
    }
}

fn parse(xml: &str) -> Node {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut stack = vec![Node::default()];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push(element(&e)),
            Event::Empty(e) => {
                let n = element(&e);
                stack.last_mut().expect("parent").children.push(n);
            }
            Event::End(_) => {
                let n = stack.pop().expect("open element");
                stack.last_mut().expect("parent").children.push(n);
            }
            Event::Text(t) => stack
                .last_mut()
                .expect("element")
                .text
                .push_str(&t.unescape().expect("text")),
            Event::Eof => break,
            _ => {}
        }
    }
    stack
        .pop()
        .and_then(|root| root.children.into_iter().next())
        .expect("a root element")
}

/// (subject, event, form, group, repeat key, item) → value (`None`: IsNull), after applying the
/// file's transactions in order; forms holding I.FORM.STATUS = missed are left out (missed
/// forms are in snapshots only).
type Cells = BTreeMap<[String; 6], Option<String>>;

fn cells(odm: &Node) -> Cells {
    let mut out = Cells::new();
    for s in odm.find("SubjectData") {
        for e in s.children.iter().filter(|c| c.name == "StudyEventData") {
            for f in e.children.iter().filter(|c| c.name == "FormData") {
                let missed = f.find("ItemData").iter().any(|i| {
                    i.attr("ItemOID") == Some("I.FORM.STATUS") && i.attr("Value") == Some("missed")
                });
                if missed {
                    continue;
                }
                for g in f.children.iter().filter(|c| c.name == "ItemGroupData") {
                    for i in g.children.iter().filter(|c| c.name == "ItemData") {
                        let key = [
                            s.attr("SubjectKey"),
                            e.attr("StudyEventOID"),
                            f.attr("FormOID"),
                            g.attr("ItemGroupOID"),
                            g.attr("ItemGroupRepeatKey"),
                            i.attr("ItemOID"),
                        ]
                        .map(|x| x.unwrap_or_default().to_string());
                        out.insert(key, i.attr("Value").map(str::to_string));
                    }
                }
            }
        }
    }
    out
}

/// Every `…OID` reference names something the file defines (`OID` of a Def, User, Location,
/// CodeList, MethodDef, Study or MetaDataVersion).
fn check_references(odm: &Node) {
    let mut defined = BTreeSet::new();
    let mut refs = Vec::new();
    fn walk<'a>(n: &'a Node, defined: &mut BTreeSet<&'a str>, refs: &mut Vec<(&'a str, &'a str)>) {
        for (k, v) in &n.attrs {
            if k == "OID" {
                defined.insert(v.as_str());
            } else if k.ends_with("OID") && k != "FileOID" && k != "PriorFileOID" {
                refs.push((k.as_str(), v.as_str()));
            }
        }
        for c in &n.children {
            walk(c, defined, refs);
        }
    }
    walk(odm, &mut defined, &mut refs);
    assert!(refs.len() > 100, "references: {}", refs.len());
    for (k, v) in refs {
        assert!(defined.contains(v), "{k}={v:?} is not defined");
    }
    // Every coded value is in its code list.
    let lists: BTreeMap<&str, BTreeSet<&str>> = odm
        .find("CodeList")
        .into_iter()
        .map(|c| {
            (
                c.attr("OID").expect("oid"),
                c.find("CodeListItem")
                    .iter()
                    .map(|i| i.attr("CodedValue").expect("code"))
                    .collect(),
            )
        })
        .collect();
    let coded: BTreeMap<&str, &str> = odm
        .find("ItemDef")
        .into_iter()
        .filter_map(|d| Some((d.attr("OID")?, d.child("CodeListRef")?.attr("CodeListOID")?)))
        .collect();
    for i in odm.find("ItemData") {
        if let (Some(list), Some(v)) =
            (coded.get(i.attr("ItemOID").expect("item")), i.attr("Value"))
        {
            assert!(lists[list].contains(v), "{v:?} not in {list}");
        }
    }
}

async fn get(app: &TestApp, dm: &str, path: &str) -> String {
    let resp = app.get(path, Some(dm)).await;
    let status = resp.status();
    let text = resp.text().await.expect("body");
    assert_eq!(status, 200, "{path}: {text}");
    text
}

#[tokio::test]
async fn the_seeded_trial_exports_odm_whose_increments_sum_to_the_snapshot() {
    let (app, dm, _questionnaires) = crate::exports::seeded().await;
    // After the seeded days: A asks on 1 May to correct a self-reported M1 answer.
    let answers_before = get(&app, &dm, "/api/v1/exports/answers.csv").await;
    let mut r = csv::Reader::from_reader(answers_before.as_bytes());
    let header = r.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect("column");
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.expect("row")).collect();
    let a_m1_c30 = rows
        .iter()
        .find(|x| {
            &x[col("study_id")] == "HERMES-ZAS-701"
                && &x[col("visit")] == "M1"
                && &x[col("questionnaire")] == "eortc-qlq-c30"
        })
        .map(|x| x[col("response_id")].to_string())
        .expect("A's M1 C30");
    let mid = Utc
        .with_ymd_and_hms(2026, 4, 1, 0, 0, 0)
        .single()
        .expect("t");
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let zas = app.staff_token("site_staff", &["ZAS"]).await;
    app.post_ok(
        &format!("/api/v1/participants/HERMES-ZAS-701/responses/{a_m1_c30}/amend"),
        Some(&zas),
        json!({"basis": "participant_request", "reason": "meant 4 on question 5", "answers": [{"item": "q5", "value": 4}]}),
    )
    .await;

    // A French-speaking participant at UZG: the NRS at baseline for one lesion, a second lesion
    // registered during follow-up, and the NRS at M1 for both (interviewer entry).
    let uzg = app.staff_token("site_staff", &["UZG"]).await;
    let fr = "HERMES-UZG-702";
    app.enrol(
        &uzg,
        fr,
        json!({"randomization_date": "2026-05-01", "arm": "B", "language": "fr"}),
    )
    .await;
    let l1 = crate::exports::lesion(&app, &uzg, fr, "L4", None).await;
    let nrs =
        |v: &str| format!("/api/v1/participants/{fr}/visits/{v}/responses/nrs-lesion-pain/submit");
    crate::exports::submit(
        &app,
        &nrs("BL"),
        &uzg,
        json!({"mode": "interviewer", "answers": [{"item": "worst_pain", "value": 1, "lesion": l1}]}),
    )
    .await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let l2 = crate::exports::lesion(&app, &uzg, fr, "T10", None).await;
    crate::exports::submit(
        &app,
        &nrs("M1"),
        &uzg,
        json!({"mode": "interviewer", "answers": [{"item": "worst_pain", "value": 2, "lesion": l1}, {"item": "worst_pain", "value": 5, "lesion": l2}]}),
    )
    .await;
    // A transactional file ends (exclusive) when it is made: the last write's instant is over.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 1)
            .single()
            .expect("t"),
    );
    let snapshot_text = get(&app, &dm, "/api/v1/exports/odm.xml").await;
    let answers_text = get(&app, &dm, "/api/v1/exports/answers.csv").await;
    let snapshot = parse(&snapshot_text);
    assert_eq!(snapshot.name, "ODM");
    assert_eq!(snapshot.attr("FileType"), Some("Snapshot"));
    assert_eq!(snapshot.attr("ODMVersion"), Some("1.3.2"));
    check_references(&snapshot);

    // Licensed wording never: the C30's and BM22's shipped (demo) texts are absent, the NRS's
    // open wording is there in every study language.
    assert!(!snapshot_text.contains("Vraag 1"), "licensed item wording");
    let nrs = snapshot
        .find("ItemDef")
        .into_iter()
        .find(|d| d.attr("OID") == Some("I.nrs-lesion-pain.1.0.0.worst_pain"))
        .expect("NRS item");
    assert_eq!(nrs.find("TranslatedText").len(), 3, "nl, fr, en");
    let c30_q1 = snapshot
        .find("ItemDef")
        .into_iter()
        .find(|d| d.attr("OID") == Some("I.eortc-qlq-c30.3.0.q1"))
        .expect("C30 q1");
    assert!(c30_q1.child("Question").is_none());
    assert_eq!(
        c30_q1
            .child("ExternalQuestion")
            .and_then(|q| q.attr("Code")),
        Some("q1")
    );
    // No contact data, no staff names.
    assert!(!snapshot_text.contains("a@example.be"));

    // The values equal answers.csv, row for row (submitted data only: the draft is absent).
    let mut r = csv::Reader::from_reader(answers_text.as_bytes());
    let header = r.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect("column");
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.expect("row")).collect();
    let forms: BTreeMap<String, &Node> = snapshot
        .find("FormData")
        .into_iter()
        .filter_map(|f| {
            let id = f
                .find("ItemData")
                .into_iter()
                .find(|i| i.attr("ItemOID") == Some("I.FORM.RESPONSE_ID"))?
                .attr("Value")?
                .to_string();
            Some((id, f))
        })
        .collect();
    let ids: BTreeSet<&str> = rows.iter().map(|x| &x[col("response_id")]).collect();
    assert_eq!(
        forms.len(),
        ids.len(),
        "one FormData per submitted response"
    );
    let mut compared = 0;
    for x in &rows {
        let f = forms[&x[col("response_id")]];
        let oid = format!(
            "I.{}.{}.{}",
            &x[col("questionnaire")],
            &x[col("version")],
            &x[col("item")]
        );
        let lesion = &x[col("lesion_id")];
        let found: Vec<&Node> = f
            .children
            .iter()
            .filter(|g| g.name == "ItemGroupData")
            .filter(|g| g.attr("ItemGroupRepeatKey").unwrap_or_default() == lesion)
            .flat_map(|g| {
                g.children
                    .iter()
                    .filter(|i| i.attr("ItemOID") == Some(oid.as_str()))
            })
            .collect();
        assert_eq!(found.len(), 1, "{oid} {lesion}");
        assert_eq!(
            found[0].attr("Value").unwrap_or_default(),
            &x[col("value")],
            "{oid}"
        );
        // Entry mode and the paper day are kept.
        let form_item = |name: &str| {
            f.find("ItemData")
                .into_iter()
                .find(|i| i.attr("ItemOID") == Some(name))
                .and_then(|i| i.attr("Value"))
                .unwrap_or_default()
        };
        assert_eq!(form_item("I.FORM.COMPLETED_ON"), &x[col("completed_on")]);
        if x[col("mode")] == *"paper" {
            assert_eq!(form_item("I.FORM.ENTRY_MODE"), "paper");
        }
        compared += 1;
    }
    assert!(compared > 100, "{compared} answers compared");

    // An amendment: the new value, with its reason and the audit event's id.
    let amended = |odm: &Node, item: &str| -> Vec<(String, String, String)> {
        odm.find("ItemData")
            .into_iter()
            .filter(|i| i.attr("ItemOID") == Some(item))
            .filter_map(|i| {
                let a = i.child("AuditRecord")?;
                Some((
                    i.attr("Value").unwrap_or_default().to_string(),
                    a.child("ReasonForChange")
                        .map(|r| r.text.clone())
                        .unwrap_or_default(),
                    a.child("SourceID")
                        .map(|r| r.text.clone())
                        .unwrap_or_default(),
                ))
            })
            .collect()
    };
    let q5 = amended(&snapshot, "I.eortc-qlq-c30.3.0.q5");
    assert_eq!(q5.len(), 1, "{q5:?}");
    assert_eq!(q5[0].0, "4", "the amended value, not the old one");
    assert_eq!(q5[0].1, "participant_request: meant 4 on question 5");
    assert!(
        q5[0].2.parse::<i64>().is_ok(),
        "SourceID is the audit event's seq"
    );
    let q1 = amended(&snapshot, "I.eortc-qlq-c30.3.0.q1");
    assert_eq!(
        q1.iter()
            .map(|x| (x.0.as_str(), x.1.as_str()))
            .collect::<Vec<_>>(),
        vec![("3", "transcription_error: typed 2 for 3")]
    );
    // Missed forms with their reasons.
    let missed: Vec<&Node> = snapshot
        .find("ItemData")
        .into_iter()
        .filter(|i| i.attr("ItemOID") == Some("I.FORM.MISSED_REASON"))
        .collect();
    assert!(missed.iter().any(|i| i.attr("Value") == Some("too_ill")));
    // Users: each participant by study id; every AuditRecord's UserRef resolves (above), and a
    // participant's own answers are recorded as theirs.
    assert!(snapshot_text.contains("UserOID=\"USR.P.HERMES-ZAS-701\""));

    // Transactional: the whole history, and the same history in two increments.
    let all = get(
        &app,
        &dm,
        "/api/v1/exports/odm.xml?type=transactional&since=2000-01-01T00:00:00Z",
    )
    .await;
    let first = get(
        &app,
        &dm,
        &format!(
            "/api/v1/exports/odm.xml?type=transactional&since=2000-01-01T00:00:00Z&until={}",
            mid.format("%Y-%m-%dT%H:%M:%SZ")
        ),
    )
    .await;
    let second = get(
        &app,
        &dm,
        &format!(
            "/api/v1/exports/odm.xml?type=transactional&since={}",
            mid.format("%Y-%m-%dT%H:%M:%SZ")
        ),
    )
    .await;
    let (all_n, first_n, second_n) = (parse(&all), parse(&first), parse(&second));
    for f in [&all_n, &first_n, &second_n] {
        assert_eq!(f.attr("FileType"), Some("Transactional"));
        check_references(f);
    }
    let want = cells(&snapshot);
    assert_eq!(cells(&all_n), want, "one transactional file of everything");
    let mut sum = cells(&first_n);
    sum.extend(cells(&second_n));
    assert_eq!(sum, want, "the increments sum to the snapshot");
    // The first increment has q5 as answered (Insert), the second its Update with the reason.
    let q5_key = |odm: &Node, kind: &str| -> Vec<String> {
        odm.find("FormData")
            .into_iter()
            .filter(|f| f.attr("TransactionType") == Some(kind))
            .flat_map(|f| f.find("ItemData"))
            .filter(|i| i.attr("ItemOID") == Some("I.eortc-qlq-c30.3.0.q5"))
            .map(|i| {
                format!(
                    "{}|{}",
                    i.attr("Value").unwrap_or_default(),
                    i.find("ReasonForChange")
                        .first()
                        .map(|r| r.text.as_str())
                        .unwrap_or_default()
                )
            })
            .collect()
    };
    assert!(q5_key(&first_n, "Insert").contains(&"3|".to_string()));
    assert!(q5_key(&first_n, "Update").is_empty());
    assert_eq!(
        q5_key(&second_n, "Update"),
        vec!["4|participant_request: meant 4 on question 5".to_string()]
    );
    assert!(q5_key(&second_n, "Insert").is_empty());

    // The French participant's M1 NRS: one repeating group per lesion, the new lesion too.
    let m1 = snapshot
        .find("SubjectData")
        .into_iter()
        .find(|s| s.attr("SubjectKey") == Some(fr))
        .and_then(|s| {
            s.children
                .iter()
                .find(|e| e.attr("StudyEventOID") == Some("SE.M1"))
        })
        .and_then(|e| e.child("FormData"))
        .expect("the French participant's M1 NRS");
    let keys: BTreeSet<&str> = m1
        .find("ItemGroupData")
        .into_iter()
        .filter_map(|g| g.attr("ItemGroupRepeatKey"))
        .collect();
    assert_eq!(keys, BTreeSet::from([l1.as_str(), l2.as_str()]));
    assert!(
        m1.find("ItemData")
            .iter()
            .any(|i| i.attr("ItemOID") == Some("I.FORM.LANGUAGE") && i.attr("Value") == Some("fr"))
    );

    // Same permissions and site scoping as the other exports.
    let site = parse(&get(&app, &uzg, "/api/v1/exports/odm.xml").await);
    let subjects: BTreeSet<&str> = site
        .find("SubjectData")
        .into_iter()
        .filter_map(|s| s.attr("SubjectKey"))
        .collect();
    assert_eq!(subjects, BTreeSet::from(["HERMES-UZG-701", fr]));
    check_references(&site);
    for bad in [
        "/api/v1/exports/odm.xml?type=transactional",
        "/api/v1/exports/odm.xml?type=delta&since=2026-01-01T00:00:00Z",
        "/api/v1/exports/odm.xml?since=2026-01-01T00:00:00Z",
        "/api/v1/exports/odm.xml?type=transactional&since=yesterday",
        "/api/v1/exports/answers.csv?type=transactional&since=2026-01-01T00:00:00Z",
    ] {
        let resp = app.get(bad, Some(&dm)).await;
        assert_eq!(resp.status(), 422, "{bad}");
        let body: serde_json::Value = resp.json().await.expect("json error");
        assert!(body["code"].is_string(), "{body}");
    }
    assert_eq!(app.get("/api/v1/exports/odm.xml", None).await.status(), 401);

    if let Ok(dir) = std::env::var("EPRO_EXPORT_SAMPLE_DIR") {
        let dir = std::path::Path::new(&dir).join("odm");
        std::fs::create_dir_all(&dir).expect("dir");
        for (name, text) in [
            ("odm.xml", &snapshot_text),
            ("odm-transactional.xml", &all),
            ("odm-transactional-1.xml", &first),
            ("odm-transactional-2.xml", &second),
            ("answers.csv", &answers_text),
        ] {
            std::fs::write(dir.join(name), text).expect("write");
        }
    }
}

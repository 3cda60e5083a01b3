//! FHIR R4 Observations derived from responses and `_lastUpdated` (#26, docs/fhir.md): a
//! participant answers two visits with two lesions; scores chart in date order, NRS per lesion
//! per visit, an amendment shows as `amended` with the new value, sites and scopes hold.

use chrono::{Duration, TimeZone, Utc};
use serde_json::{Value, json};

use epro::clock::Clock;

use crate::{
    exports::{all as answers, lesion, submit},
    fhir::{assertion, fhir_get, ids, p384_key, q, register, seeded, token_request},
    helpers::{TestApp, spawn_app_with},
};

fn at(y: i32, m: u32, d: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).single().expect("t")
}

fn instant(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn entries(bundle: &Value) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .map(|e| e.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default()
}

fn next_link(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["relation"] == "next"))
        .and_then(|l| l["url"].as_str())
        .map(str::to_string)
}

#[tokio::test]
async fn last_updated_finds_an_amended_response_and_not_an_untouched_one() {
    let (app, reader) = seeded().await;
    let (_, all) = fhir_get(&app, "/QuestionnaireResponse?_count=50", &reader).await;
    assert_eq!(all["total"], 9);
    let before = app.clock.now();
    for r in entries(&all) {
        assert!(
            r["meta"]["lastUpdated"].as_str().is_some(),
            "every response says when it last changed: {r}"
        );
    }
    let c30 = entries(&all)
        .into_iter()
        .find(|r| {
            r["subject"]["identifier"]["value"] == "HERMES-ZAS-001"
                && r["questionnaire"]
                    .as_str()
                    .is_some_and(|q| q.contains("eortc-qlq-c30"))
        })
        .expect("ZAS-001's C30");
    let rid = c30["id"].as_str().expect("id").to_string();

    app.clock.advance(Duration::hours(2));
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    app.post_ok(
        &format!("/api/v1/participants/HERMES-ZAS-001/responses/{rid}/amend"),
        Some(&nurse),
        json!({"basis": "participant_request", "reason": "participant corrected q1", "answers": [{"item": "q1", "value": 3}]}),
    )
    .await;
    let amended_at = app.clock.now();

    let (s, changed) = fhir_get(
        &app,
        &format!(
            "/QuestionnaireResponse?_lastUpdated={}",
            q(&format!("gt{}", instant(before)))
        ),
        &reader,
    )
    .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(ids(&changed), vec![rid.clone()], "only the amended one");
    let amended = &entries(&changed)[0];
    assert_eq!(amended["status"], "amended");
    assert_eq!(
        amended["meta"]["lastUpdated"],
        amended_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    );
    // The untouched ones last changed before; a local value without offset reads in Brussels
    // (the amendment was at 11:0x UTC = 12:0x in Brussels on 1 March).
    let (_, untouched) = fhir_get(
        &app,
        &format!(
            "/QuestionnaireResponse?_lastUpdated={}&_summary=count",
            q(&format!("le{}", instant(before)))
        ),
        &reader,
    )
    .await;
    assert_eq!(untouched["total"], 8);
    let local = (amended_at + Duration::hours(1) - Duration::minutes(1))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let (_, since) = fhir_get(
        &app,
        &format!("/QuestionnaireResponse?_lastUpdated=ge{local}"),
        &reader,
    )
    .await;
    assert_eq!(ids(&since), vec![rid.clone()]);
    let (s, o) = fhir_get(&app, "/QuestionnaireResponse?_lastUpdated=soon", &reader).await;
    assert_eq!(s, 400);
    assert!(
        o["issue"][0]["diagnostics"]
            .as_str()
            .is_some_and(|d| d.contains("_lastUpdated")),
        "{o}"
    );
    let (_, cap) = fhir_get(&app, "/metadata", &reader).await;
    let qr = cap["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["type"] == "QuestionnaireResponse")
        .expect("QuestionnaireResponse")
        .clone();
    assert!(
        qr["searchParam"]
            .as_array()
            .expect("params")
            .iter()
            .any(|p| p["name"] == "_lastUpdated")
    );
}

/// HERMES-ZAS-031 with two lesions answers BL (1 March) and M1 (1 April); HERMES-UZG-031 with one
/// lesion answers BL. Returns the app, a data manager's token, ZAS-031's two lesion ids, and
/// the BL NRS response id.
async fn two_visits() -> (TestApp, String, (String, String), String) {
    let app = spawn_app_with(|s| s.session_hours = 24 * 365).await;
    app.clock.set(at(2026, 3, 1));
    let zas = app.staff_token("site_staff", &["ZAS"]).await;
    let uzg = app.staff_token("site_staff", &["UZG"]).await;
    let (a, b) = ("HERMES-ZAS-031", "HERMES-UZG-031");
    app.enrol(&zas, a, json!({"randomization_date": "2026-03-01"}))
        .await;
    app.enrol(&uzg, b, json!({"randomization_date": "2026-03-01"}))
        .await;
    let (l1, l2) = (
        lesion(&app, &zas, a, "L1", None).await,
        lesion(&app, &zas, a, "T12", None).await,
    );
    let lb = lesion(&app, &uzg, b, "L3", None).await;
    let me = |v: &str, k: &str| format!("/api/v1/me/visits/{v}/responses/{k}/submit");
    let mut nrs_bl = String::new();
    for (visit, day, value, pain) in [
        ("BL", at(2026, 3, 1), 2, (3, 5)),
        ("M1", at(2026, 4, 1), 3, (4, 6)),
    ] {
        app.clock.set(day);
        let token = app.participant_token(&zas, a).await;
        submit(
            &app,
            &me(visit, "eortc-qlq-c30"),
            &token,
            json!({"answers": answers(1..=30, value)}),
        )
        .await;
        submit(
            &app,
            &me(visit, "eortc-qlq-bm22"),
            &token,
            json!({"answers": answers(31..=52, 1)}),
        )
        .await;
        let nrs = submit(
            &app,
            &me(visit, "nrs-lesion-pain"),
            &token,
            json!({"answers": [
                {"item": "worst_pain", "lesion": l1, "value": pain.0},
                {"item": "worst_pain", "lesion": l2, "value": pain.1},
            ]}),
        )
        .await;
        if visit == "BL" {
            nrs_bl = nrs["response_id"]
                .as_str()
                .expect("response id")
                .to_string();
        }
    }
    app.clock.set(at(2026, 3, 1));
    let tb = app.participant_token(&uzg, b).await;
    submit(
        &app,
        &me("BL", "nrs-lesion-pain"),
        &tb,
        json!({"answers": [{"item": "worst_pain", "lesion": lb, "value": 8}]}),
    )
    .await;
    app.clock.set(at(2026, 4, 2));
    let reader = app.staff_token("data_manager", &[]).await;
    (app, reader, (l1, l2), nrs_bl)
}

async fn patient_ref(app: &TestApp, token: &str, study_id: &str) -> String {
    let (_, b) = fhir_get(app, &format!("/Patient?identifier={study_id}"), token).await;
    format!("Patient/{}", ids(&b).first().expect("patient"))
}

/// Every Observation of a search, following `next` as given; asserts no id repeats.
async fn all_pages(app: &TestApp, first: &str, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut link = Some(first.to_string());
    while let Some(l) = link {
        let (s, page) = fhir_get(app, &l, token).await;
        assert_eq!(s, 200, "{page}");
        out.extend(entries(&page));
        link = next_link(&page);
    }
    let mut unique: Vec<&str> = out.iter().map(|o| o["id"].as_str().expect("id")).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), out.len(), "no Observation twice across pages");
    out
}

#[tokio::test]
async fn observations_chart_scores_and_pain_per_lesion_over_visits() {
    let (app, reader, (l1, l2), nrs_bl) = two_visits().await;
    let system = format!(
        "{}/fhir/CodeSystem/{}-scales",
        app.settings.base_url.trim_end_matches('/'),
        "HERMES"
    );
    let patient = patient_ref(&app, &reader, "HERMES-ZAS-031").await;

    // A scale score over time, oldest first; system|code and the bare code agree.
    let (s, ql) = fhir_get(
        &app,
        &format!(
            "/Observation?patient={patient}&code={}",
            q(&format!("{system}|C30_QL2"))
        ),
        &reader,
    )
    .await;
    assert_eq!(s, 200, "{ql}");
    assert_eq!(ql["total"], 2, "{ql}");
    let series = entries(&ql);
    assert_eq!(series[0]["effectiveDateTime"], "2026-03-01T09:00:00Z");
    assert_eq!(series[1]["effectiveDateTime"], "2026-04-01T09:00:00Z");
    // Global health from q29 = q30 = 2, then 3 (range 6): 16.67, then 33.33.
    let value = |o: &Value| o["valueQuantity"]["value"].as_f64().expect("value");
    assert!(
        (value(&series[0]) - 100.0 / 6.0).abs() < 0.01,
        "{}",
        series[0]
    );
    assert!(
        (value(&series[1]) - 200.0 / 6.0).abs() < 0.01,
        "{}",
        series[1]
    );
    for o in &series {
        assert_eq!(o["resourceType"], "Observation");
        assert_eq!(o["status"], "final");
        assert_eq!(o["category"][0]["coding"][0]["code"], "survey");
        assert_eq!(o["code"]["coding"][0]["system"], system);
        assert_eq!(o["subject"]["reference"], patient);
        assert_eq!(o["valueQuantity"]["code"], "{score}");
        assert!(
            o["derivedFrom"][0]["reference"]
                .as_str()
                .is_some_and(|r| r.starts_with("QuestionnaireResponse/"))
        );
        let id = o["id"].as_str().expect("id");
        assert!(
            id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
            "{id}"
        );
    }
    let (_, bare) = fhir_get(
        &app,
        &format!("/Observation?subject={patient}&code=C30_QL2"),
        &reader,
    )
    .await;
    assert_eq!(ids(&bare), ids(&ql));
    let (_, elsewhere) = fhir_get(
        &app,
        &format!(
            "/Observation?patient={patient}&code={}",
            q("http://loinc.org|C30_QL2")
        ),
        &reader,
    )
    .await;
    assert_eq!(elsewhere["total"], 0, "another system's code is not ours");

    // date narrows (Brussels days).
    let (_, m1) = fhir_get(
        &app,
        &format!("/Observation?patient={patient}&code=C30_QL2&date=ge2026-03-15"),
        &reader,
    )
    .await;
    assert_eq!(
        ids(&m1),
        vec![series[1]["id"].as_str().expect("id").to_string()]
    );
    let (_, bl) = fhir_get(
        &app,
        &format!("/Observation?patient={patient}&code=C30_QL2&date=2026-03-01"),
        &reader,
    )
    .await;
    assert_eq!(
        ids(&bl),
        vec![series[0]["id"].as_str().expect("id").to_string()]
    );

    // Pain per lesion: one Observation per lesion per visit, the lesion named in bodySite.
    let (_, pain) = fhir_get(
        &app,
        &format!("/Observation?patient={patient}&code=NRS_WORST_PAIN"),
        &reader,
    )
    .await;
    assert_eq!(pain["total"], 4, "{pain}");
    let per_lesion = |id: &str| -> Vec<i64> {
        entries(&pain)
            .iter()
            .filter(|o| o["bodySite"]["extension"][0]["valueString"] == id)
            .map(|o| o["valueInteger"].as_i64().expect("integer"))
            .collect()
    };
    assert_eq!(per_lesion(&l1), vec![3, 4]);
    assert_eq!(per_lesion(&l2), vec![5, 6]);
    for o in entries(&pain) {
        let named = if o["bodySite"]["extension"][0]["valueString"] == l1.as_str() {
            "L1"
        } else {
            "T12"
        };
        assert!(
            o["bodySite"]["text"]
                .as_str()
                .is_some_and(|t| t.contains(named)),
            "{o}"
        );
    }
    let (_, from) = fhir_get(
        &app,
        &format!("/Observation?derived-from=QuestionnaireResponse/{nrs_bl}"),
        &reader,
    )
    .await;
    assert_eq!(from["total"], 2);

    // Every Observation of the participant, three per page: the cursor resumes inside a
    // response without repeating or losing one; the count agrees.
    let (_, count) = fhir_get(
        &app,
        &format!("/Observation?patient={patient}&_summary=count"),
        &reader,
    )
    .await;
    let everything = all_pages(
        &app,
        &format!("/Observation?patient={patient}&_count=3"),
        &reader,
    )
    .await;
    assert_eq!(Some(everything.len() as u64), count["total"].as_u64());
    assert!(
        everything.len() > 20,
        "C30, BM22 and NRS scales of two visits"
    );
    let (s, read) = fhir_get(
        &app,
        &format!("/Observation/{}", everything[5]["id"].as_str().expect("id")),
        &reader,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(read, everything[5]);
    let (s, _) = fhir_get(
        &app,
        &format!("/Observation/{nrs_bl}-0000000000000000"),
        &reader,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = fhir_get(&app, "/Observation?_cursor=forged", &reader).await;
    assert_eq!(s, 400);

    // An amendment: the same Observation, now amended with the new value.
    let before = app.clock.now();
    app.clock.advance(Duration::hours(1));
    let zas = app.staff_token("site_staff", &["ZAS"]).await;
    app.post_ok(
        &format!("/api/v1/participants/HERMES-ZAS-031/responses/{nrs_bl}/amend"),
        Some(&zas),
        json!({"basis": "participant_request", "reason": "participant misread the scale", "answers": [{"item": "worst_pain", "lesion": l1, "value": 7}]}),
    )
    .await;
    let first_l1 = entries(&pain)
        .into_iter()
        .find(|o| o["bodySite"]["extension"][0]["valueString"] == l1.as_str())
        .expect("BL NRS of L1");
    let (s, amended) = fhir_get(
        &app,
        &format!("/Observation/{}", first_l1["id"].as_str().expect("id")),
        &reader,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(amended["status"], "amended");
    assert_eq!(amended["valueInteger"], 7);
    let (_, changed) = fhir_get(
        &app,
        &format!(
            "/Observation?patient={patient}&_lastUpdated={}",
            q(&format!("gt{}", instant(before)))
        ),
        &reader,
    )
    .await;
    assert_eq!(
        changed["total"], 2,
        "the amended response's two NRS: {changed}"
    );
    assert!(entries(&changed).iter().all(|o| o["status"] == "amended"));
}

#[tokio::test]
async fn observations_keep_sites_apart_and_need_their_scope() {
    let (app, reader, _, nrs_bl) = two_visits().await;
    let admin = app.admin_token().await;
    let key = p384_key("obs-1");
    let uzg_client = register(
        &app,
        &admin,
        &key,
        &["UZG"],
        &["system/Observation.rs", "system/Patient.rs"],
    )
    .await;
    let zas_qr_only = register(
        &app,
        &admin,
        &key,
        &["ZAS"],
        &["system/QuestionnaireResponse.rs"],
    )
    .await;
    let token = async |client: &str, jti: &str, scope: &str| {
        let (s, t) =
            token_request(&app, &assertion(&app, &key, client, jti, 240, None), scope).await;
        assert_eq!(s, 200, "{t}");
        t["access_token"].as_str().expect("token").to_string()
    };
    let uzg = token(&uzg_client, "obs-jti-1", "system/Observation.rs").await;
    let zas_patient = patient_ref(&app, &reader, "HERMES-ZAS-031").await;
    let (_, zas_pain) = fhir_get(
        &app,
        &format!("/Observation?derived-from=QuestionnaireResponse/{nrs_bl}"),
        &reader,
    )
    .await;
    let zas_id = ids(&zas_pain).first().expect("a ZAS Observation").clone();

    // Another site's Observation is "not found", and absent from searches.
    let (s, o) = fhir_get(&app, &format!("/Observation/{zas_id}"), &uzg).await;
    assert_eq!(
        (s, o["resourceType"].as_str()),
        (404, Some("OperationOutcome"))
    );
    let (_, b) = fhir_get(&app, &format!("/Observation?patient={zas_patient}"), &uzg).await;
    assert_eq!(b["total"], 0);
    let (_, own) = fhir_get(
        &app,
        "/Observation?code=NRS_WORST_PAIN&_summary=count",
        &uzg,
    )
    .await;
    assert_eq!(own["total"], 1, "UZG-031's one lesion at BL");
    let (_, mine) = fhir_get(&app, "/Observation?code=NRS_WORST_PAIN", &uzg).await;
    assert_eq!(entries(&mine)[0]["valueInteger"], 8);

    // A token without Observation in its scopes: 403.
    let qr_only = token(&zas_qr_only, "obs-jti-2", "system/QuestionnaireResponse.rs").await;
    let (s, o) = fhir_get(&app, "/Observation", &qr_only).await;
    assert_eq!(
        (s, o["resourceType"].as_str()),
        (403, Some("OperationOutcome"))
    );
    let (s, _) = fhir_get(&app, &format!("/Observation/{zas_id}"), &qr_only).await;
    assert_eq!(s, 403);

    // Strict handling knows Observation's parameters; the statement lists them.
    let strict = app
        .client
        .get(format!(
            "{}/fhir/r4/Observation?code=C30_QL2&colour=blue",
            app.address
        ))
        .bearer_auth(&reader)
        .header("prefer", "handling=strict")
        .send()
        .await
        .expect("sent");
    assert_eq!(strict.status(), 400);
    let (_, cap) = fhir_get(&app, "/metadata", &reader).await;
    let obs = cap["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["type"] == "Observation")
        .expect("Observation in the CapabilityStatement")
        .clone();
    let params: Vec<&str> = obs["searchParam"]
        .as_array()
        .expect("params")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for p in [
        "patient",
        "subject",
        "code",
        "date",
        "derived-from",
        "_lastUpdated",
        "_count",
        "_summary",
    ] {
        assert!(params.contains(&p), "{p}");
    }
}

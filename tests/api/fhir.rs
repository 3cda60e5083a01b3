//! FHIR R4 under /fhir/r4 (#26): search done right (questionnaire with and without |version,
//! authored ranges, keyset paging), site scoping, OperationOutcome errors, and SMART Backend
//! Services (client assertions checked, replay refused even when sent concurrently).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Duration;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::{
    rand::SystemRandom,
    signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use serde_json::{Value, json};

use epro::clock::Clock;

use crate::helpers::{TestApp, answer_hermes_visit, spawn_app};

const C30: &str = "eortc-qlq-c30";

fn canonical(app: &TestApp, key: &str) -> String {
    format!(
        "{}/fhir/Questionnaire/{key}",
        app.settings.base_url.trim_end_matches('/')
    )
}

pub(crate) async fn fhir_get(app: &TestApp, path_and_query: &str, token: &str) -> (u16, Value) {
    let url = if path_and_query.starts_with("http") {
        // `next` links are absolute on the configured base URL; follow them on the test server.
        let base = format!("{}/fhir/r4", app.settings.base_url.trim_end_matches('/'));
        path_and_query.replacen(&base, &format!("{}/fhir/r4", app.address), 1)
    } else {
        format!("{}/fhir/r4{path_and_query}", app.address)
    };
    let resp = app
        .client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status != 401 || !ct.starts_with("application/json") {
        assert!(
            ct.starts_with("application/fhir+json"),
            "{path_and_query}: {ct}"
        );
    }
    (status, body)
}

pub(crate) fn q(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// A two-site trial: ZAS-001 and ZAS-002 and UZG-001 each answer the baseline (three forms),
/// a minute apart. Returns a data manager's token (reads every site).
pub(crate) async fn seeded() -> (TestApp, String) {
    let app = spawn_app().await;
    let nurse = app.staff_token("site_staff", &["ZAS", "UZG"]).await;
    for (n, id) in ["HERMES-ZAS-001", "HERMES-ZAS-002", "HERMES-UZG-001"]
        .iter()
        .enumerate()
    {
        app.enrol(&nurse, id, json!({ "randomization_date": "2026-03-01" }))
            .await;
        let token = app.participant_token(&nurse, id).await;
        app.clock.advance(Duration::minutes(1 + n as i64));
        answer_hermes_visit(&app, &token, "BL", &format!("fhir-{n}")).await;
    }
    let reader = app.staff_token("data_manager", &[]).await;
    (app, reader)
}

pub(crate) fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["resource"]["id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn questionnaire_search_keeps_the_version_and_pages_by_keyset() {
    let (app, admin) = seeded().await;
    let url = canonical(&app, C30);
    // One C30 response is pinned to another version (as after a new version was published).
    app.sql(
        "UPDATE response SET questionnaire_version = '2.0' WHERE questionnaire_key = 'eortc-qlq-c30' \
         AND participant_id = (SELECT id FROM participant WHERE study_id = 'HERMES-UZG-001')",
    )
    .await;

    let (s, all) = fhir_get(
        &app,
        &format!("/QuestionnaireResponse?questionnaire={}", q(&url)),
        &admin,
    )
    .await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(all["resourceType"], "Bundle");
    assert_eq!(all["type"], "searchset");
    assert_eq!(all["total"], 3, "url alone matches every version");
    let (_, v3) = fhir_get(
        &app,
        &format!(
            "/QuestionnaireResponse?questionnaire={}",
            q(&format!("{url}|3.0"))
        ),
        &admin,
    )
    .await;
    assert_eq!(v3["total"], 2, "url|3.0 matches that version only: {v3}");
    for e in v3["entry"].as_array().expect("entries") {
        assert_eq!(e["resource"]["questionnaire"], format!("{url}|3.0"));
    }
    let (_, v2) = fhir_get(
        &app,
        &format!(
            "/QuestionnaireResponse?questionnaire={}",
            q(&format!("{url}|2.0"))
        ),
        &admin,
    )
    .await;
    assert_eq!(v2["total"], 1);
    assert_eq!(
        v2["entry"][0]["resource"]["questionnaire"],
        format!("{url}|2.0")
    );
    let (_, none) = fhir_get(
        &app,
        &format!(
            "/QuestionnaireResponse?questionnaire={}",
            q(&format!("{url}|9.9"))
        ),
        &admin,
    )
    .await;
    assert_eq!(none["total"], 0);
    let (_, other) = fhir_get(
        &app,
        &format!(
            "/QuestionnaireResponse?questionnaire={}",
            q("https://elsewhere.example/Questionnaire/x")
        ),
        &admin,
    )
    .await;
    assert_eq!(other["total"], 0);

    // Every completed response, two per page, following `next` as given; a response submitted
    // while paging does not shift the pages (keyset on the submission instant and id).
    let (_, first) = fhir_get(
        &app,
        "/QuestionnaireResponse?status=completed&_count=2",
        &admin,
    )
    .await;
    assert_eq!(first["total"], 9);
    let mut seen = ids(&first);
    let mut next = first["link"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["relation"] == "next"))
        .map(|l| l["url"].as_str().expect("url").to_string());
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    app.enrol(
        &nurse,
        "HERMES-ZAS-003",
        json!({ "randomization_date": "2026-03-01" }),
    )
    .await;
    let t3 = app.participant_token(&nurse, "HERMES-ZAS-003").await;
    app.clock.advance(Duration::minutes(10));
    answer_hermes_visit(&app, &t3, "BL", "late").await;
    while let Some(link) = next {
        let (s, page) = fhir_get(&app, &link, &admin).await;
        assert_eq!(s, 200, "{page}");
        seen.extend(ids(&page));
        next = page["link"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["relation"] == "next"))
            .map(|l| l["url"].as_str().expect("url").to_string());
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no response twice");
    assert_eq!(
        seen.len(),
        12,
        "the nine, then the three that arrived meanwhile at the end"
    );

    // Newest first, and authored ranges read in Europe/Brussels when no offset is given: the
    // first answers came at 09:01 UTC = 10:01 in Brussels.
    let (_, desc) = fhir_get(
        &app,
        "/QuestionnaireResponse?_sort=-authored&_count=1",
        &admin,
    )
    .await;
    let (_, asc) = fhir_get(
        &app,
        "/QuestionnaireResponse?_sort=authored&_count=1",
        &admin,
    )
    .await;
    assert_ne!(ids(&desc), ids(&asc));
    let (_, before) = fhir_get(
        &app,
        "/QuestionnaireResponse?authored=lt2026-03-01T10:02",
        &admin,
    )
    .await;
    assert_eq!(
        before["total"], 3,
        "ZAS-001's forms at 10:01 Brussels time: {before}"
    );
    let (_, utc) = fhir_get(
        &app,
        &format!(
            "/QuestionnaireResponse?authored={}",
            q("lt2026-03-01T09:02:00+00:00")
        ),
        &admin,
    )
    .await;
    assert_eq!(utc["total"], 3);
    let (_, day) = fhir_get(
        &app,
        "/QuestionnaireResponse?authored=2026-03-01&_summary=count",
        &admin,
    )
    .await;
    assert_eq!(day["total"], 12);
    assert!(day.get("entry").is_none());
    let (_, later) = fhir_get(&app, "/QuestionnaireResponse?authored=ge2026-03-02", &admin).await;
    assert_eq!(later["total"], 0);
    let (_, huge) = fhir_get(&app, "/QuestionnaireResponse?_count=1000000", &admin).await;
    assert_eq!(ids(&huge).len(), 12, "a huge _count is capped, not refused");

    // Patient reference and read.
    let resp = &all["entry"][0]["resource"];
    let patient = resp["subject"]["reference"]
        .as_str()
        .expect("reference")
        .to_string();
    let (s, p) = fhir_get(&app, &format!("/{patient}"), &admin).await;
    assert_eq!(s, 200);
    assert_eq!(p["resourceType"], "Patient");
    assert!(p.get("name").is_none() && p.get("telecom").is_none());
    let (_, by_patient) = fhir_get(
        &app,
        &format!("/QuestionnaireResponse?patient={patient}"),
        &admin,
    )
    .await;
    assert_eq!(by_patient["total"], 3);
    let (s, read) = fhir_get(
        &app,
        &format!(
            "/QuestionnaireResponse/{}",
            resp["id"].as_str().expect("id")
        ),
        &admin,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(read["id"], resp["id"]);
}

#[tokio::test]
async fn errors_are_operation_outcomes_and_sites_stay_apart() {
    let (app, admin) = seeded().await;
    let (s, cap) = fhir_get(&app, "/metadata", &admin).await;
    assert_eq!(s, 200);
    assert_eq!(cap["resourceType"], "CapabilityStatement");
    assert_eq!(cap["fhirVersion"], "4.0.1");

    let (s, o) = fhir_get(&app, "/QuestionnaireResponse?_format=xml", &admin).await;
    assert_eq!(
        (s, o["resourceType"].as_str()),
        (406, Some("OperationOutcome"))
    );
    let (s, o) = fhir_get(&app, "/QuestionnaireResponse?authored=yesterday", &admin).await;
    assert_eq!(s, 400);
    assert!(
        o["issue"][0]["diagnostics"]
            .as_str()
            .expect("text")
            .contains("authored")
    );
    let (s, _) = fhir_get(&app, "/QuestionnaireResponse?_cursor=forged", &admin).await;
    assert_eq!(s, 400);
    // Unknown parameters are ignored, unless the client asks for strict handling.
    let (s, _) = fhir_get(&app, "/QuestionnaireResponse?colour=blue", &admin).await;
    assert_eq!(s, 200);
    let strict = app
        .client
        .get(format!(
            "{}/fhir/r4/QuestionnaireResponse?colour=blue",
            app.address
        ))
        .bearer_auth(&admin)
        .header("prefer", "handling=strict")
        .send()
        .await
        .expect("sent");
    assert_eq!(strict.status(), 400);
    let (s, o) = fhir_get(&app, "/Medication", &admin).await;
    assert_eq!(
        (s, o["resourceType"].as_str()),
        (404, Some("OperationOutcome"))
    );
    let anonymous = app
        .client
        .get(format!("{}/fhir/r4/QuestionnaireResponse", app.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), 401);

    // A nurse of ZAS sees ZAS only; UZG's response is "not found".
    let nurse = app.staff_token("site_staff", &["ZAS"]).await;
    let (_, everything) = fhir_get(&app, "/QuestionnaireResponse", &admin).await;
    let (_, own) = fhir_get(&app, "/QuestionnaireResponse", &nurse).await;
    assert_eq!(everything["total"], 9);
    assert_eq!(own["total"], 6);
    let uzg = everything["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["resource"].clone())
        .find(|r| r["subject"]["identifier"]["value"] == "HERMES-UZG-001")
        .expect("a UZG response");
    let (s, o) = fhir_get(
        &app,
        &format!("/QuestionnaireResponse/{}", uzg["id"].as_str().expect("id")),
        &nurse,
    )
    .await;
    assert_eq!(
        (s, o["resourceType"].as_str()),
        (404, Some("OperationOutcome"))
    );
    let (s, _) = fhir_get(
        &app,
        &format!("/{}", uzg["subject"]["reference"].as_str().expect("ref")),
        &nurse,
    )
    .await;
    assert_eq!(s, 404);

    // Questionnaires: by url, url|version, name.
    let url = canonical(&app, C30);
    let (_, qs) = fhir_get(
        &app,
        &format!("/Questionnaire?url={}", q(&format!("{url}|3.0"))),
        &admin,
    )
    .await;
    assert_eq!(qs["total"], 1);
    let (_, qs) = fhir_get(
        &app,
        &format!("/Questionnaire?url={}", q(&format!("{url}|2.0"))),
        &admin,
    )
    .await;
    assert_eq!(qs["total"], 0);
    let (s, one) = fhir_get(&app, "/Questionnaire/eortc-qlq-c30-3.0", &admin).await;
    assert_eq!(s, 200);
    assert_eq!(one["url"], url);
}

// ---- SMART Backend Services ----

pub(crate) struct ClientKey {
    pkcs8: Vec<u8>,
    jwk: Value,
}

pub(crate) fn p384_key(kid: &str) -> ClientKey {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
        .expect("key")
        .as_ref()
        .to_vec();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &pkcs8, &rng).expect("pair");
    let point = pair.public_key().as_ref();
    let jwk = json!({
        "kty": "EC", "crv": "P-384", "kid": kid, "alg": "ES384", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..49]),
        "y": URL_SAFE_NO_PAD.encode(&point[49..97]),
    });
    ClientKey { pkcs8, jwk }
}

pub(crate) fn assertion(
    app: &TestApp,
    key: &ClientKey,
    client: &str,
    jti: &str,
    exp_in: i64,
    aud: Option<&str>,
) -> String {
    let now = app.clock.now().timestamp();
    let token_url = format!(
        "{}/fhir/r4/auth/token",
        app.settings.base_url.trim_end_matches('/')
    );
    let mut header = Header::new(Algorithm::ES384);
    header.kid = key.jwk["kid"].as_str().map(str::to_string);
    jsonwebtoken::encode(
        &header,
        &json!({ "iss": client, "sub": client, "aud": aud.unwrap_or(&token_url), "exp": now + exp_in, "jti": jti }),
        &EncodingKey::from_ec_der(&key.pkcs8),
    )
    .expect("signed")
}

pub(crate) async fn token_request(app: &TestApp, assertion: &str, scope: &str) -> (u16, Value) {
    let resp = app
        .client
        .post(format!("{}/fhir/r4/auth/token", app.address))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn register(
    app: &TestApp,
    admin: &str,
    key: &ClientKey,
    sites: &[&str],
    scopes: &[&str],
) -> String {
    let client = app
        .post_ok(
            "/api/v1/fhir/clients",
            Some(admin),
            json!({ "name": "UZG integration engine", "jwks": { "keys": [key.jwk] }, "sites": sites, "scopes": scopes }),
        )
        .await;
    client["id"].as_str().expect("client id").to_string()
}

pub(crate) const QR_SCOPE: &str = "system/QuestionnaireResponse.rs";

#[tokio::test]
async fn backend_services_tokens_are_checked_and_scoped() {
    let (app, reader) = seeded().await;
    let admin = app.admin_token().await;
    let (s, conf) = {
        let r = app
            .client
            .get(format!(
                "{}/fhir/r4/.well-known/smart-configuration",
                app.address
            ))
            .send()
            .await
            .expect("sent");
        (r.status().as_u16(), r.json::<Value>().await.expect("json"))
    };
    assert_eq!(s, 200);
    assert!(
        conf["token_endpoint"]
            .as_str()
            .expect("endpoint")
            .ends_with("/fhir/r4/auth/token")
    );

    let key = p384_key("uzg-1");
    let client = register(
        &app,
        &admin,
        &key,
        &["UZG"],
        &[QR_SCOPE, "system/Patient.rs"],
    )
    .await;
    // A private key is refused at registration, and so is a nurse registering a client.
    let mut private = key.jwk.clone();
    private["d"] = json!("AAAA");
    let r = app.post("/api/v1/fhir/clients", Some(&admin), json!({ "name": "x", "jwks": { "keys": [private] }, "sites": ["UZG"], "scopes": [QR_SCOPE] })).await;
    assert_eq!(r.status(), 422);
    let nurse = app.staff_token("site_staff", &["UZG"]).await;
    let r = app.post("/api/v1/fhir/clients", Some(&nurse), json!({ "name": "x", "jwks": { "keys": [key.jwk] }, "sites": ["UZG"], "scopes": [QR_SCOPE] })).await;
    assert_eq!(r.status(), 403);

    let (s, t) = token_request(
        &app,
        &assertion(&app, &key, &client, "jti-1", 240, None),
        QR_SCOPE,
    )
    .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["expires_in"], 300);
    assert_eq!(t["scope"], QR_SCOPE);
    let access = t["access_token"].as_str().expect("token").to_string();

    // The client sees UZG only: ZAS is "not found".
    let (s, b) = fhir_get(&app, "/QuestionnaireResponse", &access).await;
    assert_eq!(s, 200);
    assert_eq!(b["total"], 3);
    let (_, all) = fhir_get(&app, "/QuestionnaireResponse", &reader).await;
    let zas = all["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["resource"]["subject"]["identifier"]["value"] == "HERMES-ZAS-001")
        .expect("zas")["resource"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (s, _) = fhir_get(&app, &format!("/QuestionnaireResponse/{zas}"), &access).await;
    assert_eq!(s, 404);
    // Every read by the client is in the audit trail.
    let reads = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r["action"] == "fhir.read")
        .count();
    assert_eq!(reads, 2, "the search and the refused read");

    // A token without the QuestionnaireResponse scope: 403.
    let (s, t) = token_request(
        &app,
        &assertion(&app, &key, &client, "jti-2", 240, None),
        "system/Patient.rs",
    )
    .await;
    assert_eq!(s, 200);
    let patient_only = t["access_token"].as_str().expect("token").to_string();
    let (s, o) = fhir_get(&app, "/QuestionnaireResponse", &patient_only).await;
    assert_eq!(
        (s, o["resourceType"].as_str()),
        (403, Some("OperationOutcome"))
    );

    // Refused assertions: replayed, expired, too far ahead, wrong audience, unregistered key.
    let stranger = p384_key("uzg-1");
    for (name, a) in [
        (
            "replayed",
            assertion(&app, &key, &client, "jti-1", 240, None),
        ),
        (
            "expired",
            assertion(&app, &key, &client, "jti-3", -120, None),
        ),
        (
            "too far ahead",
            assertion(&app, &key, &client, "jti-4", 3600, None),
        ),
        (
            "wrong audience",
            assertion(
                &app,
                &key,
                &client,
                "jti-5",
                240,
                Some("https://elsewhere.example/token"),
            ),
        ),
        (
            "unregistered key",
            assertion(&app, &stranger, &client, "jti-6", 240, None),
        ),
    ] {
        let (s, body) = token_request(&app, &a, QR_SCOPE).await;
        assert_eq!(s, 401, "{name}: {body}");
        assert_eq!(body["error"], "invalid_client", "{name}");
    }

    // Tokens live 300 s (on the server's clock).
    app.clock.advance(Duration::seconds(301));
    let (s, _) = fhir_get(&app, "/QuestionnaireResponse", &access).await;
    assert_eq!(s, 401);

    // A disabled client gets no token, and its tokens stop working.
    let (_, t) = token_request(
        &app,
        &assertion(&app, &key, &client, "jti-7", 240, None),
        QR_SCOPE,
    )
    .await;
    let fresh = t["access_token"].as_str().expect("token").to_string();
    app.post_ok(
        &format!("/api/v1/fhir/clients/{client}/disable"),
        Some(&admin),
        json!({}),
    )
    .await;
    let (s, _) = fhir_get(&app, "/QuestionnaireResponse", &fresh).await;
    assert_eq!(s, 401);
    let (s, _) = token_request(
        &app,
        &assertion(&app, &key, &client, "jti-8", 240, None),
        QR_SCOPE,
    )
    .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn the_same_jti_sent_twenty_times_at_once_is_accepted_at_most_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let key = p384_key("k1");
    let client = register(&app, &admin, &key, &["ZAS"], &[QR_SCOPE]).await;
    let a = assertion(&app, &key, &client, "the-one-jti", 240, None);
    let results =
        futures::future::join_all((0..20).map(|_| token_request(&app, &a, QR_SCOPE))).await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|(s, b)| *s == 200 || (*s == 401 && b["error"] == "invalid_client")),
        "{results:?}"
    );
}

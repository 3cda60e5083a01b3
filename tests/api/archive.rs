//! The investigator archive: `epro archive create --site ZAS` and the site page's download make one
//! signed file that `epro archive verify` checks offline; one flipped byte fails it, naming the
//! file.

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

async fn answered_participant(app: &TestApp, staff: &str, id: &str) {
    app.enrol(
        staff,
        id,
        json!({"randomization_date": "2026-01-15", "phone": "+32 470 00 00 00"}),
    )
    .await;
    let lesion: Value = app
        .post(
            &format!("/api/v1/participants/{id}/lesions"),
            Some(staff),
            json!({"location": "L3", "labels": {"nl": "onderrug", "fr": "bas du dos", "en": "lower back"}, "high_risk_reasons": ["size_2cm"]}),
        )
        .await
        .json()
        .await
        .expect("lesion");
    let token = app.participant_token(staff, id).await;
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/me/visits/BL/responses/nrs-lesion-pain/submit",
            app.address
        ))
        .bearer_auth(&token)
        .header("Idempotency-Key", format!("k-{id}"))
        .json(&json!({"answers": [{"item": "worst_pain", "lesion": lesion["id"], "value": 6}]}))
        .send()
        .await
        .expect("submit");
    assert_eq!(resp.status(), 200);
}

fn flip(bytes: &mut [u8], needle: &str) {
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle:?} in the archive"));
    bytes[at] ^= 0x01;
}

#[tokio::test]
async fn a_site_archive_verifies_offline_and_one_flipped_byte_names_the_file() {
    let app = spawn_app_with(|s| s.session_hours = 24 * 365).await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
            .single()
            .expect("t"),
    );
    let (email, password, zas) = app.staff_account("site_staff", &["ZAS"]).await;
    let uzg = app.staff_token("site_staff", &["UZG"]).await;
    answered_participant(&app, &zas, "HERMES-ZAS-701").await;
    answered_participant(&app, &uzg, "HERMES-UZG-701").await;

    let file = app.dir.path().join("zas.tar");
    let out = app.cli(&[
        "archive",
        "create",
        "--site",
        "ZAS",
        "--out",
        file.to_str().expect("path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = app.cli(&["archive", "verify", file.to_str().expect("path")]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(text.starts_with("OK:"), "{text}");
    // The printed public key is the one in the archive, and a wrong one is refused.
    let key = String::from_utf8_lossy(&app.cli(&["archive", "public-key"]).stdout)
        .trim()
        .to_string();
    assert!(text.contains(&key));
    let out = app.cli(&[
        "archive",
        "verify",
        file.to_str().expect("path"),
        "--public-key",
        &"0".repeat(64),
    ]);
    assert!(!out.status.success());

    // What is inside: the site's participants only, their answers, audit events, the
    // questionnaires and the study file; no contact details.
    let bytes = std::fs::read(&file).expect("archive");
    let v = epro::exports::archive::verify(&bytes, Some(&key)).expect("verifies");
    let paths: Vec<&str> = v.manifest.files.iter().map(|f| f.path.as_str()).collect();
    for must in [
        "data/participants.csv",
        "data/visits.csv",
        "data/answers.csv",
        "data/scores.csv",
        "data/audit.jsonl",
        "study/hermes.toml",
        "questionnaires/eortc-qlq-c30/3.0/definition.json",
        "questionnaires/published.lock",
    ] {
        assert!(paths.contains(&must), "{must} in {paths:?}");
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("HERMES-ZAS-701"));
    assert!(
        !text.contains("HERMES-UZG-701"),
        "another site's participant"
    );
    assert!(!text.contains("+32 470 00 00 00"), "no contact details");
    assert!(
        text.contains("response.submitted"),
        "audit events of the site"
    );

    // One flipped byte in a data file: the file is named.
    let mut altered = bytes.clone();
    flip(&mut altered, "HERMES-ZAS-701,ZAS,BL,nrs-lesion-pain");
    std::fs::write(&file, &altered).expect("write");
    let out = app.cli(&["archive", "verify", file.to_str().expect("path")]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success());
    assert!(
        text.contains("FAILED") && text.contains("data/answers.csv"),
        "{text}"
    );
    // …and in the manifest: the signature fails.
    let mut altered = bytes.clone();
    flip(&mut altered, "\"site\": \"ZAS\"");
    let err = epro::exports::archive::verify(&altered, None).expect_err("altered manifest");
    assert!(err.to_string().starts_with("manifest.json"), "{err}");

    // The same archive from the site's pages; another site's staff cannot take it.
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let html = c
        .get(format!("{}/staff/login", app.address))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let start = html.find("name=\"csrf\" value=\"").expect("csrf") + 19;
    let token = html[start..start + html[start..].find('"').expect("end")].replace("&#x2f;", "/");
    let resp = c
        .post(format!("{}/staff/login", app.address))
        .form(&[
            ("csrf", token.as_str()),
            ("email", email.as_str()),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .expect("login");
    assert!(resp.status().is_success());
    let resp = c
        .get(format!("{}/staff/archive/ZAS", app.address))
        .send()
        .await
        .expect("download");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .expect("cd")
            .contains("epro-archive-ZAS-")
    );
    let downloaded = resp.bytes().await.expect("bytes");
    epro::exports::archive::verify(&downloaded, Some(&key)).expect("the download verifies");
    let resp = c
        .get(format!("{}/staff/archive/UZG", app.address))
        .send()
        .await
        .expect("download");
    assert_eq!(resp.status(), 404);
}

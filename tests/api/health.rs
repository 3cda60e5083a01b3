use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_ready_and_openapi() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), 200);

    let resp = app.get("/api/openapi.json", None).await;
    assert_eq!(resp.status(), 200);
    let spec: Value = resp.json().await.expect("json");
    assert!(
        spec["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.")
    );
    for path in [
        "/v1/auth/login",
        "/v1/auth/logout",
        "/v1/auth/me",
        "/v1/auth/password",
    ] {
        assert!(
            spec["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    // Every operation declares its 4xx responses.
    for (path, ops) in spec["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("ops") {
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|k| k.starts_with('4')),
                "{method} {path} declares no 4xx response"
            );
        }
    }
    assert_eq!(app.get("/api/docs/", None).await.status(), 200);
}

#[tokio::test]
async fn errors_are_json_with_a_code() {
    let app = spawn_app().await;
    let cases = [
        ("/nowhere", 404, "not_found"),
        ("/api/v1/users", 401, "unauthenticated"),
    ];
    for (path, status, code) in cases {
        let resp = app.get(path, None).await;
        assert_eq!(resp.status(), status, "{path}");
        let body: Value = resp.json().await.expect("json error body");
        assert_eq!(body["code"], code, "{path}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    // Malformed JSON names the problem.
    let resp = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("content-type", "application/json")
        .body("{\"email\": \"x@y.org\"")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "bad_request");

    // A missing field names the object and the expected type.
    let resp = app
        .post(
            "/api/v1/auth/login",
            None,
            serde_json::json!({ "email": "x@y.org" }),
        )
        .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("LoginRequest"),
        "{body}"
    );
}

/// An undeclared method gets 405 with the methods the path does answer (RFC 9110), on every
/// documented API path, signed in or not.
#[tokio::test]
async fn an_undeclared_method_names_the_allowed_ones() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let trace = reqwest::Method::from_bytes(b"TRACE").expect("method");
    let cases = [
        ("/api/v1/audit/head", "GET"),
        ("/api/v1/exports/scores.csv", "GET"),
        ("/api/v1/lesion-locations", "GET"),
        ("/api/v1/users", "GET, POST"),
    ];
    for token in [None, Some(admin.as_str())] {
        for (path, allowed) in cases {
            let resp = app.request(trace.clone(), path, token, None).await;
            assert_eq!(resp.status(), 405, "{path}");
            assert_eq!(
                resp.headers().get("allow").and_then(|v| v.to_str().ok()),
                Some(allowed),
                "{path}"
            );
            let body: Value = resp.json().await.expect("json error body");
            assert_eq!(body["code"], "method_not_allowed", "{path}");
        }
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_streamed_or_not() {
    let app = spawn_app_small_limit().await;
    let big = "x".repeat(8 * 1024);
    let resp = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("content-type", "application/json")
        .body(format!("{{\"email\":\"{big}\",\"password\":\"p\"}}"))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "payload_too_large");

    // Chunked, with no Content-Length.
    let chunks: Vec<Result<String, std::io::Error>> = vec![
        Ok("{\"email\":\"".into()),
        Ok(big.clone()),
        Ok("\"}".into()),
    ];
    let resp = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 413);
}

async fn spawn_app_small_limit() -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(|s| s.body_limit_bytes = 4096).await
}

#[tokio::test]
async fn a_trickling_client_gets_408_and_a_stuck_request_503_without_a_partial_write() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::helpers::spawn_app_with(|s| {
        s.request_timeout_seconds = 1;
        s.session_hours = 24;
    })
    .await;
    let token = app.staff_token("site_staff", &["ZAS"]).await;

    // Headers promise 100 bytes; one arrives. The server answers 408 after its timeout.
    let addr = app.address.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    tcp.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(20), tcp.read(&mut buf))
        .await
        .expect("an answer before the test's deadline")
        .expect("read");
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");

    // Another writer holds the database; an enrolment cannot finish in time: 503, and after the
    // holder lets go nothing of it was stored.
    let db = sea_orm::Database::connect(&app.settings.database_url)
        .await
        .expect("db");
    let hold = epro::store::begin_write(&db).await.expect("begin");
    if app.settings.database_url.starts_with("postgres") {
        use sea_orm::ConnectionTrait;
        hold.execute_unprepared("LOCK TABLE audit_event IN ACCESS EXCLUSIVE MODE")
            .await
            .expect("lock");
    }
    let resp = app
        .post(
            "/api/v1/participants",
            Some(&token),
            serde_json::json!({"study_id": "HERMES-ZAS-001", "site": "ZAS", "language": "nl"}),
        )
        .await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "timeout");
    hold.rollback().await.expect("rollback");
    let resp = app
        .get("/api/v1/participants/HERMES-ZAS-001", Some(&token))
        .await;
    assert_eq!(
        resp.status(),
        404,
        "the timed-out enrolment left nothing behind"
    );
}

/// An error page gives the reader a reference for the help desk: the start of the request id
/// that the `x-request-id` header (and the request's log line) carries, in the page's language.
#[tokio::test]
async fn an_error_page_shows_the_request_reference() {
    let app = spawn_app().await;
    for (lang, words) in [
        ("nl", "Vermeld bij de helpdesk deze referentie:"),
        (
            "fr",
            "Communiquez cette référence au service d’assistance :",
        ),
    ] {
        let resp = app
            .client
            .get(format!("{}/p/tasks?lang={lang}", app.address))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 401, "no session: the error page");
        let id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("x-request-id")
            .to_string();
        let html = resp.text().await.expect("body");
        let words = words.replace('\'', "&#x27;");
        assert!(html.contains(&words), "{lang}: {html}");
        assert!(
            html.contains(&format!("<strong>{}</strong>", &id[..8])),
            "{lang}: the reference {} is not shown: {html}",
            &id[..8]
        );
    }
}

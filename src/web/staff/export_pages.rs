//! The exports page, the downloads and the investigator archive.

use std::sync::Arc;

use minijinja::context;
use poem::{
    Request, Response, handler,
    http::header,
    web::{Data, Path},
};

use super::{Web, failed, query_param, signed_in};
use crate::{app::App, auth, exports};

/// The investigator archive of one site: one signed file (see `epro archive verify`).
#[handler]
pub(super) async fn archive_download(
    req: &Request,
    Path(site): Path<String>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    match crate::exports::archive::for_staff(app.clone(), &actor, &site).await {
        Ok(bytes) => Response::builder()
            .content_type("application/x-tar")
            .header(
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"epro-archive-{site}-{}.tar\"",
                    app.clock.now().format("%Y%m%dT%H%M%SZ")
                ),
            )
            .body(bytes),
        Err(e) => failed(web, &page, &e),
    }
}

#[handler]
pub(super) async fn exports_page(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    let sites: Vec<String> = match auth::site_scope(&actor, None) {
        Some(s) => s,
        None => app.study.sites.iter().map(|s| s.code.clone()).collect(),
    };
    web.render(
        "s_exports.html",
        &page,
        context! {
            files => exports::FILES.to_vec(),
            sites => sites,
            public_key => crate::exports::archive::public_key_hex(app),
        },
    )
}

#[handler]
pub(super) async fn export_download(
    req: &Request,
    Path(file): Path<String>,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    let opts = match exports::Options::parse(
        &actor,
        query_param(req, "dialect").as_deref(),
        query_param(req, "include").as_deref(),
    ) {
        Ok(o) => o,
        Err(e) => return failed(web, &page, &e),
    };
    let stream = exports::export(app.clone(), &actor, &file, opts).await;
    match stream {
        Ok(s) => {
            let kind = if file.ends_with(".ndjson") {
                "application/fhir+ndjson"
            } else if file.ends_with(".xml") {
                "application/xml"
            } else {
                "text/csv; charset=utf-8"
            };
            Response::builder()
                .content_type(kind)
                .header(
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file}\""),
                )
                .body(poem::Body::from_bytes_stream(s))
        }
        Err(e) => failed(web, &page, &e),
    }
}

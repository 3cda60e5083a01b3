//! The exports page, the downloads and the investigator archive.

use std::sync::Arc;

use minijinja::context;
use poem::{
    Request, Response, handler,
    http::header,
    web::{Data, Path},
};

use super::{Web, failed, query_param, signed_in};
use crate::{app::App, auth, error::Error, exports};

pub(super) const EXPORTS: [&str; 6] = [
    "answers.csv",
    "visits.csv",
    "scores.csv",
    "audit.csv",
    "dictionary.csv",
    "fhir.ndjson",
];

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
            files => EXPORTS.to_vec(),
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
    let dialect = match exports::Dialect::parse(query_param(req, "dialect").as_deref()) {
        Ok(d) => d,
        Err(e) => return failed(web, &page, &e),
    };
    let stream = match file.as_str() {
        "answers.csv" => exports::answers_csv(app.clone(), &actor, dialect).await,
        "visits.csv" => exports::visits_csv(app.clone(), &actor, dialect).await,
        "scores.csv" => exports::scores_csv(app.clone(), &actor, dialect).await,
        "audit.csv" => exports::audit_csv(app.clone(), &actor, dialect).await,
        "fhir.ndjson" => exports::fhir_ndjson(app.clone(), &actor).await,
        "dictionary.csv" => {
            if let Err(e) = auth::authorize(
                &actor,
                crate::domain::permissions::Action::ResponseRead,
                None,
            ) {
                return failed(web, &page, &e);
            }
            let bytes = exports::dictionary_csv(app, dialect);
            Ok(Box::pin(futures::stream::once(async move { Ok(bytes) })) as exports::ByteStream)
        }
        _ => Err(Error::NotFound(format!("export {file}"))),
    };
    match stream {
        Ok(s) => {
            let kind = if file.ends_with(".ndjson") {
                "application/fhir+ndjson"
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

//! Benchmarks only (docs/benchmarks.md): the limit for "GET a questionnaire definition" — a bare
//! poem handler returning the same bytes from memory, with the same content type.
//!
//!   cargo run --release --example bare_poem -- 127.0.0.1:18301 body.json

use poem::{EndpointExt, Response, Route, Server, get, handler, listener::TcpListener, web::Data};

#[handler]
fn serve_body(Data(bytes): Data<&bytes::Bytes>) -> Response {
    Response::builder()
        .content_type("application/json; charset=utf-8")
        .body(bytes.clone())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18301".into());
    let file = args
        .next()
        .ok_or_else(|| std::io::Error::other("give the body file"))?;
    let bytes = bytes::Bytes::from(std::fs::read(file)?);
    Server::new(TcpListener::bind(addr))
        .run(Route::new().at("/*path", get(serve_body)).data(bytes))
        .await
}

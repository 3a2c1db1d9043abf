//! The web UI's assets. `web/` is a Vite + TypeScript app; `npm run build` writes
//! `web/dist`, which release builds embed in the binary (debug builds read the folder
//! at request time, so a rebuilt UI shows without recompiling Rust). A binary built
//! without the UI still starts and answers `/` with a page saying how to build it.

use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct Assets;

/// Whether this binary has the UI (a built `web/dist/index.html`).
pub fn available() -> bool {
    Assets::get("index.html").is_some()
}

/// The UI's answer to a request no API route took: the asset at that path, or
/// `index.html` for the UI's own routes (`/runs/…`, `/projects/…`), so links into the
/// UI work when opened directly. `None` for what is not the UI's: API prefixes, and
/// methods other than GET/HEAD, so the caller answers with the API's own 404/405.
pub fn respond(method: &Method, uri: &Uri) -> Option<Response> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let path = uri.path();
    if is_api(path) {
        return None;
    }
    let rel = path.trim_start_matches('/');
    if !rel.is_empty()
        && let Some(file) = Assets::get(rel)
    {
        return Some(asset(rel, file));
    }
    // A missing file with an extension is a missing asset, not a UI route.
    let last = rel.rsplit('/').next().unwrap_or("");
    if last.contains('.') {
        return Some((StatusCode::NOT_FOUND, "no such file in the web UI\n").into_response());
    }
    Some(match Assets::get("index.html") {
        Some(file) => asset("index.html", file),
        None => not_built(),
    })
}

fn is_api(path: &str) -> bool {
    ["/api/", "/ajax-api/", "/healthz", "/cairn.v1."].iter().any(|p| path.starts_with(p)) || path == "/api"
}

fn asset(path: &str, file: rust_embed::EmbeddedFile) -> Response {
    let mime = file.metadata.mimetype().to_owned();
    let mut res = (StatusCode::OK, file.data.into_owned()).into_response();
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    // Vite puts a content hash in every asset name under assets/: cache those for
    // good; index.html must be revalidated so a new build is picked up.
    let cache = if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}

fn not_built() -> Response {
    let body = "<!doctype html><meta charset=utf-8><title>Cairn</title>\
        <h1>Cairn is running, but this binary was built without its web UI</h1>\
        <p>The API is up: see <a href=\"/api/openapi.json\">/api/openapi.json</a>.</p>\
        <p>To get the UI, build it and then the binary: <code>./scripts/start</code>, or \
        <code>(cd web &amp;&amp; npm ci &amp;&amp; npm run build) &amp;&amp; cargo build --release -p cairn</code>.</p>";
    let mut res = (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_and_other_methods_are_left_to_the_api() {
        assert!(respond(&Method::GET, &"/api/v1/nope".parse().unwrap()).is_none());
        assert!(respond(&Method::GET, &"/ajax-api/2.0/mlflow/x".parse().unwrap()).is_none());
        assert!(respond(&Method::POST, &"/runs/abc".parse().unwrap()).is_none());
    }

    #[test]
    fn ui_routes_get_the_page_and_missing_assets_a_404() {
        let page = respond(&Method::GET, &"/runs/0193abcd".parse().unwrap()).unwrap();
        // Built or not, a UI route answers with HTML.
        let ct = page.headers()[header::CONTENT_TYPE].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/html"), "{ct}");
        let missing = respond(&Method::GET, &"/assets/nope-123.js".parse().unwrap()).unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }
}

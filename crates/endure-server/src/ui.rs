//! The Web UI listener: the UI's files (built into the binary from `ui/`, or another UI build
//! from a folder), `/api/v1/settings` as Temporal's UI server answers it, and the HTTP API under
//! `/api/…` on the same origin, with payloads in canonical form as Temporal's UI server gives
//! them, so the page never calls another origin (except a configured codec endpoint, which the
//! browser calls itself to decode payloads).
//!
//! This module knows files and settings; the API itself is [`crate::http_api`]'s.

use crate::http_api::HttpApi;
use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// What the UI listener serves.
#[derive(Debug, Clone, Default)]
pub struct UiConfig {
    /// A remote codec endpoint the browser calls to decode payloads (`--ui-codec-endpoint`).
    pub codec_endpoint: Option<String>,
    /// A folder holding another UI build to serve instead of the built-in one
    /// (`--ui-asset-path`).
    pub asset_path: Option<PathBuf>,
    /// The namespace the UI opens first.
    pub default_namespace: String,
}

/// The version the settings report.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The UI's router: settings, the HTTP API under `/api/`, then the files.
pub fn router(config: UiConfig, api: Arc<HttpApi>) -> axum::Router {
    let config = Arc::new(config);
    axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (config, api) = (config.clone(), api.clone());
        async move {
            let path = req.uri().path().to_string();
            if path == "/api/v1/settings" {
                return settings(&config);
            }
            if path.starts_with("/api/") {
                // As Temporal's UI server answers its browser: canonical payloads.
                return api.handle_canonical(req).await;
            }
            if req.method() != axum::http::Method::GET && req.method() != axum::http::Method::HEAD {
                return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            }
            file(&config, &path).await
        }
    })
}

/// `/api/v1/settings` in the shape Temporal's UI server gives it (its UI build reads it).
fn settings(config: &UiConfig) -> Response<Body> {
    let body = serde_json::json!({
        "Auth": {"Enabled": false, "Options": null, "RedirectToProvider": false},
        "DefaultNamespace": config.default_namespace,
        "ShowTemporalSystemNamespace": false,
        "NavCollapsedByDefault": false,
        "FeedbackURL": "",
        "DisableNewsFetch": true,
        "Codec": {
            "Endpoint": config.codec_endpoint.clone().unwrap_or_default(),
            "PassAccessToken": false,
            "IncludeCredentials": false,
            "DefaultErrorMessage": "",
            "DefaultErrorLink": "",
        },
        "Version": VERSION,
        "DisableWriteActions": false,
        "WorkflowTerminateDisabled": false,
        "WorkflowCancelDisabled": false,
        "WorkflowSignalDisabled": false,
        "WorkflowUpdateDisabled": false,
        "WorkflowResetDisabled": false,
        "WorkflowPauseDisabled": false,
        "BatchActionsDisabled": false,
        "StartWorkflowDisabled": false,
        "HideWorkflowQueryErrors": false,
        "RefreshWorkflowCountsDisabled": false,
        "ActivityCommandsDisabled": false,
    });
    let mut resp = Response::new(Body::from(body.to_string()));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

async fn file(config: &UiConfig, path: &str) -> Response<Body> {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned();
    let rel = decoded.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    match &config.asset_path {
        Some(dir) => from_folder(dir, rel).await,
        None => builtin(config, rel),
    }
}

/// A missing file with a static asset's extension is a 404 (a broken build shows as missing files,
/// not as an HTML page where a script was expected); any other missing path is a page.
fn is_asset(rel: &str) -> bool {
    const ASSETS: &[&str] = &["js", "mjs", "css", "map", "json", "svg", "png", "ico", "woff", "woff2", "txt"];
    let last = rel.rsplit('/').next().unwrap_or_default();
    last.rsplit_once('.').is_some_and(|(_, ext)| ASSETS.contains(&ext))
}

fn builtin(config: &UiConfig, rel: &str) -> Response<Body> {
    let found = UI_ASSETS
        .iter()
        .find(|(p, _)| *p == rel)
        // A path that is no file is a page: the UI routes in the browser (and its ids may
        // contain dots, `/schedules/nightly.backup`).
        .or_else(|| if is_asset(rel) { None } else { UI_ASSETS.iter().find(|(p, _)| *p == "index.html") });
    let Some((name, bytes)) = found else { return plain(StatusCode::NOT_FOUND, "not found\n") };
    let mut resp = Response::new(Body::from(*bytes));
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime(name)));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    // The page may talk to its own origin only (and to the codec endpoint, if one is set).
    let codec = config.codec_endpoint.as_deref().map(codec_origin).unwrap_or_default();
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'{codec}; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert("content-security-policy", v);
    }
    resp
}

/// The origin (scheme, host, port) of a codec endpoint URL, as a CSP source.
fn codec_origin(endpoint: &str) -> String {
    let trimmed = endpoint.trim();
    let (scheme, rest) = trimmed.split_once("://").unwrap_or(("http", trimmed));
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || host.contains([' ', ';', '\'']) {
        String::new()
    } else {
        format!(" {scheme}://{host}")
    }
}

async fn from_folder(dir: &Path, rel: &str) -> Response<Body> {
    // Only plain components: nothing outside the folder.
    let safe = Path::new(rel).components().all(|c| matches!(c, Component::Normal(_)));
    if !safe {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    let mut target = dir.join(rel);
    if !tokio::fs::metadata(&target).await.is_ok_and(|m| m.is_file()) {
        if is_asset(rel) {
            return plain(StatusCode::NOT_FOUND, "not found\n");
        }
        target = dir.join("index.html");
    }
    match tokio::fs::read(&target).await {
        Ok(bytes) => {
            let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let mut resp = Response::new(Body::from(bytes));
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime(&name)));
            resp
        }
        Err(_) => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn mime(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_assets_are_not_found_and_other_paths_are_pages() {
        assert!(is_asset("_app/immutable/chunks/x.js"));
        assert!(is_asset("app.css"));
        assert!(!is_asset("namespaces/default/schedules/nightly.backup"));
        assert!(!is_asset("namespaces/default/workflows"));
    }

    #[test]
    fn the_codec_origin_is_the_csp_source() {
        assert_eq!(codec_origin("http://127.0.0.1:8081/ns"), " http://127.0.0.1:8081");
        assert_eq!(codec_origin("https://codec.example.com"), " https://codec.example.com");
        assert_eq!(codec_origin("bad;host"), "");
    }

    #[test]
    fn the_built_in_ui_has_an_index() {
        assert!(UI_ASSETS.iter().any(|(p, _)| *p == "index.html"), "ui/index.html is missing");
    }
}

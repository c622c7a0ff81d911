//! Files a page loads from this server instead of a third party: the passage-elements bundle
//! (`/elements/…`, from `--elements-dir`) and the phone-number input's styles, flags and
//! formatting script (`/vendor/intl-tel-input/…`), which the bundle would otherwise fetch from a
//! public CDN on every page load. The bundle's scripts are served with the CDN's address
//! replaced by this server's, so a page with a strict Content-Security-Policy works and no
//! visit leaks to a third party.

use std::{
    collections::HashMap,
    path::{Path as FsPath, PathBuf},
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{AuthApiError, Shared};

/// Where passage-elements 2.x loads intl-tel-input from (any version): `…@24.3.4/build/`.
const CDN: &str = "https://cdn.jsdelivr.net/npm/intl-tel-input@";

/// The path under which this server serves intl-tel-input's `build/` directory.
pub(crate) const VENDOR_PATH: &str = "/vendor/intl-tel-input/";

/// At most this many rewritten scripts are kept (the bundle has a few dozen files).
const CACHED_FILES: usize = 256;

/// The bundle's directory, intl-tel-input's, and the scripts already rewritten.
#[derive(Debug, Default)]
pub(crate) struct Assets {
    elements: Option<PathBuf>,
    intl_tel_input: Option<PathBuf>,
    rewritten: Mutex<HashMap<String, Arc<[u8]>>>,
}

impl Assets {
    /// Serves the bundle in `elements` (passage-elements' `dist/package`) and intl-tel-input's
    /// `build/` from the npm install it came with (`node_modules/intl-tel-input/build`).
    pub(crate) fn new(elements: Option<PathBuf>) -> Self {
        let intl_tel_input = elements.as_deref().and_then(intl_tel_input_beside);
        if elements.is_some() && intl_tel_input.is_none() {
            tracing::warn!(
                "passage-server: no intl-tel-input beside the elements bundle (node_modules/intl-tel-input): phone-number inputs will not be styled"
            );
        }
        Self {
            elements,
            intl_tel_input,
            rewritten: Mutex::default(),
        }
    }
}

/// `node_modules/intl-tel-input/build` for a bundle at
/// `node_modules/@passageidentity/passage-elements/dist/package`.
fn intl_tel_input_beside(elements: &FsPath) -> Option<PathBuf> {
    let build = elements.ancestors().nth(4)?.join("intl-tel-input/build");
    build
        .join("css/intlTelInput.css")
        .is_file()
        .then_some(build)
}

/// `path` split into safe parts: no empty, `.` or `..` part, no backslash, a known extension.
fn content_type(path: &str, allowed: &[&str]) -> Option<&'static str> {
    let safe = path
        .split('/')
        .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\\'));
    let extension = path.rsplit_once('.').map(|(_, ext)| ext)?;
    if !safe || !allowed.contains(&extension) {
        return None;
    }
    Some(match extension {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webp" => "image/webp",
        "png" => "image/png",
        _ => return None,
    })
}

/// Every `https://cdn.jsdelivr.net/npm/intl-tel-input@VERSION/build/` in `script` replaced by
/// `{auth_url}/vendor/intl-tel-input/`; `None` when there is none.
fn rewrite(script: &str, auth_url: &str) -> Option<String> {
    if !script.contains(CDN) {
        return None;
    }
    let mut out = String::with_capacity(script.len());
    let mut rest = script;
    while let Some(at) = rest.find(CDN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + CDN.len()..];
        let version_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
            .unwrap_or(after.len());
        match after[version_len..].strip_prefix("/build/") {
            Some(tail) => {
                out.push_str(auth_url);
                out.push_str(VENDOR_PATH);
                rest = tail;
            }
            None => {
                out.push_str(CDN);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

fn not_found() -> Response {
    AuthApiError::new(StatusCode::NOT_FOUND, "file_not_found", "no such file").into_response()
}

fn file(content_type: &'static str, bytes: impl Into<axum::body::Body>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        bytes.into(),
    )
        .into_response()
}

/// `GET /elements/{path}`: a file of the passage-elements bundle, when one is configured. Only
/// scripts, styles and JSON, and only under the bundle's directory; scripts load
/// intl-tel-input from this server.
pub(crate) async fn element_file(
    State(state): State<Shared>,
    Path(path): Path<String>,
) -> Response {
    let assets = &state.assets;
    let (Some(root), Some(content_type)) = (
        &assets.elements,
        content_type(&path, &["js", "mjs", "css", "json"]),
    ) else {
        return not_found();
    };
    let cached = assets
        .rewritten
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&path)
        .cloned();
    if let Some(bytes) = cached {
        return file(content_type, bytes.to_vec());
    }
    let Ok(bytes) = tokio::fs::read(root.join(&path)).await else {
        return not_found();
    };
    let rewritten = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|script| rewrite(script, &state.settings.public_auth_url));
    let Some(script) = rewritten else {
        return file(content_type, bytes);
    };
    let script: Arc<[u8]> = Arc::from(script.into_bytes());
    let mut cache = assets
        .rewritten
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if cache.len() < CACHED_FILES {
        cache.insert(path, Arc::clone(&script));
    }
    file(content_type, script.to_vec())
}

/// `GET /vendor/intl-tel-input/{path}`: intl-tel-input's styles, flags and scripts, from the
/// npm install beside the bundle.
pub(crate) async fn vendor_file(State(state): State<Shared>, Path(path): Path<String>) -> Response {
    let (Some(root), Some(content_type)) = (
        &state.assets.intl_tel_input,
        content_type(&path, &["js", "css", "webp", "png"]),
    ) else {
        return not_found();
    };
    match tokio::fs::read(root.join(&path)).await {
        Ok(bytes) => file(content_type, bytes),
        Err(_) => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cdn_becomes_this_server() {
        let script = r#"a="https://cdn.jsdelivr.net/npm/intl-tel-input@24.3.4/build/css/x.css";b='https://cdn.jsdelivr.net/npm/intl-tel-input@25.0.0-beta.1/build/js/utils.js'"#;
        assert_eq!(
            rewrite(script, "https://auth.example.com").as_deref(),
            Some(
                r#"a="https://auth.example.com/vendor/intl-tel-input/css/x.css";b='https://auth.example.com/vendor/intl-tel-input/js/utils.js'"#
            )
        );
        assert_eq!(rewrite("no cdn here", "https://a"), None);
        let odd = "https://cdn.jsdelivr.net/npm/intl-tel-input@1/elsewhere";
        assert_eq!(rewrite(odd, "https://a").as_deref(), Some(odd));
    }

    #[test]
    fn only_plain_paths_with_known_extensions() {
        assert_eq!(
            content_type("passage-auth/index.es.js", &["js"]),
            Some("text/javascript; charset=utf-8")
        );
        for bad in [
            "../x.js",
            "a/../x.js",
            "./x.js",
            "a//x.js",
            "a\\x.js",
            "x.txt",
            "x",
        ] {
            assert_eq!(content_type(bad, &["js"]), None, "{bad}");
        }
    }
}

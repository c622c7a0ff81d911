//! What the element loads before any sign-in: the app's settings in the shape passage-elements
//! reads (every field it dereferences is present), the JWKS, the UI strings, and the script
//! that points passage-js at this server.

use axum::{
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{App, AuthApiError, Shared, ok};

/// `GET /v1/apps/{app_id}` → `{app}`.
pub(crate) async fn get_app(_: App, State(state): State<Shared>) -> Response {
    let settings = &state.settings;
    let methods = settings.auth_methods;
    let magic_link_secs = settings.magic_link_ttl.as_secs();
    let otp_secs = settings.otp_ttl.as_secs();
    // A method is offered when its key is there (the element reads `!== undefined`), and the
    // element uses codes whenever the `otp` key is there.
    let mut auth_methods = json!({});
    if methods.passkeys {
        auth_methods["passkeys"] = json!({});
    }
    if methods.otp {
        auth_methods["otp"] = json!({ "ttl": otp_secs, "ttl_display_unit": "s" });
    }
    if methods.magic_link {
        auth_methods["magic_link"] = json!({ "ttl": magic_link_secs, "ttl_display_unit": "s" });
    }
    let (fallback, fallback_ttl) = if methods.otp {
        ("otp", otp_secs)
    } else if methods.magic_link {
        ("magic_link", magic_link_secs)
    } else {
        ("none", 0)
    };
    let required = match settings.identifiers {
        crate::methods::Identifiers::Both => "either",
        other => other.as_str(),
    };
    ok(json!({ "app": {
        "id": settings.app_id,
        "name": settings.app_name,
        "auth_origin": settings.auth_origin,
        "redirect_url": settings.redirect_url,
        "login_url": settings.login_url,
        "allowed_identifier": settings.identifiers.as_str(),
        "required_identifier": required,
        "public_signup": settings.public_signup,
        "require_identifier_verification": settings.require_verification,
        "require_email_verification": false,
        "default_language": "en",
        "passage_branding": false,
        "ephemeral": false,
        "profile_management": true,
        "session_timeout_length": settings.session_length.as_secs(),
        "refresh_enabled": true,
        "refresh_absolute_lifetime": settings.refresh_absolute_lifetime.as_secs(),
        "refresh_inactivity_lifetime": settings.refresh_inactivity_lifetime.as_secs(),
        "rsa_public_key": "",
        "auth_fallback_method": fallback,
        "auth_fallback_method_ttl": fallback_ttl,
        "auth_methods": auth_methods,
        "layouts": state.passage.fields.layouts_json(),
        "user_metadata_schema": state.passage.fields.schema_json(),
        "social_connections": {},
        "element_customization": customization(false),
        "element_customization_dark": customization(true),
    }}))
}

/// The element's own default look, every field set (an absent one breaks its CSS variable).
fn customization(dark: bool) -> Value {
    let (background, input, text) = if dark {
        ("#383838", "#4b4b4b", "#f3f3f3")
    } else {
        ("#ffffff", "#ffffff", "#222222")
    };
    json!({
        "passage_container_background_color": background,
        "passage_container_max_width": 300,
        "passage_input_box_background_color": input,
        "passage_input_box_border_radius": 5,
        "passage_header_font_family": "Helvetica, Arial, sans-serif",
        "passage_body_font_family": "Helvetica, Arial, sans-serif",
        "passage_header_text_color": text,
        "passage_body_text_color": text,
        "passage_primary_button_background_color": "#121212",
        "passage_primary_button_text_color": "#f3f3f3",
        "passage_primary_button_hover_color": "#4d4d4d",
        "passage_primary_button_border_radius": 5,
        "passage_primary_button_border_color": "#121212",
        "passage_primary_button_border_width": 0,
        "passage_secondary_button_background_color": "#ffffff",
        "passage_secondary_button_text_color": "#222222",
        "passage_secondary_button_hover_color": "#d7d7d7",
        "passage_secondary_button_border_radius": 5,
        "passage_secondary_button_border_color": "#d7d7d7",
        "passage_secondary_button_border_width": 1,
    })
}

/// `GET /v1/apps/{app_id}/.well-known/jwks.json`: the keys the tokens are signed with.
pub(crate) async fn jwks(_: App, State(state): State<Shared>) -> Response {
    let (jwks, cache_control) = state.passage.jwks();
    let mut response = ok(jwks);
    if let Ok(value) = HeaderValue::from_str(&cache_control) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

/// `GET /locales/passage-auth/v2/{lang}.json`: the operator's file from `--locales-dir` when it
/// has one, else the built-in strings; other languages are 404, which the element ignores (it
/// falls back to the app's default language, English).
pub(crate) async fn locale(State(state): State<Shared>, Path(file): Path<String>) -> Response {
    let json = |body: String| {
        (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            body,
        )
            .into_response()
    };
    // A language tag, lower case (as the element asks): `de`, `pt-br`, never a path.
    let language = file.strip_suffix(".json").filter(|tag| {
        !tag.is_empty()
            && tag.len() <= 16
            && tag
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !tag.starts_with('-')
    });
    let Some(language) = language else {
        return AuthApiError::new(StatusCode::NOT_FOUND, "locale_not_found", "no such locale")
            .into_response();
    };
    if let Some(dir) = &state.locales.dir
        && let Ok(text) = tokio::fs::read_to_string(dir.join(format!("{language}.json"))).await
    {
        return json(text);
    }
    match super::templates::element_strings(language) {
        Some(text) => json(text.to_owned()),
        None => AuthApiError::new(StatusCode::NOT_FOUND, "locale_not_found", "no such locale")
            .into_response(),
    }
}

/// `GET /passage-fetch.js`: a classic script for the app's page, loaded before the element's
/// module, that sends passage-js's calls (hard-wired to `https://auth.passage.id`) and its
/// UI-string fetches here.
pub(crate) async fn fetch_script(State(state): State<Shared>) -> Response {
    let script = FETCH_SCRIPT.replace(
        "__PASSAGE_AUTH_URL__",
        &serde_json::to_string(&state.settings.public_auth_url).unwrap_or_default(),
    );
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        script,
    )
        .into_response()
}

const FETCH_SCRIPT: &str = r#"// passage-server: points passage-elements at this server. Load it with a classic <script>
// before the element's module script: the element fetches as soon as its module runs.
(() => {
  const server = __PASSAGE_AUTH_URL__;
  const hosted = "https://auth.passage.id/";
  const locales = "https://storage.googleapis.com/passage-frontend/locales/passage-auth/";
  // The phone input's stylesheet, which every element links on mount (the bundle served from
  // this server's /elements/ already loads it, its flags and its script from here).
  const cdn = /^https:\/\/cdn\.jsdelivr\.net\/npm\/intl-tel-input@[\w.-]+\/build\//;
  // This browser's id, kept in the app's localStorage and sent with every call to the server:
  // a magic link signs in the page that asked for it only when it is opened in this browser.
  const browserId = (() => {
    try {
      let id = localStorage.getItem("psg_browser_id");
      if (!id || !/^[A-Za-z0-9_-]{16,128}$/.test(id)) {
        const bytes = crypto.getRandomValues(new Uint8Array(24));
        id = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
        localStorage.setItem("psg_browser_id", id);
      }
      return id;
    } catch {
      return null;
    }
  })();
  const fetch = window.fetch.bind(window);
  const toServer = (path, input, init) => {
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    if (browserId) headers.set("Passage-Browser", browserId);
    return fetch(server + path, { ...init, headers });
  };
  window.fetch = (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (url.startsWith(hosted)) return toServer("/" + url.slice(hosted.length), input, init);
    if (url.startsWith(server + "/")) return toServer(url.slice(server.length), input, init);
    if (url.startsWith(locales)) return fetch(server + "/locales/passage-auth/" + url.slice(locales.length), init);
    return fetch(input, init);
  };
  const href = Object.getOwnPropertyDescriptor(HTMLLinkElement.prototype, "href");
  Object.defineProperty(HTMLLinkElement.prototype, "href", {
    ...href,
    set(value) {
      href.set.call(this, String(value).replace(cdn, server + "/vendor/intl-tel-input/"));
    },
  });
})();
"#;

/// `GET /__passage/mailbox` (development mode only): the messages sent, newest last.
pub(crate) async fn mailbox(State(state): State<Shared>) -> Response {
    let messages: Vec<Value> = state
        .mailbox()
        .messages()
        .into_iter()
        .map(|mail| {
            json!({
                "to": mail.to,
                "subject": mail.subject,
                "link": mail.link,
                "code": mail.code,
                "text": mail.text,
            })
        })
        .collect();
    ok(json!({ "messages": messages }))
}

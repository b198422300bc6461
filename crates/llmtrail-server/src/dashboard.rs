//! The dashboard: a single page served at `/`, its script and style sheet, and the login
//! routes, all embedded in the binary (it works with no internet).
//!
//! Contract:
//! - `GET /` (and `/index.html`) serves the page; `GET /ui/app.js` and `/ui/app.css` its
//!   assets. The page reads everything through the API with the session cookie
//!   (`crate::session`), so each role sees exactly what the API would show it.
//! - Every response of the server carries [`security_headers`]: a Content-Security-Policy
//!   with no inline script or style and no third-party origin (`default-src 'none'`; scripts,
//!   styles, images and fetches from this origin only), `X-Content-Type-Options: nosniff`,
//!   `Referrer-Policy: no-referrer` and `frame-ancestors 'none'` / `X-Frame-Options: DENY`.
//! - The script renders attacker-controlled text (prompts, outputs, tool arguments, user
//!   agents) only through `textContent` and DOM nodes, never as HTML; it never builds an
//!   image or link from event content, so a markdown image in an output makes no request.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::api::AppState;
use crate::error::ApiError;
use crate::session;

const INDEX_HTML: &str = include_str!("../assets/dashboard/index.html");
const APP_JS: &str = include_str!("../assets/dashboard/app.js");
const APP_CSS: &str = include_str!("../assets/dashboard/app.css");

/// The Content-Security-Policy of every response.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Adds the security headers to every response.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: the page.
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /ui/app.js`
pub async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /ui/app.css`
pub async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    token: String,
}

/// `POST /api/v1/session`: logs in with a token, answering with the session cookie.
pub(crate) async fn login(
    State(state): State<AppState>,
    body: Result<Json<Login>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(login) = body.map_err(|e| ApiError::bad_request("invalid_json", e.body_text()))?;
    let token = login.token.trim();
    let Some(p) = state.tokens.authenticate(token) else {
        return Err(ApiError::unauthorized());
    };
    let id = state.sessions.open(crate::auth::hash(token)).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the random source failed",
        )
    })?;
    tracing::info!(name = %p.name, role = %p.role, "dashboard login");
    Ok((
        [(header::SET_COOKIE, session::set_cookie(&id, state.tls))],
        Json(json!({"name": p.name, "role": p.role})),
    )
        .into_response())
}

/// `DELETE /api/v1/session`: logs out.
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session::cookie_value(&headers) {
        state.sessions.close(&id);
    }
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session::clear_cookie(state.tls))],
    )
        .into_response()
}

//! Signing in through an OpenID Connect provider: the authorization-code flow with
//! PKCE (S256). The browser goes to the provider and comes back to the callback with a
//! code, which the server exchanges with the provider directly (over TLS in
//! production), so the ID token in that answer needs no signature check (OpenID
//! Connect Core 3.1.3.7); its issuer, audience, expiry and nonce are checked.
//!
//! The web UI gets a session cookie. `cairn login` gets a one-time code handed to the
//! address it listens on (loopback only), which it exchanges for a token.

use super::{ApiJson, Res};
use crate::auth::{SESSION_COOKIE, Svc};
use crate::error::{ApiError, ErrorCode};
use crate::service::Service;
use crate::service::identity::{OidcSettings, PendingLogin};
use axum::Json;
use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use cairn_api::auth::CodeExchange;
use cairn_domain::auth::{Scope, TokenKind};
use serde::Deserialize;
use sha2::Digest as _;
use std::time::Duration;

/// How long a sign-in may take at the provider, and a handed-over code may wait.
const PENDING_MS: i64 = 10 * 60_000;

pub fn routes() -> Router<Service> {
    Router::new()
        .route("/api/v1/auth/oidc/login", get(start))
        .route("/api/v1/auth/oidc/callback", get(callback))
        .route("/api/v1/auth/oidc/exchange", post(exchange))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn random(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    b64(&bytes)
}

fn http() -> Res<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| ApiError::internal(format!("cannot make an HTTP client: {e}")))
}

/// The provider's endpoints, from its discovery document.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

async fn discover(o: &OidcSettings) -> Res<Discovery> {
    let url = format!("{}/.well-known/openid-configuration", o.issuer);
    let unavailable = |e: String| {
        ApiError::new(
            ErrorCode::UpstreamUnavailable,
            format!("the OpenID Connect provider at {} did not answer: {e}", o.issuer),
        )
    };
    let resp = http()?.get(&url).send().await.map_err(|e| unavailable(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(unavailable(format!("{url} answered {}", resp.status())));
    }
    resp.json().await.map_err(|e| unavailable(format!("{url} is not a discovery document: {e}")))
}

fn configured(s: &Service) -> Res<OidcSettings> {
    s.oidc().cloned().ok_or_else(|| {
        ApiError::invalid("this server has no OpenID Connect provider configured (cairn server --oidc-issuer …)")
    })
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartQuery {
    /// A path of the web UI to come back to.
    return_to: Option<String>,
    /// `cairn login`'s local address (loopback only), which gets a one-time code.
    cli_redirect: Option<String>,
}

/// Only places on this machine receive codes: a code sent elsewhere could be stolen.
fn loopback_only(url: &str) -> Res<()> {
    let parsed = url::Url::parse(url).map_err(|e| ApiError::invalid(format!("cli_redirect '{url}': {e}")))?;
    let host_ok = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]" | "::1"));
    if parsed.scheme() != "http" || !host_ok {
        return Err(ApiError::invalid("cli_redirect must be an http:// address on this machine (127.0.0.1)"));
    }
    Ok(())
}

async fn start(Svc(s): Svc, q: Result<Query<StartQuery>, axum::extract::rejection::QueryRejection>) -> Res<Response> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text()))?;
    let o = configured(&s)?;
    if let Some(c) = &q.cli_redirect {
        loopback_only(c)?;
    }
    let return_to = q.return_to.filter(|r| r.starts_with('/') && !r.starts_with("//"));
    let d = discover(&o).await?;
    let verifier = random(32);
    let challenge = b64(&sha2::Sha256::digest(verifier.as_bytes()));
    let (state, nonce) = (random(24), random(24));
    let pending = PendingLogin {
        verifier,
        nonce: nonce.clone(),
        return_to,
        cli_redirect: q.cli_redirect,
        expires_at: crate::service::now_ms() + PENDING_MS,
    };
    s.remember_login(state.clone(), pending);
    let mut url = url::Url::parse(&d.authorization_endpoint)
        .map_err(|e| ApiError::internal(format!("the provider's authorization endpoint is not a URL: {e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &o.client_id)
        .append_pair("redirect_uri", &o.redirect_url)
        .append_pair("scope", "openid profile email")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    Ok(redirect(url.as_str()))
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The claims Cairn reads from an ID token.
#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: serde_json::Value,
    exp: i64,
    nonce: Option<String>,
    preferred_username: Option<String>,
    email: Option<String>,
}

fn claims(id_token: &str) -> Res<Claims> {
    let payload =
        id_token.split('.').nth(1).ok_or_else(|| ApiError::unauthenticated("the provider's ID token is malformed"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| ApiError::unauthenticated("the provider's ID token is malformed"))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::unauthenticated(format!("the provider's ID token does not fit: {e}")))
}

async fn callback(
    Svc(s): Svc,
    q: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Res<Response> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text()))?;
    let o = configured(&s)?;
    let pending = q.state.as_deref().and_then(|st| s.take_login(st)).ok_or_else(|| {
        ApiError::unauthenticated("this sign-in is unknown or took longer than 10 minutes; start again")
    })?;
    if let Some(e) = q.error {
        let why = q.error_description.unwrap_or_default();
        return Ok(match pending.cli_redirect {
            Some(cli) => redirect(&format!(
                "{cli}?error={}",
                url::form_urlencoded::byte_serialize(format!("{e} {why}").as_bytes()).collect::<String>()
            )),
            None => return Err(ApiError::unauthenticated(format!("the provider refused the sign-in: {e} {why}"))),
        });
    }
    let code = q.code.ok_or_else(|| ApiError::invalid("the provider sent no code"))?;
    let d = discover(&o).await?;
    // The serializer is not Send: finish it before anything is awaited.
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", &o.redirect_url)
        .append_pair("client_id", &o.client_id)
        .append_pair("code_verifier", &pending.verifier)
        .finish();
    let mut req =
        http()?.post(&d.token_endpoint).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(form);
    if let Some(secret) = &o.client_secret {
        req = req.basic_auth(&o.client_id, Some(secret));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| ApiError::unauthenticated(format!("the provider's token endpoint did not answer: {e}")))?;
    let status = resp.status();
    let tokens: serde_json::Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        return Err(ApiError::unauthenticated(format!("the provider refused the code: {tokens}")));
    }
    let id_token =
        tokens["id_token"].as_str().ok_or_else(|| ApiError::unauthenticated("the provider returned no ID token"))?;
    let c = claims(id_token)?;
    let audience_ok = match &c.aud {
        serde_json::Value::String(a) => a == &o.client_id,
        serde_json::Value::Array(a) => a.iter().any(|x| x.as_str() == Some(&o.client_id)),
        _ => false,
    };
    let now_s = crate::service::now_ms() / 1000;
    if c.iss.trim_end_matches('/') != d.issuer.trim_end_matches('/') || !audience_ok || c.exp < now_s - 60 {
        return Err(ApiError::unauthenticated("the provider's ID token is not for this server, or has expired"));
    }
    if c.nonce.as_deref() != Some(pending.nonce.as_str()) {
        return Err(ApiError::unauthenticated("the provider's ID token does not answer this sign-in (nonce)"));
    }
    let user = s.oidc_user(&d.issuer, &c.sub, c.preferred_username.as_deref(), c.email.as_deref()).await?;
    match pending.cli_redirect {
        Some(cli) => {
            let host = "cli (sso)".to_owned();
            let issued = s.issue(&user, TokenKind::Cli, Some(host), Scope::Admin).await?;
            let handoff = random(24);
            s.hand_over(handoff.clone(), issued, crate::service::now_ms() + PENDING_MS);
            Ok(redirect(&format!("{cli}?code={handoff}")))
        }
        None => {
            let issued = s.issue(&user, TokenKind::Session, None, Scope::Admin).await?;
            let mut r = redirect(pending.return_to.as_deref().unwrap_or("/"));
            let cookie = format!("{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=43200", issued.token);
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            Ok(r)
        }
    }
}

async fn exchange(Svc(s): Svc, ApiJson(x): ApiJson<CodeExchange>) -> Res<impl IntoResponse> {
    let issued = s.take_handoff(&x.code).ok_or_else(|| {
        ApiError::unauthenticated("this sign-in code is unknown, used already, or expired; sign in again")
    })?;
    Ok(Json(issued))
}

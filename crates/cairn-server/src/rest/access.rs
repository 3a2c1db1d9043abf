//! Signing in and out, who am I, API tokens, users, teams, project members and
//! visibility, and the audit log.

use super::{ApiJson, QueryResult, Res, query};
use crate::auth::{SESSION_COOKIE, Svc};
use crate::error::{ApiError, ErrorCode};
use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use cairn_api::auth::{
    AuditList, AuthConfig, CreateToken, LoginRequest, NewTeam, OidcInfo, SetRole, TeamList, TokenList, UserList,
    principal_kind,
};
use cairn_domain::auth::{AuditEntry, AuditQuery, NewUser, TokenKind, UserPatch};

pub fn routes() -> Router<crate::Service> {
    Router::new()
        .route("/api/v1/auth/config", get(config))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/whoami", get(whoami))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{name}", get(get_user).patch(update_user))
        .route("/api/v1/teams", get(list_teams).post(create_team))
        .route("/api/v1/teams/{name}", get(get_team).delete(delete_team))
        .route("/api/v1/teams/{name}/members/{user}", put(set_team_member).delete(remove_team_member))
        .route("/api/v1/projects/{name}/members", get(project_members))
        .route("/api/v1/projects/{name}/members/{kind}/{principal}", put(set_member).delete(remove_member))
        .route("/api/v1/audit", get(audit))
}

async fn config(Svc(s): Svc) -> Res<impl IntoResponse> {
    Ok(Json(AuthConfig {
        required: s.auth_required(),
        password: s.auth_required(),
        oidc: s.oidc().map(|o| OidcInfo { issuer: o.issuer.clone(), login_url: "/api/v1/auth/oidc/login".into() }),
    }))
}

/// A local account's sign-in. A `session` sign-in (the web UI) also sets the session
/// cookie (HttpOnly, SameSite=Lax). Every attempt is audited with the name tried.
async fn login(Svc(s): Svc, ApiJson(req): ApiJson<LoginRequest>) -> Res<axum::response::Response> {
    if !s.auth_required() {
        return Err(ApiError::invalid(
            "this server runs without sign-in (embedded mode); there is nothing to sign in to",
        ));
    }
    let result = s.login(&req.username, &req.password, req.kind, req.token_name).await;
    let status = match &result {
        Ok(_) => 200,
        Err(e) => e.status.as_u16(),
    };
    s.audit(AuditEntry {
        id: 0,
        at: crate::service::now_ms(),
        actor: req.username.clone(),
        token: result.as_ref().ok().map(|t| format!("{} ({}…)", t.info.name, t.info.prefix)),
        address: s.caller().address.clone(),
        action: "login".into(),
        project: None,
        status,
        details: None,
    })
    .await;
    let issued = result?;
    let session = issued.info.kind == TokenKind::Session;
    let mut resp = Json(&issued).into_response();
    if session {
        let cookie = format!("{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=43200", issued.token);
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

async fn logout(Svc(s): Svc) -> Res<impl IntoResponse> {
    s.logout().await?;
    let clear = HeaderValue::from_static("cairn_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]))
}

async fn whoami(Svc(s): Svc) -> Res<impl IntoResponse> {
    Ok(Json(s.whoami().await?))
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UserQuery {
    user: Option<String>,
}

async fn list_tokens(Svc(s): Svc, q: QueryResult<UserQuery>) -> Res<impl IntoResponse> {
    let q = query(q)?;
    Ok(Json(TokenList { tokens: s.list_tokens(q.user.as_deref()).await? }))
}

async fn create_token(Svc(s): Svc, ApiJson(req): ApiJson<CreateToken>) -> Res<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(s.create_token(req).await?)))
}

async fn revoke_token(Svc(s): Svc, Path(id): Path<String>) -> Res<impl IntoResponse> {
    let id: i64 = id.parse().map_err(|_| {
        ApiError::new(ErrorCode::TokenNotFound, format!("no token '{id}'; tokens are numbered (`cairn tokens ls`)"))
    })?;
    Ok(Json(s.revoke_token(id).await?))
}

async fn list_users(Svc(s): Svc) -> Res<impl IntoResponse> {
    Ok(Json(UserList { users: s.list_users().await? }))
}

async fn create_user(Svc(s): Svc, ApiJson(new): ApiJson<NewUser>) -> Res<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(s.create_user(new).await?)))
}

async fn get_user(Svc(s): Svc, Path(name): Path<String>) -> Res<impl IntoResponse> {
    Ok(Json(s.get_user(&name).await?))
}

async fn update_user(Svc(s): Svc, Path(name): Path<String>, ApiJson(p): ApiJson<UserPatch>) -> Res<impl IntoResponse> {
    Ok(Json(s.update_user(&name, p).await?))
}

async fn list_teams(Svc(s): Svc) -> Res<impl IntoResponse> {
    Ok(Json(TeamList { teams: s.list_teams().await? }))
}

async fn create_team(Svc(s): Svc, ApiJson(t): ApiJson<NewTeam>) -> Res<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(s.create_team(&t.name, &t.description).await?)))
}

async fn get_team(Svc(s): Svc, Path(name): Path<String>) -> Res<impl IntoResponse> {
    Ok(Json(s.get_team(&name).await?))
}

async fn delete_team(Svc(s): Svc, Path(name): Path<String>) -> Res<impl IntoResponse> {
    s.delete_team(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_team_member(
    Svc(s): Svc,
    Path((team, user)): Path<(String, String)>,
    ApiJson(r): ApiJson<SetRole>,
) -> Res<impl IntoResponse> {
    Ok(Json(s.set_team_member(&team, &user, Some(r.role)).await?))
}

async fn remove_team_member(Svc(s): Svc, Path((team, user)): Path<(String, String)>) -> Res<impl IntoResponse> {
    Ok(Json(s.set_team_member(&team, &user, None).await?))
}

async fn project_members(Svc(s): Svc, Path(name): Path<String>) -> Res<impl IntoResponse> {
    Ok(Json(s.project_access(&name).await?))
}

fn kind(k: &str) -> Res<cairn_domain::auth::PrincipalKind> {
    principal_kind(k).ok_or_else(|| ApiError::invalid(format!("'{k}' is not user or team")))
}

async fn set_member(
    Svc(s): Svc,
    Path((name, k, principal)): Path<(String, String, String)>,
    ApiJson(r): ApiJson<SetRole>,
) -> Res<impl IntoResponse> {
    s.set_project_member(&name, kind(&k)?, &principal, Some(r.role)).await?;
    Ok(Json(s.project_access(&name).await?))
}

async fn remove_member(
    Svc(s): Svc,
    Path((name, k, principal)): Path<(String, String, String)>,
) -> Res<impl IntoResponse> {
    s.set_project_member(&name, kind(&k)?, &principal, None).await?;
    Ok(Json(s.project_access(&name).await?))
}

async fn audit(Svc(s): Svc, q: QueryResult<AuditQuery>) -> Res<impl IntoResponse> {
    Ok(Json(AuditList { entries: s.audit_log(query(q)?).await? }))
}

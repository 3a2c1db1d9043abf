//! Signing in, tokens, users, teams, project roles and the audit log on the wire.

use cairn_domain::auth::{AuditEntry, Member, PrincipalKind, Role, Scope, Team, Token, TokenKind, User};
use serde::{Deserialize, Serialize};

/// `GET /api/v1/auth/config`: how this server signs people in (public, for login pages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthConfig {
    /// Whether requests must be signed in.
    pub required: bool,
    /// Local accounts (user name and password) are accepted.
    pub password: bool,
    /// OpenID Connect, when configured: where to start a browser sign-in.
    pub oidc: Option<OidcInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OidcInfo {
    pub issuer: String,
    /// `GET` this (with `return_to` or `cli_redirect`) to sign in through the provider.
    pub login_url: String,
}

/// `POST /api/v1/auth/login`: a local account's name and password for a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// `cli` (a long-lived token for `cairn login`, the default) or `session` (the web
    /// UI; also set as a cookie).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<TokenKind>,
    /// A name for the token [default: `cli` or `session`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_name: Option<String>,
}

/// A new token: its secret, shown this once, and what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedToken {
    /// The secret to send as `Authorization: Bearer …`. Not stored: keep it.
    pub token: String,
    pub info: Token,
    pub user: User,
}

/// `POST /api/v1/auth/oidc/exchange`: the one-time code an OpenID Connect sign-in
/// handed to `cairn login`, for its token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeExchange {
    pub code: String,
}

/// `GET /api/v1/auth/whoami`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhoAmI {
    /// Whether this server requires signing in.
    pub auth: bool,
    /// The signed-in user (none when anonymous, or on a server without sign-in).
    pub user: Option<User>,
    /// The token the request came with.
    pub token: Option<Token>,
    /// What the request may do: the token's scope (`admin` without sign-in).
    pub scope: Scope,
    /// The name runs are recorded under: the user's, or `local`.
    pub name: String,
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// [default: write]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// Days until it expires [default: never].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u32>,
    /// Another user's token (organisation admins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenList {
    pub tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserList {
    pub users: Vec<User>,
}

/// `POST /api/v1/teams`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamList {
    pub teams: Vec<Team>,
}

/// `PUT …/members/…`: the role to give.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    pub role: Role,
}

/// A project's members and visibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectAccess {
    pub project: String,
    pub visibility: cairn_domain::auth::Visibility,
    pub members: Vec<Member>,
    /// The caller's own role on it.
    pub your_role: Option<Role>,
}

/// Who is named in a membership path: `user/NAME` or `team/NAME`.
pub fn principal_kind(s: &str) -> Option<PrincipalKind> {
    match s {
        "user" | "users" => Some(PrincipalKind::User),
        "team" | "teams" => Some(PrincipalKind::Team),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
}

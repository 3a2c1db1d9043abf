//! Who may do what: users, API tokens, teams, roles per team and per project, project
//! visibility, and the audit log's entries. Projects are visible to the whole
//! organisation by default (results are shared, not hoarded); a private project is
//! seen only by its members.

use crate::Millis;
use crate::names::check_name;
use serde::{Deserialize, Serialize};

/// A role, on a project, in a team, or organisation-wide. Ordered: each includes the
/// ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything it can see.
    Viewer,
    /// Also records and changes runs, metrics, artifacts, studies.
    Editor,
    /// Also changes settings and membership (of the project or team; organisation-wide:
    /// every project, users and teams).
    Admin,
    /// Also deletes the project and names other owners.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a token allows, whatever its user's roles: the lesser of the two applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Reading only.
    Read,
    /// Reading and recording (runs, metrics, artifacts, models).
    Write,
    /// Everything the user may do, settings and membership included.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// Who sees a project.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone in the organisation (the default).
    #[default]
    Org,
    /// Its members (users, and members of its teams) and organisation admins only.
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Org => "org",
            Visibility::Private => "private",
        }
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "org" => Some(Visibility::Org),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }
}

/// A user as others see them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    /// The login name: unique, what runs record as their owner.
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub email: Option<String>,
    /// The role on every project visible to the organisation (`viewer` or `editor`),
    /// or `admin` for an organisation admin (every project, users and teams).
    pub role: Role,
    /// Can sign in with a password (a local account).
    pub local: bool,
    /// Signs in through OpenID Connect (its issuer).
    #[serde(default)]
    pub oidc_issuer: Option<String>,
    pub created_at: Millis,
    #[serde(default)]
    pub disabled_at: Option<Millis>,
}

/// A user as the store keeps them (the password hash never leaves the server).
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub user: User,
    /// Argon2id, in PHC string form.
    pub password_hash: Option<String>,
    pub oidc_subject: Option<String>,
}

/// What a new user is made of.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Organisation role [default: editor].
    #[serde(default)]
    pub role: Option<Role>,
    /// A password for a local account (stored hashed); none for OIDC-only users.
    #[serde(default)]
    pub password: Option<String>,
}

/// A change to a user. `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    /// A new password (stored hashed).
    #[serde(default)]
    pub password: Option<String>,
    /// `true` disables the user (their tokens stop working), `false` enables them again.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// What the store changes for a [`UserPatch`] (the password already hashed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserUpdate {
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
    pub password_hash: Option<String>,
    pub disabled_at: Option<Option<Millis>>,
    pub oidc: Option<(String, String)>,
}

/// The kind of a token: made on purpose (`api`), by `cairn login` (`cli`), or a web
/// UI sign-in (`session`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Api,
    Cli,
    Session,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Api => "api",
            TokenKind::Cli => "cli",
            TokenKind::Session => "session",
        }
    }

    pub fn parse(s: &str) -> Option<TokenKind> {
        match s {
            "api" => Some(TokenKind::Api),
            "cli" => Some(TokenKind::Cli),
            "session" => Some(TokenKind::Session),
            _ => None,
        }
    }
}

/// An API token as listed (never its secret, which is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub id: i64,
    /// The user it acts as.
    pub user: String,
    pub name: String,
    /// The first characters of the secret, to tell tokens apart.
    pub prefix: String,
    pub scope: Scope,
    pub kind: TokenKind,
    pub created_at: Millis,
    #[serde(default)]
    pub expires_at: Option<Millis>,
    #[serde(default)]
    pub revoked_at: Option<Millis>,
    #[serde(default)]
    pub last_used_at: Option<Millis>,
}

/// A token as the store writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    /// BLAKE3 of the secret, hex.
    pub hash: String,
    pub scope: Scope,
    pub kind: TokenKind,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub created_at: Millis,
    #[serde(default)]
    pub members: Vec<Member>,
}

/// A user's role in a team or on a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// `user` or `team`.
    pub kind: PrincipalKind,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    User,
    Team,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Team => "team",
        }
    }
}

/// One entry of the audit log: who did what, when, from where, with which token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    #[serde(default)]
    pub id: i64,
    pub at: Millis,
    /// The user's name, `anonymous`, or `local` (a server without sign-in).
    pub actor: String,
    /// The token's name and prefix, when one was used.
    #[serde(default)]
    pub token: Option<String>,
    /// The client's address.
    #[serde(default)]
    pub address: Option<String>,
    /// What was asked: `POST /api/v1/runs`, or a named change such as `grant`.
    pub action: String,
    /// The project it concerned, when known.
    #[serde(default)]
    pub project: Option<String>,
    /// The HTTP status it was answered with.
    pub status: u16,
    /// For permission changes: what changed, as data.
    #[serde(default)]
    pub details: Option<serde_json::Value>,
}

/// A query of the audit log, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Only entries at or after this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Millis>,
    /// Only entries older than this id (the next page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// User and team names: like project names (letters, digits, `.`, `_`, `-`, `@`).
pub fn check_principal_name(what: &'static str, name: &str) -> Result<(), crate::DomainError> {
    check_name(what, name)?;
    if name.len() > 128 || !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')) {
        return Err(crate::DomainError::invalid(
            what,
            format!("'{name}': use up to 128 letters, digits, '.', '_', '-' or '@'"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_scopes_are_ordered_and_round_trip() {
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin && Role::Admin < Role::Owner);
        assert!(Scope::Read < Scope::Write && Scope::Write < Scope::Admin);
        for r in [Role::Viewer, Role::Editor, Role::Admin, Role::Owner] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        for s in [Scope::Read, Scope::Write, Scope::Admin] {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(Visibility::default(), Visibility::Org);
    }

    #[test]
    fn principal_names_are_checked() {
        assert!(check_principal_name("user", "alice.smith@example").is_ok());
        assert!(check_principal_name("user", "al ice").is_err());
        assert!(check_principal_name("user", "").is_err());
    }
}

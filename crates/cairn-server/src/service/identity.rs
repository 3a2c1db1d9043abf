//! Signing in and what it produces: users (local accounts with argon2id password
//! hashes, or OpenID Connect identities), API tokens (random secrets, stored only as
//! BLAKE3 hashes, named, scoped, expiring, revocable), teams, project membership, and
//! the audit log. Failed sign-ins are rate-limited per account and per address.

use super::access::{Caller, TokenUse, Who};
use super::{Result, Service, now_ms};
use crate::error::{ApiError, ErrorCode};
use cairn_api::auth::{CreateToken, IssuedToken, ProjectAccess, WhoAmI};
use cairn_domain::Millis;
use cairn_domain::auth::{
    AuditEntry, AuditQuery, Member, NewUser, PrincipalKind, Role, Scope, Team, Token, TokenKind, TokenRecord, User,
    UserPatch, UserRecord, UserUpdate, check_principal_name,
};
use cairn_store::StoreError;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Every token starts with this, so one pasted by mistake is recognisable (and
/// secret scanners can find it).
pub const TOKEN_PREFIX: &str = "cairn_";
/// How long a web sign-in lasts.
const SESSION_MS: i64 = 12 * 3_600_000;
/// How long a token made by `cairn login` lasts.
const CLI_MS: i64 = 90 * 86_400_000;
/// Failed sign-ins allowed per account, and per address, within [`WINDOW_MS`].
const MAX_FAILS_ACCOUNT: usize = 5;
const MAX_FAILS_ADDRESS: usize = 20;
const WINDOW_MS: i64 = 5 * 60_000;
/// A verified password is remembered this long, so MLflow clients sending basic auth
/// on every request do not pay for argon2 each time.
const PASSWORD_CACHE_MS: i64 = 5 * 60_000;
/// How often a token's last use is written.
const TOUCH_EVERY_MS: i64 = 60_000;

/// OpenID Connect, as configured for the server.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Where the provider sends people back: `<public url>/api/v1/auth/oidc/callback`.
    pub redirect_url: String,
    /// The organisation role of users created at their first sign-in.
    pub default_role: Role,
}

/// An OpenID Connect sign-in on its way through the provider.
#[derive(Debug, Clone)]
pub struct PendingLogin {
    pub verifier: String,
    pub nonce: String,
    /// Where the browser goes afterwards (the web UI), or
    pub return_to: Option<String>,
    /// the local address `cairn login` listens on, which gets a one-time code.
    pub cli_redirect: Option<String>,
    pub expires_at: Millis,
}

/// Sign-in settings and the state sign-ins keep between requests (on this replica).
#[derive(Debug)]
pub struct AuthSettings {
    /// Requests must be signed in.
    pub enabled: bool,
    pub oidc: Option<OidcSettings>,
    fails: Mutex<HashMap<String, VecDeque<Millis>>>,
    passwords: Mutex<HashMap<(String, String), Millis>>,
    pub(crate) pending: Mutex<HashMap<String, PendingLogin>>,
    /// One-time codes handed to `cairn login` → (token secret, expiry).
    pub(crate) handoffs: Mutex<HashMap<String, (IssuedToken, Millis)>>,
}

impl AuthSettings {
    pub fn off() -> AuthSettings {
        AuthSettings::new(false, None)
    }

    pub fn new(enabled: bool, oidc: Option<OidcSettings>) -> AuthSettings {
        AuthSettings {
            enabled,
            oidc,
            fails: Mutex::default(),
            passwords: Mutex::default(),
            pending: Mutex::default(),
            handoffs: Mutex::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A new token secret: `cairn_` and 48 hex digits (192 random bits).
pub fn new_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{TOKEN_PREFIX}{hex}")
}

fn hash_secret(secret: &str) -> String {
    blake3::hash(secret.as_bytes()).to_hex().to_string()
}

pub fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::PasswordHasher;
    check_password(password)?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("cannot hash the password: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    argon2::Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < 8 {
        return Err(ApiError::invalid("the password must have at least 8 characters"));
    }
    if password.len() > 1024 {
        return Err(ApiError::invalid("the password is over 1024 bytes"));
    }
    Ok(())
}

fn when(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

impl Service {
    /// Turns sign-in on (or off) with these settings.
    pub fn set_auth(&mut self, settings: AuthSettings) {
        self.auth = std::sync::Arc::new(settings);
    }

    pub fn auth_required(&self) -> bool {
        self.auth.enabled
    }

    pub fn oidc(&self) -> Option<&OidcSettings> {
        self.auth.oidc.as_ref()
    }

    /// The caller a bearer token stands for; a malformed, unknown, expired or revoked
    /// token, or a disabled user's, is refused with the reason.
    pub async fn caller_from_token(&self, secret: &str, address: Option<String>) -> Result<Caller> {
        let secret = secret.trim();
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() != TOKEN_PREFIX.len() + 48 {
            return Err(ApiError::unauthenticated(format!(
                "the token is malformed: Cairn tokens are '{TOKEN_PREFIX}' and 48 hex digits (`cairn tokens create`)"
            )));
        }
        let (token, user) = match self.store.token_by_hash(&hash_secret(secret)).await {
            Ok(found) => found,
            Err(StoreError::NotFound { .. }) => {
                return Err(ApiError::unauthenticated(
                    "the token is not known to this server; sign in again (`cairn login`) or create a token",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let now = now_ms();
        if let Some(at) = token.revoked_at {
            return Err(ApiError::unauthenticated(format!(
                "the token '{}' ({}…) was revoked on {}; sign in again or create a new one",
                token.name,
                token.prefix,
                when(at)
            )));
        }
        if let Some(at) = token.expires_at.filter(|&at| at <= now) {
            return Err(ApiError::unauthenticated(format!(
                "the token '{}' ({}…) expired on {}; sign in again or create a new one",
                token.name,
                token.prefix,
                when(at)
            )));
        }
        if user.user.disabled_at.is_some() {
            return Err(ApiError::unauthenticated(format!("user {} is disabled", user.user.name)));
        }
        if token.last_used_at.is_none_or(|t| now - t > TOUCH_EVERY_MS)
            && let Err(e) = self.store.touch_token(token.id, now).await
        {
            tracing::warn!(error = %e, "could not record a token's use");
        }
        let used = TokenUse { id: token.id, name: token.name.clone(), prefix: token.prefix.clone() };
        Ok(Caller::user(user.user, token.scope, Some(used), address))
    }

    /// The caller a user name and password stand for (basic auth, as the MLflow client
    /// sends it). A token in place of the password works too.
    pub async fn caller_from_password(&self, name: &str, password: &str, address: Option<String>) -> Result<Caller> {
        if password.starts_with(TOKEN_PREFIX) {
            let caller = self.caller_from_token(password, address).await?;
            if caller.signed_in().is_some_and(|u| u.name != name) && !name.is_empty() {
                return Err(ApiError::unauthenticated(format!("that token belongs to another user, not {name}")));
            }
            return Ok(caller);
        }
        let user = self.check_password(name, password, address.as_deref()).await?;
        Ok(Caller::user(user, Scope::Admin, None, address))
    }

    fn throttled(&self, keys: &[(String, usize)]) -> Result<()> {
        let now = now_ms();
        let mut fails = lock(&self.auth.fails);
        for (key, max) in keys {
            if let Some(q) = fails.get_mut(key) {
                while q.front().is_some_and(|&t| now - t > WINDOW_MS) {
                    q.pop_front();
                }
                if q.len() >= *max {
                    let wait = (q.front().copied().unwrap_or(now) + WINDOW_MS - now).max(1000) / 1000;
                    return Err(ApiError::new(
                        ErrorCode::RateLimited,
                        format!("too many failed sign-ins; try again in {wait} s"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn failed(&self, keys: &[(String, usize)]) {
        let now = now_ms();
        let mut fails = lock(&self.auth.fails);
        for (key, _) in keys {
            fails.entry(key.clone()).or_default().push_back(now);
        }
        // Forget windows that have passed, so the map does not grow without bound.
        if fails.len() > 10_000 {
            fails.retain(|_, q| q.back().is_some_and(|&t| now - t <= WINDOW_MS));
        }
    }

    async fn check_password(&self, name: &str, password: &str, address: Option<&str>) -> Result<User> {
        let keys = [
            (format!("user:{name}"), MAX_FAILS_ACCOUNT),
            (format!("addr:{}", address.unwrap_or("?")), MAX_FAILS_ADDRESS),
        ];
        self.throttled(&keys)?;
        let cache_key = (name.to_owned(), hash_secret(password));
        let now = now_ms();
        let cached = lock(&self.auth.passwords).get(&cache_key).is_some_and(|&until| until > now);
        let refused = || ApiError::unauthenticated("wrong user name or password");
        let record = match self.store.get_user(name).await {
            Ok(r) => Some(r),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let ok = match &record {
            Some(UserRecord { password_hash: Some(h), .. }) => {
                if cached {
                    true
                } else {
                    let (pw, h) = (password.to_owned(), h.clone());
                    tokio::task::spawn_blocking(move || verify_password(&pw, &h)).await.unwrap_or(false)
                }
            }
            _ => {
                // Spend the same time as a real check, so timing does not tell which names exist.
                let pw = password.to_owned();
                let _ = tokio::task::spawn_blocking(move || hash_password(&pw)).await;
                false
            }
        };
        let Some(record) = record.filter(|_| ok) else {
            self.failed(&keys);
            return Err(refused());
        };
        if record.user.disabled_at.is_some() {
            return Err(ApiError::unauthenticated(format!("user {name} is disabled")));
        }
        lock(&self.auth.passwords).insert(cache_key, now + PASSWORD_CACHE_MS);
        Ok(record.user)
    }

    /// Signs a local account in: a new token (a `cli` token by default, or a web `session`).
    pub async fn login(
        &self,
        name: &str,
        password: &str,
        kind: Option<TokenKind>,
        token_name: Option<String>,
    ) -> Result<IssuedToken> {
        let address = self.caller().address.clone();
        let user = self.check_password(name, password, address.as_deref()).await?;
        let kind = kind.unwrap_or(TokenKind::Cli);
        if kind == TokenKind::Api {
            return Err(ApiError::invalid(
                "sign-in makes cli or session tokens; create API tokens with `cairn tokens create`",
            ));
        }
        self.issue(&user, kind, token_name, Scope::Admin).await
    }

    /// A new token for `user` (sign-in, or an OpenID Connect sign-in).
    pub async fn issue(&self, user: &User, kind: TokenKind, name: Option<String>, scope: Scope) -> Result<IssuedToken> {
        let ttl = match kind {
            TokenKind::Session => Some(SESSION_MS),
            TokenKind::Cli => Some(CLI_MS),
            TokenKind::Api => None,
        };
        let name = name.unwrap_or_else(|| kind.as_str().to_owned());
        self.make_token(user, &name, scope, kind, ttl.map(|t| now_ms() + t)).await
    }

    async fn make_token(
        &self,
        user: &User,
        name: &str,
        scope: Scope,
        kind: TokenKind,
        expires_at: Option<Millis>,
    ) -> Result<IssuedToken> {
        if name.trim().is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
            return Err(ApiError::invalid("name the token (up to 200 characters, no control characters)"));
        }
        let secret = new_secret();
        let record = TokenRecord {
            user_id: user.id,
            name: name.to_owned(),
            prefix: secret[..TOKEN_PREFIX.len() + 6].to_owned(),
            hash: hash_secret(&secret),
            scope,
            kind,
            created_at: now_ms(),
            expires_at,
        };
        let info = self.store.create_token(&record).await?;
        Ok(IssuedToken { token: secret, info, user: user.clone() })
    }

    /// Ends the current sign-in (revokes the token the request came with).
    pub async fn logout(&self) -> Result<()> {
        if let Some(t) = self.caller().token() {
            self.store.revoke_token(t.id, now_ms()).await?;
        }
        Ok(())
    }

    pub async fn whoami(&self) -> Result<WhoAmI> {
        let (user, token, scope) = match &self.caller().who {
            Who::User { user, scope, token } => {
                let t = match token {
                    Some(t) => Some(self.store.get_token(t.id).await?),
                    None => None,
                };
                (Some(user.clone()), t, *scope)
            }
            _ => (None, None, if self.auth.enabled { Scope::Read } else { Scope::Admin }),
        };
        Ok(WhoAmI { auth: self.auth.enabled, user, token, scope, name: self.caller().name() })
    }

    fn me(&self) -> Result<&User> {
        self.caller().signed_in().ok_or_else(|| {
            if self.auth.enabled {
                ApiError::unauthenticated("sign in first (`cairn login`)")
            } else {
                ApiError::invalid(
                    "this server runs without sign-in, so there are no users or tokens; start it with --auth",
                )
            }
        })
    }

    // ---- tokens -------------------------------------------------------------------

    /// A new API token for the caller (or, for an organisation admin, another user).
    /// A token never grants more than the one that made it.
    pub async fn create_token(&self, req: CreateToken) -> Result<IssuedToken> {
        let me = self.me()?.clone();
        let scope = req.scope.unwrap_or(Scope::Write);
        if let Who::User { scope: mine, .. } = &self.caller().who
            && scope > *mine
        {
            return Err(ApiError::denied(format!(
                "this token's scope is {}; it cannot make a {} token",
                mine.as_str(),
                scope.as_str()
            )));
        }
        let user = match &req.user {
            Some(other) if other != &me.name => {
                self.require_org(Role::Admin)?;
                self.store.get_user(other).await?.user
            }
            _ => me,
        };
        let expires = req.expires_in_days.map(|d| now_ms() + i64::from(d) * 86_400_000);
        if req.expires_in_days == Some(0) {
            return Err(ApiError::invalid("expires_in_days must be at least 1 (leave it out for no expiry)"));
        }
        self.make_token(&user, &req.name, scope, TokenKind::Api, expires).await
    }

    /// The caller's tokens (an organisation admin may name another user).
    pub async fn list_tokens(&self, user: Option<&str>) -> Result<Vec<Token>> {
        let me = self.me()?.clone();
        let id = match user {
            Some(other) if other != me.name => {
                self.require_org(Role::Admin)?;
                self.store.get_user(other).await?.user.id
            }
            _ => me.id,
        };
        Ok(self.store.list_tokens(id).await?)
    }

    /// Revokes one of the caller's tokens (an organisation admin: anyone's).
    pub async fn revoke_token(&self, id: i64) -> Result<Token> {
        let me = self.me()?.clone();
        let t = match self.store.get_token(id).await {
            Ok(t) => t,
            Err(StoreError::NotFound { .. }) => {
                return Err(ApiError::new(
                    ErrorCode::TokenNotFound,
                    format!("no token {id}; `cairn tokens ls` lists yours"),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if t.user != me.name {
            if me.role < Role::Admin {
                // Another user's token is not even shown to exist.
                return Err(ApiError::new(
                    ErrorCode::TokenNotFound,
                    format!("no token {id}; `cairn tokens ls` lists yours"),
                ));
            }
            self.require_scope(Scope::Admin)?;
        }
        Ok(self.store.revoke_token(id, now_ms()).await?)
    }

    // ---- users --------------------------------------------------------------------

    /// A new user (organisation admins; or anyone on a server with no users yet is
    /// refused: the first admin is made with `cairn admin users add`).
    pub async fn create_user(&self, new: NewUser) -> Result<User> {
        self.require_org(Role::Admin)?;
        self.caller().note(
            serde_json::json!({"change": "add user", "user": new.name, "role": new.role.unwrap_or(Role::Editor)}),
        );
        self.add_user(new, None).await
    }

    /// Creates a user without a permission check (maintenance, OIDC first sign-in).
    pub async fn add_user(&self, new: NewUser, oidc: Option<(String, String)>) -> Result<User> {
        check_principal_name("user name", &new.name)?;
        if new.name == "local" || new.name == "anonymous" || new.name == "system" {
            return Err(ApiError::invalid(format!("'{}' is reserved; choose another user name", new.name)));
        }
        cairn_domain::validate_text("display name", &new.display_name, 200, false)?;
        let role = new.role.unwrap_or(Role::Editor);
        if role == Role::Owner {
            return Err(ApiError::invalid("organisation roles are viewer, editor and admin"));
        }
        let password_hash = match &new.password {
            Some(p) => {
                let p = p.clone();
                Some(
                    tokio::task::spawn_blocking(move || hash_password(&p))
                        .await
                        .map_err(|e| ApiError::internal(e.to_string()))??,
                )
            }
            None => None,
        };
        let (issuer, subject) = oidc.unzip();
        let record = UserRecord {
            user: User {
                id: 0,
                name: new.name,
                display_name: new.display_name,
                email: new.email,
                role,
                local: password_hash.is_some(),
                oidc_issuer: issuer,
                created_at: now_ms(),
                disabled_at: None,
            },
            password_hash,
            oidc_subject: subject,
        };
        Ok(self.store.create_user(&record).await?)
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        self.me()?;
        Ok(self.store.list_users().await?)
    }

    pub async fn get_user(&self, name: &str) -> Result<User> {
        self.me()?;
        Ok(self.store.get_user(name).await?.user)
    }

    /// Changes a user: organisation admins change anyone; users their own display
    /// name, email and password.
    pub async fn update_user(&self, name: &str, patch: UserPatch) -> Result<User> {
        let me = self.me()?.clone();
        if name != me.name || patch.role.is_some() || patch.disabled.is_some() {
            self.require_org(Role::Admin)?;
        } else {
            self.require_scope(Scope::Admin)?;
        }
        if patch.role == Some(Role::Owner) {
            return Err(ApiError::invalid("organisation roles are viewer, editor and admin"));
        }
        if name == me.name && patch.role.is_some_and(|r| r < Role::Admin) && me.role == Role::Admin {
            let admins = self
                .store
                .list_users()
                .await?
                .iter()
                .filter(|u| u.role == Role::Admin && u.disabled_at.is_none())
                .count();
            if admins <= 1 {
                return Err(ApiError::invalid("you are the only organisation admin; make someone else admin first"));
            }
        }
        let password_hash = match patch.password {
            Some(p) => Some(
                tokio::task::spawn_blocking(move || hash_password(&p))
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))??,
            ),
            None => None,
        };
        let update = UserUpdate {
            display_name: patch.display_name,
            email: patch.email,
            role: patch.role,
            password_hash,
            disabled_at: patch.disabled.map(|d| d.then(now_ms)),
            oidc: None,
        };
        self.caller().note(serde_json::json!({
            "change": "user", "user": name, "role": update.role, "disabled": patch.disabled,
            "password_changed": update.password_hash.is_some(),
        }));
        // Remembered passwords of this user are forgotten.
        lock(&self.auth.passwords).retain(|(n, _), _| n != name);
        Ok(self.store.update_user(name, &update).await?)
    }

    // ---- teams --------------------------------------------------------------------

    pub async fn create_team(&self, name: &str, description: &str) -> Result<Team> {
        self.require_org(Role::Admin)?;
        check_principal_name("team name", name)?;
        cairn_domain::validate_text("description", description, cairn_domain::MAX_DESCRIPTION, true)?;
        Ok(self.store.create_team(name, description, now_ms()).await?)
    }

    pub async fn list_teams(&self) -> Result<Vec<Team>> {
        self.me_or_local()?;
        Ok(self.store.list_teams().await?)
    }

    pub async fn get_team(&self, name: &str) -> Result<Team> {
        self.me_or_local()?;
        Ok(self.store.get_team(name).await?)
    }

    pub async fn delete_team(&self, name: &str) -> Result<()> {
        self.require_org(Role::Admin)?;
        Ok(self.store.delete_team(name).await?)
    }

    /// Sets or removes a member: organisation admins, or the team's own admins and owners.
    pub async fn set_team_member(&self, team: &str, user: &str, role: Option<Role>) -> Result<Team> {
        let t = self.store.get_team(team).await?;
        if self.require_org(Role::Admin).is_err() {
            let me = self.me()?;
            let mine = t.members.iter().find(|m| m.name == me.name).map(|m| m.role);
            if mine.is_none_or(|r| r < Role::Admin) || role == Some(Role::Owner) && mine != Some(Role::Owner) {
                return Err(ApiError::denied(format!(
                    "changing team {team}'s members needs its admin or owner role (or organisation admin)"
                )));
            }
            self.require_scope(Scope::Admin)?;
        }
        self.caller().note(serde_json::json!({
            "change": if role.is_some() { "grant" } else { "revoke" }, "team": team, "user": user, "role": role,
        }));
        Ok(self.store.set_team_member(team, user, role).await?)
    }

    fn me_or_local(&self) -> Result<()> {
        match self.caller().who {
            Who::Anonymous => Err(ApiError::unauthenticated("sign in first (`cairn login`)")),
            _ => Ok(()),
        }
    }

    // ---- project membership ------------------------------------------------------

    pub async fn project_access(&self, project: &str) -> Result<ProjectAccess> {
        let p = self.get_project(project).await?;
        Ok(ProjectAccess {
            project: p.name.to_string(),
            visibility: p.visibility,
            members: self.store.project_members(p.id).await?,
            your_role: self.role_on(&p).await?,
        })
    }

    /// Gives (or takes away) a user's or team's role on a project: its admins may give
    /// up to admin, its owners any role.
    pub async fn set_project_member(
        &self,
        project: &str,
        kind: PrincipalKind,
        name: &str,
        role: Option<Role>,
    ) -> Result<Vec<Member>> {
        let p = self.project_as(project, Role::Admin).await?;
        let current = self.store.project_members(p.id).await?;
        let theirs = current.iter().find(|m| m.kind == kind && m.name == name).map(|m| m.role);
        if role == Some(Role::Owner) || theirs == Some(Role::Owner) {
            self.project_as(project, Role::Owner).await?;
        }
        if theirs == Some(Role::Owner) && role != Some(Role::Owner) {
            let owners = current.iter().filter(|m| m.role == Role::Owner).count();
            if owners <= 1 {
                return Err(ApiError::invalid(format!(
                    "{name} is project {project}'s only owner; name another owner first"
                )));
            }
        }
        self.caller().note(serde_json::json!({
            "change": if role.is_some() { "grant" } else { "revoke" },
            "project": p.name, "principal": kind.as_str(), "name": name, "role": role, "was": theirs,
        }));
        match self.store.set_project_member(p.id, kind, name, role).await {
            Err(StoreError::NotFound { what, .. }) => Err(ApiError::new(
                if what == "team" { ErrorCode::TeamNotFound } else { ErrorCode::UserNotFound },
                format!("no {what} '{name}'; `cairn {what}s ls` lists them"),
            )),
            other => Ok(other?),
        }
    }

    // ---- audit --------------------------------------------------------------------

    /// Appends to the audit log, through the queue. Failing to is logged, not fatal
    /// to the request.
    pub async fn audit(&self, entry: AuditEntry) {
        let queue = self.audit.sender.get_or_init(|| spawn_audit_writer(self.store.clone()));
        if let Err(tokio::sync::mpsc::error::SendError(AuditMsg::Entry(entry))) =
            queue.send(AuditMsg::Entry(entry)).await
        {
            // The writer is gone (its runtime is ending): write it here.
            if let Err(e) = self.store.append_audit(&entry).await {
                tracing::error!(error = %e, action = %entry.action, "could not write the audit log");
            }
        }
    }

    /// Waits until every audit entry queued so far is written: before the log is read,
    /// and when the server stops.
    pub async fn flush_audit(&self) {
        if let Some(queue) = self.audit.sender.get() {
            let (done, written) = tokio::sync::oneshot::channel();
            if queue.send(AuditMsg::Flush(done)).await.is_ok() {
                let _ = written.await;
            }
        }
    }

    /// The audit log: all of it for organisation admins, a project's entries for its admins.
    pub async fn audit_log(&self, q: AuditQuery) -> Result<Vec<AuditEntry>> {
        if let Some(l) = q.limit
            && !(1..=1000).contains(&l)
        {
            return Err(ApiError::invalid(format!("limit must be between 1 and 1000, got {l}")));
        }
        if self.require_org(Role::Admin).is_err() {
            let Some(project) = &q.project else {
                return Err(ApiError::denied(
                    "the whole audit log is for organisation admins; ask for a project you administer (--project)",
                ));
            };
            self.project_as(project, Role::Admin).await?;
        }
        self.flush_audit().await;
        Ok(self.store.query_audit(&q).await?)
    }

    // ---- OpenID Connect sign-ins --------------------------------------------------

    /// Keeps a sign-in that went to the provider, under its `state`.
    pub fn remember_login(&self, state: String, pending: PendingLogin) {
        let now = now_ms();
        let mut p = lock(&self.auth.pending);
        p.retain(|_, v| v.expires_at > now);
        p.insert(state, pending);
    }

    /// The sign-in a callback answers (once).
    pub fn take_login(&self, state: &str) -> Option<PendingLogin> {
        lock(&self.auth.pending).remove(state).filter(|p| p.expires_at > now_ms())
    }

    /// Keeps a token for `cairn login` to collect with a one-time code.
    pub fn hand_over(&self, code: String, issued: IssuedToken, until: Millis) {
        let now = now_ms();
        let mut h = lock(&self.auth.handoffs);
        h.retain(|_, (_, exp)| *exp > now);
        h.insert(code, (issued, until));
    }

    pub fn take_handoff(&self, code: &str) -> Option<IssuedToken> {
        lock(&self.auth.handoffs).remove(code).filter(|(_, exp)| *exp > now_ms()).map(|(t, _)| t)
    }

    // ---- OpenID Connect users ------------------------------------------------------

    /// The user an OpenID Connect identity stands for, made at their first sign-in
    /// (named after their preferred user name, else their email's local part).
    pub async fn oidc_user(
        &self,
        issuer: &str,
        subject: &str,
        preferred: Option<&str>,
        email: Option<&str>,
    ) -> Result<User> {
        match self.store.user_by_oidc(issuer, subject).await {
            Ok(u) => {
                if u.user.disabled_at.is_some() {
                    return Err(ApiError::unauthenticated(format!("user {} is disabled", u.user.name)));
                }
                return Ok(u.user);
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let base: String = preferred
            .or_else(|| email.and_then(|e| e.split('@').next()))
            .unwrap_or(subject)
            .chars()
            .map(|c| if c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@') { c } else { '-' })
            .take(100)
            .collect();
        let role = self.oidc().map_or(Role::Editor, |o| o.default_role);
        // An existing local account of the same name is linked only when it has no
        // identity yet and the email matches; otherwise the name gets a suffix.
        if let Ok(existing) = self.store.get_user(&base).await
            && existing.user.oidc_issuer.is_none()
            && email.is_some()
            && existing.user.email.as_deref() == email
        {
            let update = UserUpdate { oidc: Some((issuer.to_owned(), subject.to_owned())), ..Default::default() };
            return Ok(self.store.update_user(&base, &update).await?);
        }
        for n in 0..100 {
            let name = if n == 0 { base.clone() } else { format!("{base}-{n}") };
            let new = NewUser {
                name,
                display_name: preferred.unwrap_or_default().to_owned(),
                email: email.map(str::to_owned),
                role: Some(role),
                password: None,
            };
            match self.add_user(new, Some((issuer.to_owned(), subject.to_owned()))).await {
                Ok(u) => return Ok(u),
                Err(e) if e.code == ErrorCode::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::internal("could not find a free user name for this identity"))
    }
}

/// The audit log's writer: one task per server writes the entries in the order they
/// were made, after the responses they describe have gone. Written before the response,
/// an entry waited for the store's write lock behind every other writer (on SQLite, the
/// next bulk write's whole transaction), so a client that keeps two requests in flight
/// saw them answered one after the other.
#[derive(Default)]
pub(crate) struct AuditQueue {
    sender: std::sync::OnceLock<tokio::sync::mpsc::Sender<AuditMsg>>,
}

impl std::fmt::Debug for AuditQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditQueue").field("started", &self.sender.get().is_some()).finish()
    }
}

pub(crate) enum AuditMsg {
    Entry(AuditEntry),
    /// Answered once every entry sent before it is written.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Entries waiting to be written before a request's audit waits for room.
const AUDIT_QUEUE: usize = 4096;

fn spawn_audit_writer(store: std::sync::Arc<dyn cairn_store::MetadataStore>) -> tokio::sync::mpsc::Sender<AuditMsg> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(AUDIT_QUEUE);
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            match msg {
                AuditMsg::Entry(entry) => {
                    if let Err(e) = store.append_audit(&entry).await {
                        tracing::error!(error = %e, action = %entry.action, "could not write the audit log");
                    }
                }
                AuditMsg::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    });
    tx
}

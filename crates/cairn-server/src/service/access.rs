//! Who is asking, and what they may do. Every request's [`Caller`] travels with the
//! [`Service`] it is answered by; each operation asks for the role it needs on the
//! project it touches (viewer to read, editor to record, admin to change settings and
//! membership, owner to delete a project), and the token's scope caps that role.
//!
//! Projects are visible to the whole organisation by default: a signed-in user has
//! their organisation role (viewer or editor) on every such project, and the roles they
//! are given on it, directly or through a team. A private project is seen by its
//! members only, and answered as "not found" to everyone else, so its existence does
//! not leak. Organisation admins may do everything.
//!
//! A server without sign-in (the embedded one, on loopback) has one local caller who
//! may do everything, as before.

use super::{Result, Service};
use crate::error::{ApiError, ErrorCode};
use cairn_domain::auth::{Role, Scope, User, Visibility};
use cairn_domain::{Project, ProjectName, Run};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Who a request comes from.
#[derive(Debug, Clone)]
pub struct Caller {
    pub who: Who,
    /// The client's address, for the audit log.
    pub address: Option<String>,
    /// The user's project roles, read once per request when first needed.
    memberships: Arc<tokio::sync::OnceCell<BTreeMap<i64, Role>>>,
    /// The project the request acted on, for the audit log.
    touched: Arc<std::sync::Mutex<Option<String>>>,
    /// What a permission change changed, for the audit log.
    details: Arc<std::sync::Mutex<Option<serde_json::Value>>>,
}

#[derive(Debug, Clone)]
pub enum Who {
    /// A server without sign-in: one user who may do everything.
    Local,
    /// The server's own work (idle checks, background jobs).
    System,
    /// No credentials on a server that requires sign-in.
    Anonymous,
    /// A signed-in user, through a token of this scope.
    User { user: User, scope: Scope, token: Option<TokenUse> },
}

/// The token a request came with, for the audit log and `whoami`.
#[derive(Debug, Clone)]
pub struct TokenUse {
    pub id: i64,
    pub name: String,
    pub prefix: String,
}

impl Caller {
    fn new(who: Who, address: Option<String>) -> Caller {
        Caller { who, address, memberships: Arc::default(), touched: Arc::default(), details: Arc::default() }
    }
    pub fn local() -> Caller {
        Caller::new(Who::Local, None)
    }
    pub fn system() -> Caller {
        Caller::new(Who::System, None)
    }
    pub fn anonymous(address: Option<String>) -> Caller {
        Caller::new(Who::Anonymous, address)
    }
    pub fn user(user: User, scope: Scope, token: Option<TokenUse>, address: Option<String>) -> Caller {
        Caller::new(Who::User { user, scope, token }, address)
    }

    /// The name the audit log and run owners record.
    pub fn name(&self) -> String {
        match &self.who {
            Who::Local => "local".into(),
            Who::System => "system".into(),
            Who::Anonymous => "anonymous".into(),
            Who::User { user, .. } => user.name.clone(),
        }
    }

    /// The signed-in user, if any.
    pub fn signed_in(&self) -> Option<&User> {
        match &self.who {
            Who::User { user, .. } => Some(user),
            _ => None,
        }
    }

    pub fn token(&self) -> Option<&TokenUse> {
        match &self.who {
            Who::User { token, .. } => token.as_ref(),
            _ => None,
        }
    }

    /// The project the request acted on (the last one checked).
    pub fn touched_project(&self) -> Option<String> {
        self.touched.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Says what a permission change did, for the audit log's entry of this request.
    pub fn note(&self, details: serde_json::Value) {
        *self.details.lock().unwrap_or_else(|e| e.into_inner()) = Some(details);
    }

    pub fn details(&self) -> Option<serde_json::Value> {
        self.details.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn touch(&self, project: &str) {
        *self.touched.lock().unwrap_or_else(|e| e.into_inner()) = Some(project.to_owned());
    }

    /// Everything is allowed (no sign-in, or the server itself).
    fn unrestricted(&self) -> bool {
        matches!(self.who, Who::Local | Who::System)
    }
}

/// The scope a role's actions need.
fn scope_for(role: Role) -> Scope {
    match role {
        Role::Viewer => Scope::Read,
        Role::Editor => Scope::Write,
        Role::Admin | Role::Owner => Scope::Admin,
    }
}

/// What a role is for, in a refusal.
fn doing(role: Role) -> &'static str {
    match role {
        Role::Viewer => "reading it",
        Role::Editor => "recording or changing runs",
        Role::Admin => "changing its settings or members",
        Role::Owner => "deleting it or naming owners",
    }
}

impl Service {
    /// The same service, answering for `caller`.
    pub fn with_caller(&self, caller: Caller) -> Service {
        Service { caller: Arc::new(caller), ..self.clone() }
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    async fn memberships(&self) -> Result<&BTreeMap<i64, Role>> {
        let Some(user) = self.caller.signed_in() else {
            return Err(ApiError::internal("memberships asked for a caller who is not signed in"));
        };
        let id = user.id;
        self.caller
            .memberships
            .get_or_try_init(|| async move { self.store.memberships(id).await.map_err(ApiError::from) })
            .await
    }

    /// The caller's role on `p` (`None`: they cannot see it).
    pub async fn role_on(&self, p: &Project) -> Result<Option<Role>> {
        let (user, _) = match &self.caller.who {
            Who::Local | Who::System => return Ok(Some(Role::Owner)),
            Who::Anonymous => return Ok(None),
            Who::User { user, scope, .. } => (user, scope),
        };
        if user.role >= Role::Admin {
            return Ok(Some(Role::Owner));
        }
        let given = self.memberships().await?.get(&p.id).copied();
        let base = (p.visibility == Visibility::Org).then_some(user.role.min(Role::Editor));
        Ok(given.max(base))
    }

    /// Refuses unless the caller may act as `need` on `p`. A project the caller cannot
    /// see is answered as not found, with `missing` (the project's, or a run's).
    pub async fn require_on(&self, p: &Project, need: Role, missing: impl FnOnce() -> ApiError) -> Result<()> {
        self.caller.touch(p.name.as_str());
        if self.caller.unrestricted() {
            return Ok(());
        }
        let Some(role) = self.role_on(p).await? else {
            return Err(match self.caller.who {
                Who::Anonymous => {
                    ApiError::unauthenticated("sign in first: send a token (Authorization: Bearer …, or `cairn login`)")
                }
                _ => missing(),
            });
        };
        if role < need {
            return Err(ApiError::denied(format!(
                "you are {} {role} of project {}; {} needs {need}",
                if role == Role::Admin || role == Role::Editor { "an" } else { "a" },
                p.name,
                doing(need)
            )));
        }
        self.require_scope(scope_for(need))
    }

    /// Refuses when the caller's token does not allow `need`.
    pub fn require_scope(&self, need: Scope) -> Result<()> {
        if let Who::User { scope, token, .. } = &self.caller.who
            && *scope < need
        {
            let name = token.as_ref().map(|t| format!(" '{}'", t.name)).unwrap_or_default();
            return Err(ApiError::denied(format!(
                "the token{name} has scope {}; this needs {} (create one with `cairn tokens create NAME --scope {}`)",
                scope.as_str(),
                need.as_str(),
                need.as_str()
            )));
        }
        Ok(())
    }

    /// Refuses unless the caller has at least `need` organisation-wide (creating
    /// projects, the model registry, users and teams).
    pub fn require_org(&self, need: Role) -> Result<()> {
        match &self.caller.who {
            Who::Local | Who::System => Ok(()),
            Who::Anonymous => Err(ApiError::unauthenticated("sign in first (`cairn login`, or a token)")),
            Who::User { user, .. } => {
                if user.role < need {
                    return Err(ApiError::denied(format!(
                        "your organisation role is {}; this needs {need}",
                        user.role
                    )));
                }
                self.require_scope(scope_for(need.min(Role::Admin)))
            }
        }
    }

    /// The project named, when the caller may act on it as `need`.
    pub async fn project_as(&self, name: &str, need: Role) -> Result<Project> {
        let parsed = ProjectName::parse(name)?;
        let p = match self.store.get_project(&parsed).await {
            Ok(p) => p,
            Err(e) => return Err(e.into()),
        };
        self.require_on(&p, need, || project_missing(name)).await?;
        Ok(p)
    }

    /// Refuses unless the caller may act as `need` on the run's project; a run the
    /// caller cannot see is answered as not found, in the words used for a run that
    /// does not exist (`asked`: the reference as the caller gave it).
    pub async fn require_on_run(&self, run: &Run, asked: &str, need: Role) -> Result<()> {
        if self.caller.unrestricted() {
            self.caller.touch(run.project.as_str());
            return Ok(());
        }
        let p = self.store.get_project(&run.project).await?;
        self.require_on(&p, need, || run_missing(asked)).await
    }

    /// Private projects the caller cannot see (their runs are left out of searches).
    pub async fn hidden_projects(&self) -> Result<Vec<i64>> {
        match &self.caller.who {
            Who::Local | Who::System => Ok(vec![]),
            Who::User { user, .. } if user.role >= Role::Admin => Ok(vec![]),
            _ => {
                let private = self.store.private_projects().await?;
                if private.is_empty() {
                    return Ok(private);
                }
                let mine = match self.caller.who {
                    Who::User { .. } => self.memberships().await?.clone(),
                    _ => BTreeMap::new(),
                };
                Ok(private.into_iter().filter(|id| !mine.contains_key(id)).collect())
            }
        }
    }

    /// The owner recorded on what the caller creates: the signed-in user, else the
    /// name the client gave (a server without sign-in trusts it, as before).
    pub fn owner_or(&self, given: Option<String>) -> Option<String> {
        match &self.caller.who {
            Who::User { user, .. } => Some(user.name.clone()),
            _ => given,
        }
    }
}

pub fn project_missing(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ProjectNotFound,
        format!("no project '{name}' in this store; `cairn projects` lists projects"),
    )
}

pub fn run_missing(run: &str) -> ApiError {
    ApiError::new(ErrorCode::RunNotFound, format!("no run '{run}' in this store; `cairn ls` lists runs"))
}

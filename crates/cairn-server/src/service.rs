//! The service layer: one function per operation, shared by REST, gRPC and the CLI.
//! It validates input, fills defaults (ids, times, owner), resolves references and
//! enforces project rules; the store below only stores.

pub mod access;
mod analysis;
mod baseline;
mod bulk;
pub mod comparison;
mod dashboard;
pub mod identity;
mod import;
mod registry;
mod review;
pub mod runner;
mod studies;
mod tried;

pub use analysis::InsightsReport;
pub use dashboard::{Refusals, Summary};
pub use review::{Review, review_markdown};
pub use studies::{AblationReport, ChangeEffect, StudyReport};

use crate::error::{ApiError, ErrorCode};
use crate::limits::Reservation;
use axum::http::StatusCode;
use bytes::Bytes;
pub use cairn_api::runs::{HEAVY_FIELDS, History, Lineage, MAX_PAGE, MAX_SAMPLE, SearchRequest, SearchResponse};
use cairn_artifacts::ArtifactStore;
use cairn_domain::auth::{PrincipalKind, Role};
use cairn_domain::compare::{self, ChangeBasis, RunFacts};
use cairn_domain::{
    ArtifactInfo, ArtifactPath, DuplicatePolicy, MetricKey, MetricSeries, MetricSummary, Millis, NewProject, NewRun,
    Project, ProjectName, ProjectPatch, Run, RunId, RunPatch, RunRef, RunStatus, ShortId, Verdict,
};
use cairn_store::{
    MetadataStore, RunPage, RunQuery, RunRecord, RunSample, RunUpdate, SampleMethod, StepRange, StoreError,
};
use futures::Stream;
use futures::stream::BoxStream;
use std::sync::Arc;

/// Tag a run carries when it declares a study design (ablation, factorial, sweep…):
/// changing several variables at once is then intended.
pub const STUDY_TAG: &str = "cairn.study";
/// Tag set on a run that changed more than one variable without a study design; its
/// value names the changes.
pub const MANY_CHANGES_TAG: &str = "cairn.many_changes";
/// How many of a project's most recent runs are searched for the most similar one.
const NEAREST_CANDIDATES: u32 = 100;

/// Most points accepted in one ingestion request.
pub const MAX_POINTS_PER_REQUEST: usize = 1_000_000;
/// Most points a downsampled history read may ask for.
pub const MAX_HISTORY_POINTS: usize = 100_000;
/// Memory a point of a history answer takes: three columns, then their JSON text.
const BYTES_PER_POINT: usize = 48;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

pub fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Clone)]
pub struct Service {
    pub store: Arc<dyn MetadataStore>,
    pub artifacts: ArtifactStore,
    /// A run changed (record, metrics, artifacts): wakes live views on this server.
    /// Views also re-read on a timer, so changes made through another replica reach them.
    events: tokio::sync::broadcast::Sender<RunId>,
    activity: Arc<Activity>,
    /// Who this copy of the service answers for (one copy per request).
    caller: Arc<access::Caller>,
    /// Sign-in: whether it is required, OpenID Connect, pending logins.
    auth: Arc<identity::AuthSettings>,
    limits: Arc<crate::Limits>,
    /// Memory for request bodies and large answers, shared by all requests.
    pub budget: crate::limits::Budget,
    /// The runner's in-memory part (the scheduler's wake-up, its lease holder name).
    runner: Arc<runner::Shared>,
    /// Audit entries on their way to the store.
    audit: Arc<identity::AuditQueue>,
}

/// When the server started and was last asked for something: an embedded server
/// started for a command exits by itself once idle (see [`Service::idle`]).
#[derive(Debug)]
struct Activity {
    started_at: Millis,
    last_request: std::sync::atomic::AtomicI64,
    idle_exit_ms: std::sync::atomic::AtomicI64,
}

/// How long a run may stay `running` without any write before it no longer counts as
/// open (its process most likely died without finishing it).
const OPEN_RUN_QUIET_MS: i64 = 24 * 3_600_000;

/// `crashed` is the server's verdict on a run whose heartbeats stopped; clients end
/// runs as finished, failed or killed.
fn client_settable(status: RunStatus) -> Result<()> {
    if status == RunStatus::Crashed {
        return Err(ApiError::invalid(
            "crashed is what the server marks a run whose heartbeats stopped; end it as failed or killed",
        ));
    }
    Ok(())
}

/// Empties the heavy members not in `fields`.
fn trim(run: &mut Run, fields: &[String]) {
    let keep = |f: &str| fields.iter().any(|x| x == f);
    if !keep("config") {
        run.config = Default::default();
    }
    if !keep("metrics") {
        run.metrics.clear();
    }
    if !keep("tags") {
        run.tags.clear();
    }
    if !keep("environment") {
        run.environment = None;
    }
    if !keep("code") {
        run.code = None;
    }
    if !keep("data") {
        run.data = None;
    }
    if !keep("changes") {
        run.changes = None;
    }
    if !keep("config_sources") {
        run.config_sources.clear();
    }
    if !keep("command") {
        run.command.clear();
    }
}

/// A cursor names the next page's offset and the time of the first page: later pages
/// see only runs created by then, so new runs do not shift them.
/// Searches count their matches exactly up to this many; past it the store may estimate.
const EXACT_COUNT_UP_TO: u64 = 10_000;

/// 2 → "2nd", 11 → "11th", 23 → "23rd".
fn ordinal(k: u64) -> String {
    let suffix = match (k % 10, k % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{k}{suffix}")
}

fn encode_cursor(offset: u64, as_of: Millis) -> String {
    format!("o{offset}t{as_of}")
}

fn decode_cursor(c: &str) -> Result<(u64, Millis)> {
    c.strip_prefix('o')
        .and_then(|rest| rest.split_once('t'))
        .and_then(|(o, t)| Some((o.parse().ok()?, t.parse().ok()?)))
        .ok_or_else(|| ApiError::invalid(format!("cursor '{c}' is not one this server issued; start again without it")))
}

fn random_u64() -> u64 {
    rand::random()
}

impl Service {
    pub fn new(store: Arc<dyn MetadataStore>, artifacts: ArtifactStore) -> Service {
        let (events, _) = tokio::sync::broadcast::channel(1024);
        let now = now_ms();
        let activity = Arc::new(Activity {
            started_at: now,
            last_request: std::sync::atomic::AtomicI64::new(now),
            idle_exit_ms: std::sync::atomic::AtomicI64::new(0),
        });
        let auth = Arc::new(identity::AuthSettings::off());
        let limits = crate::Limits::default();
        let budget = crate::limits::Budget::new(limits.inflight_bytes);
        Service {
            store,
            artifacts,
            events,
            activity,
            caller: Arc::new(access::Caller::local()),
            auth,
            limits: Arc::new(limits),
            budget,
            runner: Arc::new(runner::Shared::default()),
            audit: Arc::default(),
        }
    }

    /// Sets the server's limits (call before serving).
    pub fn set_limits(&mut self, limits: crate::Limits) {
        self.budget = crate::limits::Budget::new(limits.inflight_bytes);
        self.limits = Arc::new(limits);
    }

    pub fn limits(&self) -> &crate::Limits {
        &self.limits
    }

    /// Tells live views that `run` changed.
    /// Records that a client asked for something (health checks and status reads aside).
    pub fn touch(&self) {
        self.activity.last_request.store(now_ms(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Says that the server exits once idle this long (the binary acts on [`Service::idle`]).
    pub fn set_idle_exit(&self, ms: Option<i64>) {
        self.activity.idle_exit_ms.store(ms.unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
    }

    /// Milliseconds since the last request.
    pub fn idle_ms(&self) -> i64 {
        now_ms() - self.activity.last_request.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs still open: `running`, and written to within the last day (a run whose
    /// process died without finishing it does not keep a server up forever).
    pub async fn open_runs(&self) -> Result<u64> {
        let filter = cairn_query::parse_filter("status = \"running\"")?;
        let q = RunQuery { filter, limit: 1000, ..Default::default() };
        let cutoff = now_ms() - OPEN_RUN_QUIET_MS;
        Ok(self.store.search_runs(&q).await?.runs.iter().filter(|r| r.updated_at >= cutoff).count() as u64)
    }

    /// Whether the server has been idle past its idle-exit time with no open run.
    pub async fn idle(&self) -> bool {
        let limit = self.activity.idle_exit_ms.load(std::sync::atomic::Ordering::Relaxed);
        limit > 0 && self.idle_ms() >= limit && self.open_runs().await.is_ok_and(|n| n == 0)
    }

    pub async fn server_info(&self) -> Result<cairn_api::server::ServerInfo> {
        let limit = self.activity.idle_exit_ms.load(std::sync::atomic::Ordering::Relaxed);
        Ok(cairn_api::server::ServerInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            store: self.store.backend().to_owned(),
            started_at: self.activity.started_at,
            idle_ms: self.idle_ms(),
            idle_exit_ms: (limit > 0).then_some(limit),
            open_runs: self.open_runs().await?,
            auth: self.auth.enabled,
            pid: std::process::id(),
        })
    }

    pub fn notify(&self, run: RunId) {
        // No receiver is not an error: nobody is watching.
        let _ = self.events.send(run);
    }

    /// Changes to runs, as they happen on this server.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<RunId> {
        self.events.subscribe()
    }

    pub async fn create_project(&self, p: NewProject) -> Result<Project> {
        self.require_org(Role::Editor)?;
        ProjectName::parse(p.name.clone())?;
        cairn_domain::validate_text("description", &p.description, cairn_domain::MAX_DESCRIPTION, true)?;
        let created = self.store.create_project(&p, now_ms()).await?;
        self.make_owner(&created).await?;
        Ok(created)
    }

    /// Whoever creates a project owns it.
    async fn make_owner(&self, p: &Project) -> Result<()> {
        if let Some(u) = self.caller().signed_in() {
            self.store.set_project_member(p.id, PrincipalKind::User, &u.name, Some(Role::Owner)).await?;
        }
        Ok(())
    }

    /// The projects the caller can see.
    pub async fn list_projects(&self) -> Result<Vec<Project>> {
        let all = self.store.list_projects().await?;
        let mut out = Vec::with_capacity(all.len());
        for p in all {
            if self.role_on(&p).await?.is_some() {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// A page of the projects the caller can see, searched in the store.
    pub async fn search_projects(&self, mut query: cairn_store::ListQuery) -> Result<Vec<Project>> {
        query.hidden = self.hidden_projects().await?;
        self.timed(self.store.search_projects(&query)).await
    }

    pub async fn get_project_by_id(&self, id: i64) -> Result<Project> {
        let p = self.store.get_project_by_id(id).await?;
        let shown = id.to_string();
        self.require_on(&p, Role::Viewer, || access::project_missing(&shown)).await?;
        Ok(p)
    }

    /// The project, created with defaults if it does not exist yet.
    pub async fn ensure_project(&self, name: &str) -> Result<Project> {
        self.project_for_run(&ProjectName::parse(name)?).await
    }

    /// A project the caller can see.
    pub async fn get_project(&self, name: &str) -> Result<Project> {
        self.project_as(name, Role::Viewer).await
    }

    /// Changes a project's settings: tags and description need an editor, the other
    /// settings (name, visibility, primary metric, hypothesis rule) an admin, deleting
    /// or restoring the owner.
    pub async fn update_project(&self, name: &str, patch: ProjectPatch) -> Result<Project> {
        let need = if patch.deleted.is_some() {
            Role::Owner
        } else if patch.name.is_some()
            || patch.visibility.is_some()
            || patch.primary_metric.is_some()
            || patch.require_hypothesis.is_some()
        {
            Role::Admin
        } else {
            Role::Editor
        };
        self.project_as(name, need).await?;
        if let Some(v) = patch.visibility {
            self.caller().note(serde_json::json!({"change": "visibility", "project": name, "visibility": v}));
        }
        if let Some(d) = &patch.description {
            cairn_domain::validate_text("description", d, cairn_domain::MAX_DESCRIPTION, true)?;
        }
        if let Some(n) = &patch.name {
            ProjectName::parse(n.clone())?;
        }
        for (k, v) in &patch.tags {
            cairn_domain::TagKey::parse(k.clone())?;
            cairn_domain::validate_text("tag value", v, cairn_domain::MAX_DESCRIPTION, true)?;
        }
        Ok(self.store.update_project(&ProjectName::parse(name)?, &patch, now_ms()).await?)
    }

    /// The project, created with defaults on first use (as `wandb.init` does), when the
    /// caller may record runs in it.
    async fn project_for_run(&self, name: &ProjectName) -> Result<Project> {
        let p = match self.store.get_project(name).await {
            Ok(p) => p,
            Err(StoreError::NotFound { .. }) => {
                self.require_org(Role::Editor)?;
                let new = NewProject { name: name.to_string(), ..Default::default() };
                match self.store.create_project(&new, now_ms()).await {
                    Ok(p) => {
                        self.make_owner(&p).await?;
                        self.caller().touch(p.name.as_str());
                        return Ok(p);
                    }
                    Err(StoreError::AlreadyExists(_)) => self.store.get_project(name).await?,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        self.require_on(&p, Role::Editor, || access::project_missing(name.as_str())).await?;
        if p.deleted_at.is_some() {
            return Err(ApiError::new(
                ErrorCode::ProjectDeleted,
                format!("project '{name}' is deleted; restore it (PATCH its \"deleted\": false) to add runs"),
            ));
        }
        Ok(p)
    }

    /// A run the caller can see.
    pub async fn resolve(&self, run: &str) -> Result<Run> {
        self.resolve_for(run, Role::Viewer).await
    }

    /// A run the caller may act on as `need` (a run they cannot see is not found).
    pub async fn resolve_for(&self, run: &str, need: Role) -> Result<Run> {
        let r = RunRef::parse(run)?;
        let found = self.store.get_run(&r).await?;
        self.require_on_run(&found, &r.to_string(), need).await?;
        Ok(found)
    }

    pub async fn create_run(&self, new: NewRun) -> Result<Run> {
        self.create_run_checked(new, true).await
    }

    /// For clients that cannot state a hypothesis (the MLflow API): the run is accepted
    /// without one even where the project requires it, and shows as missing it.
    pub async fn create_run_without_hypothesis_rule(&self, new: NewRun) -> Result<Run> {
        self.create_run_checked(new, false).await
    }

    async fn create_run_checked(&self, mut new: NewRun, hypothesis_rule: bool) -> Result<Run> {
        // A signed-in caller owns what they record, whatever the client says.
        new.owner = self.owner_or(new.owner.take());
        let project_name = ProjectName::parse(new.project.clone())?;
        let project = self.project_for_run(&project_name).await?;
        new.validate(hypothesis_rule && project.require_hypothesis)?;
        let mut parents = Vec::with_capacity(new.parents.len());
        let mut first_parent = None;
        for p in &new.parents {
            let parent = self.resolve(p).await.map_err(|e| {
                if e.status == StatusCode::NOT_FOUND {
                    ApiError::new(ErrorCode::RunNotFound, format!("parent run '{p}' does not exist"))
                } else {
                    e
                }
            })?;
            if !parents.contains(&parent.id) {
                parents.push(parent.id);
            }
            if first_parent.is_none() {
                first_parent = Some(parent);
            }
        }
        let (fingerprint, group_id) = self.duplicate_check(&project_name, &new).await?;
        let mut tags = new.tags.clone();
        let compare = new.compare.unwrap_or(first_parent.is_some() || new.on_duplicate.is_some());
        let changes = match (&new.changes, compare) {
            (Some(c), _) => Some(c.clone()),
            (None, true) => self.changes_for(&project_name, first_parent.as_ref(), &new).await?,
            (None, false) => None,
        };
        if let Some(c) = &changes {
            let vars = c.variables();
            if vars.len() > 1 && !tags.contains_key(STUDY_TAG) {
                tags.insert(MANY_CHANGES_TAG.to_owned(), vars.join(", "));
            }
        }
        let now = now_ms();
        let status = new.status.unwrap_or(RunStatus::Running);
        let owner = new.owner.clone().unwrap_or_else(|| "unknown".to_owned());
        for attempt in 0..5 {
            let short_id = ShortId::from_random(random_u64());
            let run = Run {
                id: RunId(uuid::Uuid::now_v7()),
                name: new.name.clone().unwrap_or_else(|| short_id.to_string()),
                short_id,
                project: project_name.clone(),
                description: new.description.clone(),
                hypothesis: new.hypothesis.clone().filter(|h| !h.trim().is_empty()),
                expected: new.expected.clone(),
                verdict: None,
                owner: owner.clone(),
                tags: tags.clone(),
                status,
                // A client clock ahead of the server's must not hide the run from
                // searches (which read runs created up to now): created is never later.
                created_at: new.started_at.map_or(now, |t| t.min(now)),
                started_at: (status == RunStatus::Running).then(|| new.started_at.unwrap_or(now)),
                ended_at: None,
                exit_code: None,
                config: new.config.clone(),
                command: new.command.clone(),
                code: new.code.clone(),
                data: new.data.clone(),
                environment: new.environment.clone(),
                seeds: new.seeds.clone(),
                parents: parents.clone(),
                children: vec![],
                group_id: group_id.clone(),
                fingerprint: fingerprint.clone(),
                metrics: vec![],
                deleted_at: None,
                updated_at: now,
                changes: changes.clone(),
                config_sources: new.config_sources.clone(),
            };
            match self.store.create_run(&RunRecord { run }).await {
                // A short-id collision: draw again.
                Err(StoreError::AlreadyExists(_)) if attempt < 4 => continue,
                other => return Ok(other?),
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// The run's fingerprint and replicate group, after applying its duplicate policy:
    /// with `refuse`, an identical finished run in the project is an error naming it.
    /// Runs that ask for no policy keep what they were given (no check, no group).
    async fn duplicate_check(&self, project: &ProjectName, new: &NewRun) -> Result<(Option<String>, Option<String>)> {
        let Some(policy) = new.on_duplicate else {
            return Ok((new.fingerprint.clone(), new.group_id.clone()));
        };
        let fingerprint = new.fingerprint.clone().unwrap_or_else(|| compare::fingerprint(RunFacts::from(new)));
        if policy == DuplicatePolicy::Refuse {
            let filter =
                cairn_query::parse_filter(&format!("fingerprint = \"{fingerprint}\" and status = \"finished\""))?;
            let query = RunQuery { project: Some(project.clone()), filter, limit: 1, ..Default::default() };
            if let Some(earlier) = self.store.search_runs(&query).await?.runs.into_iter().next() {
                // Kept so the project can show what the check saved; losing it loses nothing else.
                let refusal = cairn_store::Refusal {
                    at: now_ms(),
                    owner: new.owner.clone().unwrap_or_else(|| "unknown".to_owned()),
                    fingerprint: fingerprint.clone(),
                    duplicate_of: earlier.id,
                    hypothesis: new.hypothesis.clone(),
                    command: new.command.clone(),
                };
                if let Err(e) = self.store.record_refusal(project, &refusal).await {
                    tracing::warn!(error = %e, "could not record a refused duplicate");
                }
                return Err(ApiError::duplicate(&earlier));
            }
        }
        let group = match policy {
            DuplicatePolicy::Force => new.group_id.clone(),
            _ => new.group_id.clone().or_else(|| Some(compare::replicate_group(&fingerprint))),
        };
        Ok((Some(fingerprint), group))
    }

    /// What differs from the first parent or, without one, from the most similar of the
    /// project's recent runs.
    async fn changes_for(
        &self,
        project: &ProjectName,
        parent: Option<&Run>,
        new: &NewRun,
    ) -> Result<Option<cairn_domain::RunChanges>> {
        let facts = RunFacts::from(new);
        if let Some(p) = parent {
            return Ok(Some(compare::changes(p, ChangeBasis::Parent, facts)));
        }
        let query = RunQuery { project: Some(project.clone()), limit: NEAREST_CANDIDATES, ..Default::default() };
        let candidates = self.store.search_runs(&query).await?.runs;
        Ok(compare::nearest(&candidates, facts).map(|base| compare::changes(base, ChangeBasis::Nearest, facts)))
    }

    pub async fn update_run(&self, run: &str, patch: RunPatch) -> Result<Run> {
        patch.validate()?;
        let current = self.resolve_for(run, Role::Editor).await?;
        let now = now_ms();
        let mut u = RunUpdate {
            name: patch.name,
            description: patch.description,
            hypothesis: patch.hypothesis,
            expected: patch.expected,
            exit_code: patch.exit_code,
            set_tags: patch.tags,
            remove_tags: patch.remove_tags,
            code: patch.code,
            data: patch.data,
            environment: patch.environment,
            seeds: patch.seeds,
            group_id: patch.group_id,
            fingerprint: patch.fingerprint,
            command: patch.command,
            changes: patch.changes,
            ..Default::default()
        };
        if !patch.config_sources.is_empty() {
            let mut merged = current.config_sources.clone();
            for (k, src) in patch.config_sources {
                // A value reported again unchanged (the SDK echoing the command's flags)
                // keeps the source it first came from.
                let unchanged = patch.config.as_ref().and_then(|c| c.get(&k)) == current.config.get(&k);
                if !(unchanged && merged.contains_key(&k)) {
                    merged.insert(k, src);
                }
            }
            u.config_sources = Some(merged);
        }
        if let Some(outcome) = patch.verdict {
            u.verdict = Some(Verdict { outcome, at: now, note: patch.verdict_note });
        }
        if let Some(cfg) = patch.config {
            let mut merged = current.config.clone();
            merged.extend(cfg);
            if u.changes.is_none() {
                self.recompare(&current, &merged, &mut u).await?;
            }
            u.config = Some(merged);
        }
        if let Some(status) = patch.status {
            client_settable(status)?;
            self.status_times(&current, status, now, &mut u);
        }
        // A client's end time (a backfill) is kept as given, as MLflow keeps it.
        if patch.ended_at.is_some() {
            u.ended_at = patch.ended_at;
        }
        let updated = self.store.update_run(current.id, &u, now).await?;
        self.notify(updated.id);
        Ok(updated)
    }

    /// The config grew (e.g. the SDK inside `cairn run` added the script's defaults):
    /// compares the parameters again with the same run as before, keeping the code part
    /// (which a client may have refined), and sets or clears the many-changes tag.
    async fn recompare(&self, current: &Run, config: &cairn_domain::Config, u: &mut RunUpdate) -> Result<()> {
        let Some(old) = &current.changes else { return Ok(()) };
        let base = match RunRef::parse(&old.against) {
            Ok(r) => match self.store.get_run(&r).await {
                Ok(b) => b,
                Err(StoreError::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            },
            Err(_) => return Ok(()),
        };
        let mut now = current.clone();
        now.config = config.clone();
        let mut fresh = compare::changes(&base, old.basis, RunFacts::from(&now));
        fresh.code = old.code.clone();
        let vars = fresh.variables();
        let tags = &current.tags;
        if vars.len() > 1 && !tags.contains_key(STUDY_TAG) {
            u.set_tags.insert(MANY_CHANGES_TAG.to_owned(), vars.join(", "));
        } else if tags.contains_key(MANY_CHANGES_TAG) && !u.set_tags.contains_key(MANY_CHANGES_TAG) {
            u.remove_tags.push(MANY_CHANGES_TAG.to_owned());
        }
        u.changes = Some(fresh);
        Ok(())
    }

    fn status_times(&self, current: &Run, status: RunStatus, now: Millis, u: &mut RunUpdate) {
        u.status = Some(status);
        if status == RunStatus::Running && current.started_at.is_none() {
            u.started_at = Some(now);
        }
        if status.is_terminal() && (current.ended_at.is_none() || !current.status.is_terminal()) {
            u.ended_at = Some(now);
        }
    }

    pub async fn finish_run(&self, run: &str, status: Option<RunStatus>, exit_code: Option<i32>) -> Result<Run> {
        let status = status.unwrap_or(RunStatus::Finished);
        client_settable(status)?;
        if !status.is_terminal() {
            return Err(ApiError::invalid(format!("finish takes finished, failed or killed, not {status}")));
        }
        let current = self.resolve_for(run, Role::Editor).await?;
        let now = now_ms();
        let mut u = RunUpdate { exit_code, ..Default::default() };
        self.status_times(&current, status, now, &mut u);
        let updated = self.store.update_run(current.id, &u, now).await?;
        self.notify(updated.id);
        Ok(updated)
    }

    pub async fn set_status(&self, run: &str, status: RunStatus, exit_code: Option<i32>) -> Result<Run> {
        if status == RunStatus::Queued {
            return Err(ApiError::invalid("a run cannot go back to queued"));
        }
        client_settable(status)?;
        let current = self.resolve_for(run, Role::Editor).await?;
        let now = now_ms();
        let mut u = RunUpdate { exit_code, ..Default::default() };
        self.status_times(&current, status, now, &mut u);
        let updated = self.store.update_run(current.id, &u, now).await?;
        self.notify(updated.id);
        Ok(updated)
    }

    pub async fn restore_run(&self, run: &str) -> Result<()> {
        let current = self.resolve_for(run, Role::Editor).await?;
        Ok(self.store.restore_run(current.id, now_ms()).await?)
    }

    /// A store call bounded by the statement timeout. PostgreSQL cancels its own
    /// statements at that time; on SQLite the answer comes at that time and the
    /// statement is abandoned at its next row.
    pub(crate) async fn timed<T>(&self, call: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T> {
        let limit = self.limits.statement_timeout;
        match tokio::time::timeout(limit + std::time::Duration::from_millis(500), call).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(StoreError::Timeout(limit.as_secs()).into()),
        }
    }

    /// The run's process says it is alive. Returns the run's status afterwards (a
    /// run marked `crashed` while its process was unreachable is `running` again).
    pub async fn heartbeat(&self, run: &str) -> Result<RunStatus> {
        let r = self.resolve_for(run, Role::Editor).await?;
        if r.deleted_at.is_some() {
            return Err(StoreError::RunDeleted(r.id.to_string()).into());
        }
        if self.store.heartbeat(r.id, now_ms()).await? {
            if r.status == RunStatus::Crashed {
                tracing::info!(run = %r.short_id, "a run marked crashed sent a heartbeat: running again");
                self.notify(r.id);
            }
            Ok(RunStatus::Running)
        } else {
            Ok(r.status)
        }
    }

    /// Marks `crashed` the running runs whose heartbeats stopped more than the
    /// heartbeat timeout ago. The server calls it periodically.
    pub async fn mark_crashed_runs(&self) -> Result<usize> {
        let now = now_ms();
        let stale_before = now - self.limits.heartbeat_timeout.as_millis() as i64;
        let marked = self.store.mark_crashed(stale_before, now).await?;
        for id in &marked {
            tracing::warn!(run = %id, "no heartbeat for {:?}: marked crashed", self.limits.heartbeat_timeout);
            self.notify(*id);
        }
        Ok(marked.len())
    }

    pub async fn delete_run(&self, run: &str) -> Result<()> {
        let current = self.resolve_for(run, Role::Editor).await?;
        Ok(self.store.delete_run(current.id, now_ms()).await?)
    }

    pub async fn search(&self, req: SearchRequest) -> Result<SearchResponse> {
        let filter = match req.filter.as_deref() {
            Some(f) => cairn_query::parse_filter(f)?,
            None => None,
        };
        let order = match req.order_by.as_deref() {
            Some(o) => cairn_query::parse_order(o)?,
            None => vec![],
        };
        let project = req.project.as_deref().filter(|p| !p.is_empty()).map(ProjectName::parse).transpose()?;
        if let Some(p) = &project {
            // A project the caller cannot see is not found, as one that does not exist.
            match self.get_project(p.as_str()).await {
                Ok(_) => {}
                Err(e) if e.code == ErrorCode::ProjectNotFound => {}
                Err(e) => return Err(e),
            }
        }
        let hidden_projects = self.hidden_projects().await?;
        let limit = req.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_PAGE {
            return Err(ApiError::invalid(format!("limit must be between 1 and {MAX_PAGE}, got {limit}")));
        }
        // An empty cursor is the first page, as if none were given; `offset` moves within
        // the cursor's snapshot.
        let (offset, as_of) = match req.cursor.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => decode_cursor(c)?,
            None => (0, now_ms()),
        };
        let offset = req.offset.unwrap_or(offset);
        if offset > i64::MAX as u64 {
            return Err(ApiError::invalid(format!("offset must be between 0 and {}, got {offset}", i64::MAX)));
        }
        if let Some(n) = req.sample
            && !(1..=MAX_SAMPLE).contains(&n)
        {
            return Err(ApiError::invalid(format!("sample must be between 1 and {MAX_SAMPLE}, got {n}")));
        }
        let q = RunQuery {
            project,
            filter,
            order,
            limit,
            offset,
            include_deleted: req.include_deleted,
            created_at_most: Some(as_of),
            hidden_projects,
        };
        if let Some(bad) = req.fields.iter().flatten().find(|f| !HEAVY_FIELDS.contains(&f.as_str())) {
            return Err(ApiError::invalid(format!(
                "fields: '{bad}' is not one of {}; the other members always come",
                HEAVY_FIELDS.join(", ")
            )));
        }
        if let Some(n) = req.sample {
            let RunSample { mut runs, total, method } =
                self.timed(self.store.sample_runs(&q, n, EXACT_COUNT_UP_TO)).await?;
            if let Some(fields) = &req.fields {
                runs.iter_mut().for_each(|r| trim(r, fields));
            }
            // How they were chosen; `total` says of how many.
            let how = match method {
                SampleMethod::All => "all matching runs".to_owned(),
                SampleMethod::EveryKth(k) => format!("every {} matching run, in the asked order", ordinal(k)),
                SampleMethod::Scattered { read } => {
                    format!("the matching runs among {read} read in stretches spread over the whole store")
                }
            };
            return Ok(SearchResponse {
                runs,
                next_cursor: None,
                total: Some(total.n),
                total_estimated: total.estimated,
                sample: Some(how),
            });
        }
        let RunPage { mut runs, next_offset } = self.timed(self.store.search_runs(&q)).await?;
        if let Some(fields) = &req.fields {
            runs.iter_mut().for_each(|r| trim(r, fields));
        }
        let total =
            if req.count { Some(self.timed(self.store.estimate_runs(&q, EXACT_COUNT_UP_TO)).await?) } else { None };
        Ok(SearchResponse {
            runs,
            next_cursor: next_offset.map(|o| encode_cursor(o, as_of)),
            total: total.map(|t| t.n),
            total_estimated: total.is_some_and(|t| t.estimated),
            sample: None,
        })
    }

    pub async fn lineage(&self, run: &str) -> Result<Lineage> {
        let r = self.resolve(run).await?;
        let (mut parents, mut children) = self.store.lineage(r.id).await?;
        // Relatives in projects the caller cannot see are left out.
        let hidden = self.hidden_projects().await?;
        if !hidden.is_empty() {
            let mut visible: std::collections::HashMap<String, bool> = Default::default();
            for b in parents.iter().chain(children.iter()) {
                if let std::collections::hash_map::Entry::Vacant(e) = visible.entry(b.project.to_string()) {
                    let p = self.store.get_project(&b.project).await?;
                    e.insert(!hidden.contains(&p.id));
                }
            }
            parents.retain(|b| visible[b.project.as_str()]);
            children.retain(|b| visible[b.project.as_str()]);
        }
        Ok(Lineage { run: r.id, parents, children })
    }

    /// Validates and stores a batch; returns the number of points stored.
    pub async fn log_metrics(
        &self,
        run: &str,
        batch: Vec<(String, MetricSeries)>,
        batch_id: Option<&str>,
    ) -> Result<u64> {
        if let Some(b) = batch_id {
            if b.is_empty() {
                return Err(ApiError::invalid("batch_id must not be empty; leave it out instead"));
            }
            cairn_domain::validate_text("batch_id", b, 128, false)?;
        }
        let total: usize = batch.iter().map(|(_, s)| s.len()).sum();
        if total > MAX_POINTS_PER_REQUEST {
            return Err(ApiError::new(
                ErrorCode::TooManyPoints,
                format!(
                    "this request carries {total} points; the limit is {MAX_POINTS_PER_REQUEST} per request: split it"
                ),
            ));
        }
        let mut checked = Vec::with_capacity(batch.len());
        for (key, series) in batch {
            let key = MetricKey::parse(key)?;
            series.check_lengths().map_err(|e| ApiError::invalid(format!("metric '{}': {e}", key.as_str())))?;
            checked.push((key, series));
        }
        let r = RunRef::parse(run)?;
        let id = match r {
            // Without sign-in a full id needs no lookup: ingestion stays one round trip.
            RunRef::Id(id) if !self.auth.enabled => id,
            _ => self.resolve_for(run, Role::Editor).await?.id,
        };
        let n = self.store.log_metrics(id, &checked, batch_id).await?;
        self.notify(id);
        Ok(n)
    }

    pub async fn metric_summaries(&self, run: &str) -> Result<Vec<MetricSummary>> {
        let r = self.resolve(run).await?;
        Ok(self.store.metric_summaries(r.id).await?)
    }

    /// One series, raw or downsampled to `max_points`. The answer's memory is
    /// reserved from the server's budget and held by the returned [`Reservation`]
    /// until it is dropped (keep it until the answer is sent).
    pub async fn history(
        &self,
        run: &str,
        key: &str,
        range: StepRange,
        max_points: Option<usize>,
    ) -> Result<(History, Reservation)> {
        let r = self.resolve(run).await?;
        let mut left = self.limits.answer_points;
        self.history_of(&r, key, range, max_points, &mut left).await
    }

    async fn history_of(
        &self,
        run: &Run,
        key: &str,
        range: StepRange,
        max_points: Option<usize>,
        left: &mut u64,
    ) -> Result<(History, Reservation)> {
        if let Some(m) = max_points
            && !(2..=MAX_HISTORY_POINTS).contains(&m)
        {
            return Err(ApiError::invalid(format!("max_points must be between 2 and {MAX_HISTORY_POINTS}, got {m}")));
        }
        let id = run.id;
        // The run's summary says how many points the series has: reserve for the
        // most this read can return before reading it.
        let stored = run.metrics.iter().find(|m| m.key == key).map_or(0, |m| m.count.max(0) as u64);
        let most = match max_points {
            Some(m) => stored.min(m as u64),
            None => stored.min(*left),
        };
        let held = self.budget.reserve(most as usize * BYTES_PER_POINT)?;
        let (series, total) = match max_points {
            Some(m) => self.store.metric_overview(id, key, range, m).await?,
            None => {
                let all = self.store.metric_history(id, key, range, *left).await.map_err(|e| match e {
                    StoreError::TooManyPoints { .. } => ApiError::new(
                        ErrorCode::TooManyPoints,
                        format!(
                            "{key} of run {} holds more than {left} points in this range, more than one answer returns \
                             unsampled (at most {} points per request): pass max_points (2 to {MAX_HISTORY_POINTS}) for \
                             a downsampled overview, or page the series with min_step and max_step",
                            run.short_id, self.limits.answer_points
                        ),
                    ),
                    e => e.into(),
                })?;
                let n = all.len() as u64;
                (all, n)
            }
        };
        let downsampled = max_points.is_some_and(|m| total > m as u64);
        let series = match max_points {
            Some(m) if series.len() > m => {
                let xs: Vec<f64> = series.steps.iter().map(|&s| s as f64).collect();
                let idx = cairn_stats::lttb_indices(&xs, &series.values, m);
                MetricSeries {
                    steps: idx.iter().map(|&i| series.steps[i]).collect(),
                    values: idx.iter().map(|&i| series.values[i]).collect(),
                    timestamps: idx.iter().map(|&i| series.timestamps[i]).collect(),
                }
            }
            _ => series,
        };
        *left = left.saturating_sub(series.len() as u64);
        Ok((History { run: id, key: key.to_owned(), downsampled, total, series }, held))
    }

    /// Several runs × several keys at once (chart overlays), at most the answer
    /// limit of points in all.
    pub async fn multi_history(
        &self,
        runs: &[String],
        keys: &[String],
        range: StepRange,
        max_points: Option<usize>,
    ) -> Result<(Vec<History>, Vec<Reservation>)> {
        if let Some(m) = max_points
            && !(2..=MAX_HISTORY_POINTS).contains(&m)
        {
            return Err(ApiError::invalid(format!("max_points must be between 2 and {MAX_HISTORY_POINTS}, got {m}")));
        }
        let series = runs.len() * keys.len();
        if series > 1000 {
            return Err(ApiError::new(ErrorCode::TooManySeries, "at most 1000 run × key series per request"));
        }
        let most = self.limits.answer_points;
        if let Some(m) = max_points
            && (series as u64).saturating_mul(m as u64) > most
        {
            return Err(ApiError::new(
                ErrorCode::TooManyPoints,
                format!(
                    "{series} series of up to {m} points each could hold more than {most} points, the most one \
                     answer returns: ask for max_points of at most {} or for fewer series",
                    (most / series.max(1) as u64).max(2)
                ),
            ));
        }
        let mut left = most;
        let mut out = Vec::new();
        let mut held = Vec::new();
        for run in runs {
            let r = self.resolve(run).await?;
            for key in keys {
                let (h, r) = self.history_of(&r, key, range, max_points, &mut left).await?;
                out.push(h);
                held.push(r);
            }
        }
        Ok((out, held))
    }

    pub async fn put_artifact<S, E>(&self, run: &str, path: &str, body: S) -> Result<ArtifactInfo>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let path = ArtifactPath::parse(path)?;
        let r = self.resolve_for(run, Role::Editor).await?;
        if r.deleted_at.is_some() {
            return Err(StoreError::RunDeleted(r.id.to_string()).into());
        }
        let stored = self.artifacts.put_stream(r.id, &path, body).await?;
        let info = ArtifactInfo { path, size: stored.size, blake3: stored.blake3, created_at: now_ms() };
        self.store.record_artifact(r.id, &info).await?;
        self.notify(r.id);
        Ok(info)
    }

    /// Starts a multipart upload to `path` of `run` (MLflow's `mpu/create`).
    pub async fn start_artifact_upload(
        &self,
        run: &str,
        path: &str,
        parts: u32,
    ) -> Result<cairn_artifacts::MultipartStart> {
        let path = ArtifactPath::parse(path)?;
        let r = self.resolve_for(run, Role::Editor).await?;
        if r.deleted_at.is_some() {
            return Err(StoreError::RunDeleted(r.id.to_string()).into());
        }
        Ok(self.artifacts.start_multipart(r.id, &path, parts).await?)
    }

    /// Keeps one part of an upload the server keeps. The upload's id, which only the
    /// editor who started it was given, is what allows it (as a signed URL would).
    pub async fn put_upload_part<S, E>(&self, upload_id: &str, part: u32, body: S) -> Result<String>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        Ok(self.artifacts.put_part(upload_id, part, body).await?)
    }

    /// Joins an upload's parts into the artifact and records it.
    pub async fn complete_artifact_upload(
        &self,
        run: &str,
        path: &str,
        upload_id: &str,
        parts: Vec<cairn_artifacts::Part>,
    ) -> Result<ArtifactInfo> {
        let path = ArtifactPath::parse(path)?;
        let r = self.resolve_for(run, Role::Editor).await?;
        if r.deleted_at.is_some() {
            return Err(StoreError::RunDeleted(r.id.to_string()).into());
        }
        let stored = self.artifacts.complete_multipart(r.id, &path, upload_id, parts).await?;
        let info = ArtifactInfo { path, size: stored.size, blake3: stored.blake3, created_at: now_ms() };
        self.store.record_artifact(r.id, &info).await?;
        self.notify(r.id);
        Ok(info)
    }

    pub async fn abort_artifact_upload(&self, run: &str, path: &str, upload_id: &str) -> Result<()> {
        let path = ArtifactPath::parse(path)?;
        let r = self.resolve_for(run, Role::Editor).await?;
        Ok(self.artifacts.abort_multipart(r.id, &path, upload_id).await?)
    }

    pub async fn get_artifact(
        &self,
        run: &str,
        path: &str,
    ) -> Result<(ArtifactInfo, BoxStream<'static, Result<Bytes, cairn_artifacts::ArtifactError>>)> {
        let path = ArtifactPath::parse(path)?;
        let r = self.resolve(run).await?;
        let info = self.store.get_artifact(r.id, &path).await?;
        let (_, stream) = self.artifacts.get_stream(r.id, &path).await?;
        Ok((info, stream))
    }

    /// Bytes `start..end` of an artifact (the caller checks the range against its size).
    pub async fn get_artifact_range(
        &self,
        run: RunId,
        path: &ArtifactPath,
        start: u64,
        end: u64,
    ) -> Result<BoxStream<'static, Result<Bytes, cairn_artifacts::ArtifactError>>> {
        Ok(self.artifacts.get_range_stream(run, path, start, end).await?)
    }

    pub async fn list_artifacts(&self, run: &str, prefix: &str) -> Result<Vec<ArtifactInfo>> {
        let r = self.resolve(run).await?;
        Ok(self.store.list_artifacts(r.id, prefix).await?)
    }
}

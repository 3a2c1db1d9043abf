//! The seam between Cairn and where its record lives. [`MetadataStore`] is the one
//! trait every metadata backend implements (SQLite embedded, PostgreSQL for teams);
//! [`StoreError`] is the one error type they return. The `testsuite` feature exposes
//! the behaviour suite that each backend runs against itself, so both behave alike.
//!
//! Backends are storage only: validation, defaults and id generation happen in the
//! service layer above, which hands the store fully formed records.

#[cfg(feature = "testsuite")]
pub mod testsuite;

use async_trait::async_trait;
use cairn_domain::auth::{
    AuditEntry, AuditQuery, Member, PrincipalKind, Role, Team, Token, TokenRecord, User, UserRecord, UserUpdate,
};
use cairn_domain::runner::{Agent, Job, JobEvent, JobState};
use cairn_domain::{
    ArtifactInfo, ArtifactPath, LoggedModel, MetricKey, MetricSeries, MetricSummary, Millis, ModelVersion,
    ModelVersionPatch, NewModelVersion, NewProject, NewRegisteredModel, Project, ProjectName, ProjectPatch,
    RegisteredModel, RegisteredModelPatch, Run, RunId, RunRef, RunStatus,
};
use cairn_query::{Expr, OrderKey};
use std::collections::BTreeMap;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What can go wrong in a store. Messages are for people; variants are for code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} not found: {name}")]
    NotFound { what: &'static str, name: String },
    #[error("{0}")]
    AlreadyExists(String),
    #[error("run {0} is deleted; its record is kept but it takes no more data")]
    RunDeleted(String),
    #[error("{0}")]
    Invalid(String),
    /// The database cannot be reached right now; the request may succeed later.
    #[error("the metadata store is unavailable: {0}")]
    Unavailable(String),
    /// The store was written by a newer Cairn.
    #[error(
        "this store has schema version {found}, but this cairn understands up to {supported}; \
         upgrade cairn (the store was written by a newer version and is left untouched)"
    )]
    TooNew { found: i64, supported: i64 },
    /// The file or database is not a Cairn store.
    #[error("{0}")]
    NotACairnStore(String),
    /// A `batch_id` seen before arrived with different points.
    #[error(
        "batch_id '{0}' was already used for a batch with different points; nothing was stored: \
         use a new batch_id for new points (retry only the exact same batch with the same id)"
    )]
    BatchConflict(String),
    /// The statement ran past the store's statement timeout and was cancelled.
    #[error("the query ran longer than the {0} s statement timeout and was cancelled: narrow the filter or page it")]
    Timeout(u64),
    /// A raw read would return more points than one answer may hold.
    #[error(
        "this read holds more than {limit} points, the most one answer returns unsampled: pass max_points \
         (2 to 100000) to get a downsampled overview, or page the series with min_step and max_step"
    )]
    TooManyPoints { limit: u64 },
    #[error("store error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn not_found(what: &'static str, name: impl std::fmt::Display) -> Self {
        StoreError::NotFound { what, name: name.to_string() }
    }
}

/// A fully formed new run, ready to insert: ids generated, parents resolved.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub run: Run,
}

/// A run written by [`MetadataStore::create_runs`], with the metric points it starts
/// with (a bulk import's final values, say).
#[derive(Debug, Clone)]
pub struct BulkRun {
    pub run: Run,
    pub metrics: Vec<(MetricKey, MetricSeries)>,
}

/// Updates the service layer has already validated and resolved.
#[derive(Debug, Clone, Default)]
pub struct RunUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub hypothesis: Option<String>,
    pub expected: Option<cairn_domain::ExpectedOutcome>,
    pub verdict: Option<cairn_domain::Verdict>,
    pub status: Option<RunStatus>,
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    pub exit_code: Option<i32>,
    pub set_tags: BTreeMap<String, String>,
    pub remove_tags: Vec<String>,
    /// Replaces the whole config (the service merged it).
    pub config: Option<cairn_domain::Config>,
    pub code: Option<cairn_domain::CodeInfo>,
    pub data: Option<cairn_domain::DataInfo>,
    pub environment: Option<serde_json::Value>,
    pub seeds: Option<Vec<i64>>,
    pub group_id: Option<String>,
    pub fingerprint: Option<String>,
    pub command: Option<Vec<String>>,
    pub changes: Option<cairn_domain::RunChanges>,
    /// Replaces the whole map (the service merged it).
    pub config_sources: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone)]
pub struct RunQuery {
    pub project: Option<ProjectName>,
    pub filter: Option<Expr>,
    /// Empty means newest first.
    pub order: Vec<OrderKey>,
    pub limit: u32,
    pub offset: u64,
    pub include_deleted: bool,
    /// Only runs created at or before this time: pages after the first keep the first
    /// page's view, so runs created meanwhile do not shift them.
    pub created_at_most: Option<Millis>,
    /// Runs of these projects (ids) are left out: private projects the caller is not a
    /// member of.
    pub hidden_projects: Vec<i64>,
}

/// A page of projects, registered models or model versions (MLflow's experiment and
/// model searches).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// All must hold.
    pub conds: Vec<cairn_query::listing::ListCond>,
    pub order: Vec<cairn_query::listing::ListOrder>,
    /// Projects: `Some(false)` live only, `Some(true)` deleted only, `None` both.
    pub deleted: Option<bool>,
    /// Projects left out: private ones the caller is not a member of.
    pub hidden: Vec<i64>,
    /// Only entries created at or before this time: later pages keep the first's view.
    pub created_at_most: Option<Millis>,
    pub limit: u32,
    pub offset: u64,
}

impl Default for RunQuery {
    fn default() -> Self {
        RunQuery {
            project: None,
            filter: None,
            order: Vec::new(),
            limit: 100,
            offset: 0,
            include_deleted: false,
            created_at_most: None,
            hidden_projects: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunPage {
    pub runs: Vec<Run>,
    /// Offset of the next page, when there is one.
    pub next_offset: Option<u64>,
}

/// How many runs a query matches ([`MetadataStore::estimate_runs`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCount {
    pub n: u64,
    /// `n` is estimated from a sample of the runs, not counted.
    pub estimated: bool,
}

/// Runs spread over the whole of a query's result ([`MetadataStore::sample_runs`]).
#[derive(Debug, Clone)]
pub struct RunSample {
    pub runs: Vec<Run>,
    /// How many runs the query matches.
    pub total: RunCount,
    pub method: SampleMethod,
}

/// How a [`RunSample`] was drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleMethod {
    /// Every matching run (no more than asked for).
    All,
    /// Every k-th run in the query's order, from the first.
    EveryKth(u64),
    /// The matching runs among about `read` of the store's runs, read in whole stretches
    /// of consecutive rows (or pages) spread over the store; in no particular order.
    Scattered { read: u64 },
}

/// Which part of a series to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepRange {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl StepRange {
    pub fn contains(&self, step: i64) -> bool {
        self.min.is_none_or(|m| step >= m) && self.max.is_none_or(|m| step <= m)
    }
}

pub use cairn_domain::views::{ProjectKeys, ProjectSummary, Refusal, RunBrief};

/// A change to a job, applied only when the job is in one of the expected states
/// (a compare-and-set: of two replicas or agents racing, one wins).
pub struct JobChange<'a> {
    /// Edits the job's record (state, agent, GPUs, times, counters).
    pub edit: &'a (dyn Fn(&mut Job) + Send + Sync),
    pub span: SpanOp,
    /// Recorded with the change, in the same transaction.
    pub event: Option<JobEvent>,
}

/// What a change does to the job's usage spans.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum SpanOp {
    #[default]
    None,
    /// The job started on its agent (attempt = its attempts after the edit).
    Open { at: Millis },
    /// The job let go of its resources.
    Close { at: Millis, outcome: String },
}

/// A stretch of time a job held resources.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    pub job: Job,
    pub agent: String,
    pub attempt: u32,
    pub started_at: Millis,
    pub ended_at: Option<Millis>,
    pub outcome: Option<String>,
}

/// A project's runs grouped by the value of one config key, computed in the store
/// ([`MetadataStore::param_values`]). Lists inside a group are bounded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamValues {
    /// Distinct values (the "not set" group included) among the project's live runs.
    pub values_total: u64,
    /// Whether any live run has the key.
    pub key_seen: bool,
    /// The groups with the most runs, at most the number asked for, most runs first.
    pub groups: Vec<ParamGroup>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamGroup {
    /// The value as text (numbers as JSON writes them); `None` for runs without the key.
    pub value: Option<String>,
    pub runs: u64,
    pub finished: u64,
    /// Failed, killed or crashed.
    pub failed: u64,
    pub first: Millis,
    pub last: Millis,
    /// Owners, at most [`GROUP_LIST_LIMIT`].
    pub owners: Vec<String>,
    /// Finished runs with a finite value of the metric, their mean and sample sd.
    pub n: u64,
    pub mean: Option<f64>,
    pub sd: Option<f64>,
    /// The lowest and highest value with their run's short id.
    pub min: Option<(f64, String)>,
    pub max: Option<(f64, String)>,
    /// Replicate groups of two or more runs with this value, and the runs in them.
    pub replicate_groups: u64,
    pub replicated_runs: u64,
    /// The newest failures (short id, status, exit code, `cairn.failure` tag), at most
    /// [`GROUP_LIST_LIMIT`].
    pub failures: Vec<(String, RunStatus, Option<i32>, Option<String>)>,
    /// Short ids of the newest runs, at most [`GROUP_LIST_LIMIT`].
    pub newest: Vec<String>,
}

/// The longest list a [`ParamGroup`] carries.
pub const GROUP_LIST_LIMIT: usize = 20;

/// Finished runs with a finite value of a metric, sampled in the store
/// ([`MetadataStore::metric_sample`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricSample {
    /// How many runs qualify; the sample holds all of them when this is at most the limit.
    pub total: u64,
    /// (short id, value, config): every k-th run in the order of the metric's value,
    /// so each stretch of the metric's range is represented in proportion; past
    /// 100,000 qualifying runs, the first at each of evenly spaced moments of their
    /// span (stratified by creation time), which costs index seeks instead of a sort.
    pub runs: Vec<(String, f64, cairn_domain::Config)>,
}

/// Runs grouped by one field's value, with a numeric field summarised per group
/// ([`MetadataStore::group_stats`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupStats {
    /// Runs matching the filter.
    pub total: u64,
    /// How many groups there are; `groups` holds the largest [`GroupStats::MAX_GROUPS`].
    pub group_count: u64,
    /// Largest first (ties: by the value's text).
    pub groups: Vec<GroupStat>,
}

impl GroupStats {
    /// The most groups an answer lists (grouping a million runs by their id must not
    /// send a million groups).
    pub const MAX_GROUPS: u32 = 10_000;
}

/// One group: its value (null for runs without one), its runs, and the finite values of
/// the summarised field among them.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStat {
    pub value: serde_json::Value,
    pub count: u64,
    /// Runs with a finite value.
    pub n: u64,
    pub mean: Option<f64>,
    /// Sample standard deviation (n − 1); none below two values.
    pub sd: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// The seam for metadata backends. Object safe; held as `Arc<dyn MetadataStore>`.
#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;

    /// Cheap round trip, for health checks.
    async fn ping(&self) -> Result<()>;

    async fn create_project(&self, project: &NewProject, now: Millis) -> Result<Project>;
    async fn get_project(&self, name: &ProjectName) -> Result<Project>;
    async fn list_projects(&self) -> Result<Vec<Project>>;
    /// A page of projects: the conditions, order (ties by id) and page in one query.
    async fn search_projects(&self, query: &ListQuery) -> Result<Vec<Project>>;
    async fn get_project_by_id(&self, id: i64) -> Result<Project>;
    /// Applies a patch (rename, settings, tags, delete/restore); `now` stamps `updated_at`.
    async fn update_project(&self, name: &ProjectName, patch: &ProjectPatch, now: Millis) -> Result<Project>;

    /// Inserts a run. `AlreadyExists` when the id or short id is taken (the caller
    /// retries with a fresh short id); `NotFound` for an unknown project or parent.
    async fn create_run(&self, record: &RunRecord) -> Result<Run>;
    /// Inserts runs and their first metric points in one transaction: all or none.
    /// `AlreadyExists` when an id or short id is taken (the caller draws short ids
    /// again, or drops the runs the store has); `NotFound` for an unknown project or parent.
    async fn create_runs(&self, runs: &[BulkRun]) -> Result<()>;
    /// Finds a run, deleted or not.
    async fn get_run(&self, run: &RunRef) -> Result<Run>;
    /// The runs among `ids` the store has, deleted or not, in no particular order.
    async fn get_runs(&self, ids: &[RunId]) -> Result<Vec<Run>>;
    /// The artifacts of each of `runs` that has any.
    async fn artifacts_of(&self, runs: &[RunId]) -> Result<std::collections::HashMap<RunId, Vec<ArtifactInfo>>>;
    async fn update_run(&self, id: RunId, update: &RunUpdate, now: Millis) -> Result<Run>;
    /// Soft delete: the run disappears from search, stays readable by id.
    async fn delete_run(&self, id: RunId, now: Millis) -> Result<()>;
    /// Undoes a soft delete; a live run is left as it is.
    async fn restore_run(&self, id: RunId, now: Millis) -> Result<()>;
    async fn search_runs(&self, query: &RunQuery) -> Result<RunPage>;
    /// How many runs the query's filter matches (its order, limit and offset aside).
    async fn count_runs(&self, query: &RunQuery) -> Result<u64>;
    /// How many runs the query matches: counted up to `exact_up_to`; past it, within a
    /// project, estimated from a random sample of the runs (marked as such), so that a
    /// million matches cost no more to report than thousands.
    async fn estimate_runs(&self, query: &RunQuery, exact_up_to: u64) -> Result<RunCount>;
    /// At most `n` of the runs the query matches, spread over the whole result instead of
    /// its first page: all of them, or every k-th in the query's order while the result
    /// holds at most `exact_up_to` runs; past that, the matches among a random sample of
    /// the runs (a query without a project gets its first `n`).
    async fn sample_runs(&self, query: &RunQuery, n: u32, exact_up_to: u64) -> Result<RunSample>;
    /// The project's live runs grouped by the value of config key `key`, the `limit`
    /// largest groups, with `metric` (finished runs, finite values) summarised per group.
    /// The metric's direction says which extreme is the best run; a store may leave the
    /// other (`min` or `max`) unset.
    async fn param_values(
        &self,
        project: &ProjectName,
        key: &str,
        metric: Option<(&str, cairn_domain::Direction)>,
        limit: u32,
    ) -> Result<ParamValues>;
    /// At most `limit` of the project's finished live runs with a finite `metric`
    /// (matching `filter`), spread evenly over the metric's order.
    async fn metric_sample(
        &self,
        project: &ProjectName,
        metric: &str,
        filter: Option<&Expr>,
        limit: u32,
    ) -> Result<MetricSample>;
    /// The project's live runs matching `filter`, grouped by the value of `by`, with
    /// the finite values of `of` summarised in each group: aggregates in the store, one
    /// pass over the matching runs, whatever their number.
    async fn group_stats(
        &self,
        project: &ProjectName,
        filter: Option<&Expr>,
        by: &cairn_query::Field,
        of: &cairn_query::Field,
    ) -> Result<GroupStats>;
    /// The configs of the runs `ids` (those that exist), and nothing else of them.
    async fn run_configs(&self, ids: &[RunId]) -> Result<Vec<(RunId, cairn_domain::Config)>>;
    /// The keys the project's live runs use.
    async fn project_keys(&self, project: &ProjectName) -> Result<ProjectKeys>;
    /// Dashboard counts since `since`, and the progress of `metric` (all time).
    async fn project_summary(
        &self,
        project: &ProjectName,
        since: Millis,
        metric: Option<&str>,
    ) -> Result<ProjectSummary>;
    /// Records a refused duplicate.
    async fn record_refusal(&self, project: &ProjectName, refusal: &Refusal) -> Result<()>;
    /// The project's refusals, newest first, at most `limit`, and how many there are.
    async fn refusals(&self, project: &ProjectName, limit: u32) -> Result<(u64, Vec<Refusal>)>;
    async fn lineage(&self, id: RunId) -> Result<(Vec<RunBrief>, Vec<RunBrief>)>;
    /// A project's live runs created at or after `since`, newest first, read lightly for
    /// a period's report: each carries its id, short id, name, hypothesis, verdict,
    /// owner, status, creation time and group, `metric`'s summary and the tags named in
    /// `tags`; every other field is left empty.
    /// The work is the period's runs, not the project's.
    async fn runs_since(
        &self,
        project: &ProjectName,
        since: Millis,
        metric: Option<&str>,
        tags: &[&str],
    ) -> Result<Vec<Run>>;

    /// Appends points to several series of one run in one transaction; returns the
    /// number of points stored. Durable when it returns. Refuses deleted runs.
    ///
    /// With a `batch_id` the write happens at most once: a client that retries a batch
    /// whose acknowledgement it lost gets the first answer again, and no duplicates.
    /// The same id with different points (keys, steps or values) is refused with
    /// [`StoreError::BatchConflict`].
    async fn log_metrics(&self, run: RunId, batch: &[(MetricKey, MetricSeries)], batch_id: Option<&str>)
    -> Result<u64>;
    /// The run's process is alive: records `now` as its last heartbeat. A run marked
    /// `crashed` while its process was only unreachable becomes `running` again.
    /// Returns false (and changes nothing) for a run that is not running or crashed.
    async fn heartbeat(&self, run: RunId, now: Millis) -> Result<bool>;
    /// Marks `crashed` every running run whose last heartbeat is older than
    /// `stale_before` (runs that never sent one are left alone); its end time is its
    /// last heartbeat. Returns the runs marked.
    async fn mark_crashed(&self, stale_before: Millis, now: Millis) -> Result<Vec<RunId>>;
    async fn metric_summaries(&self, run: RunId) -> Result<Vec<MetricSummary>>;
    /// The points of one series within `range`, ordered by step (ties in logging order).
    /// Reads at most `limit` points: a range holding more is refused with
    /// [`StoreError::TooManyPoints`] before more than that is held in memory.
    async fn metric_history(&self, run: RunId, key: &str, range: StepRange, limit: u64) -> Result<MetricSeries>;

    /// Points for a chart of at most `max_points` points, and the number of points in
    /// `range`. For long series the answer is a subset of the points, in step order,
    /// that keeps every small bucket's smallest and largest value (so no spike is lost);
    /// the caller reduces it further. Short series come back whole.
    async fn metric_overview(
        &self,
        run: RunId,
        key: &str,
        range: StepRange,
        max_points: usize,
    ) -> Result<(MetricSeries, u64)>;

    /// Records (or replaces) an artifact's metadata after its bytes are stored.
    async fn record_artifact(&self, run: RunId, info: &ArtifactInfo) -> Result<()>;
    async fn get_artifact(&self, run: RunId, path: &ArtifactPath) -> Result<ArtifactInfo>;
    async fn list_artifacts(&self, run: RunId, prefix: &str) -> Result<Vec<ArtifactInfo>>;
    /// Forgets the artifact at `path` and everything under `path/`; returns what was
    /// forgotten (the caller removes the bytes). Refuses deleted runs.
    async fn delete_artifacts(&self, run: RunId, path: &str) -> Result<Vec<ArtifactInfo>>;

    // The model registry. Names are unique; version numbers count up per model and
    // are never reused.
    async fn create_registered_model(&self, model: &NewRegisteredModel, now: Millis) -> Result<RegisteredModel>;
    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel>;
    /// Every registered model, by name.
    async fn list_registered_models(&self) -> Result<Vec<RegisteredModel>>;
    /// A page of registered models: the conditions, order (ties by name) and page in
    /// one query.
    async fn search_registered_models(&self, query: &ListQuery) -> Result<Vec<RegisteredModel>>;
    /// A page of model versions (of every model): conditions, order (ties by model
    /// name, then newest version) and page in one query.
    async fn search_model_versions(&self, query: &ListQuery) -> Result<Vec<ModelVersion>>;
    /// Every version of these models, in one read.
    async fn versions_of_models(&self, models: &[String]) -> Result<Vec<ModelVersion>>;
    /// Rename, description, tags and aliases (an alias must name an existing version).
    async fn update_registered_model(
        &self,
        name: &str,
        patch: &RegisteredModelPatch,
        now: Millis,
    ) -> Result<RegisteredModel>;
    /// Deletes the model and all its versions.
    async fn delete_registered_model(&self, name: &str) -> Result<()>;
    async fn create_model_version(&self, model: &str, version: &NewModelVersion, now: Millis) -> Result<ModelVersion>;
    async fn get_model_version(&self, model: &str, version: i64) -> Result<ModelVersion>;
    /// One model's versions (by version), or every model's (by model, then version).
    async fn list_model_versions(&self, model: Option<&str>) -> Result<Vec<ModelVersion>>;
    async fn update_model_version(
        &self,
        model: &str,
        version: i64,
        patch: &ModelVersionPatch,
        now: Millis,
    ) -> Result<ModelVersion>;
    /// Deletes a version; aliases pointing at it are removed.
    async fn delete_model_version(&self, model: &str, version: i64, now: Millis) -> Result<()>;

    // Models logged by runs (MLflow 3's logged models).
    async fn create_logged_model(&self, model: &LoggedModel) -> Result<LoggedModel>;
    async fn get_logged_model(&self, id: &str) -> Result<LoggedModel>;
    /// The logged models of these projects, newest first.
    async fn list_logged_models(&self, project_ids: &[i64]) -> Result<Vec<LoggedModel>>;
    /// Replaces the stored record with `model` (same id).
    async fn update_logged_model(&self, model: &LoggedModel) -> Result<LoggedModel>;
    async fn delete_logged_model(&self, id: &str) -> Result<()>;

    // Identity and access (schema v8). Names are unique; tokens are stored as hashes.
    async fn create_user(&self, user: &UserRecord) -> Result<User>;
    async fn get_user(&self, name: &str) -> Result<UserRecord>;
    async fn get_user_by_id(&self, id: i64) -> Result<UserRecord>;
    async fn user_by_oidc(&self, issuer: &str, subject: &str) -> Result<UserRecord>;
    async fn list_users(&self) -> Result<Vec<User>>;
    async fn update_user(&self, name: &str, update: &UserUpdate) -> Result<User>;
    /// How many users there are (0: nobody can sign in yet).
    async fn count_users(&self) -> Result<u64>;

    async fn create_token(&self, token: &TokenRecord) -> Result<Token>;
    /// The token with this hash and its user, whatever its state (the caller checks
    /// expiry, revocation and whether the user is disabled).
    async fn token_by_hash(&self, hash: &str) -> Result<(Token, UserRecord)>;
    async fn list_tokens(&self, user_id: i64) -> Result<Vec<Token>>;
    async fn get_token(&self, id: i64) -> Result<Token>;
    async fn revoke_token(&self, id: i64, now: Millis) -> Result<Token>;
    async fn touch_token(&self, id: i64, now: Millis) -> Result<()>;

    async fn create_team(&self, name: &str, description: &str, now: Millis) -> Result<Team>;
    async fn get_team(&self, name: &str) -> Result<Team>;
    async fn list_teams(&self) -> Result<Vec<Team>>;
    async fn delete_team(&self, name: &str) -> Result<()>;
    /// Sets (`Some`) or removes (`None`) a user's role in a team.
    async fn set_team_member(&self, team: &str, user: &str, role: Option<Role>) -> Result<Team>;

    /// The users and teams with a role on the project.
    async fn project_members(&self, project_id: i64) -> Result<Vec<Member>>;
    /// Sets (`Some`) or removes (`None`) a user's or team's role on a project.
    async fn set_project_member(
        &self,
        project_id: i64,
        kind: PrincipalKind,
        name: &str,
        role: Option<Role>,
    ) -> Result<Vec<Member>>;
    /// The user's role on each project where they have one, directly or through a
    /// team (the higher of the two): project id → role.
    async fn memberships(&self, user_id: i64) -> Result<BTreeMap<i64, Role>>;
    /// Ids of the private projects.
    async fn private_projects(&self) -> Result<Vec<i64>>;

    // The runner (schema v11). A job is a run with a resource request; its record
    // lives beside the run's, keyed by the run id.
    /// Records the job of a run just created (state `queued`) and its `submitted` event.
    async fn create_job(&self, job: &Job, now: Millis) -> Result<()>;
    async fn get_job(&self, run: RunId) -> Result<Job>;
    /// Jobs in these states (all when empty), oldest submission first, at most `limit`.
    async fn list_jobs(&self, states: &[JobState], limit: u32) -> Result<Vec<Job>>;
    /// Applies `change` when the job is in one of `expect`'s states; `None` (and nothing
    /// changed) otherwise.
    async fn update_job(
        &self,
        run: RunId,
        expect: &[JobState],
        change: &JobChange<'_>,
        now: Millis,
    ) -> Result<Option<Job>>;
    async fn add_job_event(&self, run: RunId, event: &JobEvent) -> Result<()>;
    /// The job's events, oldest first (the last `limit`).
    async fn job_events(&self, run: RunId, limit: u32) -> Result<Vec<JobEvent>>;
    /// Spans that were open at or after `since` (still open ones included); with
    /// `budgeted_only`, only those of jobs that draw from a named budget.
    async fn job_spans(&self, since: Millis, budgeted_only: bool) -> Result<Vec<SpanRecord>>;

    /// Registers an agent, or replaces the record of the agent of the same name.
    async fn register_agent(&self, agent: &Agent) -> Result<Agent>;
    /// Records a heartbeat (and state, utilisation); false for an unknown agent.
    async fn agent_heartbeat(&self, id: &str, state: &str, gpu_utilisation: Option<f64>, now: Millis) -> Result<bool>;
    async fn set_agent_state(&self, id: &str, state: &str) -> Result<()>;
    async fn list_agents(&self) -> Result<Vec<Agent>>;

    /// Takes or renews the lease `name` for `holder` until `now + ttl_ms`; false when
    /// another holder's lease has not expired.
    async fn take_lease(&self, name: &str, holder: &str, now: Millis, ttl_ms: i64) -> Result<bool>;
    async fn get_setting(&self, key: &str) -> Result<Option<String>>;
    async fn put_setting(&self, key: &str, value: &str, now: Millis) -> Result<()>;

    /// Stores a piece of a run's output at its byte offset (a piece already stored at
    /// that offset is kept); returns the end of the stored output.
    async fn append_log(&self, run: RunId, offset: u64, text: &str) -> Result<u64>;
    /// The stored output from `offset` (at most about `max_bytes`), where that piece
    /// ends, and where all the stored output ends.
    async fn read_log(&self, run: RunId, offset: u64, max_bytes: u64) -> Result<(String, u64, u64)>;

    /// Appends to the audit log (never changed or removed afterwards).
    async fn append_audit(&self, entry: &AuditEntry) -> Result<()>;
    /// Audit entries matching the query, newest first.
    async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>>;
}

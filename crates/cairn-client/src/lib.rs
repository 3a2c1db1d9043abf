//! A typed client for Cairn's REST API. Every CLI command and every benchmark talks to
//! a server through it; request and answer types are `cairn-api`'s and
//! `cairn-domain`'s, the same ones the server uses, so both sides agree by
//! construction.
//!
//! Retries follow the Python SDK's rules: a connection that could not be made, or an
//! answer of 429, 500, 502, 503 or 504, is retried after 0.5, 1, 2 and 4 seconds; a
//! failure after the request was sent is retried only when the request is idempotent
//! (GET, PUT, PATCH, DELETE, or a write that carries its own batch id).

mod error;

pub use error::{Error, Result};

use cairn_api::auth::{
    AuditList, AuthConfig, CodeExchange, CreateToken, IssuedToken, LoginRequest, NewTeam, ProjectAccess, SetRole,
    TeamList, TokenList, UserList, WhoAmI,
};
use cairn_api::baseline::{BaselineState, Reeval, ReevalRequest, SetBaseline};
use cairn_api::import::{ImportModel, ImportProject, ImportRun, ImportedModel, ImportedProject, ImportedRun};
use cairn_api::jobs::{
    Agent, AgentList, AgentPoll, AgentRegistration, AgentWork, Job, JobReport, JobWhy, JobsAnswer, JobsRequest,
    LogAppend, LogChunk, QueueAnswer, QueueQuery, RunnerSettings, SubmitRequest, UsageAnswer, UsageQuery,
};
use cairn_api::reports::{
    CompareQuery, CompareReport, Groups, GroupsRequest, InsightsQuery, InsightsReport, Refusals, RefusalsQuery, Review,
    ReviewQuery, StudiesQuery, StudyList, StudyReport, Summary, SummaryQuery, Tried, TriedQuery,
};
use cairn_api::runs::{
    Accepted, ArtifactList, ArtifactQuery, ArtifactsDeleted, FinishRequest, History, HistoryQuery, Lineage, MetricList,
    MetricsBatch, ModelList, MultiHistoryRequest, ProjectList, RunModels, SearchRequest, SearchResponse, VersionList,
};
use cairn_api::server::{Health, ServerInfo};
use cairn_domain::auth::{AuditEntry, AuditQuery, NewUser, PrincipalKind, Role, Team, Token, User, UserPatch};
use cairn_domain::study::Study;
use cairn_domain::views::ProjectKeys;
use cairn_domain::{
    ArtifactInfo, MetricSummary, ModelVersion, ModelVersionPatch, NewModelVersion, NewProject, NewRegisteredModel,
    NewRun, Project, ProjectPatch, RegisteredModel, RegisteredModelPatch, Run, RunPatch,
};
use futures::Stream;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::time::Duration;

/// Statuses worth retrying: the server did not (or could not) do the work.
const RETRYABLE: [u16; 5] = [429, 500, 502, 503, 504];

/// A request body.
enum Body<'a> {
    None,
    Json(Vec<u8>),
    /// A file streamed from disk (re-opened for each attempt).
    File(&'a Path),
}

/// One Cairn server. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    token: Option<String>,
    retry_delays: Vec<Duration>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Client").field("base", &self.base.as_str()).field("token", &self.token.is_some()).finish()
    }
}

impl Client {
    /// A client for the server at `base` (`http://host:port`, a path prefix allowed).
    pub fn new(base: &str) -> Result<Client> {
        let trimmed = base.trim().trim_end_matches('/');
        let with_scheme = if trimmed.contains("://") { trimmed.to_owned() } else { format!("http://{trimmed}") };
        let mut url =
            url::Url::parse(&with_scheme).map_err(|e| Error::BadUrl { url: base.to_owned(), why: e.to_string() })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::BadUrl { url: base.to_owned(), why: "use http://HOST:PORT or https://HOST".into() });
        }
        // Paths below are appended segment by segment to the base's own.
        if url.path() == "/" {
            url.set_path("");
        }
        let mut builder = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("cairn-rust/", env!("CARGO_PKG_VERSION")));
        if url.scheme() == "http" {
            // Plain HTTP needs no certificates; loading the system's costs milliseconds
            // that every command would pay.
            builder = builder.tls_certs_only(std::iter::empty());
        }
        let http = builder.build().map_err(|e| Error::BadUrl { url: base.to_owned(), why: e.to_string() })?;
        Ok(Client {
            http,
            base: url,
            token: None,
            retry_delays: [500, 1000, 2000, 4000].map(Duration::from_millis).to_vec(),
        })
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn with_token(mut self, token: Option<String>) -> Client {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// Pauses between attempts of a retried request (none: no retries).
    pub fn with_retry_delays(mut self, delays: Vec<Duration>) -> Client {
        self.retry_delays = delays;
        self
    }

    /// The server's address, as given.
    pub fn base(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The token this client sends, to hand on to a process acting for the same user
    /// (the command `cairn run` wraps, whose SDK records into the same run).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    fn url(&self, segments: &[&str]) -> url::Url {
        let mut u = self.base.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty();
            for s in segments {
                // A segment holding slashes (an artifact path, a metric key) keeps them
                // as separators; everything else in it is percent-encoded.
                p.extend(s.split('/'));
            }
        }
        u
    }

    async fn attempt(&self, method: &Method, url: &url::Url, body: &Body<'_>) -> Result<reqwest::Response> {
        let mut req = self.http.request(method.clone(), url.clone());
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req = match body {
            Body::None => req,
            Body::Json(b) => req.header(reqwest::header::CONTENT_TYPE, "application/json").body(b.clone()),
            Body::File(path) => {
                let f = tokio::fs::File::open(path)
                    .await
                    .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
                let len =
                    f.metadata().await.map_err(|source| Error::Io { path: path.display().to_string(), source })?.len();
                req.header(reqwest::header::CONTENT_LENGTH, len)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(f)))
            }
        };
        req.send().await.map_err(|source| Error::Unreachable {
            url: self.base().to_owned(),
            sent: !source.is_connect(),
            source,
        })
    }

    /// Sends a request with the retry rules; returns the successful response.
    async fn send(&self, method: Method, url: url::Url, body: Body<'_>, idempotent: bool) -> Result<reqwest::Response> {
        let mut delays = self.retry_delays.iter();
        loop {
            let failure = match self.attempt(&method, &url, &body).await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => self.failure(resp).await,
                Err(e) => e,
            };
            let retry = match &failure {
                Error::Unreachable { sent, .. } => !sent || idempotent,
                Error::Api { status, .. } => RETRYABLE.contains(status),
                _ => false,
            };
            match delays.next() {
                Some(d) if retry => tokio::time::sleep(*d).await,
                _ => return Err(failure),
            }
        }
    }

    /// The error an unsuccessful answer stands for.
    async fn failure(&self, resp: reqwest::Response) -> Error {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        match serde_json::from_str::<cairn_api::ErrorBody>(&text) {
            Ok(b) => Error::Api {
                status: status.as_u16(),
                code: b.error.code,
                message: b.error.message,
                position: b.error.position,
                details: b.error.details,
            },
            Err(_) => Error::NotTheApi {
                url: self.base().to_owned(),
                status: status.as_u16(),
                body: text.chars().take(200).collect(),
            },
        }
    }

    async fn decode<T: DeserializeOwned>(&self, resp: reqwest::Response) -> Result<T> {
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|source| Error::Unreachable {
            url: self.base().to_owned(),
            sent: true,
            source,
        })?;
        // 204 and empty bodies decode as JSON null (for `()` answers).
        let bytes: &[u8] = if status == StatusCode::NO_CONTENT || bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(bytes).map_err(|e| Error::NotTheApi {
            url: self.base().to_owned(),
            status: status.as_u16(),
            body: format!("{e}: {}", String::from_utf8_lossy(&bytes[..bytes.len().min(200)])),
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: Option<&(impl Serialize + ?Sized)>,
        body: Option<&(impl Serialize + ?Sized)>,
        idempotent: bool,
    ) -> Result<T> {
        let mut url = self.url(segments);
        if let Some(q) = query {
            let encoded = serde_urlencoded_query(q)?;
            if !encoded.is_empty() {
                url.set_query(Some(&encoded));
            }
        }
        let body = match body {
            Some(b) => Body::Json(serde_json::to_vec(b).map_err(|e| Error::Encode(e.to_string()))?),
            None => Body::None,
        };
        let resp = self.send(method, url, body, idempotent).await?;
        self.decode(resp).await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T> {
        self.json(Method::GET, segments, query, None::<&()>, true).await
    }

    async fn post<T: DeserializeOwned>(&self, segments: &[&str], body: &(impl Serialize + ?Sized)) -> Result<T> {
        self.json(Method::POST, segments, None::<&()>, Some(body), false).await
    }

    /// A POST that may be repeated safely (it carries its own batch id, or only reads).
    async fn post_idempotent<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &(impl Serialize + ?Sized),
    ) -> Result<T> {
        self.json(Method::POST, segments, None::<&()>, Some(body), true).await
    }

    async fn put<T: DeserializeOwned>(&self, segments: &[&str], body: &(impl Serialize + ?Sized)) -> Result<T> {
        self.json(Method::PUT, segments, None::<&()>, Some(body), true).await
    }

    async fn patch<T: DeserializeOwned>(&self, segments: &[&str], body: &(impl Serialize + ?Sized)) -> Result<T> {
        self.json(Method::PATCH, segments, None::<&()>, Some(body), true).await
    }

    async fn delete(&self, segments: &[&str]) -> Result<()> {
        let resp = self.send(Method::DELETE, self.url(segments), Body::None, true).await?;
        let _ = resp.bytes().await;
        Ok(())
    }

    /// Any request, with a JSON body as it is: for records kept while the server was
    /// unreachable (`cairn sync` replays them as they were written).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let mut url = self.base.clone();
        let (p, q) = path.split_once('?').unwrap_or((path, ""));
        url.set_path(&format!("{}{p}", self.base.path().trim_end_matches('/')));
        url.set_query((!q.is_empty()).then_some(q));
        let idempotent = method != Method::POST || body.is_some_and(|b| b.get("batch_id").is_some());
        let body = match body {
            Some(b) => Body::Json(serde_json::to_vec(b).map_err(|e| Error::Encode(e.to_string()))?),
            None => Body::None,
        };
        let resp = self.send(method, url, body, idempotent).await?;
        self.decode(resp).await
    }

    // ---- the server ---------------------------------------------------------------

    /// `GET /healthz`, once, without retries: whether a server answers here.
    pub async fn health(&self) -> Result<Health> {
        let resp = self
            .http
            .get(self.url(&["healthz"]))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .map_err(|source| Error::Unreachable { url: self.base().to_owned(), sent: false, source })?;
        if !resp.status().is_success() {
            return Err(self.failure(resp).await);
        }
        self.decode(resp).await
    }

    pub async fn server_info(&self) -> Result<ServerInfo> {
        self.get(&["api", "v1", "server"], None::<&()>).await
    }

    // ---- projects -----------------------------------------------------------------

    pub async fn projects(&self) -> Result<Vec<Project>> {
        Ok(self.get::<ProjectList>(&["api", "v1", "projects"], None::<&()>).await?.projects)
    }

    pub async fn project(&self, name: &str) -> Result<Project> {
        self.get(&["api", "v1", "projects", name], None::<&()>).await
    }

    pub async fn create_project(&self, new: &NewProject) -> Result<Project> {
        self.post(&["api", "v1", "projects"], new).await
    }

    pub async fn update_project(&self, name: &str, patch: &ProjectPatch) -> Result<Project> {
        self.patch(&["api", "v1", "projects", name], patch).await
    }

    pub async fn summary(&self, project: &str, q: &SummaryQuery) -> Result<Summary> {
        self.get(&["api", "v1", "projects", project, "summary"], Some(q)).await
    }

    pub async fn keys(&self, project: &str) -> Result<ProjectKeys> {
        self.get(&["api", "v1", "projects", project, "keys"], None::<&()>).await
    }

    pub async fn refusals(&self, project: &str, q: &RefusalsQuery) -> Result<Refusals> {
        self.get(&["api", "v1", "projects", project, "refusals"], Some(q)).await
    }

    pub async fn review(&self, project: &str, days: u32) -> Result<Review> {
        self.get(&["api", "v1", "projects", project, "review"], Some(&ReviewQuery { days, format: None })).await
    }

    /// The weekly review as the server renders it in Markdown.
    pub async fn review_markdown(&self, project: &str, days: u32) -> Result<String> {
        let mut url = self.url(&["api", "v1", "projects", project, "review"]);
        url.set_query(Some(&format!("days={days}&format=markdown")));
        let resp = self.send(Method::GET, url, Body::None, true).await?;
        resp.text().await.map_err(|source| Error::Unreachable { url: self.base().to_owned(), sent: true, source })
    }

    pub async fn insights(&self, project: &str, q: &InsightsQuery) -> Result<InsightsReport> {
        self.get(&["api", "v1", "projects", project, "insights"], Some(q)).await
    }

    pub async fn compare(&self, project: &str, q: &CompareQuery) -> Result<CompareReport> {
        self.get(&["api", "v1", "projects", project, "compare"], Some(q)).await
    }

    pub async fn tried(&self, project: &str, q: &TriedQuery) -> Result<Tried> {
        self.get(&["api", "v1", "projects", project, "tried"], Some(q)).await
    }

    pub async fn studies(&self, project: &str, q: &StudiesQuery) -> Result<Vec<StudyReport>> {
        Ok(self.get::<StudyList>(&["api", "v1", "projects", project, "studies"], Some(q)).await?.studies)
    }

    /// One study by name, with its report.
    pub async fn study(&self, project: &str, name: &str, q: &StudiesQuery) -> Result<StudyReport> {
        self.get(&["api", "v1", "projects", project, "studies", name], Some(q)).await
    }

    /// Keeps a study's plan (and the runs of each arm so far) with its project.
    pub async fn save_study(&self, project: &str, study: &Study) -> Result<Study> {
        self.put(&["api", "v1", "projects", project, "studies", &study.name], study).await
    }

    pub async fn baseline(&self, project: &str) -> Result<BaselineState> {
        self.get(&["api", "v1", "projects", project, "baseline"], None::<&()>).await
    }

    pub async fn set_baseline(&self, project: &str, set: &SetBaseline) -> Result<BaselineState> {
        self.put(&["api", "v1", "projects", project, "baseline"], set).await
    }

    pub async fn record_reeval(&self, project: &str, req: &ReevalRequest) -> Result<Reeval> {
        self.post(&["api", "v1", "projects", project, "baseline", "reevals"], req).await
    }

    // ---- runs ---------------------------------------------------------------------

    pub async fn create_run(&self, new: &NewRun) -> Result<Run> {
        self.post(&["api", "v1", "runs"], new).await
    }

    /// A run by id or short id.
    pub async fn run(&self, run: &str) -> Result<Run> {
        self.get(&["api", "v1", "runs", run], None::<&()>).await
    }

    pub async fn update_run(&self, run: &str, patch: &RunPatch) -> Result<Run> {
        self.patch(&["api", "v1", "runs", run], patch).await
    }

    pub async fn finish_run(&self, run: &str, finish: &FinishRequest) -> Result<Run> {
        // Finishing twice with the same status is harmless: safe to retry.
        self.post_idempotent(&["api", "v1", "runs", run, "finish"], finish).await
    }

    /// The run's process is alive; answers the run's status (`running`, or a
    /// terminal one when the run was ended elsewhere).
    pub async fn heartbeat(&self, run: &str) -> Result<serde_json::Value> {
        self.post_idempotent(&["api", "v1", "runs", run, "heartbeat"], &serde_json::json!({})).await
    }

    /// Records a run in the queue with its resource request (not retried once sent:
    /// a second submit would queue a second job).
    pub async fn submit(&self, req: &SubmitRequest) -> Result<Job> {
        self.post(&["api", "v1", "jobs"], req).await
    }

    pub async fn queue(&self, q: &QueueQuery) -> Result<QueueAnswer> {
        self.get(&["api", "v1", "queue"], Some(q)).await
    }

    pub async fn job(&self, run: &str) -> Result<Job> {
        self.get(&["api", "v1", "jobs", run], None::<&()>).await
    }

    pub async fn job_why(&self, run: &str) -> Result<JobWhy> {
        self.get(&["api", "v1", "jobs", run, "why"], None::<&()>).await
    }

    pub async fn cancel_jobs(&self, jobs: &[String]) -> Result<JobsAnswer> {
        self.post_idempotent(&["api", "v1", "jobs", "cancel"], &JobsRequest { jobs: jobs.to_vec() }).await
    }

    pub async fn requeue(&self, run: &str) -> Result<Job> {
        self.post(&["api", "v1", "jobs", run, "requeue"], &serde_json::json!({})).await
    }

    /// From an agent: the job's process started (safe to repeat).
    pub async fn job_started(&self, run: &str, report: &JobReport) -> Result<Job> {
        self.post_idempotent(&["api", "v1", "jobs", run, "started"], report).await
    }

    /// From an agent: the job's process ended (safe to repeat).
    pub async fn job_ended(&self, run: &str, report: &JobReport) -> Result<Job> {
        self.post_idempotent(&["api", "v1", "jobs", run, "ended"], report).await
    }

    /// Registers an agent (by name: registering again replaces its record).
    pub async fn register_agent(&self, reg: &AgentRegistration) -> Result<Agent> {
        self.post_idempotent(&["api", "v1", "agents"], reg).await
    }

    pub async fn agents(&self) -> Result<AgentList> {
        self.get(&["api", "v1", "agents"], None::<&()>).await
    }

    pub async fn agent_poll(&self, id: &str, poll: &AgentPoll) -> Result<AgentWork> {
        self.post_idempotent(&["api", "v1", "agents", id, "poll"], poll).await
    }

    pub async fn runner_settings(&self) -> Result<RunnerSettings> {
        self.get(&["api", "v1", "runner", "settings"], None::<&()>).await
    }

    pub async fn put_runner_settings(&self, s: &RunnerSettings) -> Result<RunnerSettings> {
        self.put(&["api", "v1", "runner", "settings"], s).await
    }

    pub async fn usage(&self, q: &UsageQuery) -> Result<UsageAnswer> {
        self.get(&["api", "v1", "usage"], Some(q)).await
    }

    /// Stores a piece of a run's output at its byte offset (a repeat is stored once).
    pub async fn append_log(&self, run: &str, offset: u64, text: &str) -> Result<serde_json::Value> {
        self.post_idempotent(&["api", "v1", "runs", run, "logs"], &LogAppend { offset, text: text.to_owned() }).await
    }

    pub async fn read_log(&self, run: &str, offset: u64) -> Result<LogChunk> {
        #[derive(Serialize)]
        struct At {
            offset: u64,
        }
        self.get(&["api", "v1", "runs", run, "logs"], Some(&At { offset })).await
    }

    pub async fn delete_run(&self, run: &str) -> Result<()> {
        self.delete(&["api", "v1", "runs", run]).await
    }

    /// One page of a search.
    pub async fn search(&self, q: &SearchRequest) -> Result<SearchResponse> {
        self.post_idempotent(&["api", "v1", "runs", "search"], q).await
    }

    /// Every run a search matches, page by page (at most `limit` runs in all).
    pub async fn search_all(&self, q: &SearchRequest, limit: usize) -> Result<Vec<Run>> {
        let mut q = q.clone();
        q.limit = Some(q.limit.unwrap_or(cairn_api::runs::MAX_PAGE));
        let mut all = Vec::new();
        loop {
            let page = self.search(&q).await?;
            let empty = page.runs.is_empty();
            all.extend(page.runs);
            match page.next_cursor {
                Some(c) if !empty && all.len() < limit => q.cursor = Some(c),
                _ => {
                    all.truncate(limit);
                    return Ok(all);
                }
            }
        }
    }

    pub async fn lineage(&self, run: &str) -> Result<Lineage> {
        self.get(&["api", "v1", "runs", run, "lineage"], None::<&()>).await
    }

    pub async fn groups(&self, req: &GroupsRequest) -> Result<Groups> {
        self.post_idempotent(&["api", "v1", "runs", "groups"], req).await
    }

    // ---- metrics ------------------------------------------------------------------

    /// Stores a batch of points. With a `batch_id` a retry cannot store it twice, so it
    /// is retried like any idempotent request.
    pub async fn log_metrics(&self, run: &str, batch: &MetricsBatch) -> Result<u64> {
        let segments = ["api", "v1", "runs", run, "metrics"];
        let body = Some(batch);
        let a: Accepted = self.json(Method::POST, &segments, None::<&()>, body, batch.batch_id.is_some()).await?;
        Ok(a.accepted)
    }

    pub async fn metric_summaries(&self, run: &str) -> Result<Vec<MetricSummary>> {
        Ok(self.get::<MetricList>(&["api", "v1", "runs", run, "metrics"], None::<&()>).await?.metrics)
    }

    pub async fn history(&self, run: &str, key: &str, q: &HistoryQuery) -> Result<History> {
        self.get(&["api", "v1", "runs", run, "metrics", key], Some(q)).await
    }

    pub async fn histories(&self, req: &MultiHistoryRequest) -> Result<Vec<History>> {
        #[derive(serde::Deserialize)]
        struct Answer {
            series: Vec<History>,
        }
        Ok(self.post_idempotent::<Answer>(&["api", "v1", "metrics", "history"], req).await?.series)
    }

    // ---- artifacts ----------------------------------------------------------------

    pub async fn artifacts(&self, run: &str, prefix: &str) -> Result<Vec<ArtifactInfo>> {
        let q = ArtifactQuery { prefix: prefix.to_owned() };
        Ok(self.get::<ArtifactList>(&["api", "v1", "runs", run, "artifacts"], Some(&q)).await?.artifacts)
    }

    /// Streams a file to `path` among the run's artifacts.
    pub async fn upload(&self, run: &str, path: &str, file: &Path) -> Result<ArtifactInfo> {
        let url = self.url(&["api", "v1", "runs", run, "artifacts", path]);
        let resp = self.send(Method::PUT, url, Body::File(file), true).await?;
        self.decode(resp).await
    }

    /// An artifact's bytes as a stream, and its size.
    pub async fn download(
        &self,
        run: &str,
        path: &str,
    ) -> Result<(u64, impl Stream<Item = reqwest::Result<bytes::Bytes>> + use<>)> {
        let url = self.url(&["api", "v1", "runs", run, "artifacts", path]);
        let resp = self.send(Method::GET, url, Body::None, true).await?;
        let size = resp.content_length().unwrap_or(0);
        Ok((size, resp.bytes_stream()))
    }

    /// An artifact read whole, when it is at most `max` bytes (`None` when larger).
    pub async fn read_artifact(&self, run: &str, path: &str, max: u64) -> Result<Option<Vec<u8>>> {
        use futures::TryStreamExt;
        let (size, stream) = self.download(run, path).await?;
        if size > max {
            return Ok(None);
        }
        let chunks: Vec<bytes::Bytes> = stream.try_collect().await.map_err(|source| Error::Unreachable {
            url: self.base().to_owned(),
            sent: true,
            source,
        })?;
        Ok(Some(chunks.concat()))
    }

    pub async fn delete_artifacts(&self, run: &str, path: &str) -> Result<Vec<ArtifactInfo>> {
        let url = self.url(&["api", "v1", "runs", run, "artifacts", path]);
        let resp = self.send(Method::DELETE, url, Body::None, true).await?;
        Ok(self.decode::<ArtifactsDeleted>(resp).await?.deleted)
    }

    // ---- model registry -----------------------------------------------------------

    pub async fn models(&self) -> Result<Vec<RegisteredModel>> {
        Ok(self.get::<ModelList>(&["api", "v1", "models"], None::<&()>).await?.models)
    }

    pub async fn model(&self, name: &str) -> Result<RegisteredModel> {
        self.get(&["api", "v1", "models", name], None::<&()>).await
    }

    pub async fn create_model(&self, new: &NewRegisteredModel) -> Result<RegisteredModel> {
        self.post(&["api", "v1", "models"], new).await
    }

    pub async fn update_model(&self, name: &str, patch: &RegisteredModelPatch) -> Result<RegisteredModel> {
        self.patch(&["api", "v1", "models", name], patch).await
    }

    pub async fn delete_model(&self, name: &str) -> Result<()> {
        self.delete(&["api", "v1", "models", name]).await
    }

    pub async fn model_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        Ok(self.get::<VersionList>(&["api", "v1", "models", name, "versions"], None::<&()>).await?.versions)
    }

    pub async fn create_model_version(&self, name: &str, new: &NewModelVersion) -> Result<ModelVersion> {
        self.post(&["api", "v1", "models", name, "versions"], new).await
    }

    pub async fn model_version(&self, name: &str, version: i64) -> Result<ModelVersion> {
        self.get(&["api", "v1", "models", name, "versions", &version.to_string()], None::<&()>).await
    }

    pub async fn update_model_version(
        &self,
        name: &str,
        version: i64,
        patch: &ModelVersionPatch,
    ) -> Result<ModelVersion> {
        self.patch(&["api", "v1", "models", name, "versions", &version.to_string()], patch).await
    }

    pub async fn delete_model_version(&self, name: &str, version: i64) -> Result<()> {
        self.delete(&["api", "v1", "models", name, "versions", &version.to_string()]).await
    }

    pub async fn run_models(&self, run: &str) -> Result<RunModels> {
        self.get(&["api", "v1", "runs", run, "models"], None::<&()>).await
    }

    // ---- identity and access ------------------------------------------------------

    /// How the server signs people in (public).
    pub async fn auth_config(&self) -> Result<AuthConfig> {
        self.get(&["api", "v1", "auth", "config"], None::<&()>).await
    }

    /// A local account's name and password for a token.
    pub async fn login(&self, req: &LoginRequest) -> Result<IssuedToken> {
        // Not retried: failed attempts count towards the rate limit.
        self.json(Method::POST, &["api", "v1", "auth", "login"], None::<&()>, Some(req), false).await
    }

    /// Exchanges the one-time code an OpenID Connect sign-in handed over for a token.
    pub async fn exchange_code(&self, code: &str) -> Result<IssuedToken> {
        let body = CodeExchange { code: code.to_owned() };
        self.json(Method::POST, &["api", "v1", "auth", "oidc", "exchange"], None::<&()>, Some(&body), false).await
    }

    /// Revokes the token this client signs in with.
    pub async fn logout(&self) -> Result<()> {
        let resp = self.send(Method::POST, self.url(&["api", "v1", "auth", "logout"]), Body::None, true).await?;
        let _ = resp.bytes().await;
        Ok(())
    }

    pub async fn whoami(&self) -> Result<WhoAmI> {
        self.get(&["api", "v1", "auth", "whoami"], None::<&()>).await
    }

    pub async fn create_token(&self, req: &CreateToken) -> Result<IssuedToken> {
        self.post(&["api", "v1", "tokens"], req).await
    }

    pub async fn tokens(&self, user: Option<&str>) -> Result<Vec<Token>> {
        #[derive(Serialize)]
        struct Q<'a> {
            user: Option<&'a str>,
        }
        Ok(self.get::<TokenList>(&["api", "v1", "tokens"], Some(&Q { user })).await?.tokens)
    }

    pub async fn revoke_token(&self, id: i64) -> Result<Token> {
        let url = self.url(&["api", "v1", "tokens", &id.to_string()]);
        let resp = self.send(Method::DELETE, url, Body::None, true).await?;
        self.decode(resp).await
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        Ok(self.get::<UserList>(&["api", "v1", "users"], None::<&()>).await?.users)
    }

    pub async fn create_user(&self, new: &NewUser) -> Result<User> {
        self.post(&["api", "v1", "users"], new).await
    }

    pub async fn update_user(&self, name: &str, patch: &UserPatch) -> Result<User> {
        self.patch(&["api", "v1", "users", name], patch).await
    }

    pub async fn teams(&self) -> Result<Vec<Team>> {
        Ok(self.get::<TeamList>(&["api", "v1", "teams"], None::<&()>).await?.teams)
    }

    pub async fn create_team(&self, team: &NewTeam) -> Result<Team> {
        self.post(&["api", "v1", "teams"], team).await
    }

    pub async fn delete_team(&self, name: &str) -> Result<()> {
        self.delete(&["api", "v1", "teams", name]).await
    }

    /// Sets (`Some`) or removes (`None`) a user's role in a team.
    pub async fn set_team_member(&self, team: &str, user: &str, role: Option<Role>) -> Result<Team> {
        let segments = ["api", "v1", "teams", team, "members", user];
        match role {
            Some(role) => self.put(&segments, &SetRole { role }).await,
            None => {
                let resp = self.send(Method::DELETE, self.url(&segments), Body::None, true).await?;
                self.decode(resp).await
            }
        }
    }

    pub async fn project_access(&self, project: &str) -> Result<ProjectAccess> {
        self.get(&["api", "v1", "projects", project, "members"], None::<&()>).await
    }

    /// Gives (`Some`) or takes away (`None`) a user's or team's role on a project.
    pub async fn set_project_member(
        &self,
        project: &str,
        kind: PrincipalKind,
        name: &str,
        role: Option<Role>,
    ) -> Result<ProjectAccess> {
        let segments = ["api", "v1", "projects", project, "members", kind.as_str(), name];
        match role {
            Some(role) => self.put(&segments, &SetRole { role }).await,
            None => {
                let resp = self.send(Method::DELETE, self.url(&segments), Body::None, true).await?;
                self.decode(resp).await
            }
        }
    }

    pub async fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        Ok(self.get::<AuditList>(&["api", "v1", "audit"], Some(q)).await?.entries)
    }

    // ---- import -------------------------------------------------------------------

    pub async fn import_project(&self, p: &ImportProject) -> Result<ImportedProject> {
        self.post_idempotent(&["api", "v1", "import", "projects"], p).await
    }

    pub async fn import_run(&self, r: &ImportRun) -> Result<ImportedRun> {
        self.post_idempotent(&["api", "v1", "import", "runs"], r).await
    }

    /// Up to 1,000 runs in one request; the answers come in the order sent.
    pub async fn import_runs(&self, runs: &[ImportRun]) -> Result<Vec<ImportedRun>> {
        let body = cairn_api::import::ImportRunBatch { runs: runs.to_vec() };
        let out: cairn_api::import::ImportedRuns =
            self.post_idempotent(&["api", "v1", "import", "runs", "batch"], &body).await?;
        Ok(out.runs)
    }

    /// Runs created together, all or none (`POST /api/v1/runs/batch`).
    pub async fn create_run_batch(
        &self,
        runs: Vec<cairn_api::runs::BatchRun>,
    ) -> Result<cairn_api::runs::BatchCreated> {
        self.post(&["api", "v1", "runs", "batch"], &cairn_api::runs::RunBatch { runs }).await
    }

    pub async fn import_model(&self, m: &ImportModel) -> Result<ImportedModel> {
        self.post_idempotent(&["api", "v1", "import", "models"], m).await
    }
}

/// A query string from a serialisable value (`None` fields left out).
fn serde_urlencoded_query(q: &(impl Serialize + ?Sized)) -> Result<String> {
    let v = serde_json::to_value(q).map_err(|e| Error::Encode(e.to_string()))?;
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    if let serde_json::Value::Object(m) = v {
        for (k, v) in m {
            match v {
                serde_json::Value::Null => {}
                serde_json::Value::String(s) => {
                    out.append_pair(&k, &s);
                }
                serde_json::Value::Array(items) => {
                    let joined: Vec<String> =
                        items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect();
                    out.append_pair(&k, &joined.join(","));
                }
                other => {
                    out.append_pair(&k, &other.to_string());
                }
            }
        }
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_segment_by_segment_under_the_base() {
        let c = Client::new("http://127.0.0.1:9/prefix/").unwrap();
        let u = c.url(&["api", "v1", "runs", "ab cd", "artifacts", "logs/out put.log"]);
        assert_eq!(u.as_str(), "http://127.0.0.1:9/prefix/api/v1/runs/ab%20cd/artifacts/logs/out%20put.log");
        let c = Client::new("127.0.0.1:9").unwrap();
        assert_eq!(c.url(&["healthz"]).as_str(), "http://127.0.0.1:9/healthz");
        assert_eq!(c.base(), "http://127.0.0.1:9");
    }

    #[test]
    fn bad_addresses_are_refused_with_the_reason() {
        let e = Client::new("ftp://x").unwrap_err().to_string();
        assert!(e.contains("ftp://x"), "{e}");
    }

    #[test]
    fn queries_leave_out_what_is_unset() {
        let q = CompareQuery { candidates: "a,b".into(), single: true, ..Default::default() };
        assert_eq!(serde_urlencoded_query(&q).unwrap(), "candidates=a%2Cb&single=true");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_named_after_the_retries() {
        // Port 9 (discard) on loopback refuses connections.
        let c = Client::new("http://127.0.0.1:9").unwrap().with_retry_delays(vec![Duration::from_millis(1)]);
        let e = c.projects().await.unwrap_err();
        assert!(matches!(e, Error::Unreachable { sent: false, .. }), "{e:?}");
        assert!(e.to_string().contains("http://127.0.0.1:9"), "{e}");
    }
}

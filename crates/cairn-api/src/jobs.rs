//! The runner: jobs (runs waiting in the queue with a resource request), the agents
//! that run them, and the settings the scheduler reads (quotas, prices, budgets,
//! fair-share weights).

use cairn_domain::NewRun;
pub use cairn_domain::runner::{Agent, Job, JobEvent, JobState, QuotaSetting, Resources, RunnerSettings, StopReason};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /api/v1/jobs`: a run to record now and start when the scheduler places it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    pub run: NewRun,
    #[serde(default)]
    pub resources: Resources,
    /// `low`, `normal` (default), `high` or `urgent`.
    #[serde(default)]
    pub priority: Option<String>,
    /// May be stopped (and resumed from its checkpoint) to make room, or run on spot nodes.
    #[serde(default)]
    pub preemptible: bool,
    /// A named budget the job's cost is drawn from.
    #[serde(default)]
    pub budget: Option<String>,
    /// The team the job's usage counts for (default: the owner's only team, if one).
    #[serde(default)]
    pub team: Option<String>,
    /// The folder the command runs in, when the agent shares it (else a clean copy of
    /// the recorded commit with the recorded diff applied).
    #[serde(default)]
    pub workdir: Option<String>,
    /// Run in `workdir` as it is when the job starts (data and untracked files included),
    /// instead of a clean copy of the recorded commit.
    #[serde(default)]
    pub in_place: bool,
    /// Environment variables for the command.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// `GET /api/v1/queue`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    pub project: Option<String>,
    pub team: Option<String>,
    pub owner: Option<String>,
    /// Also jobs that ended (`all=true`); by default queued and placed ones only.
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueAnswer {
    pub jobs: Vec<Job>,
    /// Budgets past 80 % of their limit, as sentences.
    pub warnings: Vec<String>,
}

/// `GET /api/v1/jobs/{run}/why`: the full explanation, line by line, and the job's events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobWhy {
    pub job: Job,
    pub lines: Vec<String>,
    pub events: Vec<JobEvent>,
}

/// `POST /api/v1/jobs/cancel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsRequest {
    pub jobs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobsAnswer {
    pub jobs: Vec<Job>,
}

/// `POST /api/v1/agents`: a compute node says what it has.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentRegistration {
    /// Unique among agents; registering again under the same name replaces the record
    /// (an agent restarting on the same machine).
    pub name: String,
    #[serde(default)]
    pub host: String,
    /// GPU indices (`CUDA_VISIBLE_DEVICES` values).
    #[serde(default)]
    pub gpus: Vec<u32>,
    #[serde(default)]
    pub gpu_type: Option<String>,
    /// Pretend GPUs (`--gpus fake:N`).
    #[serde(default)]
    pub fake_gpus: bool,
    pub cpus: u32,
    pub mem_mb: u64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Spot capacity: takes preemptible jobs only.
    #[serde(default)]
    pub spot: bool,
    /// Jobs the agent is still running from before (a restarted server, a reconnect).
    #[serde(default)]
    pub running: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentList {
    pub agents: Vec<Agent>,
}

/// `POST /api/v1/agents/{id}/poll`: the agent is alive and says what runs; the answer
/// is what to start and what to stop.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentPoll {
    #[serde(default)]
    pub running: Vec<String>,
    /// The node is being reclaimed (spot notice): stop and requeue everything on it.
    #[serde(default)]
    pub draining: bool,
    /// Mean utilisation of each running job's GPUs (percent), when NVML reads it.
    #[serde(default)]
    pub gpu_utilisation: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentWork {
    pub start: Vec<Job>,
    pub stop: Vec<StopOrder>,
    /// Jobs the agent reported that are no longer its own (ended elsewhere, or it was
    /// declared lost and they were requeued): kill them without reporting.
    pub forget: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopOrder {
    pub run_id: String,
    pub reason: StopReason,
    /// Milliseconds from SIGTERM to SIGKILL.
    pub grace_ms: i64,
}

/// `POST /api/v1/jobs/{run}/started` and `/ended`, from the agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobReport {
    pub agent: String,
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The process ignored SIGTERM and was killed at the end of the grace period.
    #[serde(default)]
    pub killed_after_grace: bool,
    /// What went wrong before the command could start (no working copy, …).
    #[serde(default)]
    pub error: Option<String>,
}

/// `GET /api/v1/usage?by=team|user|project|budget&since=…`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    #[serde(default)]
    pub by: Option<String>,
    /// Milliseconds since the epoch (default: 30 days ago).
    #[serde(default)]
    pub since: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    pub key: String,
    pub jobs: u64,
    pub gpu_hours: f64,
    pub cpu_hours: f64,
    pub mem_gb_hours: f64,
    pub cost: f64,
    /// For budgets: the limit, so spend shows against it.
    pub limit: Option<f64>,
    pub preemptions: u64,
    pub lost_gpu_hours: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageAnswer {
    pub by: String,
    pub since: i64,
    pub rows: Vec<UsageRow>,
}

/// `GET /api/v1/runs/{run}/logs?offset=N`: the command's output from byte `offset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogChunk {
    pub offset: u64,
    pub text: String,
    /// Where the next read starts.
    pub next_offset: u64,
    /// The run has ended: nothing more will come.
    pub done: bool,
    /// Where the stored output ends (a new attempt of a job appends from here).
    pub end: u64,
}

/// `POST /api/v1/runs/{run}/logs`: the next piece of output, at the byte offset it
/// starts (a retried piece is stored once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogAppend {
    pub offset: u64,
    pub text: String,
}

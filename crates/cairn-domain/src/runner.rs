//! The runner's records: jobs (runs waiting for compute with a resource request),
//! the agents that run them, what happens to a job, and the settings the scheduler
//! reads (quotas, prices, budgets, fair-share weights).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a job asks for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default)]
    pub gpus: u32,
    /// Only nodes whose GPUs are of this type (e.g. `a100`).
    #[serde(default)]
    pub gpu_type: Option<String>,
    #[serde(default)]
    pub cpus: u32,
    /// Memory in MB.
    #[serde(default)]
    pub mem_mb: u64,
    /// Longest it may run, in seconds; past it the job is stopped.
    #[serde(default)]
    pub time_limit_s: Option<u64>,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for the scheduler.
    #[default]
    Queued,
    /// Placed on an agent, not yet started there.
    Assigned,
    Running,
    /// Asked to stop (cancel, preemption, time limit); its process has the grace period.
    Stopping,
    Finished,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Assigned => "assigned",
            JobState::Running => "running",
            JobState::Stopping => "stopping",
            JobState::Finished => "finished",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<JobState> {
        [
            JobState::Queued,
            JobState::Assigned,
            JobState::Running,
            JobState::Stopping,
            JobState::Finished,
            JobState::Failed,
            JobState::Cancelled,
        ]
        .into_iter()
        .find(|j| j.as_str() == s)
    }
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Finished | JobState::Failed | JobState::Cancelled)
    }
    /// Holds resources on an agent.
    pub fn is_placed(self) -> bool {
        matches!(self, JobState::Assigned | JobState::Running | JobState::Stopping)
    }
}

/// Why a placed job is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Cancel,
    Preempt,
    TimeLimit,
    /// `cairn requeue` of a running job, or a spot notice on its node.
    Requeue,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Cancel => "cancel",
            StopReason::Preempt => "preempt",
            StopReason::TimeLimit => "time_limit",
            StopReason::Requeue => "requeue",
        }
    }
    pub fn parse(s: &str) -> Option<StopReason> {
        [StopReason::Cancel, StopReason::Preempt, StopReason::TimeLimit, StopReason::Requeue]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
    /// The job goes back to the queue once stopped.
    pub fn requeues(self) -> bool {
        matches!(self, StopReason::Preempt | StopReason::Requeue)
    }
}

/// A job as the queue shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub run_id: String,
    pub short_id: String,
    pub project: String,
    pub name: String,
    pub owner: String,
    pub team: Option<String>,
    pub priority: String,
    pub resources: Resources,
    pub preemptible: bool,
    pub budget: Option<String>,
    pub state: JobState,
    pub command: Vec<String>,
    pub workdir: Option<String>,
    /// Run in `workdir` as it is when the job starts, not in a clean copy of the recorded commit.
    #[serde(default)]
    pub in_place: bool,
    pub env: BTreeMap<String, String>,
    /// The agent it is placed on (its id), and its GPU indices there.
    pub agent: Option<String>,
    /// That agent's name, in answers (not stored).
    #[serde(default)]
    pub agent_name: Option<String>,
    pub gpu_indices: Vec<u32>,
    pub submitted_at: i64,
    /// When its current (or last) attempt started.
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub exit_code: Option<i32>,
    /// Starts so far (1 for a job that ran once).
    pub attempts: u32,
    pub preemptions: u32,
    /// GPU-milliseconds of work lost to preemptions and lost agents (since the last checkpoint).
    pub lost_gpu_ms: i64,
    /// Set while stopping: why, and when the process is killed if it has not exited.
    pub stop_reason: Option<StopReason>,
    pub stop_deadline: Option<i64>,
    /// What to do when an identical run finished while this waited (`refuse`: the job
    /// is cancelled at start instead of run again), as the submit asked.
    #[serde(default)]
    pub on_duplicate: Option<String>,
    /// Mean utilisation of its GPUs at the agent's last report (NVML), percent.
    #[serde(default)]
    pub gpu_utilisation: Option<f64>,
    /// Since when its allocated GPUs have been under 5 % busy.
    #[serde(default)]
    pub idle_since: Option<i64>,
    /// Its allocated GPUs have been idle for the runner's idle window (10 minutes).
    #[serde(default)]
    pub idle: bool,
    /// Queued jobs: place in the order (1 is next), why it waits, and when it should start.
    pub position: Option<u64>,
    pub reason: Option<String>,
    pub eta: Option<i64>,
}

/// Something that happened to a job (submitted, every scheduling decision that changed
/// it, started, preempted, lost, requeued, ended).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    pub at: i64,
    pub kind: String,
    pub message: String,
}

/// An agent as `cairn agents` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub host: String,
    pub gpus: Vec<u32>,
    pub gpu_type: Option<String>,
    pub fake_gpus: bool,
    pub cpus: u32,
    pub mem_mb: u64,
    pub labels: BTreeMap<String, String>,
    pub spot: bool,
    /// `alive`, `lost` (no heartbeat within the timeout) or `draining` (spot notice).
    pub state: String,
    pub registered_at: i64,
    pub heartbeat_at: i64,
    /// Its placed jobs and what they hold.
    pub jobs: Vec<String>,
    pub used_gpus: u32,
    pub used_cpus: u32,
    pub used_mem_mb: u64,
    /// Mean GPU utilisation of its allocated GPUs at the last heartbeat (NVML), when known.
    pub gpu_utilisation: Option<f64>,
    /// Its jobs whose allocated GPUs have been idle (under 5 %) for the idle window.
    #[serde(default)]
    pub idle_jobs: Vec<String>,
}

/// One quota: who, and the limits (absent: no limit).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSetting {
    /// `user:NAME`, `team:NAME` or `project:NAME`.
    pub scope: String,
    #[serde(default)]
    pub max_gpus: Option<u32>,
    #[serde(default)]
    pub gpu_hours_per_week: Option<f64>,
    #[serde(default)]
    pub money_per_month: Option<f64>,
}

/// What the scheduler reads besides the queue: `GET`/`PUT /api/v1/runner/settings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerSettings {
    #[serde(default)]
    pub quotas: Vec<QuotaSetting>,
    /// Price of a GPU-hour by GPU type; `*` for any type.
    #[serde(default)]
    pub gpu_hour_prices: BTreeMap<String, f64>,
    /// Named budgets and their limits (money).
    #[serde(default)]
    pub budgets: BTreeMap<String, f64>,
    /// Fair-share weights (`user:NAME` / `team:NAME` → weight; absent: 1).
    #[serde(default)]
    pub shares: BTreeMap<String, f64>,
    /// Usage counts half after this many hours (SLURM's PriorityDecayHalfLife).
    #[serde(default = "default_half_life")]
    pub half_life_hours: f64,
    /// Seconds a stopped job has to checkpoint between SIGTERM and SIGKILL.
    #[serde(default = "default_grace")]
    pub grace_s: u64,
    /// Seconds a job's allocated GPUs may stay under 5 % busy before it is flagged idle.
    #[serde(default = "default_idle")]
    pub idle_after_s: u64,
}

fn default_half_life() -> f64 {
    168.0
}
fn default_grace() -> u64 {
    30
}
fn default_idle() -> u64 {
    600
}

impl Default for RunnerSettings {
    fn default() -> Self {
        RunnerSettings {
            quotas: Vec::new(),
            gpu_hour_prices: BTreeMap::new(),
            budgets: BTreeMap::new(),
            shares: BTreeMap::new(),
            half_life_hours: default_half_life(),
            grace_s: default_grace(),
            idle_after_s: default_idle(),
        }
    }
}

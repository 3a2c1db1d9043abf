//! The runner: submitting jobs, the queue and why each job waits, agents polling for
//! work, and the scheduling round the leader replica runs. The policy is
//! `cairn-sched`'s (pure); this module reads the state from the store, applies the
//! decisions with compare-and-set updates, and records every change as a job event.

use super::{Result, Service, now_ms};
use crate::error::{ApiError, ErrorCode};
use cairn_api::jobs::{
    AgentList, AgentPoll, AgentRegistration, AgentWork, JobReport, JobWhy, LogAppend, LogChunk, QueueAnswer,
    QueueQuery, StopOrder, SubmitRequest, UsageAnswer, UsageQuery, UsageRow,
};
use cairn_domain::auth::Role;
use cairn_domain::runner::{Agent, Job, JobEvent, JobState, RunnerSettings, StopReason};
use cairn_domain::{Millis, RunId, RunStatus};
use cairn_sched as sched;
use cairn_store::{JobChange, RunUpdate, SpanOp, SpanRecord};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The settings row the scheduler reads.
const SETTINGS_KEY: &str = "runner";
/// The lease row that elects the scheduling replica, and how long it holds.
const LEASE: &str = "scheduler";
const LEASE_MS: i64 = 5_000;
/// Bounds on what a request may declare (larger is a mistake, not a machine).
const MAX_GPUS: u32 = 1024;
const MAX_CPUS: u32 = 1_000_000;
const MAX_MEM_MB: u64 = 1 << 40;
const MAX_TIME_LIMIT_S: u64 = 10 * 365 * 86_400;
const MAX_AMOUNT: f64 = 1e15;

/// Most jobs one queue answer lists.
const QUEUE_LIMIT: u32 = 10_000;
/// Rounds replayed for the queue's start estimates.
const ETA_ROUNDS: usize = 20;
const PLACED: [JobState; 3] = [JobState::Assigned, JobState::Running, JobState::Stopping];

/// What the runner keeps in memory on each replica.
#[derive(Debug)]
pub struct Shared {
    /// Who this replica is when it takes the scheduler's lease.
    holder: String,
    /// Wakes the scheduling loop (a job was submitted or ended here).
    pub wake: tokio::sync::Notify,
    /// The last wait reason recorded for each job, so a reason is recorded as an event
    /// when it changes, not every round.
    reasons: Mutex<HashMap<String, String>>,
}

impl Default for Shared {
    fn default() -> Shared {
        let host = hostname();
        Shared {
            holder: format!("{host}:{}:{:08x}", std::process::id(), rand::random::<u32>()),
            wake: tokio::sync::Notify::new(),
            reasons: Mutex::new(HashMap::new()),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "host".into())
}

fn event(at: Millis, kind: &str, message: impl Into<String>) -> JobEvent {
    JobEvent { at, kind: kind.to_owned(), message: message.into() }
}

fn run_id(job: &Job) -> Result<RunId> {
    uuid::Uuid::parse_str(&job.run_id)
        .map(RunId)
        .map_err(|_| ApiError::new(ErrorCode::Internal, format!("job {} has a malformed run id", job.run_id)))
}

/// `user:NAME`, `team:NAME`, `project:NAME`.
fn parse_scope(s: &str) -> Result<sched::Scope> {
    match s.split_once(':') {
        Some(("user", n)) if !n.is_empty() => Ok(sched::Scope::User(n.to_owned())),
        Some(("team", n)) if !n.is_empty() => Ok(sched::Scope::Team(n.to_owned())),
        Some(("project", n)) if !n.is_empty() => Ok(sched::Scope::Project(n.to_owned())),
        _ => Err(ApiError::invalid(format!("'{s}' is not a scope: write user:NAME, team:NAME or project:NAME"))),
    }
}

fn sched_job(j: &Job) -> sched::Job {
    sched::Job {
        id: j.run_id.clone(),
        user: j.owner.clone(),
        team: j.team.clone(),
        project: j.project.clone(),
        priority: sched::Priority::parse(&j.priority).unwrap_or(sched::Priority::Normal),
        request: sched::Request {
            gpus: j.resources.gpus,
            gpu_type: j.resources.gpu_type.clone(),
            cpus: j.resources.cpus,
            mem_mb: j.resources.mem_mb,
            time_limit_ms: j.resources.time_limit_s.map(|s| s as i64 * 1000),
        },
        preemptible: j.preemptible,
        budget: j.budget.clone(),
        submitted_at: j.submitted_at,
    }
}

fn node(a: &Agent) -> sched::Node {
    sched::Node {
        id: a.id.clone(),
        gpus: a.gpus.clone(),
        gpu_type: a.gpu_type.clone(),
        cpus: a.cpus,
        mem_mb: a.mem_mb,
        spot: a.spot,
        cordoned: a.state != "alive",
    }
}

fn config(settings: &RunnerSettings) -> sched::Config {
    sched::Config {
        gpu_hour_price: settings.gpu_hour_prices.iter().map(|(k, v)| ((k != "*").then(|| k.clone()), *v)).collect(),
        ..Default::default()
    }
}

/// The first day of the month `now` falls in, UTC.
fn month_start(now: Millis) -> Millis {
    use chrono::{Datelike, TimeZone};
    let t = chrono::Utc.timestamp_millis_opt(now).single().unwrap_or_default();
    chrono::Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0).single().map_or(now, |m| m.timestamp_millis())
}

/// Everything the policy reads, taken from the store.
pub(crate) struct Snapshot {
    pub state: sched::State,
    pub cfg: sched::Config,
    pub settings: RunnerSettings,
    pub jobs: BTreeMap<String, Job>,
    pub agents: Vec<Agent>,
}

impl Service {
    /// Notified when the scheduler should run a round now.
    pub fn runner_wake(&self) -> &tokio::sync::Notify {
        &self.runner.wake
    }

    pub async fn runner_settings(&self) -> Result<RunnerSettings> {
        Ok(match self.store.get_setting(SETTINGS_KEY).await? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| ApiError::new(ErrorCode::Internal, format!("the runner settings are unreadable: {e}")))?,
            None => RunnerSettings::default(),
        })
    }

    /// Replaces the runner's settings (administrators).
    pub async fn put_runner_settings(&self, s: RunnerSettings) -> Result<RunnerSettings> {
        self.require_org(Role::Admin)?;
        let amount = |v: f64| v.is_finite() && (0.0..=MAX_AMOUNT).contains(&v);
        for q in &s.quotas {
            parse_scope(&q.scope)?;
            if q.max_gpus.is_some_and(|g| g > MAX_CPUS) {
                return Err(ApiError::invalid(format!("quota {}: max_gpus is at most {MAX_CPUS}", q.scope)));
            }
            for (what, v) in [("gpu_hours_per_week", q.gpu_hours_per_week), ("money_per_month", q.money_per_month)] {
                if v.is_some_and(|v| !amount(v)) {
                    return Err(ApiError::invalid(format!(
                        "quota {}: {what} must be a number from 0 to 1e15",
                        q.scope
                    )));
                }
            }
        }
        for (k, v) in &s.shares {
            if !matches!(parse_scope(k)?, sched::Scope::User(_) | sched::Scope::Team(_)) {
                return Err(ApiError::invalid(format!("share {k}: fair-share weights are for user:… or team:…")));
            }
            if !amount(*v) || *v <= 0.0 {
                return Err(ApiError::invalid(format!("share {k}: the weight must be a number > 0 (at most 1e15)")));
            }
        }
        for (name, v) in s.gpu_hour_prices.iter().chain(&s.budgets) {
            if !amount(*v) {
                return Err(ApiError::invalid(format!("{name}: amounts must be numbers from 0 to 1e15")));
            }
        }
        if s.idle_after_s == 0 || s.idle_after_s > 365 * 86_400 {
            return Err(ApiError::invalid("idle_after_s must be 1 second to a year (31536000)"));
        }
        if s.grace_s > 86_400 {
            return Err(ApiError::invalid("grace_s is at most a day (86400)"));
        }
        if !s.half_life_hours.is_finite() || s.half_life_hours <= 0.0 || s.half_life_hours > 87_600.0 {
            return Err(ApiError::invalid("half_life_hours must be a number of hours > 0, at most ten years (87600)"));
        }
        let text = serde_json::to_string(&s).expect("settings serialise");
        self.store.put_setting(SETTINGS_KEY, &text, now_ms()).await?;
        self.runner.wake.notify_one();
        Ok(s)
    }

    /// Reads everything the policy needs. Spans are read from the start of the month
    /// or a week ago (quotas), and whole for budgets' spend.
    pub(crate) async fn snapshot(&self, now: Millis) -> Result<Snapshot> {
        let settings = self.runner_settings().await?;
        let cfg = config(&settings);
        let agents = self.store.list_agents().await?;
        let all = self
            .store
            .list_jobs(&[JobState::Queued, JobState::Assigned, JobState::Running, JobState::Stopping], u32::MAX)
            .await?;
        // Usage counts from the start of the month, a week, or ten half-lives back,
        // whichever is longest (older use has decayed to under a thousandth); budgets
        // count all time.
        let half_life = (settings.half_life_hours * 3_600_000.0) as Millis;
        let since = month_start(now).min(now.saturating_sub(half_life.saturating_mul(10))).min(now - 7 * 86_400_000);
        let spans = self.store.job_spans(since, false).await?;
        let budget_spans = if settings.budgets.is_empty() { Vec::new() } else { self.store.job_spans(0, true).await? };
        let mut state = sched::State { now, ..Default::default() };
        state.nodes = agents.iter().filter(|a| a.state != "lost").map(node).collect();
        for j in &all {
            match j.state {
                JobState::Queued => state.queued.push(sched_job(j)),
                _ => state.running.push(sched::Running {
                    job: sched_job(j),
                    node: j.agent.clone().unwrap_or_default(),
                    gpus: j.gpu_indices.clone(),
                    started_at: j.started_at.unwrap_or(now),
                }),
            }
        }
        for q in &settings.quotas {
            let quota = sched::Quota {
                max_gpus: q.max_gpus,
                gpu_hours_per_week: q.gpu_hours_per_week,
                money_per_month: q.money_per_month,
            };
            state.quotas.insert(parse_scope(&q.scope)?, quota);
        }
        for (k, w) in &settings.shares {
            state.shares.insert(parse_scope(k)?, *w);
        }
        let sched_spans: Vec<sched::Span> = spans
            .iter()
            .map(|s| sched::Span { job: sched_job(&s.job), started_at: s.started_at, ended_at: s.ended_at })
            .collect();
        state.used = sched::usage(&sched_spans, &cfg, now, month_start(now), half_life);
        for (name, limit) in &settings.budgets {
            let spent: f64 = budget_spans
                .iter()
                .filter(|s| s.job.budget.as_deref() == Some(name))
                .map(|s| span_cost(&cfg, s, now))
                .sum();
            state.budgets.insert(name.clone(), sched::Budget { limit: *limit, spent });
        }
        let jobs = all.into_iter().map(|j| (j.run_id.clone(), j)).collect();
        Ok(Snapshot { state, cfg, settings, jobs, agents })
    }

    pub async fn submit_job(&self, req: SubmitRequest) -> Result<Job> {
        let priority = match req.priority.as_deref() {
            None => sched::Priority::Normal,
            Some(p) => sched::Priority::parse(p)
                .ok_or_else(|| ApiError::invalid(format!("priority '{p}' is not one of low, normal, high, urgent")))?,
        };
        if let Some(t) = &req.resources.gpu_type
            && (t.is_empty() || t.len() > 64)
        {
            return Err(ApiError::invalid("gpu_type must be 1 to 64 characters"));
        }
        let r = &req.resources;
        if r.time_limit_s.is_some_and(|t| t == 0 || t > MAX_TIME_LIMIT_S) {
            return Err(ApiError::invalid(format!("time_limit_s must be 1 to {MAX_TIME_LIMIT_S} seconds")));
        }
        if r.gpus > MAX_GPUS || r.cpus > MAX_CPUS || r.mem_mb > MAX_MEM_MB {
            return Err(ApiError::invalid(format!(
                "a job may ask for at most {MAX_GPUS} GPUs, {MAX_CPUS} CPUs and {MAX_MEM_MB} MB of memory"
            )));
        }
        if req.in_place && req.workdir.is_none() {
            return Err(ApiError::invalid("in_place needs the workdir to run in"));
        }
        if req.run.command.is_empty() {
            return Err(ApiError::invalid("a job needs a command to run (run.command)"));
        }
        if let Some(b) = &req.budget {
            cairn_domain::check_name("budget", b)?;
        }
        if let Some(t) = &req.team {
            cairn_domain::check_name("team", t)?;
        }
        // Refused before anything is recorded: no connected node could ever run it.
        let now = now_ms();
        let probe = Job {
            owner: String::new(),
            priority: priority.as_str().to_owned(),
            resources: req.resources.clone(),
            preemptible: req.preemptible,
            ..blank_job()
        };
        let agents = self.store.list_agents().await?;
        // Named as people know them in the refusal.
        let nodes: Vec<sched::Node> = agents
            .iter()
            .filter(|a| a.state != "lost")
            .map(|a| sched::Node { id: a.name.clone(), ..node(a) })
            .collect();
        if let Err(why) = sched::check_submittable(&nodes, &sched_job(&probe)) {
            return Err(ApiError::new(ErrorCode::Unschedulable, why));
        }
        let mut new = req.run;
        new.status = Some(RunStatus::Queued);
        let on_duplicate =
            new.on_duplicate.and_then(|p| serde_json::to_value(p).ok()).and_then(|v| v.as_str().map(str::to_owned));
        let run = self.create_run(new).await?;
        let job = Job {
            run_id: run.id.to_string(),
            short_id: run.short_id.to_string(),
            project: run.project.to_string(),
            name: run.name.clone(),
            owner: run.owner.clone(),
            team: req.team.clone(),
            priority: priority.as_str().to_owned(),
            resources: req.resources,
            preemptible: req.preemptible,
            budget: req.budget,
            command: run.command.clone(),
            workdir: req.workdir,
            in_place: req.in_place,
            env: req.env,
            submitted_at: now,
            on_duplicate,
            ..blank_job()
        };
        if let Err(e) = self.store.create_job(&job, now).await {
            // A queued run without its job would wait forever: take it back.
            let _ = self.store.delete_run(run.id, now).await;
            return Err(e.into());
        }
        self.runner.wake.notify_one();
        Ok(self.store.get_job(run.id).await?)
    }

    /// A job by its run (id or short id), when the caller may see the run.
    pub async fn get_job(&self, run: &str) -> Result<Job> {
        let mut job = self.job_record(run).await?;
        let settings = self.runner_settings().await?;
        mark_idle(std::slice::from_mut(&mut job), &settings, now_ms());
        if job.agent.is_some() {
            name_agents(std::slice::from_mut(&mut job), &self.store.list_agents().await?);
        }
        Ok(job)
    }

    async fn job_record(&self, run: &str) -> Result<Job> {
        let r = self.resolve(run).await?;
        self.store.get_job(r.id).await.map_err(|e| match e {
            cairn_store::StoreError::NotFound { .. } => ApiError::new(
                ErrorCode::JobNotFound,
                format!("run {} was not submitted to the queue (it ran with `cairn run`)", r.short_id),
            ),
            e => e.into(),
        })
    }

    pub async fn queue(&self, q: QueueQuery) -> Result<QueueAnswer> {
        for (what, v) in [("project", &q.project), ("team", &q.team), ("owner", &q.owner)] {
            if v.as_deref() == Some("") {
                return Err(ApiError::invalid(format!("{what} is empty: leave it out to list every {what}'s jobs")));
            }
        }
        let now = now_ms();
        let snap = self.snapshot(now).await?;
        let decisions = sched::schedule(&snap.state, &snap.cfg);
        let eta = sched::eta(&snap.state, &snap.cfg, ETA_ROUNDS);
        let mut jobs: Vec<Job> =
            if q.all { self.store.list_jobs(&[], QUEUE_LIMIT).await? } else { snap.jobs.values().cloned().collect() };
        let hidden = self.hidden_projects().await?;
        let visible_projects: Option<Vec<String>> = if hidden.is_empty() {
            None
        } else {
            let mut names = Vec::new();
            for id in hidden {
                names.push(self.store.get_project_by_id(id).await?.name.to_string());
            }
            Some(names)
        };
        jobs.retain(|j| {
            q.project.as_ref().is_none_or(|p| &j.project == p)
                && q.team.as_ref().is_none_or(|t| j.team.as_ref() == Some(t))
                && q.owner.as_ref().is_none_or(|o| &j.owner == o)
                && visible_projects.as_ref().is_none_or(|h| !h.contains(&j.project))
        });
        for d in &decisions {
            match d {
                sched::Decision::Wait { job, position, reason } => {
                    if let Some(j) = jobs.iter_mut().find(|j| &j.run_id == job) {
                        j.position = Some(*position as u64 + 1);
                        j.reason = Some(reason.to_string());
                        j.eta = eta.get(job).copied();
                    }
                }
                sched::Decision::Start { job, node, .. } => {
                    if let Some(j) = jobs.iter_mut().find(|j| &j.run_id == job) {
                        j.position = Some(0);
                        j.reason = Some(format!("starting now on {}", agent_name(&snap.agents, node)));
                        j.eta = Some(now);
                    }
                }
                sched::Decision::Preempt { .. } => {}
            }
        }
        jobs.sort_by_key(|j| (j.state.is_terminal(), j.position.unwrap_or(0), j.submitted_at));
        mark_idle(&mut jobs, &snap.settings, now);
        name_agents(&mut jobs, &snap.agents);
        let warnings = snap
            .state
            .budgets
            .iter()
            .filter(|(_, b)| b.limit > 0.0 && b.spent >= 0.8 * b.limit)
            .map(|(name, b)| {
                if b.spent >= b.limit {
                    format!("budget {name} is spent ({:.2} of {:.2}): its jobs are not started", b.spent, b.limit)
                } else {
                    format!(
                        "budget {name} is {:.0} % spent ({:.2} of {:.2})",
                        100.0 * b.spent / b.limit,
                        b.spent,
                        b.limit
                    )
                }
            })
            .collect();
        Ok(QueueAnswer { jobs, warnings })
    }

    pub async fn job_why(&self, run: &str) -> Result<JobWhy> {
        let job = self.get_job(run).await?;
        let now = now_ms();
        let snap = self.snapshot(now).await?;
        let mut lines = match job.state {
            JobState::Queued => sched::explain(&snap.state, &snap.cfg, &job.run_id).unwrap_or_default(),
            s if s.is_placed() => vec![format!(
                "{} on {} (GPUs {})",
                s.as_str(),
                job.agent.as_deref().map_or("?".to_owned(), |a| agent_name(&snap.agents, a)),
                if job.gpu_indices.is_empty() {
                    "none".to_owned()
                } else {
                    job.gpu_indices.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
                }
            )],
            s => vec![format!("{} (exit code {})", s.as_str(), job.exit_code.map_or("none".into(), |c| c.to_string()))],
        };
        // Node ids are agent ids; people know agents by name.
        for l in &mut lines {
            for a in &snap.agents {
                *l = l.replace(&a.id, &a.name);
            }
            *l = l.replace(&job.run_id, &job.short_id);
        }
        let events = self.store.job_events(run_id(&job)?, 200).await?;
        Ok(JobWhy { job, lines, events })
    }

    /// Cancels jobs: queued ones at once, placed ones through their agent (SIGTERM,
    /// then SIGKILL after the grace period).
    pub async fn cancel_jobs(&self, runs: &[String]) -> Result<Vec<Job>> {
        let mut out = Vec::new();
        let grace = self.runner_settings().await?.grace_s as i64 * 1000;
        for r in runs {
            let job = self.get_job(r).await?;
            self.resolve_for(&job.run_id, Role::Editor).await?;
            let id = run_id(&job)?;
            let now = now_ms();
            let who = self.caller().name();
            let edit = |j: &mut Job| {
                j.state = JobState::Cancelled;
                j.ended_at = Some(now);
                j.agent = None;
                j.gpu_indices.clear();
            };
            let change = JobChange {
                edit: &edit,
                span: SpanOp::None,
                event: Some(event(now, "cancelled", format!("cancelled by {who} while queued"))),
            };
            if let Some(j) = self.store.update_job(id, &[JobState::Queued], &change, now).await? {
                self.end_run(id, RunStatus::Killed, None).await?;
                out.push(j);
                continue;
            }
            let edit = |j: &mut Job| {
                j.state = JobState::Stopping;
                j.stop_reason = Some(StopReason::Cancel);
                j.stop_deadline = Some(now + grace);
            };
            let change = JobChange {
                edit: &edit,
                span: SpanOp::None,
                event: Some(event(
                    now,
                    "cancelling",
                    format!("cancelled by {who}: SIGTERM, then SIGKILL after {} s", grace / 1000),
                )),
            };
            if let Some(j) = self.store.update_job(id, &[JobState::Assigned, JobState::Running], &change, now).await? {
                out.push(j);
                continue;
            }
            let current = self.store.get_job(id).await?;
            if current.state == JobState::Stopping {
                out.push(current);
                continue;
            }
            return Err(ApiError::new(
                ErrorCode::JobStateConflict,
                format!("job {} is {} already: there is nothing to cancel", job.short_id, current.state.as_str()),
            ));
        }
        self.runner.wake.notify_one();
        Ok(out)
    }

    /// Puts a job back in the queue: an ended one to run again, a running one stopped
    /// first (it resumes from its checkpoint).
    pub async fn requeue_job(&self, run: &str) -> Result<Job> {
        let job = self.get_job(run).await?;
        self.resolve_for(&job.run_id, Role::Editor).await?;
        let id = run_id(&job)?;
        let now = now_ms();
        let who = self.caller().name();
        let edit = |j: &mut Job| {
            j.state = JobState::Queued;
            j.ended_at = None;
            j.exit_code = None;
            j.stop_reason = None;
            j.stop_deadline = None;
        };
        let change = JobChange {
            edit: &edit,
            span: SpanOp::None,
            event: Some(event(now, "requeued", format!("requeued by {who}"))),
        };
        if job.state == JobState::Finished {
            // Its record is complete; another attempt would mix a second run's points into it.
            return Err(ApiError::new(
                ErrorCode::JobStateConflict,
                format!(
                    "job {} finished: its run's record is complete. To run it again, submit it again (with \
                     --replicate for another seed)",
                    job.short_id
                ),
            ));
        }
        if let Some(j) = self.store.update_job(id, &[JobState::Failed, JobState::Cancelled], &change, now).await? {
            self.store
                .update_run(id, &RunUpdate { status: Some(RunStatus::Queued), ..Default::default() }, now)
                .await?;
            self.notify(id);
            self.runner.wake.notify_one();
            return Ok(j);
        }
        let grace = self.runner_settings().await?.grace_s as i64 * 1000;
        let edit = |j: &mut Job| {
            j.state = JobState::Stopping;
            j.stop_reason = Some(StopReason::Requeue);
            j.stop_deadline = Some(now + grace);
        };
        let change = JobChange {
            edit: &edit,
            span: SpanOp::None,
            event: Some(event(now, "requeueing", format!("requeued by {who}: stopping it to start again"))),
        };
        if let Some(j) = self.store.update_job(id, &[JobState::Assigned, JobState::Running], &change, now).await? {
            return Ok(j);
        }
        let current = self.store.get_job(id).await?;
        Err(ApiError::new(
            ErrorCode::JobStateConflict,
            format!(
                "job {} is {}: it is already in the queue or on its way back",
                job.short_id,
                current.state.as_str()
            ),
        ))
    }

    async fn end_run(&self, id: RunId, status: RunStatus, exit_code: Option<i32>) -> Result<()> {
        let now = now_ms();
        let run = self.store.get_run(&cairn_domain::RunRef::Id(id)).await?;
        if run.status.is_terminal() && run.status != RunStatus::Queued {
            return Ok(());
        }
        let u = RunUpdate { status: Some(status), ended_at: Some(now), exit_code, ..Default::default() };
        self.store.update_run(id, &u, now).await?;
        self.notify(id);
        Ok(())
    }

    pub async fn register_agent(&self, reg: AgentRegistration) -> Result<Agent> {
        // An agent receives jobs' commands and environments: writers only.
        self.require_org(Role::Editor)?;
        cairn_domain::check_name("agent name", &reg.name)?;
        if reg.cpus == 0 || reg.mem_mb == 0 || reg.cpus > MAX_CPUS || reg.mem_mb > MAX_MEM_MB {
            return Err(ApiError::invalid(format!(
                "an agent declares 1 to {MAX_CPUS} CPUs and 1 to {MAX_MEM_MB} MB of memory"
            )));
        }
        if reg.gpus.len() > MAX_GPUS as usize || reg.gpus.iter().any(|g| *g >= MAX_GPUS) {
            return Err(ApiError::invalid(format!(
                "an agent declares at most {MAX_GPUS} GPUs, indices 0 to {}",
                MAX_GPUS - 1
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(g) = reg.gpus.iter().find(|g| !seen.insert(**g)) {
            return Err(ApiError::invalid(format!("GPU index {g} is listed twice")));
        }
        let now = now_ms();
        let agent = Agent {
            id: format!("agent-{}", uuid::Uuid::now_v7().simple()),
            name: reg.name.clone(),
            host: reg.host,
            gpus: reg.gpus,
            gpu_type: reg.gpu_type,
            fake_gpus: reg.fake_gpus,
            cpus: reg.cpus,
            mem_mb: reg.mem_mb,
            labels: reg.labels,
            spot: reg.spot,
            state: "alive".into(),
            registered_at: now,
            heartbeat_at: now,
            ..Agent::default()
        };
        let stored = self.store.register_agent(&agent).await?;
        tracing::info!(agent = %stored.name, gpus = stored.gpus.len(), "agent registered");
        self.runner.wake.notify_one();
        Ok(stored)
    }

    pub async fn list_agents(&self) -> Result<AgentList> {
        let mut agents = self.store.list_agents().await?;
        let mut placed = self.store.list_jobs(&PLACED, u32::MAX).await?;
        mark_idle(&mut placed, &self.runner_settings().await?, now_ms());
        for a in &mut agents {
            for j in placed.iter().filter(|j| j.agent.as_deref() == Some(&a.id)) {
                if j.idle {
                    a.idle_jobs.push(j.short_id.clone());
                }
                a.jobs.push(j.short_id.clone());
                a.used_gpus += j.resources.gpus;
                a.used_cpus += j.resources.cpus;
                a.used_mem_mb += j.resources.mem_mb;
            }
        }
        Ok(AgentList { agents })
    }

    /// An agent's heartbeat: it says what runs there; the answer says what to start
    /// and what to stop.
    pub async fn agent_poll(&self, id: &str, poll: AgentPoll) -> Result<AgentWork> {
        self.require_org(Role::Editor)?;
        let now = now_ms();
        let known = self.store.list_agents().await?.into_iter().find(|a| a.id == id);
        let Some(agent) = known else {
            return Err(ApiError::new(
                ErrorCode::AgentNotFound,
                format!("agent {id} is not registered: register again"),
            ));
        };
        let state = if poll.draining { "draining" } else { "alive" };
        let util = (!poll.gpu_utilisation.is_empty())
            .then(|| poll.gpu_utilisation.values().sum::<f64>() / poll.gpu_utilisation.len() as f64);
        self.store.agent_heartbeat(id, state, util, now).await?;
        if agent.state == "lost" {
            tracing::info!(agent = %agent.name, "a lost agent is back");
        }
        let placed = self.store.list_jobs(&PLACED, u32::MAX).await?;
        let mine: Vec<&Job> = placed.iter().filter(|j| j.agent.as_deref() == Some(id)).collect();
        let mut work = AgentWork::default();
        for r in &poll.running {
            match mine.iter().find(|j| &j.run_id == r) {
                Some(j) if j.state == JobState::Assigned => {
                    // Its start report was lost: the process runs, so the job does.
                    self.job_started(&j.run_id, JobReport { agent: id.to_owned(), ..Default::default() }).await?;
                }
                Some(_) => {}
                None => work.forget.push(r.clone()),
            }
        }
        let settings = self.runner_settings().await?;
        let grace = settings.grace_s as i64 * 1000;
        let window = settings.idle_after_s as i64 * 1000;
        for j in mine.iter().filter(|j| j.state == JobState::Running) {
            let Some(util) = poll.gpu_utilisation.get(&j.run_id).copied().filter(|u| u.is_finite()) else { continue };
            let idle_since = if util < IDLE_PERCENT { Some(j.idle_since.unwrap_or(now)) } else { None };
            // Said once per idle stretch: when it has lasted the window and no event says so yet.
            let became_idle = match idle_since {
                Some(t) if now - t >= window => {
                    let recent = self.store.job_events(run_id(j)?, 20).await?;
                    !recent.iter().any(|e| e.kind == "idle" && e.at >= t)
                }
                _ => false,
            };
            let edit = |x: &mut Job| {
                x.gpu_utilisation = Some(util);
                x.idle_since = idle_since;
            };
            let event = became_idle.then(|| {
                event(
                    now,
                    "idle",
                    format!("its GPUs have been under {IDLE_PERCENT} % busy for {} minutes", window / 60_000),
                )
            });
            let change = JobChange { edit: &edit, span: SpanOp::None, event };
            self.store.update_job(run_id(j)?, &[JobState::Running], &change, now).await?;
        }
        for j in &mine {
            if j.state == JobState::Assigned && !poll.running.contains(&j.run_id) {
                work.start.push((*j).clone());
            }
            if poll.draining && matches!(j.state, JobState::Assigned | JobState::Running) {
                // A spot notice: everything on the node checkpoints and goes back to the queue.
                let edit = |x: &mut Job| {
                    x.state = JobState::Stopping;
                    x.stop_reason = Some(StopReason::Requeue);
                    x.stop_deadline = Some(now + grace);
                };
                let change = JobChange {
                    edit: &edit,
                    span: SpanOp::None,
                    event: Some(event(
                        now,
                        "reclaimed",
                        format!("spot notice on {}: checkpoint and requeue", agent.name),
                    )),
                };
                if let Some(x) =
                    self.store.update_job(run_id(j)?, &[JobState::Assigned, JobState::Running], &change, now).await?
                {
                    work.stop.push(StopOrder {
                        run_id: x.run_id.clone(),
                        reason: StopReason::Requeue,
                        grace_ms: grace,
                    });
                    work.start.retain(|s| s.run_id != x.run_id);
                }
                continue;
            }
            if j.state == JobState::Stopping
                && let Some(reason) = j.stop_reason
            {
                let left = j.stop_deadline.map_or(grace, |d| (d - now).max(0));
                work.stop.push(StopOrder { run_id: j.run_id.clone(), reason, grace_ms: left });
            }
        }
        Ok(work)
    }

    /// The agent started the job's process.
    pub async fn job_started(&self, run: &str, report: JobReport) -> Result<Job> {
        self.require_org(Role::Editor)?;
        let job = self.get_job(run).await?;
        let id = run_id(&job)?;
        if job.agent.as_deref() != Some(report.agent.as_str()) {
            return Err(ApiError::new(
                ErrorCode::JobStateConflict,
                format!(
                    "job {} is not assigned to agent {} (it is {})",
                    job.short_id,
                    report.agent,
                    job.state.as_str()
                ),
            ));
        }
        let now = now_ms();
        let gpus = job.gpu_indices.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let edit = |j: &mut Job| {
            j.state = JobState::Running;
            j.started_at = Some(now);
        };
        let change = JobChange {
            edit: &edit,
            span: SpanOp::Open { at: now },
            event: Some(event(
                now,
                "started",
                format!("attempt {} started (GPUs {})", job.attempts, if gpus.is_empty() { "none" } else { &gpus }),
            )),
        };
        match self.store.update_job(id, &[JobState::Assigned], &change, now).await? {
            Some(j) => {
                let u = RunUpdate { status: Some(RunStatus::Running), started_at: Some(now), ..Default::default() };
                self.store.update_run(id, &u, now).await?;
                self.store.heartbeat(id, now).await?;
                self.notify(id);
                Ok(j)
            }
            None => {
                let current = self.store.get_job(id).await?;
                if current.state == JobState::Running && current.agent.as_deref() == Some(report.agent.as_str()) {
                    return Ok(current);
                }
                Err(ApiError::new(
                    ErrorCode::JobStateConflict,
                    format!("job {} is {}: do not start it", job.short_id, current.state.as_str()),
                ))
            }
        }
    }

    /// The agent's process for the job ended (or could not start).
    pub async fn job_ended(&self, run: &str, report: JobReport) -> Result<Job> {
        self.require_org(Role::Editor)?;
        let job = self.get_job(run).await?;
        let id = run_id(&job)?;
        if job.agent.as_deref() != Some(report.agent.as_str()) || !job.state.is_placed() {
            // Requeued or ended elsewhere meanwhile (a lost agent coming back): not its to end.
            return Ok(job);
        }
        let now = now_ms();
        let held_ms = job.started_at.map_or(0, |s| (now - s).max(0));
        let requeue = job.stop_reason.is_some_and(StopReason::requeues);
        let stubborn =
            if report.killed_after_grace { "; it ignored SIGTERM and was killed after the grace period" } else { "" };
        let code = report.exit_code.map_or("none".into(), |c| c.to_string());
        let (state, kind, message, run_status) = match (job.stop_reason, report.exit_code, &report.error) {
            (Some(r), _, _) if r.requeues() => (
                JobState::Queued,
                if r == StopReason::Preempt { "preempted" } else { "requeued" },
                format!("stopped after {} s to be requeued{stubborn}", held_ms / 1000),
                RunStatus::Queued,
            ),
            (Some(StopReason::Cancel), _, _) => {
                (JobState::Cancelled, "cancelled", format!("cancelled (exit code {code}){stubborn}"), RunStatus::Killed)
            }
            (Some(StopReason::TimeLimit), _, _) => (
                JobState::Failed,
                "time_limit",
                format!("stopped at its time limit (exit code {code}){stubborn}"),
                RunStatus::Killed,
            ),
            (_, _, Some(err)) => (JobState::Failed, "failed", format!("could not start: {err}"), RunStatus::Failed),
            (_, Some(0), _) => (JobState::Finished, "finished", "exit code 0".to_owned(), RunStatus::Finished),
            (_, code, _) => (
                JobState::Failed,
                "failed",
                format!("exit code {}", code.map_or("none (killed by a signal)".into(), |c| c.to_string())),
                RunStatus::Failed,
            ),
        };
        let preempted = job.stop_reason == Some(StopReason::Preempt);
        let lost = if requeue { held_ms * i64::from(job.resources.gpus.max(1)) } else { 0 };
        let edit = |j: &mut Job| {
            j.state = state;
            j.exit_code = report.exit_code;
            j.stop_reason = None;
            j.stop_deadline = None;
            j.agent = None;
            j.gpu_indices.clear();
            if requeue {
                j.lost_gpu_ms += lost;
                if preempted {
                    j.preemptions += 1;
                }
            } else {
                j.ended_at = Some(now);
            }
        };
        let outcome = kind.to_owned();
        let change =
            JobChange { edit: &edit, span: SpanOp::Close { at: now, outcome }, event: Some(event(now, kind, message)) };
        let Some(updated) = self.store.update_job(id, &PLACED, &change, now).await? else {
            return self.store.get_job(id).await.map_err(Into::into);
        };
        if run_status == RunStatus::Queued {
            let u = RunUpdate { status: Some(RunStatus::Queued), ..Default::default() };
            self.store.update_run(id, &u, now).await?;
            self.notify(id);
        } else {
            self.end_run(id, run_status, report.exit_code).await?;
        }
        self.runner.wake.notify_one();
        Ok(updated)
    }

    pub async fn append_log(&self, run: &str, piece: LogAppend) -> Result<u64> {
        const MAX_PIECE: usize = 1024 * 1024;
        if piece.offset > i64::MAX as u64 {
            return Err(ApiError::invalid(format!("offset is at most {}", i64::MAX)));
        }
        if piece.text.len() > MAX_PIECE {
            return Err(ApiError::new(ErrorCode::PayloadTooLarge, "send output in pieces of at most 1 MiB"));
        }
        let r = self.resolve_for(run, Role::Editor).await?;
        Ok(self.store.append_log(r.id, piece.offset, &piece.text).await?)
    }

    pub async fn read_log(&self, run: &str, offset: u64) -> Result<LogChunk> {
        if offset > i64::MAX as u64 {
            return Err(ApiError::invalid(format!("offset is at most {}", i64::MAX)));
        }
        let r = self.resolve(run).await?;
        let (text, next, end) = self.store.read_log(r.id, offset, 256 * 1024).await?;
        let done = r.status.is_terminal() && text.is_empty();
        Ok(LogChunk { offset, text, next_offset: next, done, end })
    }

    /// GPU-, CPU- and memory-hours and cost per user, team, project or budget, from the
    /// job spans since `since`.
    pub async fn usage(&self, q: UsageQuery) -> Result<UsageAnswer> {
        let by = q.by.unwrap_or_else(|| "user".into());
        if !["user", "team", "project", "budget", "job"].contains(&by.as_str()) {
            return Err(ApiError::invalid(format!("by '{by}' is not one of team, user, project, budget, job")));
        }
        let now = now_ms();
        let since = q.since.unwrap_or(now - 30 * 86_400_000);
        let settings = self.runner_settings().await?;
        let cfg = config(&settings);
        let spans = self.store.job_spans(since, false).await?;
        let mut rows: BTreeMap<String, UsageRow> = BTreeMap::new();
        let mut jobs: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for s in &spans {
            let key = match by.as_str() {
                "user" => Some(s.job.owner.clone()),
                "team" => Some(s.job.team.clone().unwrap_or_else(|| "(no team)".into())),
                "project" => Some(s.job.project.clone()),
                "job" => Some(s.job.short_id.clone()),
                _ => s.job.budget.clone(),
            };
            let Some(key) = key else { continue };
            let from = s.started_at.max(since);
            let to = s.ended_at.unwrap_or(now);
            let hours = (to - from).max(0) as f64 / 3_600_000.0;
            let row = rows.entry(key.clone()).or_insert_with(|| UsageRow {
                key: key.clone(),
                jobs: 0,
                gpu_hours: 0.0,
                cpu_hours: 0.0,
                mem_gb_hours: 0.0,
                cost: 0.0,
                limit: (by == "budget").then(|| settings.budgets.get(&key).copied()).flatten(),
                preemptions: 0,
                lost_gpu_hours: 0.0,
            });
            jobs.entry(key).or_default().insert(s.job.run_id.clone());
            row.gpu_hours += hours * f64::from(s.job.resources.gpus);
            row.cpu_hours += hours * f64::from(s.job.resources.cpus);
            row.mem_gb_hours += hours * s.job.resources.mem_mb as f64 / 1024.0;
            row.cost += sched::price(&cfg, &sched_job(&s.job)) * hours;
            if s.outcome.as_deref() == Some("preempted") {
                row.preemptions += 1;
            }
            if matches!(s.outcome.as_deref(), Some("preempted" | "lost" | "requeued")) {
                row.lost_gpu_hours += hours * f64::from(s.job.resources.gpus);
            }
        }
        for (k, ids) in jobs {
            if let Some(r) = rows.get_mut(&k) {
                r.jobs = ids.len() as u64;
            }
        }
        Ok(UsageAnswer { by, since, rows: rows.into_values().collect() })
    }

    /// One scheduling round, when this replica holds the scheduler's lease: lost agents'
    /// jobs requeued, time limits enforced, then the policy's decisions applied.
    /// Returns whether this replica led the round.
    pub async fn schedule_round(&self) -> Result<bool> {
        let now = now_ms();
        if !self.store.take_lease(LEASE, &self.runner.holder, now, LEASE_MS).await? {
            return Ok(false);
        }
        self.requeue_lost(now).await?;
        let snap = self.snapshot(now).await?;
        self.enforce_time_limits(&snap, now).await?;
        let grace = snap.settings.grace_s as i64 * 1000;
        let decisions = sched::schedule(&snap.state, &snap.cfg);
        let mut reasons = HashMap::new();
        for d in &decisions {
            match d {
                sched::Decision::Start { job, node, gpus } => {
                    let Some(j) = snap.jobs.get(job) else { continue };
                    if self.duplicate_finished_meanwhile(j, now).await? {
                        continue;
                    }
                    let agent = agent_name(&snap.agents, node);
                    let (node, gpus) = (node.clone(), gpus.clone());
                    let shown = gpus.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
                    let edit = move |x: &mut Job| {
                        x.state = JobState::Assigned;
                        x.agent = Some(node.clone());
                        x.gpu_indices = gpus.clone();
                        x.attempts += 1;
                        x.started_at = None;
                    };
                    let change = JobChange {
                        edit: &edit,
                        span: SpanOp::None,
                        event: Some(event(
                            now,
                            "assigned",
                            format!("placed on {agent} (GPUs {})", if shown.is_empty() { "none" } else { &shown }),
                        )),
                    };
                    self.store.update_job(run_id(j)?, &[JobState::Queued], &change, now).await?;
                }
                sched::Decision::Preempt { job, for_job, reason } => {
                    let Some(j) = snap.jobs.get(job) else { continue };
                    let short = snap.jobs.get(for_job).map_or(for_job.clone(), |f| f.short_id.clone());
                    let edit = |x: &mut Job| {
                        x.state = JobState::Stopping;
                        x.stop_reason = Some(StopReason::Preempt);
                        x.stop_deadline = Some(now + grace);
                    };
                    let msg = format!("preempted for {short}: {}", reason.replace(for_job, &short));
                    let change =
                        JobChange { edit: &edit, span: SpanOp::None, event: Some(event(now, "preempting", msg)) };
                    self.store.update_job(run_id(j)?, &[JobState::Running, JobState::Assigned], &change, now).await?;
                }
                sched::Decision::Wait { job, reason, .. } => {
                    let mut text = reason.to_string();
                    for a in &snap.agents {
                        text = text.replace(&a.id, &a.name);
                    }
                    for (id, j) in &snap.jobs {
                        if text.contains(id.as_str()) {
                            text = text.replace(id.as_str(), &j.short_id);
                        }
                    }
                    reasons.insert(job.clone(), text);
                }
            }
        }
        // A wait reason is recorded when it changes, not every round.
        let changed: Vec<(String, String)> = {
            let mut last = self.runner.reasons.lock().expect("reasons lock");
            let changed =
                reasons.iter().filter(|(k, v)| last.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
            *last = reasons;
            changed
        };
        for (job, why) in changed.into_iter().take(1000) {
            if let Some(j) = snap.jobs.get(&job) {
                self.store.add_job_event(run_id(j)?, &event(now, "waiting", why)).await?;
            }
        }
        Ok(true)
    }

    /// The duplicate check again at start: a job submitted with `refuse` whose identical
    /// run finished while it waited is cancelled, naming that run, instead of run again.
    async fn duplicate_finished_meanwhile(&self, j: &Job, now: Millis) -> Result<bool> {
        if j.on_duplicate.as_deref() != Some("refuse") || j.attempts > 0 {
            return Ok(false);
        }
        let id = run_id(j)?;
        let run = self.store.get_run(&cairn_domain::RunRef::Id(id)).await?;
        let Some(fp) = &run.fingerprint else { return Ok(false) };
        let filter = cairn_query::parse_filter(&format!("fingerprint = \"{fp}\" and status = \"finished\""))?;
        let query =
            cairn_store::RunQuery { project: Some(run.project.clone()), filter, limit: 2, ..Default::default() };
        let Some(earlier) = self.store.search_runs(&query).await?.runs.into_iter().find(|r| r.id != id) else {
            return Ok(false);
        };
        let edit = |x: &mut Job| {
            x.state = JobState::Cancelled;
            x.ended_at = Some(now);
        };
        let msg = format!(
            "not started: an identical run, {} by {}, finished while it waited (submit with --replicate or --force to run it anyway)",
            earlier.short_id, earlier.owner
        );
        let change = JobChange { edit: &edit, span: SpanOp::None, event: Some(event(now, "duplicate", msg)) };
        if self.store.update_job(id, &[JobState::Queued], &change, now).await?.is_some() {
            let mut u = RunUpdate { status: Some(RunStatus::Killed), ended_at: Some(now), ..Default::default() };
            u.set_tags.insert("cairn.duplicate_of".into(), earlier.id.to_string());
            self.store.update_run(id, &u, now).await?;
            self.notify(id);
        }
        Ok(true)
    }

    /// Agents silent past the timeout are lost; their jobs go back to the queue.
    async fn requeue_lost(&self, now: Millis) -> Result<()> {
        let timeout = self.limits.agent_timeout.as_millis() as i64;
        let agents = self.store.list_agents().await?;
        let lost: Vec<&Agent> = agents.iter().filter(|a| a.state != "lost" && a.heartbeat_at < now - timeout).collect();
        if lost.is_empty() {
            return Ok(());
        }
        let placed = self.store.list_jobs(&PLACED, u32::MAX).await?;
        for a in lost {
            tracing::warn!(agent = %a.name, "no poll for {:?}: lost; its jobs are requeued", self.limits.agent_timeout);
            self.store.set_agent_state(&a.id, "lost").await?;
            for j in placed.iter().filter(|j| j.agent.as_deref() == Some(&a.id)) {
                let held = j.started_at.map_or(0, |s| (now - s).max(0));
                let cancelled = j.stop_reason == Some(StopReason::Cancel);
                let edit = |x: &mut Job| {
                    x.state = if cancelled { JobState::Cancelled } else { JobState::Queued };
                    x.agent = None;
                    x.gpu_indices.clear();
                    x.stop_reason = None;
                    x.stop_deadline = None;
                    if cancelled {
                        x.ended_at = Some(now);
                    } else {
                        x.lost_gpu_ms += held * i64::from(x.resources.gpus.max(1));
                    }
                };
                let msg = format!(
                    "agent {} stopped answering; {}",
                    a.name,
                    if cancelled {
                        "the job was being cancelled"
                    } else {
                        "requeued to resume from its last checkpoint"
                    }
                );
                let change = JobChange {
                    edit: &edit,
                    span: SpanOp::Close { at: now, outcome: "lost".into() },
                    event: Some(event(now, "lost", msg)),
                };
                if self.store.update_job(run_id(j)?, &PLACED, &change, now).await?.is_some() {
                    let id = run_id(j)?;
                    if cancelled {
                        self.end_run(id, RunStatus::Killed, None).await?;
                    } else {
                        let u = RunUpdate { status: Some(RunStatus::Queued), ..Default::default() };
                        self.store.update_run(id, &u, now).await?;
                        self.notify(id);
                    }
                }
            }
        }
        Ok(())
    }

    async fn enforce_time_limits(&self, snap: &Snapshot, now: Millis) -> Result<()> {
        let grace = snap.settings.grace_s as i64 * 1000;
        for j in snap.jobs.values() {
            let (JobState::Running, Some(start), Some(limit)) = (j.state, j.started_at, j.resources.time_limit_s)
            else {
                continue;
            };
            if now - start < limit as i64 * 1000 {
                continue;
            }
            let edit = |x: &mut Job| {
                x.state = JobState::Stopping;
                x.stop_reason = Some(StopReason::TimeLimit);
                x.stop_deadline = Some(now + grace);
            };
            let msg = format!("reached its time limit of {limit} s: SIGTERM, then SIGKILL after {} s", grace / 1000);
            let change = JobChange { edit: &edit, span: SpanOp::None, event: Some(event(now, "time_limit", msg)) };
            self.store.update_job(run_id(j)?, &[JobState::Running], &change, now).await?;
        }
        Ok(())
    }
}

/// Names each job's agent, as people know it.
fn name_agents(jobs: &mut [Job], agents: &[Agent]) {
    for j in jobs {
        j.agent_name = j.agent.as_deref().map(|a| agent_name(agents, a));
    }
}

/// Flags jobs whose allocated GPUs have been under 5 % busy for the idle window.
fn mark_idle(jobs: &mut [Job], settings: &RunnerSettings, now: Millis) {
    let window = settings.idle_after_s as i64 * 1000;
    for j in jobs {
        j.idle = j.state == JobState::Running && j.idle_since.is_some_and(|t| now - t >= window);
    }
}

/// GPUs under this mean utilisation (percent) count as idle.
const IDLE_PERCENT: f64 = 5.0;

fn agent_name(agents: &[Agent], id: &str) -> String {
    agents.iter().find(|a| a.id == id).map_or_else(|| id.to_owned(), |a| a.name.clone())
}

fn span_cost(cfg: &sched::Config, s: &SpanRecord, now: Millis) -> f64 {
    let hours = (s.ended_at.unwrap_or(now) - s.started_at).max(0) as f64 / 3_600_000.0;
    sched::price(cfg, &sched_job(&s.job)) * hours
}

fn blank_job() -> Job {
    Job { priority: "normal".into(), ..Job::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_read_as_written_and_others_are_named() {
        assert_eq!(parse_scope("team:vision").unwrap(), sched::Scope::Team("vision".into()));
        assert_eq!(parse_scope("user:ana").unwrap(), sched::Scope::User("ana".into()));
        let e = parse_scope("group:x").unwrap_err();
        assert!(e.message.contains("user:NAME, team:NAME or project:NAME"), "{}", e.message);
    }

    #[test]
    fn the_month_starts_on_its_first_day() {
        // 2026-12-07T02:00:00Z → 2026-12-01T00:00:00Z.
        assert_eq!(month_start(1796608800000), 1796083200000);
    }
}

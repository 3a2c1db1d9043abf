//! The scheduler as a pure policy: the queue, the nodes, what runs, quotas, budgets
//! and recent usage in; decisions out (start this job on that node with those GPUs,
//! preempt that job, or wait, and why). No I/O and no clock: the caller passes `now`,
//! so every rule is unit-tested with time it controls, and the loop that applies the
//! decisions (one leader among server replicas) lives with the store.
//!
//! Order of the queue: priority class, then fair share (SLURM's multifactor idea:
//! `2^(-usage/share)`, usage decaying with a half-life), then submission time. Each
//! job in that order starts on the node it fits best (fewest GPUs left over) unless a
//! quota or budget holds it; the first job that does not fit reserves the earliest
//! time it could start, and later jobs start only where they cannot delay it
//! (backfill). An urgent or high job that does not fit may preempt lower-class,
//! preemptible work of teams over their fair share.

use std::collections::{BTreeMap, BTreeSet};

pub type Millis = i64;

/// How urgent a job is; a higher class is always considered first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub fn parse(s: &str) -> Option<Priority> {
        Some(match s.to_ascii_lowercase().as_str() {
            "low" => Priority::Low,
            "normal" => Priority::Normal,
            "high" => Priority::High,
            "urgent" => Priority::Urgent,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
    /// May take resources from lower classes.
    fn preempts(self) -> bool {
        self >= Priority::High
    }
}

/// What a job asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    pub gpus: u32,
    /// Only nodes whose GPUs are of this type.
    pub gpu_type: Option<String>,
    pub cpus: u32,
    pub mem_mb: u64,
    /// Longest it may run; unknown jobs are assumed to run for `Config::default_runtime`.
    pub time_limit_ms: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub user: String,
    pub team: Option<String>,
    pub project: String,
    pub priority: Priority,
    pub request: Request,
    pub preemptible: bool,
    pub budget: Option<String>,
    pub submitted_at: Millis,
}

/// A compute node as its agent reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    /// GPU indices on the node (`CUDA_VISIBLE_DEVICES` values).
    pub gpus: Vec<u32>,
    pub gpu_type: Option<String>,
    pub cpus: u32,
    pub mem_mb: u64,
    /// Takes only preemptible jobs.
    pub spot: bool,
    /// Not taking new jobs (draining, lost).
    pub cordoned: bool,
}

/// A job that is running, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    pub job: Job,
    pub node: String,
    pub gpus: Vec<u32>,
    pub started_at: Millis,
}

/// Who a quota or a fair-share weight applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    User(String),
    Team(String),
    Project(String),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::User(u) => write!(f, "user {u}"),
            Scope::Team(t) => write!(f, "team {t}"),
            Scope::Project(p) => write!(f, "project {p}"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quota {
    /// GPUs in use at once.
    pub max_gpus: Option<u32>,
    /// GPU-hours over the last seven days.
    pub gpu_hours_per_week: Option<f64>,
    /// Money over the current month.
    pub money_per_month: Option<f64>,
}

/// What each scope has used, as the store aggregates it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Used {
    pub gpu_hours_week: f64,
    pub money_month: f64,
    /// GPU-seconds with exponential decay (the fair-share input).
    pub decayed_gpu_seconds: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    pub limit: f64,
    pub spent: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Assumed runtime of a job without a time limit (for backfill reservations).
    pub default_runtime_ms: Millis,
    /// Price of one GPU-hour by GPU type (`None`: any type), for money quotas.
    pub gpu_hour_price: BTreeMap<Option<String>, f64>,
}

impl Default for Config {
    fn default() -> Config {
        Config { default_runtime_ms: 24 * 3_600_000, gpu_hour_price: BTreeMap::new() }
    }
}

/// Everything the policy looks at.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub now: Millis,
    pub nodes: Vec<Node>,
    pub queued: Vec<Job>,
    pub running: Vec<Running>,
    pub quotas: BTreeMap<Scope, Quota>,
    pub used: BTreeMap<Scope, Used>,
    pub budgets: BTreeMap<String, Budget>,
    /// Fair-share weights of users and teams (absent: 1).
    pub shares: BTreeMap<Scope, f64>,
}

/// Why a job waits.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitReason {
    /// No agent is connected at all.
    NoNodes,
    /// No node could ever hold it.
    TooLarge {
        largest_gpus: u32,
    },
    /// No node has the room now; `free_gpus` is the most free on one fitting node.
    Resources {
        free_gpus: u32,
    },
    /// Room is held for a job ahead of it that would be delayed.
    Reserved {
        for_job: String,
    },
    Quota {
        scope: Scope,
        what: &'static str,
        limit: f64,
        used: f64,
    },
    Budget {
        name: String,
        limit: f64,
        spent: f64,
    },
    /// Lower-priority work is being preempted to make room.
    Preempting {
        victims: Vec<String>,
    },
}

impl std::fmt::Display for WaitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitReason::NoNodes => write!(f, "no agent is connected: start `cairn agent` on a machine that can run it"),
            WaitReason::TooLarge { largest_gpus } => {
                write!(f, "no node can hold it: the largest has {largest_gpus} GPU(s)")
            }
            WaitReason::Resources { free_gpus } => {
                write!(f, "waiting for resources: at most {free_gpus} GPU(s) free on a node that fits")
            }
            WaitReason::Reserved { for_job } => {
                write!(f, "waiting behind {for_job}, which has priority and would be delayed (backfill)")
            }
            WaitReason::Quota { scope, what, limit, used } => {
                write!(f, "{scope} is at its quota of {limit} {what} ({used:.2} used)")
            }
            WaitReason::Budget { name, limit, spent } => {
                write!(f, "budget {name} is spent ({spent:.2} of {limit:.2})")
            }
            WaitReason::Preempting { victims } => write!(f, "preempting {} to make room", victims.join(", ")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Start {
        job: String,
        node: String,
        gpus: Vec<u32>,
    },
    /// Ask `job` to checkpoint and stop (SIGTERM, then the grace period), to be
    /// requeued; `for_job` is what it makes room for.
    Preempt {
        job: String,
        for_job: String,
        reason: String,
    },
    Wait {
        job: String,
        position: usize,
        reason: WaitReason,
    },
}

/// A node's free resources during one round.
#[derive(Debug, Clone)]
struct Free<'a> {
    node: &'a Node,
    gpus: BTreeSet<u32>,
    cpus: u32,
    mem_mb: u64,
}

fn fits_type(node: &Node, req: &Request) -> bool {
    req.gpu_type.as_ref().is_none_or(|t| node.gpu_type.as_ref() == Some(t))
}

/// Whether a node could ever hold the request (empty).
fn could_hold(node: &Node, job: &Job) -> bool {
    fits_type(node, &job.request)
        && node.gpus.len() as u32 >= job.request.gpus
        && node.cpus >= job.request.cpus
        && node.mem_mb >= job.request.mem_mb
        && (!node.spot || job.preemptible)
}

fn fits_now(f: &Free<'_>, job: &Job) -> bool {
    !f.node.cordoned
        && could_hold(f.node, job)
        && f.gpus.len() as u32 >= job.request.gpus
        && f.cpus >= job.request.cpus
        && f.mem_mb >= job.request.mem_mb
}

fn scopes(job: &Job) -> Vec<Scope> {
    let mut s = vec![Scope::User(job.user.clone()), Scope::Project(job.project.clone())];
    if let Some(t) = &job.team {
        s.push(Scope::Team(t.clone()));
    }
    s
}

/// `2^(-usage/share)`, with usage and share as fractions of the whole: 1 for an idle
/// user, 0.5 for one who used exactly their share, toward 0 above it.
pub fn fair_share(state: &State, scope: &Scope) -> f64 {
    let total_usage: f64 = state
        .used
        .iter()
        .filter(|(s, _)| std::mem::discriminant(*s) == std::mem::discriminant(scope))
        .map(|(_, u)| u.decayed_gpu_seconds)
        .sum();
    if total_usage <= 0.0 {
        return 1.0;
    }
    let weight = |s: &Scope| state.shares.get(s).copied().unwrap_or(1.0);
    let mut members: BTreeSet<&Scope> = state.used.keys().collect();
    members.extend(state.shares.keys());
    let total_weight: f64 = members
        .iter()
        .filter(|s| std::mem::discriminant(**s) == std::mem::discriminant(scope))
        .map(|s| weight(s))
        .sum::<f64>()
        .max(weight(scope));
    let usage = state.used.get(scope).map_or(0.0, |u| u.decayed_gpu_seconds) / total_usage;
    let share = weight(scope) / total_weight;
    2f64.powf(-usage / share.max(1e-9))
}

/// The order jobs are considered in, highest first.
fn ordered(state: &State) -> Vec<&Job> {
    // Each user's and team's factor once, not once per job.
    let mut users: BTreeMap<&str, f64> = BTreeMap::new();
    let mut teams: BTreeMap<&str, f64> = BTreeMap::new();
    let mut jobs: Vec<(&Job, f64)> = Vec::with_capacity(state.queued.len());
    for j in &state.queued {
        let user = *users.entry(&j.user).or_insert_with(|| fair_share(state, &Scope::User(j.user.clone())));
        let team = match &j.team {
            Some(t) => *teams.entry(t).or_insert_with(|| fair_share(state, &Scope::Team(t.clone()))),
            None => 1.0,
        };
        jobs.push((j, user * team));
    }
    jobs.sort_by(|(a, fa), (b, fb)| {
        b.priority
            .cmp(&a.priority)
            .then(fb.total_cmp(fa))
            .then(a.submitted_at.cmp(&b.submitted_at))
            .then(a.id.cmp(&b.id))
    });
    jobs.into_iter().map(|(j, _)| j).collect()
}

fn runtime(cfg: &Config, job: &Job) -> Millis {
    job.request.time_limit_ms.unwrap_or(cfg.default_runtime_ms)
}

/// One scheduling round.
pub fn schedule(state: &State, cfg: &Config) -> Vec<Decision> {
    let mut free: Vec<Free<'_>> = state
        .nodes
        .iter()
        .map(|n| Free { node: n, gpus: n.gpus.iter().copied().collect(), cpus: n.cpus, mem_mb: n.mem_mb })
        .collect();
    // Concurrent GPUs per scope, counting what starts this round.
    let mut in_use: BTreeMap<Scope, u32> = BTreeMap::new();
    for r in &state.running {
        if let Some(f) = free.iter_mut().find(|f| f.node.id == r.node) {
            for g in &r.gpus {
                f.gpus.remove(g);
            }
            f.cpus = f.cpus.saturating_sub(r.job.request.cpus);
            f.mem_mb = f.mem_mb.saturating_sub(r.job.request.mem_mb);
        }
        for s in scopes(&r.job) {
            *in_use.entry(s).or_default() += r.job.request.gpus;
        }
    }
    let largest = state.nodes.iter().map(|n| n.gpus.len() as u32).max().unwrap_or(0);
    let mut decisions = Vec::new();
    // The first job that could not start holds a reservation: (node, time it starts).
    let mut reservation: Option<(String, Millis, String)> = None;
    let mut preempted: BTreeSet<String> = BTreeSet::new();
    // Whether any node could hold a request of this shape, asked once per shape.
    let mut holdable: std::collections::HashMap<(Option<&str>, bool, u32, u32, u64), bool> = Default::default();
    // Nodes by (free GPUs, name, index), regular and spot apart: best fit is a range
    // query, not a scan of every node for every job.
    let mut by_free: [BTreeSet<(u32, &str, usize)>; 2] = [BTreeSet::new(), BTreeSet::new()];
    for (i, f) in free.iter().enumerate().filter(|(_, f)| !f.node.cordoned) {
        by_free[usize::from(f.node.spot)].insert((f.gpus.len() as u32, f.node.id.as_str(), i));
    }
    let any_preemptible = state.running.iter().any(|r| r.job.preemptible);
    // Jobs started this round: (node, expected end, GPUs), for reservations.
    let mut started_now: Vec<(&str, Millis, u32)> = Vec::new();
    for (position, job) in ordered(state).into_iter().enumerate() {
        let wait = |reason| Decision::Wait { job: job.id.clone(), position, reason };
        let r = &job.request;
        let shape = (r.gpu_type.as_deref(), job.preemptible, r.gpus, r.cpus, r.mem_mb);
        if state.nodes.is_empty() {
            decisions.push(wait(WaitReason::NoNodes));
            continue;
        }
        if !*holdable.entry(shape).or_insert_with(|| state.nodes.iter().any(|n| could_hold(n, job))) {
            decisions.push(wait(WaitReason::TooLarge { largest_gpus: largest }));
            continue;
        }
        if let Some(reason) = held_by_quota_or_budget(state, cfg, job, &in_use) {
            decisions.push(wait(reason));
            continue;
        }
        // Best fit: the node left with the fewest free GPUs. With a reservation, a
        // job may use the reserved node only if it ends before the reserved start
        // (backfill).
        let ends = state.now + runtime(cfg, job);
        let usable = |i: usize| {
            let f = &free[i];
            fits_now(f, job) && !reservation.as_ref().is_some_and(|(node, at, _)| &f.node.id == node && ends > *at)
        };
        // Nodes in order of free GPUs (then name): the first that fits is the best fit.
        let mut best: Option<(u32, &str, usize)> = None;
        for (spot, set) in by_free.iter().enumerate() {
            if spot == 1 && !job.preemptible {
                continue;
            }
            if let Some(k) = set.range((job.request.gpus, "", 0)..).find(|k| usable(k.2))
                && best.is_none_or(|b| *k < b)
            {
                best = Some(*k);
            }
        }
        let best = best.map(|k| k.2);
        if let Some(i) = best {
            let spot = usize::from(free[i].node.spot);
            by_free[spot].remove(&(free[i].gpus.len() as u32, free[i].node.id.as_str(), i));
            let f = &mut free[i];
            let gpus: Vec<u32> = f.gpus.iter().copied().take(job.request.gpus as usize).collect();
            for g in &gpus {
                f.gpus.remove(g);
            }
            f.cpus -= job.request.cpus;
            f.mem_mb -= job.request.mem_mb;
            if !state.quotas.is_empty() {
                for s in scopes(job) {
                    *in_use.entry(s).or_default() += job.request.gpus;
                }
            }
            started_now.push((f.node.id.as_str(), state.now + runtime(cfg, job), job.request.gpus));
            decisions.push(Decision::Start { job: job.id.clone(), node: f.node.id.clone(), gpus });
            by_free[spot].insert((free[i].gpus.len() as u32, free[i].node.id.as_str(), i));
            continue;
        }
        if job.priority.preempts()
            && any_preemptible
            && let Some((node, victims)) = victims_for(state, job, &free, &preempted)
        {
            for v in &victims {
                preempted.insert(v.clone());
                decisions.push(Decision::Preempt {
                    job: v.clone(),
                    for_job: job.id.clone(),
                    reason: format!("{} job {} needs room on {node}", job.priority.as_str(), job.id),
                });
            }
            // Nothing else may take what the victims free.
            reservation.get_or_insert((node, Millis::MAX, job.id.clone()));
            decisions.push(wait(WaitReason::Preempting { victims }));
            continue;
        }
        if let Some((_, _, ahead)) = &reservation {
            decisions.push(wait(WaitReason::Reserved { for_job: ahead.clone() }));
        } else {
            let most_free = free.iter().filter(|f| could_hold(f.node, job)).map(|f| f.gpus.len() as u32).max();
            decisions.push(wait(WaitReason::Resources { free_gpus: most_free.unwrap_or(0) }));
            reservation =
                earliest_start(state, cfg, job, &free, &started_now).map(|(node, at)| (node, at, job.id.clone()));
        }
    }
    decisions
}

fn held_by_quota_or_budget(
    state: &State,
    cfg: &Config,
    job: &Job,
    in_use: &BTreeMap<Scope, u32>,
) -> Option<WaitReason> {
    let scoped = if state.quotas.is_empty() { Vec::new() } else { scopes(job) };
    for scope in scoped {
        let Some(q) = state.quotas.get(&scope) else { continue };
        let used = state.used.get(&scope).cloned().unwrap_or_default();
        if let Some(max) = q.max_gpus {
            let now = in_use.get(&scope).copied().unwrap_or(0);
            if now + job.request.gpus > max {
                return Some(WaitReason::Quota {
                    scope,
                    what: "concurrent GPUs",
                    limit: f64::from(max),
                    used: f64::from(now),
                });
            }
        }
        if let Some(limit) = q.gpu_hours_per_week
            && used.gpu_hours_week >= limit
            && job.request.gpus > 0
        {
            return Some(WaitReason::Quota { scope, what: "GPU-hours a week", limit, used: used.gpu_hours_week });
        }
        if let Some(limit) = q.money_per_month
            && used.money_month >= limit
            && price(cfg, job) > 0.0
        {
            return Some(WaitReason::Quota { scope, what: "money a month", limit, used: used.money_month });
        }
    }
    if let Some(name) = &job.budget
        && let Some(b) = state.budgets.get(name)
        && b.spent >= b.limit
    {
        return Some(WaitReason::Budget { name: name.clone(), limit: b.limit, spent: b.spent });
    }
    None
}

/// Usage decayed over `elapsed` with a half-life (SLURM's `PriorityDecayHalfLife`):
/// what was used a half-life ago counts half.
pub fn decay(usage: f64, elapsed_ms: Millis, half_life_ms: Millis) -> f64 {
    if half_life_ms <= 0 {
        return usage;
    }
    usage * 0.5f64.powf(elapsed_ms.max(0) as f64 / half_life_ms as f64)
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decision::Start { job, node, gpus } => {
                let gpus: Vec<String> = gpus.iter().map(u32::to_string).collect();
                write!(
                    f,
                    "start {job} on {node} (GPUs {})",
                    if gpus.is_empty() { "none".into() } else { gpus.join(",") }
                )
            }
            Decision::Preempt { job, reason, .. } => write!(f, "preempt {job}: {reason}"),
            Decision::Wait { job, position, reason } => write!(f, "{job} waits (position {}): {reason}", position + 1),
        }
    }
}

/// A stretch of time a job held resources (one per start: a preempted and resumed
/// job has several).
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub job: Job,
    pub started_at: Millis,
    /// `None`: still running (counted up to `now`).
    pub ended_at: Option<Millis>,
}

/// What each user, team and project used, as the scheduler reads it: GPU-hours over
/// the last seven days, money this month (from `month_start`), and GPU-seconds decayed
/// by `half_life_ms` up to `now` (the fair-share input).
pub fn usage(
    spans: &[Span],
    cfg: &Config,
    now: Millis,
    month_start: Millis,
    half_life_ms: Millis,
) -> BTreeMap<Scope, Used> {
    const WEEK: Millis = 7 * 24 * 3_600_000;
    let mut out: BTreeMap<Scope, Used> = BTreeMap::new();
    let hours = |from: Millis, to: Millis| (to - from).max(0) as f64 / 3_600_000.0;
    for s in spans {
        let end = s.ended_at.unwrap_or(now).min(now);
        let gpus = f64::from(s.job.request.gpus);
        let week = gpus * hours(s.started_at.max(now - WEEK), end);
        let month = price(cfg, &s.job) * hours(s.started_at.max(month_start), end);
        // Each second decays from when it was used: integrate 0.5^((now - t)/h) dt.
        let decayed = if half_life_ms <= 0 {
            gpus * (end - s.started_at).max(0) as f64 / 1000.0
        } else {
            let k = std::f64::consts::LN_2 / half_life_ms as f64;
            let weight = |t: Millis| (-(k * (now - t) as f64)).exp();
            gpus * (weight(end) - weight(s.started_at.min(end))) / k / 1000.0
        };
        for scope in scopes(&s.job) {
            let u = out.entry(scope).or_default();
            u.gpu_hours_week += week;
            u.money_month += month;
            u.decayed_gpu_seconds += decayed;
        }
    }
    out
}

/// Memory as people write it for `--mem`: `32G`, `512M`, `1.5T`, `64GB`, `2048` (MB).
pub fn parse_mem_mb(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.trim().parse().map_err(|_| format!("'{text}' is not an amount of memory such as 32G or 512M"))?;
    let per = match unit.trim().to_ascii_uppercase().trim_end_matches('B').trim_end_matches('I') {
        "" | "M" => 1.0,
        "K" => 1.0 / 1024.0,
        "G" => 1024.0,
        "T" => 1024.0 * 1024.0,
        _ => return Err(format!("'{text}': the unit must be K, M, G or T (as in 32G)")),
    };
    if !n.is_finite() || n < 0.0 {
        return Err(format!("'{text}' is not an amount of memory such as 32G or 512M"));
    }
    Ok((n * per).ceil() as u64)
}

/// Refuses at submit a request no node can ever hold, naming the largest node.
pub fn check_submittable(nodes: &[Node], job: &Job) -> Result<(), String> {
    // Size alone decides: a job waiting for regular capacity while only spot nodes are
    // connected waits, saying why.
    let sized = Job { preemptible: true, ..job.clone() };
    if nodes.is_empty() || nodes.iter().any(|n| could_hold(n, &sized)) {
        // With no agent connected yet the job waits, saying so.
        return Ok(());
    }
    let largest = nodes.iter().max_by_key(|n| (n.gpus.len(), n.cpus, n.mem_mb)).expect("not empty");
    let typed = job.request.gpu_type.as_deref().map_or(String::new(), |t| format!(" of type {t}"));
    Err(format!(
        "no node can run a job asking for {} GPU(s){typed}, {} CPUs and {} MB: the largest node, {}, has {} GPU(s) \
         ({}), {} CPUs and {} MB",
        job.request.gpus,
        job.request.cpus,
        job.request.mem_mb,
        largest.id,
        largest.gpus.len(),
        largest.gpu_type.as_deref().unwrap_or("untyped"),
        largest.cpus,
        largest.mem_mb
    ))
}

/// The full explanation of where a queued job stands (`cairn queue --why JOB`): this
/// round's decision, then each thing that could hold it: its place in the order, fair
/// share, quotas, budget, and every node and why it cannot take the job now.
pub fn explain(state: &State, cfg: &Config, job_id: &str) -> Option<Vec<String>> {
    let job = state.queued.iter().find(|j| j.id == job_id)?;
    let decisions = schedule(state, cfg);
    let mut out = Vec::new();
    if let Some(d) = decisions.iter().find(|d| match d {
        Decision::Start { job, .. } | Decision::Wait { job, .. } => job == job_id,
        Decision::Preempt { .. } => false,
    }) {
        out.push(d.to_string());
    }
    let ahead = ordered(state).iter().take_while(|j| j.id != job_id).count();
    let higher = state.queued.iter().filter(|j| j.priority > job.priority).count();
    out.push(format!(
        "priority {}: {ahead} job(s) ahead in the queue, {higher} of them in a higher class",
        job.priority.as_str()
    ));
    let user = fair_share(state, &Scope::User(job.user.clone()));
    out.push(match &job.team {
        Some(t) => format!(
            "fair share: user {} {user:.2}, team {t} {:.2} (1 = unused, 0.5 = exactly its share)",
            job.user,
            fair_share(state, &Scope::Team(t.clone()))
        ),
        None => format!("fair share: user {} {user:.2} (1 = unused, 0.5 = exactly its share)", job.user),
    });
    for scope in scopes(job) {
        let Some(q) = state.quotas.get(&scope) else { continue };
        let used = state.used.get(&scope).cloned().unwrap_or_default();
        let running: u32 =
            state.running.iter().filter(|r| scopes(&r.job).contains(&scope)).map(|r| r.job.request.gpus).sum();
        let mut parts = Vec::new();
        if let Some(m) = q.max_gpus {
            parts.push(format!("{running} of {m} concurrent GPUs"));
        }
        if let Some(h) = q.gpu_hours_per_week {
            parts.push(format!("{:.1} of {h} GPU-hours this week", used.gpu_hours_week));
        }
        if let Some(m) = q.money_per_month {
            parts.push(format!("{:.2} of {m:.2} this month", used.money_month));
        }
        out.push(format!("quota of {scope}: {}", parts.join(", ")));
    }
    if let Some(name) = &job.budget {
        out.push(match state.budgets.get(name) {
            Some(b) => format!("budget {name}: {:.2} of {:.2} spent", b.spent, b.limit),
            None => format!("budget {name}: not defined, so not limiting"),
        });
    }
    for n in &state.nodes {
        let busy: Vec<u32> =
            state.running.iter().filter(|r| r.node == n.id).flat_map(|r| r.gpus.iter().copied()).collect();
        let free = n.gpus.len() - busy.len();
        let why = if n.cordoned {
            "takes no new jobs (cordoned)".to_owned()
        } else if n.spot && !job.preemptible {
            "spot capacity, for preemptible jobs only".to_owned()
        } else if !fits_type(n, &job.request) {
            format!("has {} GPUs", n.gpu_type.as_deref().unwrap_or("untyped"))
        } else if (n.gpus.len() as u32) < job.request.gpus {
            format!("has {} GPU(s) in all", n.gpus.len())
        } else if n.cpus < job.request.cpus || n.mem_mb < job.request.mem_mb {
            format!("has {} CPUs and {} MB in all", n.cpus, n.mem_mb)
        } else {
            format!("{free} of {} GPU(s) free now", n.gpus.len())
        };
        out.push(format!("node {}: {why}", n.id));
    }
    Some(out)
}

/// When each queued job should start at the latest, by replaying rounds as running jobs
/// end at their time limits; at most `rounds` rounds. Jobs without a time limit are taken
/// to run on, so a start that waits only on them gets no estimate rather than a guess.
/// Quotas and budgets are held as they are now.
pub fn eta(state: &State, cfg: &Config, rounds: usize) -> BTreeMap<String, Millis> {
    let mut s = state.clone();
    // When each running job ends, if it can be told (a job past its limit: in a minute).
    let mut ends: BTreeMap<String, Option<Millis>> = s
        .running
        .iter()
        .map(|r| (r.job.id.clone(), r.job.request.time_limit_ms.map(|t| (r.started_at + t).max(state.now + 60_000))))
        .collect();
    let mut out = BTreeMap::new();
    for _ in 0..rounds {
        let mut started = Vec::new();
        for d in schedule(&s, cfg) {
            if let Decision::Start { job, node, gpus } = d {
                out.entry(job.clone()).or_insert(s.now);
                started.push((job, node, gpus));
            }
        }
        for (job, node, gpus) in started {
            if let Some(i) = s.queued.iter().position(|j| j.id == job) {
                let j = s.queued.remove(i);
                ends.insert(j.id.clone(), j.request.time_limit_ms.map(|t| s.now + t));
                s.running.push(Running { job: j, node, gpus, started_at: s.now });
            }
        }
        if s.queued.is_empty() {
            break;
        }
        // The next job to end at its limit; jobs without one hold their resources to the
        // end of the replay, so every estimate is a latest start.
        let Some(next) =
            s.running.iter().filter_map(|r| ends.get(&r.job.id).copied().flatten()).filter(|t| *t > s.now).min()
        else {
            break;
        };
        s.now = next;
        s.running.retain(|r| ends.get(&r.job.id).copied().flatten().is_some_and(|t| t > next));
    }
    out
}

/// Price of an hour of the job, by its GPUs.
pub fn price(cfg: &Config, job: &Job) -> f64 {
    let per =
        cfg.gpu_hour_price.get(&job.request.gpu_type).or_else(|| cfg.gpu_hour_price.get(&None)).copied().unwrap_or(0.0);
    per * f64::from(job.request.gpus)
}

/// When the job could start at the earliest, and where, as running jobs end at their
/// time limits (`None` when it cannot be told).
fn earliest_start(
    state: &State,
    cfg: &Config,
    job: &Job,
    free: &[Free<'_>],
    started_now: &[(&str, Millis, u32)],
) -> Option<(String, Millis)> {
    let mut best: Option<(String, Millis)> = None;
    for f in free.iter().filter(|f| could_hold(f.node, job) && !f.node.cordoned) {
        let mut ends: Vec<(Millis, u32)> = state
            .running
            .iter()
            .filter(|r| r.node == f.node.id)
            .map(|r| (r.started_at + runtime(cfg, &r.job), r.job.request.gpus))
            .chain(started_now.iter().filter(|(n, _, _)| *n == f.node.id).map(|&(_, end, g)| (end, g)))
            .collect();
        ends.sort();
        let mut gpus = f.gpus.len() as u32;
        let mut at = state.now;
        for (end, g) in ends {
            if gpus >= job.request.gpus {
                break;
            }
            gpus += g;
            at = end;
        }
        if gpus >= job.request.gpus && best.as_ref().is_none_or(|(_, t)| at < *t) {
            best = Some((f.node.id.clone(), at));
        }
    }
    best
}

/// Running jobs to preempt so `job` fits on one node: lower class, preemptible, of a
/// team (or user) over its fair share; the fewest GPU-minutes lost.
fn victims_for(
    state: &State,
    job: &Job,
    free: &[Free<'_>],
    already: &BTreeSet<String>,
) -> Option<(String, Vec<String>)> {
    let over_share = |r: &Running| {
        let scope = match &r.job.team {
            Some(t) => Scope::Team(t.clone()),
            None => Scope::User(r.job.user.clone()),
        };
        fair_share(state, &scope) < 0.5
    };
    let mut best: Option<(String, Vec<String>, i64)> = None;
    for f in free.iter().filter(|f| could_hold(f.node, job) && !f.node.cordoned) {
        let mut pool: Vec<&Running> = state
            .running
            .iter()
            .filter(|r| {
                r.node == f.node.id
                    && r.job.preemptible
                    && r.job.priority < job.priority
                    && over_share(r)
                    && !already.contains(&r.job.id)
            })
            .collect();
        // The most recently started first: they lose the least work.
        pool.sort_by_key(|r| std::cmp::Reverse(r.started_at));
        let mut gpus = f.gpus.len() as u32;
        let mut chosen = Vec::new();
        let mut lost = 0i64;
        for r in pool {
            if gpus >= job.request.gpus {
                break;
            }
            gpus += r.job.request.gpus;
            lost += (state.now - r.started_at) * i64::from(r.job.request.gpus);
            chosen.push(r.job.id.clone());
        }
        if gpus >= job.request.gpus && !chosen.is_empty() && best.as_ref().is_none_or(|(_, _, l)| lost < *l) {
            best = Some((f.node.id.clone(), chosen, lost));
        }
    }
    best.map(|(n, v, _)| (n, v))
}

#[cfg(test)]
mod tests;

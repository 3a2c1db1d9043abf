//! The runner from the command line: `cairn submit`, `queue`, `cancel`, `requeue`,
//! `logs`, `usage`, and the scheduler's settings (`quota`, `price`, `budget`, `share`).

use super::run;
use crate::output::{self, table};
use anyhow::{Context, Result, bail};
use cairn_api::jobs::{QueueQuery, QuotaSetting, Resources, SubmitRequest, UsageQuery};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct SubmitArgs {
    /// GPUs the job needs, on one node
    #[arg(long, default_value_t = 0)]
    gpus: u32,
    /// Only GPUs of this type (as agents declare it, e.g. a100)
    #[arg(long)]
    gpu_type: Option<String>,
    /// CPU cores
    #[arg(long, default_value_t = 1)]
    cpus: u32,
    /// Memory, e.g. 32G or 512M
    #[arg(long, default_value = "1G")]
    mem: String,
    /// low, normal, high or urgent
    #[arg(long, default_value = "normal")]
    priority: String,
    /// Longest it may run, e.g. 6h, 30m, 90s; stopped (SIGTERM, then SIGKILL) past it
    #[arg(long)]
    time_limit: Option<String>,
    /// May be stopped to make room for urgent work (it resumes from its checkpoint) and run on spot nodes
    #[arg(long)]
    preemptible: bool,
    /// A named budget the job's cost is drawn from
    #[arg(long)]
    budget: Option<String>,
    /// The team its usage counts for (quotas and fair share)
    #[arg(long)]
    team: Option<String>,
    /// Run in this folder as it is when the job starts (on an agent that shares it),
    /// instead of a clean copy of the recorded commit
    #[arg(long, value_name = "DIR")]
    workdir: Option<std::path::PathBuf>,
    /// Run in the current folder as it is when the job starts (data and untracked files
    /// included), instead of a clean copy of the recorded commit
    #[arg(long, conflicts_with = "workdir")]
    in_place: bool,
    /// Print the job as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    run: run::Args,
}

/// `6h`, `30m`, `90s`, `2d`, or seconds.
pub fn parse_duration_s(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.trim().parse().with_context(|| format!("'{text}' is not a duration such as 6h, 30m or 90s"))?;
    let per = match unit.trim() {
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        other => bail!("'{text}': the unit '{other}' is not one of s, m, h, d (as in 6h)"),
    };
    let secs = (n * per).round();
    if !secs.is_finite() || secs < 1.0 {
        bail!("'{text}' is not a duration of at least a second");
    }
    Ok(secs as u64)
}

pub async fn submit(args: SubmitArgs, ctx: &crate::Ctx) -> Result<ExitCode> {
    let mem_mb = cairn_sched::parse_mem_mb(&args.mem).map_err(anyhow::Error::msg)?;
    let time_limit_s = args.time_limit.as_deref().map(parse_duration_s).transpose()?;
    let prepared = match run::prepare(&args.run).await? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let client = ctx.client().await?;
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let workdir = match &args.workdir {
        Some(d) => d.canonicalize().with_context(|| format!("--workdir {}: no such folder", d.display()))?,
        None => cwd,
    };
    let req = SubmitRequest {
        run: prepared.new.clone(),
        resources: Resources { gpus: args.gpus, gpu_type: args.gpu_type, cpus: args.cpus, mem_mb, time_limit_s },
        priority: Some(args.priority),
        preemptible: args.preemptible,
        budget: args.budget,
        team: args.team,
        workdir: Some(workdir.display().to_string()),
        in_place: args.in_place || args.workdir.is_some(),
        env: Default::default(),
    };
    let job = match client.submit(&req).await {
        Ok(j) => j,
        Err(e) => {
            if e.code() == Some(cairn_api::ErrorCode::Unschedulable) {
                eprintln!("error: the job was not queued: {e}");
                return Ok(ExitCode::from(2));
            }
            return Ok(run::refused(&e));
        }
    };
    let record = client.run(&job.run_id).await?;
    run::store_captured(&client, &prepared, &record).await;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&job)?);
    } else {
        eprintln!(
            "cairn: job {} queued in project {} ({} GPU(s), priority {}); `cairn queue --why {}` says where it stands",
            job.short_id, job.project, job.resources.gpus, job.priority, job.short_id
        );
        crate::outln!("{}", job.short_id);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct QueueArgs {
    /// Only this project's jobs
    #[arg(long, short)]
    project: Option<String>,
    /// Only this team's jobs
    #[arg(long)]
    team: Option<String>,
    /// Only your jobs
    #[arg(long)]
    mine: bool,
    /// Also jobs that ended
    #[arg(long)]
    all: bool,
    /// The full explanation for one job: the decision, its place, fair share, quotas, budget, every node
    #[arg(long, value_name = "JOB")]
    why: Option<String>,
    #[arg(long)]
    json: bool,
}

pub async fn queue(args: QueueArgs, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    if let Some(job) = &args.why {
        let why = client.job_why(job).await?;
        if args.json {
            crate::outln!("{}", serde_json::to_string_pretty(&why)?);
            return Ok(());
        }
        let j = &why.job;
        let mut text =
            format!("job {} ({}) in {}, by {}: {}\n", j.short_id, j.name, j.project, j.owner, j.state.as_str());
        for l in &why.lines {
            text.push_str(&format!("  {l}\n"));
        }
        if !why.events.is_empty() {
            text.push_str("events:\n");
            for e in &why.events {
                text.push_str(&format!("  {}  {:<11} {}\n", output::time(e.at), e.kind, e.message));
            }
        }
        crate::outln!("{}", text.trim_end());
        return Ok(());
    }
    let owner = if args.mine { Some(whoami(&client).await?) } else { None };
    let q = QueueQuery { project: args.project, team: args.team, owner, all: args.all };
    let answer = client.queue(&q).await?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let now = chrono::Utc::now().timestamp_millis();
    let rows: Vec<Vec<String>> = answer
        .jobs
        .iter()
        .map(|j| {
            vec![
                j.position.filter(|p| *p > 0).map_or("-".into(), |p| p.to_string()),
                j.short_id.clone(),
                output::clip(&j.name, 24),
                j.owner.clone(),
                j.team.clone().unwrap_or_default(),
                j.priority.clone(),
                format!("{}", j.resources.gpus),
                j.state.as_str().to_owned(),
                match (j.state, j.eta) {
                    (cairn_api::jobs::JobState::Queued, Some(t)) if t > now => {
                        format!("in {}", output::duration_ms(t - now))
                    }
                    (cairn_api::jobs::JobState::Queued, Some(_)) => "now".into(),
                    _ => "-".into(),
                },
                j.reason.clone().unwrap_or_else(|| placed(j)),
            ]
        })
        .collect();
    let mut text = if rows.is_empty() {
        "the queue is empty".to_owned()
    } else {
        table(&["#", "job", "name", "owner", "team", "priority", "gpus", "state", "eta", "why / where"], &rows)
    };
    for w in &answer.warnings {
        text.push_str(&format!("\nwarning: {w}"));
    }
    crate::outln!("{}", text);
    Ok(())
}

fn placed(j: &cairn_api::jobs::Job) -> String {
    match (&j.agent, j.state.is_placed()) {
        (Some(a), true) => {
            let gpus: Vec<String> = j.gpu_indices.iter().map(u32::to_string).collect();
            let stop = j.stop_reason.map_or(String::new(), |r| format!(", stopping ({})", r.as_str()));
            format!(
                "on {} (GPUs {}){stop}",
                short_agent(a),
                if gpus.is_empty() { "none".into() } else { gpus.join(",") }
            )
        }
        _ => j.exit_code.map_or(String::new(), |c| format!("exit code {c}")),
    }
}

fn short_agent(id: &str) -> &str {
    id.strip_prefix("agent-").map_or(id, |rest| &rest[rest.len().saturating_sub(8)..])
}

async fn whoami(client: &cairn_client::Client) -> Result<String> {
    if let Ok(me) = client.whoami().await
        && let Some(name) = me.user.map(|u| u.name)
    {
        return Ok(name);
    }
    Ok(run::owner())
}

#[derive(clap::Args)]
pub struct CancelArgs {
    /// Jobs (run ids or short ids)
    #[arg(required = true)]
    jobs: Vec<String>,
}

pub async fn cancel(args: CancelArgs, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let answer = client.cancel_jobs(&args.jobs).await?;
    for j in answer.jobs {
        crate::outln!(
            "{}",
            format!(
                "{}: {}",
                j.short_id,
                if j.state.is_terminal() {
                    "cancelled".to_owned()
                } else {
                    "stopping (SIGTERM, then SIGKILL after the grace period)".to_owned()
                }
            )
        );
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct RequeueArgs {
    job: String,
}

pub async fn requeue(args: RequeueArgs, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let j = client.requeue(&args.job).await?;
    crate::outln!(
        "{}",
        format!(
            "{}: {}",
            j.short_id,
            if j.state == cairn_api::jobs::JobState::Queued {
                "back in the queue"
            } else {
                "stopping; it goes back to the queue once stopped"
            }
        )
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct LogsArgs {
    /// A run or job (id or short id)
    run: String,
    /// Keep printing output as it comes, until the run ends
    #[arg(long, short)]
    follow: bool,
}

pub async fn logs(args: LogsArgs, ctx: &crate::Ctx) -> Result<()> {
    use std::io::Write;
    let client = ctx.client().await?;
    let mut offset = 0;
    loop {
        let chunk = client.read_log(&args.run, offset).await?;
        if !chunk.text.is_empty() {
            let mut out = std::io::stdout().lock();
            out.write_all(chunk.text.as_bytes())?;
            out.flush()?;
        }
        offset = chunk.next_offset;
        if chunk.text.is_empty() {
            if !args.follow || chunk.done {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
    if offset == 0 && !args.follow {
        // Runs of `cairn run` keep their output as an artifact, not as live pieces.
        let run = client.run(&args.run).await?;
        match client.read_artifact(&run.id.to_string(), run::LOG_ARTIFACT, 256 * 1024 * 1024).await {
            Ok(Some(bytes)) => std::io::stdout().write_all(&bytes)?,
            Ok(None) => {
                eprintln!("cairn: the output of run {} is over 256 MiB: download it from its artifacts", run.short_id)
            }
            Err(_) => eprintln!("cairn: run {} has no output recorded", run.short_id),
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct UsageArgs {
    /// team, user, project, budget or job
    #[arg(long, default_value = "user")]
    by: String,
    /// Since how long ago, e.g. 7d or 24h [default: 30d]
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    json: bool,
}

pub async fn usage(args: UsageArgs, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let since = match &args.since {
        Some(s) => Some(chrono::Utc::now().timestamp_millis() - parse_duration_s(s)? as i64 * 1000),
        None => None,
    };
    let answer = client.usage(&UsageQuery { by: Some(args.by), since }).await?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = answer
        .rows
        .iter()
        .map(|r| {
            vec![
                r.key.clone(),
                r.jobs.to_string(),
                format!("{:.2}", r.gpu_hours),
                format!("{:.2}", r.cpu_hours),
                format!("{:.2}", r.mem_gb_hours),
                match r.limit {
                    Some(l) if l > 0.0 => format!("{:.2} of {:.2} ({:.0} %)", r.cost, l, 100.0 * r.cost / l),
                    _ => format!("{:.2}", r.cost),
                },
                r.preemptions.to_string(),
                format!("{:.2}", r.lost_gpu_hours),
            ]
        })
        .collect();
    crate::outln!(
        "{}",
        if rows.is_empty() {
            format!("no job used compute since {}", output::time(answer.since))
        } else {
            table(
                &[answer.by.as_str(), "jobs", "GPU-h", "CPU-h", "mem GB-h", "cost", "preemptions", "preempted GPU-h"],
                &rows,
            )
        }
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct QuotaArgs {
    #[command(subcommand)]
    action: QuotaAction,
}

#[derive(clap::Subcommand)]
enum QuotaAction {
    /// Set the quota of a user, team or project (limits left out are removed)
    Set {
        /// user:NAME, team:NAME or project:NAME
        scope: String,
        /// GPUs in use at once (0 holds every job that needs one)
        #[arg(long)]
        gpus: Option<u32>,
        /// GPU-hours over the last seven days
        #[arg(long)]
        gpu_hours_week: Option<f64>,
        /// Money this month, at the GPU-hour prices
        #[arg(long)]
        money_month: Option<f64>,
    },
    /// Remove a quota
    Rm { scope: String },
    /// List quotas, prices, budgets and fair-share weights
    Ls,
}

pub async fn quota(args: QuotaArgs, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let mut s = client.runner_settings().await?;
    match args.action {
        QuotaAction::Set { scope, gpus, gpu_hours_week, money_month } => {
            s.quotas.retain(|q| q.scope != scope);
            s.quotas.push(QuotaSetting {
                scope,
                max_gpus: gpus,
                gpu_hours_per_week: gpu_hours_week,
                money_per_month: money_month,
            });
        }
        QuotaAction::Rm { scope } => {
            let before = s.quotas.len();
            s.quotas.retain(|q| q.scope != scope);
            if before == s.quotas.len() {
                bail!("{scope} has no quota");
            }
        }
        QuotaAction::Ls => {
            crate::outln!("{}", settings_text(&s));
            return Ok(());
        }
    }
    let s = client.put_runner_settings(&s).await?;
    crate::outln!("{}", settings_text(&s));
    Ok(())
}

#[derive(clap::Args)]
pub struct PriceArgs {
    #[command(subcommand)]
    action: PriceAction,
}

#[derive(clap::Subcommand)]
enum PriceAction {
    /// Set a GPU-hour price: gpu=a100:2.10/h (or gpu=*:1.00/h for any type)
    Set { price: String },
}

/// `gpu=a100:2.10/h` → ("a100", 2.10).
pub fn parse_price(text: &str) -> Result<(String, f64)> {
    let bad = || anyhow::anyhow!("'{text}' is not a price such as gpu=a100:2.10/h (or gpu=*:1.00/h for any GPU)");
    let rest = text.strip_prefix("gpu=").ok_or_else(bad)?;
    let (kind, amount) = rest.split_once(':').ok_or_else(bad)?;
    let amount = amount.strip_suffix("/h").unwrap_or(amount);
    let v: f64 = amount.trim().trim_start_matches('$').parse().map_err(|_| bad())?;
    if kind.is_empty() || !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    Ok((kind.to_owned(), v))
}

pub async fn price(args: PriceArgs, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let mut s = client.runner_settings().await?;
    let PriceAction::Set { price } = args.action;
    let (kind, v) = parse_price(&price)?;
    s.gpu_hour_prices.insert(kind, v);
    let s = client.put_runner_settings(&s).await?;
    crate::outln!("{}", settings_text(&s));
    Ok(())
}

#[derive(clap::Args)]
pub struct BudgetArgs {
    #[command(subcommand)]
    action: BudgetAction,
}

#[derive(clap::Subcommand)]
enum BudgetAction {
    /// Set a named budget's limit (money): jobs with --budget NAME draw from it
    Set { name: String, limit: f64 },
    /// Spend against each budget
    Ls,
}

pub async fn budget(args: BudgetArgs, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    match args.action {
        BudgetAction::Set { name, limit } => {
            cairn_domain::check_name("budget", &name)?;
            let mut s = client.runner_settings().await?;
            s.budgets.insert(name, limit);
            client.put_runner_settings(&s).await?;
        }
        BudgetAction::Ls => {}
    }
    usage(UsageArgs { by: "budget".into(), since: Some("36500d".into()), json: false }, ctx).await
}

#[derive(clap::Args)]
pub struct ShareArgs {
    /// user:NAME or team:NAME
    scope: String,
    /// Fair-share weight (default for everyone: 1)
    weight: f64,
}

pub async fn share(args: ShareArgs, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let mut s = client.runner_settings().await?;
    s.shares.insert(args.scope, args.weight);
    let s = client.put_runner_settings(&s).await?;
    crate::outln!("{}", settings_text(&s));
    Ok(())
}

fn settings_text(s: &cairn_api::jobs::RunnerSettings) -> String {
    let mut out = String::new();
    if s.quotas.is_empty() {
        out.push_str("quotas: none\n");
    } else {
        let rows: Vec<Vec<String>> = s
            .quotas
            .iter()
            .map(|q| {
                vec![
                    q.scope.clone(),
                    q.max_gpus.map_or("-".into(), |v| v.to_string()),
                    q.gpu_hours_per_week.map_or("-".into(), |v| format!("{v}")),
                    q.money_per_month.map_or("-".into(), |v| format!("{v:.2}")),
                ]
            })
            .collect();
        out.push_str(&table(&["quota", "GPUs at once", "GPU-h / week", "money / month"], &rows));
        out.push('\n');
    }
    let prices: Vec<String> = s.gpu_hour_prices.iter().map(|(k, v)| format!("{k} {v:.2}/h")).collect();
    out.push_str(&format!("GPU-hour prices: {}\n", if prices.is_empty() { "none".into() } else { prices.join(", ") }));
    let budgets: Vec<String> = s.budgets.iter().map(|(k, v)| format!("{k} {v:.2}")).collect();
    out.push_str(&format!("budgets: {}\n", if budgets.is_empty() { "none".into() } else { budgets.join(", ") }));
    let shares: Vec<String> = s.shares.iter().map(|(k, v)| format!("{k} {v}")).collect();
    out.push_str(&format!(
        "fair-share weights: {} (usage half-life {} h; grace period {} s)",
        if shares.is_empty() { "all 1".into() } else { shares.join(", ") },
        s.half_life_hours,
        s.grace_s
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_prices_read_as_people_write_them() {
        assert_eq!(parse_duration_s("6h").unwrap(), 21_600);
        assert_eq!(parse_duration_s("30m").unwrap(), 1_800);
        assert_eq!(parse_duration_s("90").unwrap(), 90);
        assert!(parse_duration_s("soon").unwrap_err().to_string().contains("6h"));
        assert!(parse_duration_s("3w").unwrap_err().to_string().contains("s, m, h, d"));
        assert_eq!(parse_price("gpu=a100:2.10/h").unwrap(), ("a100".into(), 2.10));
        assert_eq!(parse_price("gpu=*:1/h").unwrap(), ("*".into(), 1.0));
        assert!(parse_price("a100=2").unwrap_err().to_string().contains("gpu=a100:2.10/h"));
    }
}

//! The runner's tables: jobs, their spans and events, agents, the scheduler's lease,
//! settings and live logs. Every change to a job is a compare-and-set on its state
//! (`UPDATE … WHERE state IN (…)` first, in the transaction that makes the rest of the
//! change), so two replicas or two agents racing for the same job cannot both win.

use super::{SqlStore, Tx, parse_json, run_id_text};
use crate::map_err;
use cairn_domain::runner::{Agent, Job, JobEvent, JobState, Resources, StopReason};
use cairn_domain::{Millis, RunId};
use cairn_store::{JobChange, Result, SpanOp, SpanRecord, StoreError};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

const JOB_COLUMNS: &str = "j.run_id, r.short_id, p.name AS project, r.name, j.owner, j.team, j.priority, j.gpus, \
    j.gpu_type, j.cpus, j.mem_mb, j.time_limit_s, j.preemptible, j.budget, j.workdir, j.in_place, j.env, r.command, j.state, \
    j.agent_id, j.gpu_indices, j.submitted_at, j.started_at, j.ended_at, j.exit_code, j.attempts, j.preemptions, \
    j.lost_gpu_ms, j.stop_reason, j.stop_deadline, j.on_duplicate, j.gpu_utilisation, j.idle_since";
const JOB_FROM: &str = "jobs j JOIN runs r ON r.id = j.run_id JOIN projects p ON p.id = r.project_id";

fn decode_job(row: &AnyRow) -> Result<Job> {
    let g = map_err;
    let state: String = row.try_get("state").map_err(g)?;
    let stop: Option<String> = row.try_get("stop_reason").map_err(g)?;
    let opt_u64 =
        |c: &str| -> Result<Option<u64>> { Ok(row.try_get::<Option<i64>, _>(c).map_err(g)?.map(|v| v as u64)) };
    Ok(Job {
        run_id: row.try_get("run_id").map_err(g)?,
        short_id: row.try_get("short_id").map_err(g)?,
        project: row.try_get("project").map_err(g)?,
        name: row.try_get("name").map_err(g)?,
        owner: row.try_get("owner").map_err(g)?,
        team: row.try_get("team").map_err(g)?,
        priority: row.try_get("priority").map_err(g)?,
        resources: Resources {
            gpus: row.try_get::<i64, _>("gpus").map_err(g)? as u32,
            gpu_type: row.try_get("gpu_type").map_err(g)?,
            cpus: row.try_get::<i64, _>("cpus").map_err(g)? as u32,
            mem_mb: row.try_get::<i64, _>("mem_mb").map_err(g)? as u64,
            time_limit_s: opt_u64("time_limit_s")?,
        },
        preemptible: row.try_get::<i64, _>("preemptible").map_err(g)? != 0,
        budget: row.try_get("budget").map_err(g)?,
        workdir: row.try_get("workdir").map_err(g)?,
        in_place: row.try_get::<i64, _>("in_place").map_err(g)? != 0,
        env: parse_json("env", row.try_get("env").map_err(g)?)?.unwrap_or_default(),
        command: parse_json("command", row.try_get("command").map_err(g)?)?.unwrap_or_default(),
        state: JobState::parse(&state).ok_or_else(|| StoreError::Internal(format!("unknown job state {state}")))?,
        agent: row.try_get("agent_id").map_err(g)?,
        agent_name: None,
        gpu_indices: parse_json("gpu_indices", row.try_get("gpu_indices").map_err(g)?)?.unwrap_or_default(),
        submitted_at: row.try_get("submitted_at").map_err(g)?,
        started_at: row.try_get("started_at").map_err(g)?,
        ended_at: row.try_get("ended_at").map_err(g)?,
        exit_code: row.try_get::<Option<i64>, _>("exit_code").map_err(g)?.map(|c| c as i32),
        attempts: row.try_get::<i64, _>("attempts").map_err(g)? as u32,
        preemptions: row.try_get::<i64, _>("preemptions").map_err(g)? as u32,
        lost_gpu_ms: row.try_get("lost_gpu_ms").map_err(g)?,
        stop_reason: stop.as_deref().and_then(StopReason::parse),
        stop_deadline: row.try_get("stop_deadline").map_err(g)?,
        on_duplicate: row.try_get("on_duplicate").map_err(g)?,
        gpu_utilisation: row.try_get("gpu_utilisation").map_err(g)?,
        idle_since: row.try_get("idle_since").map_err(g)?,
        idle: false,
        position: None,
        reason: None,
        eta: None,
    })
}

fn decode_agent(row: &AnyRow) -> Result<Agent> {
    let g = map_err;
    let mut agent: Agent = parse_json("registration", row.try_get("registration").map_err(g)?)?
        .ok_or_else(|| StoreError::Internal("agent without registration".into()))?;
    agent.id = row.try_get("id").map_err(g)?;
    agent.state = row.try_get("state").map_err(g)?;
    agent.registered_at = row.try_get("registered_at").map_err(g)?;
    agent.heartbeat_at = row.try_get("heartbeat_at").map_err(g)?;
    agent.gpu_utilisation = row.try_get("gpu_utilisation").map_err(g)?;
    Ok(agent)
}

fn states_in(states: &[JobState], first: usize) -> String {
    let list: Vec<String> = (0..states.len()).map(|i| format!("${}", first + i)).collect();
    list.join(", ")
}

impl SqlStore {
    async fn job_in(&self, tx: &mut Tx, run: &str) -> Result<Job> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM {JOB_FROM} WHERE j.run_id = $1");
        let row =
            sqlx::query(AssertSqlSafe(sql)).bind(run.to_owned()).fetch_optional(&mut **tx).await.map_err(map_err)?;
        decode_job(&row.ok_or_else(|| StoreError::not_found("job", run))?)
    }

    async fn event_in(tx: &mut Tx, run: &str, e: &JobEvent) -> Result<()> {
        sqlx::query("INSERT INTO job_events (run_id, at, kind, message) VALUES ($1, $2, $3, $4)")
            .bind(run.to_owned())
            .bind(e.at)
            .bind(e.kind.clone())
            .bind(e.message.clone())
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    pub(super) async fn create_job_sql(&self, job: &Job, now: Millis) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let r = &job.resources;
        sqlx::query(
            "INSERT INTO jobs (run_id, owner, team, priority, gpus, gpu_type, cpus, mem_mb, time_limit_s, \
             preemptible, budget, workdir, env, state, gpu_indices, submitted_at, updated_at, on_duplicate, in_place) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'queued', '[]', $14, $14, $15, $16)",
        )
        .bind(job.run_id.clone())
        .bind(job.owner.clone())
        .bind(job.team.clone())
        .bind(job.priority.clone())
        .bind(i64::from(r.gpus))
        .bind(r.gpu_type.clone())
        .bind(i64::from(r.cpus))
        .bind(r.mem_mb as i64)
        .bind(r.time_limit_s.map(|t| t as i64))
        .bind(i64::from(job.preemptible))
        .bind(job.budget.clone())
        .bind(job.workdir.clone())
        .bind(serde_json::to_string(&job.env).expect("a map serialises"))
        .bind(job.submitted_at)
        .bind(job.on_duplicate.clone())
        .bind(i64::from(job.in_place))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let event = JobEvent { at: now, kind: "submitted".into(), message: format!("submitted by {}", job.owner) };
        Self::event_in(&mut tx, &job.run_id, &event).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    pub(super) async fn get_job_sql(&self, run: RunId) -> Result<Job> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM {JOB_FROM} WHERE j.run_id = $1");
        let row =
            sqlx::query(AssertSqlSafe(sql)).bind(run_id_text(run)).fetch_optional(&self.pool).await.map_err(map_err)?;
        decode_job(&row.ok_or_else(|| StoreError::not_found("job", run))?)
    }

    pub(super) async fn list_jobs_sql(&self, states: &[JobState], limit: u32) -> Result<Vec<Job>> {
        let cond =
            if states.is_empty() { "1 = 1".to_owned() } else { format!("j.state IN ({})", states_in(states, 2)) };
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM {JOB_FROM} WHERE {cond} ORDER BY j.submitted_at, j.run_id LIMIT $1");
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(i64::from(limit));
        for s in states {
            q = q.bind(s.as_str());
        }
        q.fetch_all(&self.pool).await.map_err(map_err)?.iter().map(decode_job).collect()
    }

    pub(super) async fn update_job_sql(
        &self,
        run: RunId,
        expect: &[JobState],
        change: &JobChange<'_>,
        now: Millis,
    ) -> Result<Option<Job>> {
        let id = run_id_text(run);
        let mut tx = self.write_tx().await?;
        // The compare-and-set: on PostgreSQL the row stays locked until commit, and a
        // racing transaction re-checks the state after it and finds it changed.
        let sql = format!("UPDATE jobs SET updated_at = $2 WHERE run_id = $1 AND state IN ({})", states_in(expect, 3));
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(id.clone()).bind(now);
        for s in expect {
            q = q.bind(s.as_str());
        }
        if q.execute(&mut *tx).await.map_err(map_err)?.rows_affected() == 0 {
            return Ok(None);
        }
        let mut job = self.job_in(&mut tx, &id).await?;
        (change.edit)(&mut job);
        let q = sqlx::query(
            "UPDATE jobs SET state = $2, agent_id = $3, gpu_indices = $4, started_at = $5, ended_at = $6, \
             exit_code = $7, attempts = $8, preemptions = $9, lost_gpu_ms = $10, stop_reason = $11, \
             stop_deadline = $12, priority = $13, gpu_utilisation = $14, idle_since = $15 WHERE run_id = $1",
        )
        .bind(id.clone())
        .bind(job.state.as_str())
        .bind(job.agent.clone())
        .bind(serde_json::to_string(&job.gpu_indices).expect("indices serialise"))
        .bind(job.started_at)
        .bind(job.ended_at)
        .bind(job.exit_code.map(i64::from))
        .bind(i64::from(job.attempts))
        .bind(i64::from(job.preemptions))
        .bind(job.lost_gpu_ms)
        .bind(job.stop_reason.map(StopReason::as_str))
        .bind(job.stop_deadline)
        .bind(job.priority.clone());
        super::bind_real(q, job.gpu_utilisation).bind(job.idle_since).execute(&mut *tx).await.map_err(map_err)?;
        match &change.span {
            SpanOp::None => {}
            SpanOp::Open { at } => {
                sqlx::query("INSERT INTO job_spans (run_id, agent_id, attempt, started_at) VALUES ($1, $2, $3, $4)")
                    .bind(id.clone())
                    .bind(job.agent.clone().unwrap_or_default())
                    .bind(i64::from(job.attempts))
                    .bind(*at)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
            SpanOp::Close { at, outcome } => {
                sqlx::query("UPDATE job_spans SET ended_at = $2, outcome = $3 WHERE run_id = $1 AND ended_at IS NULL")
                    .bind(id.clone())
                    .bind(*at)
                    .bind(outcome.clone())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
        }
        if let Some(e) = &change.event {
            Self::event_in(&mut tx, &id, e).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(Some(job))
    }

    pub(super) async fn add_job_event_sql(&self, run: RunId, event: &JobEvent) -> Result<()> {
        let mut tx = self.write_tx().await?;
        Self::event_in(&mut tx, &run_id_text(run), event).await?;
        tx.commit().await.map_err(map_err)
    }

    pub(super) async fn job_events_sql(&self, run: RunId, limit: u32) -> Result<Vec<JobEvent>> {
        let rows = sqlx::query(
            "SELECT at, kind, message FROM (SELECT id, at, kind, message FROM job_events WHERE run_id = $1 \
             ORDER BY id DESC LIMIT $2) e ORDER BY id",
        )
        .bind(run_id_text(run))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(JobEvent {
                    at: r.try_get("at").map_err(map_err)?,
                    kind: r.try_get("kind").map_err(map_err)?,
                    message: r.try_get("message").map_err(map_err)?,
                })
            })
            .collect()
    }

    pub(super) async fn job_spans_sql(&self, since: Millis, budgeted_only: bool) -> Result<Vec<SpanRecord>> {
        let budget = if budgeted_only { " AND j.budget IS NOT NULL" } else { "" };
        let sql = format!(
            "SELECT {JOB_COLUMNS}, s.agent_id AS span_agent, s.attempt AS span_attempt, s.started_at AS span_start, \
             s.ended_at AS span_end, s.outcome AS span_outcome \
             FROM job_spans s JOIN jobs j ON j.run_id = s.run_id JOIN runs r ON r.id = j.run_id \
             JOIN projects p ON p.id = r.project_id \
             WHERE (s.ended_at IS NULL OR s.ended_at >= $1){budget} ORDER BY s.started_at, s.id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(since).fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(SpanRecord {
                    job: decode_job(r)?,
                    agent: r.try_get("span_agent").map_err(map_err)?,
                    attempt: r.try_get::<i64, _>("span_attempt").map_err(map_err)? as u32,
                    started_at: r.try_get("span_start").map_err(map_err)?,
                    ended_at: r.try_get("span_end").map_err(map_err)?,
                    outcome: r.try_get("span_outcome").map_err(map_err)?,
                })
            })
            .collect()
    }

    pub(super) async fn register_agent_sql(&self, agent: &Agent) -> Result<Agent> {
        // The same name is the same machine coming back: it keeps its id, so its jobs stay
        // its own. One upsert, so two registrations racing agree on the id.
        let id: String = sqlx::query_scalar(
            "INSERT INTO agents (id, name, registration, state, registered_at, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (name) DO UPDATE SET registration = excluded.registration, state = excluded.state, \
             registered_at = excluded.registered_at, heartbeat_at = excluded.heartbeat_at RETURNING id",
        )
        .bind(agent.id.clone())
        .bind(agent.name.clone())
        .bind(serde_json::to_string(agent).expect("an agent serialises"))
        .bind(agent.state.clone())
        .bind(agent.registered_at)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(Agent { id, ..agent.clone() })
    }

    pub(super) async fn agent_heartbeat_sql(
        &self,
        id: &str,
        state: &str,
        util: Option<f64>,
        now: Millis,
    ) -> Result<bool> {
        let _turn = self.writer_turn().await;
        let q = sqlx::query("UPDATE agents SET heartbeat_at = $2, state = $3, gpu_utilisation = $4 WHERE id = $1")
            .bind(id.to_owned())
            .bind(now)
            .bind(state.to_owned());
        let done = super::bind_real(q, util).execute(&self.pool).await.map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn set_agent_state_sql(&self, id: &str, state: &str) -> Result<()> {
        let _turn = self.writer_turn().await;
        sqlx::query("UPDATE agents SET state = $2 WHERE id = $1")
            .bind(id.to_owned())
            .bind(state.to_owned())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    pub(super) async fn list_agents_sql(&self) -> Result<Vec<Agent>> {
        let rows = sqlx::query(
            "SELECT id, registration, state, registered_at, heartbeat_at, gpu_utilisation FROM agents ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(decode_agent).collect()
    }

    pub(super) async fn take_lease_sql(&self, name: &str, holder: &str, now: Millis, ttl_ms: i64) -> Result<bool> {
        let _turn = self.writer_turn().await;
        // Insert when absent, else take over only an expired lease or renew one's own:
        // one statement, so two replicas cannot both win.
        let done = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < $4",
        )
        .bind(name.to_owned())
        .bind(holder.to_owned())
        .bind(now + ttl_ms)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn get_setting_sql(&self, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)
    }

    pub(super) async fn put_setting_sql(&self, key: &str, value: &str, now: Millis) -> Result<()> {
        let _turn = self.writer_turn().await;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key.to_owned())
        .bind(value.to_owned())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    pub(super) async fn append_log_sql(&self, run: RunId, offset: u64, text: &str) -> Result<u64> {
        let _turn = self.writer_turn().await;
        let id = run_id_text(run);
        let end = offset + text.len() as u64;
        sqlx::query(
            "INSERT INTO run_logs (run_id, offset_bytes, end_bytes, text) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (run_id, offset_bytes) DO NOTHING",
        )
        .bind(id.clone())
        .bind(offset as i64)
        .bind(end as i64)
        .bind(text.to_owned())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        self.log_end(&id).await
    }

    /// Where a run's stored output ends.
    async fn log_end(&self, run: &str) -> Result<u64> {
        let max: Option<i64> = sqlx::query_scalar("SELECT max(end_bytes) FROM run_logs WHERE run_id = $1")
            .bind(run.to_owned())
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(max.unwrap_or(0) as u64)
    }

    pub(super) async fn read_log_sql(&self, run: RunId, offset: u64, max_bytes: u64) -> Result<(String, u64, u64)> {
        let total = self.log_end(&run_id_text(run)).await?;
        let rows = sqlx::query(
            "SELECT offset_bytes, end_bytes, text FROM run_logs WHERE run_id = $1 AND end_bytes > $2 \
             ORDER BY offset_bytes LIMIT 1000",
        )
        .bind(run_id_text(run))
        .bind(offset.min(i64::MAX as u64) as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let mut out = String::new();
        let mut at = offset;
        for r in rows {
            let start = r.try_get::<i64, _>("offset_bytes").map_err(map_err)? as u64;
            let end = r.try_get::<i64, _>("end_bytes").map_err(map_err)? as u64;
            let text: String = r.try_get("text").map_err(map_err)?;
            if start > at && !out.is_empty() {
                // A gap (a piece not yet arrived): stop before it, so it is read next time.
                break;
            }
            let mut skip = at.saturating_sub(start) as usize;
            while skip < text.len() && !text.is_char_boundary(skip) {
                skip += 1;
            }
            out.push_str(&text[skip.min(text.len())..]);
            at = end.max(at);
            if out.len() as u64 >= max_bytes {
                break;
            }
        }
        Ok((out, at, total))
    }
}

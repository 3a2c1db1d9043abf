-- Schema version 11: the runner. A job is a run waiting for compute with a resource
-- request; agents are the compute nodes; spans are the stretches a job held resources
-- (usage, fair share, cost); events explain what happened to a job; one lease row
-- elects the replica that schedules; settings hold quotas, prices, budgets and
-- fair-share weights; run_logs hold a job's output as it is written.
CREATE TABLE jobs (
    run_id TEXT PRIMARY KEY REFERENCES runs (id),
    owner TEXT NOT NULL,
    team TEXT,
    priority TEXT NOT NULL,
    gpus BIGINT NOT NULL,
    gpu_type TEXT,
    cpus BIGINT NOT NULL,
    mem_mb BIGINT NOT NULL,
    time_limit_s BIGINT,
    preemptible BIGINT NOT NULL,
    budget TEXT,
    workdir TEXT,
    in_place BIGINT NOT NULL DEFAULT 0,
    env TEXT NOT NULL,
    state TEXT NOT NULL,
    agent_id TEXT,
    gpu_indices TEXT NOT NULL,
    submitted_at BIGINT NOT NULL,
    started_at BIGINT,
    ended_at BIGINT,
    exit_code BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    preemptions BIGINT NOT NULL DEFAULT 0,
    lost_gpu_ms BIGINT NOT NULL DEFAULT 0,
    stop_reason TEXT,
    stop_deadline BIGINT,
    on_duplicate TEXT,
    gpu_utilisation DOUBLE PRECISION,
    idle_since BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_state ON jobs (state, submitted_at);
CREATE INDEX jobs_agent ON jobs (agent_id) WHERE agent_id IS NOT NULL;

CREATE TABLE job_spans (
    id BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES jobs (run_id),
    agent_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    outcome TEXT
);
CREATE INDEX job_spans_end ON job_spans (ended_at);
CREATE INDEX job_spans_run ON job_spans (run_id);

CREATE TABLE job_events (
    id BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES jobs (run_id),
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX job_events_run ON job_events (run_id, id);

CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    registration TEXT NOT NULL,
    state TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    gpu_utilisation DOUBLE PRECISION
);

CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE run_logs (
    run_id TEXT NOT NULL REFERENCES runs (id),
    offset_bytes BIGINT NOT NULL,
    end_bytes BIGINT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (run_id, offset_bytes)
);

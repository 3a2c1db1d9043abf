-- Cairn store, schema version 1 (PostgreSQL). Times are milliseconds since the epoch.
CREATE TABLE cairn_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE projects (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    require_hypothesis BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    short_id TEXT NOT NULL UNIQUE,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    hypothesis TEXT,
    expected TEXT,
    verdict TEXT,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    ended_at BIGINT,
    exit_code BIGINT,
    config TEXT NOT NULL,
    command TEXT NOT NULL,
    code TEXT,
    data TEXT,
    environment TEXT,
    seeds TEXT NOT NULL,
    group_id TEXT,
    fingerprint TEXT,
    deleted_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX runs_project_created ON runs (project_id, created_at);
CREATE INDEX runs_created ON runs (created_at);
CREATE INDEX runs_fingerprint ON runs (fingerprint);
CREATE INDEX runs_group ON runs (group_id);

CREATE TABLE run_tags (
    run_id TEXT NOT NULL REFERENCES runs (id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX run_tags_key_value ON run_tags (key, value);

-- The config flattened for search: one row per leaf.
CREATE TABLE run_params (
    run_id TEXT NOT NULL REFERENCES runs (id),
    key TEXT NOT NULL,
    vtype TEXT NOT NULL,
    num DOUBLE PRECISION,
    txt TEXT,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX run_params_key_num ON run_params (key, num);
CREATE INDEX run_params_key_txt ON run_params (key, txt);

CREATE TABLE run_parents (
    child_id TEXT NOT NULL REFERENCES runs (id),
    parent_id TEXT NOT NULL REFERENCES runs (id),
    position BIGINT NOT NULL,
    PRIMARY KEY (child_id, parent_id)
);
CREATE INDEX run_parents_parent ON run_parents (parent_id);

CREATE TABLE metric_summaries (
    run_id TEXT NOT NULL REFERENCES runs (id),
    key TEXT NOT NULL,
    point_count BIGINT NOT NULL,
    last DOUBLE PRECISION,
    last_nan BIGINT NOT NULL,
    last_step BIGINT NOT NULL,
    last_ts BIGINT NOT NULL,
    min_value DOUBLE PRECISION,
    min_step BIGINT,
    max_value DOUBLE PRECISION,
    max_step BIGINT,
    chunks BIGINT NOT NULL,
    last_chunk_n BIGINT NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX metric_summaries_key_last ON metric_summaries (key, last);

CREATE TABLE metric_chunks (
    run_id TEXT NOT NULL REFERENCES runs (id),
    key TEXT NOT NULL,
    seq BIGINT NOT NULL,
    n BIGINT NOT NULL,
    min_step BIGINT NOT NULL,
    max_step BIGINT NOT NULL,
    steps BYTEA NOT NULL,
    vals BYTEA NOT NULL,
    ts BYTEA NOT NULL,
    PRIMARY KEY (run_id, key, seq)
);

CREATE TABLE artifacts (
    run_id TEXT NOT NULL REFERENCES runs (id),
    path TEXT NOT NULL,
    size BIGINT NOT NULL,
    blake3 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, path)
);

-- Cairn store, schema version 1 (SQLite). Times are milliseconds since the epoch.
CREATE TABLE cairn_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    require_hypothesis INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    short_id TEXT NOT NULL UNIQUE,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    hypothesis TEXT,
    expected TEXT,
    verdict TEXT,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    ended_at INTEGER,
    exit_code INTEGER,
    config TEXT NOT NULL,
    command TEXT NOT NULL,
    code TEXT,
    data TEXT,
    environment TEXT,
    seeds TEXT NOT NULL,
    group_id TEXT,
    fingerprint TEXT,
    deleted_at INTEGER,
    updated_at INTEGER NOT NULL
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
    num REAL,
    txt TEXT,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX run_params_key_num ON run_params (key, num);
CREATE INDEX run_params_key_txt ON run_params (key, txt);

CREATE TABLE run_parents (
    child_id TEXT NOT NULL REFERENCES runs (id),
    parent_id TEXT NOT NULL REFERENCES runs (id),
    position INTEGER NOT NULL,
    PRIMARY KEY (child_id, parent_id)
);
CREATE INDEX run_parents_parent ON run_parents (parent_id);

CREATE TABLE metric_summaries (
    run_id TEXT NOT NULL REFERENCES runs (id),
    key TEXT NOT NULL,
    point_count INTEGER NOT NULL,
    last REAL,
    last_nan INTEGER NOT NULL,
    last_step INTEGER NOT NULL,
    last_ts INTEGER NOT NULL,
    min_value REAL,
    min_step INTEGER,
    max_value REAL,
    max_step INTEGER,
    chunks INTEGER NOT NULL,
    last_chunk_n INTEGER NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX metric_summaries_key_last ON metric_summaries (key, last);

CREATE TABLE metric_chunks (
    run_id TEXT NOT NULL REFERENCES runs (id),
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    n INTEGER NOT NULL,
    min_step INTEGER NOT NULL,
    max_step INTEGER NOT NULL,
    steps BLOB NOT NULL,
    vals BLOB NOT NULL,
    ts BLOB NOT NULL,
    PRIMARY KEY (run_id, key, seq)
);

CREATE TABLE artifacts (
    run_id TEXT NOT NULL REFERENCES runs (id),
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    blake3 TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, path)
);

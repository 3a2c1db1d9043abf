-- Schema version 7: runs refused as duplicates of a finished run, so a project can show
-- how often the check saved a run and who keeps repeating what.
CREATE TABLE refusals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    at INTEGER NOT NULL,
    owner TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    duplicate_of TEXT NOT NULL,
    hypothesis TEXT,
    command TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX refusals_project_at ON refusals (project_id, at);

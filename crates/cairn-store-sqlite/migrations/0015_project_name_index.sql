-- Schema version 15: a project's runs by name (the runs table sorted by its name column)
-- read in index order instead of sorting every run of the project.
CREATE INDEX IF NOT EXISTS runs_project_name ON runs (project_id, name);

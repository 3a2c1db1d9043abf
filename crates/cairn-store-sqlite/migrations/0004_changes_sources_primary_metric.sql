-- Schema version 4: what differs from the run each run is compared with (JSON), where
-- each config key came from (JSON), and a project's primary metric (JSON).
ALTER TABLE runs ADD COLUMN changes TEXT;
ALTER TABLE runs ADD COLUMN config_sources TEXT;
ALTER TABLE projects ADD COLUMN primary_metric TEXT;

-- Schema version 2: packed metric chunks with a level of detail for chart reads,
-- and a kept run count per project. Chunks written before keep codec 0 and are still read.
ALTER TABLE metric_chunks ADD COLUMN codec INTEGER NOT NULL DEFAULT 0;
ALTER TABLE metric_chunks ADD COLUMN lod_steps BLOB;
ALTER TABLE metric_chunks ADD COLUMN lod_vals BLOB;
ALTER TABLE metric_chunks ADD COLUMN lod_ts BLOB;

-- Projects keep their live run count, instead of counting on every read.
ALTER TABLE projects ADD COLUMN run_count INTEGER NOT NULL DEFAULT 0;
UPDATE projects SET run_count = (SELECT count(*) FROM runs r WHERE r.project_id = projects.id AND r.deleted_at IS NULL);

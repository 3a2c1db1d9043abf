-- Schema version 16: MLflow's experiment, model and model version searches page in the
-- store, ordered by creation or update time: indexes for both, and every project has an
-- update time.
UPDATE projects SET updated_at = created_at WHERE updated_at IS NULL;
CREATE INDEX IF NOT EXISTS projects_created ON projects (created_at, id);
CREATE INDEX IF NOT EXISTS projects_updated ON projects (updated_at, id);
CREATE INDEX IF NOT EXISTS registered_models_created ON registered_models (created_at, name);
CREATE INDEX IF NOT EXISTS registered_models_updated ON registered_models (updated_at, name);
CREATE INDEX IF NOT EXISTS model_versions_updated ON model_versions (updated_at);

-- Schema version 6: the model registry (registered models, their versions, aliases,
-- stages, tags) and the models runs log (MLflow 3's logged models).
CREATE TABLE registered_models (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    owner TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}',
    -- alias -> version number, as a JSON object
    aliases TEXT NOT NULL DEFAULT '{}',
    -- version numbers are never reused, even after a version is deleted
    next_version BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE model_versions (
    model_id BIGINT NOT NULL REFERENCES registered_models (id),
    version BIGINT NOT NULL,
    source TEXT NOT NULL,
    run_id TEXT,
    logged_model_id TEXT,
    run_link TEXT,
    stage TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    owner TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (model_id, version)
);
CREATE INDEX model_versions_run ON model_versions (run_id);

CREATE TABLE logged_models (
    id TEXT PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    name TEXT NOT NULL,
    source_run TEXT,
    status TEXT NOT NULL,
    status_message TEXT,
    model_type TEXT,
    owner TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    tags TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX logged_models_project ON logged_models (project_id);
CREATE INDEX logged_models_run ON logged_models (source_run);

-- Schema version 8: a team server. Users (local accounts with argon2id password hashes,
-- or OpenID Connect identities), API tokens (stored as hashes), teams and their
-- members, roles per project, project visibility, and the append-only audit log.
ALTER TABLE projects ADD COLUMN visibility TEXT NOT NULL DEFAULT 'org';

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    email TEXT,
    role TEXT NOT NULL DEFAULT 'editor',
    password_hash TEXT,
    oidc_issuer TEXT,
    oidc_subject TEXT,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT
);
CREATE UNIQUE INDEX users_oidc ON users (oidc_issuer, oidc_subject);

CREATE TABLE tokens (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE teams (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE TABLE team_members (
    team_id BIGINT NOT NULL REFERENCES teams (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

-- A principal (a user or a team) with a role on a project.
CREATE TABLE project_members (
    project_id BIGINT NOT NULL REFERENCES projects (id),
    kind TEXT NOT NULL,
    principal_id BIGINT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (project_id, kind, principal_id)
);
CREATE INDEX project_members_principal ON project_members (kind, principal_id);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    token TEXT,
    address TEXT,
    action TEXT NOT NULL,
    project TEXT,
    status INTEGER NOT NULL,
    details TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_project ON audit_log (project, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
-- Append-only: entries are never changed or removed through the store.
CREATE FUNCTION cairn_audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION cairn_audit_log_append_only();

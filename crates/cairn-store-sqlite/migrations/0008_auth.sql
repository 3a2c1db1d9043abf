-- Schema version 8: a team server. Users (local accounts with argon2id password hashes,
-- or OpenID Connect identities), API tokens (stored as hashes), teams and their
-- members, roles per project, project visibility, and the append-only audit log.
ALTER TABLE projects ADD COLUMN visibility TEXT NOT NULL DEFAULT 'org';

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    email TEXT,
    role TEXT NOT NULL DEFAULT 'editor',
    password_hash TEXT,
    oidc_issuer TEXT,
    oidc_subject TEXT,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);
CREATE UNIQUE INDEX users_oidc ON users (oidc_issuer, oidc_subject);

CREATE TABLE tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    last_used_at INTEGER
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE teams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

CREATE TABLE team_members (
    team_id INTEGER NOT NULL REFERENCES teams (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

-- A principal (a user or a team) with a role on a project.
CREATE TABLE project_members (
    project_id INTEGER NOT NULL REFERENCES projects (id),
    kind TEXT NOT NULL,
    principal_id INTEGER NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (project_id, kind, principal_id)
);
CREATE INDEX project_members_principal ON project_members (kind, principal_id);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
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
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

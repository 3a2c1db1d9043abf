//! Users, tokens, teams, project roles and the audit log. Organisations hold hundreds
//! of users and teams, not millions, so listings read whole tables. The audit log is
//! append-only: the schema's triggers refuse any change or removal.

use super::SqlStore;
use crate::map_err;
use cairn_domain::Millis;
use cairn_domain::auth::{
    AuditEntry, AuditQuery, Member, PrincipalKind, Role, Scope, Team, Token, TokenKind, TokenRecord, User, UserRecord,
    UserUpdate,
};
use cairn_store::{Result, StoreError};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

const USER_SELECT: &str = "SELECT id, name, display_name, email, role, password_hash, oidc_issuer, oidc_subject, \
     created_at, disabled_at FROM users";
const TOKEN_SELECT: &str = "SELECT t.id, u.name AS user_name, t.name, t.prefix, t.scope, t.kind, t.created_at, \
     t.expires_at, t.revoked_at, t.last_used_at, t.user_id FROM tokens t JOIN users u ON u.id = t.user_id";

fn bad(what: &str, v: &str) -> StoreError {
    StoreError::Internal(format!("{what} '{v}' in the store is unknown to this version"))
}

fn decode_user(row: &AnyRow) -> Result<UserRecord> {
    let role: String = row.try_get("role").map_err(map_err)?;
    let password_hash: Option<String> = row.try_get("password_hash").map_err(map_err)?;
    let oidc_issuer: Option<String> = row.try_get("oidc_issuer").map_err(map_err)?;
    Ok(UserRecord {
        user: User {
            id: row.try_get("id").map_err(map_err)?,
            name: row.try_get("name").map_err(map_err)?,
            display_name: row.try_get("display_name").map_err(map_err)?,
            email: row.try_get("email").map_err(map_err)?,
            role: Role::parse(&role).ok_or_else(|| bad("role", &role))?,
            local: password_hash.is_some(),
            oidc_issuer,
            created_at: row.try_get("created_at").map_err(map_err)?,
            disabled_at: row.try_get("disabled_at").map_err(map_err)?,
        },
        password_hash,
        oidc_subject: row.try_get("oidc_subject").map_err(map_err)?,
    })
}

fn decode_token(row: &AnyRow) -> Result<Token> {
    let scope: String = row.try_get("scope").map_err(map_err)?;
    let kind: String = row.try_get("kind").map_err(map_err)?;
    Ok(Token {
        id: row.try_get("id").map_err(map_err)?,
        user: row.try_get("user_name").map_err(map_err)?,
        name: row.try_get("name").map_err(map_err)?,
        prefix: row.try_get("prefix").map_err(map_err)?,
        scope: Scope::parse(&scope).ok_or_else(|| bad("scope", &scope))?,
        kind: TokenKind::parse(&kind).ok_or_else(|| bad("token kind", &kind))?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        expires_at: row.try_get("expires_at").map_err(map_err)?,
        revoked_at: row.try_get("revoked_at").map_err(map_err)?,
        last_used_at: row.try_get("last_used_at").map_err(map_err)?,
    })
}

fn decode_audit(row: &AnyRow) -> Result<AuditEntry> {
    let details: Option<String> = row.try_get("details").map_err(map_err)?;
    let status: i64 = row.try_get::<i64, _>("status").map_err(map_err)?;
    Ok(AuditEntry {
        id: row.try_get("id").map_err(map_err)?,
        at: row.try_get("at").map_err(map_err)?,
        actor: row.try_get("actor").map_err(map_err)?,
        token: row.try_get("token").map_err(map_err)?,
        address: row.try_get("address").map_err(map_err)?,
        action: row.try_get("action").map_err(map_err)?,
        project: row.try_get("project").map_err(map_err)?,
        status: u16::try_from(status).unwrap_or(0),
        details: details.and_then(|d| serde_json::from_str(&d).ok()),
    })
}

fn role_of(row: &AnyRow) -> Result<Role> {
    let role: String = row.try_get("role").map_err(map_err)?;
    Role::parse(&role).ok_or_else(|| bad("role", &role))
}

impl SqlStore {
    pub(super) async fn create_user_sql(&self, u: &UserRecord) -> Result<User> {
        let mut tx = self.write_tx().await?;
        let res = sqlx::query(
            "INSERT INTO users (name, display_name, email, role, password_hash, oidc_issuer, oidc_subject, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(u.user.name.clone())
        .bind(u.user.display_name.clone())
        .bind(u.user.email.clone())
        .bind(u.user.role.as_str().to_owned())
        .bind(u.password_hash.clone())
        .bind(u.user.oidc_issuer.clone())
        .bind(u.oidc_subject.clone())
        .bind(u.user.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err);
        if let Err(StoreError::AlreadyExists(_)) = res {
            return Err(StoreError::AlreadyExists(format!("user '{}' already exists", u.user.name)));
        }
        res?;
        tx.commit().await.map_err(map_err)?;
        Ok(self.get_user_sql(&u.user.name).await?.user)
    }

    async fn one_user(&self, cond: &str, bind: &str, what: &str) -> Result<UserRecord> {
        let row = sqlx::query(AssertSqlSafe(format!("{USER_SELECT} WHERE {cond}")))
            .bind(bind.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("user", what))?;
        decode_user(&row)
    }

    pub(super) async fn get_user_sql(&self, name: &str) -> Result<UserRecord> {
        self.one_user("name = $1", name, name).await
    }

    pub(super) async fn get_user_by_id_sql(&self, id: i64) -> Result<UserRecord> {
        let row = sqlx::query(AssertSqlSafe(format!("{USER_SELECT} WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("user", id))?;
        decode_user(&row)
    }

    pub(super) async fn user_by_oidc_sql(&self, issuer: &str, subject: &str) -> Result<UserRecord> {
        let row = sqlx::query(AssertSqlSafe(format!("{USER_SELECT} WHERE oidc_issuer = $1 AND oidc_subject = $2")))
            .bind(issuer.to_owned())
            .bind(subject.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("user", format!("{subject} at {issuer}")))?;
        decode_user(&row)
    }

    pub(super) async fn list_users_sql(&self) -> Result<Vec<User>> {
        sqlx::query(AssertSqlSafe(format!("{USER_SELECT} ORDER BY name")))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| decode_user(r).map(|u| u.user))
            .collect()
    }

    pub(super) async fn count_users_sql(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&self.pool).await.map_err(map_err)?;
        Ok(n as u64)
    }

    pub(super) async fn update_user_sql(&self, name: &str, u: &UserUpdate) -> Result<User> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
            .bind(name.to_owned())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("user", name))?;
        let mut texts: Vec<(&str, Option<String>)> = Vec::new();
        if let Some(d) = &u.display_name {
            texts.push(("display_name", Some(d.clone())));
        }
        if let Some(e) = &u.email {
            texts.push(("email", Some(e.clone()).filter(|e| !e.is_empty())));
        }
        if let Some(r) = u.role {
            texts.push(("role", Some(r.as_str().to_owned())));
        }
        if let Some(h) = &u.password_hash {
            texts.push(("password_hash", Some(h.clone())));
        }
        if let Some((issuer, subject)) = &u.oidc {
            texts.push(("oidc_issuer", Some(issuer.clone())));
            texts.push(("oidc_subject", Some(subject.clone())));
        }
        for (col, v) in texts {
            sqlx::query(AssertSqlSafe(format!("UPDATE users SET {col} = $1 WHERE id = $2")))
                .bind(v)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        if let Some(d) = u.disabled_at {
            sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
                .bind(d)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(self.get_user_by_id_sql(id).await?.user)
    }

    pub(super) async fn create_token_sql(&self, t: &TokenRecord) -> Result<Token> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tokens (user_id, name, prefix, hash, scope, kind, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(t.user_id)
        .bind(t.name.clone())
        .bind(t.prefix.clone())
        .bind(t.hash.clone())
        .bind(t.scope.as_str().to_owned())
        .bind(t.kind.as_str().to_owned())
        .bind(t.created_at)
        .bind(t.expires_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        self.get_token_sql(id).await
    }

    pub(super) async fn get_token_sql(&self, id: i64) -> Result<Token> {
        let row = sqlx::query(AssertSqlSafe(format!("{TOKEN_SELECT} WHERE t.id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("token", id))?;
        decode_token(&row)
    }

    pub(super) async fn token_by_hash_sql(&self, hash: &str) -> Result<(Token, UserRecord)> {
        let row = sqlx::query(AssertSqlSafe(format!("{TOKEN_SELECT} WHERE t.hash = $1")))
            .bind(hash.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("token", "(given)"))?;
        let token = decode_token(&row)?;
        let user_id: i64 = row.try_get("user_id").map_err(map_err)?;
        Ok((token, self.get_user_by_id_sql(user_id).await?))
    }

    pub(super) async fn list_tokens_sql(&self, user_id: i64) -> Result<Vec<Token>> {
        sqlx::query(AssertSqlSafe(format!("{TOKEN_SELECT} WHERE t.user_id = $1 ORDER BY t.id")))
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(decode_token)
            .collect()
    }

    pub(super) async fn revoke_token_sql(&self, id: i64, now: Millis) -> Result<Token> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        tx.commit().await.map_err(map_err)?;
        let t = self.get_token_sql(id).await?;
        if n == 0 && t.revoked_at.is_none() {
            return Err(StoreError::not_found("token", id));
        }
        Ok(t)
    }

    pub(super) async fn touch_token_sql(&self, id: i64, now: Millis) -> Result<()> {
        let _turn = self.writer_turn().await;
        sqlx::query("UPDATE tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    pub(super) async fn create_team_sql(&self, name: &str, description: &str, now: Millis) -> Result<Team> {
        let mut tx = self.write_tx().await?;
        let res = sqlx::query("INSERT INTO teams (name, description, created_at) VALUES ($1, $2, $3)")
            .bind(name.to_owned())
            .bind(description.to_owned())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map_err);
        if let Err(StoreError::AlreadyExists(_)) = res {
            return Err(StoreError::AlreadyExists(format!("team '{name}' already exists")));
        }
        res?;
        tx.commit().await.map_err(map_err)?;
        self.get_team_sql(name).await
    }

    pub(super) async fn get_team_sql(&self, name: &str) -> Result<Team> {
        let row = sqlx::query("SELECT id, name, description, created_at FROM teams WHERE name = $1")
            .bind(name.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("team", name))?;
        let id: i64 = row.try_get("id").map_err(map_err)?;
        let members = sqlx::query(
            "SELECT u.name, m.role FROM team_members m JOIN users u ON u.id = m.user_id WHERE m.team_id = $1 \
             ORDER BY u.name",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| Ok(Member { kind: PrincipalKind::User, name: r.try_get("name").map_err(map_err)?, role: role_of(r)? }))
        .collect::<Result<Vec<_>>>()?;
        Ok(Team {
            id,
            name: row.try_get("name").map_err(map_err)?,
            description: row.try_get("description").map_err(map_err)?,
            created_at: row.try_get("created_at").map_err(map_err)?,
            members,
        })
    }

    pub(super) async fn list_teams_sql(&self) -> Result<Vec<Team>> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM teams ORDER BY name").fetch_all(&self.pool).await.map_err(map_err)?;
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            out.push(self.get_team_sql(&n).await?);
        }
        Ok(out)
    }

    pub(super) async fn delete_team_sql(&self, name: &str) -> Result<()> {
        let team = self.get_team_sql(name).await?;
        let mut tx = self.write_tx().await?;
        for sql in [
            "DELETE FROM team_members WHERE team_id = $1",
            "DELETE FROM project_members WHERE kind = 'team' AND principal_id = $1",
            "DELETE FROM teams WHERE id = $1",
        ] {
            sqlx::query(sql).bind(team.id).execute(&mut *tx).await.map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    pub(super) async fn set_team_member_sql(&self, team: &str, user: &str, role: Option<Role>) -> Result<Team> {
        let t = self.get_team_sql(team).await?;
        let u = self.get_user_sql(user).await?;
        let mut tx = self.write_tx().await?;
        match role {
            Some(r) => {
                sqlx::query(
                    "INSERT INTO team_members (team_id, user_id, role) VALUES ($1, $2, $3) \
                     ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role",
                )
                .bind(t.id)
                .bind(u.user.id)
                .bind(r.as_str().to_owned())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            }
            None => {
                sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
                    .bind(t.id)
                    .bind(u.user.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
        }
        tx.commit().await.map_err(map_err)?;
        self.get_team_sql(team).await
    }

    pub(super) async fn project_members_sql(&self, project_id: i64) -> Result<Vec<Member>> {
        let rows = sqlx::query(
            "SELECT m.kind, COALESCE(u.name, t.name) AS name, m.role FROM project_members m \
             LEFT JOIN users u ON m.kind = 'user' AND u.id = m.principal_id \
             LEFT JOIN teams t ON m.kind = 'team' AND t.id = m.principal_id \
             WHERE m.project_id = $1 ORDER BY m.kind DESC, name",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind").map_err(map_err)?;
                Ok(Member {
                    kind: if kind == "team" { PrincipalKind::Team } else { PrincipalKind::User },
                    name: r.try_get::<Option<String>, _>("name").map_err(map_err)?.unwrap_or_default(),
                    role: role_of(r)?,
                })
            })
            .collect()
    }

    pub(super) async fn set_project_member_sql(
        &self,
        project_id: i64,
        kind: PrincipalKind,
        name: &str,
        role: Option<Role>,
    ) -> Result<Vec<Member>> {
        let principal = match kind {
            PrincipalKind::User => self.get_user_sql(name).await?.user.id,
            PrincipalKind::Team => self.get_team_sql(name).await?.id,
        };
        let mut tx = self.write_tx().await?;
        match role {
            Some(r) => {
                sqlx::query(
                    "INSERT INTO project_members (project_id, kind, principal_id, role) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (project_id, kind, principal_id) DO UPDATE SET role = excluded.role",
                )
                .bind(project_id)
                .bind(kind.as_str().to_owned())
                .bind(principal)
                .bind(r.as_str().to_owned())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            }
            None => {
                sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND kind = $2 AND principal_id = $3")
                    .bind(project_id)
                    .bind(kind.as_str().to_owned())
                    .bind(principal)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
        }
        tx.commit().await.map_err(map_err)?;
        self.project_members_sql(project_id).await
    }

    pub(super) async fn memberships_sql(&self, user_id: i64) -> Result<BTreeMap<i64, Role>> {
        let rows = sqlx::query(
            "SELECT project_id, role FROM project_members WHERE kind = 'user' AND principal_id = $1 \
             UNION ALL \
             SELECT m.project_id, m.role FROM project_members m JOIN team_members tm \
               ON m.kind = 'team' AND m.principal_id = tm.team_id WHERE tm.user_id = $1",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let mut out: BTreeMap<i64, Role> = BTreeMap::new();
        for r in &rows {
            let project: i64 = r.try_get("project_id").map_err(map_err)?;
            let role = role_of(r)?;
            let e = out.entry(project).or_insert(role);
            *e = (*e).max(role);
        }
        Ok(out)
    }

    pub(super) async fn private_projects_sql(&self) -> Result<Vec<i64>> {
        sqlx::query_scalar("SELECT id FROM projects WHERE visibility = 'private'")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)
    }

    pub(super) async fn append_audit_sql(&self, e: &AuditEntry) -> Result<()> {
        let _turn = self.writer_turn().await;
        sqlx::query(
            "INSERT INTO audit_log (at, actor, token, address, action, project, status, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(e.at)
        .bind(e.actor.clone())
        .bind(e.token.clone())
        .bind(e.address.clone())
        .bind(e.action.clone())
        .bind(e.project.clone())
        .bind(i64::from(e.status))
        .bind(e.details.as_ref().map(|d| d.to_string()))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    pub(super) async fn query_audit_sql(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut sql = String::from(
            "SELECT id, at, actor, token, address, action, project, status, details FROM audit_log WHERE 1=1",
        );
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        let mut texts: Vec<String> = Vec::new();
        let mut ints: Vec<i64> = Vec::new();
        // Binds in order: texts first, then ints (placeholders are numbered accordingly).
        if let Some(p) = &q.project {
            sql.push_str(&format!(" AND project = {}", next()));
            texts.push(p.clone());
        }
        if let Some(u) = &q.user {
            sql.push_str(&format!(" AND actor = {}", next()));
            texts.push(u.clone());
        }
        if let Some(s) = q.since {
            sql.push_str(&format!(" AND at >= {}", next()));
            ints.push(s);
        }
        if let Some(b) = q.before {
            sql.push_str(&format!(" AND id < {}", next()));
            ints.push(b);
        }
        let limit = i64::from(q.limit.unwrap_or(100).clamp(1, 1000));
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", next()));
        ints.push(limit);
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for t in texts {
            query = query.bind(t);
        }
        for i in ints {
            query = query.bind(i);
        }
        query.fetch_all(&self.pool).await.map_err(map_err)?.iter().map(decode_audit).collect()
    }
}

//! The model registry's and logged models' SQL. Registries hold hundreds of models,
//! not millions, so listing reads whole tables and the service layer filters.

use super::{SqlStore, Tx, json_text, parse_json, parse_run_id, run_id_text};
use crate::map_err;
use cairn_domain::{
    LoggedModel, LoggedModelStatus, Millis, ModelStage, ModelVersion, ModelVersionPatch, NewModelVersion,
    NewRegisteredModel, RegisteredModel, RegisteredModelPatch,
};
use cairn_store::{Result, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

pub(super) const MODEL_SELECT: &str =
    "SELECT id, name, description, owner, created_at, updated_at, tags, aliases FROM registered_models";
pub(super) const VERSION_SELECT: &str = "SELECT m.name AS model, v.version, v.source, v.run_id, v.logged_model_id, v.run_link, \
     v.stage, v.description, v.owner, v.created_at, v.updated_at, v.tags \
     FROM model_versions v JOIN registered_models m ON m.id = v.model_id";
const LOGGED_SELECT: &str = "SELECT id, project_id, name, source_run, status, status_message, model_type, owner, \
     created_at, updated_at, params, tags FROM logged_models";

pub(super) fn decode_model(row: &AnyRow) -> Result<RegisteredModel> {
    Ok(RegisteredModel {
        name: row.try_get("name").map_err(map_err)?,
        description: row.try_get("description").map_err(map_err)?,
        owner: row.try_get("owner").map_err(map_err)?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        updated_at: row.try_get("updated_at").map_err(map_err)?,
        tags: parse_json("tags", row.try_get("tags").map_err(map_err)?)?.unwrap_or_default(),
        aliases: parse_json("aliases", row.try_get("aliases").map_err(map_err)?)?.unwrap_or_default(),
    })
}

pub(super) fn decode_version(row: &AnyRow) -> Result<ModelVersion> {
    let stage: String = row.try_get("stage").map_err(map_err)?;
    let run: Option<String> = row.try_get("run_id").map_err(map_err)?;
    Ok(ModelVersion {
        model: row.try_get("model").map_err(map_err)?,
        version: row.try_get("version").map_err(map_err)?,
        source: row.try_get("source").map_err(map_err)?,
        run_id: run.as_deref().map(parse_run_id).transpose()?,
        model_id: row.try_get("logged_model_id").map_err(map_err)?,
        run_link: row.try_get("run_link").map_err(map_err)?,
        stage: ModelStage::parse(&stage).map_err(|e| StoreError::Internal(e.to_string()))?,
        description: row.try_get("description").map_err(map_err)?,
        owner: row.try_get("owner").map_err(map_err)?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        updated_at: row.try_get("updated_at").map_err(map_err)?,
        tags: parse_json("tags", row.try_get("tags").map_err(map_err)?)?.unwrap_or_default(),
    })
}

fn decode_logged(row: &AnyRow) -> Result<LoggedModel> {
    let status: String = row.try_get("status").map_err(map_err)?;
    let run: Option<String> = row.try_get("source_run").map_err(map_err)?;
    Ok(LoggedModel {
        id: row.try_get("id").map_err(map_err)?,
        project_id: row.try_get("project_id").map_err(map_err)?,
        name: row.try_get("name").map_err(map_err)?,
        source_run: run.as_deref().map(parse_run_id).transpose()?,
        status: LoggedModelStatus::parse(&status)
            .ok_or_else(|| StoreError::Internal(format!("logged model status '{status}' is unknown")))?,
        status_message: row.try_get("status_message").map_err(map_err)?,
        model_type: row.try_get("model_type").map_err(map_err)?,
        owner: row.try_get("owner").map_err(map_err)?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        updated_at: row.try_get("updated_at").map_err(map_err)?,
        params: parse_json("params", row.try_get("params").map_err(map_err)?)?.unwrap_or_default(),
        tags: parse_json("tags", row.try_get("tags").map_err(map_err)?)?.unwrap_or_default(),
    })
}

fn apply_tags(tags: &mut BTreeMap<String, String>, patch: &BTreeMap<String, Option<String>>) {
    for (k, v) in patch {
        match v {
            Some(v) => tags.insert(k.clone(), v.clone()),
            None => tags.remove(k),
        };
    }
}

impl SqlStore {
    /// The model's row id, locked for the rest of the transaction where the database can.
    async fn model_row(&self, tx: &mut Tx, name: &str) -> Result<(i64, RegisteredModel)> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{MODEL_SELECT} WHERE name = $1{}", self.for_update())))
            .bind(name.to_owned())
            .fetch_optional(&mut **tx)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("registered model", name))?;
        Ok((row.try_get("id").map_err(map_err)?, decode_model(&row)?))
    }

    async fn touch_model(&self, tx: &mut Tx, id: i64, now: Millis) -> Result<()> {
        sqlx::query("UPDATE registered_models SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    pub(super) async fn create_registered_model_sql(
        &self,
        model: &NewRegisteredModel,
        now: Millis,
    ) -> Result<RegisteredModel> {
        let mut tx = self.write_tx().await?;
        let res = sqlx::query(
            "INSERT INTO registered_models (name, description, owner, created_at, updated_at, tags) \
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(model.name.clone())
        .bind(model.description.clone())
        .bind(model.owner.clone())
        .bind(now)
        .bind(json_text(&model.tags))
        .execute(&mut *tx)
        .await
        .map_err(map_err);
        if let Err(StoreError::AlreadyExists(_)) = res {
            return Err(StoreError::AlreadyExists(format!("registered model '{}' already exists", model.name)));
        }
        res?;
        let (_, created) = self.model_row(&mut tx, &model.name).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(created)
    }

    pub(super) async fn get_registered_model_sql(&self, name: &str) -> Result<RegisteredModel> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{MODEL_SELECT} WHERE name = $1")))
            .bind(name.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("registered model", name))?;
        decode_model(&row)
    }

    pub(super) async fn versions_of_models_sql(&self, models: &[String]) -> Result<Vec<ModelVersion>> {
        let mut out = Vec::new();
        // A bounded IN list per statement.
        for chunk in models.chunks(500) {
            let mut sql = crate::filter::Sql::new(self.dialect);
            sql.push(VERSION_SELECT).push(" WHERE m.name IN (");
            for (i, m) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind_text(m);
            }
            sql.push(") ORDER BY m.name, v.version");
            let rows = sqlx::query_with(sqlx::AssertSqlSafe(sql.text), super::args(&sql.binds))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            for row in &rows {
                out.push(decode_version(row)?);
            }
        }
        Ok(out)
    }

    pub(super) async fn list_registered_models_sql(&self) -> Result<Vec<RegisteredModel>> {
        sqlx::query(sqlx::AssertSqlSafe(format!("{MODEL_SELECT} ORDER BY name")))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(decode_model)
            .collect()
    }

    pub(super) async fn update_registered_model_sql(
        &self,
        name: &str,
        patch: &RegisteredModelPatch,
        now: Millis,
    ) -> Result<RegisteredModel> {
        let mut tx = self.write_tx().await?;
        let (id, mut model) = self.model_row(&mut tx, name).await?;
        if let Some(new_name) = &patch.name
            && new_name != name
        {
            let res = sqlx::query("UPDATE registered_models SET name = $1 WHERE id = $2")
                .bind(new_name.clone())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err);
            if let Err(StoreError::AlreadyExists(_)) = res {
                return Err(StoreError::AlreadyExists(format!("registered model '{new_name}' already exists")));
            }
            res?;
            model.name = new_name.clone();
        }
        if let Some(d) = &patch.description {
            model.description = d.clone();
        }
        apply_tags(&mut model.tags, &patch.tags);
        for (alias, version) in &patch.aliases {
            match version {
                Some(v) => {
                    let exists: Option<i64> =
                        sqlx::query_scalar("SELECT version FROM model_versions WHERE model_id = $1 AND version = $2")
                            .bind(id)
                            .bind(*v)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    if exists.is_none() {
                        return Err(StoreError::not_found("model version", format!("{} version {v}", model.name)));
                    }
                    model.aliases.insert(alias.clone(), *v);
                }
                None => {
                    model.aliases.remove(alias);
                }
            }
        }
        model.updated_at = now;
        sqlx::query(
            "UPDATE registered_models SET description = $1, tags = $2, aliases = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(model.description.clone())
        .bind(json_text(&model.tags))
        .bind(json_text(&model.aliases))
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(model)
    }

    pub(super) async fn delete_registered_model_sql(&self, name: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let (id, _) = self.model_row(&mut tx, name).await?;
        for sql in ["DELETE FROM model_versions WHERE model_id = $1", "DELETE FROM registered_models WHERE id = $1"] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await.map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    pub(super) async fn create_model_version_sql(
        &self,
        name: &str,
        v: &NewModelVersion,
        now: Millis,
    ) -> Result<ModelVersion> {
        let mut tx = self.write_tx().await?;
        let (id, _) = self.model_row(&mut tx, name).await?;
        let next: i64 = sqlx::query_scalar("SELECT next_version FROM registered_models WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        let version = match v.version {
            None => next,
            Some(n) if n >= next => n,
            Some(n) => {
                return Err(StoreError::AlreadyExists(format!(
                    "version {n} of '{name}' is taken or was used before; the next free number is {next}"
                )));
            }
        };
        sqlx::query(
            "INSERT INTO model_versions (model_id, version, source, run_id, logged_model_id, run_link, stage, \
             description, owner, created_at, updated_at, tags) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)",
        )
        .bind(id)
        .bind(version)
        .bind(v.source.clone())
        .bind(v.run_id.map(run_id_text))
        .bind(v.model_id.clone())
        .bind(v.run_link.clone())
        .bind(ModelStage::None.as_str())
        .bind(v.description.clone())
        .bind(v.owner.clone())
        .bind(now)
        .bind(json_text(&v.tags))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query("UPDATE registered_models SET next_version = $1, updated_at = $2 WHERE id = $3")
            .bind(version.checked_add(1).ok_or_else(|| {
                StoreError::Invalid(format!("version {version} is too large; versions go up to {}", i64::MAX - 1))
            })?)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let created = self.version_in(&mut tx, name, version).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(created)
    }

    async fn version_in(&self, tx: &mut Tx, name: &str, version: i64) -> Result<ModelVersion> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{VERSION_SELECT} WHERE m.name = $1 AND v.version = $2")))
            .bind(name.to_owned())
            .bind(version)
            .fetch_optional(&mut **tx)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("model version", format!("{name} version {version}")))?;
        decode_version(&row)
    }

    pub(super) async fn get_model_version_sql(&self, name: &str, version: i64) -> Result<ModelVersion> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{VERSION_SELECT} WHERE m.name = $1 AND v.version = $2")))
            .bind(name.to_owned())
            .bind(version)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("model version", format!("{name} version {version}")))?;
        decode_version(&row)
    }

    pub(super) async fn list_model_versions_sql(&self, name: Option<&str>) -> Result<Vec<ModelVersion>> {
        let rows = match name {
            Some(name) => {
                sqlx::query(sqlx::AssertSqlSafe(format!("{VERSION_SELECT} WHERE m.name = $1 ORDER BY v.version")))
                    .bind(name.to_owned())
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!("{VERSION_SELECT} ORDER BY m.name, v.version")))
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(map_err)?;
        rows.iter().map(decode_version).collect()
    }

    pub(super) async fn update_model_version_sql(
        &self,
        name: &str,
        version: i64,
        patch: &ModelVersionPatch,
        now: Millis,
    ) -> Result<ModelVersion> {
        let mut tx = self.write_tx().await?;
        let (id, _) = self.model_row(&mut tx, name).await?;
        let mut v = self.version_in(&mut tx, name, version).await?;
        if let Some(d) = &patch.description {
            v.description = d.clone();
        }
        apply_tags(&mut v.tags, &patch.tags);
        if let Some(stage) = patch.stage {
            v.stage = stage;
            if patch.archive_others && matches!(stage, ModelStage::Staging | ModelStage::Production) {
                sqlx::query(
                    "UPDATE model_versions SET stage = $1, updated_at = $2 \
                     WHERE model_id = $3 AND stage = $4 AND version <> $5",
                )
                .bind(ModelStage::Archived.as_str())
                .bind(now)
                .bind(id)
                .bind(stage.as_str())
                .bind(version)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            }
        }
        v.updated_at = now;
        sqlx::query(
            "UPDATE model_versions SET description = $1, tags = $2, stage = $3, updated_at = $4 \
             WHERE model_id = $5 AND version = $6",
        )
        .bind(v.description.clone())
        .bind(json_text(&v.tags))
        .bind(v.stage.as_str())
        .bind(now)
        .bind(id)
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        self.touch_model(&mut tx, id, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(v)
    }

    pub(super) async fn delete_model_version_sql(&self, name: &str, version: i64, now: Millis) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let (id, mut model) = self.model_row(&mut tx, name).await?;
        self.version_in(&mut tx, name, version).await?;
        sqlx::query("DELETE FROM model_versions WHERE model_id = $1 AND version = $2")
            .bind(id)
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        // Aliases of a deleted version go with it.
        model.aliases.retain(|_, v| *v != version);
        sqlx::query("UPDATE registered_models SET aliases = $1, updated_at = $2 WHERE id = $3")
            .bind(json_text(&model.aliases))
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    pub(super) async fn put_logged_model_sql(&self, m: &LoggedModel, create: bool) -> Result<LoggedModel> {
        let _turn = self.writer_turn().await;
        let sql = if create {
            "INSERT INTO logged_models (id, project_id, name, source_run, status, status_message, model_type, owner, \
             created_at, updated_at, params, tags) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        } else {
            "UPDATE logged_models SET project_id = $2, name = $3, source_run = $4, status = $5, status_message = $6, \
             model_type = $7, owner = $8, created_at = $9, updated_at = $10, params = $11, tags = $12 WHERE id = $1"
        };
        let res = sqlx::query(sql)
            .bind(m.id.clone())
            .bind(m.project_id)
            .bind(m.name.clone())
            .bind(m.source_run.map(run_id_text))
            .bind(m.status.as_str())
            .bind(m.status_message.clone())
            .bind(m.model_type.clone())
            .bind(m.owner.clone())
            .bind(m.created_at)
            .bind(m.updated_at)
            .bind(json_text(&m.params))
            .bind(json_text(&m.tags))
            .execute(&self.pool)
            .await
            .map_err(map_err);
        match res {
            Err(StoreError::AlreadyExists(_)) => {
                Err(StoreError::AlreadyExists(format!("logged model {} exists", m.id)))
            }
            Ok(r) if !create && r.rows_affected() == 0 => Err(StoreError::not_found("logged model", &m.id)),
            other => other.map(|_| m.clone()),
        }
    }

    pub(super) async fn get_logged_model_sql(&self, id: &str) -> Result<LoggedModel> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{LOGGED_SELECT} WHERE id = $1")))
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("logged model", id))?;
        decode_logged(&row)
    }

    pub(super) async fn list_logged_models_sql(&self, project_ids: &[i64]) -> Result<Vec<LoggedModel>> {
        let mut out = Vec::new();
        for pid in project_ids {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{LOGGED_SELECT} WHERE project_id = $1 ORDER BY created_at DESC, id"
            )))
            .bind(*pid)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
            for r in &rows {
                out.push(decode_logged(r)?);
            }
        }
        Ok(out)
    }

    pub(super) async fn delete_logged_model_sql(&self, id: &str) -> Result<()> {
        let _turn = self.writer_turn().await;
        let r = sqlx::query("DELETE FROM logged_models WHERE id = $1")
            .bind(id.to_owned())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        if r.rows_affected() == 0 {
            return Err(StoreError::not_found("logged model", id));
        }
        Ok(())
    }
}

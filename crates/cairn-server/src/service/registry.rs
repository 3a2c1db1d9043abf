//! The model registry and logged models, for Cairn's API and MLflow's alike.

use super::{Result, Service, now_ms};
use crate::error::{ApiError, ErrorCode};
use bytes::Bytes;
use cairn_domain::auth::Role;
use cairn_domain::registry::{MAX_NAME, validate_alias, validate_model_name};
use cairn_domain::{
    ArtifactInfo, ArtifactPath, LoggedModel, ModelStage, ModelVersion, ModelVersionPatch, NewModelVersion,
    NewRegisteredModel, RegisteredModel, RegisteredModelPatch, RunId, validate_text,
};
use futures::Stream;
use std::collections::BTreeMap;

/// Longest model or version description accepted.
const MAX_MODEL_DESCRIPTION: usize = 64 * 1024;
/// Longest tag value on a model or version (MLflow's limit).
const MAX_TAG_VALUE: usize = 5000;

fn check_tags<'a>(tags: impl IntoIterator<Item = (&'a String, Option<&'a String>)>) -> Result<()> {
    for (k, v) in tags {
        if k.trim().is_empty() {
            return Err(ApiError::invalid("a tag needs a non-empty key"));
        }
        if k.chars().count() > MAX_NAME {
            return Err(ApiError::invalid(format!("tag key '{k}' is longer than {MAX_NAME} characters")));
        }
        if let Some(v) = v
            && v.chars().count() > MAX_TAG_VALUE
        {
            return Err(ApiError::invalid(format!("the value of tag '{k}' is longer than {MAX_TAG_VALUE} characters")));
        }
    }
    Ok(())
}

impl Service {
    pub async fn create_registered_model(&self, mut new: NewRegisteredModel) -> Result<RegisteredModel> {
        self.require_org(Role::Editor)?;
        new.owner = self.owner_or(new.owner.take());
        validate_model_name(&new.name)?;
        validate_text("description", &new.description, MAX_MODEL_DESCRIPTION, true)?;
        check_tags(new.tags.iter().map(|(k, v)| (k, Some(v))))?;
        Ok(self.store.create_registered_model(&new, now_ms()).await?)
    }

    pub async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        Ok(self.store.get_registered_model(name).await?)
    }

    pub async fn list_registered_models(&self) -> Result<Vec<RegisteredModel>> {
        Ok(self.store.list_registered_models().await?)
    }

    /// A page of registered models, searched in the store.
    pub async fn search_registered_models(&self, query: cairn_store::ListQuery) -> Result<Vec<RegisteredModel>> {
        self.timed(self.store.search_registered_models(&query)).await
    }

    /// A page of model versions, searched in the store.
    pub async fn search_model_versions(&self, query: cairn_store::ListQuery) -> Result<Vec<ModelVersion>> {
        self.timed(self.store.search_model_versions(&query)).await
    }

    /// The newest version in each stage of each model (what MLflow lists as a model's
    /// latest versions), for many models in one read.
    pub async fn latest_versions_of(&self, models: &[String]) -> Result<BTreeMap<String, Vec<ModelVersion>>> {
        let mut out: BTreeMap<String, BTreeMap<usize, ModelVersion>> = BTreeMap::new();
        for v in self.store.versions_of_models(models).await? {
            let slot = ModelStage::ALL.iter().position(|s| *s == v.stage).unwrap_or(0);
            let newest = out.entry(v.model.clone()).or_default();
            if newest.get(&slot).is_none_or(|n| n.version < v.version) {
                newest.insert(slot, v);
            }
        }
        Ok(out.into_iter().map(|(m, by_stage)| (m, by_stage.into_values().collect())).collect())
    }

    pub async fn update_registered_model(&self, name: &str, patch: RegisteredModelPatch) -> Result<RegisteredModel> {
        self.require_org(Role::Editor)?;
        if let Some(n) = &patch.name {
            validate_model_name(n)?;
        }
        if let Some(d) = &patch.description {
            validate_text("description", d, MAX_MODEL_DESCRIPTION, true)?;
        }
        check_tags(patch.tags.iter().map(|(k, v)| (k, v.as_ref())))?;
        for (alias, version) in &patch.aliases {
            if version.is_some() {
                validate_alias(alias)?;
            }
        }
        Ok(self.store.update_registered_model(name, &patch, now_ms()).await?)
    }

    pub async fn delete_registered_model(&self, name: &str) -> Result<()> {
        self.require_org(Role::Editor)?;
        Ok(self.store.delete_registered_model(name).await?)
    }

    /// Files a new version. A given run must exist (its id is stored in full, so a
    /// short id works too); a given logged model must exist.
    pub async fn create_model_version(&self, model: &str, mut new: NewModelVersion) -> Result<ModelVersion> {
        self.require_org(Role::Editor)?;
        new.owner = self.owner_or(new.owner.take());
        if new.source.trim().is_empty() {
            return Err(ApiError::invalid("a model version needs a source: where the model's files are"));
        }
        validate_text("description", &new.description, MAX_MODEL_DESCRIPTION, true)?;
        check_tags(new.tags.iter().map(|(k, v)| (k, Some(v))))?;
        if let Some(run) = new.run_id {
            new.run_id = Some(self.resolve(&run.to_string()).await?.id);
        }
        if let Some(id) = &new.model_id {
            let logged = self.get_logged_model(id).await?;
            // A version of a logged model comes from the run that logged it.
            new.run_id = new.run_id.or(logged.source_run);
        }
        Ok(self.store.create_model_version(model, &new, now_ms()).await?)
    }

    pub async fn get_model_version(&self, model: &str, version: i64) -> Result<ModelVersion> {
        Ok(self.store.get_model_version(model, version).await?)
    }

    pub async fn list_model_versions(&self, model: Option<&str>) -> Result<Vec<ModelVersion>> {
        Ok(self.store.list_model_versions(model).await?)
    }

    /// The versions filed from one run, across models.
    pub async fn model_versions_of_run(&self, run: &str) -> Result<Vec<ModelVersion>> {
        let id = self.resolve(run).await?.id;
        let mut all = self.store.list_model_versions(None).await?;
        all.retain(|v| v.run_id == Some(id));
        Ok(all)
    }

    /// The newest version in each stage (or in the given stages), oldest stage first,
    /// as MLflow's `get-latest-versions` answers.
    pub async fn latest_versions(&self, model: &str, stages: &[ModelStage]) -> Result<Vec<ModelVersion>> {
        self.store.get_registered_model(model).await?;
        let versions = self.store.list_model_versions(Some(model)).await?;
        let mut newest: BTreeMap<usize, ModelVersion> = BTreeMap::new();
        for v in versions {
            if !stages.is_empty() && !stages.contains(&v.stage) {
                continue;
            }
            let slot = ModelStage::ALL.iter().position(|s| *s == v.stage).unwrap_or(0);
            if newest.get(&slot).is_none_or(|n| n.version < v.version) {
                newest.insert(slot, v);
            }
        }
        Ok(newest.into_values().collect())
    }

    pub async fn update_model_version(
        &self,
        model: &str,
        version: i64,
        patch: ModelVersionPatch,
    ) -> Result<ModelVersion> {
        self.require_org(Role::Editor)?;
        if let Some(d) = &patch.description {
            validate_text("description", d, MAX_MODEL_DESCRIPTION, true)?;
        }
        check_tags(patch.tags.iter().map(|(k, v)| (k, v.as_ref())))?;
        if patch.archive_others && !matches!(patch.stage, Some(ModelStage::Staging | ModelStage::Production)) {
            return Err(ApiError::invalid(
                "archiving the other versions only applies when moving a version to Staging or Production",
            ));
        }
        Ok(self.store.update_model_version(model, version, &patch, now_ms()).await?)
    }

    pub async fn delete_model_version(&self, model: &str, version: i64) -> Result<()> {
        self.require_org(Role::Editor)?;
        Ok(self.store.delete_model_version(model, version, now_ms()).await?)
    }

    /// The version an alias points at.
    pub async fn version_by_alias(&self, model: &str, alias: &str) -> Result<ModelVersion> {
        let m = self.store.get_registered_model(model).await?;
        let version = *m.aliases.get(alias).ok_or_else(|| {
            ApiError::new(ErrorCode::AliasNotFound, format!("registered model '{model}' has no alias '{alias}'"))
        })?;
        self.get_model_version(model, version).await
    }

    // -- logged models ------------------------------------------------------------------

    pub async fn create_logged_model(&self, model: LoggedModel) -> Result<LoggedModel> {
        if model.name.trim().is_empty() {
            return Err(ApiError::invalid("a logged model needs a name"));
        }
        let p = self.store.get_project_by_id(model.project_id).await?;
        let shown = model.project_id.to_string();
        self.require_on(&p, Role::Editor, || super::access::project_missing(&shown)).await?;
        if let Some(run) = model.source_run {
            self.resolve_for(&run.to_string(), Role::Editor).await?;
        }
        Ok(self.store.create_logged_model(&model).await?)
    }

    /// A logged model in a project the caller can act on as `need`.
    async fn logged_model_as(&self, id: &str, need: Role) -> Result<LoggedModel> {
        let m = self.store.get_logged_model(id).await?;
        let p = self.store.get_project_by_id(m.project_id).await?;
        let missing = || ApiError::new(ErrorCode::LoggedModelNotFound, format!("no logged model '{id}' in this store"));
        self.require_on(&p, need, missing).await?;
        Ok(m)
    }

    pub async fn get_logged_model(&self, id: &str) -> Result<LoggedModel> {
        self.logged_model_as(id, Role::Viewer).await
    }

    /// The logged models of these projects that the caller can see.
    pub async fn list_logged_models(&self, project_ids: &[i64]) -> Result<Vec<LoggedModel>> {
        let hidden = self.hidden_projects().await?;
        let ids: Vec<i64> = project_ids.iter().copied().filter(|id| !hidden.contains(id)).collect();
        Ok(self.store.list_logged_models(&ids).await?)
    }

    pub async fn update_logged_model(&self, mut model: LoggedModel) -> Result<LoggedModel> {
        self.logged_model_as(&model.id, Role::Editor).await?;
        model.updated_at = now_ms();
        Ok(self.store.update_logged_model(&model).await?)
    }

    /// Deletes the record and the model's files.
    pub async fn delete_logged_model(&self, id: &str) -> Result<()> {
        let m = self.logged_model_as(id, Role::Editor).await?;
        if let Some(run) = m.source_run {
            self.delete_artifacts_of(run, &m.artifact_prefix()).await?;
        }
        Ok(self.store.delete_logged_model(id).await?)
    }

    /// The run whose artifacts hold a logged model's files, and the model's folder there.
    pub async fn logged_model_location(&self, id: &str) -> Result<(RunId, String)> {
        let m = self.get_logged_model(id).await?;
        let run = m.source_run.ok_or_else(|| {
            ApiError::invalid(format!(
                "logged model {id} was not logged by a run, and Cairn keeps a model's files with the run that made it; \
                 log the model inside a run"
            ))
        })?;
        Ok((run, m.artifact_prefix()))
    }

    /// Removes an artifact, or a folder of them: the record first, then the bytes.
    pub async fn delete_artifacts(&self, run: &str, path: &str) -> Result<Vec<ArtifactInfo>> {
        let id = self.resolve_for(run, Role::Editor).await?.id;
        self.delete_artifacts_of(id, path).await
    }

    async fn delete_artifacts_of(&self, run: RunId, path: &str) -> Result<Vec<ArtifactInfo>> {
        let path = path.trim_matches('/');
        if path.is_empty() {
            return Err(ApiError::invalid(
                "name the artifact or folder to delete; a run's whole artifact root is not deleted this way",
            ));
        }
        ArtifactPath::parse(path)?;
        let gone = self.store.delete_artifacts(run, path).await?;
        for a in &gone {
            // The record is gone already; bytes left behind are only unreachable space.
            if let Err(e) = self.artifacts.delete(run, &a.path).await {
                tracing::warn!(run = %run, path = %a.path, error = %e, "artifact bytes not removed");
            }
        }
        Ok(gone)
    }

    /// Stores a file of a logged model among its run's artifacts.
    pub async fn put_model_artifact<S, E>(&self, id: &str, path: &str, body: S) -> Result<ArtifactInfo>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let (run, prefix) = self.logged_model_location(id).await?;
        self.put_artifact(&run.to_string(), &format!("{prefix}/{}", path.trim_start_matches('/')), body).await
    }
}

//! History brought in by importers (`cairn import`), written idempotently: a run keeps
//! its identity, so one the store has already only gains what it lacks. Each answer
//! says what the run already holds (points per key, artifact sizes), so the importer
//! sends only the points and files that are missing, through the ordinary endpoints.

use super::{Result, Service, now_ms};
use crate::error::ApiError;
use cairn_api::import::{ImportModel, ImportProject, ImportRun, ImportedModel, ImportedProject, ImportedRun};
use cairn_domain::auth::{PrincipalKind, Role};
use cairn_domain::{
    ModelStage, ModelVersionPatch, NewModelVersion, NewProject, NewRegisteredModel, ProjectName, ProjectPatch,
    RegisteredModelPatch, Run, RunId, RunRef, RunStatus,
};
use cairn_store::{RunUpdate, StoreError};
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn run_id(id: &str) -> Result<RunId> {
    RunId::parse(id).ok_or_else(|| ApiError::invalid(format!("run id '{id}' is not 32 hex digits (a UUID)")))
}

impl Service {
    /// Creates the project when missing; it gains the tags and description it lacks.
    pub async fn import_project(&self, p: ImportProject) -> Result<ImportedProject> {
        let name = ProjectName::parse(p.name.clone())?;
        let created = self.ensure_project_exists(&name, p.created_at).await?;
        let current = self.project_as(name.as_str(), Role::Editor).await?;
        let missing: BTreeMap<String, String> =
            p.tags.into_iter().filter(|(k, _)| !current.tags.contains_key(k)).collect();
        let description = (current.description.is_empty() && !p.description.is_empty()).then_some(p.description);
        if !missing.is_empty() || description.is_some() {
            let patch = ProjectPatch { tags: missing, description, ..Default::default() };
            self.update_project(name.as_str(), patch).await?;
        }
        Ok(ImportedProject { created })
    }

    /// What an imported run must satisfy before anything is written.
    pub(super) fn check_import_run(&self, src: &ImportRun) -> Result<()> {
        if let Some(name) = src.name.as_deref().filter(|n| !n.is_empty()) {
            cairn_domain::check_name("run name", name)?;
        }
        for (k, v) in &src.tags {
            cairn_domain::TagKey::parse(k.clone())?;
            cairn_domain::validate_text("tag value", v, cairn_domain::MAX_DESCRIPTION, true)?;
        }
        Ok(())
    }

    pub(super) async fn ensure_project_exists(&self, name: &ProjectName, created_at: Option<i64>) -> Result<bool> {
        match self.store.get_project(name).await {
            Ok(_) => Ok(false),
            Err(StoreError::NotFound { .. }) => {
                self.require_org(Role::Editor)?;
                let new = NewProject { name: name.to_string(), ..Default::default() };
                match self.store.create_project(&new, created_at.unwrap_or_else(now_ms)).await {
                    Ok(p) => {
                        if let Some(u) = self.caller().signed_in() {
                            self.store
                                .set_project_member(p.id, PrincipalKind::User, &u.name, Some(Role::Owner))
                                .await?;
                        }
                        Ok(true)
                    }
                    Err(StoreError::AlreadyExists(_)) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn import_run(&self, src: ImportRun) -> Result<ImportedRun> {
        let mut out = self.import_runs(vec![src]).await?;
        Ok(out.pop().expect("one answer per run"))
    }

    pub(super) async fn import_update(&self, src: &ImportRun, existing: &Run, out: &mut ImportedRun) -> Result<()> {
        if existing.deleted_at.is_some() {
            return Ok(());
        }
        let mut u = RunUpdate::default();
        let mut config = existing.config.clone();
        for (k, v) in &src.params {
            if !config.contains_key(k) {
                config.insert(k.clone(), v.clone());
                out.params_added += 1;
            }
        }
        if config != existing.config {
            u.config = Some(config);
        }
        for (k, v) in &src.tags {
            if !existing.tags.contains_key(k) {
                u.set_tags.insert(k.clone(), v.clone());
                out.tags_added += 1;
            }
        }
        if existing.status == RunStatus::Running
            && let Some(s) = src.status.filter(|s| s.is_terminal())
        {
            u.status = Some(s);
            u.ended_at = src.ended_at;
        }
        if u.config.is_some() || !u.set_tags.is_empty() || u.status.is_some() {
            self.store.update_run(existing.id, &u, now_ms()).await?;
            out.updated = true;
        }
        Ok(())
    }

    /// A registered model and the versions it lacks (numbers kept), their stages, tags
    /// and the aliases it lacks. Versions link to their run when the store has it.
    pub async fn import_model(&self, m: ImportModel) -> Result<ImportedModel> {
        self.require_org(Role::Editor)?;
        cairn_domain::registry::validate_model_name(&m.name)?;
        let mut out = ImportedModel::default();
        let existing = match self.store.get_registered_model(&m.name).await {
            Ok(existing) => existing,
            Err(StoreError::NotFound { .. }) => {
                let new = NewRegisteredModel {
                    name: m.name.clone(),
                    description: m.description.clone(),
                    owner: None,
                    tags: m.tags.clone(),
                };
                out.model_created = true;
                self.store.create_registered_model(&new, m.created_at.unwrap_or_else(now_ms)).await?
            }
            Err(e) => return Err(e.into()),
        };
        let have: BTreeSet<i64> =
            self.store.list_model_versions(Some(&m.name)).await?.into_iter().map(|v| v.version).collect();
        let mut versions = m.versions.clone();
        versions.sort_by_key(|v| v.version);
        for v in versions.iter().filter(|v| !have.contains(&v.version)) {
            let run_id = match v.run_id.as_deref().and_then(RunId::parse) {
                Some(r) if self.store.get_run(&RunRef::Id(r)).await.is_ok() => Some(r),
                _ => None,
            };
            let new = NewModelVersion {
                version: Some(v.version),
                source: v.source.clone(),
                run_id,
                model_id: None,
                run_link: v.run_link.clone(),
                description: v.description.clone(),
                owner: None,
                tags: v.tags.clone(),
            };
            let at = v.created_at.unwrap_or_else(now_ms);
            match self.store.create_model_version(&m.name, &new, at).await {
                Ok(_) => out.versions_created += 1,
                // A number used already (a version deleted here): nothing to restore.
                Err(StoreError::AlreadyExists(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            if v.stage != ModelStage::None {
                let patch = ModelVersionPatch { stage: Some(v.stage), ..Default::default() };
                self.store.update_model_version(&m.name, v.version, &patch, at).await?;
            }
        }
        let live: BTreeSet<i64> =
            self.store.list_model_versions(Some(&m.name)).await?.into_iter().map(|v| v.version).collect();
        let aliases: BTreeMap<String, Option<i64>> = m
            .aliases
            .iter()
            .filter(|(a, v)| !existing.aliases.contains_key(*a) && live.contains(v))
            .map(|(a, v)| (a.clone(), Some(*v)))
            .collect();
        if !aliases.is_empty() {
            let patch = RegisteredModelPatch { aliases, ..Default::default() };
            self.store.update_registered_model(&m.name, &patch, now_ms()).await?;
        }
        Ok(out)
    }
}

//! Writes a [`Source`] into a store, idempotently: runs keep their identity, so a run
//! already there only gains what it lacks (params, tags, metric points past those it
//! has, artifacts it does not have). Progress is reported through a callback.

use crate::{ImportError, Result, Source, SourceRun};
use cairn_artifacts::ArtifactStore;
use cairn_domain::{
    ArtifactInfo, ArtifactPath, CodeInfo, MetricKey, MetricSeries, NewProject, ProjectName, ProjectPatch, Run, RunId,
    RunRef, RunStatus, ShortId,
};
use cairn_store::{MetadataStore, RunRecord, RunUpdate, StepRange, StoreError};
use std::collections::BTreeMap;

/// Points sent in one write.
const POINTS_PER_BATCH: usize = 100_000;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub projects_created: usize,
    pub runs_created: usize,
    pub runs_updated: usize,
    pub runs_unchanged: usize,
    pub params: usize,
    pub tags: usize,
    pub points: u64,
    pub artifacts: usize,
    pub artifact_bytes: u64,
    pub models_created: usize,
    pub versions_created: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} run(s) created, {} updated, {} unchanged; {} project(s) created; {} param(s), {} tag(s), {} metric \
             point(s), {} artifact(s) ({} bytes) added; {} registered model(s), {} model version(s) created",
            self.runs_created,
            self.runs_updated,
            self.runs_unchanged,
            self.projects_created,
            self.params,
            self.tags,
            self.points,
            self.artifacts,
            self.artifact_bytes,
            self.models_created,
            self.versions_created
        )
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Imports everything in `source`; `progress(done, total, run name)` after each run.
pub async fn apply(
    store: &dyn MetadataStore,
    artifacts: &ArtifactStore,
    source: &Source,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<Summary> {
    let mut summary = Summary::default();
    for p in &source.projects {
        ensure_project(store, &p.name, &mut summary).await?;
        if !p.tags.is_empty() || !p.description.is_empty() {
            let name = ProjectName::parse(p.name.clone()).map_err(|e| ImportError::Invalid(e.to_string()))?;
            let current = store.get_project(&name).await?;
            let missing: BTreeMap<String, String> = p
                .tags
                .iter()
                .filter(|(k, _)| !current.tags.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let description =
                (current.description.is_empty() && !p.description.is_empty()).then(|| p.description.clone());
            if !missing.is_empty() || description.is_some() {
                let patch = ProjectPatch { tags: missing, description, ..Default::default() };
                store.update_project(&name, &patch, now()).await?;
            }
        }
    }
    let total = source.runs.len();
    for (i, run) in source.runs.iter().enumerate() {
        ensure_project(store, &run.project, &mut summary).await?;
        let label = run.name.clone().unwrap_or_else(|| run.id.simple().to_string());
        match store.get_run(&RunRef::Id(RunId(run.id))).await {
            Ok(existing) => update(store, artifacts, run, &existing, &mut summary).await?,
            Err(StoreError::NotFound { .. }) => create(store, artifacts, run, &mut summary).await?,
            Err(e) => return Err(e.into()),
        }
        progress(i + 1, total, &label);
    }
    for m in &source.models {
        import_model(store, m, &mut summary).await?;
    }
    Ok(summary)
}

/// A registered model and the versions it lacks (numbers kept), their stages, tags
/// and the aliases it lacks. Versions link to their run when that run is in the store.
async fn import_model(store: &dyn MetadataStore, m: &crate::SourceModel, summary: &mut Summary) -> Result<()> {
    use cairn_domain::{ModelStage, ModelVersionPatch, NewModelVersion, NewRegisteredModel, RegisteredModelPatch};
    let existing = match store.get_registered_model(&m.name).await {
        Ok(existing) => existing,
        Err(StoreError::NotFound { .. }) => {
            let new = NewRegisteredModel {
                name: m.name.clone(),
                description: m.description.clone(),
                owner: None,
                tags: m.tags.clone(),
            };
            summary.models_created += 1;
            store.create_registered_model(&new, m.created_at.unwrap_or_else(now)).await?
        }
        Err(e) => return Err(e.into()),
    };
    let have: std::collections::BTreeSet<i64> =
        store.list_model_versions(Some(&m.name)).await?.into_iter().map(|v| v.version).collect();
    let mut versions = m.versions.clone();
    versions.sort_by_key(|v| v.version);
    for v in versions.iter().filter(|v| !have.contains(&v.version)) {
        let run_id = match v.run_id {
            Some(r) if store.get_run(&RunRef::Id(RunId(r))).await.is_ok() => Some(RunId(r)),
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
        let at = v.created_at.unwrap_or_else(now);
        match store.create_model_version(&m.name, &new, at).await {
            Ok(_) => summary.versions_created += 1,
            // A number Cairn has used already (a version deleted here): nothing to restore.
            Err(StoreError::AlreadyExists(_)) => continue,
            Err(e) => return Err(e.into()),
        }
        if v.stage != ModelStage::None {
            let patch = ModelVersionPatch { stage: Some(v.stage), ..Default::default() };
            store.update_model_version(&m.name, v.version, &patch, at).await?;
        }
    }
    let live: std::collections::BTreeSet<i64> =
        store.list_model_versions(Some(&m.name)).await?.into_iter().map(|v| v.version).collect();
    let aliases: BTreeMap<String, Option<i64>> = m
        .aliases
        .iter()
        .filter(|(a, v)| !existing.aliases.contains_key(*a) && live.contains(v))
        .map(|(a, v)| (a.clone(), Some(*v)))
        .collect();
    if !aliases.is_empty() {
        store.update_registered_model(&m.name, &RegisteredModelPatch { aliases, ..Default::default() }, now()).await?;
    }
    Ok(())
}

async fn ensure_project(store: &dyn MetadataStore, name: &str, summary: &mut Summary) -> Result<()> {
    let parsed =
        ProjectName::parse(name.to_owned()).map_err(|e| ImportError::Invalid(format!("project {name}: {e}")))?;
    match store.get_project(&parsed).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound { .. }) => {
            let new = NewProject { name: name.to_owned(), ..Default::default() };
            match store.create_project(&new, now()).await {
                Ok(_) => {
                    summary.projects_created += 1;
                    Ok(())
                }
                Err(StoreError::AlreadyExists(_)) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

async fn create(
    store: &dyn MetadataStore,
    artifacts: &ArtifactStore,
    src: &SourceRun,
    summary: &mut Summary,
) -> Result<()> {
    let created = src.created_at.unwrap_or_else(now);
    let status = src.status.unwrap_or(RunStatus::Finished);
    let parents = match src.parent {
        Some(p) if store.get_run(&RunRef::Id(RunId(p))).await.is_ok() => vec![RunId(p)],
        _ => vec![],
    };
    for attempt in 0..5 {
        let short_id = ShortId::from_random(rand::random());
        let run = Run {
            id: RunId(src.id),
            name: src.name.clone().unwrap_or_else(|| short_id.to_string()),
            short_id,
            project: ProjectName::parse(src.project.clone()).map_err(|e| ImportError::Invalid(e.to_string()))?,
            description: src.description.clone(),
            hypothesis: src.hypothesis.clone().filter(|h| !h.trim().is_empty()),
            expected: None,
            verdict: None,
            owner: src.owner.clone().unwrap_or_else(|| "unknown".to_owned()),
            tags: src.tags.clone(),
            status,
            created_at: created,
            started_at: Some(created),
            ended_at: src.ended_at.filter(|_| status.is_terminal()),
            exit_code: None,
            config: src.params.clone(),
            command: vec![],
            code: src.commit.clone().map(|c| CodeInfo { versioned: true, commit: Some(c), ..Default::default() }),
            data: None,
            environment: None,
            seeds: vec![],
            parents: parents.clone(),
            children: vec![],
            group_id: None,
            fingerprint: None,
            metrics: vec![],
            deleted_at: None,
            updated_at: now(),
            changes: None,
            config_sources: src.params.keys().map(|k| (k.clone(), "import".to_owned())).collect(),
        };
        match store.create_run(&RunRecord { run }).await {
            Ok(_) => break,
            Err(StoreError::AlreadyExists(_)) if attempt < 4 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    summary.runs_created += 1;
    summary.params += src.params.len();
    summary.tags += src.tags.len();
    let id = RunId(src.id);
    for (key, points) in &src.metrics {
        summary.points += write_points(store, id, key, points, 0).await?;
    }
    for (path, file) in &src.artifacts {
        summary.artifact_bytes += upload(store, artifacts, id, path, file).await?;
        summary.artifacts += 1;
    }
    if src.deleted {
        store.delete_run(id, now()).await?;
    }
    Ok(())
}

async fn update(
    store: &dyn MetadataStore,
    artifacts: &ArtifactStore,
    src: &SourceRun,
    existing: &Run,
    summary: &mut Summary,
) -> Result<()> {
    let id = existing.id;
    let before = summary.clone();
    if existing.deleted_at.is_some() {
        summary.runs_unchanged += 1;
        return Ok(());
    }
    let mut u = RunUpdate::default();
    let mut config = existing.config.clone();
    for (k, v) in &src.params {
        if !config.contains_key(k) {
            config.insert(k.clone(), v.clone());
            summary.params += 1;
        }
    }
    if config != existing.config {
        u.config = Some(config);
    }
    for (k, v) in &src.tags {
        if !existing.tags.contains_key(k) {
            u.set_tags.insert(k.clone(), v.clone());
            summary.tags += 1;
        }
    }
    if existing.status == RunStatus::Running
        && let Some(s) = src.status.filter(|s| s.is_terminal())
    {
        u.status = Some(s);
        u.ended_at = src.ended_at;
    }
    if u.config.is_some() || !u.set_tags.is_empty() || u.status.is_some() {
        store.update_run(id, &u, now()).await?;
    }
    for (key, points) in &src.metrics {
        let have = store.metric_history(id, key, StepRange::default()).await.map(|h| h.len()).unwrap_or(0);
        if points.len() > have {
            summary.points += write_points(store, id, key, points, have).await?;
        }
    }
    let stored: BTreeMap<String, u64> =
        store.list_artifacts(id, "").await?.into_iter().map(|a| (a.path.to_string(), a.size)).collect();
    for (path, file) in &src.artifacts {
        let size = std::fs::metadata(file).map(|m| m.len()).ok();
        if stored.get(path).copied() != size {
            summary.artifact_bytes += upload(store, artifacts, id, path, file).await?;
            summary.artifacts += 1;
        }
    }
    if *summary == before {
        summary.runs_unchanged += 1;
    } else {
        summary.runs_updated += 1;
    }
    Ok(())
}

/// Writes `points[from..]`, in batches with ids derived from their place in the
/// series, so a retried import cannot store a batch twice.
async fn write_points(
    store: &dyn MetadataStore,
    id: RunId,
    key: &str,
    points: &[crate::Point],
    from: usize,
) -> Result<u64> {
    let metric = MetricKey::parse(key).map_err(|e| ImportError::Invalid(format!("metric '{key}': {e}")))?;
    let mut written = 0;
    let mut start = from;
    while start < points.len() {
        let end = (start + POINTS_PER_BATCH).min(points.len());
        let mut series = MetricSeries::default();
        for p in &points[start..end] {
            series.push(p.step, p.value, p.timestamp);
        }
        let batch_id =
            format!("import-{}-{start}-{end}", blake3::hash(key.as_bytes()).to_hex().as_str().get(..16).unwrap_or(""));
        written += store.log_metrics(id, &[(metric.clone(), series)], Some(&batch_id)).await?;
        start = end;
    }
    Ok(written)
}

async fn upload(
    store: &dyn MetadataStore,
    artifacts: &ArtifactStore,
    id: RunId,
    path: &str,
    file: &std::path::Path,
) -> Result<u64> {
    let p = ArtifactPath::parse(path).map_err(|e| ImportError::Invalid(format!("artifact {path}: {e}")))?;
    let f = tokio::fs::File::open(file).await.map_err(|source| ImportError::Io { path: file.to_owned(), source })?;
    let stream = file_stream(f);
    let stored = artifacts.put_stream(id, &p, stream).await?;
    let info = ArtifactInfo { path: p, size: stored.size, blake3: stored.blake3, created_at: now() };
    store.record_artifact(id, &info).await?;
    Ok(stored.size)
}

/// A file as a stream of chunks (read in 1 MiB pieces, never whole).
fn file_stream(f: tokio::fs::File) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send {
    use tokio::io::AsyncReadExt;
    futures::stream::unfold(Some(f), |state| async move {
        let mut f = state?;
        let mut buf = vec![0u8; 1 << 20];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(f)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

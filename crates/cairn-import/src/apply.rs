//! Sends a [`Source`] to a Cairn server, idempotently: runs keep their identity, so a
//! run the server has already only gains what it lacks (params, tags, metric points
//! past those it has, artifacts it does not have). The server writes the records
//! (`/api/v1/import/…`); points and files follow through the ordinary endpoints, with
//! batch ids derived from their place, so a retried import cannot store them twice.
//! Progress is reported through a callback.

use crate::{Result, Source, SourceRun};
use cairn_api::import::{ImportModel, ImportModelVersion, ImportProject, ImportRun, ImportedRun};
use cairn_api::runs::{ColumnarSeries, MetricsBatch};
use cairn_client::Client;
use std::collections::BTreeSet;

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

/// Imports everything in `source`; `progress(done, total, run name)` after each run.
pub async fn apply(client: &Client, source: &Source, mut progress: impl FnMut(usize, usize, &str)) -> Result<Summary> {
    let mut summary = Summary::default();
    let mut ensured: BTreeSet<String> = BTreeSet::new();
    for p in &source.projects {
        let imported = client
            .import_project(&ImportProject {
                name: p.name.clone(),
                description: p.description.clone(),
                tags: p.tags.clone(),
                created_at: p.created_at,
            })
            .await?;
        summary.projects_created += usize::from(imported.created);
        ensured.insert(p.name.clone());
    }
    let total = source.runs.len();
    for (i, run) in source.runs.iter().enumerate() {
        if ensured.insert(run.project.clone()) {
            let imported =
                client.import_project(&ImportProject { name: run.project.clone(), ..Default::default() }).await?;
            summary.projects_created += usize::from(imported.created);
        }
        let label = run.name.clone().unwrap_or_else(|| run.id.simple().to_string());
        import_run(client, run, &mut summary).await?;
        progress(i + 1, total, &label);
    }
    for m in &source.models {
        let imported = client
            .import_model(&ImportModel {
                name: m.name.clone(),
                description: m.description.clone(),
                tags: m.tags.clone(),
                aliases: m.aliases.clone(),
                created_at: m.created_at,
                versions: m
                    .versions
                    .iter()
                    .map(|v| ImportModelVersion {
                        version: v.version,
                        source: v.source.clone(),
                        run_id: v.run_id.map(|r| r.simple().to_string()),
                        run_link: v.run_link.clone(),
                        stage: v.stage,
                        description: v.description.clone(),
                        tags: v.tags.clone(),
                        created_at: v.created_at,
                    })
                    .collect(),
            })
            .await?;
        summary.models_created += usize::from(imported.model_created);
        summary.versions_created += imported.versions_created;
    }
    Ok(summary)
}

async fn import_run(client: &Client, src: &SourceRun, summary: &mut Summary) -> Result<()> {
    let record = ImportRun {
        id: src.id.simple().to_string(),
        project: src.project.clone(),
        name: src.name.clone(),
        owner: src.owner.clone(),
        hypothesis: src.hypothesis.clone(),
        description: src.description.clone(),
        status: src.status,
        created_at: src.created_at,
        ended_at: src.ended_at,
        params: src.params.clone(),
        tags: src.tags.clone(),
        parent: src.parent.map(|p| p.simple().to_string()),
        commit: src.commit.clone(),
    };
    let had: ImportedRun = client.import_run(&record).await?;
    summary.params += had.params_added;
    summary.tags += had.tags_added;
    if had.deleted {
        summary.runs_unchanged += 1;
        return Ok(());
    }
    let before = summary.clone();
    for (key, points) in &src.metrics {
        let have = had.points.get(key).copied().unwrap_or(0) as usize;
        if points.len() > have {
            summary.points += write_points(client, &had.id, key, points, have).await?;
        }
    }
    for (path, file) in &src.artifacts {
        let size = std::fs::metadata(file).map(|m| m.len()).ok();
        if had.artifacts.get(path).copied() != size {
            let info = client.upload(&had.id, path, file).await?;
            summary.artifact_bytes += info.size;
            summary.artifacts += 1;
        }
    }
    if had.created {
        summary.runs_created += 1;
        if src.deleted {
            client.delete_run(&had.id).await?;
        }
    } else if had.updated || had.params_added > 0 || had.tags_added > 0 || *summary != before {
        summary.runs_updated += 1;
    } else {
        summary.runs_unchanged += 1;
    }
    Ok(())
}

/// Sends `points[from..]` in batches whose ids derive from their place in the series,
/// so a retried import cannot store a batch twice.
async fn write_points(client: &Client, run: &str, key: &str, points: &[crate::Point], from: usize) -> Result<u64> {
    let mut written = 0;
    let mut start = from;
    let key_hash = blake3::hash(key.as_bytes()).to_hex();
    while start < points.len() {
        let end = (start + POINTS_PER_BATCH).min(points.len());
        let slice = &points[start..end];
        let series = ColumnarSeries {
            key: key.to_owned(),
            steps: slice.iter().map(|p| p.step).collect(),
            values: slice.iter().map(|p| p.value).collect(),
            timestamps: Some(slice.iter().map(|p| p.timestamp).collect()),
        };
        let batch_id = format!("import-{}-{start}-{end}", &key_hash.as_str()[..16]);
        let batch = MetricsBatch { series: vec![series], batch_id: Some(batch_id), ..Default::default() };
        written += client.log_metrics(run, &batch).await?;
        start = end;
    }
    Ok(written)
}

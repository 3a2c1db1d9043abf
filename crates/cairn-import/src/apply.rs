//! Sends a [`Source`] to a Cairn server, idempotently: runs keep their identity, so a
//! run the server has already only gains what it lacks (params, tags, metric points
//! past those it has, artifacts it does not have). The server writes the records
//! (`/api/v1/import/…`); points and files follow through the ordinary endpoints, with
//! batch ids derived from their place, so a retried import cannot store them twice.
//! Runs go a thousand to a request, with their short series (a spreadsheet row's
//! metrics) inline, so the new runs of a batch are one transaction on the server.
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
    // A source imported by an earlier Cairn, which gave its runs other ids: keep those.
    let mut renamed;
    let mut runs = &source.runs;
    if let Some(first) = source.runs.iter().find_map(|r| r.earlier_id)
        && client.run(&first.simple().to_string()).await.is_ok()
    {
        renamed = source.runs.clone();
        for r in &mut renamed {
            r.id = r.earlier_id.unwrap_or(r.id);
        }
        runs = &renamed;
    }
    let total = runs.len();
    let mut done = 0;
    // One batch in flight while the answer to the one before is handled: the server
    // parses and checks a batch while it writes the other (its store writes one
    // transaction at a time). A batch naming a parent sent in an earlier batch waits for
    // that batch to be written, so the parent is there to link to.
    let mut in_flight: Option<(&[SourceRun], Pending)> = None;
    for batch in batches(runs) {
        for run in batch {
            if ensured.insert(run.project.clone()) {
                let imported =
                    client.import_project(&ImportProject { name: run.project.clone(), ..Default::default() }).await?;
                summary.projects_created += usize::from(imported.created);
            }
        }
        let waits_for_parent = in_flight.as_ref().is_some_and(|(b, _)| {
            let theirs: BTreeSet<uuid::Uuid> = b.iter().map(|r| r.id).collect();
            batch.iter().any(|r| r.parent.is_some_and(|p| theirs.contains(&p)))
        });
        if waits_for_parent && let Some((b, pending)) = in_flight.take() {
            done += finish_batch(client, b, pending, &mut summary, total, done, &mut progress).await?;
        }
        let records: Vec<ImportRun> = batch.iter().map(record_of).collect();
        if let Some((b, pending)) = in_flight.replace((batch, send(client, records))) {
            done += finish_batch(client, b, pending, &mut summary, total, done, &mut progress).await?;
        }
    }
    if let Some((b, pending)) = in_flight.take() {
        finish_batch(client, b, pending, &mut summary, total, done, &mut progress).await?;
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

/// A batch's request, running on its own task while the one before is handled.
type Pending = tokio::task::JoinHandle<(Vec<ImportRun>, Result<Vec<ImportedRun>, cairn_client::Error>)>;

fn send(client: &Client, records: Vec<ImportRun>) -> Pending {
    let client = client.clone();
    tokio::spawn(async move {
        let answers = client.import_runs(&records).await;
        (records, answers)
    })
}

/// Waits for a batch's answer, then sends what its runs still lack; returns how many
/// runs it held.
async fn finish_batch(
    client: &Client,
    batch: &[SourceRun],
    pending: Pending,
    summary: &mut Summary,
    total: usize,
    done: usize,
    progress: &mut impl FnMut(usize, usize, &str),
) -> Result<usize> {
    let (records, answers) =
        pending.await.map_err(|e| crate::ImportError::Source(format!("the import stopped: {e}")))?;
    for ((src, record), had) in batch.iter().zip(&records).zip(answers?) {
        finish_run(client, src, record, had, summary).await?;
    }
    let last = batch.last().expect("batches are not empty");
    progress(done + batch.len(), total, &last.name.clone().unwrap_or_else(|| last.id.simple().to_string()));
    Ok(batch.len())
}

/// Runs per request, and the most points sent inline with them: one transaction on
/// the server writes a batch's new runs, so a spreadsheet of 100,000 rows is a hundred
/// requests instead of several hundred thousand.
const RUNS_PER_BATCH: usize = 1_000;
const INLINE_POINTS_PER_BATCH: usize = 50_000;
/// A series up to this long travels with its run; longer ones follow separately.
const INLINE_SERIES: usize = 1_000;

/// The runs cut into batches that respect both limits.
fn batches(runs: &[SourceRun]) -> Vec<&[SourceRun]> {
    let mut out = Vec::new();
    let (mut start, mut points) = (0, 0);
    for (i, r) in runs.iter().enumerate() {
        let p = inline_points(r);
        if i > start && (i - start >= RUNS_PER_BATCH || points + p > INLINE_POINTS_PER_BATCH) {
            out.push(&runs[start..i]);
            (start, points) = (i, 0);
        }
        points += p;
    }
    if start < runs.len() {
        out.push(&runs[start..]);
    }
    out
}

fn inline_points(r: &SourceRun) -> usize {
    r.metrics.values().map(Vec::len).filter(|&n| n <= INLINE_SERIES).sum()
}

fn record_of(src: &SourceRun) -> ImportRun {
    ImportRun {
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
        series: src
            .metrics
            .iter()
            .filter(|(_, points)| !points.is_empty() && points.len() <= INLINE_SERIES)
            .map(|(key, points)| ColumnarSeries {
                key: key.clone(),
                steps: points.iter().map(|p| p.step).collect(),
                values: points.iter().map(|p| p.value).collect(),
                timestamps: Some(points.iter().map(|p| p.timestamp).collect()),
            })
            .collect(),
    }
}

/// After the server's answer for one run: the points and files it lacks, and the count.
async fn finish_run(
    client: &Client,
    src: &SourceRun,
    record: &ImportRun,
    had: ImportedRun,
    summary: &mut Summary,
) -> Result<()> {
    summary.params += had.params_added;
    summary.tags += had.tags_added;
    if had.deleted {
        summary.runs_unchanged += 1;
        return Ok(());
    }
    let before = summary.clone();
    if had.created {
        summary.points += record.series.iter().map(|s| s.steps.len() as u64).sum::<u64>();
    }
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

//! Runs written in bulk: `POST /api/v1/runs/batch` (results reported after the fact,
//! a sweep's trials) and `POST /api/v1/import/runs/batch` (the importers). The new
//! runs of one request go to the store in one transaction; a short id that happens to
//! be taken is drawn again for the whole batch.

use super::{Result, Service, now_ms, random_u64};
use crate::error::ApiError;
use cairn_api::import::{ImportRun, ImportedRun};
use cairn_api::runs::{BatchCreated, BatchCreatedRun, BatchRun, ColumnarSeries, MAX_RUNS_PER_BATCH};
use cairn_domain::auth::Role;
use cairn_domain::{CodeInfo, MetricKey, MetricSeries, ProjectName, Run, RunId, RunStatus, ShortId};
use cairn_store::{BulkRun, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap};

fn check_size(n: usize) -> Result<()> {
    if n > MAX_RUNS_PER_BATCH {
        return Err(ApiError::invalid(format!(
            "this batch carries {n} runs; the limit is {MAX_RUNS_PER_BATCH} per request: split it"
        )));
    }
    Ok(())
}

/// The error, its code kept, saying which run of the batch it is about.
fn at(which: &str, mut e: ApiError) -> ApiError {
    e.message = format!("{which}: {}", e.message);
    e
}

fn series_of(given: &[ColumnarSeries], now: i64, which: &str) -> Result<Vec<(MetricKey, MetricSeries)>> {
    let mut out = Vec::with_capacity(given.len());
    let mut seen = BTreeSet::new();
    for c in given {
        let key = MetricKey::parse(c.key.clone())?;
        if !seen.insert(c.key.as_str()) {
            return Err(ApiError::invalid(format!("{which}: metric '{}' is given twice", c.key)));
        }
        let timestamps = c.timestamps.clone().unwrap_or_else(|| vec![now; c.steps.len()]);
        let s = MetricSeries { steps: c.steps.clone(), values: c.values.clone(), timestamps };
        s.check_lengths().map_err(|e| ApiError::invalid(format!("{which}: metric '{}': {e}", c.key)))?;
        out.push((key, s));
    }
    Ok(out)
}

/// A run record for a bulk write; `short_id` is drawn by [`Service::write_bulk`].
fn blank_run(id: RunId, project: ProjectName, status: RunStatus, created: i64, now: i64) -> Run {
    Run {
        id,
        short_id: ShortId::from_random(0),
        name: String::new(),
        project,
        description: String::new(),
        hypothesis: None,
        expected: None,
        verdict: None,
        owner: "unknown".to_owned(),
        tags: BTreeMap::new(),
        status,
        created_at: created,
        started_at: Some(created),
        ended_at: None,
        exit_code: None,
        config: Default::default(),
        command: vec![],
        code: None,
        data: None,
        environment: None,
        seeds: vec![],
        parents: vec![],
        children: vec![],
        group_id: None,
        fingerprint: None,
        metrics: vec![],
        deleted_at: None,
        updated_at: now,
        changes: None,
        config_sources: BTreeMap::new(),
    }
}

impl Service {
    /// Writes new runs in one transaction, drawing short ids (and names left empty)
    /// again when one is taken.
    async fn write_bulk(&self, mut runs: Vec<BulkRun>, unnamed: &[bool]) -> Result<Vec<BulkRun>> {
        for attempt in 0..5 {
            for (r, unnamed) in runs.iter_mut().zip(unnamed) {
                r.run.short_id = ShortId::from_random(random_u64());
                if *unnamed {
                    r.run.name = r.run.short_id.to_string();
                }
            }
            match self.store.create_runs(&runs).await {
                Ok(()) => {
                    for r in &runs {
                        self.notify(r.run.id);
                    }
                    return Ok(runs);
                }
                Err(StoreError::AlreadyExists(_)) if attempt < 4 => continue,
                Err(e) => return Err(e.into()),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// `POST /api/v1/runs/batch`: new runs, owned by the caller, all or none.
    pub async fn create_run_batch(&self, batch: Vec<BatchRun>) -> Result<BatchCreated> {
        check_size(batch.len())?;
        let now = now_ms();
        let owner = self.owner_or(None).unwrap_or_else(|| "unknown".to_owned());
        let mut projects: HashMap<String, bool> = HashMap::new();
        let mut runs = Vec::with_capacity(batch.len());
        let mut unnamed = Vec::with_capacity(batch.len());
        for (i, b) in batch.into_iter().enumerate() {
            let which = format!("runs[{i}]");
            let name = ProjectName::parse(b.project.clone()).map_err(|e| at(&which, e.into()))?;
            if !projects.contains_key(name.as_str()) {
                let p = self.project_for_run(&name).await?;
                self.project_as(name.as_str(), Role::Editor).await?;
                projects.insert(name.to_string(), p.require_hypothesis);
            }
            let new = cairn_domain::NewRun {
                project: b.project.clone(),
                name: b.name.clone().filter(|n| !n.is_empty()),
                description: b.description.clone(),
                hypothesis: b.hypothesis.clone(),
                tags: b.tags.clone(),
                config: b.config.clone(),
                command: b.command.clone(),
                seeds: b.seeds.clone(),
                ..Default::default()
            };
            new.validate(projects[name.as_str()]).map_err(|e| at(&which, e.into()))?;
            let status = b.status.unwrap_or(RunStatus::Finished);
            if status == RunStatus::Queued {
                return Err(ApiError::invalid(format!(
                    "{which}: a batch records results; submit a job to queue one (`cairn submit`, POST /api/v1/jobs)"
                )));
            }
            let created = b.created_at.unwrap_or(now);
            let mut run = blank_run(RunId(uuid::Uuid::now_v7()), name, status, created, now);
            run.name = new.name.clone().unwrap_or_default();
            run.description = new.description;
            run.hypothesis = new.hypothesis.filter(|h| !h.trim().is_empty());
            run.owner = owner.clone();
            run.tags = new.tags;
            run.ended_at = status.is_terminal().then(|| b.ended_at.unwrap_or(created));
            run.config = new.config;
            run.command = new.command;
            run.seeds = new.seeds;
            run.group_id = b.group_id.clone();
            // Each final value is the metric's one point, at step 0 and the run's time.
            let metrics = b
                .metrics
                .iter()
                .map(|(k, v)| {
                    let key = MetricKey::parse(k.clone()).map_err(|e| at(&which, e.into()))?;
                    Ok((key, MetricSeries { steps: vec![0], values: vec![*v], timestamps: vec![created] }))
                })
                .collect::<Result<Vec<_>>>()?;
            unnamed.push(run.name.is_empty());
            runs.push(BulkRun { run, metrics });
        }
        let written = self.write_bulk(runs, &unnamed).await?;
        Ok(BatchCreated {
            runs: written
                .into_iter()
                .map(|b| BatchCreatedRun {
                    id: b.run.id.to_string(),
                    short_id: b.run.short_id.to_string(),
                    name: b.run.name,
                })
                .collect(),
        })
    }

    /// `POST /api/v1/import/runs/batch`: what [`Service::import_run`] does for each run,
    /// with the new runs written in one transaction and the known ones read together.
    pub async fn import_runs(&self, batch: Vec<ImportRun>) -> Result<Vec<ImportedRun>> {
        check_size(batch.len())?;
        // Another import may write some of these runs meanwhile (an id taken): read
        // again, and they are known runs the second time.
        for _ in 0..3 {
            if let Some(out) = self.import_runs_once(&batch).await? {
                return Ok(out);
            }
        }
        Err(ApiError::new(
            crate::error::ErrorCode::AlreadyExists,
            "these runs are being imported by another client at the same time; import again when it is done",
        ))
    }

    async fn import_runs_once(&self, batch: &[ImportRun]) -> Result<Option<Vec<ImportedRun>>> {
        let now = now_ms();
        let mut ids = Vec::with_capacity(batch.len());
        let mut series = Vec::with_capacity(batch.len());
        let mut seen = BTreeSet::new();
        let mut projects = BTreeSet::new();
        for (i, src) in batch.iter().enumerate() {
            let id = super::import::run_id(&src.id)?;
            if !seen.insert(id) {
                return Err(ApiError::invalid(format!("runs[{i}]: run {} is in this batch twice", src.id)));
            }
            self.check_import_run(src)?;
            series.push(series_of(&src.series, now, &format!("runs[{i}]"))?);
            ids.push(id);
            projects.insert(ProjectName::parse(src.project.clone())?);
        }
        for p in &projects {
            self.ensure_project_exists(p, None).await?;
            self.project_as(p.as_str(), Role::Editor).await?;
        }
        let known: HashMap<RunId, Run> = self.store.get_runs(&ids).await?.into_iter().map(|r| (r.id, r)).collect();
        let mut checked = BTreeSet::new();
        for r in known.values() {
            if checked.insert(r.project.clone()) {
                self.require_on_run(r, &r.id.to_string(), Role::Editor).await?;
            }
        }
        // Parents: runs the store has, or new runs earlier in this batch.
        let wanted: Vec<RunId> = batch
            .iter()
            .filter_map(|s| s.parent.as_deref().and_then(RunId::parse))
            .filter(|p| !known.contains_key(p))
            .collect();
        let mut parents: BTreeSet<RunId> = self.store.get_runs(&wanted).await?.into_iter().map(|r| r.id).collect();
        parents.extend(known.keys().copied());

        let mut out: Vec<ImportedRun> = Vec::with_capacity(batch.len());
        let mut new_runs = Vec::new();
        let mut unnamed = Vec::new();
        for ((src, id), metrics) in batch.iter().zip(&ids).zip(series) {
            let mut answer = ImportedRun { id: id.to_string(), ..Default::default() };
            if let Some(existing) = known.get(id) {
                self.import_update(src, existing, &mut answer).await?;
                answer.deleted = existing.deleted_at.is_some();
                answer.points = existing.metrics.iter().map(|m| (m.key.to_string(), m.count.max(0) as u64)).collect();
                out.push(answer);
                continue;
            }
            let project = ProjectName::parse(src.project.clone())?;
            let created = src.created_at.unwrap_or(now);
            let status = src.status.unwrap_or(RunStatus::Finished);
            let mut run = blank_run(*id, project, status, created, now);
            run.name = src.name.clone().unwrap_or_default();
            run.description = src.description.clone();
            run.hypothesis = src.hypothesis.clone().filter(|h| !h.trim().is_empty());
            // History keeps its authors; rows that name none are the importer's.
            run.owner = src.owner.clone().or_else(|| self.owner_or(None)).unwrap_or_else(|| "unknown".to_owned());
            run.tags = src.tags.clone();
            run.ended_at = src.ended_at.filter(|_| status.is_terminal());
            run.config = src.params.clone();
            run.code = src.commit.clone().map(|c| CodeInfo { versioned: true, commit: Some(c), ..Default::default() });
            run.parents =
                src.parent.as_deref().and_then(RunId::parse).filter(|p| parents.contains(p)).into_iter().collect();
            run.config_sources = src.params.keys().map(|k| (k.clone(), "import".to_owned())).collect();
            parents.insert(*id);
            answer.created = true;
            answer.params_added = src.params.len();
            answer.tags_added = src.tags.len();
            answer.points = metrics.iter().map(|(k, s)| (k.as_str().to_owned(), s.len() as u64)).collect();
            out.push(answer);
            unnamed.push(run.name.is_empty());
            new_runs.push(BulkRun { run, metrics });
        }
        if !new_runs.is_empty() {
            match self.write_bulk(new_runs, &unnamed).await {
                Ok(_) => {}
                Err(e) if e.code == crate::error::ErrorCode::AlreadyExists => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        let old: Vec<RunId> = ids.iter().copied().filter(|id| known.contains_key(id)).collect();
        let mut files = self.store.artifacts_of(&old).await?;
        for (answer, id) in out.iter_mut().zip(&ids) {
            if let Some(list) = files.remove(id) {
                answer.artifacts = list.into_iter().map(|a| (a.path.to_string(), a.size)).collect();
            }
        }
        Ok(Some(out))
    }
}

//! What the analysis commands (`tried`, `compare`, `baseline`) read about a project:
//! its runs, the metric to judge by, a run's value of it, replicate groups and the
//! noise floor they give.

use anyhow::{Result, bail};
use cairn_analysis::Noise;
use cairn_domain::{Direction, Project, ProjectName, Run, RunRef, RunStatus};
use cairn_store::{MetadataStore, RunQuery, StoreError};
use std::collections::BTreeMap;

/// The project `--project` names, else `CAIRN_PROJECT`, else `default`.
pub fn project_name(given: Option<String>) -> String {
    given.or_else(|| std::env::var("CAIRN_PROJECT").ok().filter(|p| !p.is_empty())).unwrap_or_else(|| "default".into())
}

pub async fn project(store: &dyn MetadataStore, name: &str) -> Result<Project> {
    let parsed = ProjectName::parse(name.to_owned())?;
    match store.get_project(&parsed).await {
        Err(StoreError::NotFound { .. }) => bail!("no project '{name}'; `cairn projects` lists them"),
        other => Ok(other?),
    }
}

/// The metric to judge by: `--metric` (with its direction), else the project's primary metric.
pub fn metric(project: &Project, given: Option<String>, lower_is_better: bool) -> Result<(String, Direction)> {
    match (given, &project.primary_metric) {
        (Some(m), _) => Ok((m, if lower_is_better { Direction::Decrease } else { Direction::Increase })),
        (None, Some(p)) => Ok((p.key.clone(), p.direction)),
        (None, None) => bail!(
            "project '{0}' has no primary metric: pass --metric KEY (and --lower-is-better for a loss), or set one \
             with `cairn projects set {0} --primary-metric KEY`",
            project.name
        ),
    }
}

/// Every live run of the project, page by page.
pub async fn all_runs(store: &dyn MetadataStore, project: &ProjectName) -> Result<Vec<Run>> {
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let q = RunQuery { project: Some(project.clone()), limit: 1000, offset, ..Default::default() };
        let page = store.search_runs(&q).await?;
        let n = page.runs.len() as u64;
        all.extend(page.runs);
        match page.next_offset {
            Some(next) if n > 0 => offset = next,
            _ => return Ok(all),
        }
    }
}

/// A finished run's result: the last value of `metric`, when it has a finite one.
pub fn value(run: &Run, metric: &str) -> Option<f64> {
    if run.status != RunStatus::Finished {
        return None;
    }
    run.metrics.iter().find(|m| m.key == metric).map(|m| m.last).filter(|v| v.is_finite())
}

/// Replicate groups (same setup, other seeds) of two or more runs: group id → runs.
/// Baseline re-evaluations are left out: they measure drift, not seed-to-seed noise.
pub fn replicate_groups(runs: &[Run]) -> BTreeMap<String, Vec<&Run>> {
    let mut groups: BTreeMap<String, Vec<&Run>> = BTreeMap::new();
    for r in runs.iter().filter(|r| !r.tags.contains_key(crate::commands::baseline::REEVAL_TAG)) {
        if let Some(g) = &r.group_id {
            groups.entry(g.clone()).or_default().push(r);
        }
    }
    groups.retain(|_, rs| rs.len() > 1);
    groups
}

/// The project's seed-to-seed spread of `metric`, from its replicate groups.
pub fn noise_floor(runs: &[Run], metric: &str) -> Option<Noise> {
    let groups: Vec<Vec<f64>> =
        replicate_groups(runs).values().map(|rs| rs.iter().filter_map(|r| value(r, metric)).collect()).collect();
    cairn_analysis::pooled_noise(&groups)
}

/// One side of a comparison: a run and, unless `single`, the rest of its replicate group.
pub struct Side {
    pub label: String,
    pub runs: Vec<Run>,
}

impl Side {
    pub fn values(&self, metric: &str) -> (Vec<f64>, usize) {
        let vals: Vec<f64> = self.runs.iter().filter_map(|r| value(r, metric)).collect();
        let missing = self.runs.len() - vals.len();
        (vals, missing)
    }
}

/// Resolves `reference` (a run id, short id, or replicate group id) to its runs.
pub async fn side(store: &dyn MetadataStore, runs: &[Run], reference: &str, single: bool) -> Result<Side> {
    if reference.starts_with("replicates-") {
        let members: Vec<Run> = runs.iter().filter(|r| r.group_id.as_deref() == Some(reference)).cloned().collect();
        if members.is_empty() {
            bail!("no replicate group '{reference}' in this project; `cairn ls` shows each run's group size");
        }
        return Ok(Side { label: format!("group {reference}"), runs: members });
    }
    let r = match store.get_run(&RunRef::parse(reference)?).await {
        Err(StoreError::NotFound { .. }) => bail!("no run '{reference}'; `cairn ls` lists runs"),
        other => other?,
    };
    let group: Vec<Run> = match (&r.group_id, single) {
        (Some(g), false) => runs.iter().filter(|o| o.group_id.as_ref() == Some(g)).cloned().collect(),
        _ => vec![],
    };
    if group.len() > 1 {
        return Ok(Side { label: format!("{} + {} replicate(s)", r.short_id, group.len() - 1), runs: group });
    }
    Ok(Side { label: r.short_id.to_string(), runs: vec![r] })
}

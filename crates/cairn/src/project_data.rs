//! What the analysis commands (`tried`, `compare`, `baseline`) read about a project:
//! its runs and the metric to judge by. Sides, values and the noise floor are the
//! service's (`cairn_server::service::compare`), so the CLI and the UI agree.

use anyhow::{Result, bail};
use cairn_analysis::Noise;
use cairn_domain::{Direction, Project, ProjectName, Run};
use cairn_store::{MetadataStore, RunQuery, StoreError};

pub use cairn_server::service::comparison::Side;

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
    let lower = given.as_ref().map(|_| lower_is_better);
    cairn_server::service::comparison::metric_of(project, given.as_deref(), lower)
        .map_err(|e| anyhow::anyhow!(e.message))
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
    cairn_server::service::comparison::run_value(run, metric)
}

/// The project's seed-to-seed spread of `metric`, from its replicate groups.
pub fn noise_floor(runs: &[Run], metric: &str) -> Option<Noise> {
    cairn_server::service::comparison::noise_floor(runs, metric)
}

/// Resolves `reference` (a run id, short id, or replicate group id) to its runs.
pub async fn side(store: &dyn MetadataStore, runs: &[Run], reference: &str, single: bool) -> Result<Side> {
    cairn_server::service::comparison::resolve_side(store, runs, reference, single)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))
}

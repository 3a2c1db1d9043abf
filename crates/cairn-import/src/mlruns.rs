//! MLflow's file store: `mlruns/<experiment id>/meta.yaml` and, per run,
//! `<run id>/meta.yaml`, `params/`, `metrics/` (lines of `timestamp value step`),
//! `tags/` (keys with `/` are folders) and `artifacts/`. Experiments in `.trash/` are
//! deleted ones and are left out (counted in [`Read::skipped`]).

use crate::{ImportError, Point, Result, Source, SourceProject, SourceRun};
use cairn_domain::RunStatus;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What reading found besides the runs.
#[derive(Debug, Default)]
pub struct Read {
    pub source: Source,
    /// Things left out, said in words (deleted experiments, artifacts stored elsewhere).
    pub skipped: Vec<String>,
}

#[derive(Deserialize)]
struct ExperimentMeta {
    name: String,
    #[serde(default)]
    lifecycle_stage: Option<String>,
    #[serde(default)]
    creation_time: Option<i64>,
}

#[derive(Deserialize)]
struct RunMeta {
    run_id: Option<String>,
    run_uuid: Option<String>,
    #[serde(default)]
    run_name: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    status: Option<serde_norway::Value>,
    #[serde(default)]
    start_time: Option<i64>,
    #[serde(default)]
    end_time: Option<i64>,
    #[serde(default)]
    lifecycle_stage: Option<String>,
    #[serde(default)]
    artifact_uri: Option<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io { path: path.to_owned(), source }
}

fn yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_norway::from_str(&text)
        .map_err(|e| ImportError::Source(format!("{} is not MLflow metadata: {e}", path.display())))
}

/// Files under `dir`, as (key with `/` separators, path), sorted.
fn key_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io(&d))? {
            let entry = entry.map_err(io(&d))?;
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                let key: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                out.push((key.join("/"), path));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn status(v: Option<&serde_norway::Value>) -> Option<RunStatus> {
    let code = match v? {
        serde_norway::Value::Number(n) => n.as_i64()?,
        serde_norway::Value::String(s) => {
            return match s.as_str() {
                "RUNNING" => Some(RunStatus::Running),
                "SCHEDULED" => Some(RunStatus::Queued),
                "FINISHED" => Some(RunStatus::Finished),
                "FAILED" => Some(RunStatus::Failed),
                "KILLED" => Some(RunStatus::Killed),
                _ => None,
            };
        }
        _ => return None,
    };
    // MLflow's RunStatus enum numbers.
    match code {
        1 => Some(RunStatus::Running),
        2 => Some(RunStatus::Queued),
        3 => Some(RunStatus::Finished),
        4 => Some(RunStatus::Failed),
        5 => Some(RunStatus::Killed),
        _ => None,
    }
}

fn metric_points(path: &Path) -> Result<Vec<Point>> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        let bad = || {
            ImportError::Source(format!(
                "{} line {}: expected `timestamp value [step]`, got '{line}'",
                path.display(),
                n + 1
            ))
        };
        let timestamp: i64 = parts.first().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
        let value: f64 = match parts.get(1).copied() {
            Some("nan" | "NaN") => f64::NAN,
            Some("inf" | "Infinity") => f64::INFINITY,
            Some("-inf" | "-Infinity") => f64::NEG_INFINITY,
            Some(v) => v.parse().map_err(|_| bad())?,
            None => return Err(bad()),
        };
        let step: i64 = match parts.get(2) {
            Some(s) => s.parse().map_err(|_| bad())?,
            None => 0,
        };
        out.push(Point { step, value, timestamp });
    }
    Ok(out)
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(io(path))
}

/// A project name Cairn accepts, from an experiment name (`/` is not allowed).
fn project_name(name: &str) -> String {
    let cleaned = name.trim().replace('/', "-");
    if cleaned.is_empty() { "default".to_owned() } else { cleaned }
}

/// Reads an MLflow file store.
pub fn read(root: &Path) -> Result<Read> {
    if !root.is_dir() {
        return Err(ImportError::Source(format!(
            "{} is not a folder; give the mlruns/ folder of an MLflow file store, or an http(s) tracking URI",
            root.display()
        )));
    }
    let mut out = Read::default();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(io(root))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for exp_dir in dirs {
        let dir_name = exp_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if dir_name == ".trash" {
            let n = std::fs::read_dir(&exp_dir).map(|d| d.count()).unwrap_or(0);
            if n > 0 {
                out.skipped.push(format!("{n} deleted experiment(s) in .trash/"));
            }
            continue;
        }
        let meta_path = exp_dir.join("meta.yaml");
        if !meta_path.is_file() {
            continue; // e.g. `models/` (the registry) or stray folders
        }
        let meta: ExperimentMeta = yaml(&meta_path)?;
        if meta.lifecycle_stage.as_deref() == Some("deleted") {
            out.skipped.push(format!("deleted experiment '{}'", meta.name));
            continue;
        }
        let project = project_name(if dir_name == "0" && meta.name == "Default" { "default" } else { &meta.name });
        let mut tags = BTreeMap::new();
        for (k, p) in key_files(&exp_dir.join("tags"))? {
            tags.insert(k, read_text(&p)?);
        }
        out.source.projects.push(SourceProject {
            name: project.clone(),
            description: tags.get("mlflow.note.content").cloned().unwrap_or_default(),
            tags,
            created_at: meta.creation_time,
        });
        let mut run_dirs: Vec<PathBuf> = std::fs::read_dir(&exp_dir)
            .map_err(io(&exp_dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir() && p.join("meta.yaml").is_file())
            .collect();
        run_dirs.sort();
        for run_dir in run_dirs {
            out.source.runs.push(read_run(&run_dir, &project, &mut out.skipped)?);
        }
    }
    // Parents before children (a child starts after its parent), then by start time.
    out.source.runs.sort_by_key(|r| r.created_at.unwrap_or(0));
    out.source.models = read_models(&root.join("models"))?;
    Ok(out)
}

#[derive(Deserialize)]
struct ModelMeta {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    creation_timestamp: Option<i64>,
}

#[derive(Deserialize)]
struct VersionMeta {
    version: serde_norway::Value,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    run_link: Option<String>,
    #[serde(default)]
    current_stage: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    creation_timestamp: Option<i64>,
}

/// The registry: `models/<name>/meta.yaml`, `tags/`, `aliases/<alias>` (holding the
/// version) and `version-<n>/meta.yaml` with its `tags/`. Deleted versions
/// (`Deleted_Internal`) are left out.
fn read_models(dir: &Path) -> Result<Vec<crate::SourceModel>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut model_dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("meta.yaml").is_file())
        .collect();
    model_dirs.sort();
    for md in model_dirs {
        let meta: ModelMeta = yaml(&md.join("meta.yaml"))?;
        let mut model = crate::SourceModel {
            name: meta.name,
            description: meta.description.unwrap_or_default(),
            created_at: meta.creation_timestamp,
            ..Default::default()
        };
        for (k, p) in key_files(&md.join("tags"))? {
            model.tags.insert(k, read_text(&p)?);
        }
        for (alias, p) in key_files(&md.join("aliases"))? {
            if let Ok(v) = read_text(&p)?.trim().parse() {
                model.aliases.insert(alias, v);
            }
        }
        let mut vdirs: Vec<PathBuf> = std::fs::read_dir(&md)
            .map_err(io(&md))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("version-"))
                    && p.join("meta.yaml").is_file()
            })
            .collect();
        vdirs.sort();
        for vd in vdirs {
            let vm: VersionMeta = yaml(&vd.join("meta.yaml"))?;
            let stage = vm.current_stage.unwrap_or_else(|| "None".into());
            if stage == "Deleted_Internal" {
                continue;
            }
            let number = match &vm.version {
                serde_norway::Value::Number(n) => n.as_i64(),
                serde_norway::Value::String(s) => s.parse().ok(),
                _ => None,
            }
            .ok_or_else(|| ImportError::Source(format!("{} has no version number", vd.join("meta.yaml").display())))?;
            let mut version = crate::SourceVersion {
                version: number,
                source: vm.source.unwrap_or_default(),
                run_id: vm.run_id.as_deref().and_then(|r| uuid::Uuid::parse_str(r).ok()),
                run_link: vm.run_link.filter(|l| !l.is_empty()),
                stage: cairn_domain::ModelStage::parse(&stage).unwrap_or_default(),
                description: vm.description.unwrap_or_default(),
                created_at: vm.creation_timestamp,
                ..Default::default()
            };
            for (k, p) in key_files(&vd.join("tags"))? {
                version.tags.insert(k, read_text(&p)?);
            }
            model.versions.push(version);
        }
        model.versions.sort_by_key(|v| v.version);
        out.push(model);
    }
    Ok(out)
}

fn read_run(dir: &Path, project: &str, skipped: &mut Vec<String>) -> Result<SourceRun> {
    let meta: RunMeta = yaml(&dir.join("meta.yaml"))?;
    let id_text = meta
        .run_id
        .or(meta.run_uuid)
        .ok_or_else(|| ImportError::Source(format!("{} has no run_id", dir.join("meta.yaml").display())))?;
    let id = uuid::Uuid::parse_str(&id_text)
        .map_err(|_| ImportError::Source(format!("run id '{id_text}' in {} is not a UUID", dir.display())))?;
    let mut run = SourceRun {
        id,
        project: project.to_owned(),
        name: meta.run_name.filter(|n| !n.is_empty()),
        owner: meta.user_id.filter(|u| !u.is_empty()),
        status: status(meta.status.as_ref()),
        created_at: meta.start_time,
        ended_at: meta.end_time,
        deleted: meta.lifecycle_stage.as_deref() == Some("deleted"),
        ..Default::default()
    };
    for (k, p) in key_files(&dir.join("params"))? {
        run.params.insert(k, cairn_domain::value_from_text(&read_text(&p)?));
    }
    for (k, p) in key_files(&dir.join("tags"))? {
        run.tags.insert(k, read_text(&p)?);
    }
    for (k, p) in key_files(&dir.join("metrics"))? {
        run.metrics.insert(k, metric_points(&p)?);
    }
    run.name = run.name.or_else(|| run.tags.get("mlflow.runName").cloned());
    run.description = run.tags.get("mlflow.note.content").cloned().unwrap_or_default();
    run.hypothesis = run.tags.get("cairn.hypothesis").cloned();
    run.commit = run.tags.get("mlflow.source.git.commit").cloned();
    run.parent = run.tags.get("mlflow.parentRunId").and_then(|p| uuid::Uuid::parse_str(p).ok());
    // Artifacts live in the run's folder unless the run logged them elsewhere.
    let artifacts = match meta.artifact_uri.as_deref() {
        Some(uri) if uri.starts_with("file://") => PathBuf::from(uri.trim_start_matches("file://")),
        Some(uri) if !uri.contains("://") && !uri.is_empty() => PathBuf::from(uri),
        Some(uri) => {
            skipped.push(format!("artifacts of run {id_text} at {uri} (not a local folder)"));
            PathBuf::new()
        }
        None => dir.join("artifacts"),
    };
    let artifacts = if artifacts.is_dir() { artifacts } else { dir.join("artifacts") };
    for (k, p) in key_files(&artifacts)? {
        run.artifacts.insert(k, p);
    }
    Ok(run)
}

//! A running MLflow tracking server, read through its REST API: experiments, runs (all
//! pages, deleted ones too), full metric histories, and artifacts through the server's
//! artifact proxy (`mlflow-artifacts:` URIs), downloaded into a temporary folder.

use crate::mlruns::Read;
use crate::{ImportError, Point, Result, SourceProject, SourceRun};
use cairn_domain::RunStatus;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        query: &[(&str, String)],
    ) -> Result<Value> {
        let url = format!("{}/api/2.0/mlflow{path}", self.base);
        let mut req = self.http.request(method, &url).query(query);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| ImportError::Source(format!("cannot reach {url}: {e}")))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| ImportError::Source(format!("{url}: {e}")))?;
        if !status.is_success() {
            return Err(ImportError::Source(format!(
                "{url} answered {status}: {}",
                text.chars().take(300).collect::<String>()
            )));
        }
        serde_json::from_str(&text).map_err(|e| ImportError::Source(format!("{url} answered with invalid JSON: {e}")))
    }
}

fn pairs(v: &Value) -> BTreeMap<String, String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv["key"].as_str()?.to_owned(), kv["value"].as_str().unwrap_or("").to_owned())))
        .collect()
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn float(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => match s.as_str() {
            "Infinity" | "inf" => f64::INFINITY,
            "-Infinity" | "-inf" => f64::NEG_INFINITY,
            s => s.parse().unwrap_or(f64::NAN),
        },
        _ => f64::NAN,
    }
}

/// Reads everything from the tracking server at `base` (`http(s)://host:port`);
/// artifacts are downloaded under `scratch`.
pub async fn read(base: &str, scratch: &Path) -> Result<Read> {
    let api = Api { http: reqwest::Client::new(), base: base.trim_end_matches('/').to_owned() };
    let mut out = Read::default();
    let mut token: Option<String> = None;
    let mut experiments = Vec::new();
    loop {
        let mut body = json!({"max_results": 1000, "view_type": "ACTIVE_ONLY"});
        if let Some(t) = &token {
            body["page_token"] = json!(t);
        }
        let page = api.call(reqwest::Method::POST, "/experiments/search", Some(&body), &[]).await?;
        experiments.extend(page["experiments"].as_array().cloned().unwrap_or_default());
        token = page["next_page_token"].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    for exp in experiments {
        let id = exp["experiment_id"].as_str().unwrap_or_default().to_owned();
        let name = exp["name"].as_str().unwrap_or("default");
        let project = if id == "0" && name == "Default" { "default".to_owned() } else { name.replace('/', "-") };
        let tags = pairs(&exp["tags"]);
        out.source.projects.push(SourceProject {
            name: project.clone(),
            description: tags.get("mlflow.note.content").cloned().unwrap_or_default(),
            tags,
            created_at: int(&exp["creation_time"]),
        });
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"experiment_ids": [id], "max_results": 1000, "run_view_type": "ALL"});
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let page = api.call(reqwest::Method::POST, "/runs/search", Some(&body), &[]).await?;
            for r in page["runs"].as_array().into_iter().flatten() {
                out.source.runs.push(read_run(&api, r, &project, scratch, &mut out.skipped).await?);
            }
            token = page["next_page_token"].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    out.source.runs.sort_by_key(|r| r.created_at.unwrap_or(0));
    out.source.models = read_models(&api).await?;
    Ok(out)
}

/// Every registered model with its versions (all pages of both searches).
async fn read_models(api: &Api) -> Result<Vec<crate::SourceModel>> {
    let mut models = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![("max_results", "1000".to_owned())];
        if let Some(t) = &token {
            query.push(("page_token", t.clone()));
        }
        let page = api.call(reqwest::Method::GET, "/registered-models/search", None, &query).await?;
        for m in page["registered_models"].as_array().into_iter().flatten() {
            let name = m["name"].as_str().unwrap_or_default().to_owned();
            let aliases = m["aliases"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| Some((a["alias"].as_str()?.to_owned(), int(&a["version"])?)))
                .collect();
            models.push(crate::SourceModel {
                description: m["description"].as_str().unwrap_or("").to_owned(),
                tags: pairs(&m["tags"]),
                aliases,
                created_at: int(&m["creation_timestamp"]),
                versions: read_versions(api, &name).await?,
                name,
            });
        }
        token = page["next_page_token"].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
        if token.is_none() {
            return Ok(models);
        }
    }
}

async fn read_versions(api: &Api, model: &str) -> Result<Vec<crate::SourceVersion>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let filter = format!("name = '{}'", model.replace('\'', "\\'"));
    loop {
        let mut query = vec![("filter", filter.clone()), ("max_results", "10000".to_owned())];
        if let Some(t) = &token {
            query.push(("page_token", t.clone()));
        }
        let page = api.call(reqwest::Method::GET, "/model-versions/search", None, &query).await?;
        for v in page["model_versions"].as_array().into_iter().flatten() {
            let Some(version) = int(&v["version"]) else { continue };
            out.push(crate::SourceVersion {
                version,
                source: v["source"].as_str().unwrap_or("").to_owned(),
                run_id: v["run_id"].as_str().and_then(|r| uuid::Uuid::parse_str(r).ok()),
                run_link: v["run_link"].as_str().filter(|l| !l.is_empty()).map(str::to_owned),
                stage: cairn_domain::ModelStage::parse(v["current_stage"].as_str().unwrap_or("None"))
                    .unwrap_or_default(),
                description: v["description"].as_str().unwrap_or("").to_owned(),
                tags: pairs(&v["tags"]),
                created_at: int(&v["creation_timestamp"]),
            });
        }
        token = page["next_page_token"].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
        if token.is_none() {
            out.sort_by_key(|v| v.version);
            return Ok(out);
        }
    }
}

async fn read_run(api: &Api, r: &Value, project: &str, scratch: &Path, skipped: &mut Vec<String>) -> Result<SourceRun> {
    let info = &r["info"];
    let id_text = info["run_id"].as_str().or(info["run_uuid"].as_str()).unwrap_or_default().to_owned();
    let id = uuid::Uuid::parse_str(&id_text)
        .map_err(|_| ImportError::Source(format!("run id '{id_text}' is not a UUID")))?;
    let tags = pairs(&r["data"]["tags"]);
    let mut run = SourceRun {
        id,
        project: project.to_owned(),
        name: info["run_name"].as_str().filter(|n| !n.is_empty()).map(str::to_owned),
        owner: info["user_id"].as_str().filter(|u| !u.is_empty()).map(str::to_owned),
        status: match info["status"].as_str() {
            Some("RUNNING") => Some(RunStatus::Running),
            Some("SCHEDULED") => Some(RunStatus::Queued),
            Some("FAILED") => Some(RunStatus::Failed),
            Some("KILLED") => Some(RunStatus::Killed),
            _ => Some(RunStatus::Finished),
        },
        created_at: int(&info["start_time"]),
        ended_at: int(&info["end_time"]),
        deleted: info["lifecycle_stage"].as_str() == Some("deleted"),
        description: tags.get("mlflow.note.content").cloned().unwrap_or_default(),
        hypothesis: tags.get("cairn.hypothesis").cloned(),
        commit: tags.get("mlflow.source.git.commit").cloned(),
        parent: tags.get("mlflow.parentRunId").and_then(|p| uuid::Uuid::parse_str(p).ok()),
        ..Default::default()
    };
    for (k, v) in pairs(&r["data"]["params"]) {
        run.params.insert(k, cairn_domain::value_from_text(&v));
    }
    run.name = run.name.or_else(|| tags.get("mlflow.runName").cloned());
    run.tags = tags;
    for m in r["data"]["metrics"].as_array().into_iter().flatten() {
        let Some(key) = m["key"].as_str() else { continue };
        let mut points = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q =
                vec![("run_id", id_text.clone()), ("metric_key", key.to_owned()), ("max_results", "25000".into())];
            if let Some(t) = &token {
                q.push(("page_token", t.clone()));
            }
            let page = api.call(reqwest::Method::GET, "/metrics/get-history", None, &q).await?;
            for p in page["metrics"].as_array().into_iter().flatten() {
                points.push(Point {
                    step: int(&p["step"]).unwrap_or(0),
                    value: float(&p["value"]),
                    timestamp: int(&p["timestamp"]).unwrap_or(0),
                });
            }
            token = page["next_page_token"].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        run.metrics.insert(key.to_owned(), points);
    }
    // Artifacts come through the server's proxy when it has one.
    let uri = info["artifact_uri"].as_str().unwrap_or_default();
    let Some(root) = uri.strip_prefix("mlflow-artifacts:") else {
        if !uri.is_empty() {
            skipped.push(format!("artifacts of run {id_text} at {uri} (the server does not proxy them)"));
        }
        return Ok(run);
    };
    let root = root.trim_start_matches('/').to_owned();
    let mut dirs = vec![String::new()];
    while let Some(dir) = dirs.pop() {
        let mut q = vec![("run_id", id_text.clone())];
        if !dir.is_empty() {
            q.push(("path", dir.clone()));
        }
        let listing = api.call(reqwest::Method::GET, "/artifacts/list", None, &q).await?;
        for f in listing["files"].as_array().into_iter().flatten() {
            let Some(path) = f["path"].as_str() else { continue };
            if f["is_dir"].as_bool() == Some(true) {
                dirs.push(path.to_owned());
                continue;
            }
            let url = format!("{}/api/2.0/mlflow-artifacts/artifacts/{root}/{path}", api.base);
            let local = scratch.join(&id_text).join(path);
            if let Some(parent) = local.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|source| ImportError::Io { path: parent.to_owned(), source })?;
            }
            let mut resp = api
                .http
                .get(&url)
                .send()
                .await
                .map_err(|e| ImportError::Source(format!("cannot download {url}: {e}")))?;
            if !resp.status().is_success() {
                return Err(ImportError::Source(format!("{url} answered {}", resp.status())));
            }
            let mut file = tokio::fs::File::create(&local)
                .await
                .map_err(|source| ImportError::Io { path: local.clone(), source })?;
            while let Some(chunk) =
                resp.chunk().await.map_err(|e| ImportError::Source(format!("downloading {url}: {e}")))?
            {
                tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                    .await
                    .map_err(|source| ImportError::Io { path: local.clone(), source })?;
            }
            run.artifacts.insert(path.to_owned(), local);
        }
    }
    Ok(run)
}

//! Runs: create, read, update, delete, tags, params, batches, dataset inputs and search.

use super::*;

pub(crate) fn status_name(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Queued => "SCHEDULED",
        RunStatus::Running => "RUNNING",
        RunStatus::Finished => "FINISHED",
        // MLflow has no "crashed": a run that died silently failed.
        RunStatus::Failed | RunStatus::Crashed => "FAILED",
        RunStatus::Killed => "KILLED",
    }
}

pub(crate) fn parse_status(s: &str) -> Result<RunStatus> {
    Ok(match s {
        "SCHEDULED" => RunStatus::Queued,
        "RUNNING" => RunStatus::Running,
        "FINISHED" => RunStatus::Finished,
        "FAILED" => RunStatus::Failed,
        "KILLED" => RunStatus::Killed,
        other => {
            return Err(MlflowError::invalid(format!(
                "Invalid value '{other}' for parameter 'status': use RUNNING, SCHEDULED, FINISHED, FAILED or KILLED"
            )));
        }
    })
}

/// A config value as MLflow's param text.
pub(crate) fn param_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".to_owned(),
        other => other.to_string(),
    }
}

pub(crate) fn run_info(r: &Run, experiment: &str) -> Value {
    let id = r.id.0.simple().to_string();
    let mut info = json!({
        "run_id": id,
        "run_uuid": id,
        "run_name": r.name,
        "experiment_id": experiment,
        "user_id": r.owner,
        "status": status_name(r.status),
        "start_time": r.started_at.unwrap_or(r.created_at),
        "artifact_uri": format!("mlflow-artifacts:/{experiment}/{id}/artifacts"),
        "lifecycle_stage": if r.deleted_at.is_some() { "deleted" } else { "active" },
    });
    if let Some(e) = r.ended_at {
        info["end_time"] = json!(e);
    }
    info
}

pub(crate) fn run_json(r: &Run, experiment: &str) -> Value {
    let params: Vec<Value> =
        cairn_domain::leaves(&r.config).iter().map(|(k, v)| json!({"key": k, "value": param_text(v)})).collect();
    let metrics: Vec<Value> = r
        .metrics
        .iter()
        .map(|m| json!({"key": m.key, "value": float_json(m.last), "timestamp": m.last_timestamp, "step": m.last_step}))
        .collect();
    // MLflow's system tags, filled from Cairn's fields where the run did not set them.
    let mut tags = r.tags.clone();
    // The name wins over a stored tag: a run renamed in Cairn shows its new name.
    tags.insert("mlflow.runName".into(), r.name.clone());
    tags.entry("mlflow.user".into()).or_insert_with(|| r.owner.clone());
    if !r.description.is_empty() {
        tags.entry("mlflow.note.content".into()).or_insert_with(|| r.description.clone());
    }
    if let Some(p) = r.parents.first() {
        tags.entry("mlflow.parentRunId".into()).or_insert_with(|| p.0.simple().to_string());
    }
    if let Some(c) = r.code.as_ref().and_then(|c| c.commit.clone()) {
        tags.entry("mlflow.source.git.commit".into()).or_insert(c);
    }
    if let Some(h) = &r.hypothesis {
        tags.entry("cairn.hypothesis".into()).or_insert_with(|| h.clone());
    }
    let inputs = dataset_inputs(&tags);
    tags.retain(|k, _| !is_dataset_tag(k));
    json!({
        "info": run_info(r, experiment),
        "data": {"metrics": metrics, "params": params, "tags": pairs(&tags)},
        "inputs": {"dataset_inputs": inputs},
    })
}

/// Experiment ids of projects by name, looked up once per request.
#[derive(Default)]
pub(crate) struct Experiments(pub(crate) HashMap<String, String>);

impl Experiments {
    pub(crate) async fn id(&mut self, s: &Service, project: &str) -> Result<String> {
        if let Some(id) = self.0.get(project) {
            return Ok(id.clone());
        }
        let id = experiment_id(&s.get_project(project).await?);
        self.0.insert(project.to_owned(), id.clone());
        Ok(id)
    }
}

pub(crate) async fn full_run(s: &Service, id: &str) -> Result<Value> {
    let r = s.resolve(id).await.map_err(|e| {
        if e.status == StatusCode::NOT_FOUND || e.code == ErrorCode::InvalidArgument {
            MlflowError::missing(format!("Run with id={id} not found"))
        } else {
            e.into()
        }
    })?;
    let exp = Experiments::default().id(s, r.project.as_str()).await?;
    let mut out = run_json(&r, &exp);
    out["outputs"] = registry::run_outputs(s, r.id, r.project.as_str()).await?;
    Ok(out)
}

pub(crate) async fn create_run(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let experiment = text(&b, "experiment_id").filter(|e| !e.is_empty()).unwrap_or("0");
    let project = project_of(&s, experiment).await?;
    let tags: BTreeMap<String, String> = key_values(&b, "tags")?.into_iter().collect();
    let name = text(&b, "run_name")
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .or_else(|| tags.get("mlflow.runName").cloned());
    // The client sends `unknown` as user_id when it knows no user; the tag may still say.
    let owner = text(&b, "user_id")
        .filter(|u| !u.is_empty() && *u != "unknown")
        .map(str::to_owned)
        .or_else(|| tags.get("mlflow.user").cloned());
    let code = tags.get("mlflow.source.git.commit").map(|c| CodeInfo {
        versioned: true,
        commit: Some(c.clone()),
        ..Default::default()
    });
    let mut new = NewRun {
        project: project.name.to_string(),
        name,
        owner,
        hypothesis: tags.get("cairn.hypothesis").cloned(),
        description: tags.get("mlflow.note.content").cloned().unwrap_or_default(),
        parents: tags.get("mlflow.parentRunId").cloned().into_iter().collect(),
        code,
        command: tags.get("mlflow.source.name").cloned().into_iter().collect(),
        // The client's clock, as MLflow keeps it: backfills and imports depend on it.
        started_at: int(&b, "start_time")?,
        ..Default::default()
    };
    new.tags = tags;
    let run = s.create_run_without_hypothesis_rule(new).await?;
    Ok(Json(json!({"run": run_json(&run, &experiment_id(&project))})))
}

pub(crate) async fn get_run(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let id = run_id(&query_value(&q))?;
    Ok(Json(json!({"run": full_run(&s, &id).await?})))
}

pub(crate) async fn update_run(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let id = run_id(&b)?;
    let run = s.resolve(&id).await?;
    let mut patch = RunPatch::default();
    if let Some(status) = text(&b, "status").filter(|t| !t.is_empty()) {
        let status = parse_status(status)?;
        if status == RunStatus::Queued && run.status != RunStatus::Queued {
            return Err(MlflowError::invalid(format!("run {id} has started: it cannot be SCHEDULED again")));
        }
        patch.status = Some(status).filter(|s| *s != run.status || s.is_terminal());
    }
    // MLflow keeps the client's end time (`set_terminated` sends its clock), and the
    // client sends the end time a run already has with every other update.
    patch.ended_at = int(&b, "end_time")?.filter(|end| Some(*end) != run.ended_at);
    if let Some(name) = text(&b, "run_name").filter(|n| !n.is_empty() && *n != run.name) {
        patch.name = Some(name.to_owned());
        patch.tags = [("mlflow.runName".to_owned(), name.to_owned())].into();
    }
    let run = if patch.status.is_some() || patch.ended_at.is_some() || patch.name.is_some() {
        s.update_run(&id, patch).await?
    } else {
        run
    };
    let exp = Experiments::default().id(&s, run.project.as_str()).await?;
    Ok(Json(json!({"run_info": run_info(&run, &exp)})))
}

pub(crate) async fn restore_run(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    s.restore_run(&run_id(&b)?).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn delete_run(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    s.delete_run(&run_id(&b)?).await?;
    Ok(Json(json!({})))
}

/// Tags MLflow clients set that are Cairn fields too.
pub(crate) fn tag_patch(tags: &[(String, String)]) -> RunPatch {
    let mut patch = RunPatch { tags: tags.iter().cloned().collect(), ..Default::default() };
    for (k, v) in tags {
        match k.as_str() {
            "mlflow.runName" if !v.is_empty() => patch.name = Some(v.clone()),
            "mlflow.note.content" => patch.description = Some(v.clone()),
            "cairn.hypothesis" => patch.hypothesis = Some(v.clone()),
            _ => {}
        }
    }
    patch
}

pub(crate) async fn set_tag(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let id = run_id(&b)?;
    let key = required(&b, "key")?.to_owned();
    check_key("tag", &key)?;
    let value = text(&b, "value").unwrap_or("").to_owned();
    s.update_run(&id, tag_patch(&[(key, value)])).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn delete_tag(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let id = run_id(&b)?;
    let key = required(&b, "key")?.to_owned();
    let run = s.resolve(&id).await?;
    if !run.tags.contains_key(&key) {
        return Err(MlflowError::missing(format!("No tag with name: {key} in run with id {id}")));
    }
    s.update_run(&id, RunPatch { remove_tags: vec![key], ..Default::default() }).await?;
    Ok(Json(json!({})))
}

pub(crate) fn check_key(what: &str, key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(MlflowError::invalid(format!(
            "Invalid value '{key}' for parameter '{what} key': it must be 1 to {MAX_KEY} characters"
        )));
    }
    Ok(())
}

/// Params to add, checked against what the run already has: MLflow params cannot change.
pub(crate) fn new_params(run: &Run, params: &[(String, String)]) -> Result<Map<String, Value>> {
    let existing = cairn_domain::leaves(&run.config);
    let mut out = Map::new();
    for (k, v) in params {
        check_key("param", k)?;
        if v.chars().count() > MAX_PARAM_VALUE {
            return Err(MlflowError::invalid(format!(
                "Param value for key '{k}' had length {}, which exceeded length limit of {MAX_PARAM_VALUE}",
                v.chars().count()
            )));
        }
        if let Some(old) = existing.get(k).map(param_text).or_else(|| out.get(k).map(param_text)) {
            if old != *v {
                return Err(MlflowError::invalid(format!(
                    "Changing param values is not allowed. Param with key='{k}' was already logged with value='{old}' \
                     for run ID='{}'. Attempted logging new value '{v}'.",
                    run.id.0.simple()
                )));
            }
            continue;
        }
        out.insert(k.clone(), cairn_domain::value_from_text(v));
    }
    Ok(out)
}

pub(crate) async fn log_param(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let id = run_id(&b)?;
    let key = required(&b, "key")?.to_owned();
    let value = text(&b, "value").unwrap_or("").to_owned();
    let run = s.resolve(&id).await?;
    let add = new_params(&run, &[(key, value)])?;
    if !add.is_empty() {
        let sources = add.keys().map(|k| (k.clone(), "mlflow".to_owned())).collect();
        s.update_run(&id, RunPatch { config: Some(add), config_sources: sources, ..Default::default() }).await?;
    }
    Ok(Json(json!({})))
}

pub(crate) async fn log_batch(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let id = run_id(&b)?;
    let metrics = b.get("metrics").and_then(Value::as_array).cloned().unwrap_or_default();
    let params = key_values(&b, "params")?;
    let tags = key_values(&b, "tags")?;
    // Every limit is checked before anything is stored: a rejected batch stores nothing.
    for (what, n, max) in [
        ("metrics", metrics.len(), MAX_BATCH_METRICS),
        ("params", params.len(), MAX_BATCH_PARAMS),
        ("tags", tags.len(), MAX_BATCH_TAGS),
    ] {
        if n > max {
            return Err(MlflowError::invalid(format!(
                "A batch logging request can contain at most {max} {what}. Got {n} {what}. Please split up {what} \
                 across multiple requests and try again."
            )));
        }
    }
    let total = metrics.len() + params.len() + tags.len();
    if total > MAX_BATCH_TOTAL {
        return Err(MlflowError::invalid(format!(
            "A batch logging request can contain at most {MAX_BATCH_TOTAL} metrics, params, and tags. Got {total} \
             metrics, params, and tags. Please split up metrics, params, and tags across multiple requests and try \
             again."
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    let dupes: Vec<&str> = params.iter().filter(|(k, _)| !seen.insert(k.as_str())).map(|(k, _)| k.as_str()).collect();
    if !dupes.is_empty() {
        return Err(MlflowError::invalid(format!(
            "Duplicate parameter keys have been submitted: {dupes:?}. Please ensure the request contains only one \
             param value per param key."
        )));
    }
    let batch = metric_batch(&metrics)?;
    for (k, _) in &tags {
        check_key("tag", k)?;
    }
    let run = s.resolve(&id).await?;
    if run.deleted_at.is_some() {
        return Err(MlflowError::invalid(format!(
            "The run {id} must be in the 'active' state. Current state is deleted."
        )));
    }
    let add = new_params(&run, &params)?;
    if !add.is_empty() || !tags.is_empty() {
        let mut patch = tag_patch(&tags);
        if !add.is_empty() {
            patch.config_sources = add.keys().map(|k| (k.clone(), "mlflow".to_owned())).collect();
            patch.config = Some(add);
        }
        s.update_run(&id, patch).await?;
    }
    if !batch.is_empty() {
        s.log_metrics(&id, batch, None).await?;
    }
    Ok(Json(json!({})))
}

/// Tag prefixes that hold a run's MLflow dataset inputs: the input itself (JSON, by
/// dataset name), and indexes by name, digest and context that searches use.
pub(crate) const DATASET_TAG: &str = "mlflow.dataset.";
pub(crate) use cairn_query::mlflow::DATASET_INDEX;

pub(crate) fn is_dataset_tag(key: &str) -> bool {
    key.starts_with(DATASET_TAG) || DATASET_INDEX.iter().any(|p| key.starts_with(p))
}

pub(crate) async fn log_inputs(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let id = run_id(&b)?;
    let mut tags = Vec::new();
    for d in b.get("datasets").and_then(Value::as_array).into_iter().flatten() {
        let ds = &d["dataset"];
        let (Some(name), Some(digest)) = (text(ds, "name"), text(ds, "digest")) else {
            return Err(MlflowError::invalid("a dataset input needs dataset.name and dataset.digest"));
        };
        let context = key_values(d, "tags")?.into_iter().find(|(k, _)| k == "mlflow.data.context").map(|(_, v)| v);
        tags.push((format!("{DATASET_TAG}{name}"), d.to_string()));
        tags.push((format!("{}{name}", DATASET_INDEX[0]), digest.to_owned()));
        tags.push((format!("{}{digest}", DATASET_INDEX[1]), name.to_owned()));
        if let Some(c) = context {
            tags.push((format!("{}{c}", DATASET_INDEX[2]), name.to_owned()));
        }
    }
    if !tags.is_empty() {
        s.update_run(&id, tag_patch(&tags)).await?;
    } else {
        s.resolve(&id).await?;
    }
    Ok(Json(json!({})))
}

/// The run's dataset inputs in MLflow's shape, from the tags `log_inputs` wrote.
pub(crate) fn dataset_inputs(tags: &BTreeMap<String, String>) -> Vec<Value> {
    tags.iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(DATASET_TAG)?;
            Some(
                serde_json::from_str::<Value>(v).ok().filter(Value::is_object).unwrap_or_else(
                    || json!({"dataset": {"name": name, "digest": v, "source_type": "", "source": ""}}),
                ),
            )
        })
        .collect()
}

pub(crate) async fn search_runs(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let ids: Vec<String> = b
        .get("experiment_ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).collect())
        .unwrap_or_default();
    let max = int(&b, "max_results")?.unwrap_or(1000);
    if !(1..=i64::from(MAX_SEARCH_RESULTS)).contains(&max) {
        return Err(MlflowError::invalid(format!(
            "Invalid value {max} for parameter 'max_results' supplied. It must be at most {MAX_SEARCH_RESULTS}"
        )));
    }
    let mut names = Vec::new();
    let mut exps = Experiments::default();
    for e in &ids {
        let p = project_of(&s, e).await?;
        exps.0.insert(p.name.to_string(), e.clone());
        names.push(cairn_query::Value::String(p.name.to_string()));
    }
    let mut terms = Vec::new();
    if !names.is_empty() {
        terms.push(cairn_query::Expr::In {
            field: cairn_query::Field::Attr(cairn_query::Attr::Project),
            values: names,
            negated: false,
        });
    }
    if let Some(f) = filter::run_filter(text(&b, "filter").unwrap_or(""))? {
        terms.push(f);
    }
    let view = text(&b, "run_view_type").unwrap_or("ACTIVE_ONLY");
    let filter = match terms.len() {
        0 => None,
        1 => terms.pop(),
        _ => Some(cairn_query::Expr::And(terms)),
    };
    let order: Vec<String> = b
        .get("order_by")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let order = filter::run_order(&order)?;
    let order_text = (!order.is_empty()).then(|| order.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
    let mut cursor = text(&b, "page_token").filter(|t| !t.is_empty()).map(str::to_owned);
    let mut runs = Vec::new();
    let mut remaining = max as u32;
    loop {
        let req = SearchRequest {
            project: None,
            filter: filter.as_ref().map(ToString::to_string),
            order_by: order_text.clone(),
            limit: Some(remaining.min(cairn_server::service::MAX_PAGE)),
            cursor: cursor.clone(),
            include_deleted: view != "ACTIVE_ONLY",
            ..Default::default()
        };
        let page = s.search(req).await.map_err(|e| {
            if e.code == ErrorCode::InvalidArgument && e.message.contains("cursor") {
                MlflowError::invalid(format!("Invalid page token: {}", e.message))
            } else {
                e.into()
            }
        })?;
        let n = page.runs.len() as u32;
        for r in page.runs {
            if view == "DELETED_ONLY" && r.deleted_at.is_none() {
                continue;
            }
            let exp = exps.id(&s, r.project.as_str()).await?;
            runs.push(run_json(&r, &exp));
        }
        cursor = page.next_cursor;
        remaining = remaining.saturating_sub(n);
        if remaining == 0 || cursor.is_none() || n == 0 {
            break;
        }
    }
    let mut out = json!({"runs": runs});
    if let Some(c) = cursor {
        out["next_page_token"] = json!(c);
    }
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_typed_only_when_they_read_back_the_same() {
        assert_eq!(cairn_domain::value_from_text("0.01"), json!(0.01));
        assert_eq!(cairn_domain::value_from_text("64"), json!(64));
        assert_eq!(cairn_domain::value_from_text("1e-3"), json!("1e-3"));
        assert_eq!(cairn_domain::value_from_text("0.010"), json!("0.010"));
        assert_eq!(cairn_domain::value_from_text("True"), json!("True"));
        for t in ["0.01", "64", "1e-3", "True", "adam"] {
            assert_eq!(param_text(&cairn_domain::value_from_text(t)), t);
        }
    }
}

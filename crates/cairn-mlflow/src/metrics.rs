//! Metrics: logging one point, and reading histories (whole, paged, or sampled for charts).

use super::*;

pub(crate) fn metric_batch(items: &[Value]) -> Result<Vec<(String, MetricSeries)>> {
    let mut by_key: BTreeMap<String, MetricSeries> = BTreeMap::new();
    for m in items {
        let key = required(m, "key")?.to_owned();
        check_key("metric", &key)?;
        let value = float(m, "value")?;
        let ts = int(m, "timestamp")?
            .ok_or_else(|| MlflowError::invalid("Missing value for required parameter 'timestamp'"))?;
        let step = int(m, "step")?.unwrap_or(0);
        by_key.entry(key).or_default().push(step, value, ts);
    }
    Ok(by_key.into_iter().collect())
}

pub(crate) async fn log_metric(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let id = run_id(&b)?;
    let batch = metric_batch(std::slice::from_ref(&b))?;
    s.log_metrics(&id, batch, None).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn get_history(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let v = query_value(&q);
    let id = run_id(&v)?;
    let key = required(&v, "metric_key")?.to_owned();
    let (h, _held) = match s.history(&id, &key, StepRange::default(), None).await {
        Ok(h) => h,
        Err(e) if e.status == StatusCode::NOT_FOUND && e.code != ErrorCode::RunNotFound => {
            return Ok(Json(json!({"metrics": []})));
        }
        Err(e) => return Err(e.into()),
    };
    let series = h.series;
    // MLflow orders a history by timestamp, then step.
    let mut idx: Vec<usize> = (0..series.len()).collect();
    idx.sort_by_key(|&i| (series.timestamps[i], series.steps[i]));
    let (offset, as_of) = read_page_token(&v)?;
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let max = int(&v, "max_results")?.map(|m| m.max(1) as usize).unwrap_or(usize::MAX);
    let metrics: Vec<Value> = idx
        .iter()
        .skip(offset)
        .take(max)
        .map(|&i| {
            json!({"key": key, "value": float_json(series.values[i]), "timestamp": series.timestamps[i],
                   "step": series.steps[i]})
        })
        .collect();
    let mut out = json!({"metrics": metrics});
    if offset.saturating_add(max) < idx.len() {
        out["next_page_token"] = json!(page_token((offset + max) as u64, as_of));
    }
    Ok(Json(out))
}

/// Most runs and points per run of one bulk-interval read (as MLflow's server allows).
pub(crate) const MAX_BULK_RUNS: usize = 100;
pub(crate) const MAX_BULK_POINTS: i64 = 2500;

/// Several runs' histories of one metric, each sampled to at most `max_results` points
/// over `[start_step, end_step]` (what MLflow's UI draws its charts from).
pub(crate) async fn get_history_bulk_interval(
    Svc(s): Svc,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>> {
    let runs: Vec<&str> = q.iter().filter(|(k, _)| k == "run_ids").map(|(_, v)| v.as_str()).collect();
    let single: HashMap<String, String> = q.iter().cloned().collect();
    let v = query_value(&single);
    let key = required(&v, "metric_key")?.to_owned();
    if runs.is_empty() || runs.len() > MAX_BULK_RUNS {
        return Err(MlflowError::invalid(format!("give between 1 and {MAX_BULK_RUNS} run_ids, got {}", runs.len())));
    }
    let max = int(&v, "max_results")?.unwrap_or(320);
    if !(1..=MAX_BULK_POINTS).contains(&max) {
        return Err(MlflowError::invalid(format!("max_results must be between 1 and {MAX_BULK_POINTS}, got {max}")));
    }
    let range = StepRange { min: int(&v, "start_step")?, max: int(&v, "end_step")? };
    let mut metrics = Vec::new();
    for run in runs {
        let (h, _held) = match s.history(run, &key, range, Some((max as usize).max(2))).await {
            Ok(h) => h,
            Err(e) if e.status == StatusCode::NOT_FOUND && e.code != ErrorCode::RunNotFound => continue,
            Err(e) => return Err(e.into()),
        };
        let id = h.run.0.simple().to_string();
        let series = h.series;
        for i in 0..series.len().min(max as usize) {
            metrics.push(json!({"key": key, "value": float_json(series.values[i]), "timestamp": series.timestamps[i],
                                "step": series.steps[i], "run_id": id}));
        }
    }
    Ok(Json(json!({"metrics": metrics})))
}

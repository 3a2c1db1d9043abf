//! Experiments: Cairn projects (experiment id = the project's stable id; `0` is the
//! project `default`).

use super::*;

pub(crate) fn experiment_id(p: &Project) -> String {
    if p.name.as_str() == "default" { "0".to_owned() } else { p.id.to_string() }
}

pub(crate) fn experiment_json(p: &Project) -> Value {
    let id = experiment_id(p);
    json!({
        "experiment_id": id,
        "name": p.name.as_str(),
        "artifact_location": format!("mlflow-artifacts:/{id}"),
        "lifecycle_stage": if p.deleted_at.is_some() { "deleted" } else { "active" },
        "last_update_time": p.updated_at.unwrap_or(p.created_at),
        "creation_time": p.created_at,
        "tags": pairs(&p.tags),
    })
}

pub(crate) async fn project_of(s: &Service, experiment: &str) -> Result<Project> {
    let not_found = || MlflowError::missing(format!("No Experiment with id={experiment} exists"));
    if experiment == "0" {
        // Read where it exists; made on first use (which needs a writer).
        return match s.get_project("default").await {
            Err(e) if e.code == ErrorCode::ProjectNotFound => Ok(s.ensure_project("default").await?),
            other => Ok(other?),
        };
    }
    let id: i64 = experiment.parse().map_err(|_| not_found())?;
    s.get_project_by_id(id).await.map_err(|e| if e.status == StatusCode::NOT_FOUND { not_found() } else { e.into() })
}

pub(crate) async fn create_experiment(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let name = required(&b, "name")?;
    let tags: BTreeMap<String, String> = key_values(&b, "tags")?.into_iter().collect();
    let new = NewProject { name: name.to_owned(), require_hypothesis: Some(false), tags, ..Default::default() };
    match s.create_project(new).await {
        Ok(p) => Ok(Json(json!({"experiment_id": experiment_id(&p)}))),
        Err(e) if e.code == ErrorCode::AlreadyExists => {
            Err(MlflowError::exists(format!("Experiment(name={name}) already exists. Error: {}", e.message)))
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn get_experiment(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let id = required(&query_value(&q), "experiment_id")?.to_owned();
    let p = project_of(&s, &id).await?;
    Ok(Json(json!({"experiment": experiment_json(&p)})))
}

pub(crate) async fn get_experiment_by_name(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let name = required(&query_value(&q), "experiment_name")?.to_owned();
    match s.get_project(&name).await {
        Ok(p) => Ok(Json(json!({"experiment": experiment_json(&p)}))),
        Err(e) if e.status == StatusCode::NOT_FOUND || e.code == ErrorCode::InvalidArgument => {
            Err(MlflowError::missing(format!("Could not find experiment with name '{name}'")))
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn search_experiments_get(state: Svc, Query(q): Params) -> Result<Json<Value>> {
    search_experiments(state, Json(query_value(&q))).await
}

pub(crate) async fn search_experiments(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let max = int(&b, "max_results")?.unwrap_or(1000);
    if !(1..=50_000).contains(&max) {
        return Err(MlflowError::invalid(format!(
            "Invalid value {max} for parameter 'max_results' supplied; it must be between 1 and 50000"
        )));
    }
    let deleted = match text(&b, "view_type").unwrap_or("ACTIVE_ONLY") {
        "DELETED_ONLY" => Some(true),
        "ALL" => None,
        _ => Some(false),
    };
    let mut conds = filter::experiment_filter(text(&b, "filter").unwrap_or(""))?;
    // Experiment ids as MLflow shows them (`0` is the project `default`) become ids.
    let mut default_id = None;
    for c in &mut conds {
        if c.field != ListField::Id {
            continue;
        }
        let values: Vec<&mut Literal> = match &mut c.test {
            Test::Compare(_, v) => vec![v],
            Test::In(vs, _) => vs.iter_mut().collect(),
            _ => vec![],
        };
        for v in values {
            let Literal::Str(shown) = v else { continue };
            let id = if shown == "0" {
                if default_id.is_none() {
                    default_id = Some(s.get_project("default").await.map(|p| p.id).unwrap_or(-1));
                }
                default_id.unwrap_or(-1)
            } else {
                // An id no experiment has matches none, as on MLflow.
                shown.parse().unwrap_or(-1)
            };
            *v = Literal::Num(id as f64);
        }
    }
    let mut order = filter::experiment_order(&order_list(&b))?;
    // MLflow's default: newest first (ties by experiment id, as the store breaks them).
    if order.is_empty() {
        order.push(ListOrder { field: ListField::Created, descending: true });
    }
    let (query, offset, as_of) = page_query(&b, conds, order, max as usize)?;
    let mut found = s.search_projects(ListQuery { deleted, ..query }).await?;
    let next = next_page(&mut found, max as usize, offset, as_of);
    let mut out = json!({"experiments": found.iter().map(experiment_json).collect::<Vec<_>>()});
    if let Some(token) = next {
        out["next_page_token"] = json!(token);
    }
    Ok(Json(out))
}

pub(crate) async fn patch_experiment(s: &Service, b: &Value, patch: ProjectPatch) -> Result<Json<Value>> {
    let id = required(b, "experiment_id")?;
    let p = project_of(s, id).await?;
    s.update_project(p.name.as_str(), patch).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn update_experiment(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let name = required(&b, "new_name")?.to_owned();
    patch_experiment(&s, &b, ProjectPatch { name: Some(name), ..Default::default() }).await
}

pub(crate) async fn delete_experiment(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    patch_experiment(&s, &b, ProjectPatch { deleted: Some(true), ..Default::default() }).await
}

pub(crate) async fn restore_experiment(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    patch_experiment(&s, &b, ProjectPatch { deleted: Some(false), ..Default::default() }).await
}

pub(crate) async fn set_experiment_tag(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let key = required(&b, "key")?.to_owned();
    let value = text(&b, "value").unwrap_or("").to_owned();
    patch_experiment(&s, &b, ProjectPatch { tags: [(key, value)].into(), ..Default::default() }).await
}

/// As MLflow: a tag the experiment lacks is `RESOURCE_DOES_NOT_EXIST`.
pub(crate) async fn delete_experiment_tag(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let key = required(&b, "key")?.to_owned();
    let id = required(&b, "experiment_id")?.to_owned();
    if !project_of(&s, &id).await?.tags.contains_key(&key) {
        return Err(MlflowError::missing(format!("No tag with name: {key} in experiment with id {id}")));
    }
    patch_experiment(&s, &b, ProjectPatch { remove_tags: vec![key], ..Default::default() }).await
}

//! MLflow's model registry API (registered models, model versions, stages, aliases,
//! tags) and MLflow 3's logged models, over Cairn's registry. Shapes and messages
//! follow MLflow's server, which is the reference the compatibility tests run against.

use super::{Params, int, key_values, pairs, project_of, query_value, required, text};
use crate::error::{MlflowError, Result};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use cairn_domain::registry::{validate_alias, validate_model_name};
use cairn_domain::{
    LoggedModel, LoggedModelStatus, ModelStage, ModelVersion, ModelVersionPatch, NewModelVersion, NewRegisteredModel,
    NewRun, RegisteredModel, RegisteredModelPatch, RunId, RunStatus,
};
use cairn_query::mlflow::like;
use cairn_server::Service;
use cairn_server::auth::Svc;
use cairn_server::error::ErrorCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Default and largest page of a registered model search (MLflow's).
const MODELS_PAGE: i64 = 100;
const MODELS_PAGE_MAX: i64 = 1000;
/// Default and largest page of a model version search (MLflow's).
const VERSIONS_PAGE: i64 = 10_000;
const VERSIONS_PAGE_MAX: i64 = 200_000;
/// Tag on a run Cairn creates to hold a model logged outside any run.
const HOLDER_TAG: &str = "cairn.logged_model";

pub fn routes() -> Router<Service> {
    Router::new()
        .route("/registered-models/create", post(create_model))
        .route("/registered-models/get", get(get_model))
        .route("/registered-models/rename", post(rename_model))
        .route("/registered-models/update", patch(update_model))
        .route("/registered-models/delete", axum::routing::delete(delete_model))
        .route("/registered-models/search", get(search_models_get).post(search_models))
        .route("/registered-models/get-latest-versions", post(latest_versions).get(latest_versions_get))
        .route("/registered-models/set-tag", post(set_model_tag))
        .route("/registered-models/delete-tag", axum::routing::delete(delete_model_tag))
        .route("/registered-models/alias", post(set_alias).delete(delete_alias).get(get_by_alias))
        .route("/model-versions/create", post(create_version))
        .route("/model-versions/get", get(get_version))
        .route("/model-versions/update", patch(update_version))
        .route("/model-versions/delete", axum::routing::delete(delete_version))
        .route("/model-versions/search", get(search_versions_get).post(search_versions))
        .route("/model-versions/get-download-uri", get(download_uri))
        .route("/model-versions/transition-stage", post(transition_stage))
        .route("/model-versions/set-tag", post(set_version_tag))
        .route("/model-versions/delete-tag", axum::routing::delete(delete_version_tag))
        .route("/logged-models", post(create_logged_model))
        .route("/logged-models/search", post(search_logged_models))
        .route("/logged-models/{id}", get(get_logged_model).patch(finalize_logged_model).delete(delete_logged_model))
        .route("/logged-models/{id}/tags", patch(set_logged_model_tags))
        .route("/logged-models/{id}/tags/{key}", axum::routing::delete(delete_logged_model_tag))
        .route("/logged-models/{id}/params", post(log_logged_model_params))
        .route("/runs/outputs", post(log_outputs))
}

// -- JSON ------------------------------------------------------------------------------------

fn version_json(v: &ModelVersion, aliases: &[String]) -> Value {
    let mut out = json!({
        "name": v.model,
        "version": v.version.to_string(),
        "creation_timestamp": v.created_at,
        "last_updated_timestamp": v.updated_at,
        "current_stage": v.stage.as_str(),
        "description": v.description,
        "source": v.source,
        "run_id": v.run_id.map(|r| r.0.simple().to_string()).unwrap_or_default(),
        "status": "READY",
        "run_link": v.run_link.clone().unwrap_or_default(),
    });
    if let Some(u) = &v.owner {
        out["user_id"] = json!(u);
    }
    if !v.tags.is_empty() {
        out["tags"] = json!(pairs(&v.tags));
    }
    if !aliases.is_empty() {
        out["aliases"] = json!(aliases);
    }
    if let Some(m) = &v.model_id {
        out["model_id"] = json!(m);
    }
    out
}

fn aliases_of(m: &RegisteredModel, version: i64) -> Vec<String> {
    m.aliases.iter().filter(|(_, v)| **v == version).map(|(a, _)| a.clone()).collect()
}

/// A version with its aliases, which live on the model.
async fn version_with_aliases(s: &Service, v: &ModelVersion) -> Result<Value> {
    let m = s.get_registered_model(&v.model).await?;
    Ok(version_json(v, &aliases_of(&m, v.version)))
}

async fn model_json_read(s: &Service, m: &RegisteredModel) -> Result<Value> {
    Ok(model_json(m, s.latest_versions(&m.name, &[]).await?))
}

/// A registered model in MLflow's shape, with the newest version in each stage.
fn model_json(m: &RegisteredModel, mut latest: Vec<ModelVersion>) -> Value {
    let mut out = json!({
        "name": m.name,
        "creation_timestamp": m.created_at,
        "last_updated_timestamp": m.updated_at,
    });
    if !m.description.is_empty() {
        out["description"] = json!(m.description);
    }
    if let Some(u) = &m.owner {
        out["user_id"] = json!(u);
    }
    latest.sort_by_key(|v| v.version);
    if !latest.is_empty() {
        out["latest_versions"] = json!(latest.iter().map(|v| version_json(v, &[])).collect::<Vec<_>>());
    }
    if !m.tags.is_empty() {
        out["tags"] = json!(pairs(&m.tags));
    }
    if !m.aliases.is_empty() {
        out["aliases"] =
            json!(m.aliases.iter().map(|(a, v)| json!({"alias": a, "version": v.to_string()})).collect::<Vec<_>>());
    }
    out
}

// -- errors in MLflow's words ------------------------------------------------------------------

fn model_missing(name: &str) -> MlflowError {
    MlflowError::missing(format!("Registered Model with name={name} not found"))
}

fn version_missing(name: &str, version: i64) -> MlflowError {
    MlflowError::missing(format!("Model Version (name={name}, version={version}) not found"))
}

/// Rewrites Cairn's not-found answers into MLflow's messages for this model/version.
fn registry_err(name: &str, version: Option<i64>) -> impl Fn(cairn_server::ApiError) -> MlflowError + '_ {
    move |e| match (e.code, version) {
        (ErrorCode::ModelNotFound, _) => model_missing(name),
        (ErrorCode::ModelVersionNotFound, Some(v)) => version_missing(name, v),
        _ => e.into(),
    }
}

fn version_param(v: &Value) -> Result<i64> {
    let raw = match v.get("version") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(MlflowError::invalid(
                "Missing value for required parameter 'version'. See the API docs for more information about request parameters.",
            ));
        }
    };
    raw.parse().map_err(|_| MlflowError::invalid(format!("Parameter 'version' must be an integer, got '{raw}'.")))
}

fn check_name(name: &str) -> Result<()> {
    if name.contains('/') || name.contains(':') {
        return Err(MlflowError::invalid(format!("Invalid model name '{name}'. Names cannot contain '/' or ':'.")));
    }
    validate_model_name(name).map_err(|e| MlflowError::invalid(e.to_string()))
}

fn check_alias(alias: &str) -> Result<()> {
    if alias.eq_ignore_ascii_case("latest") {
        return Err(MlflowError::invalid("'latest' alias name (case insensitive) is reserved."));
    }
    validate_alias(alias).map_err(|e| {
        if alias.strip_prefix(['v', 'V']).is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())) {
            MlflowError::invalid(format!("Version alias name '{alias}' is reserved."))
        } else {
            MlflowError::invalid(e.to_string())
        }
    })
}

fn parse_stage(s: &str) -> Result<ModelStage> {
    ModelStage::parse(s).map_err(|_| {
        MlflowError::invalid(format!(
            "Invalid Model Version stage: {s}. Value must be one of None, Staging, Production, Archived."
        ))
    })
}

fn tag_key(item: &str) -> Result<()> {
    if item.trim().is_empty() {
        return Err(MlflowError::invalid(
            "Invalid value \"\" for parameter 'key' supplied: a tag needs a non-empty key",
        ));
    }
    Ok(())
}

// -- registered models -------------------------------------------------------------------------

async fn create_model(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let name = required(&b, "name")?.to_owned();
    check_name(&name)?;
    let tags = key_values(&b, "tags")?;
    for (k, _) in &tags {
        tag_key(k)?;
    }
    let new = NewRegisteredModel {
        name: name.clone(),
        description: text(&b, "description").unwrap_or("").to_owned(),
        owner: None,
        tags: tags.into_iter().collect(),
    };
    let m = s.create_registered_model(new).await.map_err(|e| {
        if e.code == ErrorCode::AlreadyExists {
            MlflowError::exists(format!("Registered Model (name={name}) already exists."))
        } else {
            e.into()
        }
    })?;
    Ok(Json(json!({"registered_model": model_json_read(&s, &m).await?})))
}

async fn get_model(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let v = query_value(&q);
    let name = required(&v, "name")?;
    let m = s.get_registered_model(name).await.map_err(registry_err(name, None))?;
    Ok(Json(json!({"registered_model": model_json_read(&s, &m).await?})))
}

async fn patch_model(s: &Service, name: &str, patch: RegisteredModelPatch) -> Result<RegisteredModel> {
    s.update_registered_model(name, patch).await.map_err(|e| match e.code {
        ErrorCode::ModelNotFound => model_missing(name),
        ErrorCode::ModelVersionNotFound => MlflowError::missing(e.message),
        _ => e.into(),
    })
}

async fn rename_model(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let name = required(&b, "name")?;
    let new_name = required(&b, "new_name")?;
    check_name(new_name)?;
    let patch = RegisteredModelPatch { name: Some(new_name.to_owned()), ..Default::default() };
    let m = s.update_registered_model(name, patch).await.map_err(|e| match e.code {
        ErrorCode::ModelNotFound => model_missing(name),
        ErrorCode::AlreadyExists => MlflowError::exists(format!("Registered Model (name={new_name}) already exists.")),
        _ => e.into(),
    })?;
    Ok(Json(json!({"registered_model": model_json_read(&s, &m).await?})))
}

async fn update_model(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let name = required(&b, "name")?;
    let patch = RegisteredModelPatch {
        description: Some(text(&b, "description").unwrap_or("").to_owned()),
        ..Default::default()
    };
    let m = patch_model(&s, name, patch).await?;
    Ok(Json(json!({"registered_model": model_json_read(&s, &m).await?})))
}

async fn delete_model(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let name = required(&b, "name")?;
    s.delete_registered_model(name).await.map_err(registry_err(name, None))?;
    Ok(Json(json!({})))
}

async fn set_model_tag(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let name = required(&b, "name")?;
    let key = required(&b, "key")?;
    let value = text(&b, "value").unwrap_or("");
    let patch = RegisteredModelPatch { tags: [(key.to_owned(), Some(value.to_owned()))].into(), ..Default::default() };
    patch_model(&s, name, patch).await?;
    Ok(Json(json!({})))
}

async fn delete_model_tag(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let name = required(&b, "name")?;
    let key = required(&b, "key")?;
    let patch = RegisteredModelPatch { tags: [(key.to_owned(), None)].into(), ..Default::default() };
    patch_model(&s, name, patch).await?;
    Ok(Json(json!({})))
}

async fn set_alias(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let name = required(&b, "name")?;
    let alias = required(&b, "alias")?;
    let version = version_param(&b)?;
    check_alias(alias)?;
    let patch = RegisteredModelPatch { aliases: [(alias.to_owned(), Some(version))].into(), ..Default::default() };
    s.update_registered_model(name, patch).await.map_err(registry_err(name, Some(version)))?;
    Ok(Json(json!({})))
}

async fn delete_alias(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let name = required(&b, "name")?;
    let alias = required(&b, "alias")?;
    let patch = RegisteredModelPatch { aliases: [(alias.to_owned(), None)].into(), ..Default::default() };
    patch_model(&s, name, patch).await?;
    Ok(Json(json!({})))
}

async fn get_by_alias(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let v = query_value(&q);
    let name = required(&v, "name")?;
    let alias = required(&v, "alias")?;
    let mv = s.version_by_alias(name, alias).await.map_err(|e| match e.code {
        ErrorCode::AliasNotFound => MlflowError::invalid(format!("Registered model alias {alias} not found.")),
        _ => registry_err(name, None)(e),
    })?;
    Ok(Json(json!({"model_version": version_with_aliases(&s, &mv).await?})))
}

fn stages_of(v: &Value) -> Result<Vec<ModelStage>> {
    match v.get("stages") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(parse_stage).collect(),
        Some(Value::String(s)) => Ok(vec![parse_stage(s)?]),
        _ => Ok(vec![]),
    }
}

async fn latest(s: &Service, b: &Value) -> Result<Json<Value>> {
    let name = required(b, "name")?;
    let stages = stages_of(b)?;
    let m = s.get_registered_model(name).await.map_err(registry_err(name, None))?;
    let mut versions = s.latest_versions(name, &stages).await?;
    versions.sort_by_key(|v| v.version);
    if versions.is_empty() {
        return Ok(Json(json!({})));
    }
    let out: Vec<Value> = versions.iter().map(|v| version_json(v, &aliases_of(&m, v.version))).collect();
    Ok(Json(json!({"model_versions": out})))
}

async fn latest_versions(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    latest(&s, &b).await
}

async fn latest_versions_get(Svc(s): Svc, Query(q): Query<Vec<(String, String)>>) -> Result<Json<Value>> {
    let stages: Vec<Value> = q.iter().filter(|(k, _)| k == "stages").map(|(_, v)| json!(v)).collect();
    let mut b: serde_json::Map<String, Value> = q.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    b.insert("stages".into(), Value::Array(stages));
    latest(&s, &Value::Object(b)).await
}

// -- search ---------------------------------------------------------------------------------------

/// One condition of a registry search: `name LIKE 'a%'`, `tags.k = 'v'`,
/// `version_number > 2`, `run_id IN ('a', 'b')`.
#[derive(Debug)]
struct Cond {
    key: String,
    op: String,
    values: Vec<String>,
}

/// Parses `a = 'x' AND b IN ('y','z')` with the one MLflow grammar, allowing only
/// `keys` (and `tags.<k>`).
fn parse_filter(f: &str, keys: &[&str]) -> Result<Vec<Cond>> {
    use cairn_query::mlflow::{Literal, Test};
    let valid = || format!("'{{{}}}'", keys.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", "));
    let mut out = Vec::new();
    for t in crate::filter::terms(f)? {
        let lhs = t.key.trim_start_matches("attributes.").trim_start_matches("attribute.");
        let key = lhs.strip_prefix("tag.").map(|k| format!("tags.{k}")).unwrap_or_else(|| lhs.to_owned());
        if !(key.starts_with("tags.") || keys.contains(&key.as_str())) {
            return Err(MlflowError::invalid(format!(
                "Invalid attribute key '{key}' specified. Valid keys are {}",
                valid()
            )));
        }
        let text_of = |l: &Literal| -> Result<String> {
            match l {
                Literal::Str(s) => Ok(s.clone()),
                Literal::Num(n) if key == "version_number" && n.fract() == 0.0 => Ok(format!("{n}")),
                Literal::Num(n) => {
                    Err(MlflowError::invalid(format!("Invalid filter '{f}': the value {n} must be quoted")))
                }
            }
        };
        let (op, values) = match &t.test {
            Test::Compare(op, v) => (op_text(*op).to_owned(), vec![text_of(v)?]),
            Test::In(vs, negated) => {
                (if *negated { "NOT IN" } else { "IN" }.to_owned(), vs.iter().map(text_of).collect::<Result<_>>()?)
            }
            Test::Like(p, ci) => (if *ci { "ILIKE" } else { "LIKE" }.to_owned(), vec![p.clone()]),
            Test::IsNull(_) => {
                return Err(MlflowError::invalid(format!("Invalid filter '{f}': IS NULL is not a model search test")));
            }
        };
        out.push(Cond { key, op, values });
    }
    Ok(out)
}

fn op_text(op: cairn_query::CmpOp) -> &'static str {
    use cairn_query::CmpOp::*;
    match op {
        Eq => "=",
        Ne => "!=",
        Lt => "<",
        Le => "<=",
        Gt => ">",
        Ge => ">=",
    }
}

impl Cond {
    fn matches(&self, subject: Option<&str>) -> bool {
        let Some(s) = subject else { return self.op == "!=" || self.op == "NOT IN" };
        let v = &self.values[0];
        let num = |a: &str| a.parse::<f64>().ok();
        let cmp = |f: fn(f64, f64) -> bool| matches!((num(s), num(v)), (Some(a), Some(b)) if f(a, b));
        match self.op.as_str() {
            "=" => s == v,
            "!=" => s != v,
            "LIKE" => like(s, v, false),
            "ILIKE" => like(s, v, true),
            "IN" => self.values.iter().any(|x| x == s),
            "NOT IN" => !self.values.iter().any(|x| x == s),
            "<" => cmp(|a, b| a < b),
            "<=" => cmp(|a, b| a <= b),
            ">" => cmp(|a, b| a > b),
            ">=" => cmp(|a, b| a >= b),
            _ => false,
        }
    }
}

fn page_size(b: &Value, default: i64, max: i64) -> Result<usize> {
    let n = int(b, "max_results")?.unwrap_or(default);
    if !(1..=max).contains(&n) {
        return Err(MlflowError::invalid(format!(
            "Invalid value for max_results. It must be at most {max}, but got value {n}"
        )));
    }
    Ok(n as usize)
}

async fn search_models_get(state: Svc, Query(q): Query<Vec<(String, String)>>) -> Result<Json<Value>> {
    search_models(state, Json(multi_query(&q, "order_by"))).await
}

/// A query string as a JSON body, with `list_key` (repeatable) as an array.
fn multi_query(q: &[(String, String)], list_key: &str) -> Value {
    let single: HashMap<String, String> = q.iter().cloned().collect();
    let mut b = query_value(&single);
    let list: Vec<Value> = q.iter().filter(|(k, _)| k == list_key).map(|(_, v)| json!(v)).collect();
    b[list_key] = Value::Array(list);
    b
}

async fn search_models(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let conds = crate::filter::model_filter(text(&b, "filter").unwrap_or(""))?;
    let order = crate::filter::model_order(&crate::order_list(&b))?;
    let n = page_size(&b, MODELS_PAGE, MODELS_PAGE_MAX)?;
    let (query, offset, as_of) = crate::page_query(&b, conds, order, n)?;
    let mut models = s.search_registered_models(query).await?;
    let next = crate::next_page(&mut models, n, offset, as_of);
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    let mut latest = s.latest_versions_of(&names).await?;
    let out: Vec<Value> = models.iter().map(|m| model_json(m, latest.remove(&m.name).unwrap_or_default())).collect();
    let mut body = json!({});
    if !out.is_empty() {
        body["registered_models"] = json!(out);
    }
    if let Some(token) = next {
        body["next_page_token"] = json!(token);
    }
    Ok(Json(body))
}

async fn search_versions_get(state: Svc, Query(q): Query<Vec<(String, String)>>) -> Result<Json<Value>> {
    search_versions(state, Json(multi_query(&q, "order_by"))).await
}

async fn search_versions(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    use cairn_query::listing::{ListCond, ListField, ListOrder, Literal, Test};
    let conds = crate::filter::version_filter(text(&b, "filter").unwrap_or(""))?;
    let mut order = crate::filter::version_order(&crate::order_list(&b))?;
    // MLflow's default order: most recently updated first (then name, then newest
    // version, as the store breaks ties).
    if order.is_empty() {
        order.push(ListOrder { field: ListField::Updated, descending: true });
    }
    let n = page_size(&b, VERSIONS_PAGE, VERSIONS_PAGE_MAX)?;
    let (query, offset, as_of) = crate::page_query(&b, conds, order, n)?;
    let mut versions = s.search_model_versions(query).await?;
    let next = crate::next_page(&mut versions, n, offset, as_of);
    // The aliases are the models': read the page's models once.
    let mut names: Vec<String> = versions.iter().map(|v| v.model.clone()).collect();
    names.sort();
    names.dedup();
    let mut models = BTreeMap::new();
    for chunk in names.chunks(500) {
        let named = ListCond {
            field: ListField::Name,
            test: Test::In(chunk.iter().map(|m| Literal::Str(m.clone())).collect(), false),
        };
        let q = cairn_store::ListQuery { conds: vec![named], limit: chunk.len() as u32, ..Default::default() };
        for m in s.search_registered_models(q).await? {
            models.insert(m.name.clone(), m);
        }
    }
    let items: Vec<Value> = versions
        .iter()
        .map(|v| version_json(v, &models.get(&v.model).map(|m| aliases_of(m, v.version)).unwrap_or_default()))
        .collect();
    let mut out = json!({});
    if !items.is_empty() {
        out["model_versions"] = json!(items);
    }
    if let Some(token) = next {
        out["next_page_token"] = json!(token);
    }
    Ok(Json(out))
}

// -- model versions ------------------------------------------------------------------------------

/// MLflow's rules for a version's source: a remote location, or something inside the
/// run (`runs:/<run_id>/…`) or logged model (`models:/<model_id>`) the request names.
fn check_source(source: &str, run_id: Option<&str>, model_id: Option<&str>) -> Result<()> {
    let invalid = |why: &str| MlflowError::invalid(format!("Invalid model version source: '{source}'. {why}"));
    if let Some(rest) = source.strip_prefix("runs:/") {
        let run = rest.split('/').next().unwrap_or("");
        if run_id != Some(run) {
            return Err(invalid("The run_id request parameter must identify the resource that contains the source."));
        }
        return Ok(());
    }
    if let Some(rest) = source.strip_prefix("models:/") {
        let model = rest.split('/').next().unwrap_or("");
        if model_id != Some(model) {
            return Err(invalid("The model_id request parameter must identify the resource that contains the source."));
        }
        return Ok(());
    }
    let has_scheme = source.split_once(':').is_some_and(|(scheme, _)| {
        scheme.len() > 1 && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if !has_scheme || source.starts_with("file:") {
        return Err(invalid(
            "To use a local path as a model version source, the run_id request parameter has to be specified and the \
             local path has to be contained within the artifact directory of the run specified by the run_id.",
        ));
    }
    Ok(())
}

async fn create_version(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let name = required(&b, "name")?;
    let source = required(&b, "source")?;
    let run = text(&b, "run_id").filter(|r| !r.is_empty());
    let model_id = text(&b, "model_id").filter(|m| !m.is_empty());
    check_source(source, run, model_id)?;
    let run_id = match run {
        Some(r) => Some(
            s.resolve(r)
                .await
                .map_err(|e| {
                    if e.is_not_found() { MlflowError::missing(format!("Run with id={r} not found")) } else { e.into() }
                })?
                .id,
        ),
        None => None,
    };
    let new = NewModelVersion {
        version: None,
        source: source.to_owned(),
        run_id,
        model_id: model_id.map(str::to_owned),
        run_link: text(&b, "run_link").filter(|l| !l.is_empty()).map(str::to_owned),
        description: text(&b, "description").unwrap_or("").to_owned(),
        owner: None,
        tags: key_values(&b, "tags")?.into_iter().collect(),
    };
    let v = s.create_model_version(name, new).await.map_err(|e| match e.code {
        ErrorCode::ModelNotFound => model_missing(name),
        ErrorCode::LoggedModelNotFound => {
            MlflowError::missing(format!("Logged model with ID '{}' not found.", model_id.unwrap_or("")))
        }
        _ => e.into(),
    })?;
    // MLflow records the registration on the logged model too.
    if let Some(id) = model_id
        && let Ok(mut m) = s.get_logged_model(id).await
    {
        let mut list: Vec<Value> =
            m.tags.get("mlflow.modelVersions").and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
        list.push(json!({"name": v.model, "version": v.version}));
        m.tags.insert("mlflow.modelVersions".into(), Value::Array(list).to_string());
        s.update_logged_model(m).await?;
    }
    Ok(Json(json!({"model_version": version_json(&v, &[])})))
}

async fn get_version(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let b = query_value(&q);
    let name = required(&b, "name")?;
    let version = version_param(&b)?;
    let v = s
        .get_model_version(name, version)
        .await
        .map_err(|e| if e.is_not_found() { version_missing(name, version) } else { e.into() })?;
    Ok(Json(json!({"model_version": version_with_aliases(&s, &v).await?})))
}

async fn patch_version(s: &Service, b: &Value, patch: ModelVersionPatch) -> Result<ModelVersion> {
    let name = required(b, "name")?;
    let version = version_param(b)?;
    s.update_model_version(name, version, patch).await.map_err(|e| match e.code {
        ErrorCode::ModelNotFound | ErrorCode::ModelVersionNotFound => version_missing(name, version),
        _ => e.into(),
    })
}

async fn update_version(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let patch = ModelVersionPatch { description: text(&b, "description").map(str::to_owned), ..Default::default() };
    let v = patch_version(&s, &b, patch).await?;
    Ok(Json(json!({"model_version": version_with_aliases(&s, &v).await?})))
}

async fn delete_version(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let name = required(&b, "name")?;
    let version = version_param(&b)?;
    s.delete_model_version(name, version)
        .await
        .map_err(|e| if e.is_not_found() { version_missing(name, version) } else { e.into() })?;
    Ok(Json(json!({})))
}

async fn transition_stage(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let stage = parse_stage(required(&b, "stage")?)?;
    let archive = b.get("archive_existing_versions").and_then(Value::as_bool).unwrap_or(false);
    if archive && !matches!(stage, ModelStage::Staging | ModelStage::Production) {
        return Err(MlflowError::invalid(format!(
            "Model version transition cannot archive existing model versions because '{}' is not an Active stage. \
             Valid stages are ['Staging', 'Production']",
            stage.as_str()
        )));
    }
    let patch = ModelVersionPatch { stage: Some(stage), archive_others: archive, ..Default::default() };
    let v = patch_version(&s, &b, patch).await?;
    Ok(Json(json!({"model_version": version_with_aliases(&s, &v).await?})))
}

async fn set_version_tag(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let key = required(&b, "key")?.to_owned();
    let value = text(&b, "value").unwrap_or("").to_owned();
    patch_version(&s, &b, ModelVersionPatch { tags: [(key, Some(value))].into(), ..Default::default() }).await?;
    Ok(Json(json!({})))
}

async fn delete_version_tag(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let key = required(&b, "key")?.to_owned();
    patch_version(&s, &b, ModelVersionPatch { tags: [(key, None)].into(), ..Default::default() }).await?;
    Ok(Json(json!({})))
}

async fn download_uri(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let b = query_value(&q);
    let name = required(&b, "name")?;
    let version = version_param(&b)?;
    let v = s
        .get_model_version(name, version)
        .await
        .map_err(|e| if e.is_not_found() { version_missing(name, version) } else { e.into() })?;
    let uri = match &v.model_id {
        Some(id) => match s.get_logged_model(id).await {
            Ok(m) => logged_artifact_uri(&s, &m).await?,
            Err(_) => v.source.clone(),
        },
        None => v.source.clone(),
    };
    Ok(Json(json!({"artifact_uri": uri})))
}

// -- logged models -----------------------------------------------------------------------------

fn logged_status(s: LoggedModelStatus) -> &'static str {
    match s {
        LoggedModelStatus::Pending => "LOGGED_MODEL_PENDING",
        LoggedModelStatus::Ready => "LOGGED_MODEL_READY",
        LoggedModelStatus::Failed => "LOGGED_MODEL_UPLOAD_FAILED",
    }
}

fn parse_logged_status(v: &Value) -> Result<LoggedModelStatus> {
    // The status comes as the enum's name or its number (1 pending, 2 ready, 3 failed).
    match v {
        Value::String(s) if s == "LOGGED_MODEL_PENDING" => Ok(LoggedModelStatus::Pending),
        Value::String(s) if s == "LOGGED_MODEL_READY" => Ok(LoggedModelStatus::Ready),
        Value::String(s) if s == "LOGGED_MODEL_UPLOAD_FAILED" => Ok(LoggedModelStatus::Failed),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(LoggedModelStatus::Pending),
        Value::Number(n) if n.as_i64() == Some(2) => Ok(LoggedModelStatus::Ready),
        Value::Number(n) if n.as_i64() == Some(3) => Ok(LoggedModelStatus::Failed),
        other => Err(MlflowError::invalid(format!(
            "Invalid value {other} for parameter 'status': use LOGGED_MODEL_PENDING, LOGGED_MODEL_READY or \
             LOGGED_MODEL_UPLOAD_FAILED"
        ))),
    }
}

async fn experiment_of_project(s: &Service, project_id: i64) -> Result<String> {
    let p = s.get_project_by_id(project_id).await?;
    Ok(super::experiment_id(&p))
}

/// Where a client reads and writes the model's files: MLflow's layout, which the
/// artifact proxy maps onto the producing run's `models/<id>/` folder.
async fn logged_artifact_uri(s: &Service, m: &LoggedModel) -> Result<String> {
    let exp = experiment_of_project(s, m.project_id).await?;
    Ok(format!("mlflow-artifacts:/{exp}/models/{}/artifacts", m.id))
}

async fn logged_json(s: &Service, m: &LoggedModel) -> Result<Value> {
    let exp = experiment_of_project(s, m.project_id).await?;
    let mut info = json!({
        "model_id": m.id,
        "experiment_id": exp,
        "name": m.name,
        "creation_timestamp_ms": m.created_at,
        "last_updated_timestamp_ms": m.updated_at,
        "artifact_uri": format!("mlflow-artifacts:/{exp}/models/{}/artifacts", m.id),
        "status": logged_status(m.status),
        "model_type": m.model_type.clone().unwrap_or_default(),
    });
    if let Some(r) = m.source_run {
        info["source_run_id"] = json!(r.0.simple().to_string());
    }
    if let Some(msg) = &m.status_message {
        info["status_message"] = json!(msg);
    }
    if !m.tags.is_empty() {
        info["tags"] = json!(pairs(&m.tags));
    }
    let mut data = json!({});
    if !m.params.is_empty() {
        data["params"] = json!(pairs(&m.params));
    }
    Ok(json!({"info": info, "data": data}))
}

fn logged_missing(id: &str) -> MlflowError {
    MlflowError::missing(format!("Logged model with ID '{id}' not found."))
}

async fn logged(s: &Service, id: &str) -> Result<LoggedModel> {
    s.get_logged_model(id).await.map_err(|e| if e.is_not_found() { logged_missing(id) } else { e.into() })
}

fn random_name() -> String {
    const WORDS: [&str; 8] = ["amber", "brisk", "calm", "deft", "eager", "fleet", "gentle", "hardy"];
    let n: u32 = rand_u32();
    format!("{}-model-{}", WORDS[(n % 8) as usize], n % 1000)
}

fn rand_u32() -> u32 {
    uuid::Uuid::now_v7().as_u128() as u32
}

async fn create_logged_model(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let exp = required(&b, "experiment_id")?;
    let project = project_of(&s, exp).await?;
    let name = text(&b, "name").filter(|n| !n.is_empty()).map(str::to_owned).unwrap_or_else(random_name);
    let id = format!("m-{}", uuid::Uuid::now_v7().simple());
    let now = cairn_server::service::now_ms();
    let tags: BTreeMap<String, String> = key_values(&b, "tags")?.into_iter().collect();
    let source_run = match text(&b, "source_run_id").filter(|r| !r.is_empty()) {
        Some(r) => {
            s.resolve(r)
                .await
                .map_err(|e| {
                    if e.is_not_found() { MlflowError::missing(format!("Run with id={r} not found")) } else { e.into() }
                })?
                .id
        }
        // Cairn keeps a model's files with the run that made it; a model logged outside
        // any run gets a finished run of its own that records it.
        None => {
            let new = NewRun {
                project: project.name.to_string(),
                name: Some(format!("model {name}")),
                tags: [(HOLDER_TAG.to_owned(), id.clone())].into(),
                ..Default::default()
            };
            let run = s.create_run_without_hypothesis_rule(new).await?;
            s.finish_run(&run.id.to_string(), Some(RunStatus::Finished), None).await?;
            run.id
        }
    };
    let model = LoggedModel {
        id,
        project_id: project.id,
        name,
        source_run: Some(source_run),
        status: LoggedModelStatus::Pending,
        status_message: None,
        model_type: text(&b, "model_type").filter(|t| !t.is_empty()).map(str::to_owned),
        owner: tags.get("mlflow.user").cloned(),
        created_at: now,
        updated_at: now,
        params: key_values(&b, "params")?.into_iter().collect(),
        tags,
    };
    let m = s.create_logged_model(model).await?;
    Ok(Json(json!({"model": logged_json(&s, &m).await?})))
}

async fn get_logged_model(Svc(s): Svc, Path(id): Path<String>) -> Result<Json<Value>> {
    let m = logged(&s, &id).await?;
    Ok(Json(json!({"model": logged_json(&s, &m).await?})))
}

async fn finalize_logged_model(Svc(s): Svc, Path(id): Path<String>, Json(b): Json<Value>) -> Result<Json<Value>> {
    let mut m = logged(&s, &id).await?;
    m.status = parse_logged_status(b.get("status").unwrap_or(&Value::Null))?;
    let m = s.update_logged_model(m).await?;
    Ok(Json(json!({"model": logged_json(&s, &m).await?})))
}

async fn delete_logged_model(Svc(s): Svc, Path(id): Path<String>) -> Result<Json<Value>> {
    logged(&s, &id).await?;
    s.delete_logged_model(&id).await?;
    Ok(Json(json!({})))
}

async fn set_logged_model_tags(Svc(s): Svc, Path(id): Path<String>, Json(b): Json<Value>) -> Result<Json<Value>> {
    let mut m = logged(&s, &id).await?;
    m.tags.extend(key_values(&b, "tags")?);
    s.update_logged_model(m).await?;
    Ok(Json(json!({})))
}

async fn delete_logged_model_tag(Svc(s): Svc, Path((id, key)): Path<(String, String)>) -> Result<Json<Value>> {
    let mut m = logged(&s, &id).await?;
    if m.tags.remove(&key).is_none() {
        return Err(MlflowError::missing(format!("No tag with key '{key}' found for logged model '{id}'.")));
    }
    s.update_logged_model(m).await?;
    Ok(Json(json!({})))
}

async fn log_logged_model_params(Svc(s): Svc, Path(id): Path<String>, Json(b): Json<Value>) -> Result<Json<Value>> {
    let mut m = logged(&s, &id).await?;
    m.params.extend(key_values(&b, "params")?);
    s.update_logged_model(m).await?;
    Ok(Json(json!({})))
}

async fn search_logged_models(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let mut projects = Vec::new();
    for e in b.get("experiment_ids").and_then(Value::as_array).into_iter().flatten() {
        let e = e.as_str().map(str::to_owned).unwrap_or_else(|| e.to_string());
        projects.push(project_of(&s, &e).await?.id);
    }
    let conds =
        parse_filter(text(&b, "filter").unwrap_or(""), &["name", "model_id", "source_run_id", "status", "model_type"])?;
    let n = page_size(&b, 100, 1000)?;
    let (offset, as_of) = crate::read_page_token(&b)?;
    let mut models = s.list_logged_models(&projects).await?;
    models.retain(|m| {
        conds.iter().all(|c| {
            let run = m.source_run.map(|r| r.0.simple().to_string());
            match c.key.as_str() {
                "name" => c.matches(Some(&m.name)),
                "model_id" => c.matches(Some(&m.id)),
                "source_run_id" => c.matches(run.as_deref()),
                "status" => c.matches(Some(logged_status(m.status))),
                "model_type" => c.matches(m.model_type.as_deref()),
                k => c.matches(k.strip_prefix("tags.").and_then(|t| m.tags.get(t)).map(String::as_str)),
            }
        })
    });
    let mut items = Vec::new();
    for m in models.iter().skip(offset as usize).take(n) {
        items.push(logged_json(&s, m).await?);
    }
    let mut out = json!({"models": items});
    if offset + (n as u64) < models.len() as u64 {
        out["next_page_token"] = json!(crate::page_token(offset + n as u64, as_of));
    }
    Ok(Json(out))
}

/// `runs/outputs`: the run produced these models. Cairn links a logged model to its
/// source run already; outputs naming another run's model are checked and accepted.
async fn log_outputs(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let id = super::run_id(&b)?;
    s.resolve(&id).await.map_err(|e| {
        if e.is_not_found() { MlflowError::missing(format!("Run with id={id} not found")) } else { e.into() }
    })?;
    for m in b.get("models").and_then(Value::as_array).into_iter().flatten() {
        let model = required(m, "model_id")?;
        logged(&s, model).await?;
    }
    Ok(Json(json!({})))
}

/// The models a run logged, as `outputs.model_outputs` of MLflow's run JSON.
pub(crate) async fn run_outputs(s: &Service, run: RunId, project: &str) -> Result<Value> {
    let p = s.get_project(project).await?;
    let models = s.list_logged_models(&[p.id]).await?;
    let outputs: Vec<Value> =
        models.iter().filter(|m| m.source_run == Some(run)).map(|m| json!({"model_id": m.id, "step": 0})).collect();
    Ok(if outputs.is_empty() { json!({}) } else { json!({"model_outputs": outputs}) })
}

/// `<experiment>/models/<model id>/artifacts[/<path>]` → (run id, path within the run).
pub(crate) async fn model_proxy_path(s: &Service, path: &str) -> Result<Option<(String, String)>> {
    let mut parts = path.trim_matches('/').splitn(5, '/');
    let (_, kind, id, marker, rest) = (parts.next(), parts.next(), parts.next(), parts.next(), parts.next());
    if kind != Some("models") || marker != Some("artifacts") {
        return Ok(None);
    }
    let id = id.unwrap_or("");
    let (run, prefix) = s
        .logged_model_location(id)
        .await
        .map_err(|e| if e.status == StatusCode::NOT_FOUND { logged_missing(id) } else { e.into() })?;
    let file = match rest.filter(|r| !r.is_empty()) {
        Some(r) => format!("{prefix}/{r}"),
        None => prefix,
    };
    Ok(Some((run.to_string(), file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_keys_operators_and_lists() {
        let c = parse_filter(
            "name = 'a' AND run_id IN ('x', 'y') AND version_number >= 2",
            &["name", "run_id", "version_number"],
        )
        .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!((c[1].op.as_str(), c[1].values.len()), ("IN", 2));
        assert!(c[2].matches(Some("3")) && !c[2].matches(Some("1")));
        let e = parse_filter("bogus = 1", &["name"]).unwrap_err();
        assert!(e.message.contains("Invalid attribute key 'bogus'"), "{}", e.message);
        let t = parse_filter("tags.k != 'v'", &["name"]).unwrap();
        assert!(t[0].matches(None), "a missing tag is not equal to anything");
    }

    #[test]
    fn sources_follow_mlflows_rules() {
        assert!(check_source("s3://b/k", None, None).is_ok());
        assert!(check_source("runs:/abc/model", Some("abc"), None).is_ok());
        assert!(check_source("runs:/abc/model", None, None).is_err());
        assert!(check_source("models:/m-1", None, Some("m-1")).is_ok());
        assert!(check_source("/tmp/x", None, None).is_err());
        assert!(check_source("file:///tmp/x", Some("abc"), None).is_err());
    }
}

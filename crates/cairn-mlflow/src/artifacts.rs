//! Artifacts: the tracking API's listing and the artifact proxy (`mlflow-artifacts`),
//! multipart uploads included.

use super::*;

/// The immediate children of `dir` among a run's artifact paths: (name, is_dir, size).
pub(crate) fn children(all: &[cairn_domain::ArtifactInfo], dir: &str) -> Vec<(String, bool, u64)> {
    let prefix = if dir.is_empty() { String::new() } else { format!("{}/", dir.trim_end_matches('/')) };
    let mut out: BTreeMap<String, (bool, u64)> = BTreeMap::new();
    for a in all {
        let Some(rest) = a.path.as_str().strip_prefix(&prefix) else { continue };
        match rest.split_once('/') {
            Some((d, _)) => {
                out.insert(d.to_owned(), (true, 0));
            }
            None => {
                out.insert(rest.to_owned(), (false, a.size));
            }
        }
    }
    out.into_iter().map(|(n, (d, s))| (n, d, s)).collect()
}

pub(crate) fn file_json(path: String, is_dir: bool, size: u64) -> Value {
    if is_dir {
        json!({"path": path, "is_dir": true})
    } else {
        json!({"path": path, "is_dir": false, "file_size": size})
    }
}

pub(crate) async fn list_artifacts_tracking(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let v = query_value(&q);
    let id = run_id(&v)?;
    let dir = text(&v, "path").unwrap_or("").trim_matches('/').to_owned();
    let run = s.resolve(&id).await?;
    let exp = Experiments::default().id(&s, run.project.as_str()).await?;
    let all = s.list_artifacts(&id, "").await?;
    let files: Vec<Value> = children(&all, &dir)
        .into_iter()
        .map(|(n, d, size)| file_json(if dir.is_empty() { n } else { format!("{dir}/{n}") }, d, size))
        .collect();
    let root = format!("mlflow-artifacts:/{exp}/{}/artifacts", run.id.0.simple());
    Ok(Json(json!({"root_uri": root, "files": files})))
}

/// `<experiment>/<run>/artifacts[/<path>]` → (run id, path within the run).
pub(crate) fn proxy_path(path: &str) -> Result<(String, String)> {
    let mut parts = path.trim_matches('/').splitn(4, '/');
    let (_, run, marker, rest) = (parts.next(), parts.next(), parts.next(), parts.next());
    match (run, marker) {
        (Some(run), Some("artifacts")) if !run.is_empty() => Ok((run.to_owned(), rest.unwrap_or("").to_owned())),
        _ => Err(MlflowError::invalid(format!(
            "artifact path '{path}' is not <experiment id>/<run id>/artifacts/<path>, as this server's runs' artifact \
             URIs are"
        ))),
    }
}

pub(crate) async fn proxy_list(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let path = q.get("path").cloned().unwrap_or_default();
    let (run, dir) = locate(&s, &path).await?;
    let all = s.list_artifacts(&run, "").await?;
    let files: Vec<Value> = children(&all, &dir).into_iter().map(|(n, d, size)| file_json(n, d, size)).collect();
    Ok(Json(json!({"files": files})))
}

pub(crate) async fn proxy_download(Svc(s): Svc, Path(path): Path<String>) -> Result<Response> {
    let (run, file) = locate(&s, &path).await?;
    let (info, stream) = s.get_artifact(&run, &file).await?;
    let mut resp = Body::from_stream(stream.map_err(std::io::Error::other)).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    if let Ok(len) = HeaderValue::from_str(&info.size.to_string()) {
        resp.headers_mut().insert(header::CONTENT_LENGTH, len);
    }
    Ok(resp)
}

pub(crate) async fn proxy_upload(Svc(s): Svc, Path(path): Path<String>, body: Body) -> Result<Json<Value>> {
    let (run, file) = locate(&s, &path).await?;
    s.put_artifact(&run, &file, body.into_data_stream()).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn proxy_delete(Svc(s): Svc, Path(path): Path<String>) -> Result<Json<Value>> {
    let (run, file) = locate(&s, &path).await?;
    if s.delete_artifacts(&run, &file).await?.is_empty() {
        return Err(MlflowError::missing(format!("No artifact or folder '{path}' to delete")));
    }
    Ok(Json(json!({})))
}

/// Where a proxy path points: a run's artifact, or a file of a logged model (kept in
/// the producing run's `models/<id>/` folder).
pub(crate) async fn locate(s: &Service, path: &str) -> Result<(String, String)> {
    match registry::model_proxy_path(s, path).await? {
        Some(found) => Ok(found),
        None => proxy_path(path),
    }
}

/// The run and artifact path a multipart upload writes: the folder in the URL, and the
/// file's name from the client's `path` (its local file).
pub(crate) async fn upload_target(s: &Service, path: &str, b: &Value) -> Result<(String, String)> {
    let (run, dir) = locate(s, path).await?;
    let local = required(b, "path")?;
    let name = local
        .rsplit(['/', '\\'])
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| MlflowError::invalid(format!("'path' must name the file being uploaded, got '{local}'")))?;
    let file = if dir.is_empty() { name.to_owned() } else { format!("{}/{name}", dir.trim_end_matches('/')) };
    Ok((run, file))
}

/// Where this server is reached, as the client reached it (a proxy in front says so).
pub(crate) fn public_base(headers: &axum::http::HeaderMap) -> Result<String> {
    let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(|v| v.split(',').next().unwrap_or("").trim());
    let host = get("x-forwarded-host")
        .or_else(|| get("host"))
        .filter(|h| !h.is_empty())
        .ok_or_else(|| MlflowError::invalid("the request has no Host header to address the upload's parts to"))?;
    let scheme = get("x-forwarded-proto").filter(|p| *p == "https").unwrap_or("http");
    Ok(format!("{scheme}://{host}"))
}

/// `mpu/create`: on S3 a signed URL per part, straight to the bucket; on other storage
/// a URL per part on this server, which keeps the parts until `mpu/complete`.
pub(crate) async fn multipart_create(
    Svc(s): Svc,
    Path(path): Path<String>,
    headers: axum::http::HeaderMap,
    Json(b): Json<Value>,
) -> Result<Json<Value>> {
    let (run, file) = upload_target(&s, &path, &b).await?;
    let parts = int(&b, "num_parts")?.unwrap_or(1);
    let max = i64::from(cairn_artifacts::MAX_PARTS);
    if !(1..=max).contains(&parts) {
        return Err(MlflowError::invalid(format!("'num_parts' must be between 1 and {max}, got {parts}")));
    }
    let start = s.start_artifact_upload(&run, &file, parts as u32).await?;
    let urls = match start.part_urls {
        Some(urls) => urls,
        None => {
            let base = public_base(&headers)?;
            (1..=parts).map(|n| format!("{base}/api/2.0/mlflow-artifacts/mpu/part/{}/{n}", start.upload_id)).collect()
        }
    };
    let credentials: Vec<Value> =
        urls.into_iter().enumerate().map(|(i, url)| json!({"url": url, "part_number": i + 1, "headers": {}})).collect();
    Ok(Json(json!({"upload_id": start.upload_id, "credentials": credentials})))
}

pub(crate) async fn multipart_part(
    Svc(s): Svc,
    Path((upload, part)): Path<(String, u32)>,
    body: Body,
) -> Result<Response> {
    let etag = s.put_upload_part(&upload, part, body.into_data_stream()).await?;
    let mut resp = Json(json!({})).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

pub(crate) async fn multipart_complete(
    Svc(s): Svc,
    Path(path): Path<String>,
    Json(b): Json<Value>,
) -> Result<Json<Value>> {
    let (run, file) = upload_target(&s, &path, &b).await?;
    let upload = required(&b, "upload_id")?;
    let mut parts = Vec::new();
    for p in b.get("parts").and_then(Value::as_array).into_iter().flatten() {
        let number = int(p, "part_number")?
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| MlflowError::invalid("every part needs its 'part_number'"))?;
        let etag = text(p, "etag").unwrap_or("").to_owned();
        parts.push(cairn_artifacts::Part { number, etag });
    }
    s.complete_artifact_upload(&run, &file, upload, parts).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn multipart_abort(
    Svc(s): Svc,
    Path(path): Path<String>,
    Json(b): Json<Value>,
) -> Result<Json<Value>> {
    let (run, file) = upload_target(&s, &path, &b).await?;
    s.abort_artifact_upload(&run, &file, required(&b, "upload_id")?).await?;
    Ok(Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths_name_the_run() {
        assert_eq!(proxy_path("3/abc/artifacts/model/w.bin").unwrap(), ("abc".into(), "model/w.bin".into()));
        assert_eq!(proxy_path("3/abc/artifacts").unwrap(), ("abc".into(), String::new()));
        assert!(proxy_path("3/abc/other").is_err());
    }
}

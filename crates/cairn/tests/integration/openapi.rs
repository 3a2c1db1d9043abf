//! The OpenAPI document served at `/api/openapi.json`, held against the real server:
//! the document is well formed; every operation it describes is routed and answers
//! as described; paths and methods it leaves out are not routed; and response bodies
//! carry exactly the properties their schemas list.

use crate::common::TestServer;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Client, Method};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fmt;

/// The document as this test binary was built: the same file the server embeds.
const DOCUMENT: &str = include_str!("../../../cairn-server/openapi.json");

/// The HTTP methods the router could serve (axum also answers HEAD for every GET).
const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

// ---------------------------------------------------------------------------------
// The document and a checker for the subset of OpenAPI 3.0 schemas it uses.
// ---------------------------------------------------------------------------------

struct Doc(Value);

/// One documented operation.
struct Op<'a> {
    method: Method,
    /// The path template, e.g. `/api/v1/runs/{run}`.
    path: &'a str,
    op: &'a Value,
    /// Path-level parameters, then the operation's own, `$ref`s followed.
    params: Vec<&'a Value>,
}

impl fmt::Display for Op<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

impl Op<'_> {
    fn query_params(&self) -> Vec<&str> {
        self.params.iter().filter(|p| p["in"] == "query").filter_map(|p| p["name"].as_str()).collect()
    }
}

/// Schema keywords the checker enforces.
const CHECKED: &[&str] = &[
    "$ref",
    "type",
    "nullable",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "oneOf",
    "anyOf",
    "allOf",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
];
/// Keywords it knows and deliberately does not enforce (annotations, and `pattern`,
/// which would need a regex engine; ids are checked by hand below instead).
const NOT_CHECKED: &[&str] = &[
    "description",
    "example",
    "format",
    "default",
    "pattern",
    "exclusiveMinimum",
    "title",
    "readOnly",
    "writeOnly",
    "deprecated",
];

impl Doc {
    fn load() -> Doc {
        Doc(serde_json::from_str(DOCUMENT).expect("openapi.json is not valid JSON"))
    }

    /// Follows a local reference (`#/components/...`).
    fn pointer(&self, reference: &str) -> Option<&Value> {
        self.0.pointer(reference.strip_prefix('#')?)
    }

    /// `v`, or what its `$ref` chain ends at.
    fn deref<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        for _ in 0..32 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return v;
            };
            v = self.pointer(r).unwrap_or_else(|| panic!("$ref {r} does not resolve"));
        }
        panic!("$ref chain too long (a cycle?) at {v}")
    }

    fn schema(&self, name: &str) -> &Value {
        self.0["components"]["schemas"].get(name).unwrap_or_else(|| panic!("no schema {name} in components"))
    }

    fn ops(&self) -> Vec<Op<'_>> {
        let mut ops = vec![];
        let paths = self.0["paths"].as_object().expect("paths is an object");
        for (path, item) in paths {
            let shared: Vec<&Value> =
                item["parameters"].as_array().map(|ps| ps.iter().map(|p| self.deref(p)).collect()).unwrap_or_default();
            for method in METHODS {
                let Some(op) = item.get(method.as_str().to_ascii_lowercase()) else {
                    continue;
                };
                let mut params = shared.clone();
                if let Some(own) = op["parameters"].as_array() {
                    params.extend(own.iter().map(|p| self.deref(p)));
                }
                ops.push(Op { method, path, op, params });
            }
        }
        ops
    }

    /// Every way `value` fails `schema`; empty when it fits.
    fn errors(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut errs = vec![];
        self.check(schema, value, "$", &mut errs);
        errs
    }

    fn assert_fits(&self, schema_name: &str, value: &Value) {
        let errs = self.errors(self.schema(schema_name), value);
        assert!(errs.is_empty(), "does not fit {schema_name}:\n  {}\nin {value:#}", errs.join("\n  "));
    }

    fn check(&self, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
        let Some(s) = schema.as_object() else {
            errs.push(format!("{at}: the schema is not an object: {schema}"));
            return;
        };
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            match self.pointer(r) {
                Some(target) => self.check(target, v, at, errs),
                None => errs.push(format!("{at}: $ref {r} does not resolve")),
            }
            return;
        }
        for k in s.keys() {
            let k = k.as_str();
            if !CHECKED.contains(&k) && !NOT_CHECKED.contains(&k) && !k.starts_with("x-") {
                errs.push(format!("{at}: the checker does not know the keyword `{k}`"));
            }
        }
        if v.is_null() && s.get("nullable") == Some(&Value::Bool(true)) {
            return;
        }
        if let Some(t) = s.get("type").and_then(Value::as_str) {
            let fits = match t {
                "object" => v.is_object(),
                "array" => v.is_array(),
                "string" => v.is_string(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "boolean" => v.is_boolean(),
                other => {
                    errs.push(format!("{at}: unknown type `{other}`"));
                    return;
                }
            };
            if !fits {
                errs.push(format!("{at}: expected {t}, got {}", brief(v)));
                return;
            }
        }
        if let Some(allowed) = s.get("enum").and_then(Value::as_array)
            && !allowed.contains(v)
        {
            errs.push(format!("{at}: {} is not one of {allowed:?}", brief(v)));
        }
        let bound = |k: &str| s.get(k).and_then(Value::as_f64);
        if let Some(x) = v.as_f64()
            && (bound("minimum").is_some_and(|m| x < m) || bound("maximum").is_some_and(|m| x > m))
        {
            errs.push(format!("{at}: {x} is out of range"));
        }
        if let Some(text) = v.as_str() {
            let n = text.chars().count() as f64;
            if bound("minLength").is_some_and(|m| n < m) || bound("maxLength").is_some_and(|m| n > m) {
                errs.push(format!("{at}: {text:?} has the wrong length"));
            }
        }
        if let Some(items) = v.as_array() {
            let n = items.len() as f64;
            if bound("minItems").is_some_and(|m| n < m) || bound("maxItems").is_some_and(|m| n > m) {
                errs.push(format!("{at}: wrong number of items ({n})"));
            }
            if let Some(item_schema) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    self.check(item_schema, item, &format!("{at}[{i}]"), errs);
                }
            }
        }
        if let Some(obj) = v.as_object() {
            let props = s.get("properties").and_then(Value::as_object);
            for name in s.get("required").and_then(Value::as_array).into_iter().flatten() {
                let name = name.as_str().unwrap_or_default();
                if !obj.contains_key(name) {
                    errs.push(format!("{at}: missing required property `{name}`"));
                }
            }
            for (k, value) in obj {
                let here = format!("{at}.{k}");
                match props.and_then(|p| p.get(k)) {
                    Some(sub) => self.check(sub, value, &here, errs),
                    None => match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            errs.push(format!("{at}: property `{k}` is not in the schema"));
                        }
                        Some(extra @ Value::Object(_)) => self.check(extra, value, &here, errs),
                        _ => {}
                    },
                }
            }
        }
        if let Some(branches) = s.get("oneOf").and_then(Value::as_array) {
            let results: Vec<Vec<String>> = branches.iter().map(|b| self.errors(b, v)).collect();
            let fitting = results.iter().filter(|e| e.is_empty()).count();
            if fitting != 1 {
                errs.push(format!(
                    "{at}: {} fits {fitting} branches of oneOf, not exactly one ({results:?})",
                    brief(v)
                ));
            }
        }
        if let Some(branches) = s.get("anyOf").and_then(Value::as_array)
            && branches.iter().all(|b| !self.errors(b, v).is_empty())
        {
            errs.push(format!("{at}: {} fits no branch of anyOf", brief(v)));
        }
        for b in s.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            self.check(b, v, at, errs);
        }
    }

    /// Holds an answer against what `op` documents for its status: the status is
    /// listed; the content type is; the JSON body fits the schema; documented headers
    /// are present; and for an error, the response's description names its code.
    fn check_answer(&self, op: &Op<'_>, a: &Answer) -> Result<(), String> {
        let responses = &op.op["responses"];
        let Some(resp) = responses.get(a.status.to_string()).or_else(|| responses.get("default")) else {
            return Err(format!("{op}: status {} is not documented ({a})", a.status));
        };
        let resp = self.deref(resp);
        for name in resp["headers"].as_object().into_iter().flatten().map(|h| h.0) {
            if !a.headers.contains_key(name.as_str()) {
                return Err(format!("{op}: documented header {name} is missing ({a})"));
            }
        }
        let Some(content) = resp.get("content").and_then(Value::as_object) else {
            return if a.body.is_empty() {
                Ok(())
            } else {
                Err(format!("{op}: {} is documented without a body ({a})", a.status))
            };
        };
        let Some(media) = content.get(&a.content_type) else {
            return Err(format!("{op}: content type {:?} is not documented for {} ({a})", a.content_type, a.status));
        };
        if a.content_type != "application/json" {
            return Ok(());
        }
        let body = a.json().ok_or_else(|| format!("{op}: the body is not JSON ({a})"))?;
        let errs = self.errors(&media["schema"], &body);
        if !errs.is_empty() {
            return Err(format!(
                "{op}: the {} body does not fit the documented schema:\n  {}\nbody: {body:#}",
                a.status,
                errs.join("\n  ")
            ));
        }
        if let Some(code) = body["error"]["code"].as_str() {
            let described = resp["description"].as_str().unwrap_or_default();
            if !described.contains(&format!("`{code}`")) {
                return Err(format!(
                    "{op}: the description of {} does not name the code `{code}`: {described:?}",
                    a.status
                ));
            }
        }
        Ok(())
    }
}

/// A value, shortened for messages.
fn brief(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Whether `path` (concrete, no query) matches `template`, one segment per placeholder.
fn matches_template(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| if t.starts_with('{') && t.ends_with('}') { !p.is_empty() } else { t == p })
}

/// Fills `{name}` placeholders. Values are inserted as they are: slashes in metric
/// keys and artifact paths are meant to reach the server unescaped.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    assert!(!out.contains('{'), "no value for a placeholder in {out}");
    out
}

// ---------------------------------------------------------------------------------
// Talking to the server.
// ---------------------------------------------------------------------------------

enum Body {
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

/// A response, read whole.
struct Answer {
    status: u16,
    content_type: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    async fn read(r: reqwest::Response) -> Answer {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or_default()
            .trim()
            .to_owned();
        let body = r.bytes().await.expect("cannot read the body").to_vec();
        Answer { status, content_type, headers, body }
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The router's answer for a path it does not know.
    fn is_fallback(&self) -> bool {
        let v = self.json().unwrap_or_default();
        self.status == 404
            && v["error"]["code"] == "not_found"
            && v["error"]["message"].as_str().is_some_and(|m| m.starts_with("no endpoint"))
    }

    fn code(&self) -> String {
        let v = self.json().unwrap_or_default();
        v["error"]["code"].as_str().unwrap_or_default().to_owned()
    }

    /// The methods named in `Allow`, less HEAD (which axum adds for every GET).
    fn allowed(&self) -> BTreeSet<String> {
        self.headers
            .get_all("allow")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|m| m.trim().to_ascii_uppercase())
            .filter(|m| !m.is_empty() && m != "HEAD")
            .collect()
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = String::from_utf8_lossy(&self.body);
        let shown: String = text.chars().take(400).collect();
        write!(f, "{} {:?}: {shown}", self.status, self.content_type)
    }
}

async fn send(c: &Client, method: Method, url: &str, body: Option<Body>) -> Answer {
    let mut req = c.request(method.clone(), url);
    match body {
        Some(Body::Json(v)) => req = req.json(&v),
        Some(Body::Raw(content_type, bytes)) => {
            req = req.header(CONTENT_TYPE, content_type).body(bytes);
        }
        None => {}
    }
    let r = req.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    Answer::read(r).await
}

fn json_body(v: Value) -> Option<Body> {
    Some(Body::Json(v))
}

fn raw_body(content_type: &'static str, bytes: &[u8]) -> Option<Body> {
    Some(Body::Raw(content_type, bytes.to_vec()))
}

/// The documented operation a request reaches: the template that matches with the
/// most literal segments (as the router prefers `/runs/search` to `/runs/{run}`),
/// else the longest one whose last placeholder takes the rest of the path (metric
/// keys and artifact paths may contain `/`).
fn find_op<'o, 'd>(ops: &'o [Op<'d>], method: &Method, path: &str) -> Option<&'o Op<'d>> {
    let literals = |t: &str| t.split('/').filter(|s| !s.starts_with('{')).count();
    let same_method = || ops.iter().filter(move |o| o.method == *method);
    let takes_the_rest = |o: &&Op<'_>| {
        let n = o.path.split('/').count();
        let (head, tail) = split_at_segment(path, n - 1);
        let (template_head, _) = split_at_segment(o.path, n - 1);
        o.path.ends_with('}') && !tail.is_empty() && matches_template(template_head, head)
    };
    same_method()
        .filter(|o| matches_template(o.path, path))
        .max_by_key(|o| literals(o.path))
        .or_else(|| same_method().filter(takes_the_rest).max_by_key(|o| o.path.len()))
}

/// `path` cut before its `n`th `/`-separated segment (the empty one before the
/// leading `/` counts), without that `/`.
fn split_at_segment(path: &str, n: usize) -> (&str, &str) {
    match path.match_indices('/').nth(n - 1) {
        Some((i, _)) => (&path[..i], &path[i + 1..]),
        None => (path, ""),
    }
}

/// Sends requests to documented operations and holds every answer against the
/// document.
struct Api<'a> {
    doc: &'a Doc,
    client: Client,
    base: String,
}

impl<'a> Api<'a> {
    fn new(srv: &TestServer, doc: &'a Doc) -> Api<'a> {
        Api { doc, client: srv.client(), base: srv.url() }
    }

    /// `request` is a method and a concrete target: `GET /api/v1/runs?limit=1`.
    async fn call(&self, request: &str, body: Option<Body>) -> Answer {
        let (method, target) = request.split_once(' ').expect("METHOD /path");
        let method: Method = method.parse().expect("an HTTP method");
        let path = target.split('?').next().unwrap_or_default();
        let ops = self.doc.ops();
        let Some(op) = find_op(&ops, &method, path) else {
            panic!("{request} is not documented");
        };
        let a = send(&self.client, method, &format!("{}{target}", self.base), body).await;
        if let Err(e) = self.doc.check_answer(op, &a) {
            panic!("{request}: {e}");
        }
        a
    }

    /// Calls and expects `status`; returns the JSON body (null when there is none).
    async fn expect(&self, status: u16, request: &str, body: Option<Body>) -> Value {
        let a = self.call(request, body).await;
        assert_eq!(a.status, status, "{request}: {a}");
        a.json().unwrap_or_default()
    }

    /// Calls and expects an error with `status` and `code`; returns the error object.
    async fn expect_error(&self, status: u16, code: &str, request: &str, body: Option<Body>) -> Value {
        let a = self.call(request, body).await;
        assert_eq!((a.status, a.code().as_str()), (status, code), "{request}: {a}");
        a.json().unwrap_or_default()["error"].clone()
    }
}

/// What the routing checks need to exist: a project, a run in it with one metric,
/// and one artifact.
struct Fixture {
    run_id: String,
    /// The runner's records: an agent, and jobs in the states each operation acts on.
    agent_id: String,
    job_assigned: String,
    job_to_end: String,
    job_to_cancel: String,
    job_cancelled: String,
    /// A token the test revokes (not the admin's own).
    token_id: String,
    /// A second sign-in of the admin, which the logout operation ends.
    throwaway: Option<String>,
}

impl Fixture {
    const PROJECT: &'static str = "p";
    const KEY: &'static str = "loss";
    const ARTIFACT: &'static str = "a.txt";
    const MODEL: &'static str = "m";

    async fn create(srv: &TestServer) -> Fixture {
        let c = srv.client();
        let post = |path: &str, body: Value| c.post(srv.url_for(path)).json(&body).send();
        let r = post("/api/v1/projects", json!({"name": Self::PROJECT})).await.unwrap();
        assert_eq!(r.status(), 201);
        let run: Value =
            post("/api/v1/runs", json!({"project": Self::PROJECT, "hypothesis": "h", "config": {"lr": 0.1}}))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        let run_id = run["id"].as_str().expect("a run id").to_owned();
        let r = post(
            &format!("/api/v1/runs/{run_id}/metrics"),
            json!({"points": [{"key": Self::KEY, "step": 0, "value": 1.0}]}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        let r = c
            .put(srv.url_for(&format!("/api/v1/runs/{run_id}/artifacts/{}", Self::ARTIFACT)))
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        // Finished, so analyses (compare) have a result to read.
        let r = post(&format!("/api/v1/runs/{run_id}/finish"), json!({})).await.unwrap();
        assert_eq!(r.status(), 200);
        let r = post("/api/v1/models", json!({"name": Self::MODEL})).await.unwrap();
        assert_eq!(r.status(), 201);
        let body = json!({"source": format!("runs:/{run_id}/model"), "run_id": run_id});
        let r = post(&format!("/api/v1/models/{}/versions", Self::MODEL), body).await.unwrap();
        assert_eq!(r.status(), 201);
        // The baseline, a re-evaluation run of it, and a study.
        let r = c
            .put(srv.url_for(&format!("/api/v1/projects/{}/baseline", Self::PROJECT)))
            .json(&json!({"reference": run_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body =
            json!({"project": Self::PROJECT, "hypothesis": "again", "tags": {"cairn.reeval_batch": Self::BATCH}});
        let again: Value = post("/api/v1/runs", body).await.unwrap().json().await.unwrap();
        let again = again["id"].as_str().expect("a run id").to_owned();
        post(&format!("/api/v1/runs/{again}/finish"), json!({})).await.unwrap();
        let study = Self::study();
        let r = c
            .put(srv.url_for(&format!("/api/v1/projects/{}/studies/{}", Self::PROJECT, Self::STUDY)))
            .json(&study)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
        let mut token_id = "1".to_owned();
        let mut throwaway = None;
        if srv.token().is_some() {
            // Who the access operations act on: a user, a team, a member, a token.
            let r = post("/api/v1/users", json!({"name": Self::USER, "password": "a-long-password"})).await.unwrap();
            assert_eq!(r.status(), 201);
            let r = post("/api/v1/teams", json!({"name": Self::TEAM})).await.unwrap();
            assert_eq!(r.status(), 201);
            let r = c
                .put(srv.url_for(&format!("/api/v1/projects/{}/members/user/{}", Self::PROJECT, Self::USER)))
                .json(&json!({"role": "viewer"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let t: Value = post("/api/v1/tokens", json!({"name": "to-revoke"})).await.unwrap().json().await.unwrap();
            token_id = t["info"]["id"].to_string();
            throwaway = Some(srv.login(crate::common::ADMIN, crate::common::ADMIN_PASSWORD).await);
        }
        let runner = Self::runner(srv).await;
        Fixture {
            run_id,
            token_id,
            throwaway,
            agent_id: runner[0].clone(),
            job_assigned: runner[1].clone(),
            job_to_end: runner[2].clone(),
            job_to_cancel: runner[3].clone(),
            job_cancelled: runner[4].clone(),
        }
    }

    /// An agent (registered, no process behind it) and four jobs: three placed on it by
    /// the scheduler, one cancelled.
    async fn runner(srv: &TestServer) -> [String; 5] {
        let c = srv.client();
        let post = |path: &str, body: Value| c.post(srv.url_for(path)).json(&body).send();
        let r = post(
            "/api/v1/agents",
            json!({"name": "box", "gpus": [0, 1, 2], "fake_gpus": true, "cpus": 8, "mem_mb": 8000}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 201);
        let agent: Value = r.json().await.unwrap();
        let mut ids = vec![agent["id"].as_str().unwrap().to_owned()];
        for _ in 0..4 {
            let body =
                json!({"run": {"project": "jobs", "hypothesis": "h", "command": ["true"]}, "resources": {"gpus": 1}});
            let r = post("/api/v1/jobs", body).await.unwrap();
            assert_eq!(r.status(), 201);
            let j: Value = r.json().await.unwrap();
            ids.push(j["run_id"].as_str().unwrap().to_owned());
        }
        let r = post("/api/v1/jobs/cancel", json!({"jobs": [ids[4]]})).await.unwrap();
        assert_eq!(r.status(), 200);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        for id in &ids[1..4] {
            loop {
                let j: Value =
                    c.get(srv.url_for(&format!("/api/v1/jobs/{id}"))).send().await.unwrap().json().await.unwrap();
                if j["state"] == "assigned" {
                    break;
                }
                assert!(std::time::Instant::now() < until, "the scheduler did not place the job: {j}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        ids.try_into().unwrap()
    }

    const BATCH: &'static str = "b1";
    const STUDY: &'static str = "s";
    const USER: &'static str = "bob";
    const TEAM: &'static str = "t";

    fn study() -> Value {
        json!({"name": Self::STUDY, "kind": "factorial", "created_at": 1, "base": null, "candidate": null, "changes": [],
               "factors": [{"name": "aug", "levels": ["a", "b"]}], "fraction": null, "seeds": [1], "notes": [],
               "arms": [{"role": "aug=a", "change": null, "command": ["true"], "levels": {"aug": "a"}, "runs": []}]})
    }

    /// A value for each path placeholder the document uses.
    fn path_values(&self) -> [(&str, &str); 11] {
        [
            ("name", Self::PROJECT),
            ("run", self.run_id.as_str()),
            ("key", Self::KEY),
            ("path", Self::ARTIFACT),
            ("model", Self::MODEL),
            ("version", "1"),
            ("study", Self::STUDY),
            ("id", self.token_id.as_str()),
            ("user", Self::USER),
            ("kind", "user"),
            ("principal", Self::USER),
        ]
    }

    /// The operation's path with placeholders filled and every documented query
    /// parameter given a valid value.
    fn url(&self, op: &Op<'_>) -> String {
        // `{name}` names a user or a team on their paths, a project elsewhere.
        let path = if op.path.starts_with("/api/v1/users/") {
            op.path.replace("{name}", Self::USER)
        } else if op.path.starts_with("/api/v1/teams/") {
            op.path.replace("{name}", Self::TEAM)
        } else {
            op.path.to_owned()
        };
        // Each runner operation acts on a job in the state it needs.
        let job = match op.path {
            "/api/v1/jobs/{run}/requeue" => Some(&self.job_cancelled),
            "/api/v1/jobs/{run}/ended" => Some(&self.job_to_end),
            p if p.starts_with("/api/v1/jobs/{run}") => Some(&self.job_assigned),
            _ => None,
        };
        let path = match job {
            Some(j) => path.replace("{run}", j),
            None => path,
        };
        let path = if op.path.starts_with("/api/v1/agents/") { path.replace("{id}", &self.agent_id) } else { path };
        let path = fill(&path, &self.path_values());
        let query: Vec<String> = op
            .query_params()
            .into_iter()
            .map(|name| {
                let value = match name {
                    "project" => Self::PROJECT,
                    "filter" => "name%20!%3D%20'nope'",
                    "order_by" => "created%20desc",
                    "limit" => "10",
                    "cursor" => "o0t4102444800000",
                    "include_deleted" => "true",
                    "min_step" => "0",
                    "max_step" => "10",
                    "max_points" => "10",
                    "prefix" => "a",
                    "metric" => Self::KEY,
                    "days" => "7",
                    "format" => "json",
                    "reference" | "candidates" => self.run_id.as_str(),
                    "single" => "false",
                    "alpha" => "0.05",
                    "count" => "true",
                    "fields" => "config,metrics",
                    "lower_is_better" => "true",
                    "param" => "lr",
                    "user" => crate::common::ADMIN,
                    "since" => "0",
                    "before" => "9223372036854775807",
                    "team" => Self::TEAM,
                    "owner" => crate::common::ADMIN,
                    "all" => "true",
                    "by" => "team",
                    "offset" => "0",
                    other => panic!("{op}: no sample value for the query parameter {other}"),
                };
                format!("{name}={value}")
            })
            .collect();
        if query.is_empty() { path } else { format!("{path}?{}", query.join("&")) }
    }

    /// A valid body for each documented operation that takes one.
    fn body(&self, op: &Op<'_>) -> Option<Body> {
        let json = match (op.method.as_str(), op.path) {
            ("POST", "/api/v1/projects") => json!({"name": "p2", "description": "second"}),
            ("PATCH", "/api/v1/projects/{name}") => json!({"description": "changed"}),
            ("POST", "/api/v1/runs") => json!({"project": Self::PROJECT, "hypothesis": "h2"}),
            ("POST", "/api/v1/runs/search") => json!({"project": Self::PROJECT, "limit": 5}),
            ("PATCH", "/api/v1/runs/{run}") => json!({"tags": {"k": "v"}}),
            ("POST", "/api/v1/runs/{run}/finish") => json!({"status": "finished", "exit_code": 0}),
            ("POST", "/api/v1/runs/{run}/metrics") => {
                json!({"points": [{"key": Self::KEY, "step": 1, "value": 0.5}]})
            }
            ("POST", "/api/v1/metrics/history") => {
                json!({"runs": [self.run_id], "keys": [Self::KEY]})
            }
            ("POST", "/api/v1/runs/groups") => {
                json!({"project": Self::PROJECT, "group_by": "status", "metric": format!("metrics.{}", Self::KEY)})
            }
            ("POST", "/api/v1/models") => json!({"name": "m2", "tags": {"team": "cv"}}),
            ("PATCH", "/api/v1/models/{model}") => json!({"description": "changed", "aliases": {"champion": 1}}),
            ("POST", "/api/v1/models/{model}/versions") => json!({"source": "s3://bucket/model"}),
            ("PATCH", "/api/v1/models/{model}/versions/{version}") => json!({"stage": "Staging", "tags": {"k": "v"}}),
            ("PUT", "/api/v1/projects/{name}/baseline") => json!({"reference": self.run_id, "note": "n"}),
            ("POST", "/api/v1/projects/{name}/baseline/reevals") => json!({"batch": Self::BATCH, "metric": Self::KEY}),
            ("PUT", "/api/v1/projects/{name}/studies/{study}") => Self::study(),
            ("POST", "/api/v1/import/projects") => json!({"name": "imported", "tags": {"k": "v"}}),
            ("POST", "/api/v1/import/runs") => {
                json!({"id": "0190e4b05a8c7d3e9f1a2b3c4d5e6f70", "project": "imported", "params": {"lr": 0.1}})
            }
            ("POST", "/api/v1/import/runs/batch") => json!({"runs": [
                {"id": "0190e4b05a8c7d3e9f1a2b3c4d5e6f71", "project": "imported", "params": {"lr": 0.2},
                 "series": [{"key": "acc", "steps": [0], "values": [0.5]}]},
                {"id": "0190e4b05a8c7d3e9f1a2b3c4d5e6f72", "project": "imported", "tags": {"k": "v"}}
            ]}),
            ("POST", "/api/v1/runs/batch") => json!({"runs": [
                {"project": Self::PROJECT, "hypothesis": "h3", "config": {"lr": 0.1}, "metrics": {"acc": 0.9}},
                {"project": Self::PROJECT, "hypothesis": "h4", "status": "failed", "tags": {"k": "v"}}
            ]}),
            ("POST", "/api/v1/import/models") => {
                json!({"name": "im", "versions": [{"version": 3, "source": "s3://x"}]})
            }
            ("POST", "/api/v1/auth/login") => {
                json!({"username": crate::common::ADMIN, "password": crate::common::ADMIN_PASSWORD, "kind": "session"})
            }
            ("POST", "/api/v1/auth/oidc/exchange") => json!({"code": "not-a-code"}),
            ("POST", "/api/v1/tokens") => json!({"name": "ci", "scope": "read", "expires_in_days": 30}),
            ("POST", "/api/v1/users") => json!({"name": "carol", "role": "viewer", "password": "carol-password"}),
            ("PATCH", "/api/v1/users/{name}") => json!({"display_name": "Bob"}),
            ("POST", "/api/v1/teams") => json!({"name": "t2", "description": "second"}),
            ("PUT", "/api/v1/teams/{name}/members/{user}") => json!({"role": "editor"}),
            ("PUT", "/api/v1/projects/{name}/members/{kind}/{principal}") => json!({"role": "editor"}),
            ("POST", "/api/v1/jobs") => {
                json!({"run": {"project": "jobs", "hypothesis": "h", "command": ["true"]}, "resources": {"gpus": 1},
                       "priority": "high", "preemptible": true, "team": Self::TEAM})
            }
            ("POST", "/api/v1/jobs/cancel") => json!({"jobs": [self.job_to_cancel]}),
            ("POST", "/api/v1/jobs/{run}/started") | ("POST", "/api/v1/jobs/{run}/ended") => {
                json!({"agent": self.agent_id, "exit_code": 0})
            }
            ("POST", "/api/v1/agents") => json!({"name": "box2", "gpus": [0], "cpus": 4, "mem_mb": 4000}),
            ("POST", "/api/v1/agents/{id}/poll") => json!({"running": [], "gpu_utilisation": {}}),
            ("PUT", "/api/v1/runner/settings") => {
                json!({"quotas": [{"scope": "team:t", "max_gpus": 4}], "gpu_hour_prices": {"*": 1.5}, "budgets": {"hpo": 100.0}})
            }
            ("POST", "/api/v1/runs/{run}/logs") => json!({"offset": 0, "text": "hello\n"}),
            ("PUT", "/api/v1/runs/{run}/artifacts/{path}") => {
                return Some(Body::Raw("application/octet-stream", b"hello".to_vec()));
            }
            _ => {
                assert!(
                    op.op.get("requestBody").is_none(),
                    "{op}: documented with a body, but the test has no sample for it"
                );
                return None;
            }
        };
        Some(Body::Json(json))
    }
}

/// Checks that a run's ids look as documented (the checker skips `pattern`).
fn assert_ids(run: &Value) {
    let id = run["id"].as_str().unwrap_or_default();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "id {id:?} is not 32 lower-case hex digits"
    );
    let short = run["short_id"].as_str().unwrap_or_default();
    assert!(
        short.len() == 8 && short.bytes().all(|b| b"23456789abcdefghjkmnpqrstuvwxyz".contains(&b)),
        "short id {short:?} is not 8 characters of the short-id alphabet"
    );
}

async fn served_document(srv: &TestServer) -> Doc {
    let a = send(&srv.client(), Method::GET, &srv.url_for("/api/openapi.json"), None).await;
    assert_eq!(a.status, 200, "{a}");
    assert_eq!(a.content_type, "application/json");
    Doc(a.json().expect("the served document is not JSON"))
}

// ---------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------

/// Every `$ref` in `v`, with where it was found.
fn refs<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push((at.clone(), r)),
                    _ => refs(v, format!("{at}/{k}"), out),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                refs(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The schemas directly inside `s` (not following `$ref`).
fn subschemas(s: &Value) -> Vec<&Value> {
    let mut out: Vec<&Value> = vec![];
    if let Some(props) = s["properties"].as_object() {
        out.extend(props.values());
    }
    if s["items"].is_object() {
        out.push(&s["items"]);
    }
    if s["additionalProperties"].is_object() {
        out.push(&s["additionalProperties"]);
    }
    for k in ["oneOf", "anyOf", "allOf"] {
        out.extend(s[k].as_array().into_iter().flatten());
    }
    out
}

/// Response schemas must be checkable and complete: an object schema with
/// properties refuses others (`additionalProperties: false`) and requires every
/// property it lists (the server always writes every field, null or not) — save the
/// ones in `OPTIONAL`.
fn check_response_schema(doc: &Doc, s: &Value, context: &str, seen: &mut BTreeSet<String>, errs: &mut Vec<String>) {
    const OPTIONAL: &[(&str, &str)] = &[("ErrorDetail", "position"), ("ErrorDetail", "details")];
    if let Some(r) = s["$ref"].as_str() {
        if seen.insert(r.to_owned()) {
            let name = r.rsplit('/').next().unwrap_or(r);
            check_response_schema(doc, doc.deref(s), name, seen, errs);
        }
        return;
    }
    if let Some(props) = s["properties"].as_object() {
        if s["additionalProperties"] != Value::Bool(false) {
            errs.push(format!("{context}: a response object without additionalProperties: false"));
        }
        let required: BTreeSet<&str> =
            s["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        for name in props.keys() {
            if !required.contains(name.as_str()) && !OPTIONAL.contains(&(context, name.as_str())) {
                errs.push(format!("{context}: response property `{name}` is not required"));
            }
        }
    }
    for sub in subschemas(s) {
        check_response_schema(doc, sub, context, seen, errs);
    }
}

#[tokio::test]
async fn the_document_is_served_and_well_formed() {
    let srv = TestServer::start(&[], &[]).await;
    let doc = served_document(&srv).await;
    assert_eq!(doc.0, Doc::load().0, "the server serves another document than crates/cairn-server/openapi.json");

    let version = doc.0["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.0."), "openapi is {version:?}");
    assert!(doc.0["info"]["title"].is_string() && doc.0["info"]["version"].is_string());

    let mut found = vec![];
    refs(&doc.0, "#".into(), &mut found);
    assert!(!found.is_empty());
    for (at, r) in &found {
        assert!(r.starts_with("#/"), "{at}: $ref {r} is not local");
        assert!(doc.pointer(r).is_some(), "{at}: $ref {r} does not resolve");
    }

    let ops = doc.ops();
    assert!(ops.len() > 10, "only {} operations", ops.len());
    let mut ids = BTreeSet::new();
    for op in &ops {
        let id = op.op["operationId"].as_str().unwrap_or_default();
        assert!(ids.insert(id), "{op}: operationId {id:?} missing or repeated");

        let placeholders: BTreeSet<&str> =
            op.path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
        let declared: BTreeSet<&str> = op
            .params
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(p["required"], true, "{op}: path parameters are required");
                p["name"].as_str().unwrap_or_default()
            })
            .collect();
        assert_eq!(placeholders, declared, "{op}: path parameters");
        for p in &op.params {
            assert!(p["schema"].is_object(), "{op}: parameter without a schema");
            if let Some(example) = p.get("example") {
                let errs = doc.errors(&p["schema"], example);
                assert!(errs.is_empty(), "{op}: parameter example: {errs:?}");
            }
        }

        let responses = op.op["responses"].as_object().expect("responses");
        assert!(responses.keys().any(|s| s.starts_with('2')), "{op}: no success response");

        // Examples in bodies fit their schemas.
        let request = op.op.get("requestBody").map(|b| doc.deref(b));
        let bodies = request.into_iter().chain(responses.values().map(|r| doc.deref(r)));
        for body in bodies {
            for (media_type, media) in body["content"].as_object().into_iter().flatten() {
                let mut examples: Vec<&Value> = media.get("example").into_iter().collect();
                for e in media["examples"].as_object().into_iter().flatten() {
                    examples.push(&e.1["value"]);
                }
                for example in examples {
                    let errs = doc.errors(&media["schema"], example);
                    assert!(errs.is_empty(), "{op} {media_type}: example: {errs:?}");
                }
            }
        }
    }

    // Every schema uses only keywords the checker knows, and examples inside
    // schemas fit the schema they sit in.
    let mut roots: Vec<(String, &Value)> = vec![];
    for (name, schema) in doc.0["components"]["schemas"].as_object().expect("schemas") {
        roots.push((name.clone(), schema));
    }
    for op in &ops {
        roots.extend(op.params.iter().map(|p| (format!("{op}"), &p["schema"])));
        let request = op.op.get("requestBody").map(|b| doc.deref(b));
        let answers = op.op["responses"].as_object().into_iter().flatten();
        for body in request.into_iter().chain(answers.map(|r| doc.deref(r.1))) {
            for media in body["content"].as_object().into_iter().flatten() {
                roots.push((format!("{op}"), &media.1["schema"]));
            }
        }
    }
    for (name, schema) in roots {
        let mut todo = vec![schema];
        while let Some(s) = todo.pop() {
            for k in s.as_object().into_iter().flatten().map(|kv| kv.0.as_str()) {
                assert!(
                    CHECKED.contains(&k) || NOT_CHECKED.contains(&k),
                    "{name}: the checker does not know the keyword `{k}`"
                );
            }
            if let Some(example) = s.get("example") {
                let errs = doc.errors(s, example);
                assert!(errs.is_empty(), "{name}: example: {errs:?}");
            }
            todo.extend(subschemas(s));
        }
    }

    // Response schemas can be checked strictly and list what the server writes.
    let mut seen = BTreeSet::new();
    let mut errs = vec![];
    for op in &ops {
        for (status, resp) in op.op["responses"].as_object().into_iter().flatten() {
            for media in doc.deref(resp)["content"].as_object().into_iter().flatten() {
                let context = format!("{op} {status}");
                check_response_schema(&doc, &media.1["schema"], &context, &mut seen, &mut errs);
            }
        }
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_answers_as_documented() {
    // Sign-in on, as an organisation admin: every operation, the access ones included, can succeed.
    let srv = TestServer::start_with_auth(&[]).await;
    let doc = served_document(&srv).await;
    let fx = Fixture::create(&srv).await;
    let c = srv.client();
    let mut ops = doc.ops();
    // Deletions go last, the deepest first (a file before its run, a version before its
    // model), so every other operation sees live records.
    ops.sort_by_key(|op| (op.method == Method::DELETE, std::cmp::Reverse(op.path.matches('/').count())));
    for op in &ops {
        let url = srv.url_for(&fx.url(op));
        let body = fx.body(op);
        if let Some(Body::Json(v)) = &body {
            let schema = &doc.deref(&op.op["requestBody"])["content"]["application/json"]["schema"];
            let errs = doc.errors(schema, v);
            assert!(errs.is_empty(), "{op}: the sample body does not fit: {errs:?}");
        }
        if op.op["responses"]["200"]["content"].get("text/event-stream").is_some() {
            // A stream stays open while the run lives: check how it starts, then hang up.
            let r = c.get(&url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{op}");
            let ct = r.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
            assert!(ct.starts_with("text/event-stream"), "{op}: {ct}");
            let mut r = r;
            let first = r.chunk().await.unwrap().unwrap_or_default();
            let text = String::from_utf8_lossy(&first);
            assert!(text.contains("event: run") || text.starts_with("retry:"), "{op}: {text}");
            continue;
        }
        if (op.method.as_str(), op.path) == ("POST", "/api/v1/auth/oidc/exchange") {
            // Without a sign-in through a provider there is no code to exchange: refused as documented.
            let a = send(&c, op.method.clone(), &url, body).await;
            assert_eq!((a.status, a.code().as_str()), (401, "unauthenticated"), "{op}: {a}");
            doc.check_answer(op, &a).unwrap_or_else(|e| panic!("{e}"));
            continue;
        }
        // Signing out ends the session it is sent with: a second one, not the admin's.
        let client = match (op.path, &fx.throwaway) {
            ("/api/v1/auth/logout", Some(t)) => srv.client_as(t),
            _ => c.clone(),
        };
        let a = send(&client, op.method.clone(), &url, body).await;
        assert!(!a.is_fallback(), "{op}: the router does not know it: {a}");
        assert_ne!(a.status, 405, "{op}: the router has the path but not the method");
        assert!((200..300).contains(&a.status), "{op} ({url}): {a}");
        if let Err(e) = doc.check_answer(op, &a) {
            panic!("{e}");
        }
        if op.path.ends_with("/artifacts/{path}") && op.method == Method::GET {
            assert_eq!(a.body, b"hello");
        }
    }
}

#[tokio::test]
async fn methods_and_paths_the_document_leaves_out_are_not_routed() {
    let srv = TestServer::start(&[], &[]).await;
    let doc = served_document(&srv).await;
    let fx = Fixture::create(&srv).await;
    let c = srv.client();
    let ops = doc.ops();

    // On every documented path, the other methods get 405 and `Allow` names exactly
    // the documented ones.
    let paths: BTreeSet<&str> = ops.iter().map(|o| o.path).collect();
    for path in paths {
        let documented: BTreeSet<String> =
            ops.iter().filter(|o| o.path == path).map(|o| o.method.to_string()).collect();
        let url = srv.url_for(&fill(path, &fx.path_values()));
        for method in METHODS {
            if documented.contains(method.as_str()) {
                continue;
            }
            let a = send(&c, method.clone(), &url, None).await;
            assert_eq!(a.status, 405, "{method} {path} is not documented: {a}");
            assert_eq!(a.allowed(), documented, "{method} {path}: Allow header");
        }
    }

    // Paths the document does not have get the router's 404.
    let run = format!("/api/v1/runs/{}", fx.run_id);
    let unknown = [
        (Method::GET, "/api".to_owned()),
        (Method::GET, "/api/v1".to_owned()),
        (Method::GET, "/api/v1/nope".to_owned()),
        (Method::POST, "/api/v1/nope".to_owned()),
        (Method::GET, "/api/v2/runs".to_owned()),
        (Method::GET, "/api/openapi.yaml".to_owned()),
        (Method::GET, "/healthz/deep".to_owned()),
        (Method::GET, "/api/v1/projects/p/runs".to_owned()),
        (Method::DELETE, "/api/v1/projects/p/runs".to_owned()),
        (Method::GET, format!("{run}/nope")),
        (Method::POST, format!("{run}/finish/now")),
        (Method::GET, format!("{run}/lineage/x")),
        (Method::GET, "/api/v1/metrics".to_owned()),
    ];
    for (method, path) in &unknown {
        let template = ops.iter().find(|o| matches_template(o.path, path));
        assert!(template.is_none(), "{path} is documented as {}", template.map(|o| o.to_string()).unwrap_or_default());
        let a = send(&c, method.clone(), &srv.url_for(path), None).await;
        assert!(a.is_fallback(), "{method} {path}: {a}");
        let message = a.json().unwrap_or_default()["error"]["message"].clone();
        assert!(message.as_str().unwrap_or_default().contains(path.as_str()), "{message}");
    }

    // The brief's two examples, spelled out.
    let a = send(&c, Method::DELETE, &srv.url_for("/api/v1/projects/p"), None).await;
    assert_eq!(a.status, 405, "{a}");
    let a = send(&c, Method::GET, &srv.url_for("/api/v1/nope"), None).await;
    assert!(a.is_fallback(), "{a}");

    // Query parameters the document does not list are refused where the operation
    // has documented ones.
    for op in ops.iter().filter(|o| !o.query_params().is_empty()) {
        let url = srv.url_for(&format!("{}?undocumented=1", fill(op.path, &fx.path_values())));
        let a = send(&c, op.method.clone(), &url, None).await;
        assert_eq!((a.status, a.code().as_str()), (400, "invalid_argument"), "{op}: {a}");
        if let Err(e) = doc.check_answer(op, &a) {
            panic!("{e}");
        }
    }
}

#[tokio::test]
async fn response_bodies_have_exactly_the_documented_properties() {
    let srv = TestServer::start(&[], &[]).await;
    let doc = Doc::load();
    let api = Api::new(&srv, &doc);

    let health = api.expect(200, "GET /healthz", None).await;
    doc.assert_fits("Health", &health);
    assert_eq!(health["status"], "ok");

    let body = json!({"name": "p", "description": "d", "require_hypothesis": false});
    let project = api.expect(201, "POST /api/v1/projects", json_body(body)).await;
    doc.assert_fits("Project", &project);

    // A run with every field set…
    let full = json!({
        "project": "p",
        "name": "full",
        "description": "every field",
        "hypothesis": "h",
        "expected": {"metric": "loss", "direction": "decrease", "size": 0.5},
        "owner": "ana",
        "tags": {"a": "1", "b": "2"},
        "status": "queued",
        "config": {"lr": 0.01, "model": {"depth": 18, "act": "relu"}, "aug": [1, 2]},
        "command": ["python", "train.py"],
        "code": {"versioned": true, "commit": "abc", "dirty": true, "untracked": {"x.py": "h1"}},
        "data": {"datasets": [{"path": "/data", "hash": "d1", "files": 3, "bytes": 10}]},
        "environment": {"os": "linux", "gpus": 2},
        "seeds": [1, 2],
        "group_id": "sweep-1",
        "fingerprint": "f1"
    });
    let parent = api.expect(201, "POST /api/v1/runs", json_body(full)).await;
    doc.assert_fits("Run", &parent);
    assert_ids(&parent);
    for field in ["hypothesis", "expected", "code", "data", "environment", "group_id"] {
        assert!(!parent[field].is_null(), "{field} is null in {parent:#}");
    }
    let pid = parent["id"].as_str().unwrap();

    // …and one with as little as possible, naming the first as its parent.
    let body = json!({"project": "p", "parents": [parent["short_id"]]});
    let child = api.expect(201, "POST /api/v1/runs", json_body(body)).await;
    doc.assert_fits("Run", &child);
    assert_ids(&child);
    for field in ["hypothesis", "expected", "verdict", "code", "data", "environment"] {
        assert!(child[field].is_null(), "{field} is not null in {child:#}");
    }
    assert_eq!(child["parents"], json!([pid]));
    let cid = child["id"].as_str().unwrap();

    let patch = json!({
        "verdict": "confirmed", "verdict_note": "as expected", "status": "running",
        "config": {"lr": 0.02}, "remove_tags": ["a"], "exit_code": null
    });
    let run = api.expect(200, &format!("PATCH /api/v1/runs/{pid}"), json_body(patch)).await;
    doc.assert_fits("Run", &run);
    assert_eq!(run["verdict"]["outcome"], "confirmed");
    let body = json!({"status": "failed", "exit_code": 3});
    let finish = format!("POST /api/v1/runs/{pid}/finish");
    let run = api.expect(200, &finish, json_body(body)).await;
    doc.assert_fits("Run", &run);
    assert_eq!((&run["status"], &run["exit_code"]), (&json!("failed"), &json!(3)));
    let run = api.expect(200, &format!("GET /api/v1/runs/{pid}"), None).await;
    doc.assert_fits("Run", &run);
    assert_eq!(run["children"], json!([cid]));

    // Metrics, non-finite values included; a series of NaN only has no min or max.
    let points = json!({
        "points": [
            {"key": "loss", "step": 0, "value": 1.5},
            {"key": "loss", "step": 1, "value": "NaN", "timestamp": 5},
            {"key": "loss", "step": 2, "value": "inf"}
        ],
        "series": [
            {"key": "val/acc", "steps": [0, 1, 2], "values": [0.5, "-Infinity", 0.7],
             "timestamps": [1, 2, 3]},
            {"key": "diverged", "steps": [0], "values": ["nan"]}
        ]
    });
    let metrics = format!("/api/v1/runs/{cid}/metrics");
    let logged = api.expect(200, &format!("POST {metrics}"), json_body(points)).await;
    assert_eq!(logged, json!({"accepted": 7}));
    let list = api.expect(200, &format!("GET {metrics}"), None).await;
    doc.assert_fits("MetricSummaryList", &list);
    let summaries = list["metrics"].as_array().unwrap();
    let by_key = |k: &str| summaries.iter().find(|s| s["key"] == k).unwrap();
    assert_eq!(by_key("diverged")["last"], "NaN");
    assert_eq!(by_key("diverged")["min"], Value::Null);
    assert_eq!(by_key("loss")["last"], "Infinity");
    assert_eq!(by_key("val/acc")["min"], "-Infinity");
    let run = api.expect(200, &format!("GET /api/v1/runs/{cid}"), None).await;
    doc.assert_fits("Run", &run);
    assert_eq!(run["metrics"].as_array().unwrap().len(), 3);

    let h = api.expect(200, &format!("GET {metrics}/loss"), None).await;
    doc.assert_fits("History", &h);
    assert_eq!(h["values"], json!([1.5, "NaN", "Infinity"]));
    let query = "min_step=0&max_step=2&max_points=2";
    let h = api.expect(200, &format!("GET {metrics}/val/acc?{query}"), None).await;
    doc.assert_fits("History", &h);
    assert_eq!((&h["key"], &h["downsampled"]), (&json!("val/acc"), &json!(true)));
    let keys = ["loss", "val/acc"];
    let body = json!({"runs": [child["short_id"], pid], "keys": keys, "max_points": 100});
    let all = api.expect(200, "POST /api/v1/metrics/history", json_body(body)).await;
    doc.assert_fits("HistoryList", &all);
    assert_eq!(all["series"].as_array().unwrap().len(), 4);

    // Lineage from both ends.
    let up = api.expect(200, &format!("GET /api/v1/runs/{cid}/lineage"), None).await;
    doc.assert_fits("Lineage", &up);
    assert_eq!(up["parents"][0]["id"], pid);
    let down = api.expect(200, &format!("GET /api/v1/runs/{pid}/lineage"), None).await;
    doc.assert_fits("Lineage", &down);
    assert_eq!(down["children"][0]["id"], cid);

    // Search, with a cursor and without.
    let page = api.expect(200, "GET /api/v1/runs?project=p&limit=1", None).await;
    doc.assert_fits("SearchResponse", &page);
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let body = json!({"project": "p", "limit": 1, "cursor": cursor, "include_deleted": false});
    let last = api.expect(200, "POST /api/v1/runs/search", json_body(body)).await;
    doc.assert_fits("SearchResponse", &last);
    assert_eq!(last["next_cursor"], Value::Null);
    assert_eq!(last["runs"].as_array().unwrap().len(), 1);

    // Artifacts.
    let artifact = format!("/api/v1/runs/{pid}/artifacts/out/notes.txt");
    let put = raw_body("text/plain", b"some notes");
    let info = api.expect(201, &format!("PUT {artifact}"), put).await;
    doc.assert_fits("ArtifactInfo", &info);
    assert_eq!((&info["path"], &info["size"]), (&json!("out/notes.txt"), &json!(10)));
    let a = api.call(&format!("GET {artifact}"), None).await;
    assert_eq!((a.status, a.body.as_slice()), (200, b"some notes".as_slice()));
    assert_eq!(a.headers["x-cairn-blake3"].to_str().unwrap(), info["blake3"]);
    let listing = format!("GET /api/v1/runs/{pid}/artifacts?prefix=out/");
    let list = api.expect(200, &listing, None).await;
    doc.assert_fits("ArtifactList", &list);
    assert_eq!(list["artifacts"], json!([info]));

    // Projects.
    let list = api.expect(200, "GET /api/v1/projects", None).await;
    doc.assert_fits("ProjectList", &list);
    assert_eq!(list["projects"][0]["run_count"], 2);
    let body = json!({"description": "changed", "require_hypothesis": null});
    let p = api.expect(200, "PATCH /api/v1/projects/p", json_body(body)).await;
    doc.assert_fits("Project", &p);
    let p = api.expect(200, "GET /api/v1/projects/p", None).await;
    assert_eq!((&p["description"], &p["require_hypothesis"]), (&json!("changed"), &json!(false)));

    // The model registry, linked to the run that produced a version.
    let m = api.expect(201, "POST /api/v1/models", json_body(json!({"name": "det", "description": "d"}))).await;
    doc.assert_fits("RegisteredModel", &m);
    let body = json!({"source": format!("runs:/{pid}/model"), "run_id": pid, "tags": {"k": "v"}});
    let v = api.expect(201, "POST /api/v1/models/det/versions", json_body(body)).await;
    doc.assert_fits("ModelVersion", &v);
    assert_eq!((&v["version"], &v["stage"], &v["run_id"]), (&json!(1), &json!("None"), &json!(pid)));
    let body = json!({"stage": "Production", "archive_others": true});
    let v = api.expect(200, "PATCH /api/v1/models/det/versions/1", json_body(body)).await;
    assert_eq!(v["stage"], "Production");
    let m = api.expect(200, "PATCH /api/v1/models/det", json_body(json!({"aliases": {"champion": 1}}))).await;
    assert_eq!(m["aliases"], json!({"champion": 1}));
    let list = api.expect(200, "GET /api/v1/models/det/versions", None).await;
    doc.assert_fits("ModelVersionList", &list);
    let list = api.expect(200, "GET /api/v1/models", None).await;
    doc.assert_fits("RegisteredModelList", &list);
    let of_run = api.expect(200, &format!("GET /api/v1/runs/{pid}/models"), None).await;
    doc.assert_fits("RunModels", &of_run);
    assert_eq!(of_run["versions"][0]["model"], "det");
    let gone = api.expect(200, &format!("DELETE {artifact}"), None).await;
    doc.assert_fits("ArtifactDeletion", &gone);
    assert_eq!(gone["deleted"][0]["path"], "out/notes.txt");
    api.expect_error(404, "artifact_not_found", &format!("GET {artifact}"), None).await;

    // Deleting answers 204 without a body; the run stays readable.
    let gone = api.expect(204, &format!("DELETE /api/v1/runs/{cid}"), None).await;
    assert_eq!(gone, Value::Null);
    let run = api.expect(200, &format!("GET /api/v1/runs/{cid}"), None).await;
    doc.assert_fits("Run", &run);
    assert!(run["deleted_at"].is_i64());
}

#[tokio::test]
async fn error_answers_are_documented() {
    let srv = TestServer::start(&[], &[]).await;
    let doc = Doc::load();
    let api = Api::new(&srv, &doc);
    let (j, raw) = (json_body, raw_body);
    api.expect(201, "POST /api/v1/projects", j(json!({"name": "p"}))).await;
    let hypothesis = json!({"project": "p", "hypothesis": "h"});
    let run = api.expect(201, "POST /api/v1/runs", j(hypothesis.clone())).await;
    let id = run["id"].as_str().unwrap();
    // A valid new run plus `extra`.
    let with = |extra: Value| {
        let mut body = hypothesis.clone();
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        j(body)
    };
    let many_keys: Vec<String> = (0..1001).map(|i| format!("k{i}")).collect();
    let run_path = format!("/api/v1/runs/{id}");
    let finish = format!("POST {run_path}/finish");
    let history = format!("GET {run_path}/metrics/loss?max_points=1");
    let missing = format!("GET {run_path}/artifacts/missing.bin");
    let bad_path = format!("PUT {run_path}/artifacts/a//b");
    let delete_missing = format!("DELETE {run_path}/artifacts/none.txt");
    let filter = "GET /api/v1/runs?order_by=created%20sideways";
    api.expect(201, "POST /api/v1/models", j(json!({"name": "m"}))).await;

    let cases: Vec<(u16, &str, &str, Option<Body>)> = vec![
        (409, "already_exists", "POST /api/v1/projects", j(json!({"name": "p"}))),
        (400, "invalid_argument", "POST /api/v1/projects", j(json!({"name": "a/b"}))),
        (404, "project_not_found", "GET /api/v1/projects/nope", None),
        (400, "invalid_argument", "PATCH /api/v1/projects/p", j(json!({"x": 1}))),
        (400, "hypothesis_required", "POST /api/v1/runs", j(json!({"project": "p"}))),
        (400, "invalid_json", "POST /api/v1/runs", raw("application/json", b"{no")),
        (415, "unsupported_media_type", "POST /api/v1/runs", raw("text/plain", b"{}")),
        (404, "run_not_found", "POST /api/v1/runs", with(json!({"parents": ["abcdefgh"]}))),
        (400, "invalid_argument", "POST /api/v1/runs", with(json!({"status": "killed"}))),
        (404, "run_not_found", "GET /api/v1/runs/zzzzzzzz", None),
        (400, "invalid_argument", "GET /api/v1/runs/not-a-run", None),
        (400, "invalid_filter", "POST /api/v1/runs/search", j(json!({"filter": "a <"}))),
        (400, "invalid_filter", filter, None),
        (400, "invalid_argument", "GET /api/v1/runs?limit=0", None),
        (400, "invalid_argument", "GET /api/v1/runs?cursor=x", None),
        (400, "invalid_argument", &finish, raw("application/json", b"{no")),
        (400, "invalid_argument", &finish, j(json!({"status": "running"}))),
        (400, "invalid_argument", &history, None),
        (404, "artifact_not_found", &missing, None),
        (400, "invalid_argument", &bad_path, raw("text/plain", b"x")),
        (422, "too_many_series", "POST /api/v1/metrics/history", j(json!({"runs": [id], "keys": many_keys}))),
        (404, "model_not_found", "GET /api/v1/models/nope", None),
        (400, "invalid_argument", "POST /api/v1/models", j(json!({"name": "a/b"}))),
        (404, "model_not_found", "POST /api/v1/models/nope/versions", j(json!({"source": "s3://b/k"}))),
        (404, "model_version_not_found", "GET /api/v1/models/m/versions/7", None),
        (400, "invalid_argument", "GET /api/v1/models/m/versions/x", None),
        (400, "invalid_argument", "PATCH /api/v1/models/m", j(json!({"aliases": {"latest": 1}}))),
        (404, "artifact_not_found", &delete_missing, None),
    ];
    for (status, code, request, body) in cases {
        let e = api.expect_error(status, code, request, body).await;
        // Only filter errors carry a position.
        assert_eq!(e["position"].is_u64(), code == "invalid_filter", "{request}: {e}");
    }

    // An identical finished run is refused, and named, when the client asks for the check.
    let dup = || with(json!({"config": {"lr": 0.1}, "on_duplicate": "refuse"}));
    let first = api.expect(201, "POST /api/v1/runs", dup()).await;
    let first_id = first["id"].as_str().unwrap();
    api.expect(200, &format!("POST /api/v1/runs/{first_id}/finish"), j(json!({"status": "finished"}))).await;
    let e = api.expect_error(409, "duplicate_run", "POST /api/v1/runs", dup()).await;
    assert_eq!(e["details"]["run"]["id"], first_id, "{e}");

    // A deleted run takes no more changes or data.
    api.expect(204, &format!("DELETE {run_path}"), None).await;
    let points = json!({"points": [{"key": "a", "value": 1}]});
    let cases = [
        (format!("POST {run_path}/metrics"), j(points)),
        (format!("PATCH {run_path}"), j(json!({"name": "n"}))),
        (finish, None),
        (format!("PUT {run_path}/artifacts/late.txt"), raw("text/plain", b"late")),
    ];
    for (request, body) in cases {
        api.expect_error(409, "run_deleted", &request, body).await;
    }
}

/// The checker itself: it must fail what it should, or the tests above prove nothing.
#[test]
fn the_checker_catches_mismatches() {
    let doc = Doc::load();
    let info = json!({"path": "a", "size": 1, "blake3": "00", "created_at": 1});
    assert!(doc.errors(doc.schema("ArtifactInfo"), &info).is_empty());

    let mut extra = info.clone();
    extra["mtime"] = json!(3);
    let errs = doc.errors(doc.schema("ArtifactInfo"), &extra);
    assert!(errs.iter().any(|e| e.contains("`mtime` is not in the schema")), "{errs:?}");

    let mut missing = info.clone();
    missing.as_object_mut().unwrap().remove("size");
    let errs = doc.errors(doc.schema("ArtifactInfo"), &missing);
    assert!(errs.iter().any(|e| e.contains("missing required property `size`")), "{errs:?}");

    for (value, fits) in [
        (json!(1.5), true),
        (json!("NaN"), true),
        (json!("-Infinity"), true),
        (json!("nan"), false),
        (json!(null), false),
        (json!([1]), false),
    ] {
        let errs = doc.errors(doc.schema("Float"), &value);
        assert_eq!(errs.is_empty(), fits, "Float {value}: {errs:?}");
    }
    assert!(doc.errors(doc.schema("FloatOrNull"), &Value::Null).is_empty());
    assert!(!doc.errors(doc.schema("Null"), &json!({})).is_empty());

    let summary = json!({"key": "k", "count": 1, "last": 2.0, "last_step": 0, "last_timestamp": 0,
                         "min": null, "min_step": null, "max": null, "max_step": null});
    assert!(doc.errors(doc.schema("MetricSummary"), &summary).is_empty());
    for (field, bad) in [("last", json!(null)), ("count", json!(1.5)), ("min_step", json!("0"))] {
        let mut s = summary.clone();
        s[field] = bad;
        assert!(!doc.errors(doc.schema("MetricSummary"), &s).is_empty(), "{field}");
    }
    let errs = doc.errors(doc.schema("SearchResponse"), &json!({"runs": [{}], "next_cursor": null}));
    assert!(errs.iter().any(|e| e.starts_with("$.runs[0]: missing")), "{errs:?}");
    let errs = doc.errors(&json!({"type": "string", "const": "x"}), &json!("x"));
    assert!(errs.iter().any(|e| e.contains("`const`")), "unknown keywords are reported");

    assert!(matches_template("/api/v1/runs/{run}", "/api/v1/runs/abc"));
    assert!(!matches_template("/api/v1/runs/{run}", "/api/v1/runs/abc/x"));
    assert!(!matches_template("/api/v1/runs/{run}", "/api/v1/runs/"));
}

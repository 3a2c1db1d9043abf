//! Who may do what, on a server that requires sign-in: every surface (Cairn's REST
//! API, gRPC, MLflow's API, artifacts, live events) × every kind of caller
//! (anonymous, viewer, editor, organisation admin, a non-member of the private
//! project) × both kinds of project (visible to the organisation, private). The
//! expected answer of each combination is stated once, in [`EXPECTED`]; each
//! operation says what it needs, in [`operations`]. Then the places a private project
//! could leak through are read as the non-member: lists, searches, lineage, counts.
//! On SQLite and on PostgreSQL.

use crate::common::{ADMIN, TestServer, cairn, post_json};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

/// What an operation needs on its project.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Need {
    Read,
    Write,
    Admin,
}

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Anonymous,
    /// Organisation role viewer; a viewer member of the private project.
    Viewer,
    /// Organisation role editor; an editor member of the private project.
    Editor,
    /// Organisation admin.
    Admin,
    /// Organisation role editor, not a member of the private project.
    Outsider,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Allowed,
    /// 401: sign in first.
    Unauthenticated,
    /// 403: known, but the role does not allow it.
    Denied,
    /// 404: answered as if the project (and what is in it) did not exist.
    Hidden,
}

use Outcome::*;

/// The one table of expectations: (who, private project?) → outcome for read, write, admin.
const EXPECTED: &[(Who, bool, [Outcome; 3])] = &[
    (Who::Anonymous, false, [Unauthenticated, Unauthenticated, Unauthenticated]),
    (Who::Anonymous, true, [Unauthenticated, Unauthenticated, Unauthenticated]),
    (Who::Viewer, false, [Allowed, Denied, Denied]),
    (Who::Viewer, true, [Allowed, Denied, Denied]),
    (Who::Editor, false, [Allowed, Allowed, Denied]),
    (Who::Editor, true, [Allowed, Allowed, Denied]),
    (Who::Admin, false, [Allowed, Allowed, Allowed]),
    (Who::Admin, true, [Allowed, Allowed, Allowed]),
    (Who::Outsider, false, [Allowed, Allowed, Denied]),
    (Who::Outsider, true, [Hidden, Hidden, Hidden]),
];

fn expected(who: Who, private: bool, need: Need) -> Outcome {
    let row = EXPECTED.iter().find(|(w, p, _)| *w == who && *p == private).expect("every case is in the table");
    row.2[need as usize]
}

/// A project the matrix runs against, and what is in it.
struct Target {
    name: String,
    id: i64,
    run: String,
    short: String,
    private: bool,
}

/// How a request is sent and how its answer reads.
#[derive(Clone, Copy, PartialEq)]
enum Surface {
    Rest,
    Mlflow,
    Events,
}

struct Op {
    name: &'static str,
    need: Need,
    surface: Surface,
    method: Method,
    path: String,
    body: Option<Value>,
}

fn op(name: &'static str, need: Need, method: Method, path: String, body: Option<Value>) -> Op {
    let surface = if path.starts_with("/api/2.0/") { Surface::Mlflow } else { Surface::Rest };
    Op { name, need, surface, method, path, body }
}

/// Every operation, with what it needs, against one project.
fn operations(t: &Target, n: usize) -> Vec<Op> {
    let (p, r, e) = (&t.name, &t.run, t.id);
    use Method as M;
    use Need::*;
    let mut ops = vec![
        op("get project", Read, M::GET, format!("/api/v1/projects/{p}"), None),
        op("search in project", Read, M::GET, format!("/api/v1/runs?project={p}"), None),
        op("get run", Read, M::GET, format!("/api/v1/runs/{r}"), None),
        op("get run by short id", Read, M::GET, format!("/api/v1/runs/{}", t.short), None),
        op("metric summaries", Read, M::GET, format!("/api/v1/runs/{r}/metrics"), None),
        op("history", Read, M::GET, format!("/api/v1/runs/{r}/metrics/acc"), None),
        op("histories", Read, M::POST, "/api/v1/metrics/history".into(), Some(json!({"runs": [r], "keys": ["acc"]}))),
        op("list artifacts", Read, M::GET, format!("/api/v1/runs/{r}/artifacts"), None),
        op("download artifact", Read, M::GET, format!("/api/v1/runs/{r}/artifacts/model.bin"), None),
        op("lineage", Read, M::GET, format!("/api/v1/runs/{r}/lineage"), None),
        op("run models", Read, M::GET, format!("/api/v1/runs/{r}/models"), None),
        op("summary", Read, M::GET, format!("/api/v1/projects/{p}/summary"), None),
        op("keys", Read, M::GET, format!("/api/v1/projects/{p}/keys"), None),
        op("refusals", Read, M::GET, format!("/api/v1/projects/{p}/refusals"), None),
        op("review", Read, M::GET, format!("/api/v1/projects/{p}/review"), None),
        op("tried", Read, M::GET, format!("/api/v1/projects/{p}/tried?param=lr"), None),
        op("insights", Read, M::GET, format!("/api/v1/projects/{p}/insights?metric=acc"), None),
        op(
            "compare",
            Read,
            M::GET,
            format!("/api/v1/projects/{p}/compare?metric=acc&candidates={r}&reference={r}"),
            None,
        ),
        op("studies", Read, M::GET, format!("/api/v1/projects/{p}/studies?metric=acc"), None),
        op("baseline", Read, M::GET, format!("/api/v1/projects/{p}/baseline"), None),
        op("members", Read, M::GET, format!("/api/v1/projects/{p}/members"), None),
        op(
            "groups",
            Read,
            M::POST,
            "/api/v1/runs/groups".into(),
            Some(json!({"project": p, "group_by": "status", "metric": "metrics.acc"})),
        ),
        op("mlflow get experiment", Read, M::GET, format!("/api/2.0/mlflow/experiments/get?experiment_id={e}"), None),
        op(
            "mlflow get by name",
            Read,
            M::GET,
            format!("/api/2.0/mlflow/experiments/get-by-name?experiment_name={p}"),
            None,
        ),
        op("mlflow get run", Read, M::GET, format!("/api/2.0/mlflow/runs/get?run_id={r}"), None),
        op(
            "mlflow history",
            Read,
            M::GET,
            format!("/api/2.0/mlflow/metrics/get-history?run_id={r}&metric_key=acc"),
            None,
        ),
        op("mlflow list artifacts", Read, M::GET, format!("/api/2.0/mlflow/artifacts/list?run_id={r}"), None),
        op(
            "mlflow download artifact",
            Read,
            M::GET,
            format!("/api/2.0/mlflow-artifacts/artifacts/{e}/{r}/artifacts/model.bin"),
            None,
        ),
        op(
            "mlflow search runs",
            Read,
            M::POST,
            "/api/2.0/mlflow/runs/search".into(),
            Some(json!({"experiment_ids": [e.to_string()]})),
        ),
        // Writes: a fresh name or key per caller, so each write is new.
        op(
            "create run",
            Write,
            M::POST,
            "/api/v1/runs".into(),
            Some(json!({"project": p, "hypothesis": "h", "name": format!("w{n}")})),
        ),
        op("update run", Write, M::PATCH, format!("/api/v1/runs/{r}"), Some(json!({"tags": {format!("t{n}"): "v"}}))),
        op(
            "log metrics",
            Write,
            M::POST,
            format!("/api/v1/runs/{r}/metrics"),
            Some(json!({"points": [{"key": format!("m{n}"), "step": 0, "value": 1.0}]})),
        ),
        op("delete artifact", Write, M::DELETE, format!("/api/v1/runs/{r}/artifacts/scratch{n}.txt"), None),
        op(
            "import run",
            Write,
            M::POST,
            "/api/v1/import/runs".into(),
            Some(
                json!({"id": format!("{:032x}", 0xabc000 + n as u128 + if t.private { 1000 } else { 0 }), "project": p}),
            ),
        ),
        op(
            "mlflow create run",
            Write,
            M::POST,
            "/api/2.0/mlflow/runs/create".into(),
            Some(json!({"experiment_id": e.to_string()})),
        ),
        op(
            "mlflow set tag",
            Write,
            M::POST,
            "/api/2.0/mlflow/runs/set-tag".into(),
            Some(json!({"run_id": r, "key": format!("k{n}"), "value": "v"})),
        ),
        op(
            "mlflow log metric",
            Write,
            M::POST,
            "/api/2.0/mlflow/runs/log-metric".into(),
            Some(json!({"run_id": r, "key": "mm", "value": 1.0, "timestamp": 1, "step": n})),
        ),
        op(
            "mlflow experiment tag",
            Write,
            M::POST,
            "/api/2.0/mlflow/experiments/set-experiment-tag".into(),
            Some(json!({"experiment_id": e.to_string(), "key": format!("x{n}"), "value": "v"})),
        ),
        // Settings and membership.
        op(
            "primary metric",
            Admin,
            M::PATCH,
            format!("/api/v1/projects/{p}"),
            Some(json!({"primary_metric": {"key": "acc", "direction": "increase"}})),
        ),
        op("set baseline", Admin, M::PUT, format!("/api/v1/projects/{p}/baseline"), Some(json!({"reference": r}))),
        op(
            "grant",
            Admin,
            M::PUT,
            format!("/api/v1/projects/{p}/members/team/readers"),
            Some(json!({"role": "viewer"})),
        ),
    ];
    ops.push(Op {
        name: "live events",
        need: Read,
        surface: Surface::Events,
        method: Method::GET,
        path: format!("/api/v1/runs/{r}/events"),
        body: None,
    });
    ops
}

/// The outcome an answer stands for, checking the shape each surface speaks.
fn outcome(surface: Surface, status: StatusCode, body: &Value, context: &str) -> Outcome {
    match status.as_u16() {
        200..=299 => Allowed,
        401 => {
            let code = if surface == Surface::Mlflow { &body["error_code"] } else { &body["error"]["code"] };
            let want = if surface == Surface::Mlflow { "UNAUTHENTICATED" } else { "unauthenticated" };
            assert_eq!(code, want, "{context}: {body}");
            Unauthenticated
        }
        403 => {
            let code = if surface == Surface::Mlflow { &body["error_code"] } else { &body["error"]["code"] };
            let want = if surface == Surface::Mlflow { "PERMISSION_DENIED" } else { "permission_denied" };
            assert_eq!(code, want, "{context}: {body}");
            Denied
        }
        404 => {
            if surface == Surface::Mlflow {
                assert_eq!(body["error_code"], "RESOURCE_DOES_NOT_EXIST", "{context}: {body}");
            } else {
                let code = body["error"]["code"].as_str().unwrap_or_default();
                assert!(code.ends_with("not_found"), "{context}: {body}");
            }
            Hidden
        }
        other => panic!("{context}: unexpected {other}: {body}"),
    }
}

struct World {
    srv: TestServer,
    clients: Vec<(Who, Client)>,
    open: Target,
    secret: Target,
}

async fn answer(c: &Client, url: String, method: Method, body: Option<&Value>) -> (StatusCode, Value) {
    let mut req = c.request(method, url);
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A project with a finished run (a param, a metric, an artifact), made by the admin.
async fn target(srv: &TestServer, admin: &Client, name: &str, private: bool) -> Target {
    let base = srv.url();
    let visibility = if private { "private" } else { "org" };
    let (s, p) = answer(
        admin,
        format!("{base}/api/v1/projects"),
        Method::POST,
        Some(&json!({"name": name, "visibility": visibility})),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    let body = json!({"project": name, "hypothesis": "h", "config": {"lr": 0.1}});
    let (s, run) = answer(admin, format!("{base}/api/v1/runs"), Method::POST, Some(&body)).await;
    assert_eq!(s, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_owned();
    let points = json!({"points": [{"key": "acc", "step": 0, "value": 0.5}]});
    assert_eq!(answer(admin, format!("{base}/api/v1/runs/{id}/metrics"), Method::POST, Some(&points)).await.0, 200);
    for file in std::iter::once("model.bin".to_owned()).chain((0..=10).map(|n| format!("scratch{n}.txt"))) {
        let r = admin.put(format!("{base}/api/v1/runs/{id}/artifacts/{file}")).body("bytes").send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    assert_eq!(answer(admin, format!("{base}/api/v1/runs/{id}/finish"), Method::POST, Some(&json!({}))).await.0, 200);
    Target {
        name: name.into(),
        id: p["id"].as_i64().unwrap(),
        run: id,
        short: run["short_id"].as_str().unwrap().into(),
        private,
    }
}

async fn world(extra: &[&str]) -> World {
    let srv = TestServer::start_with_auth(extra).await;
    let admin = srv.client();
    let base = srv.url();
    for (user, role) in [("vera", "viewer"), ("ed", "editor"), ("otto", "editor")] {
        let body = json!({"name": user, "role": role, "password": format!("{user}-password")});
        let (s, v) = answer(&admin, format!("{base}/api/v1/users"), Method::POST, Some(&body)).await;
        assert_eq!(s, 201, "{v}");
    }
    let (s, v) = answer(&admin, format!("{base}/api/v1/teams"), Method::POST, Some(&json!({"name": "readers"}))).await;
    assert_eq!(s, 201, "{v}");
    let open = target(&srv, &admin, "open", false).await;
    let secret = target(&srv, &admin, "secret", true).await;
    for (user, role) in [("vera", "viewer"), ("ed", "editor")] {
        let url = format!("{base}/api/v1/projects/secret/members/user/{user}");
        let (s, v) = answer(&admin, url, Method::PUT, Some(&json!({"role": role}))).await;
        assert_eq!(s, 200, "{v}");
    }
    let mut clients = vec![(Who::Anonymous, Client::new()), (Who::Admin, admin)];
    for (who, user) in [(Who::Viewer, "vera"), (Who::Editor, "ed"), (Who::Outsider, "otto")] {
        let token = srv.login(user, &format!("{user}-password")).await;
        clients.push((who, srv.client_as(&token)));
    }
    World { srv, clients, open, secret }
}

async fn matrix(w: &World) {
    let base = w.srv.url();
    let mut n = 0;
    let mut failures = vec![];
    for t in [&w.open, &w.secret] {
        for (who, c) in &w.clients {
            n += 1;
            for o in operations(t, n) {
                let context = format!(
                    "{who:?} on {} ({}): {} {} {}",
                    t.name,
                    o.name,
                    o.method,
                    o.path,
                    o.body.as_ref().map(|b| b.to_string()).unwrap_or_default()
                );
                let want = expected(*who, t.private, o.need);
                let got = if o.surface == Surface::Events {
                    let r = c.get(format!("{base}{}", o.path)).send().await.unwrap();
                    let status = r.status();
                    let body = if status.is_success() { Value::Null } else { r.json().await.unwrap_or(Value::Null) };
                    outcome(Surface::Rest, status, &body, &context)
                } else {
                    let (status, body) =
                        answer(c, format!("{base}{}", o.path), o.method.clone(), o.body.as_ref()).await;
                    // A search names a project as a filter: one the caller cannot see
                    // matches nothing, exactly as one that does not exist.
                    if o.name == "search in project" && want == Hidden && status == 200 {
                        assert_eq!(body["runs"], json!([]), "{context}: {body}");
                        Hidden
                    } else {
                        outcome(o.surface, status, &body, &context)
                    }
                };
                if got != want {
                    failures.push(format!("{context}: expected {want:?}, got {got:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of the matrix differ:\n{}", failures.len(), failures.join("\n"));
}

/// What the non-member reads must not show the private project, anywhere.
async fn no_leaks(w: &World) {
    let base = w.srv.url();
    let otto = &w.clients.iter().find(|(who, _)| *who == Who::Outsider).unwrap().1;
    let get = |path: String| {
        let otto = otto.clone();
        async move { answer(&otto, path, Method::GET, None).await }
    };
    let has_secret = |v: &Value| v.to_string().contains("secret") || v.to_string().contains(&w.secret.run);
    let (_, projects) = get(format!("{base}/api/v1/projects")).await;
    assert!(!has_secret(&projects), "project list: {projects}");
    let (_, runs) = get(format!("{base}/api/v1/runs?limit=1000")).await;
    assert_eq!(
        runs["runs"].as_array().unwrap().iter().filter(|r| r["project"] == "secret").count(),
        0,
        "search: {runs}"
    );
    let (_, counted) = get(format!("{base}/api/v1/runs?count=true&fields=tags")).await;
    let admin = &w.clients.iter().find(|(who, _)| *who == Who::Admin).unwrap().1;
    let (_, all) = answer(admin, format!("{base}/api/v1/runs?count=true&fields=tags"), Method::GET, None).await;
    assert!(counted["total"].as_u64() < all["total"].as_u64(), "counts leave the private runs out: {counted} vs {all}");
    let (_, filtered) = get(format!("{base}/api/v1/runs?filter=project%20%3D%20%22secret%22")).await;
    assert!(filtered["runs"].as_array().unwrap().is_empty(), "a filter on its name finds nothing: {filtered}");
    // Not found, in exactly the words used for a project that does not exist.
    let (_, hidden) = get(format!("{base}/api/v1/projects/secret")).await;
    let (_, missing) = get(format!("{base}/api/v1/projects/no-such-project")).await;
    assert_eq!(
        hidden["error"]["message"].as_str().unwrap().replace("secret", "X"),
        missing["error"]["message"].as_str().unwrap().replace("no-such-project", "X")
    );
    let (_, hidden_run) = get(format!("{base}/api/v1/runs/{}", w.secret.short)).await;
    assert_eq!(hidden_run["error"]["code"], "run_not_found");
    assert!(hidden_run["error"]["message"].as_str().unwrap().starts_with("no run"), "{hidden_run}");
    // MLflow: experiment search, and run search naming no experiment.
    let (_, exps) = answer(
        otto,
        format!("{base}/api/2.0/mlflow/experiments/search"),
        Method::POST,
        Some(&json!({"max_results": 100})),
    )
    .await;
    assert!(!has_secret(&exps), "mlflow experiments: {exps}");
    let (_, mruns) = answer(
        otto,
        format!("{base}/api/2.0/mlflow/runs/search"),
        Method::POST,
        Some(&json!({"filter": "attributes.status = 'FINISHED'"})),
    )
    .await;
    assert!(!has_secret(&mruns), "mlflow runs: {mruns}");
    // Lineage: a public run made from a private one does not name its parent.
    let body = json!({"project": "open", "hypothesis": "child", "parents": [w.secret.run]});
    let (s, child) = answer(admin, format!("{base}/api/v1/runs"), Method::POST, Some(&body)).await;
    assert_eq!(s, 201, "{child}");
    let (_, lineage) = get(format!("{base}/api/v1/runs/{}/lineage", child["id"].as_str().unwrap())).await;
    assert!(lineage["parents"].as_array().unwrap().is_empty(), "lineage: {lineage}");
    let (_, record) = get(format!("{base}/api/v1/runs/{}", child["id"].as_str().unwrap())).await;
    assert_eq!(record["project"], "open");
    // Analyses of the public project stay its own; the private run cannot be named.
    let (_, tried) = get(format!("{base}/api/v1/projects/open/tried?param=lr")).await;
    assert!(!has_secret(&tried), "tried: {tried}");
    let (_, review) = get(format!("{base}/api/v1/projects/open/review")).await;
    assert!(!has_secret(&review), "review: {review}");
    let (_, summary) = get(format!("{base}/api/v1/projects/open/summary")).await;
    assert!(!has_secret(&summary), "summary: {summary}");
    let url =
        format!("{base}/api/v1/projects/open/compare?metric=acc&reference={}&candidates={}", w.open.run, w.secret.run);
    let (s, cmp) = get(url).await;
    assert_eq!((s.as_u16(), cmp["error"]["code"].as_str()), (404, Some("run_not_found")), "compare: {cmp}");
    let body = json!({"runs": [w.secret.run], "keys": ["acc"]});
    let (s, _) = answer(otto, format!("{base}/api/v1/metrics/history"), Method::POST, Some(&body)).await;
    assert_eq!(s, 404, "histories of a hidden run");
}

async fn grpc_calls(w: &World) {
    use cairn_proto::v1::cairn_client::CairnClient;
    use cairn_proto::v1::{CreateRunRequest, GetRunRequest};
    let channel = tonic::transport::Endpoint::from_shared(w.srv.url()).unwrap().connect().await.unwrap();
    let token =
        |t: &str| -> tonic::metadata::MetadataValue<tonic::metadata::Ascii> { format!("Bearer {t}").parse().unwrap() };
    let vera = w.srv.login("vera", "vera-password").await;
    let otto = w.srv.login("otto", "otto-password").await;
    let mut client = CairnClient::new(channel);
    // Anonymous.
    let err = client.get_run(GetRunRequest { run: w.open.run.clone() }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err}");
    // A viewer reads, and may not write.
    let mut req = tonic::Request::new(GetRunRequest { run: w.secret.run.clone() });
    req.metadata_mut().insert("authorization", token(&vera));
    assert_eq!(client.get_run(req).await.unwrap().into_inner().project, "secret");
    let mut req =
        tonic::Request::new(CreateRunRequest { project: "open".into(), hypothesis: "h".into(), ..Default::default() });
    req.metadata_mut().insert("authorization", token(&vera));
    assert_eq!(client.create_run(req).await.unwrap_err().code(), tonic::Code::PermissionDenied);
    // The non-member does not see the private run.
    let mut req = tonic::Request::new(GetRunRequest { run: w.secret.run.clone() });
    req.metadata_mut().insert("authorization", token(&otto));
    assert_eq!(client.get_run(req).await.unwrap_err().code(), tonic::Code::NotFound);
    let mut req =
        tonic::Request::new(CreateRunRequest { project: "open".into(), hypothesis: "h".into(), ..Default::default() });
    req.metadata_mut().insert("authorization", token(&otto));
    let made = client.create_run(req).await.unwrap().into_inner();
    assert_eq!(made.project, "open");
    let run = w.srv.client().get(w.srv.url_for(&format!("/api/v1/runs/{}", made.id))).send().await.unwrap();
    let run: Value = run.json().await.unwrap();
    assert_eq!(run["owner"], "otto", "the owner is the signed-in user");
}

async fn the_whole_matrix(extra: &[&str]) {
    let w = world(extra).await;
    matrix(&w).await;
    no_leaks(&w).await;
    grpc_calls(&w).await;
    // Every write and permission change is in the audit log, refused ones too.
    let admin = w.srv.client();
    let (_, log) = answer(&admin, w.srv.url_for("/api/v1/audit?limit=1000"), Method::GET, None).await;
    let entries = log["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["actor"] == "vera" && e["status"] == 403), "refusals are audited");
    assert!(
        entries.iter().any(|e| e["actor"] == ADMIN && e["details"]["change"] == "grant"),
        "grants carry what changed"
    );
    assert!(
        entries.iter().all(|e| e["address"].as_str().is_some_and(|a| a.contains("127.0.0.1"))),
        "every entry has the address"
    );
}

#[tokio::test]
async fn role_matrix_on_sqlite() {
    the_whole_matrix(&[]).await;
}

#[tokio::test]
async fn role_matrix_on_postgres() {
    let url = crate::postgres::scratch_db().await;
    the_whole_matrix(&["--store", &url]).await;
}

#[tokio::test]
async fn bad_credentials_are_refused_with_the_reason() {
    let srv = TestServer::start_with_auth(&[]).await;
    let c = Client::new();
    let get = |auth: &str| {
        let c = c.clone();
        let url = srv.url_for("/api/v1/projects");
        let auth = auth.to_owned();
        async move {
            let r = c.get(url).header("authorization", auth).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, v) = get("Bearer not-a-token").await;
    assert_eq!(s, 401);
    assert!(v["error"]["message"].as_str().unwrap().contains("malformed"), "{v}");
    let (s, v) = get(&format!("Bearer cairn_{}", "0".repeat(48))).await;
    assert_eq!(s, 401);
    assert!(v["error"]["message"].as_str().unwrap().contains("not known"), "{v}");
    // A token that expires, and one that is revoked.
    let admin = srv.client();
    let t: Value = post_json(&admin, srv.url_for("/api/v1/tokens"), &json!({"name": "short", "scope": "read"})).await;
    let secret = t["token"].as_str().unwrap().to_owned();
    assert_eq!(get(&format!("Bearer {secret}")).await.0, 200);
    let r = admin.delete(srv.url_for(&format!("/api/v1/tokens/{}", t["info"]["id"]))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (s, v) = get(&format!("Bearer {secret}")).await;
    assert_eq!(s, 401);
    assert!(v["error"]["message"].as_str().unwrap().contains("revoked"), "{v}");
    // A read token may not write, whatever its user may do.
    let t: Value = post_json(&admin, srv.url_for("/api/v1/tokens"), &json!({"name": "reader", "scope": "read"})).await;
    let reader = srv.client_as(t["token"].as_str().unwrap());
    let r = reader
        .post(srv.url_for("/api/v1/runs"))
        .json(&json!({"project": "p", "hypothesis": "h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("scope read"), "{v}");
    // Basic auth: the password, or a token in its place (what MLflow clients send).
    let r = c
        .get(srv.url_for("/api/v1/projects"))
        .basic_auth(ADMIN, Some(crate::common::ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(srv.url_for("/api/v1/projects")).basic_auth(ADMIN, Some("wrong")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Guessing passwords is slowed down per account: after five failures, 429.
    let mut last = 0;
    for _ in 0..7 {
        let r = c
            .post(srv.url_for("/api/v1/auth/login"))
            .json(&json!({"username": ADMIN, "password": "guess"}))
            .send()
            .await
            .unwrap();
        last = r.status().as_u16();
    }
    assert_eq!(last, 429, "rate-limited");
    let r = c
        .post(srv.url_for("/api/v1/auth/login"))
        .json(&json!({"username": ADMIN, "password": crate::common::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "even the right password waits out the lock");
    assert!(r.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn a_non_loopback_server_without_sign_in_refuses_to_start() {
    let home = tempfile::tempdir().unwrap();
    let out = cairn(home.path(), &["server", "--host", "0.0.0.0", "--port", "0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without sign-in") && err.contains("--auth") && err.contains("--insecure-no-auth"), "{err}");
}

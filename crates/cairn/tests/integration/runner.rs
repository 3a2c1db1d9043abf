//! The runner end to end: real `cairn server`s, real `cairn agent`s with pretend GPU
//! inventories (`--gpus fake:N`), jobs that are real processes. What is asserted is
//! what a team relies on: placement and pinning, quotas and fair share over time,
//! preemption and resumption, spot notices, budgets, lost agents and restarts.

use crate::common::{TestServer, cairn, command, get_json, post_json};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A `cairn agent` process, killed when dropped.
struct AgentProc {
    child: Child,
    log: std::path::PathBuf,
}

impl AgentProc {
    fn start(srv: &TestServer, name: &str, extra: &[&str]) -> AgentProc {
        let log = srv.home().join(format!("agent-{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = command(srv.home())
            .args(["agent", "--server", &srv.url(), "--name", name, "--poll-ms", "100", "--cpus", "16", "--mem", "64G"])
            .args(["--work-dir", &srv.home().join(format!("work-{name}")).display().to_string()])
            .args(extra)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("cannot start cairn agent");
        AgentProc { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig);
    }

    fn wait_exit(&mut self, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if self.child.try_wait().ok().flatten().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn job(owner: &str, team: &str, gpus: u32, script: &str, workdir: &Path) -> Value {
    json!({
        "run": {"project": "runner", "hypothesis": "the runner runs it", "owner": owner,
                "command": ["sh", "-c", script]},
        "resources": {"gpus": gpus, "cpus": 1, "mem_mb": 100},
        "team": team,
        "workdir": workdir.display().to_string(),
    })
}

async fn submit(srv: &TestServer, body: &Value) -> Value {
    let resp = srv.client().post(srv.url_for("/api/v1/jobs")).json(body).send().await.unwrap();
    let status = resp.status();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{v}");
    v
}

async fn job_state(srv: &TestServer, id: &str) -> Value {
    get_json(&srv.client(), srv.url_for(&format!("/api/v1/jobs/{id}"))).await
}

/// Polls until `done(job)` for each job, or panics with the server's and agents' view.
async fn wait_jobs(srv: &TestServer, ids: &[String], within: Duration, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let until = Instant::now() + within;
    loop {
        let mut all = Vec::new();
        for id in ids {
            all.push(job_state(srv, id).await);
        }
        if all.iter().all(&done) {
            return all;
        }
        if Instant::now() > until {
            let q = cairn(srv.home(), &["--server", &srv.url(), "queue", "--all"]);
            panic!("jobs did not get there in {within:?}:\n{}\n{}", String::from_utf8_lossy(&q.stdout), srv.log());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ended(j: &Value) -> bool {
    matches!(j["state"].as_str(), Some("finished" | "failed" | "cancelled"))
}

async fn events(srv: &TestServer, id: &str) -> Vec<(String, String)> {
    let why = get_json(&srv.client(), srv.url_for(&format!("/api/v1/jobs/{id}/why"))).await;
    why["events"]
        .as_array()
        .unwrap_or_else(|| panic!("{why}"))
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["message"].as_str().unwrap().to_owned()))
        .collect()
}

async fn settings(srv: &TestServer, s: Value) {
    let resp = srv.client().put(srv.url_for("/api/v1/runner/settings")).json(&s).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

/// `cairn submit` records the run (queued), the agent runs it with its GPUs pinned,
/// its output streams to `cairn logs`, and a job no node can hold is refused naming
/// the largest node.
#[tokio::test]
async fn a_submitted_job_runs_on_an_agent_with_its_gpus_pinned() {
    let srv = TestServer::start(&[], &[]).await;
    let _agent = AgentProc::start(&srv, "gpu-box", &["--gpus", "fake:4"]);
    let url = srv.url();
    // Wait for the agent to register.
    let until = Instant::now() + Duration::from_secs(20);
    while get_json(&srv.client(), srv.url_for("/api/v1/agents")).await["agents"].as_array().unwrap().is_empty() {
        assert!(Instant::now() < until, "the agent did not register");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let too_big = cairn(srv.home(), &["--server", &url, "submit", "--gpus", "9", "--hypothesis", "h", "--", "true"]);
    assert_eq!(too_big.status.code(), Some(2));
    let err = String::from_utf8_lossy(&too_big.stderr);
    assert!(err.contains("largest node, gpu-box, has 4 GPU(s)"), "{err}");
    let out = cairn(
        srv.home(),
        &[
            "--server",
            &url,
            "submit",
            "--gpus",
            "2",
            "--hypothesis",
            "pinned",
            "--",
            "sh",
            "-c",
            "echo gpus=$CUDA_VISIBLE_DEVICES; echo second line",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let done = wait_jobs(&srv, std::slice::from_ref(&id), Duration::from_secs(30), ended).await;
    assert_eq!(done[0]["state"], "finished", "{}", done[0]);
    assert_eq!(done[0]["attempts"], 1);
    let logs = cairn(srv.home(), &["--server", &url, "logs", "-f", &id]);
    let text = String::from_utf8_lossy(&logs.stdout);
    assert!(text.contains("gpus=0,1") && text.contains("second line"), "{text}");
    let run = get_json(&srv.client(), srv.url_for(&format!("/api/v1/runs/{id}"))).await;
    assert_eq!(run["status"], "finished", "{run}");
    let kinds: Vec<String> = events(&srv, &id).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["submitted", "assigned", "started", "finished"]);
    let agents = cairn(srv.home(), &["--server", &url, "agents"]);
    let text = String::from_utf8_lossy(&agents.stdout);
    assert!(text.contains("gpu-box") && text.contains("0/4") && text.contains("pretend"), "{text}");
    let usage = cairn(srv.home(), &["--server", &url, "usage", "--by", "project"]);
    assert!(String::from_utf8_lossy(&usage.stdout).contains("runner") || usage.status.success());
}

/// Sixty one-GPU jobs from three teams with quotas (2, 6 and 6 GPUs at once) on eight
/// GPUs: every quota holds at every moment, and fair share lets team c in early although
/// team b submitted twenty jobs before it (first come, first served would run b's first).
#[tokio::test]
async fn sixty_jobs_of_three_teams_follow_quota_and_fair_share() {
    let srv = TestServer::start(&[], &[]).await;
    let quotas = [("a", 2), ("b", 6), ("c", 6)];
    let q: Vec<Value> = quotas.iter().map(|(t, n)| json!({"scope": format!("team:{t}"), "max_gpus": n})).collect();
    settings(&srv, json!({ "quotas": q })).await;
    let dir = srv.home().to_owned();
    let mut ids: Vec<(String, String)> = Vec::new();
    for team in ["a", "b", "c"] {
        for _ in 0..20 {
            let j = submit(&srv, &job(&format!("{team}-user"), team, 1, "sleep 0.5", &dir)).await;
            ids.push((team.to_owned(), j["run_id"].as_str().unwrap().to_owned()));
        }
    }
    let queue = cairn(srv.home(), &["--server", &srv.url(), "queue"]);
    let text = String::from_utf8_lossy(&queue.stdout);
    assert!(text.contains("no agent is connected"), "{text}");
    let _agent = AgentProc::start(&srv, "eight", &["--gpus", "fake:8"]);
    let only_ids: Vec<String> = ids.iter().map(|(_, i)| i.clone()).collect();
    let done = wait_jobs(&srv, &only_ids, Duration::from_secs(180), ended).await;
    let mut spans: Vec<(String, i64, i64)> = Vec::new();
    for ((team, _), j) in ids.iter().zip(&done) {
        assert_eq!(j["state"], "finished", "{j}");
        spans.push((team.clone(), j["started_at"].as_i64().unwrap(), j["ended_at"].as_i64().unwrap()));
    }
    // At every start, what runs: at most 8 GPUs, and each team within its quota.
    for (_, t, _) in &spans {
        let running: Vec<&String> = spans.iter().filter(|(_, s, e)| s <= t && t < e).map(|(team, _, _)| team).collect();
        assert!(running.len() <= 8, "{} jobs at once", running.len());
        for (team, quota) in quotas {
            let n = running.iter().filter(|x| x.as_str() == team).count();
            assert!(n <= quota, "team {team} ran {n} jobs at once over its quota of {quota}");
        }
    }
    let mut order = spans.clone();
    order.sort_by_key(|(_, s, _)| *s);
    let first: Vec<&str> = order.iter().take(30).map(|(t, _, _)| t.as_str()).collect();
    let c = first.iter().filter(|t| **t == "c").count();
    assert!(c >= 5, "team c got {c} of the first 30 starts: {first:?}");
}

/// An urgent job preempts a preemptible low-priority job of a team over its share:
/// the victim is told (SIGTERM), stops, goes back to the queue, and starts again
/// (attempt 2) once there is room; the preemption is counted.
#[tokio::test]
async fn an_urgent_job_preempts_a_sweep_job_which_resumes() {
    let srv = TestServer::start(&[], &[]).await;
    settings(&srv, json!({"shares": {"team:sweep": 1, "team:prod": 1}, "grace_s": 5})).await;
    let _agent = AgentProc::start(&srv, "two", &["--gpus", "fake:2"]);
    let dir = srv.home().to_owned();
    let script = "if [ \"$CAIRN_JOB_ATTEMPT\" = 2 ]; then echo resumed; exit 0; fi; \
                  trap 'echo checkpointed; exit 0' TERM; while true; do sleep 0.1; done";
    let mut sweep = job("sam", "sweep", 2, script, &dir);
    sweep["priority"] = json!("low");
    sweep["preemptible"] = json!(true);
    let victim = submit(&srv, &sweep).await["run_id"].as_str().unwrap().to_owned();
    wait_jobs(&srv, std::slice::from_ref(&victim), Duration::from_secs(30), |j| j["state"] == "running").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut urgent = job("una", "prod", 2, "echo urgent done", &dir);
    urgent["priority"] = json!("urgent");
    let urgent = submit(&srv, &urgent).await["run_id"].as_str().unwrap().to_owned();
    let done = wait_jobs(&srv, &[urgent.clone(), victim.clone()], Duration::from_secs(60), ended).await;
    assert_eq!(done[0]["state"], "finished", "{}", done[0]);
    assert_eq!(done[1]["state"], "finished", "{}", done[1]);
    assert_eq!(done[1]["attempts"], 2, "{}", done[1]);
    assert_eq!(done[1]["preemptions"], 1, "{}", done[1]);
    assert!(done[1]["lost_gpu_ms"].as_i64().unwrap() > 0);
    // The urgent job ran between the victim's two attempts.
    assert!(done[0]["started_at"].as_i64() < done[1]["started_at"].as_i64());
    let kinds: Vec<String> = events(&srv, &victim).await.into_iter().map(|(k, _)| k).collect();
    for k in ["preempting", "preempted", "started"] {
        assert!(kinds.contains(&k.to_owned()), "{kinds:?}");
    }
    let logs = cairn(srv.home(), &["--server", &srv.url(), "logs", &victim]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("checkpointed"));
    let usage = cairn(srv.home(), &["--server", &srv.url(), "usage", "--by", "team", "--json"]);
    let u: Value = serde_json::from_slice(&usage.stdout).unwrap();
    let sweep_row = u["rows"].as_array().unwrap().iter().find(|r| r["key"] == "sweep").unwrap().clone();
    assert_eq!(sweep_row["preemptions"], 1, "{u}");
}

/// A spot agent's reclaim notice stops its preemptible job and hands it back; another
/// agent runs it to the end.
#[tokio::test]
async fn a_spot_notice_requeues_and_another_agent_resumes() {
    let srv = TestServer::start(&[], &[]).await;
    let notice = srv.home().join("reclaim-notice");
    let mut spot =
        AgentProc::start(&srv, "spot", &["--gpus", "fake:1", "--spot", "--notice-file", &notice.display().to_string()]);
    let dir = srv.home().to_owned();
    let script = "if [ \"$CAIRN_JOB_ATTEMPT\" = 2 ]; then echo \"resumed on $CAIRN_AGENT\"; exit 0; fi; \
                  trap 'exit 0' TERM; while true; do sleep 0.1; done";
    // A job that is not preemptible never goes to spot capacity.
    let steady = submit(&srv, &job("ana", "t", 1, "echo steady", &dir)).await["run_id"].as_str().unwrap().to_owned();
    let mut body = job("ana", "t", 1, script, &dir);
    body["preemptible"] = json!(true);
    let id = submit(&srv, &body).await["run_id"].as_str().unwrap().to_owned();
    wait_jobs(&srv, std::slice::from_ref(&id), Duration::from_secs(30), |j| j["state"] == "running").await;
    assert_eq!(job_state(&srv, &steady).await["state"], "queued");
    std::fs::write(&notice, "reclaim").unwrap();
    assert!(spot.wait_exit(Duration::from_secs(30)), "the spot agent did not drain: {}", spot.log());
    let _steady_agent = AgentProc::start(&srv, "steady", &["--gpus", "fake:1"]);
    let done = wait_jobs(&srv, &[id.clone(), steady], Duration::from_secs(60), ended).await;
    assert_eq!(done[0]["state"], "finished", "{}", done[0]);
    assert_eq!(done[0]["attempts"], 2);
    let kinds: Vec<String> = events(&srv, &id).await.into_iter().map(|(k, _)| k).collect();
    assert!(kinds.contains(&"reclaimed".to_owned()) && kinds.contains(&"requeued".to_owned()), "{kinds:?}");
    let logs = cairn(srv.home(), &["--server", &srv.url(), "logs", &id]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("resumed on steady"));
}

/// A budget stops new dispatch once spent, with the reason in the queue, and warns.
#[tokio::test]
async fn a_budget_stops_dispatch_at_its_limit() {
    let srv = TestServer::start(&[], &[]).await;
    // One GPU-second costs 1: a job of a second and a half spends the budget of 1.
    settings(&srv, json!({"gpu_hour_prices": {"*": 3600.0}, "budgets": {"hpo": 1.0}})).await;
    let _agent = AgentProc::start(&srv, "one", &["--gpus", "fake:1"]);
    let dir = srv.home().to_owned();
    let mut first = job("ana", "t", 1, "sleep 1.5", &dir);
    first["budget"] = json!("hpo");
    let first = submit(&srv, &first).await["run_id"].as_str().unwrap().to_owned();
    wait_jobs(&srv, std::slice::from_ref(&first), Duration::from_secs(30), ended).await;
    let mut second = job("ana", "t", 1, "echo never", &dir);
    second["budget"] = json!("hpo");
    let second = submit(&srv, &second).await["run_id"].as_str().unwrap().to_owned();
    let mut unbudgeted = job("ana", "t", 1, "echo fine", &dir);
    unbudgeted["team"] = json!("other");
    let free = submit(&srv, &unbudgeted).await["run_id"].as_str().unwrap().to_owned();
    wait_jobs(&srv, std::slice::from_ref(&free), Duration::from_secs(30), ended).await;
    assert_eq!(job_state(&srv, &second).await["state"], "queued");
    let q = get_json(&srv.client(), srv.url_for("/api/v1/queue")).await;
    let waiting = q["jobs"].as_array().unwrap().iter().find(|j| j["run_id"] == second).unwrap().clone();
    assert!(waiting["reason"].as_str().unwrap().contains("budget hpo is spent"), "{waiting}");
    assert!(q["warnings"][0].as_str().unwrap().contains("budget hpo is spent"), "{q}");
    let budgets = cairn(srv.home(), &["--server", &srv.url(), "budget", "ls"]);
    let text = String::from_utf8_lossy(&budgets.stdout);
    assert!(text.contains("hpo") && text.contains("of 1.00"), "{text}");
}

/// A zero quota holds a team's GPU jobs, saying so; a job ignoring SIGTERM is killed
/// after the grace period and that is recorded.
#[tokio::test]
async fn zero_quotas_wait_and_stubborn_jobs_are_killed_after_the_grace_period() {
    let srv = TestServer::start(&[], &[]).await;
    settings(&srv, json!({"quotas": [{"scope": "team:frozen", "max_gpus": 0}], "grace_s": 1})).await;
    let _agent = AgentProc::start(&srv, "box", &["--gpus", "fake:2"]);
    let dir = srv.home().to_owned();
    let held = submit(&srv, &job("ana", "frozen", 1, "echo no", &dir)).await["run_id"].as_str().unwrap().to_owned();
    let stubborn = submit(&srv, &job("bo", "t", 1, "trap '' TERM; while true; do sleep 0.1; done", &dir)).await;
    let stubborn = stubborn["run_id"].as_str().unwrap().to_owned();
    wait_jobs(&srv, std::slice::from_ref(&stubborn), Duration::from_secs(30), |j| j["state"] == "running").await;
    let why = cairn(srv.home(), &["--server", &srv.url(), "queue", "--why", &held]);
    let text = String::from_utf8_lossy(&why.stdout);
    assert!(text.contains("team frozen is at its quota of 0 concurrent GPUs"), "{text}");
    let cancel = cairn(srv.home(), &["--server", &srv.url(), "cancel", &stubborn]);
    assert!(cancel.status.success());
    let done = wait_jobs(&srv, std::slice::from_ref(&stubborn), Duration::from_secs(30), ended).await;
    assert_eq!(done[0]["state"], "cancelled");
    let ev = events(&srv, &stubborn).await;
    assert!(ev.iter().any(|(k, m)| k == "cancelled" && m.contains("ignored SIGTERM")), "{ev:?}");
    let run = get_json(&srv.client(), srv.url_for(&format!("/api/v1/runs/{stubborn}"))).await;
    assert_eq!(run["status"], "killed");
    // Cancelling what has ended is refused, saying its state.
    let again =
        srv.client().post(srv.url_for("/api/v1/jobs/cancel")).json(&json!({"jobs": [stubborn]})).send().await.unwrap();
    assert_eq!(again.status(), 409);
    assert!(again.text().await.unwrap().contains("cancelled already"));
}

/// An agent killed with SIGKILL mid-job: the job is marked lost, requeued, and run to
/// the end by another agent. The server restarted while a job runs loses nothing.
#[tokio::test]
async fn lost_agents_requeue_and_server_restarts_lose_nothing() {
    let srv = TestServer::start(&[], &[("CAIRN_AGENT_TIMEOUT", "2")]).await;
    let dir = srv.home().to_owned();
    let doomed = AgentProc::start(&srv, "doomed", &["--gpus", "fake:1"]);
    let script = "if [ \"$CAIRN_JOB_ATTEMPT\" = 2 ]; then echo second attempt; exit 0; fi; sleep 60";
    let id = submit(&srv, &job("ana", "t", 1, script, &dir)).await["run_id"].as_str().unwrap().to_owned();
    wait_jobs(&srv, std::slice::from_ref(&id), Duration::from_secs(30), |j| j["state"] == "running").await;
    doomed.signal(nix::sys::signal::Signal::SIGKILL);
    drop(doomed);
    let _rescue = AgentProc::start(&srv, "rescue", &["--gpus", "fake:1"]);
    let done = wait_jobs(&srv, std::slice::from_ref(&id), Duration::from_secs(60), ended).await;
    assert_eq!(done[0]["state"], "finished", "{}", done[0]);
    assert_eq!(done[0]["attempts"], 2);
    let ev = events(&srv, &id).await;
    assert!(ev.iter().any(|(k, m)| k == "lost" && m.contains("doomed")), "{ev:?}");
    let run = get_json(&srv.client(), srv.url_for(&format!("/api/v1/runs/{id}"))).await;
    assert_eq!(run["status"], "finished", "{run}");

    // The server goes away while a job runs, and comes back on the same store.
    let home = srv.home().to_owned();
    let url = srv.url();
    let port = url.rsplit(':').next().unwrap().to_owned();
    let second =
        submit(&srv, &job("ana", "t", 1, "sleep 3; echo survived", &dir)).await["run_id"].as_str().unwrap().to_owned();
    wait_jobs(&srv, std::slice::from_ref(&second), Duration::from_secs(30), |j| j["state"] == "running").await;
    srv.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let back = TestServer::start_in(&home, &["--port", &port]).await;
    let done = wait_jobs(&back, std::slice::from_ref(&second), Duration::from_secs(60), ended).await;
    assert_eq!(done[0]["state"], "finished", "{}", done[0]);
    assert_eq!(done[0]["attempts"], 1, "the job kept running; it was not started again");
    let logs = cairn(&home, &["--server", &back.url(), "logs", &second]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("survived"));
}

#[allow(dead_code)]
async fn post(srv: &TestServer, path: &str, body: &Value) -> Value {
    post_json(&srv.client(), srv.url_for(path), body).await
}

/// Two server replicas on one PostgreSQL, an agent on each: every one of forty jobs
/// submitted to either starts exactly once and ends.
#[tokio::test]
async fn two_replicas_on_postgres_start_each_job_once() {
    let url = crate::postgres::scratch_db().await;
    let one = TestServer::start(&["--store", &url], &[]).await;
    let two = TestServer::start(&["--store", &url], &[]).await;
    let _a = AgentProc::start(&one, "left", &["--gpus", "fake:4"]);
    let _b = AgentProc::start(&two, "right", &["--gpus", "fake:4"]);
    let dir = one.home().to_owned();
    let mut ids = Vec::new();
    for i in 0..40 {
        let srv = if i % 2 == 0 { &one } else { &two };
        let j = submit(srv, &job("ana", "t", 1, "sleep 0.2", &dir)).await;
        ids.push(j["run_id"].as_str().unwrap().to_owned());
    }
    let done = wait_jobs(&one, &ids, Duration::from_secs(120), ended).await;
    let mut agents = std::collections::BTreeSet::new();
    for (id, j) in ids.iter().zip(&done) {
        assert_eq!(j["state"], "finished", "{j}");
        assert_eq!(j["attempts"], 1, "{j}");
        let started = events(&two, id).await.into_iter().filter(|(k, _)| k == "started").count();
        assert_eq!(started, 1, "job {id} started {started} times");
        let why = get_json(&one.client(), one.url_for(&format!("/api/v1/jobs/{id}/why"))).await;
        let assigned = why["events"].as_array().unwrap().iter().find(|e| e["kind"] == "assigned").unwrap().clone();
        // "placed on NAME (GPUs …)"
        agents.insert(assigned["message"].as_str().unwrap().split(' ').nth(2).unwrap().to_owned());
    }
    assert_eq!(agents.len(), 2, "both agents ran jobs: {agents:?}");
}

/// The same job through gRPC: submitted, read, refused when too large, cancelled.
#[tokio::test]
async fn jobs_through_grpc() {
    use cairn_proto::v1::{CancelJobsRequest, CreateRunRequest, GetRunRequest, SubmitJobRequest};
    let srv = TestServer::start(&[], &[]).await;
    let c = srv.client();
    let r =
        post_json(&c, srv.url_for("/api/v1/agents"), &json!({"name": "g", "gpus": [0, 1], "cpus": 4, "mem_mb": 4000}))
            .await;
    assert_eq!(r["name"], "g");
    let mut client = crate::grpc::grpc_client(&srv.url()).await;
    let run = CreateRunRequest { project: "grpc".into(), hypothesis: "queued over gRPC".into(), ..Default::default() };
    let submit = SubmitJobRequest {
        run: Some(run.clone()),
        command: vec!["true".into()],
        gpus: 1,
        priority: "high".into(),
        ..Default::default()
    };
    let job = client.submit_job(submit.clone()).await.unwrap().into_inner();
    assert_eq!((job.project.as_str(), job.priority.as_str(), job.gpus), ("grpc", "high", 1));
    let got = client.get_job(GetRunRequest { run: job.short_id.clone() }).await.unwrap().into_inner();
    assert_eq!(got.run_id, job.run_id);
    let too_big = client.submit_job(SubmitJobRequest { gpus: 3, ..submit }).await.unwrap_err();
    assert_eq!(too_big.code(), tonic::Code::FailedPrecondition);
    assert!(
        too_big.message().starts_with("unschedulable:") && too_big.message().contains("largest node, g, has 2"),
        "{}",
        too_big.message()
    );
    let cancelled =
        client.cancel_jobs(CancelJobsRequest { jobs: vec![job.run_id.clone()] }).await.unwrap().into_inner();
    assert!(matches!(cancelled.jobs[0].state.as_str(), "cancelled" | "stopping"), "{:?}", cancelled.jobs);
}

/// Allocated GPUs under 5 % busy for the idle window flag their job (on the job and in
/// the agents list); a job whose identical run finished while it waited is not started,
/// and says which run it duplicates. The agent here is driven through its REST calls.
#[tokio::test]
async fn idle_gpus_are_flagged_and_duplicates_are_caught_at_start() {
    let srv = TestServer::start(&[], &[]).await;
    let c = srv.client();
    settings(&srv, json!({"idle_after_s": 1})).await;
    let agent =
        post_json(&c, srv.url_for("/api/v1/agents"), &json!({"name": "nv", "gpus": [0], "cpus": 4, "mem_mb": 4000}))
            .await;
    let agent_id = agent["id"].as_str().unwrap().to_owned();
    let dir = srv.home().to_owned();
    let id = submit(&srv, &job("ana", "t", 1, "train", &dir)).await["run_id"].as_str().unwrap().to_owned();
    wait_jobs(&srv, std::slice::from_ref(&id), Duration::from_secs(20), |j| j["state"] == "assigned").await;
    let report = json!({"agent": agent_id});
    post_json(&c, srv.url_for(&format!("/api/v1/jobs/{id}/started")), &report).await;
    let poll_url = srv.url_for(&format!("/api/v1/agents/{agent_id}/poll"));
    let poll = |util: f64| json!({"running": [id.clone()], "gpu_utilisation": {id.clone(): util}});
    post_json(&c, poll_url.clone(), &poll(2.0)).await;
    assert_eq!(job_state(&srv, &id).await["idle"], false, "not idle for the whole window yet");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    post_json(&c, poll_url.clone(), &poll(3.0)).await;
    let j = job_state(&srv, &id).await;
    assert_eq!((j["idle"].as_bool(), j["gpu_utilisation"].as_f64()), (Some(true), Some(3.0)), "{j}");
    assert!(events(&srv, &id).await.iter().any(|(k, _)| k == "idle"));
    let agents = get_json(&c, srv.url_for("/api/v1/agents")).await;
    assert_eq!(agents["agents"][0]["idle_jobs"][0], j["short_id"], "{agents}");
    post_json(&c, poll_url.clone(), &poll(80.0)).await;
    assert_eq!(job_state(&srv, &id).await["idle"], false, "busy again");

    // Two identical jobs queue behind it; the first runs and finishes; the second is
    // then not started.
    let mut same = job("ana", "t", 1, "echo same", &dir);
    same["run"]["on_duplicate"] = json!("refuse");
    let first = submit(&srv, &same).await["run_id"].as_str().unwrap().to_owned();
    let second = submit(&srv, &same).await["run_id"].as_str().unwrap().to_owned();
    post_json(&c, srv.url_for(&format!("/api/v1/jobs/{id}/ended")), &json!({"agent": agent_id, "exit_code": 0})).await;
    wait_jobs(&srv, std::slice::from_ref(&first), Duration::from_secs(20), |j| j["state"] == "assigned").await;
    post_json(&c, srv.url_for(&format!("/api/v1/jobs/{first}/started")), &report).await;
    post_json(&c, srv.url_for(&format!("/api/v1/jobs/{first}/ended")), &json!({"agent": agent_id, "exit_code": 0}))
        .await;
    let done = wait_jobs(&srv, std::slice::from_ref(&second), Duration::from_secs(20), ended).await;
    assert_eq!(done[0]["state"], "cancelled", "{}", done[0]);
    let ev = events(&srv, &second).await;
    let first_short = job_state(&srv, &first).await["short_id"].as_str().unwrap().to_owned();
    assert!(ev.iter().any(|(k, m)| k == "duplicate" && m.contains(&first_short)), "{ev:?}");
    let run = get_json(&c, srv.url_for(&format!("/api/v1/runs/{second}"))).await;
    assert_eq!(run["status"], "killed");
}

/// A job past its time limit is stopped (SIGTERM) and ends failed, saying so; `cairn
/// requeue` runs an ended job again as a new attempt; a viewer may not act as an agent.
#[tokio::test]
async fn time_limits_stop_jobs_and_requeue_runs_them_again() {
    let srv = TestServer::start(&[], &[]).await;
    let _agent = AgentProc::start(&srv, "box", &["--gpus", "fake:1"]);
    let dir = srv.home().to_owned();
    let mut body = job("ana", "t", 1, "if [ \"$CAIRN_JOB_ATTEMPT\" = 2 ]; then echo again; exit 0; fi; sleep 60", &dir);
    body["resources"]["time_limit_s"] = json!(1);
    let id = submit(&srv, &body).await["run_id"].as_str().unwrap().to_owned();
    let done = wait_jobs(&srv, std::slice::from_ref(&id), Duration::from_secs(30), ended).await;
    assert_eq!(done[0]["state"], "failed", "{}", done[0]);
    assert!(events(&srv, &id).await.iter().any(|(k, m)| k == "time_limit" && m.contains("time limit of 1 s")));
    let out = cairn(srv.home(), &["--server", &srv.url(), "requeue", &id]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("back in the queue"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done = wait_jobs(&srv, std::slice::from_ref(&id), Duration::from_secs(30), ended).await;
    assert_eq!((done[0]["state"].as_str(), done[0]["attempts"].as_u64()), (Some("finished"), Some(2)), "{}", done[0]);
    let logs = cairn(srv.home(), &["--server", &srv.url(), "logs", &id]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("again"));
    // A finished job's record is complete: requeueing it is refused, saying what to do.
    let again = cairn(srv.home(), &["--server", &srv.url(), "requeue", &id]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("submit it again"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// On a server with sign-in, a read-only token may not register an agent or report jobs.
#[tokio::test]
async fn only_writers_act_as_agents() {
    let srv = TestServer::start_with_auth(&[]).await;
    let r = srv
        .client()
        .post(srv.url_for("/api/v1/tokens"))
        .json(&json!({"name": "ro", "scope": "read"}))
        .send()
        .await
        .unwrap();
    let t: Value = r.json().await.unwrap();
    let reader = srv.client_as(t["token"].as_str().unwrap_or_else(|| panic!("{t}")));
    let reg = json!({"name": "sneaky", "gpus": [0], "cpus": 1, "mem_mb": 100});
    let r = reader.post(srv.url_for("/api/v1/agents")).json(&reg).send().await.unwrap();
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    let r = srv.client().post(srv.url_for("/api/v1/agents")).json(&reg).send().await.unwrap();
    assert_eq!(r.status(), 201);
}

/// In a repository, a job runs in a clean copy of the recorded commit with the recorded
/// diff (an untracked data file is not there; a change made after submitting is not
/// either); with `--in-place` it runs in the folder as it is.
#[tokio::test]
async fn jobs_run_in_a_clean_copy_or_in_place() {
    let srv = TestServer::start(&[], &[]).await;
    let _agent = AgentProc::start(&srv, "box", &["--gpus", "none"]);
    let repo = tempfile::tempdir().unwrap();
    let git = crate::run::git_in(repo.path());
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(repo.path().join("train.sh"), "echo lr=0.1\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    std::fs::write(repo.path().join("train.sh"), "echo lr=0.01\ncat data.txt\n").unwrap();
    std::fs::write(repo.path().join("data.txt"), "local data\n").unwrap();
    let url = srv.url();
    let submit_in = |extra: &[&str]| {
        let mut args = vec!["--server", url.as_str(), "submit", "--hypothesis", "h", "--force"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "sh", "train.sh"]);
        let out = command(srv.home()).current_dir(repo.path()).args(&args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let clean = submit_in(&[]);
    let here = submit_in(&["--in-place"]);
    let done = wait_jobs(&srv, &[clean.clone(), here.clone()], Duration::from_secs(30), ended).await;
    let logs = |id: &str| {
        String::from_utf8_lossy(&cairn(srv.home(), &["--server", &srv.url(), "logs", id]).stdout).into_owned()
    };
    let (clean_log, here_log) = (logs(&clean), logs(&here));
    assert_eq!(done[0]["state"], "failed", "the clean copy has no untracked data: {clean_log}");
    assert!(
        clean_log.contains("lr=0.01") && clean_log.contains("data.txt"),
        "the recorded diff is applied: {clean_log}"
    );
    assert_eq!(done[1]["state"], "finished", "{here_log}");
    assert!(here_log.contains("local data"), "{here_log}");
}

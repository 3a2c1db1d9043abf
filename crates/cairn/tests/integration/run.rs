//! `cairn run`: a command recorded with its config, output and outcome.

use crate::common::{TestServer, cairn, command, get_json};
use serde_json::json;

async fn runs(srv: &TestServer) -> Vec<serde_json::Value> {
    get_json(&srv.client(), format!("{}/api/v1/runs", srv.url())).await["runs"].as_array().unwrap().clone()
}

async fn artifact_text(srv: &TestServer, run: &str, path: &str) -> String {
    let url = format!("{}/api/v1/runs/{run}/artifacts/{path}", srv.url());
    srv.client().get(url).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn records_the_command_its_flags_output_and_exit() {
    let srv = TestServer::start(&[], &[]).await;
    let out = cairn(
        srv.home(),
        &[
            "run",
            "--project",
            "vision",
            "--hypothesis",
            "mixup helps",
            "--tag",
            "team=cv",
            "--seed",
            "7",
            "--",
            "sh",
            "-c",
            "echo \"run=$CAIRN_RUN_ID seed=$CAIRN_SEED\"; echo oops >&2; exit 3",
            "sh",
            "--lr",
            "0.01",
            "--aug=mixup",
            "--amp",
            "--model.depth",
            "18",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "the command's exit code is passed on");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("oops"), "{stderr}");
    let all = runs(&srv).await;
    assert_eq!(all.len(), 1);
    let run = &all[0];
    assert!(stdout.contains(&format!("run={} seed=7", run["id"].as_str().unwrap())), "{stdout}");
    assert_eq!(run["status"], "failed");
    assert_eq!(run["exit_code"], 3);
    assert_eq!(run["project"], "vision");
    assert_eq!(run["seeds"], json!([7]));
    assert_eq!(run["tags"]["team"], "cv");
    assert_eq!(run["config"], json!({"lr": 0.01, "aug": "mixup", "amp": true, "model": {"depth": 18}}));
    assert_eq!(run["command"][0], "sh");
    let log = artifact_text(&srv, run["id"].as_str().unwrap(), "logs/output.log").await;
    assert!(log.lines().any(|l| l.contains(" stdout | run=")), "{log}");
    assert!(log.lines().any(|l| l.ends_with(" stderr | oops")), "{log}");
    assert!(log.starts_with("20"), "lines start with a timestamp: {log}");
}

#[tokio::test]
async fn a_config_file_is_merged_under_the_command_flags() {
    let srv = TestServer::start(&[], &[]).await;
    let cfg = srv.home().join("train.yaml");
    std::fs::write(&cfg, "lr: 0.5\noptimizer:\n  name: adam\n  betas: [0.9, 0.99]\n").unwrap();
    let out = cairn(
        srv.home(),
        &["run", "--hypothesis", "h", "--config", cfg.to_str().unwrap(), "--", "true", "--lr", "0.1"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run = &runs(&srv).await[0];
    assert_eq!(run["status"], "finished");
    assert_eq!(run["config"], json!({"lr": 0.1, "optimizer": {"name": "adam", "betas": [0.9, 0.99]}}));
    let bad = srv.home().join("broken.toml");
    std::fs::write(&bad, "lr = = 1\n").unwrap();
    let out = cairn(srv.home(), &["run", "--hypothesis", "h", "--config", bad.to_str().unwrap(), "--", "true"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.toml is not valid TOML"));
}

#[tokio::test]
async fn refusals_and_missing_commands_are_clear() {
    let srv = TestServer::start(&[], &[]).await;
    let out = cairn(srv.home(), &["run", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "not recorded: a code of its own");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hypothesis is required") && err.contains("--hypothesis"), "{err}");
    assert!(runs(&srv).await.is_empty(), "nothing was recorded or run");

    let out = cairn(srv.home(), &["run", "--hypothesis", "h", "--", "no-such-command-here"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("command not found: no-such-command-here"));
    let run = &runs(&srv).await[0];
    assert_eq!(run["status"], "failed");
    assert_eq!(run["tags"]["cairn.failure"], "command not found: no-such-command-here");
}

#[tokio::test]
async fn a_terminated_run_ends_killed_and_so_does_its_command() {
    let srv = TestServer::start(&[], &[]).await;
    let marker = srv.home().join("still-running");
    let script = format!("sleep 30; touch {}", marker.display());
    let mut child = command(srv.home())
        .args(["run", "--hypothesis", "h", "--", "sh", "-c", &script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while runs(&srv).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "the run never appeared");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(!status.success());
    let run = &runs(&srv).await[0];
    assert_eq!(run["status"], "killed", "{run}");
    assert!(!marker.exists(), "the command was stopped too");
}

#[tokio::test]
async fn the_sdk_inside_attaches_to_the_same_run() {
    let srv = TestServer::start(&[], &[]).await;
    let script = srv.home().join("train.py");
    std::fs::write(
        &script,
        "import cairn\nrun = cairn.init(config={'layers': 4})\nfor i in range(50):\n    run.log({'loss': 1 / (i + 1)})\nrun.finish()\n",
    )
    .unwrap();
    let sdk = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk/python");
    let out = command(srv.home())
        .env("PYTHONPATH", sdk)
        .args(["run", "--project", "p", "--hypothesis", "h", "--", "python3", script.to_str().unwrap(), "--lr", "0.3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let all = runs(&srv).await;
    assert_eq!(all.len(), 1, "one run, not one for the wrapper and one for the SDK");
    let run = &all[0];
    assert_eq!(run["status"], "finished");
    assert_eq!(run["config"], json!({"lr": 0.3, "layers": 4}));
    let loss = run["metrics"].as_array().unwrap().iter().find(|m| m["key"] == "loss").expect("SDK metrics");
    assert_eq!(loss["count"], 50);
}

#[tokio::test]
async fn the_environment_is_recorded_without_secrets() {
    let srv = TestServer::start(&[], &[]).await;
    let out = command(srv.home())
        .env("CUDA_VISIBLE_DEVICES", "0")
        .env("OMP_NUM_THREADS", "2")
        .env("CUDA_API_TOKEN", "do-not-record")
        .args(["run", "--hypothesis", "h", "--", "python3", "-c", "pass"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run = &runs(&srv).await[0];
    let env = &run["environment"];
    assert_eq!(env["os"]["family"], "linux");
    assert!(env["cpu"]["cores"].as_u64().unwrap() >= 1);
    assert!(env["python"]["version"].as_str().unwrap().starts_with('3'), "{env}");
    assert!(!env["python"]["packages"].as_array().unwrap().is_empty());
    assert_eq!(env["env"]["CUDA_VISIBLE_DEVICES"], "0");
    assert_eq!(env["env"]["OMP_NUM_THREADS"], "2");
    assert!(env["env"].get("CUDA_API_TOKEN").is_none(), "secrets are never recorded");
    assert!(!env.to_string().contains("do-not-record"));
}

#[tokio::test]
async fn data_is_fingerprinted_with_a_manifest() {
    let srv = TestServer::start(&[], &[]).await;
    let data = srv.home().join("dataset");
    std::fs::create_dir_all(data.join("images")).unwrap();
    std::fs::write(data.join("images/a.png"), [1u8; 1000]).unwrap();
    std::fs::write(data.join("labels.csv"), "a.png,scratch\n").unwrap();
    let args = ["run", "--hypothesis", "h", "--data", data.to_str().unwrap(), "--", "true"];
    let out = cairn(srv.home(), &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The same again is a replicate on purpose (otherwise it would be refused as a duplicate).
    let mut again = args.to_vec();
    again.insert(1, "--replicate");
    let out = cairn(srv.home(), &again);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let all = runs(&srv).await;
    let (a, b) = (&all[0]["data"]["datasets"][0], &all[1]["data"]["datasets"][0]);
    assert_eq!(a["hash"], b["hash"], "unchanged data, same fingerprint (from the cache the second time)");
    assert_eq!((a["files"].as_u64(), a["bytes"].as_u64()), (Some(2), Some(1014)));
    let id = all[0]["id"].as_str().unwrap();
    let manifest =
        get_json(&srv.client(), format!("{}/api/v1/runs/{id}/artifacts/data/manifest-0.json", srv.url())).await;
    assert_eq!(manifest["manifest"][0]["path"], "images/a.png");
    assert_eq!(manifest["hash"], a["hash"]);
    std::fs::write(data.join("labels.csv"), "a.png,spot\n").unwrap();
    assert!(cairn(srv.home(), &args).status.success());
    let newest = &runs(&srv).await[0]["data"]["datasets"][0];
    assert_ne!(newest["hash"], a["hash"], "changed data, new fingerprint");

    let out = cairn(srv.home(), &["run", "--hypothesis", "h", "--data", "/no/such/dataset", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/dataset"));
    assert_eq!(runs(&srv).await.len(), 3, "nothing recorded for the bad path");
}

#[tokio::test]
async fn code_is_captured_with_its_uncommitted_diff() {
    let srv = TestServer::start(&[], &[]).await;
    let repo = srv.home().join("model");
    std::fs::create_dir_all(&repo).unwrap();
    let git = git_in(&repo);
    git(&["init", "-q", "-b", "exp"]);
    std::fs::write(repo.join("train.py"), "aug = 'none'\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "baseline"]);
    std::fs::write(repo.join("train.py"), "aug = 'mixup'\n").unwrap();
    std::fs::write(repo.join("mixup.py"), "def mix(): ...\n").unwrap();
    let out = command(srv.home()).current_dir(&repo).args(["run", "--hypothesis", "h", "--", "true"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Outside any repository it is recorded as not versioned.
    let out =
        command(srv.home()).current_dir(srv.home()).args(["run", "--hypothesis", "h", "--", "true"]).output().unwrap();
    assert!(out.status.success());
    let all = runs(&srv).await;
    assert_eq!(all[0]["code"]["versioned"], false);
    assert_eq!(all[0]["code"]["commit"], serde_json::Value::Null);
    let code = &all[1]["code"];
    assert_eq!(
        (code["versioned"].as_bool(), code["dirty"].as_bool(), code["branch"].as_str()),
        (Some(true), Some(true), Some("exp"))
    );
    assert_eq!(code["commit"].as_str().unwrap().len(), 40);
    assert!(code["untracked"]["mixup.py"].is_string());
    let id = all[1]["id"].as_str().unwrap();
    let diff = artifact_text(&srv, id, "code/uncommitted.diff").await;
    assert!(diff.contains("-aug = 'none'") && diff.contains("+aug = 'mixup'"), "{diff}");
}

#[tokio::test]
async fn resource_use_is_sampled_as_system_metrics() {
    let srv = TestServer::start(&[], &[]).await;
    let out = command(srv.home())
        .env("CAIRN_SAMPLE_INTERVAL_MS", "100")
        .args([
            "run",
            "--hypothesis",
            "h",
            "--",
            "sh",
            "-c",
            "end=$(($(date +%s) + 2)); while [ $(date +%s) -lt $end ]; do :; done",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run = &runs(&srv).await[0];
    let metrics = run["metrics"].as_array().unwrap();
    let get = |k: &str| metrics.iter().find(|m| m["key"] == k).unwrap_or_else(|| panic!("no {k} in {metrics:?}"));
    assert!(get("system/cpu_percent")["max"].as_f64().unwrap() > 5.0, "a busy loop shows");
    assert!(get("system/memory_bytes")["last"].as_f64().unwrap() > 0.0);
    assert!(get("system/memory_bytes")["count"].as_i64().unwrap() >= 3);
}

#[tokio::test]
async fn an_identical_finished_run_is_refused_unless_replicated() {
    let srv = TestServer::start(&[], &[]).await;
    let home = srv.home();
    let run_with = |extra: &[&str]| {
        let mut args = vec!["run", "--project", "p", "--hypothesis", "h"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "true", "--lr", "0.01"]);
        cairn(home, &args)
    };
    assert!(run_with(&[]).status.success());
    let first = runs(&srv).await[0].clone();
    let out = run_with(&[]);
    assert_eq!(out.status.code(), Some(3), "a duplicate has an exit code of its own");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already finished")
            && err.contains(first["short_id"].as_str().unwrap())
            && err.contains("--replicate"),
        "{err}"
    );
    assert_eq!(runs(&srv).await.len(), 1, "nothing recorded or run");
    // Another seed, on purpose: accepted and grouped with the first.
    assert!(run_with(&["--replicate", "--seed", "2"]).status.success());
    let all = runs(&srv).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["fingerprint"], first["fingerprint"]);
    assert!(all[0]["group_id"].as_str().unwrap().starts_with("replicates-"));
    assert_eq!(all[0]["group_id"], first["group_id"], "replicates share the first run's group");
    let shown =
        String::from_utf8_lossy(&cairn(home, &["show", first["short_id"].as_str().unwrap()]).stdout).into_owned();
    assert!(shown.contains("replicates (2 runs"), "{shown}");
    assert!(shown.contains(all[0]["short_id"].as_str().unwrap()), "the other member is listed: {shown}");
    let listed = String::from_utf8_lossy(&cairn(home, &["ls", "-n", "1"]).stdout).into_owned();
    assert!(listed.contains("×2"), "the group's size, not just the page's: {listed}");
    // A different config is a different run.
    let out = cairn(home, &["run", "--project", "p", "--hypothesis", "h", "--", "true", "--lr", "0.02"]);
    assert!(out.status.success());
    assert_ne!(runs(&srv).await[0]["fingerprint"], first["fingerprint"]);
    assert!(run_with(&["--force"]).status.success(), "--force runs it anyway");
}

/// Runs git in `dir` with a fixed identity, asserting it succeeds.
pub fn git_in(dir: &std::path::Path) -> impl Fn(&[&str]) + '_ {
    move |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }
}

/// A git repository in `dir` with one commit of `train.py`.
fn repo_with_commit(dir: &std::path::Path) -> impl Fn(&[&str]) + '_ {
    std::fs::create_dir_all(dir).unwrap();
    let git = git_in(dir);
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("train.py"), "print('v1')\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "baseline"]);
    git
}

#[tokio::test]
async fn four_changes_at_once_are_flagged_and_diffed() {
    let srv = TestServer::start(&[], &[]).await;
    let repo = srv.home().join("model");
    let git = repo_with_commit(&repo);
    let run_in = |args: &[&str]| command(srv.home()).current_dir(&repo).args(args).output().unwrap();
    let base = ["run", "--project", "p", "--hypothesis", "h", "--", "true", "--lr", "0.01", "--aug", "none"];
    let out = run_in(&base);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let parent = runs(&srv).await[0]["short_id"].as_str().unwrap().to_owned();

    // One change against the nearest run (no parent given): recorded, not flagged.
    let out = run_in(&["run", "--project", "p", "--hypothesis", "h", "--", "true", "--lr", "0.02", "--aug", "none"]);
    assert!(out.status.success());
    let one = &runs(&srv).await[0];
    assert_eq!(one["changes"]["basis"], "nearest");
    assert_eq!(one["changes"]["against_short_id"], parent.as_str());
    assert_eq!(one["changes"]["params"], json!([{"key": "lr", "before": 0.01, "after": 0.02}]));
    assert!(one["tags"].get("cairn.many_changes").is_none());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));

    // Four changes against the parent: lr, aug, model, and the code (a new commit).
    std::fs::write(repo.join("train.py"), "print('v2')\n").unwrap();
    git(&["commit", "-q", "-am", "v2"]);
    let out = run_in(&[
        "run",
        "--project",
        "p",
        "--hypothesis",
        "h",
        "--parent",
        &parent,
        "--",
        "true",
        "--lr",
        "0.05",
        "--aug",
        "mixup",
        "--model",
        "large",
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("changes 4 things at once compared with its parent"), "{err}");
    for name in ["lr: 0.01 -> 0.05", "aug: none -> mixup", "model: (absent) -> large", "code (train.py)"] {
        assert!(err.contains(name), "{name} in {err}");
    }
    let flagged = runs(&srv).await[0].clone();
    assert_eq!(flagged["changes"]["basis"], "parent");
    assert_eq!(flagged["tags"]["cairn.many_changes"], "aug, lr, model, code (train.py)");
    assert_eq!(flagged["changes"]["code"]["files"], json!(["train.py"]), "files between the commits, from git");

    // `cairn diff` shows exactly what differs.
    let out = run_in(&["diff", &parent, flagged["short_id"].as_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("files changed between the commits: train.py"), "{text}");
    assert!(text.contains("-print('v1')") && text.contains("+print('v2')"), "{text}");
    let out = run_in(&["diff", &parent, flagged["short_id"].as_str().unwrap(), "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = doc["config"].as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(keys, vec!["aug", "lr", "model"]);
    assert_eq!(doc["config"][2]["a"], serde_json::Value::Null);
    assert_eq!(doc["config"][2]["b"], "large");
    assert_eq!(doc["code"]["files_between_commits"], json!(["train.py"]));

    // A declared study is allowed to change several things.
    let out = run_in(&[
        "run",
        "--project",
        "p",
        "--hypothesis",
        "h",
        "--study",
        "factorial-1",
        "--parent",
        &parent,
        "--",
        "true",
        "--lr",
        "0.05",
        "--aug",
        "flip",
    ]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
    let studied = &runs(&srv).await[0];
    assert_eq!(studied["tags"]["cairn.study"], "factorial-1");
    assert!(studied["tags"].get("cairn.many_changes").is_none());
}

#[tokio::test]
async fn tried_lists_every_value_with_statistics() {
    let srv = TestServer::start(&[], &[]).await;
    let home = srv.home();
    // Each run logs its accuracy through the Python SDK, attached to the run it is given.
    let sdk = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk/python");
    let script = "import os, cairn; r = cairn.init(); r.log({'val/acc': float(os.environ['ACC'])}); r.finish()";
    let ok = |aug: &str, seed: &str, acc: &str, extra: &[&str]| {
        let mut args = vec!["run", "--project", "vision", "--hypothesis", "h", "--seed", seed];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "python3", "-c", script, "--aug", aug]);
        let out = command(home).env("ACC", acc).env("PYTHONPATH", sdk).args(&args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    ok("mixup", "1", "0.81", &[]);
    ok("mixup", "2", "0.84", &["--replicate"]);
    ok("mixup", "3", "0.79", &["--replicate"]);
    ok("none", "1", "0.70", &[]);
    let out = cairn(
        home,
        &["run", "--project", "vision", "--hypothesis", "h", "--", "sh", "-c", "exit 1", "sh", "--aug", "cutout"],
    );
    assert_eq!(out.status.code(), Some(1));

    // No primary metric yet: the runs log one metric (besides system ones), so it judges by that.
    let out = cairn(home, &["tried", "aug", "--project", "vision"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("judged by val/acc"), "the only metric is used");
    let out = cairn(home, &["projects", "set", "vision", "--primary-metric", "val/acc"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = cairn(home, &["tried", "aug", "--project", "vision", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let values = doc["values"].as_array().unwrap();
    let names: Vec<&str> = values.iter().map(|v| v["value"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["cutout", "mixup", "none"]);
    let mixup = &values[1];
    assert_eq!((mixup["runs"].as_u64(), mixup["replicated_runs"].as_u64()), (Some(3), Some(3)));
    assert_eq!(mixup["best"]["value"], 0.84);
    // mean 0.8133…, s = 0.025166…, t(0.975, 2) = 4.302652729911275
    let mean = (0.81 + 0.84 + 0.79) / 3.0;
    let sd: f64 = (([0.81f64, 0.84, 0.79].iter().map(|x| (x - mean).powi(2)).sum::<f64>()) / 2.0).sqrt();
    let half = 4.302652729911275 * sd / 3f64.sqrt();
    assert!((mixup["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!((mixup["ci95"][0].as_f64().unwrap() - (mean - half)).abs() < 1e-9, "{mixup}");
    assert!((mixup["ci95"][1].as_f64().unwrap() - (mean + half)).abs() < 1e-9);
    assert_eq!(values[2]["n"], 1);
    assert_eq!(values[2]["ci95"], serde_json::Value::Null, "one run: no interval");
    assert_eq!(values[0]["failed"].as_array().unwrap().len(), 1, "the failed run is listed");

    let out = cairn(home, &["tried", "aug", "--project", "vision"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("judged by val/acc"), "{table}");
    assert!(table.contains("n=1, no interval"), "{table}");
    let out = cairn(home, &["tried", "nosuch", "--project", "vision"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run in project 'vision' has a parameter 'nosuch'"));
}

#[tokio::test]
async fn a_run_whose_server_goes_away_is_kept_and_sent_later() {
    let srv = TestServer::start(&[], &[]).await;
    let home = srv.home().to_owned();
    // The command kills the server mid-run, then goes on and succeeds.
    let script = format!("kill -9 {}; sleep 0.3; echo trained", srv.pid());
    let out = command(&home).args(["run", "--hypothesis", "h", "--", "sh", "-c", &script]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "the command's own exit code: {err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("trained"));
    assert!(err.contains("cairn sync"), "says where the records are and how they are sent: {err}");
    let spooled: Vec<_> = std::fs::read_dir(home.join("spool")).unwrap().collect();
    assert!(!spooled.is_empty());

    // The server comes back; `cairn sync` delivers what was kept.
    let back = TestServer::start_in(&home, &[]).await;
    let out = cairn(&home, &["sync"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Sent 2 kept record(s)"), "the log and the finish");
    let run = &runs(&back).await[0];
    assert_eq!((run["status"].as_str(), run["exit_code"].as_i64()), (Some("finished"), Some(0)));
    let id = run["id"].as_str().unwrap();
    assert!(artifact_text(&back, id, "logs/output.log").await.contains("stdout | trained"));
    assert!(!home.join("spool").join(format!("{id}.jsonl")).exists(), "nothing left to send");
    let out = cairn(&home, &["sync"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Sent 0") || out.status.success());
}

#[tokio::test]
async fn detached_heads_rebases_binary_diffs_and_odd_output_are_recorded() {
    let srv = TestServer::start(&[], &[]).await;
    let repo = srv.home().join("model");
    let git = repo_with_commit(&repo);
    std::fs::write(repo.join("weights.bin"), [0u8, 1, 2, 255, 0]).unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "weights"]);
    // A rebase stopped on a conflict, with a detached HEAD and a changed binary file.
    git(&["checkout", "-q", "-b", "exp", "HEAD~1"]);
    std::fs::write(repo.join("train.py"), "print('exp')\n").unwrap();
    git(&["commit", "-q", "-am", "exp"]);
    git(&["checkout", "-q", "main"]);
    std::fs::write(repo.join("train.py"), "print('main')\n").unwrap();
    git(&["commit", "-q", "-am", "main"]);
    git(&["checkout", "-q", "exp"]);
    let rebase = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "rebase", "main"])
        .current_dir(&repo)
        .output()
        .unwrap();
    assert!(!rebase.status.success(), "the rebase stops on the conflict");
    std::fs::write(repo.join("weights.bin"), [9u8, 0, 7]).unwrap();

    // Output that is not UTF-8, and several megabytes of it without a newline.
    let script = "printf '\\377\\376 not utf-8\\n'; head -c 3000000 /dev/zero | tr '\\0' x; echo; exit 0";
    let out = command(srv.home())
        .current_dir(&repo)
        .args(["run", "--hypothesis", "h", "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.starts_with(b"\xff\xfe not utf-8\n"), "passed through byte for byte");
    assert!(out.stdout.len() > 3_000_000);
    let run = &runs(&srv).await[0];
    let code = &run["code"];
    assert_eq!(code["versioned"], true);
    assert_eq!(code["branch"], serde_json::Value::Null, "a rebase in progress has a detached HEAD");
    assert_eq!(code["commit"].as_str().unwrap().len(), 40);
    assert_eq!(code["dirty"], true);
    assert!(code["modified"]["weights.bin"].is_string() && code["modified"]["train.py"].is_string(), "{code}");
    let id = run["id"].as_str().unwrap();
    let diff = artifact_text(&srv, id, "code/uncommitted.diff").await;
    assert!(diff.contains("weights.bin"), "the binary file is named in the diff: {diff}");
    let url = format!("{}/api/v1/runs/{id}/artifacts/logs/output.log", srv.url());
    let log = srv.client().get(url).send().await.unwrap().bytes().await.unwrap();
    assert!(log.windows(2).any(|w| w == b"\xff\xfe"), "the log keeps the bytes as they were");
    assert!(log.len() > 3_000_000, "never cut short");
}

#[tokio::test]
async fn defaults_the_script_adds_through_the_sdk_are_not_changes() {
    let srv = TestServer::start(&[], &[]).await;
    let script = srv.home().join("train.py");
    std::fs::write(
        &script,
        "import argparse, cairn\np = argparse.ArgumentParser()\np.add_argument('--lr', type=float, default=0.01)\n\
         p.add_argument('--model', default='medium')\np.add_argument('--epochs', type=int, default=8)\n\
         cairn.init(config=vars(p.parse_args()))\n",
    )
    .unwrap();
    let sdk = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk/python");
    let train = |flags: &[&str]| {
        let mut args = vec!["run", "--project", "p", "--hypothesis", "h", "--", "python3", script.to_str().unwrap()];
        args.extend_from_slice(flags);
        // Outside any repository, so edits elsewhere cannot count as code changes.
        command(srv.home()).current_dir(srv.home()).env("PYTHONPATH", sdk).args(&args).output().unwrap()
    };
    assert!(train(&["--lr", "0.01"]).status.success());
    let parent = runs(&srv).await[0]["short_id"].as_str().unwrap().to_owned();
    let out = train(&["--lr", "0.02"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "{}", String::from_utf8_lossy(&out.stderr));
    let one = &runs(&srv).await[0];
    assert_eq!(one["config"], json!({"lr": 0.02, "model": "medium", "epochs": 8}));
    assert_eq!(
        one["config_sources"],
        json!({"lr": "flags", "model": "sdk", "epochs": "sdk"}),
        "the flag's value, echoed by the script, still came from the flags"
    );
    assert_eq!(one["changes"]["params"], json!([{"key": "lr", "before": 0.01, "after": 0.02}]), "{one}");
    assert!(one["tags"].get("cairn.many_changes").is_none());

    let out = command(srv.home())
        .current_dir(srv.home())
        .env("PYTHONPATH", sdk)
        .args(["run", "--project", "p", "--hypothesis", "h", "--parent", &parent, "--", "python3"])
        .args([script.to_str().unwrap(), "--lr", "0.05", "--model", "large"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("changes 2 things at once") && err.contains("model: medium -> large"), "{err}");
    assert_eq!(runs(&srv).await[0]["tags"]["cairn.many_changes"], "lr, model");
}

#[tokio::test]
async fn text_is_kept_as_written_and_compared_as_what_it_means() {
    let srv = TestServer::start(&[], &[]).await;
    let home = srv.home();
    let run = |lr: &str| {
        let out = cairn(home, &["run", "--project", "p", "--hypothesis", "h", "--", "true", "--lr", lr, "--v", "1.10"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    run("1e-3");
    run("0.01");
    // The same setting logged through MLflow's API, as its clients send it: text.
    let c = srv.client();
    let experiments = get_json(&c, srv.url_for("/api/2.0/mlflow/experiments/get-by-name?experiment_name=p")).await;
    assert!(experiments["experiment"]["experiment_id"].is_string(), "{experiments}");
    let created = crate::common::post_json(
        &c,
        srv.url_for("/api/2.0/mlflow/runs/create"),
        &json!({"experiment_id": experiments["experiment"]["experiment_id"], "tags": [{"key": "cairn.hypothesis", "value": "h"}]}),
    )
    .await;
    let mlflow_run = created["run"]["info"]["run_id"].as_str().unwrap().to_owned();
    crate::common::post_json(
        &c,
        srv.url_for("/api/2.0/mlflow/runs/log-batch"),
        &json!({"run_id": mlflow_run, "params": [{"key": "lr", "value": "0.0010"}, {"key": "amp", "value": "True"}]}),
    )
    .await;
    let got = get_json(&c, srv.url_for(&format!("/api/2.0/mlflow/runs/get?run_id={mlflow_run}"))).await;
    let params = got["run"]["data"]["params"].as_array().unwrap();
    assert!(params.contains(&json!({"key": "lr", "value": "0.0010"})), "read back as logged: {got}");
    assert!(params.contains(&json!({"key": "amp", "value": "True"})), "{got}");

    let out = cairn(home, &["ls", "--project", "p", "--filter", "params.lr < 0.005", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["runs"].as_array().map(Vec::len), Some(2), "1e-3 and 0.0010 are both below 0.005: {found}");
    let out = cairn(home, &["ls", "--project", "p", "--filter", "params.v = \"1.10\"", "--json"]);
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["runs"].as_array().map(Vec::len), Some(2), "the exact text is found: {found}");

    let out = cairn(home, &["tried", "lr", "--project", "p", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let values: Vec<(String, u64)> = doc["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["value"].as_str().unwrap().to_owned(), v["runs"].as_u64().unwrap()))
        .collect();
    assert_eq!(values, vec![("0.001".to_owned(), 2), ("0.01".to_owned(), 1)], "one value, however it was written");

    let first = runs(&srv).await.into_iter().find(|r| r["config"]["lr"] == "1e-3").expect("kept as written");
    assert_eq!(first["config"]["v"], "1.10");
    let shown =
        String::from_utf8_lossy(&cairn(home, &["show", first["short_id"].as_str().unwrap()]).stdout).into_owned();
    assert!(shown.contains("1e-3") && shown.contains("1.10"), "{shown}");
}

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
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
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
    // A different config is a different run.
    let out = cairn(home, &["run", "--project", "p", "--hypothesis", "h", "--", "true", "--lr", "0.02"]);
    assert!(out.status.success());
    assert_ne!(runs(&srv).await[0]["fingerprint"], first["fingerprint"]);
    assert!(run_with(&["--force"]).status.success(), "--force runs it anyway");
}

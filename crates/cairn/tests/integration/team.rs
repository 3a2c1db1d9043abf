//! The team story: one server that requires sign-in; six engineers with their own
//! tokens and checkouts record runs through `cairn run` and MLflow's API; a seventh,
//! from a folder with an empty home and only `CAIRN_SERVER` and `CAIRN_TOKEN` set,
//! gets complete answers from every command, and none of them opens a store of its
//! own. An identical run of another engineer's is refused, naming them.

use crate::common::{BIN, TestServer, post_json};
use crate::run::git_in;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const TRAIN: &str = r#"import argparse, os, cairn
p = argparse.ArgumentParser()
p.add_argument("--aug", default="none")
p.add_argument("--lr", type=float, default=0.01)
a, _ = p.parse_known_args()
seed = int(os.environ.get("CAIRN_SEED", "0"))
base = {"none": 0.70, "mixup": 0.80, "cutout": 0.75}[a.aug]
run = cairn.init()
run.log({"val/acc": base + 0.01 * (seed % 3) - (0.05 if a.lr > 0.05 else 0.0)})
run.finish()
"#;

/// An engineer: a folder of their own (a copy of the team's repository, or empty), an
/// empty home, and their token.
struct Engineer {
    name: String,
    token: String,
    dir: PathBuf,
    home: PathBuf,
}

impl Engineer {
    /// `cairn <args>` as this engineer: nothing of the test's environment but what a
    /// team member sets (the server and their token).
    fn cairn(&self, url: &str, args: &[&str]) -> Output {
        let sdk = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk/python");
        Command::new(BIN)
            .args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("CAIRN_SERVER", url)
            .env("CAIRN_TOKEN", &self.token)
            .env("PYTHONPATH", sdk)
            .stdin(Stdio::null())
            .output()
            .expect("cannot run cairn")
    }

    fn ok(&self, url: &str, args: &[&str]) -> String {
        let out = self.cairn(url, args);
        assert!(
            out.status.success(),
            "{} `cairn {}` failed:\n{}{}",
            self.name,
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, url: &str, args: &[&str]) -> Value {
        let text = self.ok(url, args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("`cairn {}`: {e}: {text}", args.join(" ")))
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn six_engineers_record_and_a_seventh_gets_complete_answers_from_an_empty_folder() {
    let srv = TestServer::start_with_auth(&[]).await;
    let url = srv.url();
    let admin = srv.client();
    let root = tempfile::tempdir().unwrap();
    // The team's repository, with its training script committed.
    let repo = root.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("train.py"), TRAIN).unwrap();
    let git = git_in(&repo);
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "training script"]);

    let mut team = Vec::new();
    for i in 1..=7 {
        let name = format!("eng{i}");
        let body = json!({"name": name, "role": "editor", "password": format!("{name}-password")});
        let r = admin.post(srv.url_for("/api/v1/users")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
        // Each engineer's own token, as `cairn tokens create` makes it.
        let t: Value = post_json(
            &admin,
            srv.url_for("/api/v1/tokens"),
            &json!({"name": "laptop", "user": name, "scope": "write"}),
        )
        .await;
        let dir = root.path().join(format!("{name}-checkout"));
        if i <= 4 {
            copy_dir(&repo, &dir);
        } else {
            std::fs::create_dir_all(&dir).unwrap();
        }
        let home = root.path().join(format!("{name}-home"));
        std::fs::create_dir_all(&home).unwrap();
        team.push(Engineer { name, token: t["token"].as_str().unwrap().to_owned(), dir, home });
    }
    let run = |e: &Engineer, hypothesis: &str, seed: &str, extra: &[&str], flags: &[&str]| {
        let mut args = vec!["run", "--project", "team", "--hypothesis", hypothesis, "--seed", seed];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "python3", "train.py"]);
        args.extend_from_slice(flags);
        e.ok(&url, &args);
    };
    // Four engineers train through `cairn run`, each in their own checkout.
    run(&team[0], "baseline", "1", &[], &["--aug", "none"]);
    run(&team[0], "baseline", "2", &["--replicate"], &["--aug", "none"]);
    run(&team[1], "mixup helps", "1", &[], &["--aug", "mixup"]);
    run(&team[1], "mixup helps", "2", &["--replicate"], &["--aug", "mixup"]);
    run(&team[1], "mixup helps", "3", &["--replicate"], &["--aug", "mixup"]);
    run(&team[2], "cutout helps", "1", &[], &["--aug", "cutout"]);
    run(&team[3], "a larger lr", "1", &[], &["--aug", "none", "--lr", "0.1"]);
    // The same run as engineer 1's first, from engineer 3's checkout: refused, naming them.
    let mut args = vec!["run", "--project", "team", "--hypothesis", "again", "--seed", "1", "--"];
    args.extend_from_slice(&["python3", "train.py", "--aug", "none"]);
    let out = team[2].cairn(&url, &args);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already finished") && err.contains("by eng1"), "names the engineer who ran it: {err}");

    // Two engineers use MLflow's API: one with MLFLOW_TRACKING_TOKEN (a bearer token),
    // one with MLFLOW_TRACKING_USERNAME/PASSWORD (basic auth).
    let c = reqwest::Client::new();
    let exp: Value = c
        .get(srv.url_for("/api/2.0/mlflow/experiments/get-by-name?experiment_name=team"))
        .bearer_auth(&team[4].token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let experiment = exp["experiment"]["experiment_id"].as_str().unwrap().to_owned();
    // The client's clock is the run's: started a few minutes ago, so in this week's review.
    let t0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 - 300_000;
    for (e, aug, acc) in [(&team[4], "mixup", 0.82), (&team[5], "cutout", 0.76)] {
        let auth = |r: reqwest::RequestBuilder| {
            if e.name == "eng5" {
                r.bearer_auth(&e.token)
            } else {
                r.basic_auth(&e.name, Some(format!("{}-password", e.name)))
            }
        };
        let created: Value = auth(c.post(srv.url_for("/api/2.0/mlflow/runs/create")))
            .json(&json!({"experiment_id": experiment, "start_time": t0}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["run"]["info"]["run_id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
        let batch = json!({"run_id": id, "params": [{"key": "aug", "value": aug}],
                           "metrics": [{"key": "val/acc", "value": acc, "timestamp": t0, "step": 0}]});
        let r = auth(c.post(srv.url_for("/api/2.0/mlflow/runs/log-batch"))).json(&batch).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let done = json!({"run_id": id, "status": "FINISHED", "end_time": t0 + 100_000});
        let r = auth(c.post(srv.url_for("/api/2.0/mlflow/runs/update"))).json(&done).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    // The seventh engineer, from an empty folder: every answer is the server's, complete.
    let seventh = &team[6];
    let ls = seventh.json(&url, &["ls", "--project", "team", "--json"]);
    let runs = ls["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 9, "every run of the team: {ls}");
    let owners: std::collections::BTreeSet<&str> = runs.iter().map(|r| r["owner"].as_str().unwrap()).collect();
    assert_eq!(
        owners.into_iter().collect::<Vec<_>>(),
        ["eng1", "eng2", "eng3", "eng4", "eng5", "eng6"],
        "owners are the signed-in users"
    );
    let table = seventh.ok(&url, &["ls", "--project", "team"]);
    assert!(table.contains("replicates") && table.lines().count() >= 10, "{table}");

    let tried = seventh.json(&url, &["tried", "aug", "--project", "team", "--json"]);
    assert_eq!(tried["metric"], "val/acc", "the project's only metric judges: {tried}");
    let values = tried["values"].as_array().unwrap();
    let mixup = values.iter().find(|v| v["value"] == "mixup").unwrap();
    assert_eq!(mixup["runs"], 4, "three `cairn run`s and one MLflow run: {mixup}");
    assert!(mixup["owners"].as_array().unwrap().iter().any(|o| o == "eng5"));
    assert_eq!(mixup["n"], 4);
    assert!(mixup["ci95"].is_array());
    let text = seventh.ok(&url, &["tried", "aug", "--project", "team"]);
    assert!(text.contains("judged by val/acc") && text.contains("eng2"), "{text}");

    // Runs named by id: the project comes from them.
    let by_aug = |aug: &str| -> String {
        runs.iter()
            .find(|r| r["config"]["aug"] == aug && r["owner"] != "eng5" && r["owner"] != "eng6")
            .map(|r| r["short_id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let (none, mixup_run) = (by_aug("none"), by_aug("mixup"));
    let cmp = seventh.json(&url, &["compare", &none, &mixup_run, "--metric", "val/acc", "--json"]);
    assert_eq!(cmp["project"], "team");
    assert_eq!(cmp["candidates"][0]["n"], 3, "the candidate's replicate group: {cmp}");
    assert_eq!(cmp["candidates"][0]["verdict"], "better");
    let text = seventh.ok(&url, &["compare", &none, &mixup_run, "--metric", "val/acc"]);
    assert!(text.contains("better"), "{text}");

    let insights = seventh.json(&url, &["insights", "--project", "team", "--metric", "val/acc", "--json"]);
    assert_eq!(insights["analysed"], 9, "{insights}");
    let review = seventh.json(&url, &["review", "weekly", "--project", "team", "--json"]);
    assert_eq!(review["runs"], 9, "the week's runs: {review}");
    let md = seventh.ok(&url, &["review", "weekly", "--project", "team"]);
    assert!(md.starts_with('#'), "Markdown: {md}");

    let shown = seventh.ok(&url, &["show", &mixup_run]);
    assert!(shown.contains("mixup helps") && shown.contains("eng2") && shown.contains("replicates"), "{shown}");
    let diffed = seventh.json(&url, &["diff", &none, &mixup_run, "--json"]);
    assert!(diffed["config"].as_array().unwrap().iter().any(|r| r["key"] == "aug"), "{diffed}");
    let projects = seventh.ok(&url, &["projects"]);
    assert!(projects.contains("team"), "{projects}");
    let me = seventh.json(&url, &["whoami", "--json"]);
    assert_eq!(me["user"]["name"], "eng7");
    let models = seventh.ok(&url, &["models"]);
    assert!(models.contains("No registered models"), "{models}");
    let report = seventh.ok(&url, &["report", "--project", "team"]);
    assert!(report.contains("No studies"), "{report}");
    // Settings need the project's admin: the server says so, and nothing changes.
    let out = seventh.cairn(&url, &["projects", "set", "team", "--primary-metric", "val/acc"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs admin"), "{}", String::from_utf8_lossy(&out.stderr));
    // A spreadsheet import lands on the server, not in this folder.
    let csv = seventh.dir.join("history.csv");
    std::fs::write(&csv, "name,lr,aug,val_acc\nold-1,0.01,none,0.69\nold-2,0.01,mixup,0.79\n").unwrap();
    let imported =
        seventh.ok(&url, &["import", "csv", "history.csv", "--project", "history", "--map", "val_acc=metrics.val/acc"]);
    assert!(imported.contains(&url) && imported.contains("2 run(s) created"), "{imported}");
    let h = seventh.json(&url, &["ls", "--project", "history", "--json"]);
    assert_eq!(h["runs"].as_array().unwrap().len(), 2);
    assert!(
        h["runs"].as_array().unwrap().iter().all(|r| r["owner"] == "eng7"),
        "imports without an owner column are the importer's: {h}"
    );
    let status = seventh.ok(&url, &["server", "status"]);
    assert!(status.contains(&url) && status.contains("required"), "{status}");

    // Nothing of the team's record was written in the seventh engineer's folder or home.
    for place in [&seventh.dir, &seventh.home] {
        let found: Vec<String> =
            walk(place).into_iter().filter(|p| p.ends_with("cairn.db") || p.ends_with("server.json")).collect();
        assert!(found.is_empty(), "a local store or server appeared: {found:?}");
    }
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

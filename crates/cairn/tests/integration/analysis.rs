//! `cairn compare`: verdicts with intervals and p-values that match SciPy's on the same
//! numbers (`crates/cairn-analysis/reference/reference.json`).

use crate::common::{TestServer, cairn, post_json};
use serde_json::{Value, json};

const REFERENCE: &str = include_str!("../../../cairn-analysis/reference/reference.json");

/// Creates a finished run in project `p` with `val_acc` (unless `None`), in `group`.
async fn run_with(srv: &TestServer, group: Option<&str>, seed: u64, acc: Option<f64>) -> String {
    let c = srv.client();
    let body = json!({"project": "p", "hypothesis": "h", "group_id": group, "seeds": [seed],
                      "config": {"seed": seed}});
    let run = post_json(&c, srv.url_for("/api/v1/runs"), &body).await;
    let id = run["short_id"].as_str().unwrap_or_else(|| panic!("{run}")).to_owned();
    if let Some(acc) = acc {
        let points = json!({"points": [{"key": "val_acc", "step": 0, "value": acc}]});
        post_json(&c, srv.url_for(&format!("/api/v1/runs/{id}/metrics")), &points).await;
    }
    post_json(&c, srv.url_for(&format!("/api/v1/runs/{id}/finish")), &json!({})).await;
    id
}

fn close(got: &Value, want: &Value, what: &str) {
    let (g, w) = (got.as_f64().unwrap(), want.as_f64().unwrap());
    assert!((g - w).abs() <= 1e-9 * w.abs().max(1.0), "{what}: cairn {g}, SciPy {w}");
}

#[tokio::test]
async fn compare_gives_scipys_figures_and_a_verdict() {
    let srv = TestServer::start(&[], &[]).await;
    let home = srv.home();
    let reference: Value = serde_json::from_str(REFERENCE).unwrap();
    let sample = |name: &str| -> Vec<f64> {
        reference["samples"][name].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
    };
    let mut first = std::collections::BTreeMap::new();
    // Group s: the same setup as a, other seeds (its values close to a's).
    let similar = vec![0.815, 0.83, 0.795, 0.85, 0.83];
    for (group, values) in
        [("replicates-a", sample("acc_a")), ("replicates-b", sample("acc_b")), ("replicates-s", similar)]
    {
        for (i, v) in values.into_iter().enumerate() {
            let id = run_with(&srv, Some(group), i as u64, Some(v)).await;
            first.entry(group).or_insert(id);
        }
    }
    // A run of group a that logged nothing: left out and counted, not a zero.
    run_with(&srv, Some("replicates-a"), 99, None).await;
    let out = cairn(home, &["projects", "set", "p", "--primary-metric", "val_acc"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // b against a: Welch's test, as SciPy's ttest_ind(acc_b, acc_a, equal_var=False).
    let out = cairn(home, &["compare", "--project", "p", &first["replicates-a"], &first["replicates-b"], "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = &reference["pairs"][0]["t_tests"]["0.95"]["welch"];
    assert_eq!(
        (reference["pairs"][0]["a"].as_str(), reference["pairs"][0]["b"].as_str()),
        (Some("acc_b"), Some("acc_a"))
    );
    let cand = &doc["candidates"][0];
    let c = &cand["comparison"];
    assert_eq!((c["n_candidate"].as_u64(), c["n_reference"].as_u64()), (Some(5), Some(5)));
    assert_eq!(doc["reference"]["missing"], 1, "the run without a value is counted");
    close(&c["p"], &want["p"], "p");
    close(&c["ci"][0], &want["ci"][0], "ci low");
    close(&c["ci"][1], &want["ci"][1], "ci high");
    assert_eq!((cand["verdict"].as_str(), c["method"].as_str()), (Some("better"), Some("welch")));
    assert_eq!(doc["correction"], Value::Null);
    // The UI's compare view asks the API, and gets the same figures.
    let url = srv.url_for(&format!(
        "/api/v1/projects/p/compare?reference={}&candidates={}",
        first["replicates-a"], first["replicates-b"]
    ));
    let api: Value = srv.client().get(url).send().await.unwrap().json().await.unwrap();
    close(&api["candidates"][0]["comparison"]["p"], &want["p"], "p through the API");
    assert_eq!(api["candidates"][0]["n"], 5);
    assert!(api["reference"]["ci"].is_array() && api["reference"]["sd"].is_number(), "{api}");

    // Two candidates: Holm-corrected; the unchanged setup is noise and says how many runs would tell.
    let args = ["compare", "--project", "p", &first["replicates-a"], &first["replicates-b"], &first["replicates-s"]];
    let out = cairn(home, &[&args[..], &["--json"]].concat());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["correction"], "holm");
    let p1 = doc["candidates"][0]["comparison"]["p"].as_f64().unwrap();
    let p2 = doc["candidates"][1]["comparison"]["p"].as_f64().unwrap();
    let (lo, hi) = if p1 < p2 { (p1, p2) } else { (p2, p1) };
    let adjusted_small = (2.0 * lo).min(1.0);
    let first_adj = doc["candidates"][if p1 < p2 { 0 } else { 1 }]["p_adjusted"].as_f64().unwrap();
    assert!((first_adj - adjusted_small).abs() < 1e-12);
    assert!(doc["candidates"][if p1 < p2 { 1 } else { 0 }]["p_adjusted"].as_f64().unwrap() >= hi);
    let text = String::from_utf8_lossy(&cairn(home, &args).stdout).into_owned();
    assert!(text.contains("Holm"), "{text}");
    assert!(text.contains("Noise floor"), "{text}");

    // Single runs: judged against the project's noise floor (pooled from its groups).
    let x = run_with(&srv, None, 1, Some(0.95)).await;
    let y = run_with(&srv, None, 2, Some(0.80)).await;
    let out = cairn(home, &["compare", "--project", "p", &y, &x, "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &doc["candidates"][0]["comparison"];
    assert_eq!((c["method"].as_str(), doc["candidates"][0]["verdict"].as_str()), (Some("noise_floor"), Some("better")));
    assert_eq!(doc["noise_floor"]["groups"], 3);

    // The weekly review: the better group stands out against the baseline.
    let out = cairn(home, &["baseline", "set", &first["replicates-a"], "--project", "p"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cairn(home, &["review", "weekly", "--project", "p", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let review: Value = serde_json::from_slice(&out.stdout).unwrap();
    let improved: Vec<String> = review["improvements"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["runs"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()))
        .collect();
    // The single 0.95 run is far above the baseline; group b (raw p 0.033) does not
    // survive Holm's correction over the week's four candidates.
    assert!(improved.contains(&x), "{review}");
    assert!(!improved.contains(&first["replicates-b"]), "{review}");
    assert!(!improved.contains(&first["replicates-s"]), "the unchanged setup is noise: {review}");
    assert_eq!(review["baseline"].as_str().map(|b| b.contains(&first["replicates-a"])), Some(true));
    let md = String::from_utf8_lossy(&cairn(home, &["review", "weekly", "--project", "p", "--markdown"]).stdout)
        .into_owned();
    assert!(md.starts_with("# Weekly review: p") && md.contains("## Improvements over the baseline"), "{md}");

    // Bad input says what is wrong.
    let out = cairn(home, &["compare", "--project", "p", &x, "zzzzzzzz"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run 'zzzzzzzz'"));
    let out = cairn(home, &["compare", "--project", "p", &x, &y, "--metric", "nothing"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no finished run with a value of 'nothing'"));
}

/// Runs `cairn <args>` like `cairn()`, with the Python SDK importable.
fn cairn_sdk(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    let sdk = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk/python");
    crate::common::command(home).env("PYTHONPATH", sdk).args(args).output().unwrap()
}

#[tokio::test]
async fn a_baseline_is_re_evaluated_and_drift_is_reported() {
    let srv = TestServer::start(&[], &[]).await;
    let home = srv.home();
    std::fs::create_dir_all(home.join("data")).unwrap();
    std::fs::write(home.join("data/level.txt"), "0.80").unwrap();
    // The result depends on the data and the seed; "broken" data makes the script fail.
    let script = "import os, cairn\n\
        text = open('data/level.txt').read().strip()\n\
        if text == 'broken': raise SystemExit('cannot parse the data')\n\
        r = cairn.init(); r.log({'acc': float(text) + 0.001 * int(os.environ['CAIRN_SEED'])}); r.finish()";
    for (seed, extra) in [("1", None), ("2", Some("--replicate")), ("3", Some("--replicate"))] {
        let mut args = vec!["run", "--project", "b", "--hypothesis", "h", "--seed", seed, "--data", "data"];
        args.extend(extra);
        args.extend(["--", "python3", "-c", script]);
        let out = cairn_sdk(home, &args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let ls: Value = serde_json::from_slice(&cairn(home, &["ls", "--project", "b", "--json"]).stdout).unwrap();
    let first = ls["runs"].as_array().unwrap().last().unwrap()["short_id"].as_str().unwrap().to_owned();
    assert!(cairn(home, &["projects", "set", "b", "--primary-metric", "acc"]).status.success());

    let out = cairn(home, &["baseline", "--project", "b"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("has no baseline"));
    let out = cairn(home, &["baseline", "set", &first, "--project", "b", "--note", "v1 model"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 run(s)"), "the whole replicate group");

    // Same conditions: no drift, and the new runs are children of the baseline.
    let out = cairn_sdk(home, &["baseline", "reeval", "--project", "b", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(&stdout[stdout.find("{\n").unwrap()..]).unwrap();
    assert_eq!(doc["runs"].as_array().unwrap().len(), 3);
    assert!(doc["summary"].as_str().unwrap().starts_with("no drift"), "{doc}");
    let child: Value =
        serde_json::from_slice(&cairn(home, &["show", doc["runs"][0].as_str().unwrap(), "--json"]).stdout).unwrap();
    assert!(
        child["parents"].as_array().is_some_and(|p| !p.is_empty())
            || child["lineage"]["parents"].as_array().is_some_and(|p| !p.is_empty()),
        "{child}"
    );

    // The data changed: drift, and the data is named as a changed condition.
    std::fs::write(home.join("data/level.txt"), "0.70").unwrap();
    let out = cairn_sdk(home, &["baseline", "reeval", "--project", "b", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(&stdout[stdout.find("{\n").unwrap()..]).unwrap();
    assert!(doc["summary"].as_str().unwrap().starts_with("DRIFT: today's baseline is worse"), "{doc}");
    let conditions = doc["conditions_changed"].to_string();
    assert!(conditions.contains("data data"), "{conditions}");
    // One run named: compared with the baseline.
    let drifted = doc["runs"][0].as_str().unwrap();
    let out = cairn(home, &["compare", drifted, "--project", "b", "--json"]);
    let cmp: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert!(cmp["reference"]["label"].as_str().unwrap().starts_with("baseline"), "{cmp}");
    assert_eq!(cmp["reference"]["n"], 3, "the recorded runs, not the re-evaluations");
    let shown = String::from_utf8_lossy(&cairn(home, &["baseline", "--project", "b"]).stdout).into_owned();
    assert!(shown.contains("DRIFT") && shown.contains("v1 model"), "{shown}");

    // A baseline that no longer runs is a failure, not drift.
    std::fs::write(home.join("data/level.txt"), "broken").unwrap();
    let out = cairn_sdk(home, &["baseline", "reeval", "--project", "b", "--runs", "1"]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("the baseline no longer runs") && !stdout.contains("DRIFT"), "{stdout}");
}

#[tokio::test]
async fn insights_rank_parameters_and_name_underperformers() {
    let srv = TestServer::start(&[], &[]).await;
    let home = srv.home();
    let c = srv.client();
    // acc depends strongly on lr, "broken" augmentation hurts, width does nothing.
    let augs = ["none", "mixup", "broken"];
    for i in 0..48u32 {
        let lr = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2][(i % 6) as usize];
        let aug = augs[(i / 6 % 3) as usize];
        let width = [16, 32, 64, 128][(i / 18 % 4) as usize];
        let wiggle = f64::from(i % 5) * 0.002;
        let acc = 0.9 - 0.08 * (f64::log10(lr) + 3.0).powi(2) - if aug == "broken" { 0.1 } else { 0.0 } + wiggle;
        let body = json!({"project": "ins", "hypothesis": "h", "config": {"lr": lr, "aug": aug, "width": width, "epochs": 10}});
        let run = post_json(&c, srv.url_for("/api/v1/runs"), &body).await;
        let id = run["id"].as_str().unwrap().to_owned();
        post_json(
            &c,
            srv.url_for(&format!("/api/v1/runs/{id}/metrics")),
            &json!({"points": [{"key": "acc", "step": 0, "value": acc}]}),
        )
        .await;
        post_json(&c, srv.url_for(&format!("/api/v1/runs/{id}/finish")), &json!({})).await;
    }
    // A run without the metric is left out and counted.
    let run = post_json(&c, srv.url_for("/api/v1/runs"), &json!({"project": "ins", "hypothesis": "h"})).await;
    post_json(&c, srv.url_for(&format!("/api/v1/runs/{}/finish", run["id"].as_str().unwrap())), &json!({})).await;

    let out = cairn(home, &["insights", "--project", "ins", "--metric", "acc", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((doc["analysed"].as_u64(), doc["excluded"].as_u64()), (Some(48), Some(1)));
    let ranked: Vec<&str> =
        doc["insights"]["importance"].as_array().unwrap().iter().map(|i| i["param"].as_str().unwrap()).collect();
    assert_eq!(ranked, vec!["lr", "aug", "width"], "{doc}");
    assert_eq!(doc["insights"]["importance"][0]["scale"], "log");
    assert_eq!(doc["insights"]["left_out"], json!(["epochs"]));
    let under: Vec<(&str, &str)> = doc["insights"]["underperformers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["param"].as_str().unwrap(), u["value"].as_str().unwrap()))
        .collect();
    assert!(under.contains(&("aug", "broken")), "{under:?}");
    assert!(!under.iter().any(|(p, v)| *p == "aug" && *v != "broken"), "{under:?}");
    assert!(!under.iter().any(|(p, _)| *p == "width"), "{under:?}");
    // The same through the API, for the UI.
    let api: Value =
        c.get(srv.url_for("/api/v1/projects/ins/insights?metric=acc")).send().await.unwrap().json().await.unwrap();
    assert_eq!(api["insights"]["importance"][0]["param"], "lr");
    let text =
        String::from_utf8_lossy(&cairn(home, &["insights", "--project", "ins", "--metric", "acc"]).stdout).into_owned();
    assert!(text.contains("What matters") && text.contains("aug = broken"), "{text}");
    let out = cairn(home, &["insights", "--project", "ins"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no primary metric"));
}

const TRAIN: &str = "import argparse, os, cairn\n\
p = argparse.ArgumentParser()\n\
p.add_argument('--lr', type=float, default=0.01)\n\
p.add_argument('--aug', default='none')\n\
a = p.parse_args()\n\
seed = int(os.environ.get('CAIRN_SEED', '0'))\n\
low, mix = a.lr < 0.005, a.aug == 'mixup'\n\
acc = 0.80 + 0.05 * low + 0.03 * mix + 0.02 * (low and mix) + 0.001 * seed\n\
r = cairn.init(); r.log({'acc': acc}); r.finish()\n";

fn json_out(out: &std::process::Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let start =
        text.find('{').unwrap_or_else(|| panic!("no JSON in {text}\nstderr: {}", String::from_utf8_lossy(&out.stderr)));
    serde_json::from_str(&text[start..]).unwrap()
}

#[tokio::test]
async fn ablation_and_factorial_studies_run_and_report() {
    let srv = TestServer::start(&[], &[]).await;
    let home = srv.home();
    std::fs::write(home.join("train.py"), TRAIN).unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--project", "s", "--hypothesis", "h", "--seed", "1", "--study", "setup"];
        all.extend_from_slice(args);
        let out = cairn_sdk(home, &all);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["--", "python3", "train.py", "--lr", "0.01", "--aug", "none"]);
    run(&["--", "python3", "train.py", "--lr", "0.001", "--aug", "mixup"]);
    let ls: Value = serde_json::from_slice(&cairn(home, &["ls", "--project", "s", "--json"]).stdout).unwrap();
    let ids: Vec<&str> = ls["runs"].as_array().unwrap().iter().map(|r| r["short_id"].as_str().unwrap()).collect();
    let (cand, base) = (ids[0], ids[1]);

    let out = cairn_sdk(
        home,
        &["ablate", base, cand, "--project", "s", "--seeds", "2", "--parallel", "2", "--metric", "acc", "--json"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 run(s) the project already has, 10 to run"), "{stderr}");
    let r = json_out(&out);
    let a = &r["ablation"];
    let by_change: std::collections::BTreeMap<String, &Value> =
        a["changes"].as_array().unwrap().iter().map(|c| (c["change"].as_str().unwrap().to_owned(), c)).collect();
    let near = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-9;
    let aug = by_change.iter().find(|(k, _)| k.starts_with("aug")).unwrap().1;
    let lr = by_change.iter().find(|(k, _)| k.starts_with("lr")).unwrap().1;
    assert!(near(&aug["added"]["diff"], 0.03), "{aug}");
    assert!(near(&lr["added"]["diff"], 0.05), "{lr}");
    assert!(near(&aug["removed"]["diff"], 0.05), "{aug}");
    assert!(near(&a["joint"]["diff"], 0.10), "{a}");
    assert!(near(&a["interaction"], 0.02) && a["interaction_detected"] == true, "{a}");
    // The report can be printed again.
    let again = cairn(home, &["report", &format!("ablate-{base}-{cand}"), "--project", "s", "--metric", "acc"]);
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(text.contains("added alone to the base") && text.contains("the changes interact"), "{text}");
    // No differences: nothing to ablate.
    let out = cairn(home, &["ablate", base, base, "--project", "s"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to ablate"));

    let out = cairn_sdk(
        home,
        &[
            "design",
            "factorial",
            "--factor",
            "aug=none,mixup",
            "--factor",
            "lr=0.01,0.001",
            "--replicates",
            "2",
            "--parallel",
            "2",
            "--project",
            "s",
            "--metric",
            "acc",
            "--json",
            "--",
            "python3",
            "train.py",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json_out(&out);
    let f = &r["factorial"];
    assert_eq!(f["n"], 8);
    let effect = |term: &str| {
        f["effects"].as_array().unwrap().iter().find(|e| e["term"] == term).unwrap_or_else(|| panic!("{term}: {f}"))["estimate"].as_f64().unwrap()
    };
    assert!((effect("aug: none → mixup") - 0.04).abs() < 1e-9, "{f}");
    assert!((effect("lr: 0.01 → 0.001") - 0.06).abs() < 1e-9, "{f}");
    assert!((effect("aug × lr") - 0.01).abs() < 1e-9, "{f}");
    let table = f["table"].as_array().unwrap();
    assert_eq!(
        table.iter().map(|t| t["term"].as_str().unwrap()).collect::<Vec<_>>(),
        vec!["aug", "lr", "aug × lr", "residual"]
    );
    // Both studies, with their reports, through the API (the UI's waterfall and effect plots).
    let api: Value = srv
        .client()
        .get(srv.url_for("/api/v1/projects/s/studies?metric=acc"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> =
        api["studies"].as_array().unwrap().iter().map(|r| r["study"]["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["factorial", "ablation"], "newest first");
    assert_eq!(api["studies"][1]["ablation"]["changes"].as_array().unwrap().len(), 2);
    // Bad designs are refused with the reason.
    let out =
        cairn(home, &["design", "factorial", "--factor", "aug=none", "--project", "s", "--", "python3", "train.py"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("has one level"));
    let out = cairn(
        home,
        &[
            "design",
            "factorial",
            "--factor",
            "a=x,y",
            "--factor",
            "b=x,y",
            "--fraction",
            "1/2",
            "--project",
            "s",
            "--",
            "true",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("too few runs"));
}

//! `cairn import csv`: spreadsheets of past experiments, all-or-nothing, idempotent.

use crate::common::cairn;

#[test]
fn a_spreadsheet_imports_once_with_its_mapping_and_bad_rows_stop_it() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let file = home.join("experiments.csv");
    std::fs::write(
        &file,
        "Experiment,learning rate,Augmentation,Val Acc,Who,Date,Notes\n\
         baseline,0.01,none,0.81,ana,2024-03-01,first try\n\
         mixup,0.01,mixup,83%,ben,2024-03-04,\n\
         big lr,0.1,none,oops,ana,2024-03-05,diverged\n\
         late,0.01,flip,0.84,ana,sometime,\n",
    )
    .unwrap();
    let out = cairn(home, &["import", "csv", file.to_str().unwrap(), "--project", "legacy"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("experiments.csv:4: column 'Val Acc': 'oops' is not a number"), "{err}");
    assert!(err.contains("experiments.csv:5: column 'Date': 'sometime' is not a date"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    let listed = String::from_utf8_lossy(&cairn(home, &["ls", "--json"]).stdout).into_owned();
    assert!(listed.contains("\"runs\": []"), "nothing half-imported: {listed}");

    // Fix the rows, preview with an explicit mapping, then import.
    let text = std::fs::read_to_string(&file).unwrap().replace("oops", "0.42").replace("sometime", "2024-03-07");
    std::fs::write(&file, text).unwrap();
    let map = "learning rate=params.lr,Val Acc=metrics.val_acc,Who=owner,Date=created,Notes=description";
    let args = ["import", "csv", file.to_str().unwrap(), "--project", "legacy", "--map", map];
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let out = cairn(home, &dry);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let preview = String::from_utf8_lossy(&out.stdout);
    assert!(preview.contains("4 run(s) would be imported") && preview.contains("Nothing was imported"), "{preview}");
    let mapping = String::from_utf8_lossy(&out.stderr);
    assert!(mapping.contains("Augmentation") && mapping.contains("params.augmentation"), "guessed: {mapping}");
    // Each column has one type, shown in the preview.
    let line = |col: &str| mapping.lines().find(|l| l.starts_with(col)).unwrap_or("").to_owned();
    assert!(line("learning rate").contains("number"), "{mapping}");
    assert!(line("Augmentation").contains("text"), "{mapping}");
    assert!(line("Date").contains("time"), "{mapping}");
    let listed = String::from_utf8_lossy(&cairn(home, &["ls", "--json"]).stdout).into_owned();
    assert!(listed.contains("\"runs\": []"), "a dry run imports nothing");

    let out = cairn(home, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 run(s) created"));
    let out = cairn(home, &args);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 run(s) created, 0 updated, 4 unchanged"), "idempotent");

    let runs: serde_json::Value = serde_json::from_slice(
        &cairn(home, &["ls", "--project", "legacy", "--sort", "metrics.val_acc desc", "--json"]).stdout,
    )
    .unwrap();
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    let top = &runs[0];
    assert_eq!((top["name"].as_str(), top["owner"].as_str()), (Some("late"), Some("ana")));
    assert_eq!(top["config"]["augmentation"], "flip");
    let mixup = runs.iter().find(|r| r["name"] == "mixup").unwrap();
    assert_eq!(mixup["metrics"][0]["last"], 0.83, "83% reads as 0.83");
    let baseline = runs.iter().find(|r| r["name"] == "baseline").unwrap();
    assert_eq!(baseline["description"], "first try");
    assert_eq!(baseline["created_at"], 1_709_251_200_000i64, "2024-03-01 UTC");
    assert_eq!(baseline["config"]["lr"], 0.01);

    let out = cairn(home, &["import", "csv", file.to_str().unwrap(), "--project", "legacy", "--map", "Nope=skip"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--map names the column 'Nope'"));
}

/// An MLflow file store of 1,500 runs goes in two requests, the second sent while the
/// first is still being written; children in the second whose parents are in the first
/// still get their parent (the second waits for the first), and importing again changes
/// nothing.
#[test]
fn a_large_mlruns_folder_keeps_parents_across_batches() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let exp = home.join("mlruns").join("1");
    std::fs::create_dir_all(&exp).unwrap();
    std::fs::write(exp.join("meta.yaml"), "experiment_id: '1'\nname: sweeps\nlifecycle_stage: active\n").unwrap();
    let id = |i: u32| format!("{:032x}", 0xabc0_0000_u64 + u64::from(i));
    for i in 0..1_500u32 {
        let dir = exp.join(id(i));
        std::fs::create_dir_all(dir.join("tags")).unwrap();
        std::fs::create_dir_all(dir.join("params")).unwrap();
        std::fs::write(
            dir.join("meta.yaml"),
            format!(
                "run_id: {}\nrun_name: trial-{i}\nuser_id: ana\nstatus: 3\nstart_time: {}\nend_time: {}\n\
                 lifecycle_stage: active\n",
                id(i),
                1_700_000_000_000u64 + u64::from(i),
                1_700_000_000_500u64 + u64::from(i)
            ),
        )
        .unwrap();
        std::fs::write(dir.join("params").join("lr"), format!("0.{i}")).unwrap();
        // Runs 1,000 and later (the second request) are children of runs in the first.
        if i >= 1_000 {
            std::fs::write(dir.join("tags").join("mlflow.parentRunId"), id(i - 600)).unwrap();
        }
    }
    let mlruns = home.join("mlruns");
    let out = cairn(home, &["import", "mlflow", mlruns.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1500 run(s) created"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for child in [1_000u32, 1_499] {
        let shown: serde_json::Value =
            serde_json::from_slice(&cairn(home, &["show", &id(child), "--json"]).stdout).unwrap();
        let parents = shown["lineage"]["parents"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            parents.first().and_then(|p| p["id"].as_str()).map(|p| p.replace('-', "")),
            Some(id(child - 600)),
            "trial-{child} keeps its parent: {}",
            shown["lineage"]
        );
    }
    let out = cairn(home, &["import", "mlflow", mlruns.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 run(s) created, 0 updated, 1500 unchanged"),
        "idempotent: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

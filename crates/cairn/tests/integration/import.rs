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

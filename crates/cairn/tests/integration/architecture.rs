//! ARCHITECTURE.md's dependency directions are the workspace's: each crate's workspace
//! dependencies, as `cargo metadata` reports them, are exactly the ones the document's
//! `deps` block lists.

use std::collections::{BTreeMap, BTreeSet};

fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../ARCHITECTURE.md")).unwrap();
    let block =
        doc.split("```deps\n").nth(1).and_then(|b| b.split("```").next()).expect("ARCHITECTURE.md has a deps block");
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (name, deps) = l.split_once(':').expect("`crate: deps…` lines");
            (name.trim().to_owned(), deps.split_whitespace().map(str::to_owned).collect())
        })
        .collect()
}

fn actual() -> BTreeMap<String, BTreeSet<String>> {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("cannot run cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let members: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .filter_map(|d| d["name"].as_str())
                .filter(|n| members.contains(n))
                .map(str::to_owned)
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

#[test]
fn the_documented_dependency_directions_are_the_workspaces() {
    let (doc, real) = (documented(), actual());
    let mut wrong = vec![];
    for (name, deps) in &real {
        match doc.get(name) {
            None => wrong.push(format!("{name} is not in ARCHITECTURE.md's deps block")),
            Some(d) if d != deps => wrong.push(format!(
                "{name}: documented {:?}, cargo says {:?}",
                d.iter().collect::<Vec<_>>(),
                deps.iter().collect::<Vec<_>>()
            )),
            _ => {}
        }
    }
    for name in doc.keys().filter(|n| !real.contains_key(*n)) {
        wrong.push(format!("{name} is documented but is not a workspace crate"));
    }
    assert!(wrong.is_empty(), "ARCHITECTURE.md is stale:\n{}", wrong.join("\n"));
}

#[test]
fn only_the_binary_and_the_benches_reach_concrete_backends() {
    let backends = ["cairn-store-sqlite", "cairn-store-postgres", "cairn-store-sql"];
    for (name, deps) in actual() {
        if name == "cairn" || name == "cairn-bench" || backends.contains(&name.as_str()) {
            continue;
        }
        for b in backends {
            assert!(!deps.contains(b), "{name} depends on the backend {b}: only the binary picks backends");
        }
    }
}

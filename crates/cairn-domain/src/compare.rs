//! How runs relate by what they are: the fingerprint (runs that share one differ at
//! most by seed) and the changes between a run and the run it is compared with (its
//! parent, or the most similar earlier run), which is what flags "four changes at once".

use crate::{CodeInfo, Config, DataInfo, NewRun, Run};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Config keys that only choose a seed: they do not make a run different.
pub fn is_seed_key(key: &str) -> bool {
    let k = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    k == "seed" || k == "seeds" || k.ends_with("_seed") || k == "random_state"
}

/// The parts of a run that say what it is, borrowed from a stored or a new run.
#[derive(Debug, Clone, Copy)]
pub struct RunFacts<'a> {
    pub config: &'a Config,
    pub command: &'a [String],
    pub code: Option<&'a CodeInfo>,
    pub data: Option<&'a DataInfo>,
    pub environment: Option<&'a Value>,
}

impl<'a> From<&'a Run> for RunFacts<'a> {
    fn from(r: &'a Run) -> Self {
        RunFacts {
            config: &r.config,
            command: &r.command,
            code: r.code.as_ref(),
            data: r.data.as_ref(),
            environment: r.environment.as_ref(),
        }
    }
}

impl<'a> From<&'a NewRun> for RunFacts<'a> {
    fn from(r: &'a NewRun) -> Self {
        RunFacts {
            config: &r.config,
            command: &r.command,
            code: r.code.as_ref(),
            data: r.data.as_ref(),
            environment: r.environment.as_ref(),
        }
    }
}

/// The config's leaves (dot-joined keys) without seed keys.
fn params_without_seeds(config: &Config) -> BTreeMap<String, Value> {
    let mut all = flat_params(config);
    all.retain(|k, _| !is_seed_key(k));
    all
}

/// The command with seed flags (`--seed 3`, `--seed=3`) left out.
fn command_without_seeds(command: &[String]) -> Vec<&str> {
    let mut out = Vec::new();
    let mut skip = false;
    for a in command {
        if skip {
            skip = false;
            continue;
        }
        match a.strip_prefix("--") {
            Some(flag) if is_seed_key(flag.split('=').next().unwrap_or("")) => skip = !flag.contains('='),
            _ => out.push(a.as_str()),
        }
    }
    out
}

fn packages(env: Option<&Value>) -> BTreeMap<String, String> {
    env.and_then(|e| e["python"]["packages"].as_array())
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|p| match p.split_once("==") {
            Some((n, v)) => (n.to_ascii_lowercase(), v.to_owned()),
            None => (p.to_ascii_lowercase(), String::new()),
        })
        .collect()
}

/// A hash of what makes a run what it is: code (commit, uncommitted diff, untracked
/// sources), data hashes, the config without seeds, the command without seed flags,
/// and the Python packages. Two runs with the same fingerprint differ at most by seed.
pub fn fingerprint(run: RunFacts<'_>) -> String {
    let code = run.code.cloned().unwrap_or_default();
    let identity = json!({
        "code": {"commit": code.commit, "untracked": code.untracked},
        "diff": code.diff_hash,
        "data": run.data.map(|d| d.datasets.iter().map(|x| x.hash.clone()).collect::<Vec<_>>()),
        "config": params_without_seeds(run.config),
        "command": command_without_seeds(run.command),
        "packages": run.environment.map(|e| e["python"]["packages"].clone()).unwrap_or(Value::Null),
    });
    // serde_json maps are sorted by key, so this text is canonical.
    let text = identity.to_string();
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

/// The replicate group of runs sharing a fingerprint.
pub fn replicate_group(fingerprint: &str) -> String {
    format!("replicates-{}", &fingerprint[..fingerprint.len().min(16)])
}

/// Why a run is compared with another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeBasis {
    /// The run's first declared parent.
    Parent,
    /// No parent was given: the most similar earlier run in the project.
    Nearest,
}

/// One parameter that differs; a missing side means the key was added or removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamChange {
    pub key: String,
    #[serde(default)]
    pub before: Option<Value>,
    #[serde(default)]
    pub after: Option<Value>,
}

/// The code differs: a different commit and/or different uncommitted changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeChange {
    #[serde(default)]
    pub commit_before: Option<String>,
    #[serde(default)]
    pub commit_after: Option<String>,
    /// Files touched, as far as the records (and, from `cairn run`, git) can tell.
    #[serde(default)]
    pub files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataChange {
    pub path: String,
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
}

/// Something about where the run ran that differs (not counted as a variable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvChange {
    pub what: String,
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
}

/// What differs between a run and the run it is compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunChanges {
    /// The run compared with (its id) and its short id, for people.
    pub against: String,
    pub against_short_id: String,
    pub basis: ChangeBasis,
    #[serde(default)]
    pub params: Vec<ParamChange>,
    #[serde(default, deserialize_with = "crate::serde_object::option")]
    pub code: Option<CodeChange>,
    #[serde(default)]
    pub data: Vec<DataChange>,
    #[serde(default)]
    pub environment: Vec<EnvChange>,
    /// Positional arguments of the command (the script, sub-commands) that differ.
    #[serde(default, deserialize_with = "crate::serde_object::option")]
    pub command: Option<ParamChange>,
}

impl RunChanges {
    /// Changes a client sends name the run they were worked out against by its ids.
    pub fn validate(&self) -> Result<(), crate::DomainError> {
        if crate::RunId::parse(&self.against).is_none() {
            return Err(crate::DomainError::invalid(
                "changes.against",
                format!("'{}' is not a run id (32 hex digits)", self.against),
            ));
        }
        if crate::ShortId::parse(&self.against_short_id).is_none() {
            return Err(crate::DomainError::invalid(
                "changes.against_short_id",
                format!("'{}' is not a short id (8 characters)", self.against_short_id),
            ));
        }
        Ok(())
    }

    /// The experimental variables that changed, named for people: each parameter,
    /// the code, each dataset, the command. The environment is not a variable.
    pub fn variables(&self) -> Vec<String> {
        let mut out: Vec<String> = self.params.iter().map(|p| p.key.clone()).collect();
        if let Some(c) = &self.code {
            out.push(if c.files.is_empty() { "code".to_owned() } else { format!("code ({})", c.files.join(", ")) });
        }
        out.extend(self.data.iter().map(|d| format!("dataset {}", d.path)));
        if self.command.is_some() {
            out.push("command".to_owned());
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.variables().is_empty() && self.environment.is_empty()
    }
}

/// The command's positional words: everything but `--flag [value]` pairs.
fn positional(command: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < command.len() {
        let a = &command[i];
        i += 1;
        if let Some(flag) = a.strip_prefix("--").filter(|f| !f.is_empty()) {
            if !flag.contains('=') && i < command.len() && !command[i].starts_with("--") {
                i += 1;
            }
            continue;
        }
        out.push(a.clone());
    }
    out
}

fn env_text(env: Option<&Value>, pointer: &str) -> Option<String> {
    let v = env?.pointer(pointer)?;
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn gpu_models(env: Option<&Value>) -> Option<String> {
    let gpus = env?.get("gpus")?.as_array()?;
    let names: Vec<&str> = gpus.iter().filter_map(|g| g["name"].as_str()).collect();
    Some(if names.is_empty() { "none".to_owned() } else { names.join(", ") })
}

/// Compares `run` with `base` (the run it is compared with).
pub fn changes(base: &Run, basis: ChangeBasis, run: RunFacts<'_>) -> RunChanges {
    compare_with(base, basis, run, true)
}

fn compare_with(base: &Run, basis: ChangeBasis, run: RunFacts<'_>, packages_too: bool) -> RunChanges {
    let before = params_without_seeds(&base.config);
    let after = params_without_seeds(run.config);
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let params = keys
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| ParamChange { key: k.clone(), before: before.get(k).cloned(), after: after.get(k).cloned() })
        .collect();

    let (bc, ac) = (base.code.clone().unwrap_or_default(), run.code.cloned().unwrap_or_default());
    let mut files = BTreeSet::new();
    for (a, b) in [(&bc.modified, &ac.modified), (&bc.untracked, &ac.untracked)] {
        for k in a.keys().chain(b.keys()) {
            if a.get(k) != b.get(k) {
                files.insert(k.clone());
            }
        }
    }
    let code = (bc.commit != ac.commit || bc.diff_hash != ac.diff_hash || !files.is_empty()).then(|| CodeChange {
        commit_before: bc.commit.clone(),
        commit_after: ac.commit.clone(),
        files: files.into_iter().collect(),
    });

    let datasets = |d: Option<&DataInfo>| -> BTreeMap<String, String> {
        d.map(|d| d.datasets.iter().map(|x| (x.path.clone(), x.hash.clone())).collect()).unwrap_or_default()
    };
    let (bd, ad) = (datasets(base.data.as_ref()), datasets(run.data));
    let paths: BTreeSet<&String> = bd.keys().chain(ad.keys()).collect();
    let data = paths
        .into_iter()
        .filter(|p| bd.get(*p) != ad.get(*p))
        .map(|p| DataChange { path: p.clone(), before: bd.get(p).cloned(), after: ad.get(p).cloned() })
        .collect();

    let (be, ae) = (base.environment.as_ref(), run.environment);
    let mut environment = Vec::new();
    for (what, pointer) in [
        ("python", "/python/version"),
        ("os", "/os/name"),
        ("kernel", "/os/kernel"),
        ("host", "/host"),
        ("cpu", "/cpu/model"),
    ] {
        let (b, a) = (env_text(be, pointer), env_text(ae, pointer));
        if b.is_some() && a.is_some() && b != a {
            environment.push(EnvChange { what: what.to_owned(), before: b, after: a });
        }
    }
    let (bg, ag) = (gpu_models(be), gpu_models(ae));
    if bg.is_some() && ag.is_some() && bg != ag {
        environment.push(EnvChange { what: "gpus".to_owned(), before: bg, after: ag });
    }
    let (bp, ap) = if packages_too { (packages(be), packages(ae)) } else { Default::default() };
    if !bp.is_empty() && !ap.is_empty() {
        let names: BTreeSet<&String> = bp.keys().chain(ap.keys()).collect();
        for n in names {
            if bp.get(n) != ap.get(n) {
                environment.push(EnvChange {
                    what: format!("package {n}"),
                    before: bp.get(n).cloned(),
                    after: ap.get(n).cloned(),
                });
            }
        }
    }

    let (bcmd, acmd) = (positional(&base.command), positional(run.command));
    let command = (!base.command.is_empty() && !run.command.is_empty() && bcmd != acmd).then(|| ParamChange {
        key: "command".into(),
        before: Some(json!(bcmd)),
        after: Some(json!(acmd)),
    });

    RunChanges {
        against: base.id.0.simple().to_string(),
        against_short_id: base.short_id.to_string(),
        basis,
        params,
        code,
        data,
        environment,
        command,
    }
}

/// How different `run` is from `candidate`: one per changed variable, a tenth per
/// environment difference (so, among equals, the run from the same machine wins).
pub fn distance(candidate: &Run, run: RunFacts<'_>) -> f64 {
    // Package lists are long; whether they differ is left to the final comparison.
    let c = compare_with(candidate, ChangeBasis::Nearest, run, false);
    c.variables().len() as f64 + 0.1 * c.environment.len().min(9) as f64
}

/// The most similar run among `candidates` (ties go to the earliest listed, so pass
/// them newest first).
pub fn nearest<'r>(candidates: &'r [Run], run: RunFacts<'_>) -> Option<&'r Run> {
    let mut best: Option<(&Run, f64)> = None;
    for c in candidates {
        let d = distance(c, run);
        if best.is_none_or(|(_, bd)| d < bd) {
            best = Some((c, d));
        }
    }
    best.map(|(r, _)| r)
}

/// A config as a flat, sorted map of what its leaves mean ([`crate::config::leaves`],
/// each read by [`crate::config::meaning`]): how runs are compared, so `--lr 1e-3` on
/// one run and `lr: 0.001` on another are the same setting.
pub fn flat_params(config: &Config) -> BTreeMap<String, Value> {
    let mut leaves = crate::config::leaves(config);
    for v in leaves.values_mut() {
        if v.is_string() {
            *v = crate::config::meaning(v);
        }
    }
    leaves
}

/// Packages added, removed and changed between two environments, as
/// `(name, before, after)`.
pub fn package_changes(before: Option<&Value>, after: Option<&Value>) -> Vec<(String, Option<String>, Option<String>)> {
    let (b, a) = (packages(before), packages(after));
    let names: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    names
        .into_iter()
        .filter(|n| b.get(*n) != a.get(*n))
        .map(|n| (n.clone(), b.get(n).cloned(), a.get(n).cloned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ProjectName, RunId, RunStatus, ShortId};
    use serde_json::Map;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn run(config: Value, commit: &str, data_hash: &str) -> Run {
        Run {
            id: RunId(uuid::Uuid::nil()),
            short_id: ShortId::parse("abcdefgh").unwrap(),
            project: ProjectName::parse("p".to_owned()).unwrap(),
            name: "r".into(),
            description: String::new(),
            hypothesis: None,
            expected: None,
            verdict: None,
            owner: "o".into(),
            tags: Default::default(),
            status: RunStatus::Finished,
            created_at: 0,
            started_at: None,
            ended_at: None,
            exit_code: None,
            config: obj(config),
            command: vec!["python".into(), "train.py".into()],
            code: Some(CodeInfo { versioned: true, commit: Some(commit.into()), ..Default::default() }),
            data: Some(DataInfo {
                datasets: vec![crate::Dataset {
                    path: "data".into(),
                    hash: data_hash.into(),
                    files: 1,
                    bytes: 1,
                    manifest_artifact: None,
                }],
            }),
            environment: Some(json!({"python": {"version": "3.11.2", "packages": ["numpy==2.0", "torch==2.1"]}})),
            seeds: vec![],
            parents: vec![],
            children: vec![],
            group_id: None,
            fingerprint: None,
            metrics: vec![],
            deleted_at: None,
            updated_at: 0,
            changes: None,
            config_sources: Default::default(),
        }
    }

    #[test]
    fn the_fingerprint_ignores_seeds_only() {
        let a = run(json!({"lr": 0.1, "seed": 1, "model": {"seed": 4, "size": "s"}}), "c1", "d1");
        let mut b = run(json!({"lr": 0.1, "seed": 2, "model": {"seed": 5, "size": "s"}}), "c1", "d1");
        b.command = vec!["python".into(), "train.py".into(), "--seed".into(), "9".into()];
        assert_eq!(fingerprint((&a).into()), fingerprint((&b).into()));
        let c = run(json!({"lr": 0.2, "seed": 1}), "c1", "d1");
        assert_ne!(fingerprint((&a).into()), fingerprint((&c).into()));
        let d = run(json!({"lr": 0.1, "seed": 1, "model": {"seed": 4, "size": "s"}}), "c1", "d2");
        assert_ne!(fingerprint((&a).into()), fingerprint((&d).into()), "data is part of it");
        let mut e = run(json!({"lr": 0.1, "seed": 1, "model": {"seed": 4, "size": "s"}}), "c1", "d1");
        e.environment = Some(json!({"python": {"packages": ["numpy==2.1", "torch==2.1"]}}));
        assert_ne!(fingerprint((&a).into()), fingerprint((&e).into()), "packages are part of it");
    }

    #[test]
    fn four_changes_are_named() {
        let parent = run(json!({"lr": 0.01, "aug": "none", "model": "small", "epochs": 8, "seed": 0}), "c1", "d1");
        let mut child = run(json!({"lr": 0.05, "aug": "mixup", "model": "large", "epochs": 8, "seed": 3}), "c2", "d1");
        child.environment =
            Some(json!({"python": {"version": "3.11.2", "packages": ["numpy==2.1", "torch==2.1", "scipy==1.0"]}}));
        let c = changes(&parent, ChangeBasis::Parent, (&child).into());
        assert_eq!(c.variables(), vec!["aug", "lr", "model", "code"]);
        assert_eq!(c.params[1].before, Some(json!(0.01)));
        assert_eq!(c.params[1].after, Some(json!(0.05)));
        let env: Vec<&str> = c.environment.iter().map(|e| e.what.as_str()).collect();
        assert_eq!(env, vec!["package numpy", "package scipy"]);
        assert!(c.data.is_empty());
    }

    #[test]
    fn the_nearest_run_is_the_most_similar() {
        let new = run(json!({"lr": 0.05, "aug": "flip"}), "c1", "d1");
        let far = run(json!({"lr": 0.01, "aug": "none"}), "c2", "d1");
        let near = run(json!({"lr": 0.01, "aug": "flip"}), "c1", "d1");
        let candidates = vec![far.clone(), near.clone()];
        let best = nearest(&candidates, (&new).into()).unwrap();
        assert_eq!(best.config, near.config);
        assert_eq!(changes(best, ChangeBasis::Nearest, (&new).into()).variables(), vec!["lr"]);
    }

    #[test]
    fn positional_arguments_and_uncommitted_files_count() {
        let a = run(json!({"lr": 0.1}), "c1", "d1");
        let mut b = run(json!({"lr": 0.1}), "c1", "d1");
        b.command = vec!["python".into(), "train2.py".into(), "--lr".into(), "0.1".into()];
        let mut code = b.code.clone().unwrap();
        code.modified.insert("model.py".into(), "h2".into());
        code.diff_hash = Some("x".into());
        b.code = Some(code);
        let c = changes(&a, ChangeBasis::Parent, (&b).into());
        assert_eq!(c.variables(), vec!["code (model.py)", "command"]);
    }
}

//! `cairn capture`: what `cairn run` records about code, data and environment, printed
//! as JSON for other clients (the Python SDK runs it so a run it creates is captured
//! exactly as `cairn run` would capture it). Artifacts (the uncommitted diff, dataset
//! manifests) are written to `--out`.

use crate::settings;
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A dataset (file or folder) to fingerprint; repeatable
    #[arg(long = "data")]
    data: Vec<PathBuf>,
    /// Only fingerprint the data (no code or environment)
    #[arg(long)]
    data_only: bool,
    /// Folder for the artifacts: `uncommitted.diff`, `manifest-N.json`
    #[arg(long)]
    out: PathBuf,
    /// The command the record is for (its interpreter decides which packages are listed)
    #[arg(last = true)]
    command: Vec<String>,
}

pub async fn run(args: Args) -> Result<()> {
    let home = settings::home()?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let cache_path = home.join("cache").join("fingerprints.json");
    let mut cache = cairn_capture::data::Cache::load(&cache_path);
    let mut datasets = Vec::new();
    for (i, path) in args.data.iter().enumerate() {
        let fp = cairn_capture::data::fingerprint(path, &mut cache)?;
        let manifest = args.out.join(format!("manifest-{i}.json"));
        std::fs::write(&manifest, fp.manifest_json().to_string())
            .with_context(|| format!("cannot write {}", manifest.display()))?;
        datasets.push(json!({
            "path": path.display().to_string(), "hash": fp.hash, "files": fp.manifest.len(), "bytes": fp.bytes,
            "manifest_file": manifest.display().to_string(),
        }));
    }
    let _ = cache.save(&cache_path);
    let mut doc = json!({ "data": { "datasets": datasets } });
    if !args.data_only {
        let cwd = std::env::current_dir().context("cannot read the current folder")?;
        let code = cairn_capture::code::capture(&cwd, super::run::DIFF_ARTIFACT);
        if let Some(diff) = &code.diff {
            let file = args.out.join("uncommitted.diff");
            std::fs::write(&file, diff).with_context(|| format!("cannot write {}", file.display()))?;
            doc["diff_file"] = json!(file.display().to_string());
        }
        doc["code"] = code.info;
        doc["environment"] = cairn_capture::environment(&args.command);
    }
    crate::outln!("{}", Value::to_string(&doc));
    Ok(())
}

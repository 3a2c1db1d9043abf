//! Settings, resolved once: defaults < `<home>/config.toml` < `CAIRN_*` environment
//! variables < command-line flags. Libraries receive the resolved values.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variables Cairn reads, in one place.
pub mod env {
    /// Folder holding the embedded store, artifacts, config and server.json.
    pub const HOME: &str = "CAIRN_HOME";
    /// Metadata store URL: a file path, `sqlite://PATH` or `postgres://…`.
    pub const STORE: &str = "CAIRN_STORE";
    /// Artifact location: a folder, `file://…` or `s3://bucket/prefix`.
    pub const ARTIFACTS: &str = "CAIRN_ARTIFACTS";
    pub const HOST: &str = "CAIRN_HOST";
    pub const PORT: &str = "CAIRN_PORT";
    /// Log filter for the server, e.g. `info` or `cairn_server=debug`.
    pub const LOG: &str = "CAIRN_LOG";
    /// How often `cairn run` samples the command's CPU and memory, in milliseconds.
    pub const SAMPLE_INTERVAL_MS: &str = "CAIRN_SAMPLE_INTERVAL_MS";
    /// The server every command talks to (else the embedded one of the home).
    pub const SERVER: &str = "CAIRN_SERVER";
    /// The API token sent to the server.
    pub const TOKEN: &str = "CAIRN_TOKEN";
    /// How long an embedded server started for a command waits idle before it exits
    /// (`15m`, `90s`, `1h`; `0` never).
    pub const IDLE_EXIT: &str = "CAIRN_IDLE_EXIT";
}

/// How long an embedded server waits idle before it exits, unless configured.
pub const DEFAULT_IDLE_EXIT: &str = "15m";

pub const DEFAULT_PORT: u16 = 8420;

/// `<home>/config.toml`; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub store: Option<String>,
    pub artifacts: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    /// How long an embedded server waits idle before it exits (`15m`; `0` never).
    pub idle_exit: Option<String>,
}

/// The Cairn home: `$CAIRN_HOME`, else `.cairn` at the git root above the current
/// folder, else `.cairn` in the current folder.
pub fn home() -> Result<PathBuf> {
    if let Some(h) = std::env::var_os(env::HOME).filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let mut dir: Option<&Path> = Some(&cwd);
    while let Some(d) = dir {
        if d.join(".git").exists() {
            return Ok(d.join(".cairn"));
        }
        dir = d.parent();
    }
    Ok(cwd.join(".cairn"))
}

pub fn file_config(home: &Path) -> Result<FileConfig> {
    let path = home.join("config.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("{} is not a valid Cairn config", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileConfig::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn from_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Where the record lives, after resolution.
pub struct Storage {
    pub home: PathBuf,
    pub store_url: String,
    pub artifacts_url: String,
}

pub fn storage(store_flag: Option<String>, artifacts_flag: Option<String>) -> Result<Storage> {
    let home = home()?;
    let file = file_config(&home)?;
    let store_url = store_flag
        .or_else(|| from_env(env::STORE))
        .or(file.store)
        .unwrap_or_else(|| home.join("cairn.db").display().to_string());
    let artifacts_url = artifacts_flag
        .or_else(|| from_env(env::ARTIFACTS))
        .or(file.artifacts)
        .unwrap_or_else(|| home.join("artifacts").display().to_string());
    Ok(Storage { home, store_url, artifacts_url })
}

pub fn listen(host_flag: Option<String>, port_flag: Option<u16>, home: &Path) -> Result<(String, u16)> {
    let file = file_config(home)?;
    let host = host_flag.or_else(|| from_env(env::HOST)).or(file.host).unwrap_or_else(|| "127.0.0.1".into());
    let port = match port_flag {
        Some(p) => p,
        None => match from_env(env::PORT) {
            Some(p) => p.parse().with_context(|| format!("{} must be a port number, got '{p}'", env::PORT))?,
            None => file.port.unwrap_or(DEFAULT_PORT),
        },
    };
    Ok((host, port))
}

/// Opens the metadata store a URL names, bringing its schema up to date.
pub async fn open_store(url: &str) -> Result<Arc<dyn cairn_store::MetadataStore>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = cairn_store_postgres::connect(url).await?;
        return Ok(Arc::new(store));
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    if let Some((scheme, _)) = path.split_once("://") {
        bail!("unsupported store URL scheme '{scheme}://': use a file path, sqlite://PATH or postgres://USER@HOST/DB");
    }
    let store = cairn_store_sqlite::open(Path::new(path)).await?;
    Ok(Arc::new(store))
}

/// The idle time after which an embedded server started for a command exits:
/// `CAIRN_IDLE_EXIT`, else `idle_exit` in `<home>/config.toml`, else 15 minutes.
pub fn idle_exit(home: &Path) -> Result<String> {
    let v = match from_env(env::IDLE_EXIT) {
        Some(v) => v,
        None => file_config(home)?.idle_exit.unwrap_or_else(|| DEFAULT_IDLE_EXIT.to_owned()),
    };
    duration(&v).with_context(|| format!("{} / idle_exit", env::IDLE_EXIT))?;
    Ok(v)
}

/// A duration as people write it: `90s`, `15m`, `2h`, `1d`, or plain seconds.
pub fn duration(text: &str) -> Result<std::time::Duration> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len()));
    let n: f64 = digits.parse().with_context(|| format!("'{text}' is not a duration: write 90s, 15m, 2h or 1d"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        other => bail!("'{text}': unknown unit '{other}'; write 90s, 15m, 2h or 1d"),
    };
    if !secs.is_finite() || secs < 0.0 {
        bail!("'{text}' is not a duration");
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration("15m").unwrap().as_secs(), 900);
        assert_eq!(duration("90").unwrap().as_secs(), 90);
        assert_eq!(duration("1.5h").unwrap().as_secs(), 5400);
        assert_eq!(duration("0").unwrap().as_secs(), 0);
        assert!(duration("soon").unwrap_err().to_string().contains("15m"));
        assert!(duration("3w").is_err());
    }
}

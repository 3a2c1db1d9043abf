//! The user's credentials file: the tokens `cairn login` obtained, one per server, and
//! the default server. `$CAIRN_CONFIG_DIR/credentials.toml`, else
//! `$XDG_CONFIG_HOME/cairn/credentials.toml`, else `~/.config/cairn/credentials.toml`.
//! It holds secrets, so it is written with permissions 0600 and refused when anyone
//! but its owner can read it.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The server commands use when neither `--server` nor `CAIRN_SERVER` names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_server: Option<String>,
    /// Server URL → what `cairn login` stored for it.
    #[serde(default)]
    pub servers: BTreeMap<String, Login>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub token: String,
    #[serde(default)]
    pub user: String,
    /// When the token expires (ms since the epoch), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// Server URLs compare without a trailing slash.
fn key(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

impl Credentials {
    pub fn token_for(&self, url: &str) -> Option<String> {
        self.servers.get(&key(url)).map(|l| l.token.clone())
    }

    pub fn set(&mut self, url: &str, login: Login) {
        self.servers.insert(key(url), login);
    }

    pub fn remove(&mut self, url: &str) -> Option<Login> {
        let gone = self.servers.remove(&key(url));
        if self.default_server.as_deref().map(key) == Some(key(url)) {
            self.default_server = None;
        }
        gone
    }
}

pub fn path() -> Result<PathBuf> {
    let env = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = env("CAIRN_CONFIG_DIR") {
        return Ok(d.join("credentials.toml"));
    }
    if let Some(d) = env("XDG_CONFIG_HOME") {
        return Ok(d.join("cairn").join("credentials.toml"));
    }
    match env("HOME") {
        Some(h) => Ok(h.join(".config").join("cairn").join("credentials.toml")),
        None => bail!("cannot tell where the credentials file is: set HOME or CAIRN_CONFIG_DIR"),
    }
}

/// The credentials file, or empty ones when there is none.
pub fn load() -> Result<Credentials> {
    let p = path()?;
    let meta = match std::fs::metadata(&p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Credentials::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} holds tokens but its permissions are {mode:04o}, so others can read it; refusing to use it. Run \
             `chmod 600 {}` (and consider revoking its tokens with `cairn tokens revoke`)",
            p.display(),
            p.display()
        );
    }
    let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid credentials file", p.display()))
}

/// Writes the credentials file atomically with permissions 0600.
pub fn save(c: &Credentials) -> Result<PathBuf> {
    let p = path()?;
    let dir = p.parent().context("the credentials file has no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    let tmp = dir.join(format!(".credentials.toml.{}", std::process::id()));
    let text = toml::to_string(c).context("cannot write the credentials")?;
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &p).with_context(|| format!("cannot write {}", p.display()))?;
    Ok(p)
}

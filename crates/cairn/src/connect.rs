//! Which server a command talks to, and as whom. Every command resolves it the same
//! way: `--server`, else `CAIRN_SERVER`, else the credentials file's default server,
//! else the embedded server of this home (`<home>/server.json` when it answers, else a
//! `cairn server` started in the background on the embedded store, which exits by
//! itself once idle). The token is `CAIRN_TOKEN`, else the one `cairn login` stored
//! for that server.

use crate::{credentials, settings};
use anyhow::{Context, Result, anyhow};
use cairn_client::Client;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where a server address came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    Credentials,
    /// This home's embedded server (found or started).
    Embedded,
}

/// The server a command should use, without starting one: `None` means the embedded
/// server of this home.
pub fn configured(flag: Option<&str>) -> Result<Option<(String, Source)>> {
    if let Some(url) = flag.filter(|u| !u.is_empty()) {
        return Ok(Some((url.to_owned(), Source::Flag)));
    }
    if let Some(url) = std::env::var(settings::env::SERVER).ok().filter(|u| !u.is_empty()) {
        return Ok(Some((url, Source::Env)));
    }
    if let Some(url) = credentials::load()?.default_server {
        return Ok(Some((url, Source::Credentials)));
    }
    Ok(None)
}

/// A client for `url` with the token that belongs to it.
pub fn client_for(url: &str) -> Result<Client> {
    let token = match std::env::var(settings::env::TOKEN).ok().filter(|t| !t.is_empty()) {
        Some(t) => Some(t),
        None => credentials::load()?.token_for(url),
    };
    Ok(Client::new(url)?.with_token(token))
}

/// The server to talk to, started if need be (the embedded one).
pub async fn connect(flag: Option<&str>) -> Result<Client> {
    if let Some((url, _)) = configured(flag)? {
        // No probe: the first request says clearly when nothing answers, and a round
        // trip saved is felt by every `cairn run`.
        return client_for(&url);
    }
    let home = settings::home()?;
    if let Some(c) = recorded(&home).await {
        return Ok(c);
    }
    start_local(&home).await
}

/// The embedded server recorded in `<home>/server.json`, when it answers.
pub async fn recorded(home: &Path) -> Option<Client> {
    let (url, _) = marker(home)?;
    let c = client_for(&url).ok()?;
    c.health().await.is_ok().then_some(c)
}

/// `<home>/server.json`: the embedded server's address and process id.
pub fn marker(home: &Path) -> Option<(String, u32)> {
    let text = std::fs::read_to_string(home.join("server.json")).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some((doc["url"].as_str()?.to_owned(), u32::try_from(doc["pid"].as_u64()?).ok()?))
}

async fn start_local(home: &Path) -> Result<Client> {
    std::fs::create_dir_all(home).with_context(|| format!("cannot create {}", home.display()))?;
    let exe = std::env::current_exe().context("cannot find the cairn executable")?;
    let log = std::fs::File::create(home.join("server.log")).context("cannot create server.log")?;
    let idle = settings::idle_exit(home)?;
    // A server of its own session, so it outlives this command and a Ctrl-C here; it
    // exits by itself once idle.
    std::process::Command::new(exe)
        .args(["server", "--port", "0", "--idle-exit", &idle])
        .env(settings::env::HOME, home)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("cannot start a local cairn server")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(c) = recorded(home).await {
            return Ok(c);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(anyhow!("the local cairn server did not start within 30 s; see {}", home.join("server.log").display()))
}

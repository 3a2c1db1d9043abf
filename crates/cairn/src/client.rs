//! A small HTTP client for the commands that act through a server (`cairn run`), and
//! the way to find one: `CAIRN_SERVER`, else the server recorded in
//! `<home>/server.json` if it answers, else a `cairn server` started in the background
//! on the embedded store (as the Python SDK does).

use anyhow::{Context, Result, anyhow};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    pub base: String,
}

/// An error the server answered with: its stable code and message.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, HTTP {})", self.message, self.code, self.status)
    }
}
impl std::error::Error for ApiFailure {}

impl Client {
    pub fn new(base: &str) -> Result<Client> {
        let mut builder = reqwest::Client::builder().tcp_nodelay(true).connect_timeout(Duration::from_secs(5));
        if base.starts_with("http://") {
            // Plain HTTP needs no certificates; loading the system's costs milliseconds
            // that every `cairn run` would pay.
            builder = builder.tls_certs_only(std::iter::empty());
        }
        let http = builder.build().context("cannot build an HTTP client")?;
        Ok(Client { http, base: base.trim_end_matches('/').to_owned() })
    }

    pub async fn healthy(&self) -> bool {
        let probe = self.http.get(format!("{}/healthz", self.base)).timeout(Duration::from_secs(2)).send().await;
        probe.is_ok_and(|r| r.status().is_success())
    }

    async fn answer(&self, resp: reqwest::Response) -> Result<Value> {
        let status = resp.status();
        let body: Value = if status == reqwest::StatusCode::NO_CONTENT {
            Value::Null
        } else {
            resp.json().await.with_context(|| format!("{} answered {status} without JSON", self.base))?
        };
        if status.is_success() {
            return Ok(body);
        }
        Err(ApiFailure {
            status: status.as_u16(),
            code: body["error"]["code"].as_str().unwrap_or("unknown").to_owned(),
            message: body["error"]["message"].as_str().unwrap_or("no message").to_owned(),
        }
        .into())
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.with_context(|| format!("cannot reach the Cairn server at {}", self.base))?;
        self.answer(resp).await
    }

    /// Streams a file to an artifact path of a run.
    pub async fn upload(&self, run: &str, artifact: &str, file: &Path) -> Result<Value> {
        let f = tokio::fs::File::open(file).await.with_context(|| format!("cannot open {}", file.display()))?;
        let len = f.metadata().await?.len();
        let stream = tokio_util::io::ReaderStream::new(f);
        let resp = self
            .http
            .put(format!("{}/api/v1/runs/{run}/artifacts/{artifact}", self.base))
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .with_context(|| format!("cannot reach the Cairn server at {}", self.base))?;
        self.answer(resp).await
    }
}

/// The server to talk to, started if need be.
pub async fn connect(home: &Path) -> Result<Client> {
    if let Some(url) = std::env::var("CAIRN_SERVER").ok().filter(|u| !u.is_empty()) {
        // No probe: the first request says clearly when nothing answers, and a round
        // trip saved is felt by every `cairn run`.
        return Client::new(&url);
    }
    if let Some(c) = recorded(home).await {
        return Ok(c);
    }
    start_local(home).await
}

async fn recorded(home: &Path) -> Option<Client> {
    let text = std::fs::read_to_string(home.join("server.json")).ok()?;
    let doc: Value = serde_json::from_str(&text).ok()?;
    let c = Client::new(doc["url"].as_str()?).ok()?;
    c.healthy().await.then_some(c)
}

async fn start_local(home: &Path) -> Result<Client> {
    std::fs::create_dir_all(home).with_context(|| format!("cannot create {}", home.display()))?;
    let exe = std::env::current_exe().context("cannot find the cairn executable")?;
    let log = std::fs::File::create(home.join("server.log")).context("cannot create server.log")?;
    // A server of its own session, so it outlives this command and a Ctrl-C here.
    std::process::Command::new(exe)
        .args(["server", "--port", "0"])
        .env("CAIRN_HOME", home)
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow!("the local cairn server did not start within 30 s; see {}", home.join("server.log").display()))
}

use std::os::unix::process::CommandExt as _;

//! A `cairn server` child process in a temporary home, killed (and its home and
//! scratch database removed) when the guard is dropped, also on errors.

use crate::util;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Removes the folder when dropped, unless it is kept (a benchmark store reused later).
struct TempHome(PathBuf, bool);

impl Drop for TempHome {
    fn drop(&mut self) {
        if self.1 {
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("warning: could not remove {}: {e}", self.0.display());
        }
    }
}

/// Drops the scratch database when dropped (through `psql`, which must be installed).
struct ScratchDb {
    admin_url: String,
    name: String,
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let done = Command::new("psql")
            .args([self.admin_url.as_str(), "-q", "-v", "ON_ERROR_STOP=1", "-c"])
            .arg(&sql)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        match done {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "warning: could not drop the scratch database {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => eprintln!(
                "warning: could not run psql to drop the scratch database {} ({e}); drop it by hand",
                self.name
            ),
        }
    }
}

/// Kills the child when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Server {
    // Fields drop in this order: the process first, then its database, then its home.
    child: ChildGuard,
    _db: Option<ScratchDb>,
    home: TempHome,
    pub url: String,
    /// The pid the server wrote to server.json.
    pub pid: u32,
    pub store_label: String,
    /// The metadata store's URL (the home's SQLite file, or the scratch database).
    pub store_url: String,
}

impl Server {
    /// Starts `cairn server --port 0` in a fresh home under `work_dir`; for PostgreSQL,
    /// on a fresh scratch database created through `pg_admin`.
    pub async fn start(cairn: &Path, work_dir: &Path, backend: Backend, pg_admin: &str, label: &str) -> Result<Server> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let dir = work_dir.join(format!(
            "cairn-bench-{}-{label}-{}-{}",
            backend.name(),
            std::process::id(),
            nanos % 1_000_000_000_000
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let home = TempHome(dir, false);

        let mut cmd = Command::new(cairn);
        cmd.arg("server").arg("--port").arg("0");
        let db = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let url = cairn_store_postgres::create_scratch_database(pg_admin, "cairn_bench").await.with_context(
                    || {
                        format!(
                            "cannot create a scratch database through {} (is PostgreSQL running? see --pg-admin)",
                            cairn_store_postgres::redact(pg_admin)
                        )
                    },
                )?;
                let name = url.rsplit('/').next().unwrap_or_default().to_owned();
                cmd.arg("--store").arg(&url);
                Some((ScratchDb { admin_url: pg_admin.to_owned(), name }, url))
            }
        };
        let store_url = match &db {
            Some((_, url)) => url.clone(),
            None => home.0.join("cairn.db").display().to_string(),
        };
        Server::spawn(cairn, cmd, home, db.map(|(d, _)| d), store_url).await
    }

    /// Starts `cmd` (a `cairn server` command line) in `home`, its output to the home's
    /// `server.log`, and waits until it answers.
    async fn spawn(
        cairn: &Path,
        mut cmd: Command,
        home: TempHome,
        db: Option<ScratchDb>,
        store_url: String,
    ) -> Result<Server> {
        let log_path = home.0.join("server.log");
        let log = std::fs::File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
        cmd.env("CAIRN_HOME", &home.0)
            .env_remove("CAIRN_STORE")
            .env_remove("CAIRN_ARTIFACTS")
            .env_remove("CAIRN_HOST")
            .env_remove("CAIRN_PORT")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = ChildGuard(cmd.spawn().with_context(|| format!("cannot start {}", cairn.display()))?);
        let mut server =
            Server { child, _db: db, home, url: String::new(), pid: 0, store_label: String::new(), store_url };
        server.wait_ready(&log_path).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, log_path: &Path) -> Result<()> {
        let marker = self.home.0.join("server.json");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.0.try_wait()? {
                bail!("the server exited ({status}) before listening; its log:\n{}", log_tail(log_path));
            }
            if let Ok(text) = std::fs::read_to_string(&marker)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                self.url = v["url"].as_str().context("server.json has no url")?.to_owned();
                self.pid = v["pid"].as_u64().and_then(|p| u32::try_from(p).ok()).context("server.json has no pid")?;
                break;
            }
            if Instant::now() > deadline {
                bail!("the server wrote no {} within 60 s; its log:\n{}", marker.display(), log_tail(log_path));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let client = reqwest::Client::builder().no_proxy().build()?;
        let health = util::get_json(&client, &format!("{}/healthz", self.url))
            .await
            .context("the server does not answer /healthz")?;
        self.store_label = health["store"].as_str().unwrap_or("?").to_owned();
        Ok(())
    }

    /// `cairn server` on a store that outlives it: the home `dir` (kept, created when
    /// missing) with its embedded SQLite store, or the PostgreSQL store at `store`.
    #[allow(dead_code, reason = "used by cairn-scale-bench only")]
    pub async fn keep(cairn: &Path, dir: &Path, store: Option<&str>) -> Result<Server> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let _ = std::fs::remove_file(dir.join("server.json"));
        let mut cmd = Command::new(cairn);
        cmd.args(["server", "--port", "0"]);
        if let Some(url) = store {
            cmd.arg("--store").arg(url);
        }
        let store_url = store.map_or_else(|| dir.join("cairn.db").display().to_string(), str::to_owned);
        Server::spawn(cairn, cmd, TempHome(dir.to_owned(), true), None, store_url).await
    }

    pub fn home(&self) -> &Path {
        &self.home.0
    }

    /// Another replica on this server's store (a PostgreSQL store: several stateless
    /// replicas share it), in a home of its own.
    #[allow(dead_code, reason = "used by cairn-runner-bench, not by cairn-bench")]
    pub async fn replica(&self, cairn: &Path, label: &str) -> Result<Server> {
        let dir = self.home.0.with_file_name(format!(
            "{}-{label}",
            self.home.0.file_name().and_then(|n| n.to_str()).unwrap_or("replica")
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut cmd = Command::new(cairn);
        cmd.args(["server", "--port", "0", "--store", &self.store_url]);
        Server::spawn(cairn, cmd, TempHome(dir, false), None, self.store_url.clone()).await
    }

    /// (VmRSS, VmHWM) of the server process, in bytes.
    pub fn memory(&self) -> Result<(u64, u64)> {
        util::memory_of(self.pid)
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

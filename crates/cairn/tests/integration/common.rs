//! Shared helpers for the integration tests: a real `cairn server` process with a
//! home of its own on a free port, and a way to run other `cairn` commands.
//!
//! Every process started here has the developer's `CAIRN_*` settings removed from
//! its environment, so a test sees only what it sets itself.

// Each test module uses a different part of this one.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The `cairn` binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_cairn");

/// How long a server may take to write `<home>/server.json`.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`cairn`] lets a command run before killing it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Settings read from the environment that must not leak in from the developer's shell.
const CAIRN_ENV: &[&str] = &[
    "CAIRN_HOME",
    "CAIRN_STORE",
    "CAIRN_ARTIFACTS",
    "CAIRN_HOST",
    "CAIRN_PORT",
    "CAIRN_LOG",
    "CAIRN_SERVER",
    "CAIRN_TOKEN",
    "CAIRN_AUTH",
    "CAIRN_PROJECT",
    "CAIRN_IDLE_EXIT",
    "CAIRN_OIDC_ISSUER",
    "CAIRN_OIDC_CLIENT_ID",
    "CAIRN_OIDC_CLIENT_SECRET",
    "CAIRN_PUBLIC_URL",
];

/// A `cairn` command with a clean environment and `CAIRN_HOME=home`.
pub fn command(home: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for name in CAIRN_ENV {
        cmd.env_remove(name);
    }
    // Run from the (temporary) home, outside this repository: what `cairn run` captures
    // of the code must not change with edits made while the tests run.
    // Credentials (`cairn login`) live in the test's home, never the developer's.
    cmd.env("CAIRN_HOME", home).env("CAIRN_CONFIG_DIR", home.join("config")).current_dir(home).stdin(Stdio::null());
    cmd
}

/// Runs `cairn <args>` with `CAIRN_HOME=home` to completion and returns its output.
/// Panics if it runs longer than [`COMMAND_TIMEOUT`] (after killing it).
pub fn cairn(home: &Path, args: &[&str]) -> Output {
    let mut child = command(home)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start the cairn binary");
    let (stdout, stderr) = (Arc::default(), Arc::default());
    let readers = [drain(child.stdout.take(), &stdout), drain(child.stderr.take(), &stderr)];
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("cannot wait for cairn") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`cairn {}` ran longer than {COMMAND_TIMEOUT:?}; stderr:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&lock(&stderr))
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for r in readers.into_iter().flatten() {
        let _ = r.join();
    }
    let take = |b: &Arc<Mutex<Vec<u8>>>| std::mem::take(&mut *lock(b));
    Output { status, stdout: take(&stdout), stderr: take(&stderr) }
}

/// Reads `pipe` to its end on a thread of its own (so the child never blocks on a
/// full pipe), appending to `into`.
fn drain(pipe: Option<impl Read + Send + 'static>, into: &Arc<Mutex<Vec<u8>>>) -> Option<std::thread::JoinHandle<()>> {
    let mut pipe = pipe?;
    let into = into.clone();
    Some(std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            lock(&into).extend_from_slice(&buf[..n]);
        }
    }))
}

/// A poisoned lock only means another thread panicked; the data is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A `cairn server` process, killed when this is dropped. Its home (and with it the
/// embedded store and artifacts) is a temporary folder removed on drop, unless it was
/// given by the caller.
pub struct TestServer {
    child: Mutex<Child>,
    url: String,
    pid: u32,
    home: PathBuf,
    /// stdout and stderr, interleaved as they arrive.
    output: Arc<Mutex<Vec<u8>>>,
    /// Removed on drop, after `Drop::drop` has killed the child.
    _own_home: Option<tempfile::TempDir>,
    /// The admin's token, on a server that requires sign-in; `client()` sends it.
    token: Option<String>,
}

/// The first admin of a server started with [`TestServer::start_with_auth`].
pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

impl TestServer {
    /// Starts `cairn server --port 0 <extra_args>` with a fresh temporary home and
    /// `envs` added to its environment (a `CAIRN_HOME` among them replaces the
    /// temporary home). Returns once the server has written `<home>/server.json`,
    /// i.e. once it accepts connections; panics with its output if it does not
    /// within [`START_TIMEOUT`].
    pub async fn start(extra_args: &[&str], envs: &[(&str, &str)]) -> TestServer {
        let given = envs.iter().rev().find(|(k, _)| *k == "CAIRN_HOME").map(|(_, v)| PathBuf::from(v));
        let (home, own) = match given {
            Some(home) => (home, None),
            None => {
                let dir = tempfile::tempdir().expect("cannot create a temporary home");
                (dir.path().to_owned(), Some(dir))
            }
        };
        Self::spawn(home, own, extra_args, envs).await
    }

    /// Starts another server on an existing home (e.g. another server's, to share its
    /// store, or a killed one's, to restart on its data). The home is not removed
    /// when this server is dropped.
    pub async fn start_in(home: impl AsRef<Path>, extra_args: &[&str]) -> TestServer {
        Self::spawn(home.as_ref().to_owned(), None, extra_args, &[]).await
    }

    async fn spawn(
        home: PathBuf,
        own_home: Option<tempfile::TempDir>,
        extra_args: &[&str],
        envs: &[(&str, &str)],
    ) -> TestServer {
        let mut child = command(&home)
            .args(["server", "--port", "0"])
            .args(extra_args)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start the cairn binary");
        let output = Arc::default();
        drain(child.stdout.take(), &output);
        drain(child.stderr.take(), &output);
        let mut server = TestServer {
            pid: child.id(),
            child: Mutex::new(child),
            url: String::new(),
            home,
            output,
            _own_home: own_home,
            token: None,
        };
        server.url = server.wait_for_marker().await;
        server
    }

    /// Polls for `<home>/server.json` written by this process; returns its URL.
    async fn wait_for_marker(&self) -> String {
        let marker = self.home.join("server.json");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(url) = read_marker(&marker, self.pid) {
                return url;
            }
            let exited = lock(&self.child).try_wait().ok().flatten();
            if let Some(status) = exited {
                panic!("cairn server exited before it was ready ({status}):\n{}", self.log());
            }
            if Instant::now() > deadline {
                panic!("cairn server did not write {} within {START_TIMEOUT:?}:\n{}", marker.display(), self.log());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// A server that requires sign-in (`--auth`), with one organisation admin
    /// ([`ADMIN`]) made through `cairn admin users add`; [`TestServer::client`] sends
    /// the admin's token.
    pub async fn start_with_auth(extra_args: &[&str]) -> TestServer {
        Self::start_with_auth_env(extra_args, &[]).await
    }

    /// [`TestServer::start_with_auth`] with `envs` added to the server's environment.
    pub async fn start_with_auth_env(extra_args: &[&str], envs: &[(&str, &str)]) -> TestServer {
        let home = tempfile::tempdir().expect("cannot create a temporary home");
        // The store the server gets (`--store` among the arguments), else the home's.
        let store = match extra_args.iter().position(|a| *a == "--store") {
            Some(i) => PathBuf::from(extra_args[i + 1]),
            None => home.path().join("cairn.db"),
        };
        let mut add = command(home.path())
            .args(["admin", "users", "add", ADMIN, "--admin", "--password-stdin", "--store"])
            .arg(&store)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start cairn admin");
        use std::io::Write as _;
        writeln!(add.stdin.take().expect("stdin"), "{ADMIN_PASSWORD}").unwrap();
        let out = add.wait_with_output().unwrap();
        assert!(out.status.success(), "cairn admin users add: {}", String::from_utf8_lossy(&out.stderr));
        let path = home.path().to_owned();
        let mut args = vec!["--auth"];
        args.extend_from_slice(extra_args);
        let mut srv = Self::spawn(path, Some(home), &args, envs).await;
        srv.token = Some(srv.login(ADMIN, ADMIN_PASSWORD).await);
        srv
    }

    /// Signs a local account in; returns its token.
    pub async fn login(&self, user: &str, password: &str) -> String {
        let r = reqwest::Client::new()
            .post(self.url_for("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(status, 200, "login as {user}: {v}");
        v["token"].as_str().expect("a token").to_owned()
    }

    /// The admin's token (servers started with [`TestServer::start_with_auth`]).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// An HTTP client sending `token`.
    pub fn client_as(&self, token: &str) -> reqwest::Client {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        reqwest::Client::builder()
            .no_proxy()
            .default_headers(h)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .expect("cannot build an HTTP client")
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The base URL followed by `path`, e.g. `url_for("/api/v1/runs")`.
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The server's `CAIRN_HOME`.
    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// An HTTP client for this server (no proxies; generous timeouts).
    pub fn client(&self) -> reqwest::Client {
        if let Some(t) = &self.token {
            return self.client_as(t);
        }
        reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .expect("cannot build an HTTP client")
    }

    /// What the server printed so far, stdout and stderr interleaved.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&lock(&self.output)).into_owned()
    }

    /// Whether the process is still alive.
    pub fn is_running(&self) -> bool {
        matches!(lock(&self.child).try_wait(), Ok(None))
    }

    /// Stops the server the way an operator would (SIGTERM, so it shuts down cleanly
    /// and removes its `server.json`), waiting up to 10 s before resorting to SIGKILL.
    pub fn kill(&self) -> ExitStatus {
        let mut child = lock(&self.child);
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().expect("cannot wait for cairn server")
    }

    /// SIGKILLs the server at once (no clean shutdown) and reaps it.
    pub fn kill_hard(&self) -> ExitStatus {
        let mut child = lock(&self.child);
        let _ = child.kill();
        child.wait().expect("cannot wait for cairn server")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The URL in `<home>/server.json` when it was written by the process `pid`.
fn read_marker(path: &Path, pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    (v["pid"].as_u64() == Some(u64::from(pid))).then(|| v["url"].as_str().map(str::to_owned)).flatten()
}

/// POSTs JSON and returns the JSON answer, whatever its status.
pub async fn post_json(c: &reqwest::Client, url: String, body: &serde_json::Value) -> serde_json::Value {
    c.post(url).json(body).send().await.unwrap().json().await.unwrap()
}

/// GETs a JSON answer, whatever its status.
pub async fn get_json(c: &reqwest::Client, url: String) -> serde_json::Value {
    c.get(url).send().await.unwrap().json().await.unwrap()
}

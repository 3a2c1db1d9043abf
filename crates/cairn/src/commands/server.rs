use crate::settings;
use anyhow::{Context, Result, bail};
use axum::http::{Method, Uri};
use axum::response::IntoResponse;
use cairn_artifacts::ArtifactStore;
use cairn_server::Service;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Address to bind [default: 127.0.0.1; env CAIRN_HOST]
    #[arg(long)]
    host: Option<String>,
    /// Port (0 picks a free one) [default: 8420; env CAIRN_PORT]; the last given counts
    #[arg(long, overrides_with = "port")]
    port: Option<u16>,
    /// Exit after this long without requests or open runs (`15m`, `1h`; `0` never).
    /// Commands that start an embedded server for you set it [default: never]
    #[arg(long, value_name = "DURATION")]
    idle_exit: Option<String>,
    /// Require signing in: local accounts (`cairn admin users add` makes the first
    /// admin) and API tokens [env CAIRN_AUTH=1]
    #[arg(long)]
    auth: bool,
    /// OpenID Connect provider to sign in with (turns sign-in on) [env CAIRN_OIDC_ISSUER]
    #[arg(long, value_name = "URL")]
    oidc_issuer: Option<String>,
    /// This server's client id at the provider [env CAIRN_OIDC_CLIENT_ID]
    #[arg(long, value_name = "ID")]
    oidc_client_id: Option<String>,
    /// The address people reach this server at, for the provider's redirect
    /// [default: http://HOST:PORT; env CAIRN_PUBLIC_URL]
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Organisation role of users created at their first OpenID Connect sign-in
    #[arg(long, default_value = "editor", value_parser = ["viewer", "editor"])]
    oidc_default_role: String,
    /// Serve on a non-loopback address without sign-in: anyone who can reach the
    /// server may read, change and delete everything
    #[arg(long)]
    insecure_no_auth: bool,
    #[command(flatten)]
    storage: crate::StoreArgs,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Show the server commands here would use: address, version, store, uptime, idle time
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Stop this folder's embedded server (the one in <home>/server.json)
    Stop,
}

pub async fn run(args: Args, ctx: &crate::Ctx) -> Result<()> {
    match args.action {
        Some(Action::Status { json }) => return status(ctx, json).await,
        Some(Action::Stop) => return stop(ctx).await,
        None => {}
    }
    let idle_exit = match &args.idle_exit {
        Some(d) => Some(settings::duration(d)?).filter(|d| !d.is_zero()),
        None => None,
    };
    // sqlx's slow-statement warnings print the whole statement: a bulk insert of a
    // thousand runs is hundreds of kilobytes. `CAIRN_LOG=info,sqlx=warn` shows them.
    let filter = std::env::var(settings::env::LOG).unwrap_or_else(|_| "info,sqlx=error".into());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).context("CAIRN_LOG is not a valid log filter")?,
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let limits = cairn_server::Limits::from_env().map_err(anyhow::Error::msg)?;
    // Before the store opens: PostgreSQL connections take the timeout when made.
    cairn_store_postgres::set_statement_timeout(limits.statement_timeout.as_secs());
    raise_descriptor_limit(limits.max_connections);
    if let Ok(mode) = std::env::var("CAIRN_SQLITE_SYNC") {
        cairn_store_sqlite::set_sync(&mode)?;
    }
    let st = settings::storage(args.storage.store, args.storage.artifacts)?;
    let (host, port) = settings::listen(args.host, args.port, &st.home)?;
    let env = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let oidc_issuer = args.oidc_issuer.or_else(|| env("CAIRN_OIDC_ISSUER"));
    let auth = args.auth || oidc_issuer.is_some() || env("CAIRN_AUTH").is_some_and(|v| v != "0" && v != "false");
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !auth && !loopback {
        if !args.insecure_no_auth {
            bail!(
                "refusing to serve on {host} without sign-in: anyone who can reach it could read, change and delete \
                 everything. Turn sign-in on (--auth, or --oidc-issuer …) and create the first admin with `cairn admin \
                 users add NAME --admin --store …`, or pass --insecure-no-auth if a proxy in front authenticates"
            );
        }
        eprintln!(
            "\n!!! WARNING: serving on {host} WITHOUT SIGN-IN (--insecure-no-auth): anyone who can reach this \
             server may read, change and delete every project. !!!\n"
        );
    }
    let store = settings::open_store(&st.store_url).await?;
    let artifacts = ArtifactStore::open(&st.artifacts_url)?;
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port}; is another server using it? try --port"))?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let marker = write_marker(&st.home, &url)?;
    tracing::info!(%url, store = %store_label(&st.store_url), artifacts = %st.artifacts_url, "cairn server listening");
    println!(
        "cairn server listening on {url} (store: {}, artifacts: {})",
        store_label(&st.store_url),
        st.artifacts_url
    );
    if !cairn_web::available() {
        println!("this binary was built without the web UI (web/dist); the API works, {url}/ says how to add the UI");
    }
    let mut service = Service::new(store, artifacts);
    service.set_limits(limits.clone());
    service.set_idle_exit(idle_exit.map(|d| d.as_millis() as i64));
    if auth {
        let public = args
            .public_url
            .or_else(|| env("CAIRN_PUBLIC_URL"))
            .unwrap_or_else(|| url.clone())
            .trim_end_matches('/')
            .to_owned();
        let oidc = match oidc_issuer {
            Some(issuer) => Some(cairn_server::service::identity::OidcSettings {
                issuer: issuer.trim_end_matches('/').to_owned(),
                client_id: args
                    .oidc_client_id
                    .or_else(|| env("CAIRN_OIDC_CLIENT_ID"))
                    .context("--oidc-issuer needs --oidc-client-id (or CAIRN_OIDC_CLIENT_ID)")?,
                client_secret: env("CAIRN_OIDC_CLIENT_SECRET"),
                redirect_url: format!("{public}/api/v1/auth/oidc/callback"),
                default_role: cairn_domain::auth::Role::parse(&args.oidc_default_role)
                    .unwrap_or(cairn_domain::auth::Role::Editor),
            }),
            None => None,
        };
        service.set_auth(cairn_server::service::identity::AuthSettings::new(true, oidc));
        if service.store.count_users().await? == 0 {
            println!(
                "sign-in is required but this store has no users yet: create the first admin with\n  cairn admin users \
                 add NAME --admin --store {}",
                store_label(&st.store_url)
            );
        }
    }
    // Cairn's API, and MLflow's tracking API and artifact proxy on the same port.
    // The web UI answers the GETs no API route takes; everything else keeps the API's 404.
    // The state every route starts from: when sign-in is required it may do nothing,
    // until the request's own caller is found.
    let base = if auth {
        service.with_caller(cairn_server::service::access::Caller::anonymous(None))
    } else {
        service.clone()
    };
    let app = cairn_server::router(base.clone()).merge(cairn_mlflow::router(base.clone())).fallback(
        |method: Method, uri: Uri| async move {
            match cairn_web::respond(&method, &uri) {
                Some(page) => page,
                None => cairn_server::not_found(method, uri).await.into_response(),
            }
        },
    );
    let app = cairn_server::with_layers(app, base.clone());
    let maintenance =
        cairn_server::spawn_maintenance(service.with_caller(cairn_server::service::access::Caller::system()));
    let scheduler = cairn_server::spawn_scheduler(service.with_caller(cairn_server::service::access::Caller::system()));
    if let Some(d) = idle_exit {
        tracing::info!(after = ?d, "exits once idle with no open runs");
    }
    let shutdown = async move {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = idle(service.with_caller(cairn_server::service::access::Caller::system()), idle_exit) => {}
        }
    };
    let served = cairn_server::serve_app(listener, app, limits, shutdown).await;
    base.flush_audit().await;
    maintenance.abort();
    scheduler.abort();
    remove_marker(&marker);
    served.context("the server stopped with an error")
}

/// Lets the process open as many descriptors as its connection limit needs (plus
/// the store's and artifacts'), as far as the hard limit allows.
fn raise_descriptor_limit(max_connections: usize) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let want = max_connections as u64 + 256;
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < want
    {
        let new = want.min(hard);
        if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, new, hard) {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
        }
        if new < want {
            tracing::warn!(
                limit = new,
                max_connections,
                "the open-file limit is below what CAIRN_MAX_CONNECTIONS needs; raise `ulimit -n`"
            );
        }
    }
}

fn store_label(url: &str) -> String {
    if url.contains("://") && !url.starts_with("sqlite://") {
        cairn_store_postgres::redact(url)
    } else {
        url.to_owned()
    }
}

/// `<home>/server.json` tells local clients (the Python SDK, `cairn run`) where the
/// server for this home listens. Written atomically once the socket is bound.
fn write_marker(home: &Path, url: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(home).with_context(|| format!("cannot create {}", home.display()))?;
    let path = home.join("server.json");
    let tmp = home.join(format!(".server.json.{}", std::process::id()));
    let body = serde_json::json!({ "url": url, "pid": std::process::id() });
    std::fs::write(&tmp, body.to_string()).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn remove_marker(path: &Path) {
    // Only remove it if it is still ours (another server may have started since).
    let ours = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v["pid"] == std::process::id());
    if ours {
        let _ = std::fs::remove_file(path);
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

/// Resolves once the server has been idle past `limit` with no open run (never
/// without a limit).
async fn idle(service: Service, limit: Option<std::time::Duration>) {
    let Some(limit) = limit else { return std::future::pending().await };
    let every = (limit / 10).clamp(std::time::Duration::from_millis(200), std::time::Duration::from_secs(30));
    loop {
        tokio::time::sleep(every).await;
        if service.idle().await {
            tracing::info!(idle_ms = service.idle_ms(), "idle with no open runs: exiting");
            return;
        }
    }
}

/// `cairn server status`: the server commands here would use, without starting one.
async fn status(ctx: &crate::Ctx, json: bool) -> Result<()> {
    let home = settings::home()?;
    let (url, source) = match crate::connect::configured(ctx.server.as_deref())? {
        Some((url, source)) => (url, source),
        None => match crate::connect::marker(&home) {
            Some((url, _)) => (url, crate::connect::Source::Embedded),
            None => {
                if json {
                    crate::outln!("{}", serde_json::json!({"running": false, "home": home}));
                } else {
                    crate::outln!(
                        "No Cairn server is running for {} (commands start one when they need it).",
                        home.display()
                    );
                }
                return Ok(());
            }
        },
    };
    let client = crate::connect::client_for(&url)?;
    let info = match client.server_info().await {
        Ok(i) => i,
        Err(e) if source == crate::connect::Source::Embedded => {
            bail!(
                "{} names {url}, but it does not answer ({e}); the next command starts a new one",
                home.join("server.json").display()
            )
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        let mut v = serde_json::to_value(&info)?;
        v["url"] = url.clone().into();
        v["running"] = true.into();
        v["embedded"] = (source == crate::connect::Source::Embedded).into();
        crate::outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let from = match source {
        crate::connect::Source::Flag => "--server",
        crate::connect::Source::Env => "CAIRN_SERVER",
        crate::connect::Source::Credentials => "the credentials file's default server",
        crate::connect::Source::Embedded => "this folder's embedded server",
    };
    let secs = |ms: i64| crate::output::duration_ms(ms);
    crate::outln!("{url} ({from})");
    crate::outln!("  version      {}", info.version);
    crate::outln!("  store        {}", info.store);
    crate::outln!("  process      {}", info.pid);
    crate::outln!("  up           {}", secs(chrono::Utc::now().timestamp_millis() - info.started_at));
    crate::outln!("  idle         {}", secs(info.idle_ms));
    crate::outln!(
        "  idle exit    {}",
        match info.idle_exit_ms {
            Some(ms) => format!("after {} idle with no open runs", secs(ms)),
            None => "never".into(),
        }
    );
    crate::outln!("  open runs    {}", info.open_runs);
    crate::outln!("  sign-in      {}", if info.auth { "required" } else { "not required" });
    Ok(())
}

/// `cairn server stop`: stops this folder's embedded server.
async fn stop(ctx: &crate::Ctx) -> Result<()> {
    if let Some((url, _)) = crate::connect::configured(ctx.server.as_deref())? {
        bail!(
            "{url} is not an embedded server of this folder; stop it where it runs (this command only stops the \
             server in <home>/server.json)"
        );
    }
    let home = settings::home()?;
    let Some((url, pid)) = crate::connect::marker(&home) else {
        crate::outln!("No Cairn server is running for {}.", home.display());
        return Ok(());
    };
    // Only a server that answers as the recorded process is signalled.
    let client = crate::connect::client_for(&url)?;
    match client.server_info().await {
        Ok(info) if info.pid == pid => {}
        _ => {
            let _ = std::fs::remove_file(home.join("server.json"));
            crate::outln!("The server recorded for {} was not running; its record is removed.", home.display());
            return Ok(());
        }
    }
    let target = nix::unistd::Pid::from_raw(i32::try_from(pid).context("process id out of range")?);
    nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM)
        .with_context(|| format!("cannot stop process {pid}"))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if nix::sys::signal::kill(target, None).is_err() {
            crate::outln!("Stopped the Cairn server at {url} (process {pid}).");
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    bail!("the server at {url} (process {pid}) did not stop within 15 s")
}

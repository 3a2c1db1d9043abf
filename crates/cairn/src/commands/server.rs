use crate::settings;
use anyhow::{Context, Result};
use axum::http::{Method, Uri};
use axum::response::IntoResponse;
use cairn_artifacts::ArtifactStore;
use cairn_server::Service;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// Address to bind [default: 127.0.0.1; env CAIRN_HOST]
    #[arg(long)]
    host: Option<String>,
    /// Port (0 picks a free one) [default: 8420; env CAIRN_PORT]
    #[arg(long)]
    port: Option<u16>,
    #[command(flatten)]
    storage: crate::StoreArgs,
}

pub async fn run(args: Args) -> Result<()> {
    let filter = std::env::var(settings::env::LOG).unwrap_or_else(|_| "info,sqlx=warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).context("CAIRN_LOG is not a valid log filter")?,
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let st = settings::storage(args.storage.store, args.storage.artifacts)?;
    let (host, port) = settings::listen(args.host, args.port, &st.home)?;
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
    let service = Service::new(store, artifacts);
    // Cairn's API, and MLflow's tracking API and artifact proxy on the same port.
    // The web UI answers the GETs no API route takes; everything else keeps the API's 404.
    let app = cairn_server::router(service.clone()).merge(cairn_mlflow::router(service)).fallback(
        |method: Method, uri: Uri| async move {
            match cairn_web::respond(&method, &uri) {
                Some(page) => page,
                None => cairn_server::not_found(method, uri).await.into_response(),
            }
        },
    );
    let served = cairn_server::serve_app(listener, app, shutdown_signal()).await;
    remove_marker(&marker);
    served.context("the server stopped with an error")
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

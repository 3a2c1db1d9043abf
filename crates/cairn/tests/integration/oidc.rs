//! Signing in through OpenID Connect, against a real provider: PyPI's
//! `oidc-provider-mock` (installed by `scripts/test` into `target/oidc-venv`, or named
//! by `CAIRN_TEST_OIDC_MOCK`). `cairn login --sso` runs as users run it; the test plays
//! the browser: it follows the redirects and fills in the provider's sign-in form.

use crate::common::{TestServer, command};
use reqwest::header::LOCATION;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The provider, killed when dropped.
struct Provider {
    child: Child,
    url: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mock_binary() -> String {
    if let Ok(b) = std::env::var("CAIRN_TEST_OIDC_MOCK") {
        return b;
    }
    let b = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/oidc-venv/bin/oidc-provider-mock");
    assert!(
        std::path::Path::new(b).exists(),
        "oidc-provider-mock is not installed: run ./scripts/test (it installs it into target/oidc-venv), or set \
         CAIRN_TEST_OIDC_MOCK to its path"
    );
    b.to_owned()
}

async fn provider() -> Provider {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let claims = r#"{"sub": "u-123", "preferred_username": "alice", "email": "alice@example.com", "name": "Alice"}"#;
    let child = std::process::Command::new(mock_binary())
        .args(["--port", &port.to_string(), "--user-claims", claims])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start oidc-provider-mock");
    let url = format!("http://127.0.0.1:{port}");
    let p = Provider { child, url };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok =
            reqwest::get(format!("{}/.well-known/openid-configuration", p.url)).await.is_ok_and(|r| r.status() == 200);
        if ok {
            return p;
        }
        assert!(Instant::now() < deadline, "oidc-provider-mock did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn location(r: &reqwest::Response) -> String {
    assert_eq!(r.status(), 302, "expected a redirect, got {}", r.status());
    r.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// Plays the browser from Cairn's sign-in start to where the provider sends it back
/// (Cairn's callback), signing in at the provider as its one user; returns the
/// callback's answer (a redirect, with the session cookie for the web UI).
async fn sign_in_at_provider(c: &reqwest::Client, start: &str) -> reqwest::Response {
    let to_provider = location(&c.get(start).send().await.unwrap());
    // The provider's form: choosing the user (its subject) signs in.
    let back = c
        .post(&to_provider)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("sub=u-123")
        .send()
        .await
        .unwrap();
    let callback = location(&back);
    assert!(callback.contains("/api/v1/auth/oidc/callback?"), "{callback}");
    c.get(callback).send().await.unwrap()
}

#[tokio::test]
async fn cairn_login_signs_in_through_the_provider_and_so_does_the_web_ui() {
    let idp = provider().await;
    // A confidential client: the secret comes from the environment, never the command line.
    let srv = TestServer::start_with_auth_env(
        &["--oidc-issuer", &idp.url, "--oidc-client-id", "cairn-test"],
        &[("CAIRN_OIDC_CLIENT_SECRET", "s3cret")],
    )
    .await;
    let c = no_redirects();
    let config: Value = c.get(srv.url_for("/api/v1/auth/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(config["oidc"]["issuer"], idp.url.as_str());

    // The CLI: `cairn login --sso` prints where to sign in and waits for the answer.
    let home = tempfile::tempdir().unwrap();
    let mut login = command(home.path())
        .args(["login", &srv.url(), "--sso"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(login.stderr.take().unwrap()).lines();
    let start = loop {
        let line = lines.next().expect("cairn login printed where to sign in").unwrap();
        if let Some(u) = line.trim().strip_prefix("http") {
            break format!("http{u}");
        }
    };
    let done = sign_in_at_provider(&c, &start).await;
    let to_cli = location(&done);
    assert!(
        to_cli.starts_with("http://127.0.0.1:") && to_cli.contains("code="),
        "a one-time code to the CLI: {to_cli}"
    );
    let r = reqwest::get(&to_cli).await.unwrap();
    assert_eq!(r.status(), 200);
    let out = login.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("as alice"), "{}", String::from_utf8_lossy(&out.stdout));
    // The token it kept signs every command in, as the user made from the identity.
    let out = command(home.path()).args(["whoami", "--json"]).output().unwrap();
    let me: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(me["user"]["name"], "alice");
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(me["user"]["oidc_issuer"], idp.url.as_str());
    assert_eq!(me["user"]["role"], "editor", "the default role of new identities");
    let perms = std::fs::metadata(home.path().join("config/credentials.toml")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(perms.permissions().mode() & 0o777, 0o600);
    // A code works once.
    let code = to_cli.split("code=").nth(1).unwrap();
    let again = c
        .post(srv.url_for("/api/v1/auth/oidc/exchange"))
        .json(&serde_json::json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401);

    // The web UI: the callback sets the session cookie and returns to the page asked for.
    let start = srv.url_for("/api/v1/auth/oidc/login?return_to=/runs");
    let done = sign_in_at_provider(&c, &start).await;
    assert_eq!(location(&done), "/runs");
    let cookie = done.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("cairn_session=") && cookie.contains("HttpOnly"), "{cookie}");
    let session = cookie.split(';').next().unwrap();
    let me: Value =
        c.get(srv.url_for("/api/v1/auth/whoami")).header("cookie", session).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["user"]["name"], "alice", "the same identity is the same user: {me}");
    assert_eq!(me["token"]["kind"], "session");

    // A code for somewhere other than this machine is refused.
    let r = c.get(srv.url_for("/api/v1/auth/oidc/login?cli_redirect=http://evil.example/cb")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    // A callback for a sign-in that never started is refused.
    let r = c.get(srv.url_for("/api/v1/auth/oidc/callback?code=x&state=nope")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

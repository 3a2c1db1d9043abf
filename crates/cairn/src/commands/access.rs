//! Signing in to a team server and managing who may do what: `cairn login`, `logout`,
//! `whoami`, `tokens`, `users`, `teams` and `audit`. The server decides; these render.

use crate::{connect, credentials, output};
use anyhow::{Context, Result, bail};
use cairn_api::auth::{CreateToken, LoginRequest, NewTeam};
use cairn_domain::auth::{AuditQuery, NewUser, Role, Scope, TokenKind, UserPatch};
use std::io::{BufRead, IsTerminal, Write};

#[derive(clap::Args)]
pub struct LoginArgs {
    /// The server [default: --server, CAIRN_SERVER, or the credentials file's default]
    url: Option<String>,
    /// A local account's user name (asked for on a terminal)
    #[arg(long, short)]
    username: Option<String>,
    /// Read the password from standard input (for scripts)
    #[arg(long)]
    password_stdin: bool,
    /// Sign in through the server's OpenID Connect provider, in a browser
    #[arg(long, conflicts_with_all = ["username", "password_stdin"])]
    sso: bool,
    /// Do not make this the default server for commands
    #[arg(long)]
    no_default: bool,
}

/// The server a command names (positional or `--server`), or the one configured.
fn target(url: Option<String>, ctx: &crate::Ctx) -> Result<String> {
    match url.or_else(|| ctx.server.clone()) {
        Some(u) => Ok(u.trim_end_matches('/').to_owned()),
        None => match connect::configured(None)? {
            Some((u, _)) => Ok(u),
            None => bail!("name the server: `cairn login http://team-host:8420`"),
        },
    }
}

fn prompt(label: &str) -> Result<String> {
    eprint!("{label}: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Reads a password without echoing it on a terminal.
fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let before = tcgetattr(&stdin).context("cannot read the terminal's settings")?;
    let mut quiet = before.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("cannot turn echo off")?;
    let read = prompt("password");
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &before);
    eprintln!();
    read
}

pub async fn login(args: LoginArgs, ctx: &crate::Ctx) -> Result<()> {
    let url = target(args.url, ctx)?;
    let client = cairn_client::Client::new(&url)?;
    let config = client.auth_config().await.with_context(|| format!("cannot ask {url} how it signs people in"))?;
    if !config.required {
        crate::outln!("{url} does not require signing in; commands work without it.");
        return Ok(());
    }
    let host = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "here".into());
    let use_sso = args.sso || (config.oidc.is_some() && args.username.is_none() && !args.password_stdin);
    let issued = if use_sso {
        let Some(oidc) = &config.oidc else {
            bail!("{url} has no OpenID Connect provider configured; sign in with --username");
        };
        browser_login(&client, &url, &oidc.login_url).await?
    } else {
        let username = match args.username {
            Some(u) => u,
            None if std::io::stdin().is_terminal() => prompt("user name")?,
            None => bail!("give --username (and the password on standard input with --password-stdin)"),
        };
        let password = read_password(args.password_stdin)?;
        let req =
            LoginRequest { username, password, kind: Some(TokenKind::Cli), token_name: Some(format!("cli@{host}")) };
        client.login(&req).await?
    };
    let mut creds = credentials::load()?;
    creds.set(
        &url,
        credentials::Login {
            token: issued.token.clone(),
            user: issued.user.name.clone(),
            expires_at: issued.info.expires_at,
        },
    );
    let make_default = !args.no_default;
    if make_default {
        creds.default_server = Some(url.clone());
    }
    let path = credentials::save(&creds)?;
    crate::outln!(
        "Signed in to {url} as {} (token '{}', {}). Saved in {}{}.",
        issued.user.name,
        issued.info.name,
        issued.info.expires_at.map_or("no expiry".into(), |t| format!("expires {}", output::time(t))),
        path.display(),
        if make_default { "; commands now use this server by default" } else { "" }
    );
    Ok(())
}

/// Opens the provider's sign-in in a browser; the server hands a one-time code to a
/// listener on this machine, which is exchanged for a token.
async fn browser_login(
    client: &cairn_client::Client,
    url: &str,
    login_path: &str,
) -> Result<cairn_api::auth::IssuedToken> {
    let listener =
        tokio::net::TcpListener::bind("127.0.0.1:0").await.context("cannot listen for the sign-in's answer")?;
    let port = listener.local_addr()?.port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let start = format!(
        "{url}{login_path}?cli_redirect={}",
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
    );
    eprintln!("Opening your browser to sign in. If it does not open, visit:\n  {start}");
    let _ = std::process::Command::new(if cfg!(target_os = "macos") { "open" } else { "xdg-open" })
        .arg(&start)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let code = tokio::time::timeout(std::time::Duration::from_secs(300), wait_for_code(listener))
        .await
        .context("no sign-in within 5 minutes")??;
    Ok(client.exchange_code(&code).await?)
}

async fn wait_for_code(listener: tokio::net::TcpListener) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let (mut sock, _) = listener.accept().await?;
        let mut buf = vec![0u8; 8192];
        let n = sock.read(&mut buf).await?;
        let head = String::from_utf8_lossy(&buf[..n]);
        let target = head.split_whitespace().nth(1).unwrap_or("");
        let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
        let params: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let (status, body, done) = match (params.get("code"), params.get("error")) {
            (Some(c), _) => ("200 OK", "Signed in to Cairn. You can close this tab.", Some(Ok(c.clone()))),
            (None, Some(e)) => ("400 Bad Request", "The sign-in failed; see the terminal.", Some(Err(e.clone()))),
            _ => ("404 Not Found", "", None),
        };
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = sock.write_all(reply.as_bytes()).await;
        match done {
            Some(Ok(code)) => return Ok(code),
            Some(Err(e)) => bail!("the sign-in failed: {e}"),
            None => continue,
        }
    }
}

#[derive(clap::Args)]
pub struct LogoutArgs {
    /// The server [default: --server, CAIRN_SERVER, or the credentials file's default]
    url: Option<String>,
}

pub async fn logout(args: LogoutArgs, ctx: &crate::Ctx) -> Result<()> {
    let url = target(args.url, ctx)?;
    let mut creds = credentials::load()?;
    let Some(login) = creds.remove(&url) else {
        crate::outln!("Not signed in to {url}.");
        return Ok(());
    };
    // The token is revoked on the server too; forgetting it here is what matters most.
    let client = cairn_client::Client::new(&url)?.with_token(Some(login.token));
    if let Err(e) = client.logout().await {
        eprintln!("cairn: the server did not revoke the token ({e}); it is forgotten here anyway");
    }
    credentials::save(&creds)?;
    crate::outln!("Signed out of {url}.");
    Ok(())
}

pub async fn whoami(json: bool, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let me = client.whoami().await?;
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&me)?);
        return Ok(());
    }
    match &me.user {
        Some(u) => {
            crate::outln!("{} at {} (organisation role {})", u.name, client.base(), u.role);
            if let Some(t) = &me.token {
                crate::outln!(
                    "  token '{}' ({}…), scope {}{}",
                    t.name,
                    t.prefix,
                    t.scope.as_str(),
                    t.expires_at.map(|e| format!(", expires {}", output::time(e))).unwrap_or_default()
                );
            }
        }
        None if me.auth => crate::outln!("Not signed in to {}: `cairn login {}`", client.base(), client.base()),
        None => crate::outln!("{} runs without sign-in; runs are recorded as {}", client.base(), me.name),
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct TokensArgs {
    #[command(subcommand)]
    action: TokensAction,
}

#[derive(clap::Subcommand)]
enum TokensAction {
    /// Make an API token (for CI, scripts, MLflow clients); its secret is shown once
    Create {
        /// What it is for, e.g. `ci`
        name: String,
        /// What it may do
        #[arg(long, default_value = "write", value_parser = ["read", "write", "admin"])]
        scope: String,
        /// Days until it expires [default: never]
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// For another user (organisation admins)
        #[arg(long)]
        user: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// List your tokens (never their secrets)
    Ls {
        /// Another user's (organisation admins)
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its number (`cairn tokens ls`)
    Revoke { id: i64 },
}

pub async fn tokens(args: TokensArgs, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    match args.action {
        TokensAction::Create { name, scope, expires_in_days, user, json } => {
            let req = CreateToken { name, scope: Scope::parse(&scope), expires_in_days, user };
            let t = client.create_token(&req).await?;
            if json {
                crate::outln!("{}", serde_json::to_string_pretty(&t)?);
            } else {
                crate::outln!("{}", t.token);
                eprintln!(
                    "Token '{}' (number {}, scope {}) for {}. This is the only time its secret is shown: store it \
                     (e.g. as CAIRN_TOKEN, or MLFLOW_TRACKING_TOKEN for MLflow clients).",
                    t.info.name,
                    t.info.id,
                    t.info.scope.as_str(),
                    t.user.name
                );
            }
        }
        TokensAction::Ls { user, json } => {
            let list = client.tokens(user.as_deref()).await?;
            if json {
                crate::outln!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|t| {
                    let state = match (t.revoked_at, t.expires_at) {
                        (Some(r), _) => format!("revoked {}", output::time(r)),
                        (None, Some(e)) if e <= chrono::Utc::now().timestamp_millis() => {
                            format!("expired {}", output::time(e))
                        }
                        (None, Some(e)) => format!("until {}", output::time(e)),
                        (None, None) => "active".into(),
                    };
                    vec![
                        t.id.to_string(),
                        t.name.clone(),
                        format!("{}…", t.prefix),
                        t.scope.as_str().into(),
                        t.kind.as_str().into(),
                        output::time(t.created_at),
                        t.last_used_at.map(output::time).unwrap_or_else(|| "-".into()),
                        state,
                    ]
                })
                .collect();
            crate::out!(
                "{}",
                output::table(&["id", "name", "prefix", "scope", "kind", "created", "last used", "state"], &rows)
            );
        }
        TokensAction::Revoke { id } => {
            let t = client.revoke_token(id).await?;
            crate::outln!("Revoked token {} '{}' ({}…).", t.id, t.name, t.prefix);
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    action: UsersAction,
}

#[derive(clap::Subcommand)]
enum UsersAction {
    /// List the organisation's users
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Add a user (organisation admins)
    Add {
        name: String,
        #[arg(long, default_value = "editor", value_parser = ["viewer", "editor", "admin"])]
        role: String,
        #[arg(long)]
        email: Option<String>,
        /// Give a password (read from standard input) for a local account
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's role, disable or enable them, or set a password
    Set {
        name: String,
        #[arg(long, value_parser = ["viewer", "editor", "admin"])]
        role: Option<String>,
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        #[arg(long)]
        enable: bool,
        #[arg(long)]
        password_stdin: bool,
    },
}

fn user_rows(users: &[cairn_domain::auth::User]) -> String {
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.name.clone(),
                u.role.to_string(),
                match (u.local, &u.oidc_issuer) {
                    (true, Some(_)) => "password, sso".into(),
                    (true, None) => "password".into(),
                    (false, Some(i)) => format!("sso ({i})"),
                    (false, None) => "tokens only".into(),
                },
                u.email.clone().unwrap_or_default(),
                if u.disabled_at.is_some() { "disabled".into() } else { "active".into() },
            ]
        })
        .collect();
    output::table(&["user", "role", "signs in with", "email", "state"], &rows)
}

pub async fn users(args: UsersArgs, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    match args.action {
        UsersAction::Ls { json } => {
            let users = client.users().await?;
            if json {
                crate::outln!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                crate::out!("{}", user_rows(&users));
            }
        }
        UsersAction::Add { name, role, email, password_stdin } => {
            let password = if password_stdin { Some(read_password(true)?) } else { None };
            let new = NewUser { name, display_name: String::new(), email, role: Role::parse(&role), password };
            let u = client.create_user(&new).await?;
            crate::outln!("Added {} ({}).", u.name, u.role);
        }
        UsersAction::Set { name, role, disable, enable, password_stdin } => {
            let patch = UserPatch {
                role: role.as_deref().and_then(Role::parse),
                disabled: if disable {
                    Some(true)
                } else if enable {
                    Some(false)
                } else {
                    None
                },
                password: if password_stdin { Some(read_password(true)?) } else { None },
                ..Default::default()
            };
            let u = client.update_user(&name, &patch).await?;
            crate::out!("{}", user_rows(&[u]));
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct TeamsArgs {
    #[command(subcommand)]
    action: TeamsAction,
}

#[derive(clap::Subcommand)]
enum TeamsAction {
    /// List teams and their members
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Create a team (organisation admins)
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Add a user to a team (or change their role in it)
    Add {
        team: String,
        user: String,
        #[arg(long, default_value = "editor", value_parser = ["viewer", "editor", "admin", "owner"])]
        role: String,
    },
    /// Remove a user from a team
    Remove { team: String, user: String },
    /// Delete a team (its project roles go with it)
    Delete { team: String },
}

pub async fn teams(args: TeamsArgs, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let show = |t: &cairn_domain::auth::Team| {
        let members: Vec<String> = t.members.iter().map(|m| format!("{} ({})", m.name, m.role)).collect();
        vec![t.name.clone(), members.join(", "), output::clip(&t.description, 40)]
    };
    match args.action {
        TeamsAction::Ls { json } => {
            let teams = client.teams().await?;
            if json {
                crate::outln!("{}", serde_json::to_string_pretty(&teams)?);
            } else {
                let rows: Vec<Vec<String>> = teams.iter().map(show).collect();
                crate::out!("{}", output::table(&["team", "members", "description"], &rows));
            }
        }
        TeamsAction::Create { name, description } => {
            let t = client.create_team(&NewTeam { name, description }).await?;
            crate::outln!("Created team {}.", t.name);
        }
        TeamsAction::Add { team, user, role } => {
            let t = client.set_team_member(&team, &user, Role::parse(&role)).await?;
            crate::out!("{}", output::table(&["team", "members", "description"], &[show(&t)]));
        }
        TeamsAction::Remove { team, user } => {
            let t = client.set_team_member(&team, &user, None).await?;
            crate::out!("{}", output::table(&["team", "members", "description"], &[show(&t)]));
        }
        TeamsAction::Delete { team } => {
            client.delete_team(&team).await?;
            crate::outln!("Deleted team {team}.");
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct AuditArgs {
    /// Only this project's entries (project admins may read their project's)
    #[arg(long, short)]
    project: Option<String>,
    /// Only this user's actions
    #[arg(long, short)]
    user: Option<String>,
    /// Only the last DURATION (`7d`, `12h`)
    #[arg(long)]
    since: Option<String>,
    /// Most entries to show
    #[arg(long, short = 'n', default_value_t = 100)]
    limit: u32,
    #[arg(long)]
    json: bool,
}

pub async fn audit(args: AuditArgs, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let since = match &args.since {
        Some(d) => Some(chrono::Utc::now().timestamp_millis() - crate::settings::duration(d)?.as_millis() as i64),
        None => None,
    };
    let q = AuditQuery {
        project: args.project,
        user: args.user,
        since,
        before: None,
        limit: Some(args.limit.clamp(1, 1000)),
    };
    let entries = client.audit(&q).await?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    if entries.is_empty() {
        crate::outln!("No audit entries match.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                output::time(e.at),
                e.actor.clone(),
                e.action.clone(),
                e.status.to_string(),
                e.project.clone().unwrap_or_default(),
                e.address.clone().unwrap_or_default(),
                e.token.clone().unwrap_or_default(),
                e.details.as_ref().map(|d| output::clip(&d.to_string(), 60)).unwrap_or_default(),
            ]
        })
        .collect();
    crate::out!("{}", output::table(&["when", "who", "what", "status", "project", "from", "token", "details"], &rows));
    Ok(())
}

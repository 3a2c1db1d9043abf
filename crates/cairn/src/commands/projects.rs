use crate::output;
use anyhow::{Result, bail};
use cairn_domain::{Direction, NewProject, PrimaryMetric, ProjectName, ProjectPatch};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Change a project's settings (creating the project if it does not exist)
    Set(SetArgs),
    /// Who may see and change a project: its visibility and members
    Members {
        /// The project
        name: String,
    },
    /// Give a user or a team a role on a project
    Grant {
        /// The project
        name: String,
        #[command(flatten)]
        who: Principal,
        #[arg(long, value_parser = ["viewer", "editor", "admin", "owner"])]
        role: String,
    },
    /// Take a user's or team's role on a project away
    Revoke {
        /// The project
        name: String,
        #[command(flatten)]
        who: Principal,
    },
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct Principal {
    /// A user
    #[arg(long)]
    user: Option<String>,
    /// A team
    #[arg(long)]
    team: Option<String>,
}

impl Principal {
    fn split(&self) -> (cairn_domain::auth::PrincipalKind, String) {
        match (&self.user, &self.team) {
            (Some(u), _) => (cairn_domain::auth::PrincipalKind::User, u.clone()),
            (None, Some(t)) => (cairn_domain::auth::PrincipalKind::Team, t.clone()),
            (None, None) => unreachable!("clap requires one"),
        }
    }
}

fn print_access(a: &cairn_api::auth::ProjectAccess, json: bool) -> Result<()> {
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(a)?);
        return Ok(());
    }
    crate::outln!(
        "project {}: {} (your role: {})",
        a.project,
        match a.visibility {
            cairn_domain::auth::Visibility::Org => "visible to the whole organisation",
            cairn_domain::auth::Visibility::Private => "private to its members",
        },
        a.your_role.map_or("none".into(), |r| r.to_string())
    );
    let rows: Vec<Vec<String>> =
        a.members.iter().map(|m| vec![m.name.clone(), m.kind.as_str().into(), m.role.to_string()]).collect();
    if !rows.is_empty() {
        crate::out!("{}", output::table(&["member", "kind", "role"], &rows));
    }
    Ok(())
}

#[derive(clap::Args)]
struct SetArgs {
    /// The project
    name: String,
    /// The metric that ranks runs (what `cairn tried` and the dashboard judge by)
    #[arg(long)]
    primary_metric: Option<String>,
    /// The primary metric is better when lower (a loss, an error rate)
    #[arg(long, requires = "primary_metric")]
    lower_is_better: bool,
    /// Whether every run must state a hypothesis
    #[arg(long)]
    require_hypothesis: Option<bool>,
    /// A description of the project
    #[arg(long)]
    description: Option<String>,
    /// Who sees it: the whole organisation, or its members only
    #[arg(long, value_parser = ["org", "private"])]
    visibility: Option<String>,
}

pub async fn run(args: Args, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    match &args.action {
        Some(Action::Members { name }) => return print_access(&client.project_access(name).await?, args.json),
        Some(Action::Grant { name, who, role }) => {
            let (kind, principal) = who.split();
            let role = cairn_domain::auth::Role::parse(role);
            return print_access(&client.set_project_member(name, kind, &principal, role).await?, args.json);
        }
        Some(Action::Revoke { name, who }) => {
            let (kind, principal) = who.split();
            return print_access(&client.set_project_member(name, kind, &principal, None).await?, args.json);
        }
        _ => {}
    }
    if let Some(Action::Set(s)) = args.action {
        let name = ProjectName::parse(s.name.clone())?;
        if s.primary_metric.is_none()
            && s.require_hypothesis.is_none()
            && s.description.is_none()
            && s.visibility.is_none()
        {
            bail!("nothing to set: give --primary-metric, --require-hypothesis, --description or --visibility");
        }
        if let Some(d) = &s.description {
            cairn_domain::validate_text("description", d, cairn_domain::MAX_DESCRIPTION, true)?;
        }
        let primary_metric = s.primary_metric.map(|key| PrimaryMetric {
            key,
            direction: if s.lower_is_better { Direction::Decrease } else { Direction::Increase },
        });
        let patch = ProjectPatch {
            description: s.description,
            require_hypothesis: s.require_hypothesis,
            primary_metric,
            visibility: s.visibility.as_deref().and_then(cairn_domain::auth::Visibility::parse),
            ..Default::default()
        };
        match client.project(name.as_str()).await {
            Err(e) if e.is_not_found() => {
                let new = NewProject { name: name.to_string(), ..Default::default() };
                match client.create_project(&new).await {
                    Ok(_) => {}
                    Err(e) if e.code() == Some(cairn_api::ErrorCode::AlreadyExists) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let p = client.update_project(name.as_str(), &patch).await?;
        if args.json {
            crate::outln!("{}", serde_json::to_string_pretty(&p)?);
        } else {
            crate::outln!("project {}: {}", p.name, describe(&p));
        }
        return Ok(());
    }
    let projects = client.projects().await?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&serde_json::json!({ "projects": projects }))?);
        return Ok(());
    }
    if projects.is_empty() {
        crate::outln!(
            "No projects yet. Runs create their project on first use, e.g.:\n  cairn run --project demo --hypothesis \"…\" -- python train.py"
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = projects
        .iter()
        .map(|p| {
            vec![
                p.name.to_string(),
                p.run_count.to_string(),
                if p.require_hypothesis { "required".into() } else { "optional".into() },
                primary(p),
                output::time(p.created_at),
                if p.deleted_at.is_some() {
                    format!("(deleted) {}", output::clip(&p.description, 40))
                } else {
                    output::clip(&p.description, 50)
                },
            ]
        })
        .collect();
    crate::out!(
        "{}",
        output::table(&["project", "runs", "hypothesis", "primary metric", "created", "description"], &rows)
    );
    Ok(())
}

fn primary(p: &cairn_domain::Project) -> String {
    match &p.primary_metric {
        Some(m) => format!("{} ({})", m.key, if m.direction == Direction::Increase { "max" } else { "min" }),
        None => "-".into(),
    }
}

fn describe(p: &cairn_domain::Project) -> String {
    format!("primary metric {}, hypothesis {}", primary(p), if p.require_hypothesis { "required" } else { "optional" })
}

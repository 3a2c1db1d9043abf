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
}

pub async fn run(args: Args, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    if let Some(Action::Set(s)) = args.action {
        let name = ProjectName::parse(s.name.clone())?;
        if s.primary_metric.is_none() && s.require_hypothesis.is_none() && s.description.is_none() {
            bail!("nothing to set: give --primary-metric, --require-hypothesis or --description");
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

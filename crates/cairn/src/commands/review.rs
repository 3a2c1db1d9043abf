//! `cairn review weekly`: the week's most informative runs for the team meeting —
//! significant improvements over the baseline, notable negative results, surprises,
//! and runs that changed many things at once. `--markdown` for the meeting notes.

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    period: Period,
}

#[derive(clap::Subcommand)]
enum Period {
    /// The last seven days (or --days N)
    Weekly(WeeklyArgs),
}

#[derive(clap::Args)]
struct WeeklyArgs {
    /// The project [default: env CAIRN_PROJECT, else "default"]
    #[arg(long, short)]
    project: Option<String>,
    /// The period in days
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Print Markdown (for meeting notes)
    #[arg(long, conflicts_with = "json")]
    markdown: bool,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args, ctx: &crate::Ctx) -> Result<()> {
    let Period::Weekly(a) = args.period;
    let client = ctx.client().await?;
    let project = super::project_name(a.project);
    if a.json {
        let review = client.review(&project, a.days).await?;
        crate::outln!("{}", serde_json::to_string_pretty(&review)?);
    } else {
        // The server renders the Markdown; it reads well in a terminal too.
        let _ = a.markdown;
        crate::out!("{}", client.review_markdown(&project, a.days).await?);
    }
    Ok(())
}

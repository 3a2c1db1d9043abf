//! `cairn review weekly`: the week's most informative runs for the team meeting —
//! significant improvements over the baseline, notable negative results, surprises,
//! and runs that changed many things at once. `--markdown` for the meeting notes.

use crate::{project_data, settings};
use anyhow::Result;
use cairn_artifacts::ArtifactStore;
use cairn_server::Service;

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
    #[command(flatten)]
    storage: crate::StoreArgs,
}

pub async fn run(args: Args) -> Result<()> {
    let Period::Weekly(a) = args.period;
    let st = settings::storage(a.storage.store, a.storage.artifacts)?;
    let store = settings::open_store(&st.store_url).await?;
    let service = Service::new(store, ArtifactStore::open(&st.artifacts_url)?);
    let project = project_data::project_name(a.project);
    let review = service.review(&project, a.days).await.map_err(|e| anyhow::anyhow!(e.message))?;
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&review)?);
    } else {
        // Markdown reads well in a terminal too.
        let _ = a.markdown;
        crate::out!("{}", cairn_server::service::review_markdown(&review));
    }
    Ok(())
}

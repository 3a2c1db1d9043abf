use crate::{output, settings};
use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    storage: crate::StoreArgs,
}

pub async fn run(args: Args) -> Result<()> {
    let st = settings::storage(args.storage.store, args.storage.artifacts)?;
    let store = settings::open_store(&st.store_url).await?;
    let projects = store.list_projects().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "projects": projects }))?);
        return Ok(());
    }
    if projects.is_empty() {
        println!(
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
                output::time(p.created_at),
                output::clip(&p.description, 50),
            ]
        })
        .collect();
    print!("{}", output::table(&["project", "runs", "hypothesis", "created", "description"], &rows));
    Ok(())
}

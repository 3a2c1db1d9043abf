//! `cairn models [NAME]`: the model registry — registered models, or one model's
//! versions with their stage, aliases and the run that produced each.

use crate::output;
use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// A registered model: list its versions
    name: Option<String>,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let Some(name) = args.name else {
        let models = client.models().await?;
        if args.json {
            crate::outln!("{}", serde_json::to_string_pretty(&serde_json::json!({ "models": models }))?);
            return Ok(());
        }
        if models.is_empty() {
            crate::outln!(
                "No registered models yet. Register one from MLflow code (mlflow.register_model, or log_model with \
                 registered_model_name=…), or through POST /api/v1/models."
            );
            return Ok(());
        }
        let versions = futures::future::try_join_all(models.iter().map(|m| client.model_versions(&m.name))).await?;
        let rows: Vec<Vec<String>> = models
            .iter()
            .zip(&versions)
            .map(|(m, mine)| {
                let staged: Vec<String> = mine
                    .iter()
                    .filter(|v| v.stage != cairn_domain::ModelStage::None)
                    .map(|v| format!("v{} {}", v.version, v.stage.as_str()))
                    .collect();
                let aliases: Vec<String> = m.aliases.iter().map(|(a, v)| format!("{a}→v{v}")).collect();
                vec![
                    m.name.clone(),
                    mine.len().to_string(),
                    mine.iter().map(|v| v.version).max().map(|v| format!("v{v}")).unwrap_or_else(|| "-".into()),
                    if staged.is_empty() { "-".into() } else { staged.join(", ") },
                    if aliases.is_empty() { "-".into() } else { aliases.join(", ") },
                    output::time(m.updated_at),
                    output::clip(&m.description, 40),
                ]
            })
            .collect();
        crate::out!(
            "{}",
            output::table(&["model", "versions", "latest", "stages", "aliases", "updated", "description"], &rows)
        );
        return Ok(());
    };
    let model = client.model(&name).await.map_err(|e| {
        if e.is_not_found() {
            anyhow::anyhow!("no registered model '{name}'; `cairn models` lists them")
        } else {
            e.into()
        }
    })?;
    let versions = client.model_versions(&name).await?;
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "model": model, "versions": versions }))?
        );
        return Ok(());
    }
    let mut rows = Vec::new();
    for v in &versions {
        let run = match v.run_id {
            Some(id) => match client.run(&id.to_string()).await {
                Ok(r) => format!("{} {}", r.short_id, r.name),
                Err(_) => id.to_string(),
            },
            None => "-".into(),
        };
        let aliases: Vec<&str> =
            model.aliases.iter().filter(|(_, n)| **n == v.version).map(|(a, _)| a.as_str()).collect();
        rows.push(vec![
            format!("v{}", v.version),
            v.stage.as_str().to_owned(),
            if aliases.is_empty() { "-".into() } else { aliases.join(", ") },
            run,
            output::clip(&v.source, 50),
            output::time(v.created_at),
        ]);
    }
    crate::outln!(
        "{}{}",
        model.name,
        if model.description.is_empty() { String::new() } else { format!(": {}", model.description) }
    );
    crate::out!("{}", output::table(&["version", "stage", "aliases", "run", "source", "created"], &rows));
    Ok(())
}

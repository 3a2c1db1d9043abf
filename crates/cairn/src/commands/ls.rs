use crate::output;
use anyhow::{Result, bail};
use cairn_api::runs::SearchRequest;
use cairn_domain::{Run, flatten_config};
use std::collections::{BTreeSet, HashMap};

#[derive(clap::Args)]
pub struct Args {
    /// Only runs of this project
    #[arg(long, short)]
    project: Option<String>,
    /// Filter, e.g. 'params.lr < 0.01 and metrics.val_acc > 0.9 and tags.aug = "mixup"'
    #[arg(long, short)]
    filter: Option<String>,
    /// Sort keys, e.g. 'metrics.val_acc desc, params.lr' [default: newest first]
    #[arg(long, short)]
    sort: Option<String>,
    /// Most runs to show
    #[arg(long, short = 'n', default_value_t = 50)]
    limit: u32,
    /// Include deleted runs
    #[arg(long)]
    deleted: bool,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args, ctx: &crate::Ctx) -> Result<()> {
    if args.limit == 0 || args.limit > 10_000 {
        bail!("--limit must be between 1 and 10000");
    }
    let client = ctx.client().await?;
    let q = SearchRequest {
        project: args.project.clone(),
        filter: args.filter.clone(),
        order_by: args.sort.clone(),
        include_deleted: args.deleted,
        limit: Some((args.limit + 1).min(cairn_api::runs::MAX_PAGE)),
        // The table shows params and metrics; JSON gets the whole record.
        fields: (!args.json).then(|| vec!["config".into(), "metrics".into()]),
        ..Default::default()
    };
    // Pages of at most 1000 until --limit runs.
    let mut runs = client.search_all(&q, args.limit as usize + 1).await?;
    let more = runs.len() > args.limit as usize;
    runs.truncate(args.limit as usize);
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&serde_json::json!({ "runs": runs }))?);
        return Ok(());
    }
    if runs.is_empty() {
        if args.filter.is_some() {
            crate::outln!("No runs match.");
        } else {
            crate::outln!("No runs yet. Start one with:\n  cairn run --hypothesis \"…\" -- python train.py");
        }
        return Ok(());
    }
    // Replicates (runs differing at most by seed) share a group: mark them so they read
    // together, with the whole group's size (counted by the server, all at once).
    let groups: BTreeSet<(String, String)> =
        runs.iter().filter_map(|r| r.group_id.clone().map(|g| (r.project.to_string(), g))).collect();
    let counts = futures::future::join_all(groups.iter().map(|(project, g)| {
        let client = &client;
        async move {
            let q = SearchRequest {
                project: Some(project.clone()),
                filter: Some(format!("group_id = {}", serde_json::Value::String(g.clone()))),
                limit: Some(1),
                count: true,
                fields: Some(vec![]),
                ..Default::default()
            };
            (g.clone(), client.search(&q).await.ok().and_then(|p| p.total).unwrap_or(0) as usize)
        }
    }))
    .await;
    let sizes: HashMap<String, usize> = counts.into_iter().collect();
    let page_more = more;
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let mut cells = row(r);
            let group = match r.group_id.as_deref() {
                Some(g) if sizes.get(g).copied().unwrap_or(0) > 1 => {
                    let tail: String = g.chars().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect();
                    format!("{tail} ×{}", sizes[g])
                }
                _ => String::new(),
            };
            cells.insert(4, group);
            cells
        })
        .collect();
    crate::out!(
        "{}",
        output::table(
            &["id", "project", "name", "status", "replicates", "created", "hypothesis", "params", "metrics"],
            &rows
        )
    );
    if page_more {
        crate::outln!("(more runs: raise --limit or narrow --filter)");
    }
    Ok(())
}

fn row(r: &Run) -> Vec<String> {
    let params: Vec<String> = flatten_config(&r.config)
        .into_iter()
        .take(3)
        .map(|(k, _)| format!("{k}={}", output::clip(&param(&r.config, &k), 12)))
        .collect();
    let metrics: Vec<String> =
        r.metrics.iter().take(3).map(|m| format!("{}={}", m.key, output::number(m.last))).collect();
    let hypothesis = if r.missing_hypothesis() {
        "(none)".to_owned()
    } else {
        output::clip(r.hypothesis.as_deref().unwrap_or(""), 40)
    };
    vec![
        r.short_id.to_string(),
        r.project.to_string(),
        output::clip(&r.name, 24),
        r.status.to_string(),
        output::time(r.created_at),
        hypothesis,
        params.join(" "),
        metrics.join(" "),
    ]
}

/// The display form of a flattened config key's value.
fn param(config: &cairn_domain::Config, dotted: &str) -> String {
    let mut v: Option<&serde_json::Value> = None;
    let mut map = Some(config);
    for seg in dotted.split('.') {
        v = map.and_then(|m| m.get(seg));
        map = v.and_then(|x| x.as_object());
    }
    v.map(output::value).unwrap_or_default()
}

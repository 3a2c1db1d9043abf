use crate::{output, settings};
use anyhow::{Result, bail};
use cairn_domain::{ProjectName, Run, flatten_config};
use cairn_store::RunQuery;

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
    #[command(flatten)]
    storage: crate::StoreArgs,
}

pub async fn run(args: Args) -> Result<()> {
    let filter = match &args.filter {
        Some(f) => match cairn_query::parse_filter(f) {
            Ok(e) => e,
            Err(e) => bail!("invalid filter: {e}\n  {}", e.caret().replace('\n', "\n  ")),
        },
        None => None,
    };
    let order = match &args.sort {
        Some(s) => match cairn_query::parse_order(s) {
            Ok(o) => o,
            Err(e) => bail!("invalid sort: {e}\n  {}", e.caret().replace('\n', "\n  ")),
        },
        None => vec![],
    };
    if args.limit == 0 || args.limit > 10_000 {
        bail!("--limit must be between 1 and 10000");
    }
    let project = args.project.map(ProjectName::parse).transpose()?;
    let st = settings::storage(args.storage.store, args.storage.artifacts)?;
    let store = settings::open_store(&st.store_url).await?;
    let q = RunQuery { project, filter, order, limit: args.limit, include_deleted: args.deleted, ..Default::default() };
    let page = store.search_runs(&q).await?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&serde_json::json!({ "runs": page.runs }))?);
        return Ok(());
    }
    if page.runs.is_empty() {
        if args.filter.is_some() {
            crate::outln!("No runs match.");
        } else {
            crate::outln!("No runs yet. Start one with:\n  cairn run --hypothesis \"…\" -- python train.py");
        }
        return Ok(());
    }
    // Replicates (runs differing at most by seed) share a group: mark them so they read together.
    let mut sizes: std::collections::HashMap<&str, usize> = Default::default();
    for r in &page.runs {
        if let Some(g) = &r.group_id
            && !sizes.contains_key(g.as_str())
        {
            let filter = cairn_query::parse_filter(&format!("group_id = \"{}\"", g.replace('"', "")))?;
            let q = RunQuery { project: Some(r.project.clone()), filter, limit: 1000, ..Default::default() };
            sizes.insert(g.as_str(), store.search_runs(&q).await?.runs.len());
        }
    }
    let rows: Vec<Vec<String>> = page
        .runs
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
    if page.next_offset.is_some() {
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

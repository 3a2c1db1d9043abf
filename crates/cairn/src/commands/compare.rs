//! `cairn compare REFERENCE CANDIDATE…`: each candidate against the reference on one
//! metric — the difference with its 95% confidence interval, the p-value, a plain
//! verdict, and the replicates each side would need to resolve the difference. Runs
//! stand for their whole replicate group unless `--single`. The project's noise floor
//! (seed-to-seed spread from its replicate groups) judges single runs and marks
//! differences that sit inside it. Several candidates: Holm-corrected p-values.

use crate::project_data::{self, Side};
use crate::{output, settings};
use anyhow::{Result, bail};
use cairn_analysis::{Comparison, Verdict, compare, holm};
use cairn_domain::Direction;
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    /// The reference (a run, short id, or replicate group id), then the candidates; a
    /// single candidate is compared with the project's baseline
    #[arg(required = true, num_args = 1..)]
    runs: Vec<String>,
    /// The project [default: env CAIRN_PROJECT, else "default"]
    #[arg(long, short)]
    project: Option<String>,
    /// The metric to compare [default: the project's primary metric]
    #[arg(long, short)]
    metric: Option<String>,
    /// With --metric: lower values are better (e.g. a loss)
    #[arg(long)]
    lower_is_better: bool,
    /// Compare the named runs alone, not their replicate groups
    #[arg(long)]
    single: bool,
    /// Significance level
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    storage: crate::StoreArgs,
}

pub async fn run(args: Args) -> Result<()> {
    if !(0.0..0.5).contains(&args.alpha) || args.alpha == 0.0 {
        bail!("--alpha must be between 0 and 0.5, e.g. 0.05");
    }
    let st = settings::storage(args.storage.store, args.storage.artifacts)?;
    let store = settings::open_store(&st.store_url).await?;
    let name = project_data::project_name(args.project.clone());
    let project = project_data::project(&*store, &name).await?;
    let (metric, direction) = project_data::metric(&project, args.metric.clone(), args.lower_is_better)?;
    let lower = direction == Direction::Decrease;
    let runs = project_data::all_runs(&*store, &project.name).await?;
    let noise = project_data::noise_floor(&runs, &metric);

    let (reference, candidates) = if args.runs.len() == 1 {
        (crate::commands::baseline::recorded(&*store, &project, &runs).await?, &args.runs[..])
    } else {
        (project_data::side(&*store, &runs, &args.runs[0], args.single).await?, &args.runs[1..])
    };
    let (ref_values, ref_missing) = reference.values(&metric);
    if ref_values.is_empty() {
        bail!(
            "the reference {} has no finished run with a value of '{metric}'; `cairn show {}` lists its metrics",
            reference.label,
            args.runs[0]
        );
    }
    let mut sides: Vec<(Side, Comparison, usize)> = Vec::new();
    for c in candidates {
        let side = project_data::side(&*store, &runs, c, args.single).await?;
        let (values, missing) = side.values(&metric);
        let Some(cmp) = compare(&values, &ref_values, lower, noise, args.alpha) else {
            bail!("{} has no finished run with a value of '{metric}'; `cairn show {c}` lists its metrics", side.label);
        };
        sides.push((side, cmp, missing));
    }
    // Several candidates against one reference: Holm's correction keeps the chance of
    // any false "better" at alpha.
    let adjusted: Option<Vec<f64>> = (sides.len() > 1).then(|| {
        let ps: Vec<f64> = sides.iter().map(|(_, c, _)| c.p.unwrap_or(1.0)).collect();
        holm(&ps)
    });
    let verdict = |i: usize, c: &Comparison| -> Verdict {
        match (&adjusted, c.p) {
            (Some(adj), Some(_)) if adj[i] >= args.alpha && matches!(c.verdict, Verdict::Better | Verdict::Worse) => {
                Verdict::NotDistinguishable
            }
            _ => c.verdict,
        }
    };

    if args.json {
        let doc = json!({
            "project": project.name,
            "metric": metric,
            "direction": direction,
            "alpha": args.alpha,
            "reference": {"label": reference.label, "runs": reference.runs.iter().map(|r| r.short_id.to_string()).collect::<Vec<_>>(),
                          "n": ref_values.len(), "missing": ref_missing},
            "noise_floor": noise,
            "correction": adjusted.as_ref().map(|_| "holm"),
            "candidates": sides.iter().enumerate().map(|(i, (s, c, missing))| json!({
                "label": s.label,
                "runs": s.runs.iter().map(|r| r.short_id.to_string()).collect::<Vec<_>>(),
                "missing": missing,
                "comparison": c,
                "p_adjusted": adjusted.as_ref().map(|a| a[i]),
                "verdict": verdict(i, c),
            })).collect::<Vec<_>>(),
        });
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }

    let dir = if lower { "lower is better" } else { "higher is better" };
    crate::outln!(
        "{metric} ({dir}) in project {}: each candidate against {} (n={}, mean {})",
        project.name,
        reference.label,
        ref_values.len(),
        output::number(cairn_analysis::describe(&ref_values, 0.95).map_or(f64::NAN, |d| d.mean))
    );
    let signed = |v: f64| if v >= 0.0 { format!("+{}", output::number(v)) } else { output::number(v) };
    let mut rows = Vec::new();
    for (i, (side, c, missing)) in sides.iter().enumerate() {
        let p = match (c.p, &adjusted) {
            (Some(p), Some(adj)) => format!("{} (Holm {})", pvalue(p), pvalue(adj[i])),
            (Some(p), None) => pvalue(p),
            (None, _) => "-".into(),
        };
        let mut words = verdict(i, c).words().to_owned();
        if c.within_noise && matches!(verdict(i, c), Verdict::Better | Verdict::Worse) {
            words.push_str(" (within the noise floor)");
        }
        rows.push(vec![
            side.label.clone(),
            if *missing > 0 {
                format!("{} ({missing} without a value)", c.n_candidate)
            } else {
                c.n_candidate.to_string()
            },
            output::number(c.mean_candidate),
            signed(c.diff),
            c.ci.map(|(lo, hi)| format!("[{}, {}]", signed(lo), signed(hi))).unwrap_or_else(|| "-".into()),
            p,
            words,
            match (verdict(i, c), c.replicates_needed) {
                (Verdict::Better | Verdict::Worse, _) => "-".into(),
                (_, Some(n)) => format!("{n} per side"),
                (_, None) if c.sd.is_none() => "replicate both (--replicate)".into(),
                (_, None) => "over 1000 per side".into(),
            },
        ]);
    }
    crate::out!(
        "{}",
        output::table(&["candidate", "n", "mean", "Δ", "95% CI of Δ", "p", "verdict", "runs to resolve Δ"], &rows)
    );
    match noise {
        Some(n) => crate::outln!(
            "Noise floor: runs differing only by seed spread by sd {} ({} replicate group(s), df {}); a Δ smaller than \
             that is marked.",
            output::number(n.sd),
            n.groups,
            n.df
        ),
        None => crate::outln!(
            "No noise floor yet: the project has no replicate groups. Rerun a setup with another seed \
             (`cairn run --replicate --seed 2 …`) so single runs can be judged."
        ),
    }
    if adjusted.is_some() {
        crate::outln!(
            "{} candidates against one reference: p-values are Holm-corrected, so the chance of any false verdict \
             stays at {}.",
            sides.len(),
            args.alpha
        );
    }
    if sides.iter().any(|(_, c, _)| c.method == Some("welch")) {
        crate::outln!("Replicated sides are compared with Welch's t-test; single runs against the noise floor.");
    }
    Ok(())
}

fn pvalue(p: f64) -> String {
    if p < 1e-4 { format!("{p:.1e}") } else { format!("{p:.4}") }
}

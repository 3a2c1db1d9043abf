//! `cairn compare REFERENCE CANDIDATE…`: each candidate against the reference on one
//! metric — the difference with its 95% confidence interval, the p-value, a plain
//! verdict, and the replicates each side would need to resolve the difference. Runs
//! stand for their whole replicate group unless `--single`. The project's noise floor
//! (seed-to-seed spread from its replicate groups) judges single runs and marks
//! differences that sit inside it. Several candidates: Holm-corrected p-values.

use crate::output;
use anyhow::Result;
use cairn_analysis::Verdict;
use cairn_api::reports::CompareQuery;
use cairn_domain::Direction;

#[derive(clap::Args)]
pub struct Args {
    /// The reference (a run, short id, or replicate group id), then the candidates; a
    /// single candidate is compared with the project's baseline
    #[arg(required = true, num_args = 1..)]
    runs: Vec<String>,
    #[command(flatten)]
    judge: super::Judge,
    /// Compare the named runs alone, not their replicate groups
    #[arg(long)]
    single: bool,
    /// Significance level
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let project = super::project_of_runs(&client, args.judge.project.clone(), &args.runs).await?;
    let (reference, candidates) =
        if args.runs.len() == 1 { (None, &args.runs[..]) } else { (Some(args.runs[0].clone()), &args.runs[1..]) };
    let q = CompareQuery {
        reference,
        candidates: candidates.join(","),
        metric: args.judge.metric.clone(),
        lower_is_better: args.judge.lower(),
        single: args.single,
        alpha: Some(args.alpha),
    };
    let r = client.compare(&project, &q).await?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let lower = r.direction == Direction::Decrease;
    let dir = if lower { "lower is better" } else { "higher is better" };
    crate::outln!(
        "{} ({dir}) in project {}: each candidate against {} (n={}, mean {}{})",
        r.metric,
        r.project,
        r.reference.label,
        r.reference.n,
        r.reference.mean.map_or("-".into(), output::number),
        r.reference
            .ci
            .map(|(lo, hi)| format!(", 95% CI [{}, {}]", output::number(lo), output::number(hi)))
            .unwrap_or_default()
    );
    if r.reference.n == 1 {
        crate::outln!("The reference is a single run: one run proves nothing alone; replicate it to know its spread.");
    }
    let signed = |v: f64| if v >= 0.0 { format!("+{}", output::number(v)) } else { output::number(v) };
    let mut rows = Vec::new();
    for c in &r.candidates {
        let cmp = &c.comparison;
        let p = match (cmp.p, c.p_adjusted) {
            (Some(p), Some(a)) => format!("{} (Holm {})", pvalue(p), pvalue(a)),
            (Some(p), None) => pvalue(p),
            (None, _) => "-".into(),
        };
        let mut words = c.verdict.words().to_owned();
        if cmp.within_noise && matches!(c.verdict, Verdict::Better | Verdict::Worse) {
            words.push_str(" (within the noise floor)");
        }
        rows.push(vec![
            c.side.label.clone(),
            if c.side.missing > 0 {
                format!("{} ({} without a value)", c.side.n, c.side.missing)
            } else {
                c.side.n.to_string()
            },
            output::number(cmp.mean_candidate),
            signed(cmp.diff),
            cmp.ci.map(|(lo, hi)| format!("[{}, {}]", signed(lo), signed(hi))).unwrap_or_else(|| "-".into()),
            p,
            words,
            match (c.verdict, cmp.replicates_needed) {
                (Verdict::Better | Verdict::Worse, _) => "-".into(),
                (_, Some(n)) => format!("{n} per side"),
                (_, None) if cmp.sd.is_none() => "replicate both (--replicate)".into(),
                (_, None) => "over 1000 per side".into(),
            },
        ]);
    }
    crate::out!(
        "{}",
        output::table(&["candidate", "n", "mean", "Δ", "95% CI of Δ", "p", "verdict", "runs to resolve Δ"], &rows)
    );
    match r.noise_floor {
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
    if r.correction.is_some() {
        crate::outln!(
            "{} candidates against one reference: p-values are Holm-corrected, so the chance of any false verdict \
             stays at {}.",
            r.candidates.len(),
            r.alpha
        );
    }
    if r.candidates.iter().any(|c| c.comparison.method == Some(cairn_analysis::Method::Welch)) {
        crate::outln!("Replicated sides are compared with Welch's t-test; single runs against the noise floor.");
    }
    Ok(())
}

fn pvalue(p: f64) -> String {
    if p < 1e-4 { format!("{p:.1e}") } else { format!("{p:.4}") }
}

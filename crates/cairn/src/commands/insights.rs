//! `cairn insights`: which parameters matter for a metric (a random-forest surrogate's
//! functional-ANOVA main effects), which values do significantly worse than the rest,
//! and which runs surprised the surrogate most.

use crate::output;
use anyhow::Result;
use cairn_api::reports::InsightsQuery;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    judge: super::Judge,
    /// Only the runs this filter selects (e.g. "params.model = 'resnet'")
    #[arg(long, short)]
    filter: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let project = super::project_name(args.judge.project.clone());
    let q =
        InsightsQuery { metric: args.judge.metric.clone(), lower_is_better: args.judge.lower(), filter: args.filter };
    let report = client.insights(&project, &q).await?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let i = &report.insights;
    let dir = if report.direction == cairn_domain::Direction::Decrease { "lower" } else { "higher" };
    crate::outln!(
        "{} in project {} ({dir} is better): {} finished run(s) analysed{}{}",
        report.metric,
        report.project,
        report.analysed,
        if report.excluded > 0 {
            format!(", {} left out (no value of the metric)", report.excluded)
        } else {
            String::new()
        },
        report.filter.as_ref().map(|f| format!(", filter: {f}")).unwrap_or_default()
    );
    if let Some(s) = &report.sample {
        crate::outln!("Fitted on {s}.");
    }
    if let Some(n) = &i.note {
        crate::outln!("Note: {n}.");
    }
    if !i.importance.is_empty() {
        crate::outln!("\nWhat matters (share of the metric's variance each parameter explains alone):");
        let rows: Vec<Vec<String>> = i
            .importance
            .iter()
            .map(|m| {
                let bar = "█".repeat((m.share * 30.0).round() as usize);
                vec![
                    m.param.clone(),
                    format!("{:5.1}% ± {:.1}", 100.0 * m.share, 100.0 * m.sd),
                    bar,
                    format!("{} ({} values)", m.scale, m.levels),
                ]
            })
            .collect();
        crate::out!("{}", output::table(&["param", "importance", "", "scale"], &rows));
    }
    if !i.left_out.is_empty() {
        crate::outln!("Left out (the same in every run, or different in every run): {}", i.left_out.join(", "));
    }
    if !i.too_many_levels.is_empty() {
        let list: Vec<String> =
            i.too_many_levels.iter().map(|t| format!("{} ({} values)", t.param, t.levels)).collect();
        crate::outln!("Not modelled, too many levels for a category: {}", list.join(", "));
    }
    if i.underperformers.is_empty() {
        if !i.importance.is_empty() {
            crate::outln!("\nNo parameter value does significantly worse than the rest (Welch, Holm-corrected).");
        }
    } else {
        crate::outln!("\nValues that do significantly worse than the rest (Welch, Holm-corrected):");
        let rows: Vec<Vec<String>> = i
            .underperformers
            .iter()
            .map(|u| {
                vec![
                    format!("{} = {}", u.param, u.value),
                    format!("{} (n={})", output::number(u.mean), u.n),
                    format!("{} (n={})", output::number(u.rest_mean), u.rest_n),
                    format!("{} [{}, {}]", output::number(u.diff), output::number(u.ci.0), output::number(u.ci.1)),
                    format!("{:.2}", u.effect_size),
                    format!("{:.4}", u.p_adjusted),
                ]
            })
            .collect();
        crate::out!("{}", output::table(&["value", "mean", "the rest", "Δ [95% CI]", "Hedges g", "p (Holm)"], &rows));
    }
    if !i.surprises.is_empty() {
        crate::outln!("\nMost surprising runs (furthest from what the surrogate predicts without having seen them):");
        let rows: Vec<Vec<String>> = i
            .surprises
            .iter()
            .map(|s| {
                vec![s.run.clone(), output::number(s.value), output::number(s.predicted), format!("{:+.1} sd", s.z)]
            })
            .collect();
        crate::out!("{}", output::table(&["run", "result", "predicted", "off by"], &rows));
    }
    Ok(())
}

//! What a set of runs says about its parameters: how much each one matters for a
//! metric (fANOVA main effects of a forest fitted to the runs), which values do
//! significantly worse than the rest (Welch, Holm-corrected, with effect sizes), and
//! which runs the forest predicts worst (the surprises).

use crate::forest::Forest;
use crate::{finite, holm, mean, t_test, variance};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Fewer runs than this: no importances at all.
const MIN_RUNS: usize = 5;
/// Levels of a parameter checked for underperformance (more is a continuum).
const MAX_LEVELS: usize = 12;
const TREES: usize = 64;
/// Most levels a categorical parameter may have and still be modelled.
const MAX_CATEGORIES: usize = 64;

/// A parameter's value in one run.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Num(f64),
    Text(String),
}

/// One run: its id, parameters and the metric's value.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: String,
    pub params: BTreeMap<String, Param>,
    pub value: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Importance {
    pub param: String,
    /// Share of the metric's variance the parameter explains alone (0–1).
    pub share: f64,
    /// Its spread across the forest's trees.
    pub sd: f64,
    /// `numeric`, `log` (numeric, spanning orders of magnitude) or `categorical`.
    pub scale: String,
    pub levels: usize,
}

/// A text parameter left out of the model for its number of distinct values.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TooManyLevels {
    pub param: String,
    pub levels: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Underperformer {
    pub param: String,
    pub value: String,
    pub n: usize,
    pub mean: f64,
    pub rest_n: usize,
    pub rest_mean: f64,
    /// `mean − rest_mean`, with its 95% confidence interval.
    pub diff: f64,
    pub ci: (f64, f64),
    pub p: f64,
    /// Holm-corrected over every value tested.
    pub p_adjusted: f64,
    /// Hedges' g: the difference in pooled standard deviations, small-sample corrected.
    pub effect_size: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Surprise {
    pub run: String,
    pub value: f64,
    /// What the forest predicts from the run's parameters, without having seen it.
    pub predicted: f64,
    /// `(value − predicted)` in standard deviations of all such residuals.
    pub z: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Insights {
    pub runs: usize,
    pub importance: Vec<Importance>,
    /// Parameters left out: one value in every run (nothing to learn), or a different
    /// value in every run (an identifier, not a setting).
    pub left_out: Vec<String>,
    /// Text parameters with more distinct values than a model can learn from
    /// (more than 64): reported, not modelled.
    pub too_many_levels: Vec<TooManyLevels>,
    pub underperformers: Vec<Underperformer>,
    pub surprises: Vec<Surprise>,
    /// Says when the results are too thin to trust.
    pub note: Option<String>,
}

/// Encodes one parameter for the forest: numbers (log10 where they span orders of
/// magnitude, missing values at the median) or category indices ("(not set)" is a
/// category).
struct Feature {
    name: String,
    values: Vec<f64>,
    scale: &'static str,
    levels: Vec<String>,
    /// The value each run shows for the parameter, for grouping.
    labels: Vec<String>,
}

fn label(p: Option<&Param>) -> String {
    match p {
        Some(Param::Num(v)) => format!("{v}"),
        Some(Param::Text(t)) => t.clone(),
        None => "(not set)".to_owned(),
    }
}

fn features(rows: &[RunRow], left_out: &mut Vec<String>, too_many: &mut Vec<TooManyLevels>) -> Vec<Feature> {
    let keys: BTreeSet<&String> = rows.iter().flat_map(|r| r.params.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        let labels: Vec<String> = rows.iter().map(|r| label(r.params.get(key))).collect();
        let distinct: BTreeSet<&String> = labels.iter().collect();
        let numeric = rows.iter().all(|r| !matches!(r.params.get(key), Some(Param::Text(_))));
        if distinct.len() < 2 || (!numeric && distinct.len() == rows.len() && rows.len() > MIN_RUNS) {
            left_out.push(key.clone());
            continue;
        }
        if !numeric && distinct.len() > MAX_CATEGORIES {
            too_many.push(TooManyLevels { param: key.clone(), levels: distinct.len() });
            continue;
        }
        if numeric {
            let present: Vec<f64> = rows
                .iter()
                .filter_map(|r| match r.params.get(key) {
                    Some(Param::Num(v)) if v.is_finite() => Some(*v),
                    _ => None,
                })
                .collect();
            let mut sorted = present.clone();
            sorted.sort_by(f64::total_cmp);
            let median = sorted[sorted.len() / 2];
            let log = sorted[0] > 0.0 && sorted[sorted.len() - 1] / sorted[0] >= 100.0;
            let values = rows
                .iter()
                .map(|r| {
                    let v = match r.params.get(key) {
                        Some(Param::Num(v)) if v.is_finite() => *v,
                        _ => median,
                    };
                    if log { v.log10() } else { v }
                })
                .collect();
            out.push(Feature {
                name: key.clone(),
                values,
                scale: if log { "log" } else { "numeric" },
                levels: Vec::new(),
                labels,
            });
        } else {
            let levels: Vec<String> = distinct.into_iter().cloned().collect();
            let values = labels.iter().map(|l| levels.iter().position(|x| x == l).unwrap_or(0) as f64).collect();
            out.push(Feature { name: key.clone(), values, scale: "categorical", levels, labels });
        }
    }
    out
}

/// Importances, underperformers and surprises of `rows` (runs without a finite value
/// must be left out, and counted, by the caller).
pub fn insights(rows: &[RunRow], lower_is_better: bool, alpha: f64, seed: u64) -> Insights {
    let rows: Vec<RunRow> = rows.iter().filter(|r| r.value.is_finite()).cloned().collect();
    let mut left_out = Vec::new();
    let mut too_many_levels = Vec::new();
    let feats = features(&rows, &mut left_out, &mut too_many_levels);
    let y: Vec<f64> = rows.iter().map(|r| r.value).collect();
    let mut out = Insights {
        runs: rows.len(),
        importance: Vec::new(),
        left_out,
        too_many_levels,
        underperformers: Vec::new(),
        surprises: Vec::new(),
        note: None,
    };
    if rows.len() < MIN_RUNS || feats.is_empty() {
        out.note = Some(if feats.is_empty() {
            "no parameter varies across these runs: there is nothing to rank".to_owned()
        } else {
            format!("only {} run(s): at least {MIN_RUNS} are needed to say which parameters matter", rows.len())
        });
        return out;
    }
    let x: Vec<Vec<f64>> = (0..rows.len()).map(|i| feats.iter().map(|f| f.values[i]).collect()).collect();
    let mut forest = Forest::fit(&x, &y, TREES, seed);
    for (j, f) in feats.iter().enumerate() {
        if f.scale == "categorical" {
            forest.set_bounds(j, -0.5, f.levels.len() as f64 - 0.5);
        }
    }
    let effects = forest.main_effects();
    out.importance = feats
        .iter()
        .zip(&effects)
        .map(|(f, (share, sd))| Importance {
            param: f.name.clone(),
            share: *share,
            sd: *sd,
            scale: f.scale.to_owned(),
            levels: if f.scale == "categorical" {
                f.levels.len()
            } else {
                f.labels.iter().collect::<BTreeSet<_>>().len()
            },
        })
        .collect();
    out.importance.sort_by(|a, b| b.share.total_cmp(&a.share));
    let trust = (10usize).max(5 * feats.len());
    if rows.len() < trust {
        out.note = Some(format!(
            "only {} runs for {} varying parameter(s): treat the importances as rough (about {trust} runs make them \
             dependable)",
            rows.len(),
            feats.len()
        ));
    }

    // Values that do worse than the rest of the runs.
    let mut tests = Vec::new();
    for f in &feats {
        let levels: BTreeSet<&String> = f.labels.iter().collect();
        if levels.len() > MAX_LEVELS {
            continue;
        }
        for level in levels {
            let (mine, rest): (Vec<usize>, Vec<usize>) = (0..rows.len()).partition(|&i| &f.labels[i] == level);
            let a: Vec<f64> = mine.iter().map(|&i| y[i]).collect();
            let b: Vec<f64> = rest.iter().map(|&i| y[i]).collect();
            if let Some(t) = t_test(&a, &b, 1.0 - alpha, false) {
                let pooled = (((a.len() - 1) as f64 * variance(&a) + (b.len() - 1) as f64 * variance(&b))
                    / (a.len() + b.len() - 2) as f64)
                    .sqrt();
                let j = 1.0 - 3.0 / (4.0 * (a.len() + b.len()) as f64 - 9.0);
                let g = if pooled > 0.0 { t.diff / pooled * j } else { 0.0 };
                tests.push((f.name.clone(), level.clone(), a, b, t, g));
            }
        }
    }
    let adjusted = holm(&tests.iter().map(|t| t.4.p).collect::<Vec<_>>());
    for ((param, value, a, b, t, g), p_adj) in tests.into_iter().zip(adjusted) {
        let worse = if lower_is_better { t.diff > 0.0 } else { t.diff < 0.0 };
        if worse && p_adj < alpha {
            out.underperformers.push(Underperformer {
                param,
                value,
                n: a.len(),
                mean: mean(&a),
                rest_n: b.len(),
                rest_mean: mean(&b),
                diff: t.diff,
                ci: t.ci,
                p: t.p,
                p_adjusted: p_adj,
                effect_size: g,
            });
        }
    }
    out.underperformers.sort_by(|a, b| a.p_adjusted.total_cmp(&b.p_adjusted));

    out.surprises = largest_residuals(&forest, &x, &y, &rows);
    out
}

/// Only the surprises of `rows` (what the weekly review shows): the forest without the
/// importances and the per-value tests.
pub fn surprises(rows: &[RunRow], seed: u64) -> Vec<Surprise> {
    let rows: Vec<RunRow> = rows.iter().filter(|r| r.value.is_finite()).cloned().collect();
    let feats = features(&rows, &mut Vec::new(), &mut Vec::new());
    if rows.len() < MIN_RUNS || feats.is_empty() {
        return Vec::new();
    }
    let y: Vec<f64> = rows.iter().map(|r| r.value).collect();
    let x: Vec<Vec<f64>> = (0..rows.len()).map(|i| feats.iter().map(|f| f.values[i]).collect()).collect();
    let forest = Forest::fit(&x, &y, TREES, seed);
    largest_residuals(&forest, &x, &y, &rows)
}

/// The five runs farthest from the forest's out-of-bag prediction, in residual sds.
fn largest_residuals(forest: &Forest, x: &[Vec<f64>], y: &[f64], rows: &[RunRow]) -> Vec<Surprise> {
    let oob = forest.out_of_bag(x);
    let residuals: Vec<(usize, f64, f64)> =
        oob.iter().enumerate().filter_map(|(i, p)| p.map(|p| (i, p, y[i] - p))).collect();
    let spread = variance(&finite(&residuals.iter().map(|r| r.2).collect::<Vec<_>>())).sqrt();
    if spread <= 0.0 {
        return Vec::new();
    }
    let mut s: Vec<Surprise> = residuals
        .iter()
        .map(|&(i, p, r)| Surprise { run: rows[i].id.clone(), value: y[i], predicted: p, z: r / spread })
        .collect();
    s.sort_by(|a, b| b.z.abs().total_cmp(&a.z.abs()));
    s.truncate(5);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn rows(n: usize) -> Vec<RunRow> {
        let mut rng = StdRng::seed_from_u64(5);
        let augs = ["none", "mixup", "cutout", "broken"];
        (0..n)
            .map(|i| {
                let lr: f64 = 10f64.powf(rng.random_range(-4.0..-1.0));
                let aug = augs[i % 4];
                let width: f64 = rng.random_range(0.0..1.0);
                // Accuracy peaks near lr = 1e-3 (strong), mixup helps a little, "broken"
                // hurts, width does nothing.
                let mut acc = 0.9 - 0.1 * (lr.log10() + 3.0).powi(2) + rng.random_range(-0.005..0.005);
                acc += match aug {
                    "mixup" => 0.01,
                    "broken" => -0.15,
                    _ => 0.0,
                };
                let params = [
                    ("lr".to_owned(), Param::Num(lr)),
                    ("aug".to_owned(), Param::Text(aug.to_owned())),
                    ("width".to_owned(), Param::Num(width)),
                    ("run_name".to_owned(), Param::Text(format!("run-{i}"))),
                    ("epochs".to_owned(), Param::Num(10.0)),
                ]
                .into();
                RunRow { id: format!("r{i}"), params, value: acc }
            })
            .collect()
    }

    #[test]
    fn surprises_alone_are_the_full_analysis_surprises() {
        let rows = rows(300);
        let key = |s: &[Surprise]| s.iter().map(|x| (x.run.clone(), x.predicted, x.z)).collect::<Vec<_>>();
        let full = insights(&rows, false, 0.05, 7).surprises;
        assert_eq!(key(&surprises(&rows, 7)), key(&full));
        assert_eq!(full.len(), 5);
    }

    #[test]
    fn importance_underperformers_and_what_is_left_out() {
        let got = insights(&rows(120), false, 0.05, 1);
        let names: Vec<&str> = got.importance.iter().map(|i| i.param.as_str()).collect();
        assert_eq!(names, vec!["lr", "aug", "width"], "{:?}", got.importance);
        assert_eq!(got.importance[0].scale, "log");
        assert!(got.importance[2].share < 0.05, "{:?}", got.importance);
        assert_eq!(got.left_out, vec!["epochs", "run_name"]);
        assert!(got.note.is_none());
        let worst = &got.underperformers[0];
        assert_eq!((worst.param.as_str(), worst.value.as_str()), ("aug", "broken"), "{:?}", got.underperformers);
        assert!(worst.ci.1 < 0.0 && worst.effect_size < 0.0);
        assert_eq!(got.surprises.len(), 5);
    }

    #[test]
    fn few_runs_come_with_a_note() {
        assert!(insights(&rows(3), false, 0.05, 1).note.unwrap().contains("only 3 run(s)"));
        assert!(insights(&rows(12), false, 0.05, 1).note.unwrap().contains("rough"));
    }
}

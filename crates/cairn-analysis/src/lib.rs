//! Statistics for honest comparisons, with no I/O: numbers in, numbers out.
//!
//! - [`describe`]: n, mean, standard deviation, extremes, Student-t interval of the mean.
//! - [`t_test`]: Welch's (default) or Student's two-sample t-test with the confidence
//!   interval of the difference of means.
//! - [`mann_whitney`]: the rank test (exact for small samples without ties, normal
//!   approximation with tie and continuity corrections otherwise).
//! - [`bootstrap_diff`]: seeded percentile and BCa bootstrap intervals for a difference
//!   of means.
//! - [`holm`]: Holm–Bonferroni adjusted p-values.
//! - [`power`], [`replicates_needed`]: the two-sample t-test's power from the
//!   noncentral t distribution, and the replicates per side it takes to resolve a
//!   difference at an observed spread.
//! - [`insights`]: parameter importance (fANOVA main effects of a regression [`Forest`]),
//!   values that do significantly worse than the rest, and the most surprising runs.
//! - [`anova`]: factorial designs — main effects and two-way interactions, F tests,
//!   two-level effects with intervals, aliasing in fractions.
//! - [`compare`]: the verdict Cairn prints: better, worse, or not distinguishable from
//!   noise.
//!
//! Every function is checked against SciPy's answers (`reference/`).

mod anova;
mod bootstrap;
mod compare;
mod describe;
mod forest;
mod inference;
mod insights;
mod multiple;
mod power;
mod rank;

pub use anova::{Anova, AnovaRow, Effect, LevelMean, anova};
pub use bootstrap::{BootstrapCi, bootstrap_diff};
pub use compare::{Comparison, Method, Noise, Verdict, compare, pooled_noise};
pub use describe::{Description, describe, mean_interval, t_quantile};
pub use forest::Forest;
pub use inference::{TTest, t_test};
pub use insights::{Importance, Insights, Param, RunRow, Surprise, TooManyLevels, Underperformer, insights, surprises};
pub use multiple::holm;
pub use power::{noncentral_t_cdf, power, replicates_needed};
pub use rank::{MannWhitney, mann_whitney};

/// The finite values of a sample: NaN and infinities are left out (and counted by
/// callers that report them), never treated as numbers.
pub(crate) fn finite(xs: &[f64]) -> Vec<f64> {
    xs.iter().copied().filter(|v| v.is_finite()).collect()
}

pub(crate) fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample variance (n − 1); 0 for fewer than two values.
pub(crate) fn variance(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64
}

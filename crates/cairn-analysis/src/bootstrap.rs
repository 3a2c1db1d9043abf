//! Bootstrap confidence intervals for a difference of means: percentile and BCa
//! (bias-corrected and accelerated, Efron & Tibshirani ch. 14), resampling each side
//! independently, seeded so a report can be reproduced.

use crate::{finite, mean};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapCi {
    pub percentile: (f64, f64),
    pub bca: (f64, f64),
    pub resamples: usize,
    pub seed: u64,
}

/// The `q` quantile (0–1) of sorted values, interpolating linearly (NumPy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Intervals for `mean(a) − mean(b)` at `level` from `resamples` resamples. `None`
/// when a side has fewer than two finite values.
pub fn bootstrap_diff(a: &[f64], b: &[f64], level: f64, resamples: usize, seed: u64) -> Option<BootstrapCi> {
    let (a, b) = (finite(a), finite(b));
    if a.len() < 2 || b.len() < 2 || resamples < 2 {
        return None;
    }
    let theta = mean(&a) - mean(&b);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut resampled_mean = |xs: &[f64]| -> f64 {
        let mut s = 0.0;
        for _ in 0..xs.len() {
            s += xs[rng.random_range(0..xs.len())];
        }
        s / xs.len() as f64
    };
    let mut boot: Vec<f64> = (0..resamples).map(|_| resampled_mean(&a) - resampled_mean(&b)).collect();
    boot.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    let percentile = (quantile(&boot, alpha), quantile(&boot, 1.0 - alpha));

    // Bias correction: where the estimate sits among the resampled ones.
    let below = boot.iter().filter(|&&x| x < theta).count() + boot.iter().filter(|&&x| x <= theta).count();
    let normal = Normal::standard();
    let z0 = normal.inverse_cdf(below as f64 / (2 * resamples) as f64);
    // Acceleration from each side's jackknife (leave one value out).
    let (mut num, mut den) = (0.0, 0.0);
    for (which, side) in [&a, &b].into_iter().enumerate() {
        let n = side.len() as f64;
        let total: f64 = side.iter().sum();
        // The statistic with one value of this side left out.
        let jack: Vec<f64> = side
            .iter()
            .map(|x| {
                let m = (total - x) / (n - 1.0);
                if which == 0 { m - mean(&b) } else { mean(&a) - m }
            })
            .collect();
        let dot = mean(&jack);
        let u: Vec<f64> = jack.iter().map(|j| (n - 1.0) * (dot - j)).collect();
        num += u.iter().map(|v| v.powi(3)).sum::<f64>() / n.powi(3);
        den += u.iter().map(|v| v.powi(2)).sum::<f64>() / n.powi(2);
    }
    let a_hat = num / (6.0 * den.powf(1.5));
    let adjusted = |z: f64| {
        let s = z0 + z;
        normal.cdf(z0 + s / (1.0 - a_hat * s))
    };
    let za = normal.inverse_cdf(alpha);
    let bca = if z0.is_finite() && a_hat.is_finite() {
        (quantile(&boot, adjusted(za)), quantile(&boot, adjusted(-za)))
    } else {
        percentile
    };
    Some(BootstrapCi { percentile, bca, resamples, seed })
}

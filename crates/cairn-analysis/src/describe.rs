//! Descriptive statistics of a sample, with a Student-t confidence interval for its mean.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// A sample described: size, mean, standard deviation (n − 1), extremes and, for n ≥ 2
/// with a finite spread, the confidence interval of the mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Description {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (Bessel-corrected); 0 for a single value.
    pub sd: f64,
    pub min: f64,
    pub max: f64,
    /// `(low, high)` at the requested level; `None` when n < 2 (one run proves nothing).
    pub ci: Option<(f64, f64)>,
}

/// Describes the finite values of `values` (NaN and infinities are left out); `None`
/// for an empty sample. `level` is the confidence level, e.g. 0.95.
pub fn describe(values: &[f64], level: f64) -> Option<Description> {
    let xs: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 { (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let ci = mean_interval(mean, sd, n, level);
    Some(Description { n, mean, sd, min, max, ci })
}

/// The Student-t interval at `level` of the mean of `n` values with this mean and sample
/// sd; none below two values.
pub fn mean_interval(mean: f64, sd: f64, n: usize, level: f64) -> Option<(f64, f64)> {
    (n > 1).then(|| {
        let t = t_quantile(0.5 + level / 2.0, (n - 1) as f64);
        let half = t * sd / (n as f64).sqrt();
        (mean - half, mean + half)
    })
}

/// The `p` quantile of Student's t with `df` degrees of freedom.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df).map(|t| t.inverse_cdf(p)).unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_sd_and_t_interval() {
        // statistics.stdev and mean ± t(0.975, 4) · s / √n, with t(0.975, 4) = 2.7764451051977987 (SciPy)
        let d = describe(&[0.81, 0.84, 0.79, 0.86, 0.83], 0.95).unwrap();
        assert_eq!(d.n, 5);
        assert!((d.mean - 0.826).abs() < 1e-12);
        assert!((d.sd - 0.02701851217221256).abs() < 1e-12, "{}", d.sd);
        let (lo, hi) = d.ci.unwrap();
        assert!((lo - 0.7924520861507334).abs() < 1e-9, "{lo}");
        assert!((hi - 0.8595479138492665).abs() < 1e-9, "{hi}");
        assert!((t_quantile(0.975, 4.0) - 2.7764451051977987).abs() < 1e-9);
    }

    #[test]
    fn one_value_has_no_interval_and_non_finite_values_are_ignored() {
        let d = describe(&[0.5, f64::NAN, f64::INFINITY], 0.95).unwrap();
        assert_eq!((d.n, d.sd, d.ci), (1, 0.0, None));
        assert!(describe(&[], 0.95).is_none());
    }
}

//! The comparison Cairn prints: the difference of a metric between a candidate and a
//! reference (runs or replicate groups), its confidence interval and p-value, a plain
//! verdict, and how many replicates each side would need to resolve the difference.

use crate::{finite, mean, power, t_test, variance};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Power a recommendation aims for.
const TARGET_POWER: f64 = 0.8;
/// Beyond this many replicates per side, a difference is reported as too small to chase.
const MAX_REPLICATES: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Better,
    Worse,
    /// The difference is within what seed-to-seed noise produces.
    NotDistinguishable,
    /// Too few runs to test at all (one run a side and no replicate groups to learn
    /// the noise from).
    CannotTell,
}

impl Verdict {
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::NotDistinguishable => "not distinguishable from noise",
            Verdict::CannotTell => "cannot tell",
        }
    }
}

/// Seed-to-seed spread: the pooled within-group standard deviation of replicate
/// groups, with its degrees of freedom.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Noise {
    pub sd: f64,
    pub df: f64,
    pub groups: usize,
}

/// The noise floor from replicate groups (groups of fewer than two finite values add
/// nothing). `None` when no group has two values.
pub fn pooled_noise(groups: &[Vec<f64>]) -> Option<Noise> {
    let (mut ss, mut df, mut used) = (0.0, 0.0, 0);
    for g in groups {
        let g = finite(g);
        if g.len() < 2 {
            continue;
        }
        ss += variance(&g) * (g.len() - 1) as f64;
        df += (g.len() - 1) as f64;
        used += 1;
    }
    (df > 0.0).then(|| Noise { sd: (ss / df).sqrt(), df, groups: used })
}

/// How a difference was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Both sides replicated: Welch's t-test.
    Welch,
    /// A side of one run: the project's seed-to-seed spread stands in for its own.
    NoiseFloor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub n_candidate: usize,
    pub n_reference: usize,
    pub mean_candidate: f64,
    pub mean_reference: f64,
    /// `mean(candidate) − mean(reference)`.
    pub diff: f64,
    pub ci: Option<(f64, f64)>,
    pub p: Option<f64>,
    /// `welch` (both sides replicated) or `noise_floor` (the project's seed-to-seed
    /// spread stands in for a side's).
    pub method: Option<Method>,
    pub verdict: Verdict,
    /// The spread used to judge the difference.
    pub sd: Option<f64>,
    /// Runs per side for an 80% chance of resolving a difference this size; `None`
    /// when there is no spread to judge by, or it would take more than 1000.
    pub replicates_needed: Option<usize>,
    /// The difference is smaller than one seed-to-seed standard deviation.
    pub within_noise: bool,
}

/// Compares `candidate` with `reference` on a metric where higher is better unless
/// `lower_is_better`. Non-finite values are left out. `None` when a side has no value.
pub fn compare(
    candidate: &[f64],
    reference: &[f64],
    lower_is_better: bool,
    noise: Option<Noise>,
    alpha: f64,
) -> Option<Comparison> {
    let (c, r) = (finite(candidate), finite(reference));
    if c.is_empty() || r.is_empty() {
        return None;
    }
    let diff = mean(&c) - mean(&r);
    let level = 1.0 - alpha;
    let welch = t_test(&c, &r, level, false);
    let (ci, p, method, sd) = match (&welch, noise) {
        (Some(t), _) => {
            let sd = ((variance(&c) + variance(&r)) / 2.0).sqrt();
            (Some(t.ci), Some(t.p), Some(Method::Welch), Some(sd))
        }
        (None, Some(n)) if n.sd > 0.0 => {
            let se = n.sd * (1.0 / c.len() as f64 + 1.0 / r.len() as f64).sqrt();
            let dist = StudentsT::new(0.0, 1.0, n.df).ok()?;
            let p = (2.0 * dist.sf((diff / se).abs())).min(1.0);
            let half = dist.inverse_cdf(1.0 - alpha / 2.0) * se;
            (Some((diff - half, diff + half)), Some(p), Some(Method::NoiseFloor), Some(n.sd))
        }
        _ => (None, None, None, None),
    };
    let verdict = match p {
        None => Verdict::CannotTell,
        Some(p) if p < alpha && diff != 0.0 => {
            if (diff > 0.0) != lower_is_better {
                Verdict::Better
            } else {
                Verdict::Worse
            }
        }
        Some(_) => Verdict::NotDistinguishable,
    };
    let noise_sd = noise.map(|n| n.sd).or(sd);
    let replicates_needed = sd.and_then(|s| {
        if s <= 0.0 || diff == 0.0 {
            return None;
        }
        (2..=MAX_REPLICATES).find(|&n| power(n, diff, s, alpha) >= TARGET_POWER)
    });
    Some(Comparison {
        n_candidate: c.len(),
        n_reference: r.len(),
        mean_candidate: mean(&c),
        mean_reference: mean(&r),
        diff,
        ci,
        p,
        method,
        verdict,
        sd,
        replicates_needed,
        within_noise: noise_sd.is_some_and(|s| diff.abs() < s),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clear_gain_is_better_and_a_loss_is_worse() {
        let base = [0.80, 0.81, 0.79, 0.80, 0.82];
        let cand = [0.86, 0.87, 0.85, 0.88, 0.86];
        let c = compare(&cand, &base, false, None, 0.05).unwrap();
        assert_eq!((c.verdict, c.method), (Verdict::Better, Some(Method::Welch)));
        assert!(c.ci.unwrap().0 > 0.0);
        assert_eq!(compare(&cand, &base, true, None, 0.05).unwrap().verdict, Verdict::Worse);
    }

    #[test]
    fn overlapping_samples_are_noise_and_say_how_many_runs_would_tell() {
        let c = compare(&[0.80, 0.83, 0.78], &[0.79, 0.81, 0.80], false, None, 0.05).unwrap();
        assert_eq!(c.verdict, Verdict::NotDistinguishable);
        assert!(c.replicates_needed.unwrap() > 3);
    }

    #[test]
    fn single_runs_use_the_noise_floor_or_say_they_cannot_tell() {
        assert_eq!(compare(&[0.9], &[0.8], false, None, 0.05).unwrap().verdict, Verdict::CannotTell);
        let noise = pooled_noise(&[vec![0.80, 0.82, 0.81], vec![0.70, 0.71], vec![0.5]]).unwrap();
        assert_eq!((noise.df, noise.groups), (3.0, 2));
        let c = compare(&[0.9], &[0.8], false, Some(noise), 0.05).unwrap();
        assert_eq!((c.verdict, c.method), (Verdict::Better, Some(Method::NoiseFloor)));
        let tiny = compare(&[0.805], &[0.80], false, Some(noise), 0.05).unwrap();
        assert!(tiny.within_noise && tiny.verdict == Verdict::NotDistinguishable);
    }

    #[test]
    fn missing_values_are_left_out_not_zero() {
        let c = compare(&[0.9, f64::NAN, 0.91], &[0.8, 0.81], false, None, 0.05).unwrap();
        assert_eq!(c.n_candidate, 2);
        assert!(compare(&[f64::NAN], &[0.8], false, None, 0.05).is_none());
    }
}

//! Two-sample t-tests and the confidence interval of a difference of means.

use crate::{finite, mean, variance};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// The difference `mean(a) − mean(b)` tested against zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TTest {
    pub diff: f64,
    /// Standard error of the difference.
    pub se: f64,
    pub t: f64,
    /// Degrees of freedom (Welch–Satterthwaite for Welch's test).
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Confidence interval of the difference at the requested level.
    pub ci: (f64, f64),
}

/// Welch's (`equal_var = false`) or Student's pooled two-sample t-test of
/// `mean(a) − mean(b)`. `None` when a side has fewer than two finite values, or both
/// have no spread (nothing to test against).
pub fn t_test(a: &[f64], b: &[f64], level: f64, equal_var: bool) -> Option<TTest> {
    let (a, b) = (finite(a), finite(b));
    let (na, nb) = (a.len() as f64, b.len() as f64);
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (va, vb) = (variance(&a), variance(&b));
    let diff = mean(&a) - mean(&b);
    let (se, df) = if equal_var {
        let pooled = ((na - 1.0) * va + (nb - 1.0) * vb) / (na + nb - 2.0);
        ((pooled * (1.0 / na + 1.0 / nb)).sqrt(), na + nb - 2.0)
    } else {
        let (qa, qb) = (va / na, vb / nb);
        let se2 = qa + qb;
        (se2.sqrt(), se2 * se2 / (qa * qa / (na - 1.0) + qb * qb / (nb - 1.0)))
    };
    if se == 0.0 || !se.is_finite() {
        return None;
    }
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    let t = diff / se;
    let p = (2.0 * dist.sf(t.abs())).min(1.0);
    let half = dist.inverse_cdf(0.5 + level / 2.0) * se;
    Some(TTest { diff, se, t, df, p, ci: (diff - half, diff + half) })
}

//! Power of the two-sided two-sample t-test (equal group sizes), from the noncentral t
//! distribution, and the replicates it takes to resolve a difference.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
use statrs::function::beta::beta_reg;
use statrs::function::gamma::ln_gamma;

/// P(T ≤ t) for the noncentral t with `df` degrees of freedom and noncentrality
/// `delta` (Lenth's algorithm AS 243: a Poisson-weighted series of incomplete betas).
pub fn noncentral_t_cdf(t: f64, df: f64, delta: f64) -> f64 {
    const ERRMAX: f64 = 1e-12;
    const ITRMAX: usize = 10_000;
    let normal = Normal::standard();
    let (tt, del, negate) = if t < 0.0 { (-t, -delta, true) } else { (t, delta, false) };
    let mut tnc = 0.0;
    let x = tt * tt / (tt * tt + df);
    if x > 0.0 {
        let lambda = del * del;
        let mut p = 0.5 * (-0.5 * lambda).exp();
        let mut q = (2.0 / std::f64::consts::PI).sqrt() * p * del;
        let mut s = 0.5 - p;
        let mut a = 0.5;
        let b = 0.5 * df;
        let rxb = (1.0 - x).powf(b);
        let albeta = ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b);
        let mut xodd = beta_reg(a, b, x);
        let mut godd = 2.0 * rxb * (a * x.ln() - albeta).exp();
        let mut xeven = 1.0 - rxb;
        let mut geven = b * x * rxb;
        tnc = p * xodd + q * xeven;
        for en in 1..=ITRMAX {
            let en = en as f64;
            a += 1.0;
            xodd -= godd;
            xeven -= geven;
            godd *= x * (a + b - 1.0) / a;
            geven *= x * (a + b - 0.5) / (a + 0.5);
            p *= lambda / (2.0 * en);
            q *= lambda / (2.0 * en + 1.0);
            s -= p;
            tnc += p * xodd + q * xeven;
            if 2.0 * s * (xodd - godd) <= ERRMAX {
                break;
            }
        }
    }
    tnc += normal.cdf(-del);
    let tnc = tnc.clamp(0.0, 1.0);
    if negate { 1.0 - tnc } else { tnc }
}

/// Power of the two-sided two-sample t-test at level `alpha` with `n` runs per side,
/// for a true difference `d` between means whose runs spread with standard deviation
/// `sd`.
pub fn power(n: usize, d: f64, sd: f64, alpha: f64) -> f64 {
    if n < 2 || sd <= 0.0 {
        return f64::NAN;
    }
    let df = (2 * n - 2) as f64;
    let nc = d.abs() / (sd * (2.0 / n as f64).sqrt());
    let Ok(t) = StudentsT::new(0.0, 1.0, df) else { return f64::NAN };
    let crit = t.inverse_cdf(1.0 - alpha / 2.0);
    (1.0 - noncentral_t_cdf(crit, df, nc) + noncentral_t_cdf(-crit, df, nc)).clamp(0.0, 1.0)
}

/// The fewest runs per side (at least 2) for which the test reaches `target` power;
/// `None` when it would take more than `limit` (the difference is too small to chase).
pub fn replicates_needed(d: f64, sd: f64, alpha: f64, target: f64, limit: usize) -> Option<usize> {
    if sd <= 0.0 || !d.is_finite() || d == 0.0 {
        return None;
    }
    (2..=limit).find(|&n| power(n, d, sd, alpha) >= target)
}

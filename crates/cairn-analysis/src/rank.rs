//! The Mann–Whitney U test, as SciPy computes it: exact when either sample has at most
//! eight values and there are no ties, otherwise the normal approximation with the tie
//! and continuity corrections.

use crate::finite;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MannWhitney {
    /// U of the first sample: how many (a, b) pairs have a > b, ties counting a half.
    pub u: f64,
    /// Two-sided p-value.
    pub p: f64,
    pub exact: bool,
}

/// Midranks (1-based) of `xs`, and the sizes of the groups of tied values.
fn ranks(xs: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&i, &j| xs[i].total_cmp(&xs[j]));
    let mut ranks = vec![0.0; xs.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && xs[order[j + 1]] == xs[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        ties.push(j - i + 1);
        i = j + 1;
    }
    (ranks, ties)
}

/// How many arrangements give each value of U, for samples of `m` and `n` (no ties).
fn u_counts(m: usize, n: usize) -> Vec<f64> {
    // counts[j][u]: arrangements of m' = current row, j of the second sample.
    let mut prev: Vec<Vec<f64>> = (0..=n).map(|_| vec![1.0]).collect(); // m' = 0: U = 0 only
    for mm in 1..=m {
        let mut cur: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
        cur.push(vec![1.0]); // n' = 0
        for nn in 1..=n {
            let size = mm * nn + 1;
            let mut row = vec![0.0; size];
            // The largest value is from the first sample (it beats all nn) or the second.
            for (u, c) in prev[nn].iter().enumerate() {
                row[u + nn] += c;
            }
            for (u, c) in cur[nn - 1].iter().enumerate() {
                row[u] += c;
            }
            cur.push(row);
        }
        prev = cur;
    }
    prev.swap_remove(n)
}

/// The two-sided Mann–Whitney U test of `a` against `b`. `None` when a side is empty.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
    let (a, b) = (finite(a), finite(b));
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let all: Vec<f64> = a.iter().chain(&b).copied().collect();
    let (r, ties) = ranks(&all);
    let r1: f64 = r[..n1].iter().sum();
    let u1 = r1 - (n1 * (n1 + 1)) as f64 / 2.0;
    let u2 = (n1 * n2) as f64 - u1;
    let big = u1.max(u2);
    let has_ties = ties.iter().any(|&t| t > 1);
    let exact = (n1 <= 8 || n2 <= 8) && !has_ties;
    let p = if exact {
        let counts = u_counts(n1, n2);
        let total: f64 = counts.iter().sum();
        let at_least: f64 = counts.iter().skip(big as usize).sum();
        2.0 * at_least / total
    } else {
        let (f1, f2) = (n1 as f64, n2 as f64);
        let n = f1 + f2;
        let tie_term: f64 = ties.iter().map(|&t| (t * t * t - t) as f64).sum();
        let s = (f1 * f2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
        let z = (big - f1 * f2 / 2.0 - 0.5) / s;
        let normal = Normal::standard();
        2.0 * normal.sf(z)
    };
    Some(MannWhitney { u: u1, p: p.clamp(0.0, 1.0), exact })
}

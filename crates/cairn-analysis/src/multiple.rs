//! Holm–Bonferroni: p-values adjusted for testing several hypotheses at once.

/// Holm's step-down adjusted p-values, in the input's order: the k-th smallest p is
/// multiplied by (m − k + 1), made non-decreasing, and capped at 1. A hypothesis is
/// rejected at level α when its adjusted p is at most α.
pub fn holm(ps: &[f64]) -> Vec<f64> {
    let m = ps.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| ps[i].total_cmp(&ps[j]));
    let mut out = vec![0.0; m];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * ps[i]).min(1.0));
        out[i] = running;
    }
    out
}

//! A small regression forest (bagged CART trees, every feature tried at every split,
//! as fANOVA implementations use) and the functional-ANOVA decomposition of its trees
//! (Hutter, Hoos & Leyton-Brown 2014): the share of the predicted metric's variance
//! each parameter explains on its own. Written here because fANOVA needs each tree's
//! splits, which forest crates do not expose.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Features are numbers: numeric parameters (log-scaled by the caller where that is
/// their nature) or category indices 0..k.
/// The most leaves a tree grows to (about): what keeps fANOVA bounded on big samples.
const MAX_LEAVES: usize = 256;
/// The most rows one tree is grown on.
const MAX_TREE_ROWS: usize = 4_096;

#[derive(Debug, Clone)]
pub struct Forest {
    trees: Vec<Tree>,
    /// For each tree, which rows its bootstrap sample left out (for out-of-bag
    /// predictions).
    out_of_bag: Vec<Vec<bool>>,
    /// (low, high) of each feature's domain: what fANOVA averages over.
    bounds: Vec<(f64, f64)>,
}

#[derive(Debug, Clone)]
enum Node {
    Leaf(f64),
    Split { feature: usize, threshold: f64, left: usize, right: usize },
}

#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn grow(x: &[Vec<f64>], y: &[f64], rows: &[usize], max_depth: usize) -> Tree {
        let mut tree = Tree { nodes: Vec::new() };
        // fANOVA's cost grows with the square of a tree's leaves: a leaf holds at least
        // 1/MAX_LEAVES of the rows, so a tree has at most about MAX_LEAVES leaves however
        // many runs there are (small sets still grow down to single rows).
        let min_leaf = rows.len().div_ceil(MAX_LEAVES).max(1);
        tree.build(x, y, rows.to_vec(), 0, max_depth, min_leaf);
        tree
    }

    fn build(
        &mut self,
        x: &[Vec<f64>],
        y: &[f64],
        rows: Vec<usize>,
        depth: usize,
        max_depth: usize,
        min_leaf: usize,
    ) -> usize {
        let at = self.nodes.len();
        let mean = rows.iter().map(|&r| y[r]).sum::<f64>() / rows.len() as f64;
        self.nodes.push(Node::Leaf(mean));
        if rows.len() < 2 * min_leaf.max(1) || depth >= max_depth {
            return at;
        }
        let Some((feature, threshold)) = best_split(x, y, &rows, min_leaf) else { return at };
        let (l, r): (Vec<usize>, Vec<usize>) = rows.iter().partition(|&&i| x[i][feature] <= threshold);
        let left = self.build(x, y, l, depth + 1, max_depth, min_leaf);
        let right = self.build(x, y, r, depth + 1, max_depth, min_leaf);
        self.nodes[at] = Node::Split { feature, threshold, left, right };
        at
    }

    fn predict(&self, row: &[f64]) -> f64 {
        let mut i = 0;
        loop {
            match self.nodes[i] {
                Node::Leaf(v) => return v,
                Node::Split { feature, threshold, left, right } => {
                    i = if row[feature] <= threshold { left } else { right };
                }
            }
        }
    }

    /// Leaves as boxes: (per-feature (low, high), value).
    fn leaves(&self, bounds: &[(f64, f64)]) -> Vec<(Vec<(f64, f64)>, f64)> {
        let mut out = Vec::new();
        let mut stack = vec![(0usize, bounds.to_vec())];
        while let Some((i, b)) = stack.pop() {
            match self.nodes[i] {
                Node::Leaf(v) => out.push((b, v)),
                Node::Split { feature, threshold, left, right } => {
                    let t = threshold.clamp(b[feature].0, b[feature].1);
                    let mut lb = b.clone();
                    lb[feature].1 = t;
                    let mut rb = b;
                    rb[feature].0 = t;
                    stack.push((left, lb));
                    stack.push((right, rb));
                }
            }
        }
        out
    }
}

/// The split of `rows` that most reduces the squared error, as (feature, threshold).
// Rows are runs and `f` a column: indexing by column is the natural shape here.
#[allow(clippy::needless_range_loop)]
fn best_split(x: &[Vec<f64>], y: &[f64], rows: &[usize], min_leaf: usize) -> Option<(usize, f64)> {
    let n = rows.len() as f64;
    let total: f64 = rows.iter().map(|&r| y[r]).sum();
    let total_sq: f64 = rows.iter().map(|&r| y[r] * y[r]).sum();
    let parent = total_sq - total * total / n;
    if parent <= 1e-12 * total_sq.abs().max(1e-300) {
        return None;
    }
    let features = x.first().map_or(0, Vec::len);
    let mut best: Option<(f64, usize, f64)> = None;
    // (feature value, y) side by side: sorting them is most of a forest's time, and a
    // contiguous pair sorts several times faster than indices into the rows. Ties may
    // come in any order: no split falls between equal values.
    let mut sorted: Vec<(f64, f64)> = Vec::with_capacity(rows.len());
    for f in 0..features {
        sorted.clear();
        sorted.extend(rows.iter().map(|&r| (x[r][f], y[r])));
        sorted.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let (mut sum_l, mut sq_l) = (0.0, 0.0);
        for k in 0..sorted.len() - 1 {
            let v = sorted[k].1;
            sum_l += v;
            sq_l += v * v;
            let (a, b) = (sorted[k].0, sorted[k + 1].0);
            if a == b || k + 1 < min_leaf || sorted.len() - (k + 1) < min_leaf {
                continue;
            }
            let nl = (k + 1) as f64;
            let nr = n - nl;
            let sse = (sq_l - sum_l * sum_l / nl) + ((total_sq - sq_l) - (total - sum_l).powi(2) / nr);
            if best.is_none_or(|(s, _, _)| sse < s) {
                best = Some((sse, f, (a + b) / 2.0));
            }
        }
    }
    best.filter(|(sse, _, _)| *sse < parent).map(|(_, f, t)| (f, t))
}

impl Forest {
    /// Grows `trees` trees on bootstrap samples of the rows of `x` (one row per run).
    pub fn fit(x: &[Vec<f64>], y: &[f64], trees: usize, seed: u64) -> Forest {
        let n = y.len();
        let features = x.first().map_or(0, Vec::len);
        let bounds = (0..features)
            .map(|f| {
                let lo = x.iter().map(|r| r[f]).fold(f64::INFINITY, f64::min);
                let hi = x.iter().map(|r| r[f]).fold(f64::NEG_INFINITY, f64::max);
                (lo, hi)
            })
            .collect();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Forest { trees: Vec::new(), out_of_bag: Vec::new(), bounds };
        // Each tree draws at most MAX_TREE_ROWS rows (sub-bagging): on a large sample
        // the forest costs the same as on a moderate one, and out-of-bag rows remain.
        let draw = n.min(MAX_TREE_ROWS);
        let mut samples = Vec::with_capacity(trees);
        for _ in 0..trees {
            let mut in_bag = vec![false; n];
            let rows: Vec<usize> = (0..draw)
                .map(|_| {
                    let r = rng.random_range(0..n);
                    in_bag[r] = true;
                    r
                })
                .collect();
            samples.push(rows);
            out.out_of_bag.push(in_bag.iter().map(|b| !b).collect());
        }
        // The samples are drawn in order above, so the trees are the same however many
        // threads grow them; on every core, a request's forest is answered sooner.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(trees).max(1);
        out.trees = if threads == 1 {
            samples.iter().map(|rows| Tree::grow(x, y, rows, 64)).collect()
        } else {
            std::thread::scope(|s| {
                let samples = &samples;
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        s.spawn(move || {
                            (t..samples.len())
                                .step_by(threads)
                                .map(|i| (i, Tree::grow(x, y, &samples[i], 64)))
                                .collect()
                        })
                    })
                    .collect();
                let mut grown: Vec<(usize, Tree)> = Vec::with_capacity(samples.len());
                for h in handles {
                    let part: Vec<(usize, Tree)> = h.join().expect("growing a tree does not panic");
                    grown.extend(part);
                }
                grown.sort_by_key(|(i, _)| *i);
                grown.into_iter().map(|(_, t)| t).collect()
            })
        };
        out
    }

    /// Feature domains: set a categorical feature's to (−0.5, k − 0.5) so each level
    /// weighs the same.
    pub fn set_bounds(&mut self, feature: usize, low: f64, high: f64) {
        self.bounds[feature] = (low, high);
    }

    pub fn predict(&self, row: &[f64]) -> f64 {
        self.trees.iter().map(|t| t.predict(row)).sum::<f64>() / self.trees.len() as f64
    }

    /// Each row's prediction by the trees that did not see it; `None` for a row every
    /// tree saw.
    pub fn out_of_bag(&self, x: &[Vec<f64>]) -> Vec<Option<f64>> {
        x.iter()
            .enumerate()
            .map(|(i, row)| {
                let preds: Vec<f64> = self
                    .trees
                    .iter()
                    .zip(&self.out_of_bag)
                    .filter(|(_, oob)| oob[i])
                    .map(|(t, _)| t.predict(row))
                    .collect();
                (!preds.is_empty()).then(|| preds.iter().sum::<f64>() / preds.len() as f64)
            })
            .collect()
    }

    /// fANOVA main effects: for each feature, the mean over trees of the share of the
    /// tree's variance over the domain that the feature explains alone, and its
    /// standard deviation across trees.
    pub fn main_effects(&self) -> Vec<(f64, f64)> {
        let features = self.bounds.len();
        let mut shares: Vec<Vec<f64>> = vec![Vec::new(); features];
        for tree in &self.trees {
            let leaves = tree.leaves(&self.bounds);
            let frac = |b: &[(f64, f64)], j: usize| {
                let (lo, hi) = self.bounds[j];
                if hi > lo { (b[j].1 - b[j].0) / (hi - lo) } else { 1.0 }
            };
            let weights: Vec<f64> = leaves.iter().map(|(b, _)| (0..features).map(|j| frac(b, j)).product()).collect();
            let mu: f64 = leaves.iter().zip(&weights).map(|((_, v), w)| v * w).sum();
            let total: f64 = leaves.iter().zip(&weights).map(|((_, v), w)| w * (v - mu).powi(2)).sum();
            for (i, share) in shares.iter_mut().enumerate() {
                if total <= 0.0 {
                    share.push(0.0);
                    continue;
                }
                let (lo, hi) = self.bounds[i];
                if hi <= lo {
                    share.push(0.0);
                    continue;
                }
                let mut edges: Vec<f64> = leaves.iter().flat_map(|(b, _)| [b[i].0, b[i].1]).collect();
                edges.sort_by(f64::total_cmp);
                edges.dedup();
                let mut v_i = 0.0;
                for w in edges.windows(2) {
                    let mid = (w[0] + w[1]) / 2.0;
                    // The mean over the other features with this feature fixed in the interval.
                    let m: f64 = leaves
                        .iter()
                        .filter(|(b, _)| b[i].0 <= mid && mid <= b[i].1)
                        .map(|(b, v)| v * (0..features).filter(|&j| j != i).map(|j| frac(b, j)).product::<f64>())
                        .sum();
                    v_i += (w[1] - w[0]) / (hi - lo) * (m - mu).powi(2);
                }
                share.push(v_i / total);
            }
        }
        shares
            .iter()
            .map(|s| {
                let m = s.iter().sum::<f64>() / s.len().max(1) as f64;
                let sd = (s.iter().map(|x| (x - m).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt();
                (m, sd)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_effects_rank_what_the_metric_depends_on() {
        // y depends strongly on x1, weakly on x2, not at all on x3.
        let mut rng = StdRng::seed_from_u64(11);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for _ in 0..200 {
            let row: Vec<f64> = (0..3).map(|_| rng.random_range(0.0..1.0)).collect();
            y.push(5.0 * row[0] + 1.0 * row[1] + 0.05 * rng.random_range(-1.0..1.0));
            x.push(row);
        }
        let forest = Forest::fit(&x, &y, 32, 1);
        let effects = forest.main_effects();
        let (x1, x2, x3) = (effects[0].0, effects[1].0, effects[2].0);
        assert!(x1 > x2 && x2 > x3, "{effects:?}");
        assert!(x1 > 0.8, "x1 explains most of the variance: {effects:?}");
        assert!(x3 < 0.02, "x3 explains almost nothing: {effects:?}");
        // 25:1 in variance between x1 and x2 (coefficients 5 and 1).
        assert!((x1 / x2) > 10.0, "{effects:?}");
        let oob = forest.out_of_bag(&x);
        let covered = oob.iter().filter(|p| p.is_some()).count();
        assert!(covered > 190, "almost every row is left out by some tree");
    }

    #[test]
    fn a_constant_metric_has_no_importance() {
        let x = vec![vec![0.0, 1.0], vec![1.0, 0.0], vec![0.5, 0.5]];
        let forest = Forest::fit(&x, &[1.0, 1.0, 1.0], 8, 2);
        assert!(forest.main_effects().iter().all(|(m, _)| *m == 0.0));
    }
}

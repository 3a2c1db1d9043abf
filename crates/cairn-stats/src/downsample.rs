//! Reducing a series to a bounded number of points for charts.
//!
//! Both functions work in a few linear passes without allocating per point: the only
//! allocation is the returned `Vec`.

/// A point with finite coordinates, used as a triangle corner.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pt {
    x: f64,
    y: f64,
}

/// Point `i` if both of its coordinates are finite.
fn finite(xs: &[f64], ys: &[f64], i: usize) -> Option<Pt> {
    let (x, y) = (xs[i], ys[i]);
    (x.is_finite() && y.is_finite()).then_some(Pt { x, y })
}

/// Reduce a series (x ascending) to at most `max_points` points with
/// largest-triangle-three-buckets, always keeping the first and last point and,
/// additionally, the global min and max y (non-NaN) — so a chart never loses a spike.
/// Returns indices into the input, strictly increasing. Deterministic. If
/// `n <= max_points` returns all indices.
///
/// Details:
/// - `n` is `min(xs.len(), ys.len())`; extra values in the longer slice are ignored.
/// - A point is a *NaN point* when its x or y is NaN. NaN points are never chosen by
///   the triangle area; a bucket holding only NaN points contributes its first point.
/// - The global min and max are the first occurrences of the smallest and largest
///   non-NaN y, `±inf` included (x is not looked at). Each of them that is not the
///   first or last point takes the place of its bucket's triangle pick. When both
///   fall into the same bucket one bucket fewer is used, so the output still fits in
///   `max_points`; with `max_points == 3` and both in the interior, only the one with
///   the larger triangle against the first and last point is kept.
/// - Triangles are built from finite points only: the previous kept finite point and
///   the mean of the finite points of the next bucket (or the next bucket's forced
///   extreme, or the last point). A candidate with an infinite coordinate scores as an
///   infinite area, so it wins its bucket.
/// - The output never exceeds `max_points`: for `max_points` 0, 1 and 2 it is `[]`,
///   `[0]` and `[0, n-1]`.
pub fn lttb_indices(xs: &[f64], ys: &[f64], max_points: usize) -> Vec<usize> {
    let n = xs.len().min(ys.len());
    let (xs, ys) = (&xs[..n], &ys[..n]);
    if n <= max_points {
        return (0..n).collect();
    }
    // From here on n > max_points, so n >= 1.
    let last = n - 1;
    match max_points {
        0 => return Vec::new(),
        1 => return vec![0],
        2 => return vec![0, last],
        _ => {}
    }
    // n > max_points >= 3: at least two interior points, at least one bucket.
    let interior = n - 2;
    let mut buckets = max_points - 2;

    let mut forced = [usize::MAX; 2];
    let mut nforced = 0;
    let (imin, imax) = min_max(ys).unzip();
    for i in [imin, imax].into_iter().flatten() {
        if i > 0 && i < last && !forced[..nforced].contains(&i) {
            forced[nforced] = i;
            nforced += 1;
        }
    }
    let forced = &mut forced[..nforced];
    forced.sort_unstable();

    if let [a, b] = *forced
        && bucket_of(a, interior, buckets) == bucket_of(b, interior, buckets)
    {
        // Both extremes need a slot of their own: give up one bucket.
        buckets -= 1;
        if buckets == 0 {
            let scorer = Scorer::new(finite(xs, ys, 0), finite(xs, ys, last));
            let keep = if scorer.score(xs[b], ys[b]) > scorer.score(xs[a], ys[a]) { b } else { a };
            return vec![0, keep, last];
        }
    }

    let mut out = Vec::with_capacity(max_points);
    out.push(0);
    let mut anchor = finite(xs, ys, 0);
    let mut next_forced = 0;
    let mut start = 1;
    for j in 0..buckets {
        let end = bucket_start(j + 1, interior, buckets);
        let mut took_forced = false;
        while next_forced < forced.len() && forced[next_forced] < end {
            let i = forced[next_forced];
            out.push(i);
            anchor = finite(xs, ys, i).or(anchor);
            next_forced += 1;
            took_forced = true;
        }
        if !took_forced {
            let target = if j + 1 < buckets {
                let next_end = bucket_start(j + 2, interior, buckets);
                forced
                    .get(next_forced)
                    .filter(|&&i| i < next_end)
                    .and_then(|&i| finite(xs, ys, i))
                    .or_else(|| mean(&xs[end..next_end], &ys[end..next_end]))
            } else {
                None
            }
            .or_else(|| finite(xs, ys, last));
            let i = start + pick(&xs[start..end], &ys[start..end], anchor, target);
            out.push(i);
            anchor = finite(xs, ys, i).or(anchor);
        }
        start = end;
    }
    out.push(last);
    out
}

/// Per-bucket min/max reduction alternative: for each of `max_points / 2` equal-count
/// buckets keep the index of the min and max (in x order). Deterministic.
///
/// Details: NaN values are skipped (a bucket of only NaN contributes its first index);
/// ties go to the first occurrence; a bucket whose min and max are the same point
/// contributes it once. If `n <= max_points` all indices are returned; for
/// `max_points == 1` (no whole bucket fits) it is `[0]`, for `0` it is `[]`. The
/// result is strictly increasing and at most `max_points` long (one less when
/// `max_points` is odd).
pub fn minmax_indices(ys: &[f64], max_points: usize) -> Vec<usize> {
    let n = ys.len();
    if n <= max_points {
        return (0..n).collect();
    }
    let buckets = max_points / 2;
    if buckets == 0 {
        return if max_points == 1 { vec![0] } else { Vec::new() };
    }
    let mut out = Vec::with_capacity(2 * buckets);
    for j in 0..buckets {
        let start = split(j, n, buckets);
        let end = split(j + 1, n, buckets);
        match min_max(&ys[start..end]) {
            None => out.push(start),
            Some((lo, hi)) => {
                let (a, b) = (lo.min(hi), lo.max(hi));
                out.push(start + a);
                if b != a {
                    out.push(start + b);
                }
            }
        }
    }
    out
}

/// `floor(j * len / parts)` without overflow.
fn split(j: usize, len: usize, parts: usize) -> usize {
    // The quotient is at most `len`, so it fits back into usize.
    ((j as u128 * len as u128) / parts as u128) as usize
}

/// First index of bucket `j` of the interior points `1..n-1` split into `buckets`
/// equal-count buckets; `bucket_start(buckets, ..)` is `n - 1`.
fn bucket_start(j: usize, interior: usize, buckets: usize) -> usize {
    1 + split(j, interior, buckets)
}

/// The bucket holding interior point `i`.
fn bucket_of(i: usize, interior: usize, buckets: usize) -> usize {
    // `floor((i-1) * buckets / interior)` is never past the right bucket, and at most
    // a step before it; step forward past any bucket that starts at or before `i`.
    let mut j = split(i - 1, buckets, interior);
    while j + 1 < buckets && bucket_start(j + 1, interior, buckets) <= i {
        j += 1;
    }
    j
}

/// Lanes of independent accumulators: they break the dependency chain of a running
/// min, max or sum, so the loops run at memory speed (and can be vectorised).
const LANES: usize = 8;

/// Values are scanned in blocks: the extreme of a block is found with [`LANES`]
/// branch-free accumulators, and only a block that improves on the best so far is
/// remembered (and searched again at the end for the exact position).
const BLOCK: usize = 64;

/// Offsets of the first smallest and first largest non-NaN value (`±inf` included).
fn min_max(ys: &[f64]) -> Option<(usize, usize)> {
    // Comparisons with NaN are false, so NaN is never taken. Strict comparisons keep
    // the first block, and the search inside it the first position, of a repeated
    // extreme.
    let (blocks, rest) = ys.as_chunks::<BLOCK>();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut lo_block, mut hi_block) = (None, None);
    for (b, block) in blocks.iter().enumerate() {
        let (block_lo, block_hi) = block_min_max(block);
        if block_lo < lo {
            (lo, lo_block) = (block_lo, Some(b));
        }
        if block_hi > hi {
            (hi, hi_block) = (block_hi, Some(b));
        }
    }
    let find = |b: usize, v: f64| b * BLOCK + blocks[b].iter().position(|&y| y == v).unwrap_or(0);
    let mut lo_at = lo_block.map(|b| find(b, lo));
    let mut hi_at = hi_block.map(|b| find(b, hi));
    let base = blocks.len() * BLOCK;
    for (r, &y) in rest.iter().enumerate() {
        if y < lo {
            (lo, lo_at) = (y, Some(base + r));
        }
        if y > hi {
            (hi, hi_at) = (y, Some(base + r));
        }
    }
    // Still unset: no value below +inf (or above -inf). The extreme is then the first
    // infinity, if there is one at all (an all-NaN series has none).
    let lo_at = match lo_at {
        Some(i) => i,
        None => ys.iter().position(|&y| y == f64::INFINITY)?,
    };
    let hi_at = match hi_at {
        Some(i) => i,
        None => ys.iter().position(|&y| y == f64::NEG_INFINITY)?,
    };
    Some((lo_at, hi_at))
}

/// Smallest and largest non-NaN value of a block; `(+inf, -inf)` when there is none.
fn block_min_max(block: &[f64; BLOCK]) -> (f64, f64) {
    let mut lo = [f64::INFINITY; LANES];
    let mut hi = [f64::NEG_INFINITY; LANES];
    for chunk in block.as_chunks::<LANES>().0 {
        for k in 0..LANES {
            let y = chunk[k];
            lo[k] = if y < lo[k] { y } else { lo[k] };
            hi[k] = if y > hi[k] { y } else { hi[k] };
        }
    }
    let mut l = lo[0];
    let mut h = hi[0];
    for k in 1..LANES {
        l = if lo[k] < l { lo[k] } else { l };
        h = if hi[k] > h { hi[k] } else { h };
    }
    (l, h)
}

/// Mean of the finite points, if there are any.
fn mean(xs: &[f64], ys: &[f64]) -> Option<Pt> {
    let n = xs.len().min(ys.len());
    if n == 0 {
        return None;
    }
    // Fast path: plain sums. Any NaN or infinity, or an overflow, makes them
    // non-finite, and then the careful path below runs instead.
    let mut sx = [0.0; LANES];
    let mut sy = [0.0; LANES];
    let (xc, xr) = xs[..n].as_chunks::<LANES>();
    let (yc, yr) = ys[..n].as_chunks::<LANES>();
    for (cx, cy) in xc.iter().zip(yc) {
        for k in 0..LANES {
            sx[k] += cx[k];
            sy[k] += cy[k];
        }
    }
    for (&x, &y) in xr.iter().zip(yr) {
        sx[0] += x;
        sy[0] += y;
    }
    let m = Pt { x: sx.iter().sum::<f64>() / n as f64, y: sy.iter().sum::<f64>() / n as f64 };
    if m.x.is_finite() && m.y.is_finite() {
        return Some(m);
    }
    mean_of_finite(xs, ys)
}

/// The slow, careful mean: skips points with a non-finite coordinate, and cannot
/// overflow (a running mean).
fn mean_of_finite(xs: &[f64], ys: &[f64]) -> Option<Pt> {
    let (mut mx, mut my, mut k) = (0.0, 0.0, 0.0);
    for (&x, &y) in xs.iter().zip(ys) {
        if x.is_finite() && y.is_finite() {
            k += 1.0;
            mx += (x - mx) / k;
            my += (y - my) / k;
        }
    }
    (k > 0.0).then_some(Pt { x: mx, y: my })
}

/// Scores candidates by how far they lie from the line through `a` and `c`: twice the
/// triangle area `|(a.x - c.x)(y - a.y) + (x - a.x)(c.y - a.y)|`. Without one of the
/// corners it is the vertical distance to the other; without both, 0.
#[derive(Debug, Clone, Copy)]
struct Scorer {
    ka: f64,
    kb: f64,
    ox: f64,
    oy: f64,
}

impl Scorer {
    fn new(a: Option<Pt>, c: Option<Pt>) -> Self {
        let (ka, kb, ox, oy) = match (a, c) {
            (Some(a), Some(c)) => (a.x - c.x, c.y - a.y, a.x, a.y),
            (Some(p), None) | (None, Some(p)) => (1.0, 0.0, 0.0, p.y),
            (None, None) => (0.0, 0.0, 0.0, 0.0),
        };
        Scorer { ka, kb, ox, oy }
    }

    /// The plain score: NaN for NaN points, and also for some infinite coordinates.
    #[inline]
    fn raw(&self, x: f64, y: f64) -> f64 {
        (self.ka * (y - self.oy) + self.kb * (x - self.ox)).abs()
    }

    /// `None` for NaN points; a NaN score of any other point (from infinite
    /// coordinates) counts as infinitely far.
    fn score(&self, x: f64, y: f64) -> Option<f64> {
        if x.is_nan() || y.is_nan() {
            return None;
        }
        let s = self.raw(x, y);
        Some(if s.is_nan() { f64::INFINITY } else { s })
    }
}

/// Offset of the bucket point with the largest score (first one on ties), skipping
/// NaN points; 0 when all are NaN points.
fn pick(xs: &[f64], ys: &[f64], a: Option<Pt>, c: Option<Pt>) -> usize {
    let scorer = Scorer::new(a, c);
    // Fast path, by blocks as in `min_max`. The sum of the scores is only a check: a
    // NaN point or an infinite coordinate makes it non-finite, and sends the bucket to
    // the careful path.
    let n = xs.len().min(ys.len());
    let (xb, xr) = xs[..n].as_chunks::<BLOCK>();
    let (yb, yr) = ys[..n].as_chunks::<BLOCK>();
    let mut best = -1.0;
    let mut best_block = None;
    let mut check = 0.0;
    for (b, (bx, by)) in xb.iter().zip(yb).enumerate() {
        let mut top = [-1.0; LANES];
        let mut sum = [0.0; LANES];
        for (cx, cy) in bx.as_chunks::<LANES>().0.iter().zip(by.as_chunks::<LANES>().0) {
            for k in 0..LANES {
                let s = scorer.raw(cx[k], cy[k]);
                top[k] = if s > top[k] { s } else { top[k] };
                sum[k] += s;
            }
        }
        let mut t = top[0];
        for &v in &top[1..] {
            t = if v > t { v } else { t };
        }
        if t > best {
            (best, best_block) = (t, Some(b));
        }
        check += sum.iter().sum::<f64>();
    }
    let mut at = best_block.map(|b| {
        let (bx, by) = (&xb[b], &yb[b]);
        let within = bx.iter().zip(by).position(|(&x, &y)| scorer.raw(x, y) == best).unwrap_or(0);
        b * BLOCK + within
    });
    let base = xb.len() * BLOCK;
    for (r, (&x, &y)) in xr.iter().zip(yr).enumerate() {
        let s = scorer.raw(x, y);
        if s > best {
            (best, at) = (s, Some(base + r));
        }
        check += s;
    }
    if !check.is_finite() {
        return pick_careful(xs, ys, scorer);
    }
    at.unwrap_or(0)
}

/// [`pick`] one point at a time, for buckets with NaN or infinite values.
fn pick_careful(xs: &[f64], ys: &[f64], scorer: Scorer) -> usize {
    let mut best = 0;
    let mut best_score = -1.0;
    for (i, (&x, &y)) in xs.iter().zip(ys).enumerate() {
        if let Some(s) = scorer.score(x, y)
            && s > best_score
        {
            best_score = s;
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- helpers -------------------------------------------------------------------

    /// A small deterministic generator (xorshift64*), values in [0, 1).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() * n as f64) as usize
        }
    }

    fn steps(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64).collect()
    }

    fn random_walk(rng: &mut Rng, n: usize) -> Vec<f64> {
        let mut y = 0.0;
        (0..n)
            .map(|_| {
                y += rng.next() - 0.5;
                y
            })
            .collect()
    }

    /// The invariants every result must satisfy.
    fn assert_valid(idx: &[usize], n: usize, max_points: usize) {
        assert!(idx.len() <= max_points, "{} > {max_points}", idx.len());
        assert!(idx.windows(2).all(|w| w[0] < w[1]), "not strictly increasing: {idx:?}");
        assert!(idx.iter().all(|&i| i < n), "index out of range: {idx:?}");
    }

    fn assert_lttb_valid(xs: &[f64], ys: &[f64], idx: &[usize], max_points: usize) {
        let n = xs.len().min(ys.len());
        assert_valid(idx, n, max_points);
        if n > 0 && max_points >= 2 {
            assert_eq!(idx[0], 0);
            assert_eq!(*idx.last().unwrap(), n - 1);
        }
        if max_points >= 3 {
            let (lo, hi) = min_max(&ys[..n]).unzip();
            let kept = |e: Option<usize>| e.is_none_or(|e| idx.contains(&e));
            if max_points >= 4 {
                assert!(kept(lo) && kept(hi), "extreme {lo:?} or {hi:?} lost: {idx:?}");
            } else {
                // Room for one interior extreme only: at least one is kept.
                assert!(kept(lo) || kept(hi), "both extremes lost: {idx:?}");
            }
        }
    }

    /// Textbook LTTB (no forced extremes), written independently of the code above:
    /// buckets as vectors, the average of the next bucket, the largest triangle.
    fn reference_lttb(xs: &[f64], ys: &[f64], max_points: usize) -> Vec<usize> {
        let n = xs.len();
        if n <= max_points {
            return (0..n).collect();
        }
        let b = max_points - 2;
        let groups: Vec<Vec<usize>> = (0..b)
            .map(|j| {
                let lo = 1 + j * (n - 2) / b;
                let hi = 1 + (j + 1) * (n - 2) / b;
                (lo..hi).collect()
            })
            .collect();
        let mut out = vec![0];
        for j in 0..b {
            let (cx, cy) = if j + 1 < b {
                let g = &groups[j + 1];
                let k = g.len() as f64;
                (g.iter().map(|&i| xs[i]).sum::<f64>() / k, g.iter().map(|&i| ys[i]).sum::<f64>() / k)
            } else {
                (xs[n - 1], ys[n - 1])
            };
            let a = *out.last().unwrap();
            let (ax, ay) = (xs[a], ys[a]);
            let mut best = groups[j][0];
            let mut best_area = -1.0;
            for &i in &groups[j] {
                let area = 0.5 * ((ax - cx) * (ys[i] - ay) - (ax - xs[i]) * (cy - ay)).abs();
                if area > best_area {
                    best_area = area;
                    best = i;
                }
            }
            out.push(best);
        }
        out.push(n - 1);
        out
    }

    // ---- lttb ----------------------------------------------------------------------

    #[test]
    fn small_inputs_are_returned_whole() {
        for n in 0..10 {
            let xs = steps(n);
            let ys: Vec<f64> = xs.iter().map(|x| x * x).collect();
            for max_points in n..n + 3 {
                assert_eq!(lttb_indices(&xs, &ys, max_points), (0..n).collect::<Vec<_>>());
                assert_eq!(minmax_indices(&ys, max_points), (0..n).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn tiny_budgets() {
        let xs = steps(10);
        let ys = vec![0.0, 5.0, -3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0];
        assert_eq!(lttb_indices(&xs, &ys, 0), Vec::<usize>::new());
        assert_eq!(lttb_indices(&xs, &ys, 1), vec![0]);
        assert_eq!(lttb_indices(&xs, &ys, 2), vec![0, 9]);
        assert_eq!(lttb_indices(&[], &[], 0), Vec::<usize>::new());
        assert_eq!(lttb_indices(&[1.0], &[1.0], 0), Vec::<usize>::new());
        assert_eq!(lttb_indices(&[1.0, 2.0], &[1.0, 2.0], 1), vec![0]);
        // Both extremes (5 at 1, -3 at 2) are interior; with 3 points only one fits,
        // the one farther from the line through the first and last point (0,0)-(9,2):
        // 5 is 4.78 above it, -3 only 3.44 below.
        assert_eq!(lttb_indices(&xs, &ys, 3), vec![0, 1, 9]);
        let mut ys2 = ys.clone();
        ys2[2] = -30.0;
        assert_eq!(lttb_indices(&xs, &ys2, 3), vec![0, 2, 9]);
        // Both fit with 4.
        assert_eq!(lttb_indices(&xs, &ys, 4), vec![0, 1, 2, 9]);
    }

    #[test]
    fn known_small_example() {
        // 7 points, 4 kept: buckets {1, 2} and {3, 4, 5}; min and max are the ends.
        let xs = steps(7);
        let ys = [0.0, 5.0, 1.0, 2.0, 8.0, 3.0, 10.0];
        // Bucket 1: against (0,0) and the next bucket's mean (4, 13/3), point 1 makes
        // the larger triangle (area 15.67 vs 4.67). Bucket 2: against (1,5) and the
        // last point (6,10): areas 25, 0, 30, so point 5 (point 4 lies on the line).
        assert_eq!(lttb_indices(&xs, &ys, 4), vec![0, 1, 5, 6]);
        assert_eq!(reference_lttb(&xs, &ys, 4), vec![0, 1, 5, 6]);

        // Make point 4 the global max: it takes bucket 2's slot and is the target of
        // bucket 1's triangles, which now favour point 2 (14 vs 12).
        let ys = [0.0, 5.0, 0.5, 2.0, 8.0, 3.0, 7.0];
        assert_eq!(lttb_indices(&xs, &ys, 4), vec![0, 2, 4, 6]);
    }

    #[test]
    fn matches_textbook_lttb_when_extremes_are_at_the_ends() {
        let mut rng = Rng(7);
        for n in [10, 57, 300, 1001] {
            for max_points in [3, 4, 5, 10, 33, 100] {
                // Increasing trend with noise, first value the smallest and last the
                // largest, so no extreme needs forcing.
                let xs = steps(n);
                let mut ys: Vec<f64> = (0..n).map(|i| i as f64 * 0.1 + rng.next()).collect();
                ys[0] = -1.0;
                ys[n - 1] = 1e6;
                assert_eq!(
                    lttb_indices(&xs, &ys, max_points),
                    reference_lttb(&xs, &ys, max_points),
                    "n={n} max_points={max_points}"
                );
            }
        }
    }

    #[test]
    fn invariants_on_random_series() {
        let mut rng = Rng(42);
        for _ in 0..300 {
            let n = rng.below(400);
            let max_points = rng.below(60);
            let mut xs = steps(n);
            // Irregular but ascending x, sometimes with repeats.
            let mut x = 0.0;
            for v in &mut xs {
                x += (rng.next() * 3.0).floor();
                *v = x;
            }
            let ys = random_walk(&mut rng, n);
            let idx = lttb_indices(&xs, &ys, max_points);
            assert_lttb_valid(&xs, &ys, &idx, max_points);
            if n > max_points && max_points >= 4 {
                // All the budget is used, or one less when both extremes shared a
                // bucket.
                assert!(idx.len() + 1 >= max_points, "{} of {max_points}", idx.len());
            }
            let mm = minmax_indices(&ys, max_points);
            assert_valid(&mm, n, max_points);
        }
    }

    #[test]
    fn spikes_are_kept() {
        let n = 10_000;
        let xs = steps(n);
        let mut rng = Rng(3);
        for max_points in [3, 4, 5, 7, 20, 500] {
            for _ in 0..20 {
                let mut ys: Vec<f64> = (0..n).map(|_| rng.next()).collect();
                let up = 1 + rng.below(n - 2);
                let down = 1 + rng.below(n - 2);
                ys[up] = 100.0;
                if down != up {
                    ys[down] = -100.0;
                }
                let idx = lttb_indices(&xs, &ys, max_points);
                assert_lttb_valid(&xs, &ys, &idx, max_points);
                if max_points >= 4 {
                    assert!(idx.contains(&up), "max_points={max_points}");
                    if down != up {
                        assert!(idx.contains(&down), "max_points={max_points}");
                    }
                }
            }
        }
    }

    #[test]
    fn adjacent_extremes_share_a_bucket() {
        let n = 1000;
        let xs = steps(n);
        let mut ys = vec![0.0; n];
        ys[500] = 9.0;
        ys[501] = -9.0;
        for max_points in [4, 5, 6, 10, 50] {
            let idx = lttb_indices(&xs, &ys, max_points);
            assert_lttb_valid(&xs, &ys, &idx, max_points);
            assert!(idx.contains(&500) && idx.contains(&501), "{max_points}: {idx:?}");
        }
    }

    #[test]
    fn a_single_spike_in_a_flat_series() {
        let n = 100;
        let xs = steps(n);
        let mut ys = vec![1.0; n];
        ys[37] = 50.0;
        let idx = lttb_indices(&xs, &ys, 5);
        assert_eq!(idx.len(), 5);
        assert!(idx.contains(&37));
        // The minimum (first 1.0) is the first point, so nothing else is forced.
        assert_eq!((idx[0], idx[4]), (0, 99));
    }

    #[test]
    fn deterministic() {
        let mut rng = Rng(11);
        let n = 5000;
        let xs = steps(n);
        let ys = random_walk(&mut rng, n);
        let a = lttb_indices(&xs, &ys, 123);
        let b = lttb_indices(&xs.clone(), &ys.clone(), 123);
        assert_eq!(a, b);
        assert_eq!(minmax_indices(&ys, 123), minmax_indices(&ys, 123));
    }

    #[test]
    fn mismatched_lengths_use_the_shorter() {
        let xs = steps(100);
        let ys = vec![1.0; 40];
        let idx = lttb_indices(&xs, &ys, 10);
        assert_lttb_valid(&xs[..40], &ys, &idx, 10);
        assert_eq!(*idx.last().unwrap(), 39);
        assert_eq!(lttb_indices(&xs[..5], &ys, 10), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn nan_and_inf_do_not_panic() {
        let n = 500;
        let xs = steps(n);
        let mut rng = Rng(5);
        let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN];
        for _ in 0..200 {
            let mut ys = random_walk(&mut rng, n);
            let mut xs = xs.clone();
            for _ in 0..rng.below(50) {
                ys[rng.below(n)] = specials[rng.below(specials.len())];
            }
            if rng.next() < 0.2 {
                xs[rng.below(n)] = f64::NAN;
            }
            for max_points in [0, 1, 2, 3, 4, 9, 50] {
                let idx = lttb_indices(&xs, &ys, max_points);
                assert_lttb_valid(&xs, &ys, &idx, max_points);
                assert_valid(&minmax_indices(&ys, max_points), n, max_points);
            }
        }
    }

    #[test]
    fn all_nan_series() {
        let xs = steps(50);
        let ys = vec![f64::NAN; 50];
        let idx = lttb_indices(&xs, &ys, 6);
        // Every bucket has only NaN: each contributes its first point.
        assert_eq!(idx, vec![0, 1, 13, 25, 37, 49]);
        assert_eq!(minmax_indices(&ys, 6), vec![0, 16, 33]);
    }

    #[test]
    fn nan_points_are_not_chosen() {
        let n = 40;
        let xs = steps(n);
        // A wave with NaN at every even interior index.
        let ys: Vec<f64> =
            (0..n).map(|i| if i % 2 == 0 && i > 0 && i < n - 1 { f64::NAN } else { (i as f64).sin() }).collect();
        let idx = lttb_indices(&xs, &ys, 8);
        assert_lttb_valid(&xs, &ys, &idx, 8);
        for &i in &idx {
            assert!(!ys[i].is_nan(), "picked NaN at {i}: {idx:?}");
        }
    }

    #[test]
    fn infinities_are_kept_as_extremes() {
        let n = 1000;
        let xs = steps(n);
        let mut ys: Vec<f64> = (0..n).map(|i| (i as f64 / 10.0).sin()).collect();
        ys[123] = f64::INFINITY;
        ys[800] = f64::NEG_INFINITY;
        ys[400] = f64::NAN;
        let idx = lttb_indices(&xs, &ys, 20);
        assert_lttb_valid(&xs, &ys, &idx, 20);
        assert!(idx.contains(&123) && idx.contains(&800), "{idx:?}");
        assert!(!idx.contains(&400));
        let mm = minmax_indices(&ys, 20);
        assert!(mm.contains(&123) && mm.contains(&800), "{mm:?}");
    }

    #[test]
    fn huge_values_do_not_overflow_the_mean() {
        let n = 100;
        let xs = steps(n);
        let ys: Vec<f64> = (0..n).map(|i| if i % 3 == 0 { f64::MAX } else { f64::MAX * 0.9 }).collect();
        let idx = lttb_indices(&xs, &ys, 10);
        assert_lttb_valid(&xs, &ys, &idx, 10);
        let m = mean(&[1.0, 2.0], &[f64::MAX, f64::MAX]).unwrap();
        assert_eq!(m, Pt { x: 1.5, y: f64::MAX });
        assert_eq!(mean(&[], &[]), None);
        assert_eq!(mean(&[1.0, 3.0, 5.0], &[f64::NAN, 2.0, 4.0]), Some(Pt { x: 4.0, y: 3.0 }));
        assert_eq!(mean(&[1.0], &[f64::INFINITY]), None);
    }

    #[test]
    fn monotone_x_is_preserved() {
        let mut rng = Rng(9);
        let n = 20_000;
        let mut x = 0.0;
        let xs: Vec<f64> = (0..n)
            .map(|_| {
                x += rng.next();
                x
            })
            .collect();
        let ys = random_walk(&mut rng, n);
        let idx = lttb_indices(&xs, &ys, 300);
        assert_eq!(idx.len(), 300);
        assert!(idx.windows(2).all(|w| xs[w[0]] < xs[w[1]]));
    }

    #[test]
    fn a_million_points() {
        let n = 1_000_000;
        let xs = steps(n);
        let mut rng = Rng(1);
        let ys = random_walk(&mut rng, n);
        let idx = lttb_indices(&xs, &ys, 2000);
        assert_lttb_valid(&xs, &ys, &idx, 2000);
        let mm = minmax_indices(&ys, 2000);
        assert_valid(&mm, n, 2000);
    }

    // ---- minmax --------------------------------------------------------------------

    #[test]
    fn minmax_known_example() {
        // 12 values, 3 buckets of 4.
        let ys = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 5.0];
        // Bucket 0: min 1 (first at 1), max 4 at 2. Bucket 1: max 9 at 5, min 2 at 6.
        // Bucket 2: min 3 at 9, max 5 (first at 8).
        assert_eq!(minmax_indices(&ys, 6), vec![1, 2, 5, 6, 8, 9]);
        // Odd budgets round the bucket count down.
        assert_eq!(minmax_indices(&ys, 7), vec![1, 2, 5, 6, 8, 9]);
        // A flat bucket contributes one point.
        let flat = [2.0; 10];
        assert_eq!(minmax_indices(&flat, 4), vec![0, 5]);
    }

    #[test]
    fn minmax_tiny_budgets() {
        let ys = [1.0, 2.0, 3.0];
        assert_eq!(minmax_indices(&ys, 0), Vec::<usize>::new());
        assert_eq!(minmax_indices(&ys, 1), vec![0]);
        assert_eq!(minmax_indices(&ys, 2), vec![0, 2]);
        assert_eq!(minmax_indices(&[], 0), Vec::<usize>::new());
    }

    #[test]
    fn minmax_keeps_every_bucket_extreme() {
        let mut rng = Rng(21);
        let n = 10_007;
        let ys = random_walk(&mut rng, n);
        let idx = minmax_indices(&ys, 100);
        assert_valid(&idx, n, 100);
        let (lo, hi) = min_max(&ys).unzip();
        assert!(idx.contains(&lo.unwrap()) && idx.contains(&hi.unwrap()));
        // Every bucket's extremes are there.
        for j in 0..50 {
            let (s, e) = (split(j, n, 50), split(j + 1, n, 50));
            let (a, b) = min_max(&ys[s..e]).unwrap();
            assert!(idx.contains(&(s + a)) && idx.contains(&(s + b)));
        }
    }

    // ---- helpers under test --------------------------------------------------------

    /// Values with many ties, some NaN and infinities.
    fn awkward_values(rng: &mut Rng, n: usize, specials: bool) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let r = rng.next();
                if specials && r < 0.03 {
                    [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][rng.below(3)]
                } else {
                    (rng.next() * 8.0).floor() - 4.0
                }
            })
            .collect()
    }

    #[test]
    fn min_max_matches_a_plain_scan() {
        fn plain(ys: &[f64]) -> Option<(usize, usize)> {
            let mut lo: Option<usize> = None;
            let mut hi: Option<usize> = None;
            for (i, &y) in ys.iter().enumerate() {
                if y.is_nan() {
                    continue;
                }
                if lo.is_none_or(|j| y < ys[j]) {
                    lo = Some(i);
                }
                if hi.is_none_or(|j| y > ys[j]) {
                    hi = Some(i);
                }
            }
            Some((lo?, hi?))
        }
        let mut rng = Rng(17);
        for round in 0..2000 {
            let n = rng.below(300);
            let ys = awkward_values(&mut rng, n, round % 2 == 0);
            assert_eq!(min_max(&ys), plain(&ys), "{ys:?}");
        }
        assert_eq!(min_max(&[]), None);
        assert_eq!(min_max(&[f64::NAN; 100]), None);
        assert_eq!(min_max(&[f64::INFINITY; 100]), Some((0, 0)));
        let mut ys = vec![f64::NAN; 100];
        ys[70] = f64::INFINITY;
        ys[80] = f64::INFINITY;
        assert_eq!(min_max(&ys), Some((70, 70)));
        ys[90] = f64::NEG_INFINITY;
        assert_eq!(min_max(&ys), Some((90, 70)));
        // -0.0 and 0.0 are equal: the first one counts.
        assert_eq!(min_max(&[1.0, 0.0, -0.0, 1.0]), Some((1, 0)));
    }

    #[test]
    fn fast_pick_matches_careful_pick() {
        let mut rng = Rng(23);
        for round in 0..3000 {
            let n = 1 + rng.below(300);
            let xs: Vec<f64> = (0..n).map(|i| (i / 2) as f64).collect();
            let ys = awkward_values(&mut rng, n, round % 3 == 0);
            let corner = |rng: &mut Rng| {
                (rng.next() < 0.9)
                    .then(|| Pt { x: (rng.next() * 400.0).floor() - 50.0, y: (rng.next() * 8.0).floor() - 4.0 })
            };
            let (a, c) = (corner(&mut rng), corner(&mut rng));
            assert_eq!(pick(&xs, &ys, a, c), pick_careful(&xs, &ys, Scorer::new(a, c)), "a={a:?} c={c:?} ys={ys:?}");
        }
    }

    #[test]
    fn bucket_of_agrees_with_bucket_start() {
        for interior in 1..60 {
            for buckets in 1..=interior {
                for i in 1..=interior {
                    let j = bucket_of(i, interior, buckets);
                    assert!(j < buckets);
                    assert!(bucket_start(j, interior, buckets) <= i);
                    assert!(i < bucket_start(j + 1, interior, buckets));
                }
            }
        }
        // No overflow with huge sizes.
        let big = usize::MAX / 2;
        assert_eq!(bucket_start(3, big, 3), big + 1);
        assert!(bucket_of(big, big, 1000) < 1000);
    }
}

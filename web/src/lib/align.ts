// Lining up several series on one x axis for uPlot, which wants one shared x array:
// the union of the x values, and for each series its y at those x or null where it has
// no point. Also a binary search for the hover read-out.

export interface XY {
  x: ArrayLike<number>;
  y: ArrayLike<number | null>;
}

export interface Aligned {
  x: number[];
  ys: (number | null)[][];
}

/** Each series' x must be ascending (equal x: the last point wins). */
export function align(series: XY[]): Aligned {
  if (series.length === 1) {
    const s = series[0]!;
    return { x: Array.from(s.x), ys: [Array.from(s.y)] };
  }
  let total = 0;
  for (const s of series) total += s.x.length;
  const all = new Float64Array(total);
  let o = 0;
  for (const s of series) for (let i = 0; i < s.x.length; i++) all[o++] = s.x[i]!;
  all.sort();
  const x: number[] = [];
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) x.push(all[i]!);
  const ys = series.map((s) => {
    const out: (number | null)[] = new Array(x.length).fill(null);
    let j = 0;
    for (let i = 0; i < s.x.length; i++) {
      const xi = s.x[i]!;
      while (x[j]! < xi) j++;
      out[j] = s.y[i] ?? null;
    }
    return out;
  });
  return { x, ys };
}

/** Index of the x nearest to `v` in ascending `xs`; -1 when empty. */
export function nearestIndex(xs: ArrayLike<number>, v: number): number {
  const n = xs.length;
  if (n === 0) return -1;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(xs[lo - 1]! - v) <= Math.abs(xs[lo]! - v)) return lo - 1;
  return lo;
}

/** First index with xs[i] >= v (xs ascending). */
export function lowerBound(xs: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Statistics of a metric per group of runs (group by a param): count of runs, how many
// have the metric, mean, sample standard deviation, standard error, min and max.

import { catLabel, catOrder, toCat, type Cat } from "./parcoords";

export interface GroupStats {
  key: Cat;
  label: string;
  /** Runs in the group. */
  count: number;
  /** Runs with a finite metric value. */
  n: number;
  mean: number | null;
  /** Sample standard deviation (n-1); null below two values. */
  sd: number | null;
  /** Standard error of the mean; null below two values. */
  sem: number | null;
  min: number | null;
  max: number | null;
}

/** Mean, sd, min, max of finite numbers (Welford's algorithm: stable for large values). */
export function describe(values: Iterable<number>): Omit<GroupStats, "key" | "label" | "count"> {
  let n = 0;
  let mean = 0;
  let m2 = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    n++;
    const d = v - mean;
    mean += d / n;
    m2 += d * (v - mean);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (n === 0) return { n, mean: null, sd: null, sem: null, min: null, max: null };
  const sd = n > 1 ? Math.sqrt(m2 / (n - 1)) : null;
  return { n, mean, sd, sem: sd === null ? null : sd / Math.sqrt(n), min, max };
}

/**
 * Groups `rows` by `keyOf` and describes `valueOf` in each group. Groups are ordered by
 * key: numbers ascending, then booleans, strings, and the group without the key last.
 */
export function groupStats<R>(rows: Iterable<R>, keyOf: (r: R) => unknown, valueOf: (r: R) => unknown): GroupStats[] {
  const groups = new Map<string, { key: Cat; count: number; values: number[] }>();
  for (const r of rows) {
    const key = toCat(keyOf(r));
    const id = JSON.stringify(key);
    let g = groups.get(id);
    if (!g) {
      g = { key, count: 0, values: [] };
      groups.set(id, g);
    }
    g.count++;
    const v = valueOf(r);
    if (typeof v === "number" && Number.isFinite(v)) g.values.push(v);
  }
  const out: GroupStats[] = [];
  for (const g of groups.values()) {
    out.push({ key: g.key, label: catLabel(g.key), count: g.count, ...describe(g.values) });
  }
  out.sort((a, b) => catOrder(a.key, b.key));
  return out;
}

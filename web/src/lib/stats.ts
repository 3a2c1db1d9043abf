// Statistics as people read them: verdicts in words, differences with their intervals,
// p-values, deltas to the baseline, and the geometry of ablation waterfalls and effect
// plots. Pure functions; the pages draw what these return.

import { fmtNum } from "./format";

export type Verdict = "better" | "worse" | "not_distinguishable" | "cannot_tell";

/** A verdict in plain words. */
export function verdictText(v: Verdict): string {
  switch (v) {
    case "better":
      return "better";
    case "worse":
      return "worse";
    case "not_distinguishable":
      return "not distinguishable from noise";
    case "cannot_tell":
      return "cannot tell";
  }
}

/** Why a verdict is what it is, for the cases where the words alone do not say. */
export function verdictHint(c: { verdict: Verdict; n_candidate: number; n_reference: number; method: string | null }): string {
  if (c.verdict !== "cannot_tell") return "";
  if (c.n_candidate < 2 && c.n_reference < 2) return "single runs and no noise floor: replicate with other seeds";
  if (c.n_candidate < 2 || c.n_reference < 2) return "one side has a single run: replicate it";
  return "not enough runs with the metric";
}

/** `+0.0123`, signed. */
export function fmtSigned(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "";
  const s = fmtNum(v, digits);
  return v > 0 ? "+" + s : s;
}

/** `+0.0199 [+0.011, +0.029]`, or just the difference without an interval. */
export function fmtDiffCI(diff: number | null | undefined, ci: readonly [number, number] | null | undefined, digits = 3): string {
  const d = fmtSigned(diff, digits);
  if (!d) return "";
  if (!ci) return d;
  return `${d} [${fmtSigned(ci[0], digits)}, ${fmtSigned(ci[1], digits)}]`;
}

/** `mean ± half-width` of a CI, or `1 run — no interval`. */
export function fmtMeanCI(mean: number | null, ci: readonly [number, number] | null, n: number): string {
  if (mean === null || !Number.isFinite(mean)) return n === 0 ? "no value" : "";
  if (!ci) return n === 1 ? `${fmtNum(mean)} (1 run — no interval)` : fmtNum(mean);
  return `${fmtNum(mean)} ± ${fmtNum((ci[1] - ci[0]) / 2, 2)}`;
}

/** `p = 0.031`, `p < 0.001`, or "" without one. */
export function fmtP(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return "";
  if (p < 0.001) return "p < 0.001";
  return `p = ${Number(p.toPrecision(2))}`;
}

/** A p-value alone, for a table column: `0.031`, `< 0.001`, or "". */
export function fmtPValue(p: number | null | undefined): string {
  return fmtP(p).replace(/^p = /, "").replace(/^p /, "");
}

/**
 * A value's difference to the baseline mean, with its sign judged by the metric's
 * direction: `good` is 1 when it is an improvement, -1 when worse, 0 when equal or unknown.
 */
export function baselineDelta(
  value: number | null | undefined,
  baseline: number | null | undefined,
  direction: "increase" | "decrease" | null | undefined,
): { text: string; rel: string; diff: number | null; good: number } {
  if (value === null || value === undefined || baseline === null || baseline === undefined || !Number.isFinite(value) || !Number.isFinite(baseline)) {
    return { text: "", rel: "", diff: null, good: 0 };
  }
  const diff = value - baseline;
  const sign = diff === 0 ? 0 : diff > 0 ? 1 : -1;
  const good = direction ? sign * (direction === "increase" ? 1 : -1) : 0;
  const text = diff === 0 ? "±0" : fmtSigned(diff, 3);
  const rel = baseline === 0 || diff === 0 ? "" : `${diff > 0 ? "+" : ""}${((diff / Math.abs(baseline)) * 100).toFixed(1)}%`;
  return { text, rel, diff, good };
}

export interface WaterfallBar {
  label: string;
  kind: "start" | "step" | "interaction" | "end";
  /** Where the bar starts and ends on the metric's axis (for start/end: the axis floor to the value). */
  from: number;
  to: number;
  /** The interval of `to` (a step's CI shifted to where the step starts). */
  lo: number | null;
  hi: number | null;
}

export interface Waterfall {
  bars: WaterfallBar[];
  /** The axis range: every bar end and whisker, padded. */
  min: number;
  max: number;
}

/**
 * An ablation as a waterfall: the base mean, then each change's effect when added alone
 * (with its CI), then the interaction (what the joint effect adds beyond the sum of the
 * single ones), ending at the candidate's mean. Changes without a value are skipped.
 */
export function waterfall(
  base: number,
  changes: { label: string; diff: number | null; ci: readonly [number, number] | null }[],
  candidate: number,
  interaction?: { diff: number; ci: readonly [number, number] | null } | null,
): Waterfall {
  const steps: WaterfallBar[] = [];
  let level = base;
  for (const c of changes) {
    if (c.diff === null || !Number.isFinite(c.diff)) continue;
    const to = level + c.diff;
    steps.push({ label: c.label, kind: "step", from: level, to, lo: c.ci ? level + c.ci[0] : null, hi: c.ci ? level + c.ci[1] : null });
    level = to;
  }
  // What is left between the sum of the single effects and the candidate.
  const rest = candidate - level;
  if (interaction || Math.abs(rest) > 1e-12 * Math.max(1, Math.abs(candidate))) {
    const ci = interaction?.ci ?? null;
    steps.push({ label: "interaction", kind: "interaction", from: level, to: candidate, lo: ci ? level + ci[0] : null, hi: ci ? level + ci[1] : null });
  }
  const values = [base, candidate, ...steps.flatMap((s) => [s.from, s.to, s.lo, s.hi])].filter((v): v is number => v !== null && Number.isFinite(v));
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  const span = hi - lo || Math.abs(hi) * 0.1 || 1;
  lo -= span * 0.15;
  hi += span * 0.1;
  const bars: WaterfallBar[] = [
    { label: "base", kind: "start", from: lo, to: base, lo: null, hi: null },
    ...steps,
    { label: "candidate", kind: "end", from: lo, to: candidate, lo: null, hi: null },
  ];
  return { bars, min: lo, max: hi };
}

/** The axis of an effect plot: every estimate and CI end, always including zero. */
export function effectRange(effects: { estimate: number; ci: readonly [number, number] | null }[]): [number, number] {
  const vs = [0, ...effects.flatMap((e) => [e.estimate, ...(e.ci ?? [])])].filter((v) => Number.isFinite(v));
  let lo = Math.min(...vs);
  let hi = Math.max(...vs);
  const pad = (hi - lo || 1) * 0.08;
  lo -= pad;
  hi += pad;
  return [lo, hi];
}

/** A linear map from `[d0, d1]` to `[r0, r1]`. */
export function linear(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

/** Parses the project tags that hold the baseline's history and last re-evaluation. */
export function parseBaselineTags(tags: Record<string, string>): {
  baseline: { reference: string; label?: string; set_at?: number; note?: string | null } | null;
  history: { reference: string; label?: string; set_at?: number; note?: string | null }[];
  reeval: { at: number; summary?: string; comparison?: { verdict: Verdict; diff: number; ci: [number, number] | null; p: number | null } | null; failed?: unknown; conditions_changed?: unknown; runs?: string[] } | null;
} {
  const parse = (k: string): unknown => {
    const v = tags[k];
    if (v === undefined) return null;
    try {
      return JSON.parse(v);
    } catch {
      return null;
    }
  };
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const b = parse("cairn.baseline");
  const h = parse("cairn.baseline.history");
  const r = parse("cairn.baseline.last_reeval");
  return {
    baseline: isObj(b) && typeof b.reference === "string" ? (b as { reference: string }) : null,
    history: Array.isArray(h) ? (h.filter((x) => isObj(x) && typeof x.reference === "string") as { reference: string }[]) : [],
    reeval: isObj(r) && typeof r.at === "number" ? (r as { at: number }) : null,
  };
}

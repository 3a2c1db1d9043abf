// A project's dashboard figures: the shape of `GET /api/v1/projects/{name}/summary`
// (SERVER-NEEDS.md §7), and the same figures worked out here from runs, for servers
// without that endpoint.

export type Direction = "increase" | "decrease";

export interface ProjectSummary {
  runs: number;
  by_status: Record<string, number>;
  /** The last `days` UTC days, oldest first. */
  per_day: { day: string; created: number; failed: number }[];
  metric: string | null;
  direction: Direction | null;
  /** Every run with the primary metric: its creation time and last value, oldest first. */
  progress: { run: string; short_id: string; name: string; at: number; value: number }[];
  flagged: { many_changes: number; no_hypothesis: number };
  baseline: { reference: string; label: string; mean: number | null; n: number } | null;
}

export interface RunLike {
  id: string;
  short_id: string;
  name: string;
  created_at: number;
  status: string;
  hypothesis: string | null;
  tags: Record<string, string>;
  metrics: { key: string; last: number | string | null }[];
}

const DAY = 86_400_000;

export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function summarize(runs: RunLike[], primary: { key: string; direction: Direction } | null, now: number, days = 30): ProjectSummary {
  const by_status: Record<string, number> = {};
  const start = (Math.floor(now / DAY) - days + 1) * DAY;
  const per_day = Array.from({ length: days }, (_, i) => ({ day: utcDay(start + i * DAY), created: 0, failed: 0 }));
  const progress: ProjectSummary["progress"] = [];
  let many = 0;
  let noHyp = 0;
  for (const r of runs) {
    by_status[r.status] = (by_status[r.status] ?? 0) + 1;
    const i = Math.floor((r.created_at - start) / DAY);
    if (i >= 0 && i < days) {
      per_day[i]!.created++;
      if (r.status === "failed") per_day[i]!.failed++;
    }
    if ("cairn.many_changes" in r.tags) many++;
    if (!r.hypothesis || !r.hypothesis.trim()) noHyp++;
    if (primary) {
      const m = r.metrics.find((x) => x.key === primary.key);
      const v = typeof m?.last === "number" ? m.last : NaN;
      if (Number.isFinite(v)) progress.push({ run: r.id, short_id: r.short_id, name: r.name, at: r.created_at, value: v });
    }
  }
  progress.sort((a, b) => a.at - b.at);
  return {
    runs: runs.length,
    by_status,
    per_day,
    metric: primary?.key ?? null,
    direction: primary?.direction ?? null,
    progress,
    flagged: { many_changes: many, no_hypothesis: noHyp },
    baseline: null,
  };
}

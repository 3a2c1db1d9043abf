import { describe, expect, it } from "vitest";
import { summarize, utcDay } from "./summary";

const DAY = 86_400_000;
const now = Date.UTC(2026, 10, 28, 12);
const run = (i: number, o: Partial<{ status: string; daysAgo: number; acc: number | string | null; hyp: string | null; many: boolean }> = {}) => ({
  id: `id${i}`,
  short_id: `s${i}`,
  name: `r${i}`,
  created_at: now - (o.daysAgo ?? 0) * DAY - i,
  status: o.status ?? "finished",
  hypothesis: o.hyp === undefined ? "h" : o.hyp,
  tags: (o.many ? { "cairn.many_changes": "" } : {}) as Record<string, string>,
  metrics: o.acc === undefined ? [] : [{ key: "acc", last: o.acc }],
});

describe("dashboard summary from runs", () => {
  const runs = [
    run(1, { acc: 0.8 }),
    run(2, { acc: 0.9, daysAgo: 2, status: "failed" }),
    run(3, { acc: "NaN", hyp: "  " }),
    run(4, { daysAgo: 40, many: true, hyp: null, acc: 0.7 }),
    run(5, { status: "running" }),
  ];
  const s = summarize(runs, { key: "acc", direction: "increase" }, now, 30);
  it("counts by status and flags", () => {
    expect(s.runs).toBe(5);
    expect(s.by_status).toEqual({ finished: 3, failed: 1, running: 1 });
    expect(s.flagged).toEqual({ many_changes: 1, no_hypothesis: 2 });
  });
  it("counts per UTC day over the window", () => {
    expect(s.per_day).toHaveLength(30);
    expect(s.per_day[29]).toEqual({ day: utcDay(now), created: 3, failed: 0 });
    expect(s.per_day[27]).toEqual({ day: utcDay(now - 2 * DAY), created: 1, failed: 1 });
    expect(s.per_day.reduce((a, d) => a + d.created, 0)).toBe(4); // the 40-day-old run is outside
  });
  it("lists finite primary-metric values, oldest first", () => {
    expect(s.progress.map((p) => [p.short_id, p.value])).toEqual([
      ["s4", 0.7],
      ["s2", 0.9],
      ["s1", 0.8],
    ]);
    expect(summarize(runs, null, now).progress).toEqual([]);
  });
});

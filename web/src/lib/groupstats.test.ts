import { describe, expect, it } from "vitest";
import { describe as stats, groupStats } from "./groupstats";

describe("group statistics", () => {
  it("describes samples", () => {
    const s = stats([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(s.n).toBe(8);
    expect(s.mean).toBe(5);
    expect(s.sd).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(s.min).toBe(2);
    expect(s.max).toBe(9);
    expect(stats([3]).sd).toBeNull();
    expect(stats([]).mean).toBeNull();
    expect(stats([1, NaN, 3]).mean).toBe(2);
  });

  it("is stable for large offsets", () => {
    const s = stats([1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16]);
    expect(s.sd).toBeCloseTo(Math.sqrt(30), 6);
  });

  it("groups by key, ordered, missing last", () => {
    const rows = [
      { lr: 0.1, acc: 0.8 },
      { lr: 0.01, acc: 0.9 },
      { lr: 0.1, acc: 0.7 },
      { acc: 0.5 },
      { lr: 0.01, acc: null },
    ];
    const g = groupStats(rows, (r) => r.lr, (r) => r.acc);
    expect(g.map((x) => [x.label, x.count, x.n])).toEqual([
      ["0.01", 2, 1],
      ["0.1", 2, 2],
      ["(none)", 1, 1],
    ]);
    expect(g[1]!.mean).toBeCloseTo(0.75, 12);
  });
});

import { describe, expect, it } from "vitest";
import { runningBest } from "./progress";

describe("progress line", () => {
  const pts = [3, 1, 4, 1, 5, NaN, 2, 6].map((v, t) => ({ t, v }));
  it("keeps improvements, higher is better", () => {
    expect(runningBest(pts, true).map((p) => p.v)).toEqual([3, 4, 5, 6]);
  });
  it("keeps improvements, lower is better; ties are not improvements", () => {
    expect(runningBest(pts, false).map((p) => [p.t, p.v])).toEqual([
      [0, 3],
      [1, 1],
    ]);
  });
});

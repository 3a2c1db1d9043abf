import { describe, expect, it } from "vitest";
import { baselineDelta, effectRange, fmtDiffCI, fmtMeanCI, fmtP, parseBaselineTags, verdictHint, verdictText, waterfall } from "./stats";

describe("verdicts", () => {
  it("are plain words", () => {
    expect(verdictText("better")).toBe("better");
    expect(verdictText("worse")).toBe("worse");
    expect(verdictText("not_distinguishable")).toBe("not distinguishable from noise");
    expect(verdictText("cannot_tell")).toBe("cannot tell");
  });
  it("say why they cannot tell", () => {
    expect(verdictHint({ verdict: "cannot_tell", n_candidate: 1, n_reference: 1, method: null })).toMatch(/single runs/);
    expect(verdictHint({ verdict: "cannot_tell", n_candidate: 3, n_reference: 1, method: null })).toMatch(/one side/);
    expect(verdictHint({ verdict: "better", n_candidate: 3, n_reference: 3, method: "welch" })).toBe("");
  });
});

describe("differences and p-values", () => {
  it("sign the difference and its interval", () => {
    expect(fmtDiffCI(0.0199, [0.011, 0.0288])).toBe("+0.0199 [+0.011, +0.0288]");
    expect(fmtDiffCI(-0.5, [-0.75, -0.25])).toBe("-0.5 [-0.75, -0.25]");
    expect(fmtDiffCI(0.2, null)).toBe("+0.2");
    expect(fmtDiffCI(null, null)).toBe("");
  });
  it("say when a side has a single run", () => {
    expect(fmtMeanCI(0.87, null, 1)).toBe("0.87 (1 run — no interval)");
    expect(fmtMeanCI(0.87, [0.85, 0.89], 3)).toBe("0.87 ± 0.02");
    expect(fmtMeanCI(null, null, 0)).toBe("no value");
  });
  it("write p-values with two digits and a floor", () => {
    expect(fmtP(0.03125)).toBe("p = 0.031");
    expect(fmtP(0.00001)).toBe("p < 0.001");
    expect(fmtP(null)).toBe("");
    expect(fmtP(1)).toBe("p = 1");
  });
});

describe("deltas to the baseline", () => {
  it("judge the sign by the metric's direction", () => {
    expect(baselineDelta(0.9, 0.85, "increase")).toMatchObject({ text: "+0.05", rel: "+5.9%", good: 1 });
    expect(baselineDelta(0.9, 0.85, "decrease")).toMatchObject({ good: -1 });
    expect(baselineDelta(0.8, 0.85, "increase")).toMatchObject({ text: "-0.05", good: -1 });
    expect(baselineDelta(0.85, 0.85, "increase")).toMatchObject({ text: "±0", good: 0 });
  });
  it("are empty without a value or a baseline", () => {
    expect(baselineDelta(null, 0.85, "increase").text).toBe("");
    expect(baselineDelta(0.9, null, "increase").text).toBe("");
    expect(baselineDelta(NaN, 0.85, "increase").text).toBe("");
  });
});

describe("ablation waterfall", () => {
  it("stacks each change from where the previous one ended, then the interaction, then the candidate", () => {
    const w = waterfall(
      0.8,
      [
        { label: "lr", diff: 0.05, ci: [0.03, 0.07] },
        { label: "aug", diff: 0.02, ci: [-0.01, 0.05] },
      ],
      0.9,
      { diff: 0.03, ci: [0.01, 0.05] },
    );
    expect(w.bars.map((b) => b.kind)).toEqual(["start", "step", "step", "interaction", "end"]);
    const [start, lr, aug, inter, end] = w.bars;
    expect(start!.to).toBe(0.8);
    expect(lr!.from).toBe(0.8);
    expect(lr!.to).toBeCloseTo(0.85);
    expect(lr!.lo).toBeCloseTo(0.83);
    expect(lr!.hi).toBeCloseTo(0.87);
    expect(aug!.from).toBeCloseTo(0.85);
    expect(aug!.to).toBeCloseTo(0.87);
    expect(aug!.lo).toBeCloseTo(0.84);
    expect(inter!.from).toBeCloseTo(0.87);
    expect(inter!.to).toBe(0.9);
    expect(inter!.lo).toBeCloseTo(0.88);
    expect(end!.to).toBe(0.9);
    // The axis holds every bar and whisker, with room below the lowest.
    expect(w.min).toBeLessThan(0.8);
    expect(w.max).toBeGreaterThanOrEqual(0.9);
    expect(start!.from).toBe(w.min);
  });
  it("skips changes without a value and leaves out a zero interaction", () => {
    const w = waterfall(1, [{ label: "a", diff: -0.5, ci: null }, { label: "b", diff: null, ci: null }], 0.5);
    expect(w.bars.map((b) => b.label)).toEqual(["base", "a", "candidate"]);
    expect(w.bars[1]!.lo).toBeNull();
  });
});

describe("effect plot range", () => {
  it("always includes zero and every interval", () => {
    const [lo, hi] = effectRange([{ estimate: 0.5, ci: [0.2, 0.8] }, { estimate: 0.1, ci: null }]);
    expect(lo).toBeLessThan(0);
    expect(hi).toBeGreaterThan(0.8);
    const [lo2, hi2] = effectRange([{ estimate: -2, ci: [-3, -1] }]);
    expect(lo2).toBeLessThan(-3);
    expect(hi2).toBeGreaterThan(0);
  });
});

describe("baseline tags", () => {
  it("parse what the CLI writes and ignore garbage", () => {
    const t = parseBaselineTags({
      "cairn.baseline": JSON.stringify({ reference: "abcd1234", label: "baseline", set_at: 5, note: null }),
      "cairn.baseline.history": JSON.stringify([{ reference: "old", set_at: 1 }, { nope: 1 }]),
      "cairn.baseline.last_reeval": "{not json",
    });
    expect(t.baseline?.reference).toBe("abcd1234");
    expect(t.history.map((h) => h.reference)).toEqual(["old"]);
    expect(t.reeval).toBeNull();
  });
});

describe("p-value columns", () => {
  it("drop the `p =`", async () => {
    const { fmtPValue } = await import("./stats");
    expect(fmtPValue(0.0019)).toBe("0.0019");
    expect(fmtPValue(1e-9)).toBe("< 0.001");
    expect(fmtPValue(null)).toBe("");
  });
});

import { describe, expect, it } from "vitest";
import { ema } from "./ema";

describe("ema", () => {
  it("is the identity at weight 0", () => {
    expect(ema([1, 5, 3], 0)).toEqual([1, 5, 3]);
  });

  it("is debiased: a constant series stays constant", () => {
    for (const v of ema([2, 2, 2, 2], 0.9)) expect(v).toBeCloseTo(2, 12);
  });

  it("follows the recurrence", () => {
    const w = 0.5;
    const out = ema([0, 4], w);
    // s1 = .5*0 = 0 / .5 = 0; s2 = (.5*0 + .5*4) / (1 - .25) = 2/.75
    expect(out[0]).toBe(0);
    expect(out[1]).toBeCloseTo(2 / 0.75, 12);
  });

  it("skips gaps without poisoning what follows", () => {
    const out = ema([1, NaN, null, Infinity, 1], 0.9);
    expect(out[1]).toBeNull();
    expect(out[2]).toBeNull();
    expect(out[3]).toBeNull();
    expect(out[4]).toBeCloseTo(1, 12);
  });

  it("lags behind a step", () => {
    const out = ema([0, 0, 0, 10, 10], 0.8) as number[];
    expect(out[3]!).toBeGreaterThan(0);
    expect(out[3]!).toBeLessThan(10);
    expect(out[4]!).toBeGreaterThan(out[3]!);
  });
});

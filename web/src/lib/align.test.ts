import { describe, expect, it } from "vitest";
import { align, lowerBound, nearestIndex } from "./align";

describe("align", () => {
  it("unions x and fills gaps with null", () => {
    const a = align([
      { x: [0, 2, 4], y: [1, 2, 3] },
      { x: [1, 2, 5], y: [10, 20, 30] },
    ]);
    expect(a.x).toEqual([0, 1, 2, 4, 5]);
    expect(a.ys).toEqual([
      [1, null, 2, 3, null],
      [null, 10, 20, null, 30],
    ]);
  });

  it("keeps a single series as it is", () => {
    expect(align([{ x: [1, 2], y: [3, null] }])).toEqual({ x: [1, 2], ys: [[3, null]] });
  });

  it("finds nearest and lower bound", () => {
    expect(nearestIndex([0, 10, 20], 14)).toBe(1);
    expect(nearestIndex([0, 10, 20], 16)).toBe(2);
    expect(nearestIndex([0, 10, 20], -5)).toBe(0);
    expect(nearestIndex([0, 10, 20], 99)).toBe(2);
    expect(nearestIndex([], 1)).toBe(-1);
    expect(lowerBound([0, 10, 20], 10)).toBe(1);
    expect(lowerBound([0, 10, 20], 11)).toBe(2);
  });
});

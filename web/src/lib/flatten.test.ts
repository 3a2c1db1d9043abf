import { describe, expect, it } from "vitest";
import { diffConfigs, flatten, getPath, meaning } from "./flatten";

describe("config", () => {
  it("flattens nested objects with dots", () => {
    const f = flatten({ lr: 0.1, optimizer: { name: "adam", betas: [0.9, 0.99] }, empty: {} });
    expect([...f.entries()]).toEqual([
      ["lr", 0.1],
      ["optimizer.name", "adam"],
      ["optimizer.betas", [0.9, 0.99]],
      ["empty", {}],
    ]);
  });

  it("reads param text as what it means, as the server does", () => {
    expect(meaning("1e-3")).toBe(0.001);
    expect(meaning("0.010")).toBe(0.01);
    expect(meaning("+5")).toBe(5);
    expect(meaning("-1e-2")).toBe(-0.01);
    expect(meaning(".5")).toBe(0.5);
    expect(meaning("True")).toBe(true);
    expect(meaning("FALSE")).toBe(false);
    for (const same of ["adam", "inf", "NaN", "", "1_000", " 5", "0x10", "1e400"]) expect(meaning(same)).toBe(same);
    expect(meaning(0.1)).toBe(0.1);
    expect(diffConfigs([{ lr: "1e-3" }, { lr: 0.001 }])[0]?.same).toBe(true);
  });

  it("reads dotted paths, also through keys with dots", () => {
    const c = { a: { b: 1 }, "x.y": { z: 2 } };
    expect(getPath(c, "a.b")).toBe(1);
    expect(getPath(c, "x.y.z")).toBe(2);
    expect(getPath(c, "a.c")).toBeUndefined();
  });

  it("finds what differs between configs", () => {
    const rows = diffConfigs([
      { lr: 0.1, model: { depth: 4 }, aug: "flip" },
      { lr: 0.2, model: { depth: 4 } },
    ]);
    expect(rows.map((r) => [r.key, r.same])).toEqual([
      ["aug", false],
      ["lr", false],
      ["model.depth", true],
    ]);
    expect(rows[0]!.values).toEqual(["flip", undefined]);
  });
});

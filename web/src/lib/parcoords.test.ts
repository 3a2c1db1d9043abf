import { describe, expect, it } from "vitest";
import { brushFilter, catsBetween, combineFilters, inferAxis, isBrushList, passes, passesAll, setBrush, type Brush } from "./parcoords";

describe("axes", () => {
  it("are numeric for numbers, log over two decades", () => {
    expect(inferAxis("params.x", [1, 2, 3]).type).toBe("linear");
    expect(inferAxis("params.x", [1, 99]).type).toBe("linear");
    expect(inferAxis("params.x", [1, 100]).type).toBe("log");
    expect(inferAxis("params.lr", [1e-5, 1e-3, 0.1]).type).toBe("log");
    expect(inferAxis("params.lr", [1e-5, 1e-3, 0.1], "linear").type).toBe("linear");
    expect(inferAxis("params.x", [-1, 2], "log").type).toBe("linear");
    expect(inferAxis("params.x", [3, undefined, 1]).domain).toEqual([1, 3]);
  });

  it("are categorical for strings, booleans and mixes, missing last", () => {
    const a = inferAxis("params.opt", ["sgd", "adam", undefined, "adam", true]);
    expect(a.type).toBe("cat");
    expect(a.cats).toEqual([true, "adam", "sgd", null]);
    expect(catsBetween(a, 0.6, 2.2)).toEqual(["adam", "sgd"]);
  });
});

describe("brushes", () => {
  const lr: Brush = { field: "params.lr", range: [0.001, 0.01] };
  const opt: Brush = { field: "params.optimizer.name", cats: ["adam", null] };

  it("let values through", () => {
    expect(passes(0.005, lr)).toBe(true);
    expect(passes(0.001, lr)).toBe(true);
    expect(passes(0.1, lr)).toBe(false);
    expect(passes(undefined, lr)).toBe(false);
    expect(passes("0.005", lr)).toBe(false);
    expect(passes("adam", opt)).toBe(true);
    expect(passes(undefined, opt)).toBe(true);
    expect(passes("sgd", opt)).toBe(false);
    const run: Record<string, unknown> = { "params.lr": 0.005, "params.optimizer.name": "sgd" };
    expect(passesAll((f) => run[f], [lr])).toBe(true);
    expect(passesAll((f) => run[f], [lr, opt])).toBe(false);
  });

  it("become the same filter on the server", () => {
    expect(brushFilter(lr)).toBe("params.lr >= 0.001 and params.lr <= 0.01");
    expect(brushFilter(opt)).toBe('(params.optimizer.name = "adam" or params.optimizer.name is null)');
    expect(brushFilter({ field: "tags.x", cats: ["a", "b", true, 3] })).toBe('tags.x in ("a", "b", true, 3)');
    expect(brushFilter({ field: "tags.x", cats: [] })).toBe("id is null");
  });

  it("combine with the typed filter", () => {
    expect(combineFilters("", [])).toBe("");
    expect(combineFilters("status = 'finished' or owner = 'x'", [])).toBe("status = 'finished' or owner = 'x'");
    expect(combineFilters("a or b", [lr])).toBe("(a or b) and (params.lr >= 0.001 and params.lr <= 0.01)");
  });

  it("replace per axis and validate from the URL", () => {
    const b = setBrush(setBrush([lr], "params.lr", { field: "params.lr", range: [0, 1] }), "x", null);
    expect(b).toEqual([{ field: "params.lr", range: [0, 1] }]);
    expect(setBrush(b, "params.lr", null)).toEqual([]);
    expect(isBrushList([lr, opt])).toBe(true);
    expect(isBrushList([{ field: "params.lr", range: [2, 1] }])).toBe(false);
    expect(isBrushList([{ field: "not a field", range: [0, 1] }])).toBe(false);
    expect(isBrushList([{ field: "params.x", cats: [{}] }])).toBe(false);
  });
});

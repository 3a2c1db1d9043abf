import { describe, expect, it } from "vitest";
import { applySuggestion, complete } from "./completion";

const keys = { params: ["lr", "optimizer.name", "batch size"], metrics: ["val/acc", "loss"], tags: ["aug"] };
const at = (text: string) => complete(text, text.length, keys);
const labels = (text: string) => at(text).items.map((i) => i.label);

describe("filter completion", () => {
  it("offers fields at the start", () => {
    const c = at("");
    expect(c.context).toBe("field");
    expect(c.items.map((i) => i.label)).toContain("params.lr");
    expect(c.items.map((i) => i.label)).toContain("status");
  });

  it("matches the key without its prefix", () => {
    expect(labels("lr")[0]).toBe("params.lr");
    expect(labels("val")).toContain("metrics.val/acc");
    expect(labels("params.opt")).toEqual(["params.optimizer.name"]);
  });

  it("quotes keys that need it", () => {
    expect(labels("batch")).toContain("params.`batch size`");
  });

  it("replaces only the word being typed", () => {
    const text = "status = 'running' and par";
    const c = at(text);
    expect(c.context).toBe("field");
    expect(c.from).toBe(text.length - 3);
    const first = c.items.find((i) => i.label === "params.lr")!;
    expect(applySuggestion(text, c, first).text).toBe("status = 'running' and params.lr ");
  });

  it("offers operators after a field, values after an operator", () => {
    expect(at("params.lr ").context).toBe("operator");
    expect(labels("params.lr ")).toContain("<=");
    expect(labels("tags.aug is ")).toEqual(["null", "not null"]);
    expect(labels("tags.aug is not ")).toEqual(["null"]);
    expect(at("status = ").context).toBe("value");
    expect(labels("status = ")).toContain("running");
    expect(labels("status in ('failed', ")).toContain("finished");
  });

  it("offers and/or after a complete comparison", () => {
    expect(labels("params.lr < 0.1 ")).toEqual(["and", "or"]);
    expect(labels('tags.aug = "x" ')).toEqual(["and", "or"]);
  });

  it("offers only metrics inside an aggregate", () => {
    const l = labels("min(");
    expect(l).toContain("metrics.loss");
    expect(l.some((x) => x.startsWith("params."))).toBe(false);
    expect(at("min(metrics.loss) ").context).toBe("operator");
  });

  it("works with the caret in the middle", () => {
    const text = "params.l < 1 and status = 'x'";
    const c = complete(text, 8, keys);
    expect(c.from).toBe(0);
    expect(c.to).toBe(8);
    expect(c.items[0]!.label).toBe("params.lr");
  });

  it("uses known values of a field", () => {
    const c = complete("owner = ", 8, keys, (f) => (f === "owner" ? ["ana", "bo"] : []));
    expect(c.items.map((i) => i.insert)).toEqual(['"ana"', '"bo"']);
  });
});

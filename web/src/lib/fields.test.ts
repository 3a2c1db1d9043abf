import { describe, expect, it } from "vitest";
import { fieldText, parseField, quoteKey, quoteString, splitSegments, numberLiteral } from "./fields";

describe("field text", () => {
  it.each([
    [{ kind: "attr", key: "status" }, "status"],
    [{ kind: "param", key: "optimizer.lr" }, "params.optimizer.lr"],
    [{ kind: "param", key: "learning rate" }, "params.`learning rate`"],
    [{ kind: "metric", key: "val/acc" }, "metrics.val/acc"],
    [{ kind: "metric", key: "loss", agg: "min" }, "min(metrics.loss)"],
    [{ kind: "metric", key: "loss", agg: "last" }, "metrics.loss"],
    [{ kind: "tag", key: "cairn.many_changes" }, "tags.cairn.many_changes"],
    [{ kind: "tag", key: "my tag" }, "tags.`my tag`"],
  ] as const)("%j -> %s", (f, text) => {
    expect(fieldText(f)).toBe(text);
    expect(parseField(text)).toEqual({ ...f, ...(f.kind === "metric" ? { agg: "agg" in f ? f.agg : "last" } : {}) });
  });

  it("rejects what is not a field", () => {
    for (const t of ["", "nonsense", "params", "params.", "min(params.x)", "params.`open", "max(metrics.a", "`status`"]) {
      expect(parseField(t), t).toBeNull();
    }
  });

  it("splits segments with backticks", () => {
    expect(splitSegments("a.`b c`.d")).toEqual(["a", "b c", "d"]);
    expect(splitSegments("a..b")).toBeNull();
    expect(quoteKey("a.b c")).toBe("a.`b c`");
  });

  it("quotes strings and numbers as the lexer reads them", () => {
    expect(quoteString('say "hi" \\o/')).toBe('"say \\"hi\\" \\\\o/"');
    expect(numberLiteral(1e-7)).toBe("1e-7");
    expect(numberLiteral(0.001)).toBe("0.001");
    expect(() => numberLiteral(NaN)).toThrow();
  });
});

import { describe, expect, it } from "vitest";
import { highlightLine, languageOf } from "./highlight";

describe("highlight", () => {
  it("colours python", () => {
    const spans = highlightLine("def f(x): return 'a' + 1  # note", "py");
    expect(spans.filter((s) => s.cls).map((s) => [s.cls, s.text])).toEqual([
      ["kw", "def"],
      ["kw", "return"],
      ["str", "'a'"],
      ["num", "1"],
      ["com", "# note"],
    ]);
    expect(spans.map((s) => s.text).join("")).toBe("def f(x): return 'a' + 1  # note");
  });
  it("knows languages by extension", () => {
    expect(languageOf("src/train.py")).toBe("py");
    expect(languageOf("a/b.rs")).toBe("rs");
    expect(languageOf("README")).toBe("");
    expect(highlightLine("x1 = 2", "")).toEqual([{ cls: "", text: "x1 = 2" }]);
  });
});

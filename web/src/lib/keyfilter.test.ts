import { describe, expect, it } from "vitest";
import { keyMatches, splitSystem } from "./keyfilter";

describe("key filter", () => {
  it("needs every word", () => {
    expect(keyMatches("val/acc", "")).toBe(true);
    expect(keyMatches("val/acc", "VAL")).toBe(true);
    expect(keyMatches("val/acc", "val loss")).toBe(false);
    expect(keyMatches("val/loss", "loss val")).toBe(true);
  });
  it("separates system metrics", () => {
    expect(splitSystem(["loss", "system/cpu_percent", "acc", "system/gpu0/memory_bytes"])).toEqual({
      metrics: ["loss", "acc"],
      system: ["system/cpu_percent", "system/gpu0/memory_bytes"],
    });
  });
});

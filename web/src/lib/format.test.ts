import { describe, expect, it } from "vitest";
import { fmtBytes, fmtDelta, fmtDuration, fmtNum, shellQuote } from "./format";

describe("format", () => {
  it("numbers", () => {
    expect(fmtNum(0.123456)).toBe("0.1235");
    expect(fmtNum(12)).toBe("12");
    expect(fmtNum(0.00001234)).toBe("1.234e-5");
    expect(fmtNum(NaN)).toBe("NaN");
    expect(fmtNum(-Infinity)).toBe("-∞");
    expect(fmtNum(null)).toBe("");
  });
  it("durations and sizes", () => {
    expect(fmtDuration(850)).toBe("850ms");
    expect(fmtDuration(12_345)).toBe("12.3s");
    expect(fmtDuration(3_723_000)).toBe("1h 02m");
    expect(fmtBytes(1536)).toBe("1.50 KiB");
    expect(fmtBytes(10)).toBe("10 B");
  });
  it("deltas", () => {
    expect(fmtDelta(0.9, 0.8)).toEqual({ abs: "+0.1", rel: "+12.5%", sign: 1 });
    expect(fmtDelta(1, null).abs).toBe("");
  });
});

describe("shell quoting", () => {
  it("quotes only what needs it", () => {
    expect(shellQuote(["python", "train.py", "--lr", "0.01"])).toBe("python train.py --lr 0.01");
    expect(shellQuote(["echo", "a b", "it's", ""])).toBe("echo 'a b' 'it'\\''s' ''");
  });
});

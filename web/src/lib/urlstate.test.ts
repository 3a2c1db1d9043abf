import { describe, expect, it } from "vitest";
import { bool, commaList, decode, encode, json, list, num, oneOf, range, str } from "./urlstate";

const schema = {
  q: str(),
  sort: str("created"),
  desc: bool(true),
  col: list(),
  sel: commaList(),
  x: oneOf(["step", "wall", "rel"] as const, "step"),
  smooth: num(0, 0, 0.99),
  xr: range(),
  br: json<number[]>([], (v): v is number[] => Array.isArray(v) && v.every((n) => typeof n === "number")),
};

describe("url state", () => {
  it("leaves defaults out", () => {
    expect(encode(schema, decode(schema, ""))).toBe("");
  });

  it("round-trips every kind of value", () => {
    const s = {
      q: 'params.lr < 0.01 and tags.aug = "mix&up #1"',
      sort: "min(metrics.val/loss)",
      desc: false,
      col: ["params.`learning rate`", "metrics.val/acc", "a,b"],
      sel: ["abcd2345", "efgh6789"],
      x: "wall" as const,
      smooth: 0.6,
      xr: [10, 2000] as [number, number],
      br: [1, 2.5],
    };
    const text = encode(schema, s);
    expect(decode(schema, text)).toEqual(s);
    // Encoding is canonical: same state, same text.
    expect(encode(schema, decode(schema, text))).toBe(text);
  });

  it("is total on garbage", () => {
    const s = decode(schema, "smooth=banana&x=sideways&xr=5:1&br=%7Bnot-json&desc=maybe&sel=,,");
    expect(s).toEqual(decode(schema, ""));
    expect(decode(schema, "smooth=7").smooth).toBe(0.99);
  });

  it("keeps other views' keys", () => {
    const keep = new URLSearchParams("tab=config&q=old");
    const text = encode(schema, { q: "new" }, keep);
    const p = new URLSearchParams(text);
    expect(p.get("tab")).toBe("config");
    expect(p.getAll("q")).toEqual(["new"]);
  });
});

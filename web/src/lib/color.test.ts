import { describe, expect, it } from "vitest";
import { hash32, oklchToHex, runColor, withAlpha } from "./color";

describe("run colours", () => {
  it("are stable and valid hex", () => {
    const id = "0190a1b2c3d4e5f60718293a4b5c6d7e";
    expect(runColor(id)).toBe(runColor(id));
    expect(runColor(id)).toMatch(/^#[0-9a-f]{6}$/);
    expect(runColor(id, "dark")).toMatch(/^#[0-9a-f]{6}$/);
  });

  it("spread over hues for ids that differ only at the end", () => {
    const ids = Array.from({ length: 40 }, (_, i) => "0190a1b2c3d4e5f60718293a4b5c6d" + i.toString(16).padStart(2, "0"));
    const colours = new Set(ids.map((i) => runColor(i)));
    expect(colours.size).toBeGreaterThan(35);
    const hashes = new Set(ids.map((i) => hash32(i) % 36));
    expect(hashes.size).toBeGreaterThan(15);
  });

  it("are darker in the light theme than in the dark one", () => {
    const lum = (hex: string) => [1, 3, 5].reduce((s, i) => s + parseInt(hex.slice(i, i + 2), 16), 0);
    for (const id of ["a", "b", "c", "d", "e"]) expect(lum(runColor(id, "light"))).toBeLessThan(lum(runColor(id, "dark")));
  });

  it("convert OKLCH corner cases", () => {
    expect(oklchToHex(1, 0, 0)).toBe("#ffffff");
    expect(oklchToHex(0, 0, 0)).toBe("#000000");
    expect(withAlpha("#112233", 0.5)).toBe("#11223380");
  });
});

import { describe, expect, it } from "vitest";
import { assignSlots, hash32, oklchToHex, paletteColor, PALETTE_SIZE, preferredSlot, runColor, setViewRuns, withAlpha } from "./color";

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
    expect(colours.size).toBe(PALETTE_SIZE);
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

/** Euclidean distance in sRGB, 0..441. */
function dist(a: string, b: string): number {
  const c = (h: string) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
  const [x, y] = [c(a), c(b)];
  return Math.hypot(x[0]! - y[0]!, x[1]! - y[1]!, x[2]! - y[2]!);
}

describe("the categorical palette", () => {
  it("has well separated colours in both themes", () => {
    for (const theme of ["light", "dark"] as const) {
      const cs = Array.from({ length: PALETTE_SIZE }, (_, i) => paletteColor(i, theme));
      expect(new Set(cs).size).toBe(PALETTE_SIZE);
      for (let i = 0; i < cs.length; i++) for (let j = i + 1; j < cs.length; j++) expect(dist(cs[i]!, cs[j]!)).toBeGreaterThan(30);
    }
  });

  it("gives runs shown together distinct slots, whatever their order on screen", () => {
    // Find ids whose preferred slots collide.
    const ids: string[] = [];
    for (let i = 0; ids.length < 2; i++) {
      const id = `run-${i}`;
      if (ids.length === 0 || preferredSlot(id) === preferredSlot(ids[0]!)) ids.push(id);
    }
    const a = assignSlots(ids);
    expect(a.get(ids[0]!)).not.toBe(a.get(ids[1]!));
    const b = assignSlots([...ids].reverse());
    expect([...b.entries()].sort()).toEqual([...a.entries()].sort());
    // The first in id order keeps its preference.
    const first = [...ids].sort()[0]!;
    expect(a.get(first)).toBe(preferredSlot(first));
  });

  it("uses every slot before sharing one", () => {
    const ids = Array.from({ length: PALETTE_SIZE }, (_, i) => `x${i}`);
    expect(new Set(assignSlots(ids).values()).size).toBe(PALETTE_SIZE);
    const more = Array.from({ length: 2 * PALETTE_SIZE }, (_, i) => `y${i}`);
    expect(new Set(assignSlots(more).values()).size).toBe(PALETTE_SIZE);
  });

  it("runColor follows the registered view and keeps other runs on their preference", () => {
    const ids: string[] = [];
    for (let i = 0; ids.length < 2; i++) {
      const id = `v-${i}`;
      if (ids.length === 0 || preferredSlot(id) === preferredSlot(ids[0]!)) ids.push(id);
    }
    setViewRuns(ids);
    expect(runColor(ids[0]!)).not.toBe(runColor(ids[1]!));
    expect(runColor("elsewhere")).toBe(paletteColor(preferredSlot("elsewhere")));
    setViewRuns([]);
  });
});

// A stable colour per run: a hash of the run id picks a hue, lightness and chroma are
// fixed per theme (OKLCH, so every hue looks equally strong), converted to sRGB hex so
// that canvas and SVG take it anywhere.

/** 32-bit FNV-1a of a string. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche (murmur3 fmix) so ids that differ only at the end spread over hues.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** OKLCH (L 0..1, C, H degrees) to sRGB hex, chroma reduced until it fits the gamut. */
export function oklchToHex(L: number, C: number, H: number): string {
  for (let c = C; c >= 0; c -= 0.005) {
    const rgb = oklchToSrgb(L, c, H);
    if (rgb.every((v) => v >= -1e-4 && v <= 1 + 1e-4)) {
      return "#" + rgb.map((v) => Math.round(Math.min(1, Math.max(0, v)) * 255).toString(16).padStart(2, "0")).join("");
    }
  }
  const g = Math.round(Math.min(1, Math.max(0, L)) * 255).toString(16).padStart(2, "0");
  return "#" + g + g + g;
}

function oklchToSrgb(L: number, C: number, H: number): [number, number, number] {
  const h = (H * Math.PI) / 180;
  const a = C * Math.cos(h);
  const b = C * Math.sin(h);
  const l_ = L + 0.3963377774 * a + 0.2158037573 * b;
  const m_ = L - 0.1055613458 * a - 0.0638541728 * b;
  const s_ = L - 0.0894841775 * a - 1.291485548 * b;
  const l = l_ ** 3;
  const m = m_ ** 3;
  const s = s_ ** 3;
  const lin = [
    4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s,
    -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s,
    -0.0041960863 * l - 0.7034186147 * m + 1.707614701 * s,
  ];
  return lin.map((x) => (x <= 0.0031308 ? 12.92 * x : 1.055 * Math.pow(x, 1 / 2.4) - 0.055)) as [number, number, number];
}

export type Theme = "light" | "dark";

/**
 * The categorical palette: 12 hues 30° apart in OKLCH, alternate ones a little lighter,
 * so that neighbours in the list differ in hue and lightness. Run colours are taken from
 * it, never from a continuous hue wheel, so that two runs shown together never get two
 * nearly equal colours.
 */
export const PALETTE_SIZE = 12;
const HUES = [25, 145, 265, 55, 195, 315, 85, 225, 345, 115, 285, 165];

const paletteCache = new Map<string, string>();
export function paletteColor(i: number, theme: Theme = "light"): string {
  const k = theme + i;
  let c = paletteCache.get(k);
  if (!c) {
    const slot = ((i % PALETTE_SIZE) + PALETTE_SIZE) % PALETTE_SIZE;
    const hue = HUES[slot]!;
    const dl = slot % 2 === 0 ? 0 : 0.07;
    c = theme === "dark" ? oklchToHex(0.7 + dl, 0.16, hue) : oklchToHex(0.5 + dl, 0.17, hue);
    paletteCache.set(k, c);
  }
  return c;
}

/** The palette slot a run prefers: a hash of its id. */
export function preferredSlot(id: string): number {
  return hash32(id) % PALETTE_SIZE;
}

/**
 * Palette slots for runs shown together: each run takes its preferred slot unless a run
 * before it (in id order, so the answer does not depend on the order on screen) took it,
 * then the next free one. Beyond 12 runs slots are shared again, each run still starting
 * from its own preference.
 */
export function assignSlots(ids: readonly string[]): Map<string, number> {
  const uniq = [...new Set(ids)].sort();
  const out = new Map<string, number>();
  let used = new Set<number>();
  for (const id of uniq) {
    if (used.size >= PALETTE_SIZE) used = new Set();
    let slot = preferredSlot(id);
    while (used.has(slot)) slot = (slot + 1) % PALETTE_SIZE;
    used.add(slot);
    out.set(id, slot);
  }
  return out;
}

/** The runs on screen together, registered by the page that shows them (see `setViewRuns`). */
let viewSlots = new Map<string, number>();
let viewKey = "";

/**
 * Registers the runs a page shows together (compared runs, the selection drawn in
 * charts), so their colours are distinct. Called while the page renders, before its
 * charts and swatches read `runColor`. Runs outside the set keep their preferred slot.
 */
export function setViewRuns(ids: readonly string[]) {
  const key = [...new Set(ids)].sort().join(",");
  if (key === viewKey) return;
  viewKey = key;
  viewSlots = assignSlots(ids);
}

/** The colour of run `id` in `theme`. */
export function runColor(id: string, theme: Theme = "light"): string {
  return paletteColor(viewSlots.get(id) ?? preferredSlot(id), theme);
}

/** `#rrggbb` with an alpha channel. */
export function withAlpha(hex: string, alpha: number): string {
  const a = Math.round(Math.min(1, Math.max(0, alpha)) * 255).toString(16).padStart(2, "0");
  return hex + a;
}

// Nested config as dotted keys (`optimizer.lr`), the way the filter language names
// params, and the differences between several runs' configs.

export type Flat = Map<string, unknown>;

/** Leaves are scalars, arrays and empty objects; keys join with dots. */
export function flatten(value: unknown, prefix = "", out: Flat = new Map()): Flat {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && prefix) out.set(prefix, value);
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out.set(prefix, value);
  }
  return out;
}

const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * What a param value means when runs are compared: the server's rule
 * (`cairn_domain::meaning`). Text written as a number (`1e-3`, `0.010`, `+5`) is that
 * number, `true`/`false` in any case a boolean; anything else is itself. Runs keep their
 * config as written, so the table shows `1e-3` while an axis places it at 0.001.
 */
export function meaning(v: unknown): unknown {
  if (typeof v !== "string") return v;
  if (NUMBER_TEXT.test(v)) {
    const n = Number(v);
    if (Number.isFinite(n)) return n;
  }
  const lower = v.toLowerCase();
  if (lower === "true") return true;
  if (lower === "false") return false;
  return v;
}

/** The value at a dotted key of a nested object (a key with dots in it is tried whole too). */
export function getPath(obj: unknown, key: string): unknown {
  if (obj === null || typeof obj !== "object") return undefined;
  const o = obj as Record<string, unknown>;
  if (key in o) return o[key];
  const dot = key.indexOf(".");
  if (dot < 0) return undefined;
  // Try every split point so that keys containing dots are found.
  for (let i = dot; i >= 0 && i < key.length; i = key.indexOf(".", i + 1)) {
    const head = key.slice(0, i);
    if (head in o) {
      const r = getPath(o[head], key.slice(i + 1));
      if (r !== undefined) return r;
    }
  }
  return undefined;
}

export function sameValue(a: unknown, b: unknown): boolean {
  a = meaning(a);
  b = meaning(b);
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface DiffRow {
  key: string;
  /** One per config; undefined where that config lacks the key. */
  values: unknown[];
  same: boolean;
}

/** Every key of any config, sorted, with whether all configs agree on it. */
export function diffConfigs(configs: unknown[]): DiffRow[] {
  const flats = configs.map((c) => flatten(c));
  const keys = new Set<string>();
  for (const f of flats) for (const k of f.keys()) keys.add(k);
  return [...keys].sort().map((key) => {
    const values = flats.map((f) => (f.has(key) ? f.get(key) : undefined));
    const same = values.every((v) => v !== undefined && sameValue(v, values[0]));
    return { key, values, same };
  });
}

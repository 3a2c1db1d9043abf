// View state in the query string. Each view declares a schema of codecs; `decode` is
// total (garbage in the URL gives the default, never an exception) and `encode` leaves
// defaults out and writes keys in schema order, so equal states give equal URLs.

export interface Codec<T> {
  def: T;
  decode(values: string[]): T;
  /** The URL values for `v`; `[]` when `v` is the default (left out of the URL). */
  encode(v: T): string[];
}

export type Schema = Record<string, Codec<any>>;
export type StateOf<S extends Schema> = { [K in keyof S]: S[K]["def"] };

export function str(def = ""): Codec<string> {
  return {
    def,
    decode: (vs) => vs[0] ?? def,
    encode: (v) => (v === def ? [] : [v]),
  };
}

export function num(def: number, min = -Infinity, max = Infinity): Codec<number> {
  return {
    def,
    decode: (vs) => {
      const s = vs[0];
      if (s === undefined || s.trim() === "") return def;
      const n = Number(s);
      return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : def;
    },
    encode: (v) => (v === def || !Number.isFinite(v) ? [] : [String(v)]),
  };
}

export function bool(def = false): Codec<boolean> {
  return {
    def,
    decode: (vs) => {
      const s = vs[0];
      if (s === undefined) return def;
      if (s === "1" || s === "true" || s === "") return true;
      if (s === "0" || s === "false") return false;
      return def;
    },
    encode: (v) => (v === def ? [] : [v ? "1" : "0"]),
  };
}

export function oneOf<T extends string>(values: readonly T[], def: T): Codec<T> {
  return {
    def,
    decode: (vs) => {
      const s = vs[0];
      return s !== undefined && (values as readonly string[]).includes(s) ? (s as T) : def;
    },
    encode: (v) => (v === def ? [] : [v]),
  };
}

/** A list written as the key repeated (`col=a&col=b`): any characters are safe. */
export function list(): Codec<string[]> {
  return {
    def: [],
    decode: (vs) => vs.filter((v) => v !== ""),
    encode: (v) => v.filter((x) => x !== ""),
  };
}

/** A list of tokens that never contain commas (run ids), written `a,b,c`. */
export function commaList(): Codec<string[]> {
  return {
    def: [],
    decode: (vs) => (vs[0] ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    encode: (v) => (v.length === 0 ? [] : [v.join(",")]),
  };
}

/** A numeric range `lo:hi` (lo < hi), or null. */
export function range(): Codec<[number, number] | null> {
  return {
    def: null,
    decode: (vs) => {
      const s = vs[0];
      if (!s) return null;
      const m = /^(.+):(.+)$/.exec(s);
      if (!m) return null;
      const lo = Number(m[1]);
      const hi = Number(m[2]);
      return Number.isFinite(lo) && Number.isFinite(hi) && lo < hi ? [lo, hi] : null;
    },
    encode: (v) => (v ? [`${v[0]}:${v[1]}`] : []),
  };
}

/** Any JSON value that passes `valid`; invalid or unparsable text gives the default. */
export function json<T>(def: T, valid: (x: unknown) => x is T): Codec<T> {
  const defText = JSON.stringify(def);
  return {
    def,
    decode: (vs) => {
      const s = vs[0];
      if (!s) return def;
      try {
        const x: unknown = JSON.parse(s);
        return valid(x) ? x : def;
      } catch {
        return def;
      }
    },
    encode: (v) => {
      const t = JSON.stringify(v);
      return t === defText ? [] : [t];
    },
  };
}

export function decode<S extends Schema>(schema: S, search: string | URLSearchParams): StateOf<S> {
  const params = typeof search === "string" ? new URLSearchParams(search) : search;
  const out: Record<string, unknown> = {};
  for (const [key, codec] of Object.entries(schema)) {
    out[key] = codec.decode(params.getAll(key));
  }
  return out as StateOf<S>;
}

/**
 * The query string (without `?`) for `state`. Keys that are not in the schema are kept
 * from `keep` (so views sharing a URL do not erase each other's state).
 */
export function encode<S extends Schema>(schema: S, state: Partial<StateOf<S>>, keep?: URLSearchParams): string {
  const params = new URLSearchParams();
  if (keep) {
    for (const [k, v] of keep) if (!(k in schema)) params.append(k, v);
  }
  for (const [key, codec] of Object.entries(schema)) {
    const v = (state as Record<string, unknown>)[key];
    if (v === undefined) continue;
    for (const s of codec.encode(v)) params.append(key, s);
  }
  // URLSearchParams writes spaces as '+'; '%20'-free links read better when shared, and
  // both decode the same.
  return params.toString();
}

/** `state` with `patch` applied, as a new object. */
export function patch<S extends Schema>(state: StateOf<S>, p: Partial<StateOf<S>>): StateOf<S> {
  return { ...state, ...p };
}

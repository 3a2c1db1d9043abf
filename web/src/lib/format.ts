// Numbers, times, durations and sizes as people read them.

/** A metric or param number: 4 significant digits, exponent form for very small/large. */
export function fmtNum(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined) return "";
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "-∞";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e7)) return v.toExponential(digits - 1).replace(/\.?0+e/, "e");
  return String(Number(v.toPrecision(digits)));
}

/** Any JSON value in one line. */
export function fmtValue(v: unknown): string {
  if (v === undefined) return "";
  if (v === null) return "null";
  if (typeof v === "number") return fmtNum(v);
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

const pad = (n: number) => String(n).padStart(2, "0");

/** `2026-11-28 14:03:05` in local time. */
export function fmtTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDate(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** `1h 02m`, `3m 04s`, `12.3s`, `850ms`. */
export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "";
  const neg = ms < 0 ? "-" : "";
  let t = Math.abs(ms);
  if (t < 1000) return `${neg}${Math.round(t)}ms`;
  if (t < 60_000) return `${neg}${(t / 1000).toFixed(t < 10_000 ? 2 : 1)}s`;
  t = Math.round(t / 1000);
  const d = Math.floor(t / 86400);
  const h = Math.floor((t % 86400) / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = t % 60;
  if (d > 0) return `${neg}${d}d ${pad(h)}h`;
  if (h > 0) return `${neg}${h}h ${pad(m)}m`;
  return `${neg}${m}m ${pad(s)}s`;
}

/** `3 min ago`, `in 2 h`, relative to `now`. */
export function fmtAgo(ms: number | null | undefined, now = Date.now()): string {
  if (ms === null || ms === undefined) return "";
  const s = Math.round((now - ms) / 1000);
  if (Math.abs(s) < 45) return "just now";
  const m = Math.round(s / 60);
  if (Math.abs(m) < 60) return `${m} min ago`;
  const h = Math.round(s / 3600);
  if (Math.abs(h) < 36) return `${h} h ago`;
  const d = Math.round(s / 86400);
  if (Math.abs(d) < 60) return `${d} days ago`;
  return fmtDate(ms);
}

export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`;
}

/** Relative change from `base` to `v`, as a signed percentage string; "" when undefined. */
export function fmtDelta(v: number | null | undefined, base: number | null | undefined): { abs: string; rel: string; sign: number } {
  if (v === null || v === undefined || base === null || base === undefined || !Number.isFinite(v) || !Number.isFinite(base)) {
    return { abs: "", rel: "", sign: 0 };
  }
  const d = v - base;
  const sign = d === 0 ? 0 : d > 0 ? 1 : -1;
  const abs = (d > 0 ? "+" : "") + fmtNum(d);
  const rel = base === 0 ? "" : `${d > 0 ? "+" : ""}${((d / Math.abs(base)) * 100).toFixed(1)}%`;
  return { abs, rel, sign };
}

/** A command line as a POSIX shell reads it back: arguments quoted where needed. */
export function shellQuote(args: string[]): string {
  return args.map((a) => (a !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

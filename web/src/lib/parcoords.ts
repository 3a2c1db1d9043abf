// Parallel coordinates, the logic without the drawing: what kind of axis a field gets,
// whether a run passes the brushes, and the brushes as filter-language text, so that the
// server filters the runs table exactly as the axes do.

import { fieldText, numberLiteral, parseField, quoteString } from "./fields";

export type Cat = string | number | boolean | null;

export type AxisType = "linear" | "log" | "cat";

export interface Axis {
  field: string;
  type: AxisType;
  /** Numeric axes: [min, max] of the values (equal when there is one value). */
  domain: [number, number];
  /** Categorical axes: the distinct values, sorted. */
  cats: Cat[];
}

export type Brush =
  | { field: string; range: [number, number] }
  | { field: string; cats: Cat[] };

export function isBrush(x: unknown): x is Brush {
  if (typeof x !== "object" || x === null) return false;
  const b = x as Record<string, unknown>;
  if (typeof b.field !== "string" || !parseField(b.field)) return false;
  if (Array.isArray(b.range)) {
    return b.range.length === 2 && b.range.every((v) => typeof v === "number" && Number.isFinite(v)) && (b.range[0] as number) <= (b.range[1] as number);
  }
  if (Array.isArray(b.cats)) {
    return b.cats.every((v) => v === null || ["string", "number", "boolean"].includes(typeof v));
  }
  return false;
}

export function isBrushList(x: unknown): x is Brush[] {
  return Array.isArray(x) && x.every(isBrush);
}

/** A value as a category: objects and arrays by their JSON text; undefined is null. */
export function toCat(v: unknown): Cat {
  if (v === undefined || v === null) return null;
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  return JSON.stringify(v);
}

export function catLabel(c: Cat): string {
  return c === null ? "(none)" : String(c);
}

/** The order of categories: numbers ascending, booleans, strings (natural order), none last. */
export function catOrder(a: Cat, b: Cat): number {
  const rank = (c: Cat) => (c === null ? 3 : typeof c === "boolean" ? 1 : typeof c === "number" ? 0 : 2);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * The axis for `field` given the runs' values: numeric when every present value is a
 * finite number, log-scaled when asked (`"log"`) or, with `"auto"`, when all values are
 * positive and span two decades or more; categorical otherwise.
 */
export function inferAxis(field: string, values: unknown[], scale: "auto" | "linear" | "log" = "auto"): Axis {
  const present = values.filter((v) => v !== undefined && v !== null);
  if (present.length > 0 && present.every(isNum)) {
    let min = Infinity;
    let max = -Infinity;
    for (const v of present) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const positive = min > 0;
    const type: AxisType = scale === "log" ? (positive ? "log" : "linear") : scale === "linear" ? "linear" : positive && max / min >= 100 ? "log" : "linear";
    return { field, type, domain: [min, max], cats: [] };
  }
  const set = new Map<string, Cat>();
  for (const v of values) {
    const c = toCat(v);
    set.set(JSON.stringify(c), c);
  }
  return { field, type: "cat", domain: [0, Math.max(0, set.size - 1)], cats: [...set.values()].sort(catOrder) };
}

/** Whether a value passes a brush. A run without the value passes no range brush. */
export function passes(value: unknown, brush: Brush): boolean {
  if ("range" in brush) {
    return isNum(value) && value >= brush.range[0] && value <= brush.range[1];
  }
  const c = toCat(value);
  return brush.cats.some((b) => b === c);
}

/** Whether a run (through `get(field)`) passes every brush. */
export function passesAll(get: (field: string) => unknown, brushes: Brush[]): boolean {
  for (const b of brushes) if (!passes(get(b.field), b)) return false;
  return true;
}

function literal(c: Exclude<Cat, null>): string {
  if (typeof c === "number") return numberLiteral(c);
  if (typeof c === "boolean") return c ? "true" : "false";
  return quoteString(c);
}

/** One brush as filter text. */
export function brushFilter(b: Brush): string {
  const f = b.field;
  if ("range" in b) {
    return `${f} >= ${numberLiteral(b.range[0])} and ${f} <= ${numberLiteral(b.range[1])}`;
  }
  const vals = b.cats.filter((c): c is Exclude<Cat, null> => c !== null);
  const parts: string[] = [];
  if (vals.length === 1) parts.push(`${f} = ${literal(vals[0]!)}`);
  else if (vals.length > 1) parts.push(`${f} in (${vals.map(literal).join(", ")})`);
  if (b.cats.includes(null)) parts.push(`${f} is null`);
  if (parts.length === 0) return "id is null"; // nothing selected: no run passes (every run has an id)
  return parts.length === 1 ? parts[0]! : `(${parts.join(" or ")})`;
}

/** Filter text that combines a typed filter with the brushes (each in parentheses). */
export function combineFilters(userFilter: string, brushes: Brush[]): string {
  const parts: string[] = [];
  if (userFilter.trim()) parts.push(userFilter.trim());
  for (const b of brushes) parts.push(brushFilter(b));
  if (parts.length <= 1) return parts[0] ?? "";
  return parts.map((p) => `(${p})`).join(" and ");
}

/** Replaces the brush on `b.field` (or adds it); `null` removes it. */
export function setBrush(brushes: Brush[], field: string, b: Brush | null): Brush[] {
  const rest = brushes.filter((x) => x.field !== field);
  return b ? [...rest, b] : rest;
}

/**
 * The categories whose positions (0..n-1 spread over the axis) fall between two
 * positions (in category index units, either order).
 */
export function catsBetween(axis: Axis, a: number, b: number): Cat[] {
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  return axis.cats.filter((_, i) => i >= lo - 1e-9 && i <= hi + 1e-9);
}

export { fieldText };

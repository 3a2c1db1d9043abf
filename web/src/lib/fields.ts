// Fields of the filter language (docs/rest-api.md, "Filter language"), as the runs
// table's columns use them: a column's id *is* its field text (`params.lr`,
// `min(metrics.loss)`, `tags.aug`, `status`), so a column can be sorted and filtered on
// by the server without translation.

export type FieldKind = "attr" | "param" | "metric" | "tag";
export type MetricAgg = "last" | "min" | "max" | "count";

export interface Field {
  kind: FieldKind;
  /** Attribute name, dotted param key, metric key or tag key. */
  key: string;
  /** Metrics only. */
  agg?: MetricAgg;
}

/** The run attributes the filter language knows, in documentation order. */
export const ATTRIBUTES = [
  "id",
  "short_id",
  "name",
  "description",
  "hypothesis",
  "owner",
  "status",
  "project",
  "group",
  "created",
  "started",
  "ended",
  "fingerprint",
] as const;

const BARE_SEGMENT = /^[A-Za-z0-9_\-/:]+$/;

/** One dotted segment, backtick-quoted when it holds characters a bare key may not. */
export function quoteSegment(seg: string): string {
  return BARE_SEGMENT.test(seg) ? seg : "`" + seg + "`";
}

/** A key made of dotted segments, each quoted as needed. */
export function quoteKey(key: string): string {
  return key.split(".").map(quoteSegment).join(".");
}

/** The filter-language text for a field: `params.lr`, ``metrics.`val acc` ``, `max(metrics.acc)`. */
export function fieldText(f: Field): string {
  switch (f.kind) {
    case "attr":
      return f.key;
    case "param":
      return "params." + quoteKey(f.key);
    case "tag":
      return "tags." + quoteKey(f.key);
    case "metric": {
      const base = "metrics." + quoteKey(f.key);
      return !f.agg || f.agg === "last" ? base : `${f.agg}(${base})`;
    }
  }
}

/** Splits `a.b.`c d`` into its segments, honouring backticks; null when malformed. */
export function splitSegments(text: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  while (i <= text.length) {
    if (text[i] === "`") {
      const end = text.indexOf("`", i + 1);
      if (end < 0) return null;
      out.push(text.slice(i + 1, end));
      i = end + 1;
    } else {
      let j = i;
      while (j < text.length && text[j] !== ".") j++;
      const seg = text.slice(i, j);
      if (!seg || !BARE_SEGMENT.test(seg)) return null;
      out.push(seg);
      i = j;
    }
    if (i === text.length) return out;
    if (text[i] !== ".") return null;
    i++;
  }
  return null;
}

/** Parses field text written by `fieldText` (and the aliases-free subset of the language). */
export function parseField(text: string): Field | null {
  const t = text.trim();
  const agg = /^(min|max|count)\((.*)\)$/i.exec(t);
  if (agg) {
    const inner = parseField(agg[2]!);
    if (!inner || inner.kind !== "metric" || (inner.agg && inner.agg !== "last")) return null;
    return { kind: "metric", key: inner.key, agg: agg[1]!.toLowerCase() as MetricAgg };
  }
  const segs = splitSegments(t);
  if (!segs || segs.length === 0) return null;
  const [head, ...rest] = segs;
  const key = rest.join(".");
  const quotedHead = t.startsWith("`");
  if (!quotedHead && rest.length > 0) {
    if (head === "params") return { kind: "param", key };
    if (head === "metrics") return { kind: "metric", key, agg: "last" };
    if (head === "tags") return { kind: "tag", key };
  }
  if (!quotedHead && rest.length === 0 && (ATTRIBUTES as readonly string[]).includes(head!)) {
    return { kind: "attr", key: head! };
  }
  return null;
}

/** A string literal of the filter language. */
export function quoteString(s: string): string {
  return '"' + s.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
}

/** A number literal: finite numbers only, in JS's shortest round-trip form (the lexer reads exponents). */
export function numberLiteral(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`not a finite number: ${n}`);
  return String(n);
}

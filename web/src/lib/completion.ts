// Completion for the filter box: what may come at the caret (a field, an operator, a
// value, `and`/`or`), and the known keys and values that fit what has been typed.

import { ATTRIBUTES, fieldText, quoteString } from "./fields";

export interface Keys {
  params: string[];
  metrics: string[];
  tags: string[];
}

export interface Suggestion {
  /** What the list shows. */
  label: string;
  /** What replaces the text between `from` and `to`. */
  insert: string;
  /** A word on what it is: "param", "metric", "operator", … */
  detail: string;
}

export interface Completion {
  from: number;
  to: number;
  items: Suggestion[];
  context: "field" | "operator" | "value" | "connective";
}

const OPERATORS = ["=", "!=", "<", "<=", ">", ">=", "in (", "not in (", "like ", "ilike ", "is null", "is not null"];
const STATUSES = ["queued", "running", "finished", "failed", "killed", "crashed"];
const WORD_CHAR = /[A-Za-z0-9_\-/:.`]/;

interface Tok {
  kind: "word" | "string" | "number" | "op" | "lparen" | "rparen" | "comma";
  text: string;
  start: number;
  end: number;
}

/** A forgiving tokenizer: never throws; an unterminated string runs to the end. */
export function roughTokens(text: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (c === "(" || c === ")" || c === ",") {
      out.push({ kind: c === "(" ? "lparen" : c === ")" ? "rparen" : "comma", text: c, start, end: ++i });
    } else if (c === '"' || c === "'") {
      i++;
      while (i < text.length && text[i] !== c) i += text[i] === "\\" ? 2 : 1;
      i = Math.min(text.length, i + 1);
      out.push({ kind: "string", text: text.slice(start, i), start, end: i });
    } else if (/[=!<>]/.test(c)) {
      i++;
      if (text[i] === "=") i++;
      out.push({ kind: "op", text: text.slice(start, i), start, end: i });
    } else if (/[0-9+\-]/.test(c) || (c === "." && /[0-9]/.test(text[i + 1] ?? ""))) {
      i++;
      while (i < text.length && /[0-9.eE+\-]/.test(text[i]!)) i++;
      out.push({ kind: "number", text: text.slice(start, i), start, end: i });
    } else if (WORD_CHAR.test(c)) {
      let inTick = false;
      while (i < text.length && (inTick || WORD_CHAR.test(text[i]!))) {
        if (text[i] === "`") inTick = !inTick;
        i++;
      }
      out.push({ kind: "word", text: text.slice(start, i), start, end: i });
    } else {
      i++;
    }
  }
  return out;
}

const isKw = (t: Tok | undefined, ...kws: string[]) =>
  t !== undefined && t.kind === "word" && kws.includes(t.text.toLowerCase());

function fieldCandidates(keys: Keys, metricsOnly: boolean): Suggestion[] {
  const out: Suggestion[] = [];
  if (!metricsOnly) {
    for (const a of ATTRIBUTES) out.push({ label: a, insert: a, detail: "attribute" });
    for (const k of keys.params) {
      const t = fieldText({ kind: "param", key: k });
      out.push({ label: t, insert: t, detail: "param" });
    }
  }
  for (const k of keys.metrics) {
    const t = fieldText({ kind: "metric", key: k });
    out.push({ label: t, insert: t, detail: "metric (last)" });
  }
  if (!metricsOnly) {
    for (const k of keys.tags) {
      const t = fieldText({ kind: "tag", key: k });
      out.push({ label: t, insert: t, detail: "tag" });
    }
    for (const agg of ["min", "max", "count"] as const) {
      for (const k of keys.metrics) {
        const t = fieldText({ kind: "metric", key: k, agg });
        out.push({ label: t, insert: t, detail: `metric (${agg})` });
      }
    }
  }
  return out;
}

/** Ranks candidates against the typed prefix: whole prefix, then a key's own prefix, then substring. */
export function rank(items: Suggestion[], typed: string, limit = 50): Suggestion[] {
  const q = typed.toLowerCase().replace(/`/g, "");
  if (!q) return items.slice(0, limit);
  const scored: [number, number, Suggestion][] = [];
  items.forEach((it, i) => {
    const l = it.label.toLowerCase().replace(/`/g, "");
    const tail = l.replace(/^(min|max|count)\(/, "").replace(/^(params|metrics|tags)\./, "");
    let s = -1;
    if (l.startsWith(q)) s = 0;
    else if (tail.startsWith(q)) s = 1;
    else if (l.includes(q)) s = 2;
    if (s >= 0 && l !== q) scored.push([s, i, it]);
  });
  scored.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return scored.slice(0, limit).map((x) => x[2]);
}

/**
 * Suggestions at `caret` in `text`. `values(field)` may give known values of a field
 * (e.g. owners); statuses are always known.
 */
export function complete(text: string, caret: number, keys: Keys, values?: (field: string) => string[]): Completion {
  const toks = roughTokens(text);
  // The token the caret is in or at the end of.
  let cur: Tok | undefined;
  let idx = toks.length;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.start < caret && caret <= t.end && (t.kind === "word" || t.kind === "string" || t.kind === "number")) {
      cur = t;
      idx = i;
      break;
    }
    if (t.start >= caret) {
      idx = i;
      break;
    }
  }
  const from = cur ? cur.start : caret;
  const to = cur ? cur.end : caret;
  const typed = cur ? text.slice(cur.start, caret) : "";
  const prev = toks[idx - 1];
  const prev2 = toks[idx - 2];

  // Inside `min(`, `max(`, `count(`: metric fields only.
  if (prev?.kind === "lparen" && isKw(prev2, "min", "max", "count")) {
    return { from, to, context: "field", items: rank(fieldCandidates(keys, true), typed) };
  }
  // In a value list: `field in (a, b, |`.
  const inList = (() => {
    for (let i = idx - 1; i >= 0; i--) {
      const t = toks[i]!;
      if (t.kind === "rparen") return null;
      if (t.kind === "lparen") return isKw(toks[i - 1], "in") ? toks[i - 2] : null;
    }
    return null;
  })();
  if (inList) {
    return { from, to, context: "value", items: rank(valueItems(inList.text, values), typed.replace(/^["']/, "")) };
  }
  const KEYWORDS = ["and", "or", "not", "in", "like", "ilike", "is", "null", "true", "false"];
  const isFieldTok = (t: Tok | undefined, at: number) =>
    (t?.kind === "word" && !KEYWORDS.includes(t.text.toLowerCase())) ||
    (t?.kind === "rparen" && isAggregateBefore(toks, at));
  if (isKw(prev, "not") && isKw(prev2, "is")) {
    return { from, to, context: "operator", items: rank([op("null")], typed) };
  }
  if (isKw(prev, "not") && isFieldTok(prev2, idx - 2)) {
    return { from, to, context: "operator", items: rank([op("in ("), op("like "), op("ilike ")], typed) };
  }
  if (!prev || prev.kind === "lparen" || isKw(prev, "and", "or", "not")) {
    return { from, to, context: "field", items: rank(fieldCandidates(keys, false), typed) };
  }
  if (prev.kind === "op" || isKw(prev, "like", "ilike")) {
    const field = prev2?.kind === "word" ? prev2.text : "";
    return { from, to, context: "value", items: rank(valueItems(field, values), typed.replace(/^["']/, "")) };
  }
  if (isKw(prev, "is")) {
    return { from, to, context: "operator", items: rank([op("null"), op("not null")], typed) };
  }
  if (isFieldTok(prev, idx - 1)) {
    return { from, to, context: "operator", items: rank(OPERATORS.map(op), typed) };
  }
  return {
    from,
    to,
    context: "connective",
    items: rank([
      { label: "and", insert: "and ", detail: "both must hold" },
      { label: "or", insert: "or ", detail: "either may hold" },
    ], typed),
  };
}

function op(s: string): Suggestion {
  return { label: s.trim(), insert: s.endsWith("(") || s.endsWith(" ") ? s : s + " ", detail: "operator" };
}

function isAggregateBefore(toks: Tok[], rparenIdx: number): boolean {
  // `min(metrics.x)` → tokens: word(min) lparen word rparen
  return toks[rparenIdx - 2]?.kind === "lparen" && isKw(toks[rparenIdx - 3], "min", "max", "count");
}

function valueItems(field: string, values?: (field: string) => string[]): Suggestion[] {
  const known = field.toLowerCase() === "status" ? STATUSES : values ? values(field) : [];
  return known.map((v) => ({ label: v, insert: quoteString(v), detail: "value" }));
}

/** `text` with `s` applied to completion `c`, and where the caret goes. */
export function applySuggestion(text: string, c: Completion, s: Suggestion): { text: string; caret: number } {
  const before = text.slice(0, c.from);
  const after = text.slice(c.to);
  let insert = s.insert;
  if ((c.context === "field" || c.context === "value") && !after.startsWith(" ")) insert += " ";
  return { text: before + insert + after, caret: before.length + insert.length };
}

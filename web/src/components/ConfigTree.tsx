// A nested config (or any JSON) as an indented tree of keys and values, filtered by a
// search that matches dotted keys and values.

import type { ComponentChildren } from "preact";
import { flatten } from "../lib/flatten";
import { fmtValue } from "../lib/format";

function Mark({ text, q }: { text: string; q: string }): ComponentChildren {
  if (!q) return text;
  const i = text.toLowerCase().indexOf(q.toLowerCase());
  if (i < 0) return text;
  return (
    <>
      {text.slice(0, i)}
      <mark>{text.slice(i, i + q.length)}</mark>
      {text.slice(i + q.length)}
    </>
  );
}

function cls(v: unknown) {
  return typeof v === "string" ? "s" : typeof v === "number" ? "n" : typeof v === "boolean" || v === null ? "b" : "";
}

export function ConfigTree({ value, query, sources }: { value: unknown; query: string; sources?: Record<string, string> }) {
  const flat = flatten(value);
  const q = query.trim();
  const rows: ComponentChildren[] = [];
  const shownParents = new Set<string>();
  let count = 0;
  for (const [key, v] of flat) {
    const text = fmtValue(v);
    if (q && !key.toLowerCase().includes(q.toLowerCase()) && !text.toLowerCase().includes(q.toLowerCase())) continue;
    count++;
    const parts = key.split(".");
    // Parent headings for nesting, once each.
    for (let d = 1; d < parts.length; d++) {
      const p = parts.slice(0, d).join(".");
      if (shownParents.has(p)) continue;
      shownParents.add(p);
      rows.push(
        <div class="row" style={{ paddingLeft: `${(d - 1) * 18 + 4}px` }} key={"p:" + p}>
          <span class="k">{parts[d - 1]}:</span>
          {d === 1 && sources?.[parts[0]!] && <span class="src">{sources[parts[0]!]}</span>}
        </div>,
      );
    }
    const leaf = parts[parts.length - 1]!;
    rows.push(
      <div class="row" style={{ paddingLeft: `${(parts.length - 1) * 18 + 4}px` }} key={key} data-key={key} title={key}>
        <span class="k">
          <Mark text={leaf} q={q} />:
        </span>
        <span class={`v ${cls(v)}`}>
          <Mark text={typeof v === "string" ? JSON.stringify(v) : text} q={q} />
        </span>
        {parts.length === 1 && sources?.[key] && <span class="src">{sources[key]}</span>}
      </div>,
    );
  }
  if (flat.size === 0) return <div class="empty">No config recorded.</div>;
  if (count === 0) return <div class="empty">Nothing matches “{q}”.</div>;
  return <div class="tree">{rows}</div>;
}

// Choosing fields (table columns, parallel-coordinates axes) from the attributes and
// the project's params, metric summaries and tags.

import { useEffect, useRef, useState } from "preact/hooks";
import type { Keys } from "../lib/completion";
import { ATTRIBUTES, fieldText } from "../lib/fields";

interface Props {
  label: string;
  keys: Keys;
  selected: string[];
  onChange: (cols: string[]) => void;
  onReset?: () => void;
  attributes?: boolean;
  aggregates?: boolean;
}

function move<T>(list: T[], from: number, to: number): T[] {
  const out = [...list];
  const [x] = out.splice(from, 1);
  out.splice(to, 0, x!);
  return out;
}

export function ColumnPicker({ label, keys, selected, onChange, onReset, attributes = true, aggregates = true }: Props) {
  const [open, setOpen] = useState(false);
  const [q, setQ] = useState("");
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", close);
    return () => document.removeEventListener("mousedown", close);
  }, [open]);

  const groups: [string, string[]][] = [];
  if (attributes) groups.push(["Attributes", [...ATTRIBUTES]]);
  groups.push(["Params", keys.params.map((k) => fieldText({ kind: "param", key: k }))]);
  groups.push([
    "Metrics",
    keys.metrics.flatMap((k) =>
      aggregates
        ? [fieldText({ kind: "metric", key: k }), fieldText({ kind: "metric", key: k, agg: "min" }), fieldText({ kind: "metric", key: k, agg: "max" })]
        : [fieldText({ kind: "metric", key: k })],
    ),
  ]);
  groups.push(["Tags", keys.tags.map((k) => fieldText({ kind: "tag", key: k }))]);
  const sel = new Set(selected);
  const ql = q.toLowerCase();

  return (
    <div class="popwrap" ref={box}>
      <button type="button" class="btn" aria-expanded={open} aria-haspopup="dialog" onClick={() => setOpen(!open)}>
        {label} <span class="faint">({selected.length})</span>
      </button>
      {open && (
        <div
          class="colpicker"
          role="dialog"
          aria-label={label}
          onKeyDown={(e) => {
            if (e.key === "Escape") setOpen(false);
          }}
        >
          <div style={{ display: "flex", gap: "6px" }}>
            <input type="search" placeholder="search fields…" value={q} autoFocus onInput={(e) => setQ(e.currentTarget.value)} style={{ flex: 1 }} aria-label="Search fields" />
            {onReset && (
              <button type="button" class="btn small" onClick={onReset}>
                Defaults
              </button>
            )}
          </div>
          <div class="list">
            {!q && selected.length > 0 && (
              <div>
                <div class="grp">Shown, in order</div>
                {selected.map((f, i) => (
                  <div class="sel-row" key={f}>
                    <span class="ellipsis" style={{ flex: 1 }}>
                      {f}
                    </span>
                    <button type="button" class="icon-btn" aria-label={`move ${f} up`} disabled={i === 0} onClick={() => onChange(move(selected, i, i - 1))}>
                      ↑
                    </button>
                    <button type="button" class="icon-btn" aria-label={`move ${f} down`} disabled={i === selected.length - 1} onClick={() => onChange(move(selected, i, i + 1))}>
                      ↓
                    </button>
                    <button type="button" class="icon-btn" aria-label={`remove ${f}`} onClick={() => onChange(selected.filter((x) => x !== f))}>
                      ×
                    </button>
                  </div>
                ))}
              </div>
            )}
            {groups.map(([g, fields]) => {
              const shown = fields.filter((f) => !ql || f.toLowerCase().includes(ql));
              if (shown.length === 0) return null;
              return (
                <div key={g}>
                  <div class="grp">{g}</div>
                  {shown.slice(0, 300).map((f) => (
                    <label key={f}>
                      <input type="checkbox" checked={sel.has(f)} onChange={() => onChange(sel.has(f) ? selected.filter((x) => x !== f) : [...selected, f])} />
                      {f}
                    </label>
                  ))}
                </div>
              );
            })}
          </div>
        </div>
      )}
    </div>
  );
}

// The runs table, virtualised: only the rows in view (plus a few) are in the DOM, so
// 50,000 runs scroll like 50. Rows have a fixed height; the body is as tall as all rows
// and the visible slice is positioned inside it. The scrollbar stands for the whole
// result (a million runs too): past what a browser lets an element be tall, a pixel of
// scrollbar stands for more than a pixel of rows.

import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { num, type Run } from "../api";
import { baselineDelta } from "../lib/stats";
import { fmtNum, fmtTime, fmtValue } from "../lib/format";
import { paths } from "../router";
import { TIME_ATTRS, field, valueOf } from "../runs";
import { Status, Swatch } from "./common";

export const ROW_H = 30;
const OVERSCAN = 8;
/** The tallest body drawn (browsers cap an element's height: Firefox near 17.9M px). */
const MAX_BODY = 8_000_000;

export function defaultWidth(col: string): number {
  const f = field(col);
  if (!f) return 120;
  if (f.kind === "attr") {
    return (
      { name: 200, status: 96, owner: 110, created: 150, started: 150, ended: 150, hypothesis: 300, description: 240, id: 270, short_id: 90, group: 140, project: 140, fingerprint: 160 }[f.key] ?? 120
    );
  }
  return 120;
}

const KIND: Record<string, string> = { param: "P", metric: "M", tag: "T", attr: "" };

export function columnLabel(col: string): string {
  const f = field(col);
  if (!f) return col;
  if (f.kind === "attr") return f.key === "short_id" ? "short id" : f.key;
  if (f.kind === "metric") return f.agg && f.agg !== "last" ? `${f.agg}(${f.key})` : f.key;
  return f.key;
}

/** The pseudo-column of each run's difference to the baseline in the primary metric. */
export const DBASE = "Δ baseline";

export interface BaselineRef {
  metric: string;
  mean: number;
  direction: "increase" | "decrease" | null;
}

export function CellValue({ run, col, baseline }: { run: Run; col: string; baseline?: BaselineRef | null }) {
  if (col === DBASE) {
    if (!baseline) return <span class="faint">—</span>;
    const d = baselineDelta(num(run.metrics.find((m) => m.key === baseline.metric)?.last), baseline.mean, baseline.direction);
    if (!d.text) return <span class="faint">—</span>;
    return (
      <span class={`delta ${d.good > 0 ? "pos" : d.good < 0 ? "neg" : "neu"}`} title={d.rel} data-delta={d.diff ?? ""}>
        {d.text}
      </span>
    );
  }
  const f = field(col);
  const v = valueOf(run, col);
  if (f?.kind === "attr") {
    if (f.key === "status") return <Status status={run.status} />;
    if (f.key === "name")
      return (
        <a href={paths.run(run.short_id)} tabIndex={-1} onClick={(e) => e.stopPropagation()}>
          <Swatch id={run.id} /> {run.name}
        </a>
      );
    if (TIME_ATTRS.has(f.key)) return <span class="mono" title={fmtTime(v as number | null)}>{fmtTime(v as number | null).slice(0, 16)}</span>;
  }
  if (v === undefined || v === null) return <span class="faint">—</span>;
  if (typeof v === "number") return <>{fmtNum(v)}</>;
  return <>{fmtValue(v)}</>;
}

interface Props {
  /** Rows in the result, as far as known: the scrollbar's length. */
  count: number;
  /** The run at a position, when loaded (a placeholder row shows until it is). */
  rowAt: (i: number) => Run | undefined;
  version: number;
  columns: string[];
  sort: string;
  desc: boolean;
  onSort: (col: string) => void;
  selected: Set<string>;
  onToggle: (run: Run, index: number, range: boolean) => void;
  onToggleAll: () => void;
  done: boolean;
  loading: boolean;
  /** Rows `from`..`to` are in view. */
  onNeed: (from: number, to: number) => void;
  onOpen: (run: Run) => void;
  onHover?: (run: Run | null) => void;
  height: string;
  stale: boolean;
  /** Changes when the query changes (not when a page is appended). */
  queryKey: string;
  /** For the `Δ baseline` column. */
  baseline?: BaselineRef | null;
}

export function RunsTable(p: Props) {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewH, setViewH] = useState(600);
  const [viewW, setViewW] = useState(1200);
  const [active, setActive] = useState(-1);
  const [widths, setWidths] = useState<Record<string, number>>({});
  const raf = useRef(0);

  useLayoutEffect(() => {
    const el = box.current!;
    setViewH(el.clientHeight);
    setViewW(el.clientWidth);
    const ro = new ResizeObserver(() => {
      setViewH(el.clientHeight);
      setViewW(el.clientWidth);
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // A new query: back to the top.
  useEffect(() => {
    if (box.current) box.current.scrollTop = 0;
    setScrollTop(0);
    setActive(-1);
  }, [p.queryKey]);

  const n = p.count;
  const extra = p.done ? 0 : 3;
  // Past MAX_BODY the body is squeezed: `scale` rows-pixels a scrollbar pixel, and the
  // rows in view are drawn relative to the scroll position.
  const fullH = (n + extra) * ROW_H;
  const bodyH = Math.min(fullH, MAX_BODY);
  const scale = bodyH > viewH && fullH > bodyH ? (fullH - viewH) / (bodyH - viewH) : 1;
  const virtTop = scrollTop * scale;
  const rowTop = (i: number) => scrollTop + (i * ROW_H - virtTop);
  const start = Math.max(0, Math.floor(virtTop / ROW_H) - OVERSCAN);
  const end = Math.min(n + extra, Math.ceil((virtTop + viewH) / ROW_H) + OVERSCAN);

  useEffect(() => {
    if (!p.loading || start > 0) p.onNeed(start, Math.max(start, Math.min(end, n) - 1));
  }, [start, end, n, p.done, p.loading, p.version]);

  useEffect(() => {
    performance.mark("cairn:rows-rendered");
  }, [p.version]);

  // Spare width (a wide screen) goes to the hypothesis column, or else the last one.
  const natural = 34 + p.columns.reduce((s, c) => s + (widths[c] ?? defaultWidth(c)), 0);
  const grow = p.columns.includes("hypothesis") ? "hypothesis" : p.columns[p.columns.length - 1];
  const spare = Math.max(0, viewW - natural);
  const colW = (c: string) => (widths[c] ?? defaultWidth(c)) + (c === grow && widths[c] === undefined ? spare : 0);
  const total = natural + (grow && widths[grow] === undefined ? spare : 0);

  const scrollToRow = (i: number) => {
    const el = box.current!;
    const top = i * ROW_H;
    const headH = 32;
    const at = el.scrollTop * scale;
    if (top < at) el.scrollTop = top / scale;
    else if (top + ROW_H > at + el.clientHeight - headH) el.scrollTop = (top + ROW_H - el.clientHeight + headH) / scale;
  };

  const onKey = (e: KeyboardEvent) => {
    if (n === 0) return;
    const page = Math.max(1, Math.floor((viewH - 32) / ROW_H) - 1);
    let next = active;
    const top = Math.min(n - 1, Math.floor(virtTop / ROW_H));
    if (active < 0 && ["ArrowDown", "ArrowUp", "j", "k"].includes(e.key)) next = top;
    else if (e.key === "ArrowDown" || e.key === "j") next = Math.min(n - 1, active + 1);
    else if (e.key === "ArrowUp" || e.key === "k") next = Math.max(0, active - 1);
    else if (e.key === "PageDown") next = Math.min(n - 1, active + page);
    else if (e.key === "PageUp") next = Math.max(0, active - page);
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = n - 1;
    else if (e.key === " " || e.key === "x") {
      e.preventDefault();
      const r = active >= 0 ? p.rowAt(active) : undefined;
      if (r) p.onToggle(r, active, e.shiftKey);
      return;
    } else if (e.key === "Enter") {
      const r = active >= 0 ? p.rowAt(active) : undefined;
      if (r) p.onOpen(r);
      return;
    } else return;
    e.preventDefault();
    setActive(next);
    scrollToRow(next);
  };

  const startResize = (col: string, e: MouseEvent) => {
    e.preventDefault();
    e.stopPropagation();
    const x0 = e.clientX;
    const w0 = colW(col);
    const move = (ev: MouseEvent) => setWidths((w) => ({ ...w, [col]: Math.max(50, w0 + ev.clientX - x0) }));
    const up = () => {
      window.removeEventListener("mousemove", move);
      window.removeEventListener("mouseup", up);
    };
    window.addEventListener("mousemove", move);
    window.addEventListener("mouseup", up);
  };

  const allSel = n > 0 && p.selected.size > 0;
  const rowsOut = [];
  for (let i = start; i < end; i++) {
    const r = p.rowAt(i);
    if (!r) {
      rowsOut.push(
        <div class="vt-row loading" style={{ top: `${rowTop(i)}px`, width: `${total}px` }} key={`l${i}`} aria-hidden="true">
          <div class="td" style={{ width: "34px" }} />
          {p.columns.map((c) => (
            <div class="td" style={{ width: `${colW(c)}px` }} key={c}>
              <span class="skeleton" />
            </div>
          ))}
        </div>,
      );
      continue;
    }
    const sel = p.selected.has(r.short_id);
    rowsOut.push(
      <div
        class={`vt-row${i === active ? " active" : ""}`}
        role="row"
        aria-rowindex={i + 2}
        aria-selected={sel}
        data-run={r.short_id}
        id={`row-${i}`}
        style={{ top: `${rowTop(i)}px`, width: `${total}px` }}
        key={r.id}
        onClick={(e) => {
          setActive(i);
          if ((e.target as HTMLElement).closest("input,a")) return;
          p.onOpen(r);
        }}
        onMouseEnter={() => p.onHover?.(r)}
        onMouseLeave={() => p.onHover?.(null)}
      >
        <div class="td check" style={{ width: "34px" }} role="gridcell">
          <input
            type="checkbox"
            tabIndex={-1}
            checked={sel}
            aria-label={`select ${r.name}`}
            onClick={(e) => {
              e.stopPropagation();
              p.onToggle(r, i, e.shiftKey);
            }}
          />
        </div>
        {p.columns.map((c) => {
          const v = valueOf(r, c);
          return (
            <div class={`td${(typeof v === "number" && !TIME_ATTRS.has(c)) || c === DBASE ? " num" : ""}`} style={{ width: `${colW(c)}px` }} key={c} role="gridcell">
              <CellValue run={r} col={c} baseline={p.baseline} />
            </div>
          );
        })}
      </div>,
    );
  }

  return (
    <div
      ref={box}
      class="vt"
      role="grid"
      aria-label="Runs"
      aria-rowcount={p.done ? n + 1 : -1}
      aria-busy={p.loading}
      aria-activedescendant={active >= 0 ? `row-${active}` : undefined}
      tabIndex={0}
      data-rows={n}
      data-scale={scale === 1 ? undefined : scale.toFixed(3)}
      data-version={p.version}
      data-done={p.done ? "1" : "0"}
      style={{ height: p.height, opacity: p.stale ? 0.6 : 1 }}
      onKeyDown={onKey}
      onScroll={(e) => {
        const t = (e.currentTarget as HTMLDivElement).scrollTop;
        cancelAnimationFrame(raf.current);
        raf.current = requestAnimationFrame(() => setScrollTop(t));
      }}
    >
      <div class="vt-head" role="row" style={{ width: `${total}px` }}>
        <div class="th" style={{ width: "34px", cursor: "default" }} role="columnheader">
          <input type="checkbox" tabIndex={-1} checked={allSel} aria-label={allSel ? "clear selection" : "select the first 50 runs"} onClick={p.onToggleAll} />
        </div>
        {p.columns.map((c) => {
          const sorted = p.sort === c;
          return (
            <div
              class="th"
              key={c}
              role="columnheader"
              aria-sort={sorted ? (p.desc ? "descending" : "ascending") : "none"}
              title={c === DBASE ? `${p.baseline?.metric ?? ""} minus the baseline's mean — click to sort by ${p.baseline?.metric ?? "the metric"}` : `${c} — click to sort`}
              style={{ width: `${colW(c)}px`, justifyContent: field(c)?.kind === "metric" || c === DBASE ? "flex-end" : undefined }}
              onClick={() => p.onSort(c)}
              data-col={c}
            >
              {c !== DBASE && field(c)?.kind !== "attr" && <span class={`kind k-${field(c)?.kind}`}>{KIND[field(c)?.kind ?? "attr"]}</span>}
              <span class="lbl">{columnLabel(c)}</span>
              {sorted && <span aria-hidden="true">{p.desc ? "▼" : "▲"}</span>}
              <span class="grip" onMouseDown={(e) => startResize(c, e)} onClick={(e) => e.stopPropagation()} />
            </div>
          );
        })}
      </div>
      <div class="vt-body" role="rowgroup" style={{ height: `${bodyH}px`, width: `${total}px` }}>
        {rowsOut}
      </div>
    </div>
  );
}

// Parallel coordinates: one vertical axis per param or metric, one line per run. Drag
// on an axis to brush a range (or a set of categories); the brushes are view state in
// the URL and become part of the runs table's server-side filter. Lines of runs that
// pass every brush are drawn in the run's colour, the others faint.

import { scaleLinear, scaleLog } from "d3-scale";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Run } from "../api";
import { runColor, withAlpha } from "../lib/color";
import { fmtNum } from "../lib/format";
import { catLabel, catsBetween, inferAxis, passesAll, toCat, type Axis, type Brush } from "../lib/parcoords";
import { useTheme, useWidth } from "../hooks";
import { meantOf } from "../runs";
import { columnLabel } from "./RunsTable";

/** An axis entry of the URL: `params.lr`, or `log:params.lr` / `lin:params.lr` to force the scale. */
export function parseAxisEntry(e: string): { field: string; scale: "auto" | "log" | "linear" } {
  if (e.startsWith("log:")) return { field: e.slice(4), scale: "log" };
  if (e.startsWith("lin:")) return { field: e.slice(4), scale: "linear" };
  return { field: e, scale: "auto" };
}

interface Props {
  runs: Run[];
  axes: string[];
  brushes: Brush[];
  onBrush: (field: string, b: Brush | null) => void;
  onScale: (field: string, scale: "auto" | "log" | "linear") => void;
  onRemoveAxis: (field: string) => void;
  highlight: Set<string>;
  hovered: string | null;
  height?: number;
}

function rgbToHex(c: string): string {
  const m = c.match(/\d+/g) ?? ["0", "0", "0"];
  return "#" + m.slice(0, 3).map((x) => Number(x).toString(16).padStart(2, "0")).join("");
}

const TOP = 34;
const BOTTOM = 26;
const SIDE = 70;

interface Placed {
  axis: Axis;
  x: number;
  /** value → y, or null when the value has no place on this axis. */
  y: (v: unknown) => number | null;
  /** y → value (numeric axes) or category position (categorical). */
  invert: (y: number) => number;
  ticks: { y: number; label: string }[];
  /** pixel span [top, bottom] of a brush. */
  brushSpan: (b: Brush) => [number, number] | null;
}

function place(axis: Axis, x: number, top: number, bottom: number): Placed {
  if (axis.type === "cat") {
    const n = axis.cats.length;
    const pos = (i: number) => (n <= 1 ? (top + bottom) / 2 : bottom - (i * (bottom - top)) / (n - 1));
    const index = new Map(axis.cats.map((c, i) => [JSON.stringify(c), i]));
    const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor((bottom - top) / 14))));
    return {
      axis,
      x,
      y: (v) => {
        const i = index.get(JSON.stringify(toCat(v)));
        return i === undefined ? null : pos(i);
      },
      invert: (y) => (n <= 1 ? 0 : ((bottom - y) / (bottom - top)) * (n - 1)),
      ticks: axis.cats.flatMap((c, i) => (i % every === 0 ? [{ y: pos(i), label: catLabel(c) }] : [])),
      brushSpan: (b) => {
        if (!("cats" in b)) return null;
        const ys = b.cats.map((c) => index.get(JSON.stringify(c))).filter((i): i is number => i !== undefined).map(pos);
        if (ys.length === 0) return null;
        return [Math.min(...ys) - 6, Math.max(...ys) + 6];
      },
    };
  }
  let [lo, hi] = axis.domain;
  if (lo === hi) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo = axis.type === "log" ? lo / 2 : lo - d;
    hi = axis.type === "log" ? hi * 2 : hi + d;
  }
  const s = axis.type === "log" ? scaleLog().domain([lo, hi]).range([bottom, top]) : scaleLinear().domain([lo, hi]).range([bottom, top]).nice();
  let tv = s.ticks(5);
  if (axis.type === "log" && tv.length > 6) tv = tv.filter((t) => Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9);
  const ticks = tv.map((t) => ({ y: s(t), label: fmtNum(t, 3) }));
  return {
    axis,
    x,
    y: (v) => (typeof v === "number" && Number.isFinite(v) && (axis.type !== "log" || v > 0) ? s(v) : null),
    invert: (y) => s.invert(y),
    ticks,
    brushSpan: (b) => ("range" in b ? [s(b.range[1]), s(b.range[0])] : null),
  };
}

export function ParCoords({ runs, axes, brushes, onBrush, onScale, onRemoveAxis, highlight, hovered, height = 300 }: Props) {
  const theme = useTheme();
  const [wrapRef, width] = useWidth<HTMLDivElement>();
  const canvas = useRef<HTMLCanvasElement>(null);
  const [drag, setDrag] = useState<{ field: string; y0: number; y1: number } | null>(null);

  const entries = axes.map(parseAxisEntry);
  const placed = useMemo(() => {
    if (!width || entries.length === 0) return [];
    const step = entries.length > 1 ? (width - 2 * SIDE) / (entries.length - 1) : 0;
    return entries.map((e, i) => {
      const axis = inferAxis(e.field, runs.map((r) => meantOf(r, e.field)), e.scale);
      return place(axis, entries.length > 1 ? SIDE + i * step : width / 2, TOP, height - BOTTOM);
    });
  }, [runs, axes.join("\u0000"), width, height]);

  const passing = useMemo(() => {
    const out = new Set<string>();
    for (const r of runs) if (passesAll((f) => meantOf(r, f), brushes)) out.add(r.id);
    return out;
  }, [runs, JSON.stringify(brushes)]);

  useEffect(() => {
    const c = canvas.current;
    if (!c || !width) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(width * dpr);
    c.height = Math.round(height * dpr);
    c.style.width = `${width}px`;
    c.style.height = `${height}px`;
    const g = c.getContext("2d")!;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    if (placed.length === 0) return;
    const faint = theme === "dark" ? "rgba(160,170,185,0.10)" : "rgba(90,100,120,0.10)";
    const line = (r: Run) => {
      g.beginPath();
      let pen = false;
      for (const p of placed) {
        const y = p.y(meantOf(r, p.axis.field));
        if (y === null) {
          pen = false;
          continue;
        }
        if (pen) g.lineTo(p.x, y);
        else g.moveTo(p.x, y);
        pen = true;
      }
      g.stroke();
    };
    const hasBrush = brushes.length > 0;
    g.lineWidth = 1;
    g.strokeStyle = faint;
    if (hasBrush) for (const r of runs) if (!passing.has(r.id)) line(r);
    // Few runs: each in its own colour, as everywhere else. Many: coloured by the last
    // axis (usually the metric), fainter the more lines there are, so density shows.
    const alpha = Math.min(0.8, Math.max(0.08, 8 / Math.sqrt(runs.length)));
    const last = placed[placed.length - 1]!;
    const byValue = runs.length > 40 && last.axis.type !== "cat";
    const ramp = scaleLinear<string>()
      .domain([last.axis.domain[0], (last.axis.domain[0] + last.axis.domain[1]) / 2, last.axis.domain[1]])
      .range(theme === "dark" ? ["#4f8ff7", "#c9c06a", "#ff6a5a"] : ["#2166ac", "#b8a13a", "#c0392b"])
      .clamp(true);
    for (const r of runs) {
      if (hasBrush && !passing.has(r.id)) continue;
      const v = byValue ? meantOf(r, last.axis.field) : undefined;
      const c = byValue && typeof v === "number" && Number.isFinite(v) ? ramp(v) : runColor(r.id, theme);
      g.strokeStyle = withAlpha(c.startsWith("rgb") ? rgbToHex(c) : c, alpha);
      line(r);
    }
    g.lineWidth = 2.5;
    for (const r of runs) {
      if (!highlight.has(r.short_id) && r.id !== hovered) continue;
      g.strokeStyle = runColor(r.id, theme);
      line(r);
    }
  }, [placed, passing, theme, width, height, highlight, hovered]);

  const brushOf = (field: string) => brushes.find((b) => b.field === field);

  const startBrush = (p: Placed, e: PointerEvent) => {
    const svg = (e.currentTarget as SVGElement).ownerSVGElement!;
    const top = svg.getBoundingClientRect().top;
    const y0 = e.clientY - top;
    (e.currentTarget as Element).setPointerCapture(e.pointerId);
    setDrag({ field: p.axis.field, y0, y1: y0 });
    const move = (ev: PointerEvent) => setDrag({ field: p.axis.field, y0, y1: ev.clientY - top });
    const up = (ev: PointerEvent) => {
      (e.target as Element).removeEventListener("pointermove", move as EventListener);
      (e.target as Element).removeEventListener("pointerup", up as EventListener);
      const y1 = ev.clientY - top;
      setDrag(null);
      if (Math.abs(y1 - y0) < 3) {
        // A click: clears this axis' brush.
        if (brushOf(p.axis.field)) onBrush(p.axis.field, null);
        return;
      }
      const a = Math.max(TOP - 8, Math.min(y0, y1));
      const b = Math.min(height - BOTTOM + 8, Math.max(y0, y1));
      if (p.axis.type === "cat") {
        const cats = catsBetween(p.axis, p.invert(b), p.invert(a));
        onBrush(p.axis.field, cats.length ? { field: p.axis.field, cats } : null);
      } else {
        const v1 = p.invert(b);
        const v2 = p.invert(a);
        const lo = Math.min(v1, v2);
        const hi = Math.max(v1, v2);
        onBrush(p.axis.field, { field: p.axis.field, range: [Number(lo.toPrecision(6)), Number(hi.toPrecision(6))] });
      }
    };
    (e.target as Element).addEventListener("pointermove", move as EventListener);
    (e.target as Element).addEventListener("pointerup", up as EventListener);
  };

  return (
    <div ref={wrapRef} class="pc" style={{ height: `${height}px` }} data-axes={placed.length} data-lines={runs.length} data-passing={passing.size}>
      <canvas ref={canvas} aria-hidden="true" />
      <svg width={width} height={height} role="group" aria-label="Parallel coordinates">
        {placed.map((p) => {
          const b = brushOf(p.axis.field);
          const span = b ? p.brushSpan(b) : null;
          const live = drag && drag.field === p.axis.field ? [Math.min(drag.y0, drag.y1), Math.max(drag.y0, drag.y1)] : null;
          const numeric = p.axis.type !== "cat";
          return (
            <g key={p.axis.field} data-axis={p.axis.field}>
              <line class="axis-line" x1={p.x} x2={p.x} y1={TOP} y2={height - BOTTOM} stroke-width={1.5} />
              {p.ticks.map((t) => (
                <g key={t.label + t.y}>
                  <line x1={p.x - 4} x2={p.x} y1={t.y} y2={t.y} class="axis-line" />
                  <text class="tick" x={p.x - 7} y={t.y + 3.5} text-anchor="end">
                    {t.label.length > 14 ? t.label.slice(0, 13) + "…" : t.label}
                  </text>
                </g>
              ))}
              <text class="axis-label" x={p.x} y={12} text-anchor="middle">
                <title>{p.axis.field}</title>
                {columnLabel(p.axis.field).length > 22 ? columnLabel(p.axis.field).slice(0, 21) + "…" : columnLabel(p.axis.field)}
              </text>
              <text class="tick" x={p.x} y={26} text-anchor="middle">
                {numeric ? (
                  <tspan style={{ cursor: "pointer", textDecoration: "underline" }} onClick={() => onScale(p.axis.field, p.axis.type === "log" ? "linear" : "log")}>
                    {p.axis.type}
                  </tspan>
                ) : (
                  <tspan>categories</tspan>
                )}
                {"  "}
                <tspan style={{ cursor: "pointer" }} onClick={() => onRemoveAxis(p.axis.field)}>
                  ×<title>remove this axis</title>
                </tspan>
              </text>
              {span && !live && <rect class="brush" x={p.x - 9} width={18} y={span[0]} height={Math.max(2, span[1] - span[0])} />}
              {live && <rect class="brush" x={p.x - 9} width={18} y={live[0]} height={Math.max(2, live[1]! - live[0]!)} />}
              <rect
                class="hit"
                x={p.x - 14}
                width={28}
                y={TOP - 8}
                height={height - BOTTOM - TOP + 16}
                tabIndex={0}
                role="slider"
                aria-label={`${p.axis.field}: drag to brush${b ? "; Delete clears the brush" : ""}`}
                onPointerDown={(e) => startBrush(p, e as unknown as PointerEvent)}
                onKeyDown={(e) => {
                  if ((e.key === "Delete" || e.key === "Backspace" || e.key === "Escape") && b) onBrush(p.axis.field, null);
                }}
              />
            </g>
          );
        })}
      </svg>
    </div>
  );
}

// One metric, several runs overlaid (uPlot). Each run keeps its colour everywhere; with
// smoothing the raw line stays faint behind the EMA. The series is fetched downsampled at
// the chart's pixel width, and again for the zoomed range when the x axis is zoomed
// (drag to zoom, shift-drag to pan, double-click or 0 to reset; +/-/arrows when focused).

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, isAbort, num, type History } from "../api";
import { align, lowerBound, nearestIndex } from "../lib/align";
import { runColor, withAlpha, type Theme } from "../lib/color";
import { ema } from "../lib/ema";
import { fmtDuration, fmtNum, fmtTime } from "../lib/format";
import { useTheme, useVisible, useWidth } from "../hooks";

export interface ChartRun {
  id: string;
  label: string;
}

export interface ChartSettings {
  x: "step" | "wall" | "rel";
  smooth: number;
  logy: boolean;
  xr: [number, number] | null;
}

interface Props {
  metric: string;
  runs: ChartRun[];
  settings: ChartSettings;
  onZoom: (xr: [number, number] | null) => void;
  /** Changes when new points may exist (live runs): the chart fetches again. */
  version?: string | number;
  height?: number;
}

interface Series {
  id: string;
  label: string;
  steps: number[];
  ts: number[];
  values: (number | null)[];
  total: number;
  downsampled: boolean;
}

interface Plotted {
  id: string;
  label: string;
  x: number[];
  raw: (number | null)[];
  smooth: (number | null)[] | null;
  steps: number[];
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

function toSeries(h: History, label: string): Series {
  return {
    id: h.run,
    label,
    steps: h.steps,
    ts: h.timestamps,
    values: h.values.map((v) => num(v)),
    total: h.total,
    downsampled: h.downsampled,
  };
}

/** The step range that covers x range [lo, hi] in mode `mode`, judged from `base`. */
function stepRange(base: Series[], mode: ChartSettings["x"], xr: [number, number], t0: Map<string, number>): [number, number] | null {
  if (mode === "step") return [Math.floor(xr[0]), Math.ceil(xr[1])];
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of base) {
    const xs = xOf(s, mode, t0.get(s.id) ?? 0);
    if (xs.length === 0) continue;
    const i0 = Math.max(0, lowerBound(xs, xr[0]) - 1);
    const i1 = Math.min(xs.length - 1, lowerBound(xs, xr[1]));
    if (i0 > i1) continue;
    lo = Math.min(lo, s.steps[i0]!);
    hi = Math.max(hi, s.steps[i1]!);
  }
  return Number.isFinite(lo) ? [lo, hi] : null;
}

function xOf(s: Series, mode: ChartSettings["x"], t0: number): number[] {
  if (mode === "step") return s.steps;
  if (mode === "wall") return s.ts.map((t) => t / 1000);
  return s.ts.map((t) => (t - t0) / 1000);
}

function plotted(s: Series, mode: ChartSettings["x"], t0: number, smooth: number, logy: boolean): Plotted {
  let x = xOf(s, mode, t0);
  let raw = s.values.map((v) => (v === null || !Number.isFinite(v) || (logy && v <= 0) ? null : v));
  let steps = s.steps;
  // Wall-clock x must ascend for uPlot; clocks can step back, so sort when they do.
  let sorted = true;
  for (let i = 1; i < x.length; i++) if (x[i]! < x[i - 1]!) sorted = false;
  if (!sorted) {
    const order = x.map((_, i) => i).sort((a, b) => x[a]! - x[b]!);
    x = order.map((i) => x[i]!);
    raw = order.map((i) => raw[i]!);
    steps = order.map((i) => steps[i]!);
  }
  const sm = smooth > 0 ? ema(raw, smooth).map((v) => (logy && v !== null && v <= 0 ? null : v)) : null;
  return { id: s.id, label: s.label, x, raw, smooth: sm, steps };
}

export function MetricChart({ metric, runs, settings, onZoom, version, height = 240 }: Props) {
  const theme = useTheme();
  const [wrapRef, width] = useWidth<HTMLDivElement>();
  const [visRef, visible] = useVisible<HTMLDivElement>();
  const host = useRef<HTMLDivElement | null>(null);
  const tip = useRef<HTMLDivElement | null>(null);
  const plot = useRef<uPlot | null>(null);
  const [base, setBase] = useState<Series[] | null>(null);
  const [zoomed, setZoomed] = useState<{ key: string; data: Series[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const shown = useRef<Plotted[]>([]);
  const zoomRef = useRef(onZoom);
  zoomRef.current = onZoom;

  const ids = runs.map((r) => r.id).join(",");
  const labels = useMemo(() => new Map(runs.map((r) => [r.id, r.label])), [ids, runs.map((r) => r.label).join("\u0000")]);
  const maxPoints = Math.max(100, Math.min(4000, Math.round(width || 600)));
  // Points asked for are bucketed so that a small resize does not refetch.
  const bucket = Math.ceil(maxPoints / 200) * 200;

  // Full range, at the chart's resolution.
  useEffect(() => {
    if (!visible || runs.length === 0 || !width) return;
    const ac = new AbortController();
    setLoading(true);
    api
      .history({ runs: runs.map((r) => r.id), keys: [metric], max_points: bucket }, ac.signal)
      .then((series) => {
        setBase(series.map((h) => toSeries(h, labels.get(h.run) ?? h.run.slice(0, 8))));
        setError(null);
        setLoading(false);
      })
      .catch((e) => {
        if (isAbort(e)) return;
        setError(e instanceof Error ? e.message : String(e));
        setLoading(false);
      });
    return () => ac.abort();
  }, [visible, ids, metric, bucket, version, labels, width > 0]);

  const t0 = useMemo(() => {
    const m = new Map<string, number>();
    for (const s of base ?? []) if (s.ts.length) m.set(s.id, s.ts.reduce((a, b) => Math.min(a, b), Infinity));
    return m;
  }, [base]);

  // The zoomed range, at full resolution for the range.
  const xr = settings.xr;
  const range = base && xr ? stepRange(base, settings.x, xr, t0) : null;
  const zoomKey = range && base && base.some((s) => s.downsampled) ? `${ids}|${metric}|${range[0]}|${range[1]}|${bucket}|${version ?? ""}` : "";
  useEffect(() => {
    if (!zoomKey || !range) return;
    const ac = new AbortController();
    const timer = setTimeout(() => {
      api
        .history({ runs: runs.map((r) => r.id), keys: [metric], max_points: bucket, min_step: range[0], max_step: range[1] }, ac.signal)
        .then((series) => setZoomed({ key: zoomKey, data: series.map((h) => toSeries(h, labels.get(h.run) ?? h.run.slice(0, 8))) }))
        .catch((e) => !isAbort(e) && setError(e instanceof Error ? e.message : String(e)));
    }, 60);
    return () => {
      clearTimeout(timer);
      ac.abort();
    };
  }, [zoomKey]);

  const data: Series[] | null = zoomed && zoomed.key === zoomKey ? zoomed.data : base;

  const prepared = useMemo(() => {
    if (!data) return null;
    const order = new Map(runs.map((r, i) => [r.id, i]));
    const ps = data
      .filter((s) => s.steps.length > 0 && order.has(s.id))
      .sort((a, b) => order.get(a.id)! - order.get(b.id)!)
      .map((s) => plotted(s, settings.x, t0.get(s.id) ?? 0, settings.smooth, settings.logy));
    const cols: { x: number[]; y: (number | null)[] }[] = [];
    for (const p of ps) {
      cols.push({ x: p.x, y: p.raw });
      if (p.smooth) cols.push({ x: p.x, y: p.smooth });
    }
    const a = align(cols);
    return { ps, aligned: [a.x, ...a.ys] as uPlot.AlignedData };
  }, [data, settings.x, settings.smooth, settings.logy, t0, ids]);

  // A metric logged once per run (acc, f1 through MLflow's log_metric) has nothing to
  // join into lines: it is drawn as a bar per run, as MLflow draws it.
  const single = !!prepared && prepared.ps.length > 0 && prepared.ps.every((p) => p.x.length === 1);
  const shape = prepared ? `${prepared.ps.map((p) => p.id).join(",")}|${settings.smooth > 0}|${settings.logy}|${settings.x}|${theme}|${height}` : "";

  // (Re)create the plot when its shape changes; otherwise just swap the data.
  useEffect(() => {
    if (single) {
      plot.current?.destroy();
      plot.current = null;
    }
    if (!prepared || !host.current || !width || single) return;
    shown.current = prepared.ps;
    const u = plot.current;
    if (u && (u as unknown as { _shape: string })._shape === shape) {
      u.setData(prepared.aligned, !xr);
      if (xr) u.setScale("x", { min: xr[0], max: xr[1] });
      return;
    }
    u?.destroy();
    const css = getComputedStyle(document.documentElement);
    const muted = css.getPropertyValue("--muted").trim() || "#666";
    const grid = css.getPropertyValue("--border").trim() || "#ddd";
    const series: uPlot.Series[] = [{}];
    for (const p of prepared.ps) {
      const c = runColor(p.id, theme);
      // A run with one point among runs with many shows it as a dot.
      const lone = p.x.length === 1;
      series.push({ label: p.label, stroke: p.smooth ? withAlpha(c, theme === "dark" ? 0.3 : 0.25) : c, width: p.smooth ? 1 : 1.5, spanGaps: true, points: { show: lone, size: 7, fill: c } });
      if (p.smooth) series.push({ label: p.label + " (smoothed)", stroke: c, width: 1.75, spanGaps: true, points: { show: false } });
    }
    const xValues =
      settings.x === "rel"
        ? (_u: uPlot, vals: number[]) => vals.map((v) => fmtDuration(v * 1000))
        : settings.x === "step"
          ? (_u: uPlot, vals: number[]) => vals.map((v) => fmtNum(v))
          : undefined;
    const opts: uPlot.Options = {
      width,
      height: height - 10,
      pxAlign: 0,
      scales: {
        // One x value (every point at step 0) gets a unit around it, not uPlot's guess.
        x: { time: settings.x === "wall", range: (_u, lo, hi) => (lo === hi ? [lo - 1, hi + 1] : [lo, hi]) },
        y: settings.logy ? { distr: 3 } : {},
      },
      series,
      axes: [
        { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, ...(xValues ? { values: xValues } : {}) },
        { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 58, values: (_u, vals) => vals.map((v) => fmtNum(v, 3)) },
      ],
      legend: { show: false },
      cursor: {
        sync: { key: "cairn-x", setSeries: false },
        drag: { x: true, y: false, setScale: false },
        points: { size: 5 },
      },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width > 4) {
              const lo = u.posToVal(u.select.left, "x");
              const hi = u.posToVal(u.select.left + u.select.width, "x");
              performance.mark("cairn:zoom-start");
              zoomRef.current([lo, hi]);
            }
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          },
        ],
        setCursor: [(u) => showTip(u)],
        draw: [
          () => {
            if (performance.getEntriesByName("cairn:zoom-start").length) {
              performance.measure("cairn:zoom", "cairn:zoom-start");
              performance.clearMarks("cairn:zoom-start");
            }
          },
        ],
      },
    };
    const nu = new uPlot(opts, prepared.aligned, host.current);
    (nu as unknown as { _shape: string })._shape = shape;
    plot.current = nu;
    if (xr) nu.setScale("x", { min: xr[0], max: xr[1] });
    nu.over.addEventListener("dblclick", () => zoomRef.current(null));
    nu.over.addEventListener("mouseleave", () => tip.current && (tip.current.style.display = "none"));
    // Shift-drag pans.
    nu.over.addEventListener(
      "mousedown",
      (e: MouseEvent) => {
        if (!e.shiftKey) return;
        e.stopPropagation();
        e.preventDefault();
        const x0 = e.clientX;
        const min0 = nu.scales.x!.min!;
        const max0 = nu.scales.x!.max!;
        const w = nu.over.clientWidth;
        let cur: [number, number] = [min0, max0];
        const move = (ev: MouseEvent) => {
          const dv = ((ev.clientX - x0) / w) * (max0 - min0);
          cur = [min0 - dv, max0 - dv];
          nu.setScale("x", { min: cur[0], max: cur[1] });
        };
        const up = () => {
          window.removeEventListener("mousemove", move);
          window.removeEventListener("mouseup", up);
          if (cur[0] !== min0) zoomRef.current(cur);
        };
        window.addEventListener("mousemove", move);
        window.addEventListener("mouseup", up);
      },
      true,
    );
  }, [prepared, shape, width, single]);

  // Zoom from the URL (another chart, Back, a link): rescale at once, data follows.
  useEffect(() => {
    const u = plot.current;
    if (!u || !prepared) return;
    if (xr) {
      if (u.scales.x!.min !== xr[0] || u.scales.x!.max !== xr[1]) {
        performance.mark("cairn:zoom-start");
        u.setScale("x", { min: xr[0], max: xr[1] });
      }
    } else {
      const xs = prepared.aligned[0] as number[];
      if (xs.length) u.setScale("x", { min: xs[0]!, max: xs[xs.length - 1]! });
    }
  }, [xr?.[0], xr?.[1]]);

  useEffect(() => {
    if (plot.current && width) plot.current.setSize({ width, height: height - 10 });
  }, [width, height]);

  useEffect(
    () => () => {
      plot.current?.destroy();
      plot.current = null;
    },
    [],
  );

  function showTip(u: uPlot) {
    const el = tip.current;
    if (!el) return;
    const idx = u.cursor.idx;
    const left = u.cursor.left ?? -1;
    if (idx === null || idx === undefined || left < 0) {
      el.style.display = "none";
      return;
    }
    const xv = u.posToVal(left, "x");
    const rows: string[] = [];
    let xLabel = "";
    for (const p of shown.current.slice(0, 14)) {
      const i = nearestIndex(p.x, xv);
      if (i < 0) continue;
      const raw = p.raw[i];
      const sm = p.smooth ? p.smooth[i] : null;
      if (!xLabel) xLabel = settings.x === "step" ? `step ${fmtNum(p.x[i]!)}` : settings.x === "wall" ? fmtTime(p.x[i]! * 1000) : fmtDuration(p.x[i]! * 1000);
      const c = runColor(p.id, theme);
      const main = p.smooth ? sm : raw;
      rows.push(
        `<div class="r"><span class="swatch" style="background:${c}"></span><span class="l">${esc(p.label)}</span><span class="v">${main === null || main === undefined ? "—" : fmtNum(main)}</span>${
          p.smooth ? `<span class="raw">${raw === null || raw === undefined ? "" : fmtNum(raw)}</span>` : ""
        }${settings.x !== "step" ? `<span class="raw">@${fmtNum(p.steps[i]!)}</span>` : ""}</div>`,
      );
    }
    if (shown.current.length > 14) rows.push(`<div class="r faint">… ${shown.current.length - 14} more</div>`);
    el.innerHTML = `<div class="x">${esc(xLabel)}</div>${rows.join("")}`;
    el.style.display = "block";
    const w = u.over.clientWidth;
    const ox = u.over.offsetLeft;
    el.style.left = left > w / 2 ? `${ox + left - el.offsetWidth - 12}px` : `${ox + left + 14}px`;
    el.style.top = `${u.over.offsetTop + 4}px`;
  }

  const onKey = (e: KeyboardEvent) => {
    const u = plot.current;
    if (!u) return;
    const min = u.scales.x!.min!;
    const max = u.scales.x!.max!;
    const span = max - min;
    const mid = (min + max) / 2;
    let next: [number, number] | null | undefined;
    if (e.key === "+" || e.key === "=") next = [mid - span / 4, mid + span / 4];
    else if (e.key === "-") next = [mid - span, mid + span];
    else if (e.key === "ArrowLeft") next = [min - span / 10, max - span / 10];
    else if (e.key === "ArrowRight") next = [min + span / 10, max + span / 10];
    else if (e.key === "0" || e.key === "Escape") next = null;
    if (next === undefined) return;
    e.preventDefault();
    performance.mark("cairn:zoom-start");
    onZoom(next);
  };

  const nSeries = prepared?.ps.length ?? 0;
  const nPoints = prepared ? prepared.ps.reduce((s, p) => s + p.x.length, 0) : 0;
  const totals = data ? data.reduce((s, d) => s + d.total, 0) : 0;
  const down = data?.some((d) => d.downsampled);

  return (
    <div
      ref={(el) => {
        wrapRef(el);
        visRef(el);
      }}
      class="chart-box"
      style={{ height: `${height}px` }}
      tabIndex={0}
      role="img"
      aria-label={`${metric}: ${nSeries} run${nSeries === 1 ? "" : "s"}. Drag to zoom, shift-drag to pan, double-click to reset; + - arrows 0 on the keyboard.`}
      data-metric={metric}
      data-series={nSeries}
      data-lines={prepared ? prepared.ps.reduce((n, p) => n + (p.smooth ? 2 : 1), 0) : 0}
      data-points={nPoints}
      data-total={totals}
      data-loading={loading ? "1" : "0"}
      data-range={zoomed && zoomed.key === zoomKey && range ? `${range[0]}:${range[1]}` : "full"}
      title={down ? `downsampled from ${totals.toLocaleString()} points` : undefined}
      onKeyDown={onKey}
    >
      <div ref={host} style={single ? { display: "none" } : undefined} />
      {single && prepared ? <Bars ps={prepared.ps} theme={theme} /> : null}
      <div ref={tip} class="chart-tip" style={{ display: "none" }} />
      {error ? (
        <div class="chart-msg err">{error}</div>
      ) : loading && !data ? (
        <div class="chart-msg">loading…</div>
      ) : nSeries === 0 && !loading ? (
        <div class="chart-msg">no points</div>
      ) : null}
    </div>
  );
}

/** One bar per run for a metric each run logged once; bars start at zero, so negative
 * values go left of it. */
function Bars({ ps, theme }: { ps: Plotted[]; theme: Theme }) {
  const vals = ps.map((p) => p.raw[0] ?? null);
  const finite = vals.filter((v): v is number => v !== null);
  const lo = Math.min(0, ...finite);
  const hi = Math.max(0, ...finite);
  const span = hi - lo || 1;
  const pct = (v: number) => ((v - lo) / span) * 100;
  return (
    <div class="mbars" data-bars={ps.length}>
      {ps.map((p, i) => {
        const v = vals[i] ?? null;
        const from = v === null ? 0 : pct(Math.min(0, v));
        const to = v === null ? 0 : pct(Math.max(0, v));
        return (
          <div class="mbar-row" key={p.id} title={`${p.label}: ${v === null ? "not a number" : fmtNum(v, 6)} (step ${p.steps[0]})`}>
            <span class="mbar-label">{p.label}</span>
            <span class="mbar-track">
              <span class="mbar" style={{ left: `${from}%`, width: `${Math.max(to - from, 0.5)}%`, background: runColor(p.id, theme) }} />
            </span>
            <span class="mbar-value">{v === null ? "—" : fmtNum(v, 4)}</span>
          </div>
        );
      })}
    </div>
  );
}

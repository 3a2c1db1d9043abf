// A grid of metric charts, one per key, with the chart settings (x axis, smoothing, log
// y, key filter, zoom) that live in the URL.

import { useMemo } from "preact/hooks";
import type { ChartRun, ChartSettings } from "./MetricChart";
import { MetricChart } from "./MetricChart";
import { Seg, Swatch } from "./common";
import { setViewRuns } from "../lib/color";
import { paths } from "../router";
import { keyMatches } from "../lib/keyfilter";

export interface GridSettings extends ChartSettings {
  keys: string;
}

interface Props {
  metricKeys: string[];
  runs: (ChartRun & { short?: string })[];
  settings: GridSettings;
  onSettings: (p: Partial<GridSettings>, opts?: { replace?: boolean }) => void;
  /** Per key, a token that changes when that key has new points. */
  versions?: Record<string, string | number>;
  legend?: boolean;
  empty?: string;
  height?: number;
}

export function ChartGrid({ metricKeys, runs, settings, onSettings, versions, legend = true, empty, height }: Props) {
  const shownKeys = useMemo(() => metricKeys.filter((k) => keyMatches(k, settings.keys)), [metricKeys.join("\u0000"), settings.keys]);
  // The runs drawn together get distinct colours (before the charts and swatches read them).
  if (runs.length > 1) setViewRuns(runs.map((r) => r.id));
  return (
    <div>
      <div class="chart-tools">
        <input
          type="search"
          aria-label="Filter metric keys"
          placeholder="filter keys…"
          value={settings.keys}
          onInput={(e) => onSettings({ keys: e.currentTarget.value }, { replace: true })}
          style={{ width: "200px" }}
        />
        <label class="inline">
          x
          <Seg
            label="x axis"
            value={settings.x}
            options={[
              ["step", "step"],
              ["wall", "wall time"],
              ["rel", "relative"],
            ]}
            onChange={(x) => onSettings({ x, xr: null })}
          />
        </label>
        <label class="inline">
          smoothing
          <input
            type="range"
            min={0}
            max={0.99}
            step={0.01}
            value={settings.smooth}
            aria-label="EMA smoothing"
            onInput={(e) => onSettings({ smooth: Number(e.currentTarget.value) }, { replace: true })}
          />
          <span class="mono" style={{ width: "2.6em" }}>
            {settings.smooth.toFixed(2)}
          </span>
        </label>
        <label class="inline">
          <input type="checkbox" checked={settings.logy} onChange={(e) => onSettings({ logy: e.currentTarget.checked })} /> log y
        </label>
        {settings.xr && (
          <button type="button" class="btn small" onClick={() => onSettings({ xr: null })}>
            Reset zoom
          </button>
        )}
        <span class="faint" style={{ fontSize: "12px" }}>
          {shownKeys.length} of {metricKeys.length} metrics · drag to zoom, shift-drag to pan, double-click to reset
        </span>
      </div>
      {legend && runs.length > 1 && (
        <div class="legend" aria-label="Runs">
          {runs.map((r) => (
            <a href={paths.run(r.short ?? r.id)} key={r.id}>
              <Swatch id={r.id} />
              {r.label}
            </a>
          ))}
        </div>
      )}
      {shownKeys.length === 0 ? (
        <div class="empty">{metricKeys.length === 0 ? empty ?? "No metrics recorded." : "No metric key matches the filter."}</div>
      ) : (
        <div class="chart-grid">
          {shownKeys.map((k) => (
            <div class="chart-card" key={k}>
              <div class="title">
                <span>{k}</span>
              </div>
              <MetricChart
                metric={k}
                runs={runs}
                settings={settings}
                onZoom={(xr) => onSettings({ xr })}
                version={versions?.[k]}
                height={height ?? 240}
              />
            </div>
          ))}
        </div>
      )}
    </div>
  );
}

// Small SVG charts of the statistics pages: importance bars, ablation waterfalls,
// factorial effect plots, and the baseline line with its re-evaluations.

import type { AblationReport, Anova, Verdict } from "../api";
import { useWidth } from "../hooks";
import { fmtNum, fmtTime } from "../lib/format";
import { effectRange, fmtDiffCI, fmtP, linear, verdictText, waterfall } from "../lib/stats";

export function ImportanceBars({ items }: { items: { param: string; share: number; sd: number; scale: string; levels: number }[] }) {
  const max = Math.max(0.0001, ...items.map((i) => Math.min(1, i.share + i.sd)));
  const pct = (v: number) => `${(Math.max(0, Math.min(v, max)) / max) * 100}%`;
  return (
    <div class="imp" id="importance" role="list">
      {items.map((i) => (
        <div class="imp-row" role="listitem" key={i.param} data-param={i.param} data-share={i.share}>
          <span class="mono imp-name" title={i.param}>
            {i.param}
          </span>
          <span class="imp-track" title={`share ${(i.share * 100).toFixed(1)}% ± ${(i.sd * 100).toFixed(1)}% (sd across trees)`}>
            <span class="imp-bar" style={{ width: pct(i.share) }} />
            <span class="imp-whisker" style={{ left: pct(i.share - i.sd), width: `calc(${pct(i.share + i.sd)} - ${pct(i.share - i.sd)})` }} />
          </span>
          <span class="num imp-val">{(i.share * 100).toFixed(1)}%</span>
          <span class="pill" title={`${i.levels} distinct values`}>
            {i.scale} · {i.levels}
          </span>
        </div>
      ))}
    </div>
  );
}


/** An ablation as a waterfall: base, each change added alone (CI whiskers), interaction, candidate. */
export function Waterfall({ report, id, higherIsBetter }: { report: AblationReport; id: string; higherIsBetter: boolean }) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const joint = report.joint;
  if (!joint) return <div class="muted">No runs with the metric on one side of the study yet: no waterfall.</div>;
  const w = waterfall(
    joint.mean_reference,
    report.changes.map((c) => ({ label: c.change, diff: c.added?.diff ?? null, ci: c.added?.ci ?? null })),
    joint.mean_candidate,
    report.interaction !== null ? { diff: report.interaction, ci: report.interaction_ci } : null,
  );
  const W = Math.max(320, width || 640);
  const H = 240;
  const left = 56;
  const bottom = 54;
  const y = linear(w.min, w.max, H - bottom, 10);
  const slot = (W - left - 10) / w.bars.length;
  const bw = Math.min(64, slot * 0.6);
  const ticks = [w.min, (w.min + w.max) / 2, w.max];
  return (
    <div ref={ref} class="waterfall" id={id} data-bars={w.bars.length}>
      <svg width={W} height={H} role="img" aria-label="Ablation waterfall: base, each change added alone, interaction, candidate">
        {ticks.map((t, i) => (
          <g key={i}>
            <line x1={left} x2={W - 10} y1={y(t)} y2={y(t)} stroke="var(--border)" />
            <text x={left - 6} y={y(t) + 4} text-anchor="end" class="ax">
              {fmtNum(t, 3)}
            </text>
          </g>
        ))}
        {w.bars.map((b, i) => {
          const x = left + slot * i + (slot - bw) / 2;
          const top = Math.min(y(b.from), y(b.to));
          const h = Math.max(1, Math.abs(y(b.from) - y(b.to)));
          const fill =
            b.kind === "start" || b.kind === "end" ? "var(--muted)" : b.kind === "interaction" ? "var(--warn)" : (b.to - b.from) * (higherIsBetter ? 1 : -1) >= 0 ? "var(--ok)" : "var(--danger)";
          const next = w.bars[i + 1];
          return (
            <g key={i} data-kind={b.kind} data-label={b.label}>
              <rect x={x} y={top} width={bw} height={h} fill={fill} opacity={b.kind === "start" || b.kind === "end" ? 0.55 : 0.85} rx="2">
                <title>
                  {b.kind === "start" || b.kind === "end" ? `${b.label}: ${fmtNum(b.to)}` : `${b.label}: ${fmtDiffCI(b.to - b.from, b.lo !== null && b.hi !== null ? [b.lo - b.from, b.hi - b.from] : null)}`}
                </title>
              </rect>
              {b.lo !== null && b.hi !== null && (
                <g stroke="var(--fg)" stroke-width="1.2">
                  <line x1={x + bw / 2} x2={x + bw / 2} y1={y(b.lo)} y2={y(b.hi)} />
                  <line x1={x + bw / 2 - 5} x2={x + bw / 2 + 5} y1={y(b.lo)} y2={y(b.lo)} />
                  <line x1={x + bw / 2 - 5} x2={x + bw / 2 + 5} y1={y(b.hi)} y2={y(b.hi)} />
                </g>
              )}
              {next && next.kind !== "end" && <line x1={x + bw} x2={x + slot} y1={y(b.to)} y2={y(b.to)} stroke="var(--muted)" stroke-dasharray="3 3" />}
              <text x={x + bw / 2} y={H - bottom + 16} text-anchor="middle" class="ax">
                {short(b.label, Math.floor(slot / 6.5))}
              </text>
              <text x={x + bw / 2} y={H - bottom + 30} text-anchor="middle" class="ax">
                {b.kind === "start" || b.kind === "end" ? fmtNum(b.to, 3) : (b.to - b.from >= 0 ? "+" : "") + fmtNum(b.to - b.from, 2)}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

function short(s: string, n: number): string {
  const k = Math.max(6, n);
  return s.length > k ? s.slice(0, k - 1) + "…" : s;
}

/** Factorial effects: estimate with its CI, a zero line. */
export function EffectPlot({ anova, id }: { anova: Anova; id: string }) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const effects = anova.effects;
  if (effects.length === 0) return <div class="muted">No two-level effects to plot.</div>;
  const W = Math.max(320, width || 640);
  const rowH = 26;
  const left = 150;
  const H = effects.length * rowH + 30;
  const [lo, hi] = effectRange(effects);
  const x = linear(lo, hi, left, W - 70);
  return (
    <div ref={ref} class="effects" id={id} data-effects={effects.length}>
      <svg width={W} height={H} role="img" aria-label="Effects with 95% confidence intervals">
        <line x1={x(0)} x2={x(0)} y1={4} y2={H - 22} stroke="var(--muted)" stroke-dasharray="4 3" />
        <text x={x(0)} y={H - 8} text-anchor="middle" class="ax">
          0
        </text>
        <text x={left} y={H - 8} text-anchor="start" class="ax">
          {fmtNum(lo, 2)}
        </text>
        <text x={W - 70} y={H - 8} text-anchor="end" class="ax">
          {fmtNum(hi, 2)}
        </text>
        {effects.map((e, i) => {
          const cy = 14 + i * rowH;
          const sig = e.ci ? e.ci[0] > 0 || e.ci[1] < 0 : false;
          return (
            <g key={e.term} data-term={e.term} data-estimate={e.estimate}>
              <text x={left - 8} y={cy + 4} text-anchor="end" class="ax mono">
                {short(e.term, 22)}
              </text>
              {e.ci && <line x1={x(e.ci[0])} x2={x(e.ci[1])} y1={cy} y2={cy} stroke="var(--fg)" stroke-width="1.5" />}
              <circle cx={x(e.estimate)} cy={cy} r="4.5" fill={sig ? "var(--accent)" : "var(--panel)"} stroke="var(--accent)" stroke-width="1.5">
                <title>{`${e.term}: ${fmtDiffCI(e.estimate, e.ci)} ${fmtP(e.p)}`}</title>
              </circle>
              <text x={W - 64} y={cy + 4} class="ax">
                {fmtP(e.p)}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

export interface Marker {
  at: number;
  label: string;
  verdict?: Verdict | null;
  kind: "set" | "reeval";
}

/** Every run's value over time, the baseline's mean as a line, markers where it was set or re-evaluated. */
export function BaselineChart({
  points,
  baseline,
  markers,
  up,
}: {
  points: { at: number; value: number; name: string }[];
  baseline: number | null;
  markers: Marker[];
  up: boolean;
}) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const W = Math.max(320, width || 640);
  const H = 200;
  const left = 56;
  const right = 10;
  const ts = [...points.map((p) => p.at), ...markers.map((m) => m.at)];
  const vs = [...points.map((p) => p.value), ...(baseline !== null ? [baseline] : [])].filter(Number.isFinite);
  if (ts.length === 0 || vs.length === 0) return <div class="muted">No values yet.</div>;
  const t0 = Math.min(...ts);
  const t1 = Math.max(...ts);
  const pad = (t1 - t0) * 0.03 || 60_000;
  const v0 = Math.min(...vs);
  const v1 = Math.max(...vs);
  const vp = (v1 - v0) * 0.1 || Math.abs(v1) * 0.05 || 1;
  const x = linear(t0 - pad, t1 + pad, left, W - right);
  const y = linear(v0 - vp, v1 + vp, H - 24, 18);
  return (
    <div ref={ref} id="baseline-chart" data-markers={markers.length} data-baseline={baseline ?? ""}>
      <svg width={W} height={H} role="img" aria-label={`Run values over time${baseline !== null ? `, baseline ${fmtNum(baseline)}` : ""}`}>
        {[v0 - vp, (v0 + v1) / 2, v1 + vp].map((t, i) => (
          <g key={i}>
            <line x1={left} x2={W - right} y1={y(t)} y2={y(t)} stroke="var(--border)" />
            <text x={left - 6} y={y(t) + 4} text-anchor="end" class="ax">
              {fmtNum(t, 3)}
            </text>
          </g>
        ))}
        {markers.map((m, i) => (
          <g key={i} class="marker" data-kind={m.kind} data-verdict={m.verdict ?? ""}>
            <line x1={x(m.at)} x2={x(m.at)} y1={14} y2={H - 24} stroke={m.kind === "reeval" ? (m.verdict === "not_distinguishable" || !m.verdict ? "var(--muted)" : "var(--danger)") : "var(--warn)"} stroke-dasharray="2 3" />
            <text x={x(m.at) > W / 2 ? x(m.at) - 3 : x(m.at) + 3} y={12 + (i % 2) * 11} class="ax" text-anchor={x(m.at) > W / 2 ? "end" : "start"}>
              {m.label}
            </text>
            <title>{`${fmtTime(m.at)}: ${m.label}`}</title>
          </g>
        ))}
        {baseline !== null && <line x1={left} x2={W - right} y1={y(baseline)} y2={y(baseline)} stroke="var(--warn)" stroke-width="1.5" stroke-dasharray="6 4" />}
        {points.map((p, i) => {
          const good = baseline === null ? 0 : (p.value - baseline) * (up ? 1 : -1);
          return (
            <circle key={i} cx={x(p.at)} cy={y(p.value)} r="3.5" fill={good > 0 ? "var(--ok)" : good < 0 ? "var(--danger)" : "var(--muted)"} opacity="0.8">
              <title>{`${p.name}: ${fmtNum(p.value)}`}</title>
            </circle>
          );
        })}
      </svg>
    </div>
  );
}

export function VerdictPill({ verdict }: { verdict: Verdict }) {
  return <span class={`pill verdict ${verdict}`} data-verdict={verdict}>{verdictText(verdict)}</span>;
}

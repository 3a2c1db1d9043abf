// A project at a glance: how many runs and how they went, the team's progress on the
// primary metric, what runs now and who runs it, recent runs, runs that need a look
// (several changes at once, no hypothesis) and duplicates the server refused.
//
// The figures come from the server's summary endpoint when it has one; otherwise they
// are worked out here from the most recent runs (and the page says so).

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { useEffect, useRef } from "preact/hooks";
import { api, LEAN_FIELDS, num, type Project, type Run } from "../api";
import { ErrorBanner, GetStarted, RunLink, Status, Time } from "../components/common";
import { useAsync, useDocumentTitle, useInterval, useTheme, useWidth } from "../hooks";
import { fieldText } from "../lib/fields";
import { fmtNum, fmtTime } from "../lib/format";
import { runningBest } from "../lib/progress";
import { baselineDelta } from "../lib/stats";
import type { ProjectSummary } from "../lib/summary";
import { paths } from "../router";

const DAYS = 30;

interface Figures {
  summary: ProjectSummary;
}

export function Dashboard({ project }: { project: string }) {
  useDocumentTitle(project);
  const proj = useAsync((sig) => api.project(project, sig), [project]);
  const figures = useAsync(
    async (sig): Promise<Figures> => ({ summary: await api.summary(project, DAYS, sig) }),
    [project],
  );
  const recent = useAsync((sig) => api.search({ project, order_by: "created desc", limit: 10, fields: LEAN_FIELDS }, sig), [project]);
  const running = useAsync((sig) => api.search({ project, filter: 'status = "running"', order_by: "started desc", limit: 200, fields: LEAN_FIELDS }, sig), [project]);
  const manyChanges = useAsync((sig) => api.search({ project, filter: "tags.cairn.many_changes is not null", order_by: "created desc", limit: 10, fields: LEAN_FIELDS }, sig), [project]);
  const noHyp = useAsync((sig) => api.search({ project, filter: 'hypothesis is null or hypothesis = ""', order_by: "created desc", limit: 10, fields: LEAN_FIELDS }, sig), [project]);
  const refusals = useAsync((sig) => api.refusals(project, sig), [project]);
  useInterval(() => running.reload(), 5000);

  if (proj.error) return <ErrorBanner error={proj.error} />;
  const p = proj.data;
  if (p && p.run_count === 0 && recent.data && recent.data.runs.length === 0) {
    return (
      <div>
        <Head project={project} p={p} />
        <GetStarted project={project} />
      </div>
    );
  }
  const f = figures.data;
  const s = f?.summary;
  const lastWeek = s ? s.per_day.slice(-7).reduce((a, d) => a + d.created, 0) : null;
  const live = running.data?.runs ?? [];
  const byOwner = new Map<string, Run[]>();
  for (const r of live) byOwner.set(r.owner, [...(byOwner.get(r.owner) ?? []), r]);
  const runsLink = (q: string) => `${paths.runs(project)}?q=${encodeURIComponent(q)}`;
  const more = (n: number | undefined) => (n === undefined ? null : n);

  return (
    <div id="dashboard" data-source={f ? "server" : ""}>
      <Head project={project} p={p} />
      <div class="stats">
        <Stat label="runs" value={p?.run_count ?? s?.runs ?? null} href={paths.runs(project)} />
        <Stat label="running now" value={running.data ? live.length : null} href={runsLink('status = "running"')} />
        <Stat label="in the last 7 days" value={lastWeek} />
        <Stat label="failed" value={s ? more(s.by_status.failed ?? 0) : null} href={runsLink('status = "failed"')} />
        <Stat label="several changes at once" value={s ? more(s.flagged.many_changes) : null} href={runsLink("tags.cairn.many_changes is not null")} />
        <Stat label="without hypothesis" value={s ? more(s.flagged.no_hypothesis) : null} href={runsLink('hypothesis is null or hypothesis = ""')} />
        {refusals.data && <Stat label="duplicates refused" value={refusals.data.total} />}
        {s?.baseline && (
          <Stat
            label={`baseline ${s.metric ?? ""} (${s.baseline.n} run${s.baseline.n === 1 ? "" : "s"})`}
            value={s.baseline.mean === null ? "—" : fmtNum(s.baseline.mean)}
            href={paths.insights(project)}
          />
        )}
      </div>
      <div class="dash">
        <div class="card">
          <h2>Progress{p?.primary_metric ? `: best ${p.primary_metric.key} over time` : ""}</h2>
          {p && !p.primary_metric ? (
            <div class="muted">
              No primary metric set for this project. Set one with <code>cairn projects set {project} --primary-metric val/acc</code> to see the team's progress line.
            </div>
          ) : s ? (
            <ProgressChart project={p} name={project} summary={s} />
          ) : (
            <div class="skeleton" style={{ height: "240px" }} />
          )}
        </div>
        <div class="card">
          <h2>Runs per day</h2>
          {s ? <RunsPerDay summary={s} /> : <div class="skeleton" style={{ height: "140px" }} />}
        </div>
        <div class="card">
          <h2>Running now</h2>
          {live.length === 0 ? (
            <div class="muted">{running.data ? "Nothing is running." : "…"}</div>
          ) : (
            [...byOwner.entries()].map(([owner, rs]) => (
              <div key={owner} style={{ marginBottom: "8px" }}>
                <div style={{ fontWeight: 600 }}>{owner}</div>
                <RunList runs={rs} time="started" />
              </div>
            ))
          )}
        </div>
        <div class="card">
          <h2>
            Recent runs <a href={paths.runs(project)} style={{ fontWeight: 400, fontSize: "13px" }}>all →</a>
          </h2>
          {!recent.data ? (
            <div class="skeleton" style={{ height: "200px" }} />
          ) : (
            <RunList runs={recent.data.runs} time="created" id="recent-runs" baseline={s?.baseline?.mean != null && s.metric ? { mean: s.baseline.mean, metric: s.metric, direction: s.direction } : null} />
          )}
        </div>
        <div class="card">
          <h2>Needs a look</h2>
          <h3>Several changes at once</h3>
          {manyChanges.data?.runs.length ? <RunList runs={manyChanges.data.runs} time="created" /> : <div class="faint">none</div>}
          <h3 style={{ marginTop: "12px" }}>No hypothesis</h3>
          {noHyp.data?.runs.length ? <RunList runs={noHyp.data.runs} time="created" /> : <div class="faint">none</div>}
        </div>
        <div class="card" id="refusals">
          <h2>Duplicates refused</h2>
          {refusals.data ? (
            refusals.data.refusals.length === 0 ? (
              <div class="faint">none: no run was refused as a repeat of a finished one</div>
            ) : (
              <ul class="list-runs">
                {refusals.data.refusals.map((r, i) => (
                  <li key={i}>
                    <span class="nm">{r.owner}</span>
                    <span class="h" title={r.command.join(" ")}>
                      {r.hypothesis ?? r.command.join(" ")}
                    </span>
                    <span class="t">
                      same as <RunLink id={r.duplicate_of} name={r.duplicate_of.slice(0, 8)} /> · <Time ms={r.at} />
                    </span>
                  </li>
                ))}
              </ul>
            )
          ) : (
            <div class="muted" style={{ fontSize: "13px" }}>
              {refusals.loading ? "…" : "Runs identical to a finished run are refused by the server (cairn run says so); this server does not list them yet."}
            </div>
          )}
        </div>
      </div>
      <ErrorBanner error={figures.error ?? recent.error ?? running.error} />
    </div>
  );
}

function Head({ project, p }: { project: string; p: Project | undefined }) {
  return (
    <div class="page-head">
      <div>
        <h1>{project}</h1>
        <div class="sub">{p?.description || (p ? "" : "…")}</div>
      </div>
      <div class="actions">
        <a class="btn primary" href={paths.runs(project)}>
          Runs table
        </a>
      </div>
    </div>
  );
}

function Stat({ label, value, href }: { label: string; value: number | string | null; href?: string }) {
  const v = value === null ? <span class="skeleton">000</span> : typeof value === "number" ? value.toLocaleString() : value;
  return (
    <div class="stat">
      <div class="v">{href ? <a href={href} style={{ color: "inherit" }}>{v}</a> : v}</div>
      <div class="l">{label}</div>
    </div>
  );
}

function RunList({ runs, time, id, baseline }: { runs: Run[]; time: "created" | "started"; id?: string; baseline?: { mean: number; metric: string; direction: "increase" | "decrease" | null } | null }) {
  return (
    <ul class="list-runs" id={id}>
      {runs.map((r) => (
        <li key={r.id} data-run={r.short_id}>
          <span class="nm">
            <RunLink id={r.id} short={r.short_id} name={r.name} color />
          </span>
          <Status status={r.status} />
          <span class="h" title={r.hypothesis ?? ""}>
            {r.hypothesis ?? <em class="faint">no hypothesis</em>}
          </span>
          <span class="t">
            {baseline && <BaselineDelta run={r} baseline={baseline} />}
            {r.owner} · <Time ms={time === "started" ? r.started_at ?? r.created_at : r.created_at} />
          </span>
        </li>
      ))}
    </ul>
  );
}

function RunsPerDay({ summary }: { summary: ProjectSummary }) {
  const days = summary.per_day;
  const max = Math.max(1, ...days.map((d) => d.created));
  return (
    <div>
      <div class="bars" role="img" aria-label={`Runs per day over the last ${days.length} days`} id="runs-per-day">
        {days.map((d) => (
          <div
            class="b"
            key={d.day}
            style={{ height: `${(d.created / max) * 100}%`, opacity: d.created ? 0.8 : 0.15, background: d.failed === d.created && d.created > 0 ? "var(--danger)" : undefined }}
            title={`${d.day}: ${d.created} runs${d.failed ? `, ${d.failed} failed` : ""}`}
          />
        ))}
      </div>
      <div style={{ display: "flex", justifyContent: "space-between" }} class="faint">
        <span>{days[0]?.day}</span>
        <span>today · max {max.toLocaleString()}/day</span>
      </div>
    </div>
  );
}

function ProgressChart({ project, name, summary }: { project: Project | undefined; name: string; summary: ProjectSummary }) {
  const theme = useTheme();
  const [wrapRef, width] = useWidth<HTMLDivElement>();
  const host = useRef<HTMLDivElement>(null);
  const pm = project?.primary_metric;
  const pts = summary.progress.map((p) => ({ t: p.at, v: p.value, p }));
  const up = (summary.direction ?? pm?.direction) !== "decrease";
  const base = summary.baseline?.mean ?? null;
  useEffect(() => {
    if (!host.current || !width || pts.length === 0) return;
    const best = runningBest(pts, up);
    // The progress line is a step function through every run's time.
    const xs = pts.map((p) => p.t / 1000);
    const bestAt: (number | null)[] = [];
    let bi = 0;
    let cur: number | null = null;
    for (const p of pts) {
      while (bi < best.length && best[bi]!.t <= p.t) cur = best[bi++]!.v;
      bestAt.push(cur);
    }
    const css = getComputedStyle(document.documentElement);
    const muted = css.getPropertyValue("--muted").trim();
    const grid = css.getPropertyValue("--border").trim();
    const accent = css.getPropertyValue("--accent").trim();
    const warn = css.getPropertyValue("--warn").trim();
    const series: uPlot.Series[] = [
      {},
      { label: "run", stroke: "transparent", points: { show: true, size: pts.length > 2000 ? 3 : 5, stroke: muted, fill: muted }, paths: () => null },
      { label: "best", stroke: accent, width: 2, paths: uPlot.paths.stepped!({ align: 1 }), points: { show: false } },
    ];
    const data: uPlot.AlignedData = [xs, pts.map((p) => p.v), bestAt];
    if (base !== null) {
      series.push({ label: "baseline", stroke: warn, width: 1.5, dash: [6, 4], points: { show: false } });
      (data as unknown as (number | null)[][]).push(xs.map(() => base));
    }
    const u = new uPlot(
      {
        width,
        height: 220,
        scales: { x: { time: true } },
        legend: { show: false },
        series,
        axes: [
          { stroke: muted, grid: { stroke: grid } },
          { stroke: muted, grid: { stroke: grid }, size: 56, values: (_u, v) => v.map((x) => fmtNum(x, 3)) },
        ],
        cursor: { drag: { x: false, y: false } },
      },
      data,
      host.current,
    );
    return () => u.destroy();
  }, [summary, width, theme, up]);
  const metric = summary.metric ?? pm?.key;
  if (!metric) return null;
  if (pts.length === 0) return <div class="muted">No run has recorded {metric} yet.</div>;
  const best = runningBest(pts, up);
  const top = best[best.length - 1]!;
  return (
    <div ref={wrapRef} id="progress" data-points={pts.length} data-best={top.v}>
      <div ref={host} />
      <div class="muted" style={{ fontSize: "13px" }}>
        best {metric} = <strong>{fmtNum(top.v)}</strong> ({up ? "higher" : "lower"} is better) by <RunLink id={top.p.run} short={top.p.short_id} name={top.p.name} /> on {fmtTime(top.t)}
        {base !== null && (
          <>
            {" "}
            · baseline {summary.baseline!.label || summary.baseline!.reference} = {fmtNum(base)}
          </>
        )}{" "}
        · <a href={`${paths.runs(name)}?sort=${encodeURIComponent(fieldText({ kind: "metric", key: metric }))}${up ? "" : "&desc=0"}`}>ranked runs</a>
      </div>
      {pts.length < summary.progress_of && (
        <div class="faint" style={{ fontSize: "12px" }} id="progress-sample" data-drawn={pts.length} data-of={summary.progress_of}>
          {pts.length.toLocaleString("en-US")} of {summary.progress_of.toLocaleString("en-US")} runs drawn: every run that set a record, and a sample spread evenly over time.
        </div>
      )}
    </div>
  );
}

function BaselineDelta({ run, baseline }: { run: Run; baseline: { mean: number; metric: string; direction: "increase" | "decrease" | null } }) {
  const v = num(run.metrics.find((m) => m.key === baseline.metric)?.last);
  const d = baselineDelta(v, baseline.mean, baseline.direction);
  if (!d.text) return null;
  return (
    <span class={`delta ${d.good > 0 ? "pos" : d.good < 0 ? "neg" : "neu"}`} data-delta={d.diff ?? ""} title={`${baseline.metric} ${fmtNum(v)} against the baseline's ${fmtNum(baseline.mean)}`} style={{ marginRight: "6px" }}>
      Δ {d.text}
    </span>
  );
}

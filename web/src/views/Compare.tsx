// Two or more runs side by side: metric summaries with deltas against a base run,
// config differences (identical values folded away), code, data and environment
// differences, and their metric charts overlaid.

import { useMemo } from "preact/hooks";
import { api, ApiError, num, type Project, type Run } from "../api";
import { VerdictPill } from "../components/StatCharts";
import { setViewRuns } from "../lib/color";
import { fmtDiffCI, fmtMeanCI, fmtPValue, verdictHint } from "../lib/stats";
import { ChartGrid } from "../components/ChartGrid";
import { Empty, ErrorBanner, RunLink, Status, Swatch } from "../components/common";
import { TextDiff } from "../components/DiffView";
import { useAsync, useDocumentTitle } from "../hooks";
import { quoteString } from "../lib/fields";
import { diffConfigs, sameValue } from "../lib/flatten";
import { fmtDelta, fmtNum, fmtTime, fmtValue } from "../lib/format";
import { splitSystem } from "../lib/keyfilter";
import { useQueryState, paths, href } from "../router";
import { compareSchema, runsSchema } from "../state";

type Setter = ReturnType<typeof useQueryState<typeof compareSchema>>[1];

export function ComparePage({ project }: { project: string }) {
  const [s, set] = useQueryState(compareSchema);
  useDocumentTitle(`Compare · ${project}`);
  const ids = s.runs;
  const proj = useAsync((sig) => api.project(project, sig), [project]);
  const res = useAsync(
    async (sig) => {
      if (ids.length === 0) return [];
      const list = ids.slice(0, 50).map(quoteString).join(", ");
      const { runs } = await api.search({ filter: `short_id in (${list}) or id in (${list})`, limit: 100 }, sig);
      const order = (r: Run) => {
        const i = ids.indexOf(r.short_id);
        return i >= 0 ? i : ids.indexOf(r.id);
      };
      return runs.sort((a, b) => order(a) - order(b));
    },
    [ids.join(",")],
  );
  if (ids.length < 2) {
    return (
      <Empty title="Choose runs to compare">
        Select two or more runs in the <a href={paths.runs(project)}>runs table</a> and press Compare.
      </Empty>
    );
  }
  if (res.error) return <ErrorBanner error={res.error} />;
  const runs = res.data;
  if (!runs) return <div class="skeleton" style={{ height: "300px" }} />;
  if (runs.length < ids.length) {
    const found = new Set(runs.flatMap((r) => [r.id, r.short_id]));
    const lost = ids.filter((i) => !found.has(i));
    if (runs.length < 2) return <ErrorBanner error={new Error(`Runs not found: ${lost.join(", ")}`)} />;
  }
  const base = Math.min(s.base, runs.length - 1);
  setViewRuns(runs.map((r) => r.id));
  return (
    <div id="compare">
      <div class="page-head">
        <div>
          <h1>Compare {runs.length} runs</h1>
          <div class="sub">
            <a href={paths.dashboard(project)}>{project}</a> · deltas against{" "}
            <select value={base} onChange={(e) => set({ base: Number(e.currentTarget.value) })} aria-label="Base run">
              {runs.map((r, i) => (
                <option value={i} key={r.id}>
                  {r.name} ({r.short_id})
                </option>
              ))}
            </select>
          </div>
        </div>
        <div class="actions">
          <a class="btn" href={href(paths.runs(project), runsSchema, { sel: runs.map((r) => r.short_id) })}>
            Back to runs
          </a>
        </div>
      </div>
      <div class="grid">
        <RunCards runs={runs} />
        <CompareStats project={project} proj={proj.data} runs={runs} base={base} vsBaseline={s.vsbase} metric={s.metric} set={set} />
        <Summaries runs={runs} base={base} project={proj.data} />
        <ConfigDiff runs={runs} showSame={s.same} set={set} />
        <CodeDiff runs={runs} base={base} />
        <DataDiff runs={runs} />
        <EnvDiff runs={runs} showSame={s.same} set={set} />
        <div class="card">
          <h2>Metrics</h2>
          <ChartGrid
            metricKeys={splitSystem([...new Set(runs.flatMap((r) => r.metrics.map((m) => m.key)))].sort()).metrics}
            runs={runs.map((r) => ({ id: r.id, label: r.name, short: r.short_id }))}
            settings={s}
            onSettings={set}
          />
        </div>
      </div>
    </div>
  );
}

function RunCards({ runs }: { runs: Run[] }) {
  return (
    <div class="card" style={{ overflowX: "auto" }}>
      <table class="plain cmp-table">
        <thead>
          <tr>
            <th>run</th>
            <th>status</th>
            <th>owner</th>
            <th>created</th>
            <th>hypothesis</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => (
            <tr key={r.id} data-run={r.short_id}>
              <td>
                <RunLink id={r.id} short={r.short_id} name={r.name} color />
              </td>
              <td>
                <Status status={r.status} />
              </td>
              <td>{r.owner}</td>
              <td class="nowrap">{fmtTime(r.created_at)}</td>
              <td>{r.hypothesis ?? <span class="faint">none</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Header({ runs }: { runs: Run[] }) {
  return (
    <>
      {runs.map((r) => (
        <th key={r.id} class="nowrap">
          <Swatch id={r.id} /> {r.name} <span class="faint mono">{r.short_id}</span>
        </th>
      ))}
    </>
  );
}

function Summaries({ runs, base, project }: { runs: Run[]; base: number; project: Project | undefined }) {
  const keys = splitSystem([...new Set(runs.flatMap((r) => r.metrics.map((m) => m.key)))].sort()).metrics;
  const pm = project?.primary_metric;
  const ordered = pm && keys.includes(pm.key) ? [pm.key, ...keys.filter((k) => k !== pm.key)] : keys;
  if (keys.length === 0) return null;
  return (
    <div class="card" style={{ overflowX: "auto" }}>
      <h2>Summaries (last value, Δ against {runs[base]!.name})</h2>
      <table class="plain cmp-table" id="summaries">
        <thead>
          <tr>
            <th>metric</th>
            <Header runs={runs} />
          </tr>
        </thead>
        <tbody>
          {ordered.map((k) => {
            const vals = runs.map((r) => num(r.metrics.find((m) => m.key === k)?.last));
            const b = vals[base];
            const better = pm && pm.key === k ? (pm.direction === "increase" ? 1 : -1) : 0;
            return (
              <tr key={k}>
                <td class="mono">
                  {k}
                  {pm?.key === k ? <span class="pill" style={{ marginLeft: "6px" }}>primary</span> : null}
                </td>
                {vals.map((v, i) => {
                  const d = fmtDelta(v, b);
                  const cls = i === base || d.sign === 0 ? "" : better === 0 ? "neu" : d.sign === better ? "pos" : "neg";
                  return (
                    <td key={i} class={v === null ? "missing" : "num"}>
                      {v === null ? "—" : fmtNum(v)}
                      {i !== base && d.abs && (
                        <div class={`delta ${cls}`} style={{ fontSize: "12px" }}>
                          {d.abs} {d.rel && `(${d.rel})`}
                        </div>
                      )}
                    </td>
                  );
                })}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function DiffTable({ title, rows, runs, showSame, set, id }: { title: string; rows: { key: string; values: unknown[]; same: boolean }[]; runs: Run[]; showSame: boolean; set: Setter; id: string }) {
  const differ = rows.filter((r) => !r.same);
  const same = rows.length - differ.length;
  return (
    <div class="card" style={{ overflowX: "auto" }}>
      <h2>
        {title} <span class="faint" style={{ fontWeight: 400 }}>{differ.length} differ{same ? `, ${same} identical` : ""}</span>
      </h2>
      <table class="plain cmp-table" id={id}>
        <thead>
          <tr>
            <th>key</th>
            <Header runs={runs} />
          </tr>
        </thead>
        <tbody>
          {(showSame ? rows : differ).map((r) => (
            <tr key={r.key} data-key={r.key} class={r.same ? "" : "differs"}>
              <td class="mono">{r.key}</td>
              {r.values.map((v, i) => (
                <td key={i} class={`mono ${v === undefined ? "missing" : r.same ? "" : "diff-cell"}`}>
                  {v === undefined ? "absent" : fmtValue(v)}
                </td>
              ))}
            </tr>
          ))}
          {same > 0 && (
            <tr class="fold-row" onClick={() => set({ same: !showSame })}>
              <td colSpan={runs.length + 1}>{showSame ? "Fold identical values" : `⋯ ${same} identical value${same > 1 ? "s" : ""} folded — show`}</td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function ConfigDiff({ runs, showSame, set }: { runs: Run[]; showSame: boolean; set: Setter }) {
  const rows = useMemo(() => diffConfigs(runs.map((r) => r.config)), [runs]);
  return <DiffTable title="Config" rows={rows} runs={runs} showSame={showSame} set={set} id="config-diff" />;
}

function CodeDiff({ runs, base }: { runs: Run[]; base: number }) {
  const diffs = useAsync(
    (sig) => Promise.all(runs.map((r) => (r.code?.diff_artifact ? api.artifactText(r.id, r.code.diff_artifact, { maxBytes: 2 << 20, signal: sig }).then((t) => t.text) : Promise.resolve("")))),
    [runs.map((r) => r.id).join(",")],
  );
  const b = runs[base]!;
  if (runs.every((r) => !r.code)) {
    return (
      <div class="card">
        <h2>Code</h2>
        <div class="faint">No code recorded for these runs.</div>
      </div>
    );
  }
  return (
    <div class="card" style={{ overflowX: "auto" }}>
      <h2>Code</h2>
      <table class="plain cmp-table" style={{ marginBottom: "12px" }}>
        <thead>
          <tr>
            <th />
            <Header runs={runs} />
          </tr>
        </thead>
        <tbody>
          {(["commit", "branch", "dirty", "diff_hash"] as const).map((k) => {
            const vals = runs.map((r) => (r.code ? (k === "commit" ? r.code.commit?.slice(0, 10) : k === "diff_hash" ? r.code.diff_hash?.slice(0, 12) : r.code[k]) : undefined));
            const same = vals.every((v) => sameValue(v, vals[0]));
            return (
              <tr key={k}>
                <td>{k.replace("_", " ")}</td>
                {vals.map((v, i) => (
                  <td key={i} class={`mono ${same ? "" : "diff-cell"}`}>
                    {v === undefined || v === null ? "—" : String(v)}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
      {diffs.data &&
        runs.map((r, i) =>
          i === base || (diffs.data![i] === diffs.data![base] && r.code?.commit === b.code?.commit) ? null : (
            <TextDiff key={r.id} a={diffs.data![base]!} b={diffs.data![i]!} title={`uncommitted changes: ${b.name} → ${r.name}`} />
          ),
        )}
    </div>
  );
}

function DataDiff({ runs }: { runs: Run[] }) {
  const paths_ = [...new Set(runs.flatMap((r) => r.data?.datasets.map((d) => d.path) ?? []))].sort();
  if (paths_.length === 0) return null;
  return (
    <div class="card" style={{ overflowX: "auto" }}>
      <h2>Data</h2>
      <table class="plain cmp-table" id="data-diff">
        <thead>
          <tr>
            <th>dataset</th>
            <Header runs={runs} />
          </tr>
        </thead>
        <tbody>
          {paths_.map((p) => {
            const vals = runs.map((r) => r.data?.datasets.find((d) => d.path === p));
            const same = vals.every((v) => v?.hash === vals[0]?.hash);
            return (
              <tr key={p}>
                <td class="mono">{p}</td>
                {vals.map((v, i) => (
                  <td key={i} class={`mono ${!v ? "missing" : same ? "" : "diff-cell"}`}>
                    {v ? `${v.hash.slice(0, 12)} · ${v.files} files` : "absent"}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function EnvDiff({ runs, showSame, set }: { runs: Run[]; showSame: boolean; set: Setter }) {
  const { rows, pkgRows } = useMemo(() => {
    const strip = (e: unknown) => {
      if (typeof e !== "object" || e === null) return {};
      const { python, ...rest } = e as Record<string, unknown>;
      const py = typeof python === "object" && python !== null ? { ...(python as Record<string, unknown>) } : undefined;
      if (py) delete py.packages;
      return py ? { ...rest, python: py } : rest;
    };
    const rows = diffConfigs(runs.map((r) => strip(r.environment)));
    const pk = runs.map((r) => {
      const m = new Map<string, string>();
      const env = r.environment as { python?: { packages?: string[] } } | null;
      for (const p of env?.python?.packages ?? []) {
        const [n, v] = p.split("==");
        m.set(n!.toLowerCase(), v ?? "");
      }
      return m;
    });
    const names = [...new Set(pk.flatMap((m) => [...m.keys()]))].sort();
    const pkgRows = names
      .map((n) => ({ key: n, values: pk.map((m) => m.get(n)), same: false }))
      .map((r) => ({ ...r, same: r.values.every((v) => v !== undefined && v === r.values[0]) }));
    return { rows, pkgRows };
  }, [runs]);
  if (rows.length === 0 && pkgRows.length === 0) return null;
  return (
    <>
      <DiffTable title="Environment" rows={rows} runs={runs} showSame={showSame} set={set} id="env-diff" />
      {pkgRows.length > 0 && <DiffTable title="Python packages" rows={pkgRows} runs={runs} showSame={showSame} set={set} id="pkg-diff" />}
    </>
  );
}

/** The compared runs as statistics: each against the base run (or the project's baseline), with replicate groups. */
function CompareStats({ project, proj, runs, base, vsBaseline, metric, set }: { project: string; proj: Project | undefined; runs: Run[]; base: number; vsBaseline: boolean; metric: string; set: Setter }) {
  const keys = splitSystem([...new Set(runs.flatMap((r) => r.metrics.map((m) => m.key)))].sort()).metrics;
  const pm = proj?.primary_metric?.key;
  const m = metric || (pm && keys.includes(pm) ? pm : keys[0]) || "";
  const ref = runs[base]!;
  const cands = vsBaseline ? runs : runs.filter((_, i) => i !== base);
  const rep = useAsync(
    (sig) => (m ? api.compare(project, { candidates: cands.map((r) => r.short_id), reference: vsBaseline ? undefined : ref.short_id, metric: m }, sig) : Promise.resolve(null)),
    [project, m, vsBaseline, ref.short_id, cands.map((r) => r.short_id).join(",")],
  );
  const noBaseline = rep.error instanceof ApiError && rep.error.code === "invalid_argument" && /baseline/i.test(rep.error.message);
  const byShort = new Map(runs.map((r) => [r.short_id, r]));
  // A side is labelled by a run's short id (with "+ n replicate(s)") or a group id: name
  // it by the compared run it holds.
  const nameOf = (label: string, sideRuns: string[]) => {
    const r = byShort.get(label.split(" ")[0]!) ?? sideRuns.map((id) => byShort.get(id)).find(Boolean);
    return r ? r.name : label;
  };
  const d = rep.data;
  return (
    <div class="card" style={{ overflowX: "auto" }} id="compare-stats" aria-busy={rep.loading ? "true" : "false"}>
      <h2>
        Statistics{" "}
        <span style={{ fontWeight: 400, fontSize: "13px" }}>
          of{" "}
          <select value={m} onChange={(e) => set({ metric: e.currentTarget.value })} aria-label="Metric of the statistics">
            {keys.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>{" "}
          against{" "}
          <label>
            <input type="checkbox" checked={vsBaseline} onChange={(e) => set({ vsbase: e.currentTarget.checked })} id="vs-baseline" /> the project's baseline
          </label>
          {!vsBaseline && <span class="faint"> (else {ref.name}, the base run)</span>}
        </span>
      </h2>
      {noBaseline ? (
        <div class="muted">
          This project has no baseline. Name one: <code>cairn baseline set RUN --project {project}</code>.
        </div>
      ) : (
        <ErrorBanner error={rep.error} />
      )}
      {!m && <div class="faint">These runs have no metric in common.</div>}
      {d && (
        <>
          <div class="muted" style={{ fontSize: "13px", marginBottom: "6px" }} id="noise-floor">
            {d.noise_floor
              ? `Noise floor (seed-to-seed sd pooled from ${d.noise_floor.groups} replicate group${d.noise_floor.groups === 1 ? "" : "s"}): ${fmtNum(d.noise_floor.sd, 3)} (df ${fmtNum(d.noise_floor.df, 3)}).`
              : "No noise floor: the project has no replicate groups (runs that differ only by seed) yet."}{" "}
            {d.correction === "holm" ? `${d.candidates.length} candidates against one reference: p-values Holm-corrected.` : ""} {d.direction === "increase" ? "Higher" : "Lower"} is better; α = {d.alpha}.
          </div>
          <table class="plain cmp-table" id="stats-table">
            <thead>
              <tr>
                <th>side</th>
                <th class="num">n</th>
                <th class="num">mean ± 95% CI</th>
                <th class="num">Δ [95% CI]</th>
                <th class="num">p</th>
                {d.correction && <th class="num">Holm p</th>}
                <th>verdict</th>
                <th class="num">runs needed</th>
              </tr>
            </thead>
            <tbody>
              <tr data-side="reference" data-runs={d.reference.runs.join(",")}>
                <td>
                  <strong>reference</strong> {vsBaseline ? "baseline " : ""}
                  {nameOf(d.reference.label, d.reference.runs)} <span class="faint mono">{d.reference.runs.join(", ")}</span>
                </td>
                <td class="num">{d.reference.n}{d.reference.missing ? <span class="faint"> (+{d.reference.missing} without)</span> : null}</td>
                <td class="num">{fmtMeanCI(d.reference.mean, d.reference.ci, d.reference.n)}</td>
                <td />
                <td />
                {d.correction && <td />}
                <td />
                <td />
              </tr>
              {d.candidates.map((c) => {
                const cmp = c.comparison;
                return (
                  <tr key={c.label} data-side="candidate" data-label={c.label} data-runs={c.runs.join(",")} data-verdict={c.verdict}>
                    <td>
                      {nameOf(c.label, c.runs)} <span class="faint mono">{c.runs.join(", ")}</span>
                    </td>
                    <td class="num">{c.n}{c.missing ? <span class="faint"> (+{c.missing} without)</span> : null}</td>
                    <td class="num">{fmtMeanCI(c.mean, c.ci, c.n)}</td>
                    <td class="num ci">
                      {fmtDiffCI(cmp.diff, cmp.ci)}
                      {cmp.within_noise && (
                        <div class="noise-mark" title="The difference is smaller than the project's seed-to-seed spread">
                          within the noise floor
                        </div>
                      )}
                    </td>
                    <td class="num pval">{fmtPValue(cmp.p) || <span class="faint">—</span>}</td>
                    {d.correction && <td class="num">{fmtPValue(c.p_adjusted) || <span class="faint">—</span>}</td>}
                    <td>
                      <VerdictPill verdict={c.verdict} />
                      {cmp.method === "noise_floor" && <div class="faint" style={{ fontSize: "12px" }}>against the noise floor</div>}
                      {verdictHint(cmp) && <div class="faint" style={{ fontSize: "12px" }}>{verdictHint(cmp)}</div>}
                    </td>
                    <td class="num" title="Runs each side would need to resolve this difference at the observed spread">
                      {cmp.replicates_needed ?? <span class="faint">—</span>}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}

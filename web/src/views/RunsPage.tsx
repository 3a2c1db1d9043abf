// The runs of a project: filter (server-side, the API's language), sort, columns,
// selection, group statistics, CSV export, and a panel with overlaid charts of the
// selected runs or parallel coordinates whose brushes filter the table.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, LEAN_FIELDS, type Project, type Run } from "../api";
import { ChartGrid } from "../components/ChartGrid";
import { ColumnPicker } from "../components/ColumnPicker";
import { ErrorBanner, GetStarted, Seg } from "../components/common";
import { FilterBox } from "../components/FilterBox";
import { ParCoords, parseAxisEntry } from "../components/ParCoords";
import { columnLabel, DBASE, RunsTable, type BaselineRef } from "../components/RunsTable";
import { useAsync, useDocumentTitle } from "../hooks";
import { toCsv, type Cell } from "../lib/csv";
import { fieldText, quoteString } from "../lib/fields";
import { fmtNum } from "../lib/format";
import type { GroupStats } from "../lib/groupstats";
import { splitSystem } from "../lib/keyfilter";
import { catLabel, catOrder, combineFilters, inferAxis, setBrush, toCat, type Brush } from "../lib/parcoords";
import { href, navigate, paths, useQueryState } from "../router";
import { fetchAll, field, meantOf, TIME_ATTRS, usePager, useProjectKeys, valueOf } from "../runs";
import { compareSchema, runsSchema } from "../state";

/**
 * Columns when the URL names none: the basics, the primary metric and a couple more,
 * the params that vary among the first runs (what the runs are about), the hypothesis.
 */
function defaultColumns(project: Project | undefined, keys: { params: string[]; metrics: string[] }, rows: Run[]): string[] {
  const cols = ["name", "status", "owner", "created"];
  const { metrics } = splitSystem(keys.metrics);
  const primary = project?.primary_metric?.key;
  const ms = primary ? [primary, ...metrics.filter((m) => m !== primary)] : metrics;
  for (const m of ms.slice(0, 3)) cols.push(fieldText({ kind: "metric", key: m }));
  const sample = rows.slice(0, 300);
  const params = keys.params.map((k) => fieldText({ kind: "param", key: k }));
  const varying = params.filter((f) => new Set(sample.map((r) => JSON.stringify(meantOf(r, f) ?? null))).size > 1);
  cols.push(...(varying.length ? varying : params).slice(0, 5));
  cols.push("hypothesis");
  return cols;
}

function download(name: string, text: string, type: string) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 5000);
}

function csvValue(r: Run, col: string): Cell {
  const v = valueOf(r, col);
  if (v === undefined || v === null) return null;
  if (TIME_ATTRS.has(col) && typeof v === "number") return new Date(v).toISOString();
  if (typeof v === "object") return JSON.stringify(v);
  return v as Cell;
}

export function RunsPage({ project }: { project: string }) {
  const [s, set] = useQueryState(runsSchema);
  useDocumentTitle(`Runs · ${project}`);
  const proj = useAsync((sig) => api.project(project, sig), [project]);
  const summ = useAsync((sig) => api.summary(project, 1, sig).catch(() => undefined), [project]);
  const bl = summ.data?.baseline;
  const baselineRef: BaselineRef | null = bl && bl.mean !== null && summ.data?.metric ? { metric: summ.data.metric, mean: bl.mean, direction: summ.data.direction } : null;
  const filter = combineFilters(s.q, s.brush);
  const order = `${s.sort} ${s.desc ? "desc" : "asc"}`;
  const query = useMemo(() => ({ project, filter, order_by: order }), [project, filter, order]);
  const pager = usePager(query, { first: 100, page: 1000, total: filter ? null : proj.data?.run_count ?? null });
  const keys = useProjectKeys(project, pager.rows, pager.version);
  const [hovered, setHovered] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const lastToggled = useRef(-1);

  // Default columns are chosen once, from the first rows seen, so that they do not shift
  // when a sort or filter brings other runs to the top.
  const defaults = useRef<string[] | null>(null);
  if (!defaults.current && proj.data && pager.rows.length > 0) defaults.current = defaultColumns(proj.data, keys, pager.rows);
  const columns = s.col.length ? s.col : defaults.current ?? defaultColumns(proj.data, keys, pager.rows);
  const selected = useMemo(() => new Set(s.sel), [s.sel.join(",")]);
  const owners = useMemo(() => [...new Set(pager.rows.slice(0, 2000).map((r) => r.owner))].sort(), [pager.version]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "/" && !(e.target as HTMLElement).closest("input,textarea,select")) {
        e.preventDefault();
        document.querySelector<HTMLInputElement>(".filterbox input")?.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);

  const toggle = (r: Run, i: number, range: boolean) => {
    const next = new Set(selected);
    if (range && lastToggled.current >= 0) {
      const [a, b] = [Math.min(lastToggled.current, i), Math.max(lastToggled.current, i)];
      for (let j = a; j <= b; j++) {
        const x = pager.rowAt(j);
        if (x) next.add(x.short_id);
      }
    } else if (next.has(r.short_id)) next.delete(r.short_id);
    else next.add(r.short_id);
    lastToggled.current = i;
    set({ sel: [...next] });
  };

  const sortBy = (col: string) => {
    if (s.sort === col) set({ desc: !s.desc });
    else set({ sort: col, desc: TIME_ATTRS.has(col) });
  };

  const exportCsv = async () => {
    setBusy("exporting… 0 runs");
    try {
      const { runs } = await fetchAll(query, { onProgress: (n) => setBusy(`exporting… ${n.toLocaleString()} runs`) });
      const cols = columns.includes("id") ? columns : ["id", ...columns];
      const text = toCsv(cols, runs.map((r) => cols.map((c) => csvValue(r, c))));
      download(`${project}-runs.csv`, text, "text/csv;charset=utf-8");
    } catch (e) {
      alert(`Export failed: ${e instanceof Error ? e.message : e}`);
    } finally {
      setBusy(null);
    }
  };

  const err = pager.error;
  const noRunsAtAll = pager.done && !err && pager.rows.length === 0 && !filter && proj.data?.run_count === 0;
  const panelOpen = s.panel !== "";
  const tableHeight = panelOpen ? "max(320px, calc(100vh - 700px))" : "max(320px, calc(100vh - 290px))";
  const compareHref = href(paths.compare(project), compareSchema, { runs: s.sel, x: s.x, smooth: s.smooth, logy: s.logy });

  return (
    <div>
      <div class="page-head">
        <div>
          <h1>Runs</h1>
          <div class="sub">
            <a href={paths.dashboard(project)}>{project}</a>
            {proj.data?.description ? ` — ${proj.data.description}` : ""}
          </div>
        </div>
        <div class="actions">
          {s.sel.length > 0 && (
            <>
              <span class="muted">{s.sel.length} selected</span>
              <button type="button" class="btn small" onClick={() => set({ sel: [] })}>
                Clear
              </button>
            </>
          )}
          <a class={`btn${s.sel.length >= 2 ? " primary" : ""}`} href={compareHref} aria-disabled={s.sel.length < 2} onClick={(e) => s.sel.length < 2 && e.preventDefault()} title="Select two or more runs to compare">
            Compare{s.sel.length >= 2 ? ` ${s.sel.length}` : ""}
          </a>
          <button type="button" class="btn" onClick={exportCsv} disabled={!!busy}>
            {busy ?? "Export CSV"}
          </button>
        </div>
      </div>

      <FilterBox value={s.q} onApply={(q, o) => set({ q }, o)} keys={keys} values={(f) => (f === "owner" ? owners : [])} error={err} />

      <div class="toolbar">
        <ColumnPicker label="Columns" keys={keys} selected={columns} onChange={(col) => set({ col })} onReset={() => set({ col: [] })} />
        {baselineRef && (
          <label class="inline" title={`Each run's last ${baselineRef.metric} minus the baseline's mean (${fmtNum(baselineRef.mean)})`}>
            <input type="checkbox" id="dbase-toggle" checked={s.dbase} onChange={(e) => set({ dbase: e.currentTarget.checked })} /> Δ baseline
          </label>
        )}
        <label class="inline">
          group by
          <select value={s.group} onChange={(e) => set({ group: e.currentTarget.value })} aria-label="Group by">
            <option value="">—</option>
            {keys.params.map((k) => (
              <option value={fieldText({ kind: "param", key: k })} key={k}>
                {k}
              </option>
            ))}
            {keys.tags.map((k) => (
              <option value={fieldText({ kind: "tag", key: k })} key={"t" + k}>
                tag {k}
              </option>
            ))}
            <option value="owner">owner</option>
            <option value="status">status</option>
          </select>
        </label>
        <Seg
          label="Panel"
          value={s.panel}
          options={[
            ["", "Table"],
            ["charts", "Charts"],
            ["parcoords", "Parallel coordinates"],
          ]}
          onChange={(panel) => set({ panel })}
        />
        {s.brush.length > 0 && (
          <button type="button" class="btn small" onClick={() => set({ brush: [] })} title={s.brush.map((b) => b.field).join(", ")}>
            Clear {s.brush.length} brush{s.brush.length > 1 ? "es" : ""}
          </button>
        )}
      </div>

      {panelOpen && (
        <div class="panel" style={{ marginBottom: "12px" }}>
          {s.panel === "parcoords" ? (
            <ParallelPanel project={project} proj={proj.data} q={s.q} order={order} axes={s.axis} brushes={s.brush} keys={keys} selected={selected} hovered={hovered} set={set} />
          ) : (
            <ChartsPanel rows={pager.rows} selected={s.sel} s={s} set={set} />
          )}
        </div>
      )}

      {noRunsAtAll ? (
        <GetStarted project={project} />
      ) : s.group ? (
        <GroupsView project={project} query={query} group={s.group} metric={s.gmetric || (proj.data?.primary_metric ? fieldText({ kind: "metric", key: proj.data.primary_metric.key }) : keys.metrics[0] ? fieldText({ kind: "metric", key: keys.metrics[0] }) : "")} keys={keys} set={set} q={s.q} />
      ) : (
        <>
          <RunsTable
            count={Math.max(pager.total ?? 0, pager.rows.length)}
            rowAt={pager.rowAt}
            version={pager.version}
            columns={s.dbase && baselineRef ? withDeltaColumn(columns, baselineRef.metric) : columns}
            sort={s.sort}
            desc={s.desc}
            onSort={(c) => sortBy(c === DBASE && baselineRef ? fieldText({ kind: "metric", key: baselineRef.metric }) : c)}
            selected={selected}
            onToggle={toggle}
            onToggleAll={() => set({ sel: s.sel.length ? [] : pager.rows.slice(0, 50).map((r) => r.short_id) })}
            done={pager.done}
            loading={pager.loading}
            onNeed={pager.need}
            onOpen={(r) => navigate(paths.run(r.short_id))}
            onHover={(r) => setHovered(r?.id ?? null)}
            height={tableHeight}
            stale={pager.stale}
            queryKey={JSON.stringify(query)}
            baseline={baselineRef}
          />
          <div class="vt-foot" aria-live="polite">
            <span id="run-count">
              {pager.total !== null ? (pager.estimated ? `≈ ${roughly(pager.total)}` : pager.total.toLocaleString()) : `${pager.rows.length.toLocaleString()}${pager.done ? "" : "+"}`} run
              {(pager.total ?? pager.rows.length) === 1 ? "" : "s"}
              {filter ? " match" : ""}
              {pager.estimated ? <span title="Past 10,000 matches the server estimates the count from a sample of the project's runs"> (estimated)</span> : ""}
              {pager.total !== null && !pager.done ? ` · ${pager.rows.length.toLocaleString()} loaded in order` : ""}
            </span>
            {pager.loading && <span>loading…</span>}
            {pager.done && pager.rows.length === 0 && !err && filter && <span>No run matches this filter.</span>}
            <span class="faint" style={{ marginLeft: "auto" }}>
              ↑↓ move · space select · enter open · / filter
            </span>
          </div>
        </>
      )}
    </div>
  );
}

type Setter = ReturnType<typeof useQueryState<typeof runsSchema>>[1];
type RunsState = ReturnType<typeof useQueryState<typeof runsSchema>>[0];

function ChartsPanel({ rows, selected, s, set }: { rows: Run[]; selected: string[]; s: RunsState; set: Setter }) {
  // The selected runs (fetched by short id, they may not be loaded in the table), or the
  // first ten rows of the table.
  const sel = useAsync(
    async (sig) => {
      if (selected.length === 0) return null;
      const f = `short_id in (${selected.slice(0, 50).map(quoteString).join(", ")})`;
      return (await api.search({ filter: f, limit: 50 }, sig)).runs;
    },
    [selected.join(",")],
  );
  const runs = selected.length ? sel.data ?? [] : rows.slice(0, 10);
  const keys = useMemo(() => splitSystem([...new Set(runs.flatMap((r) => r.metrics.map((m) => m.key)))].sort()).metrics, [runs]);
  return (
    <div>
      <div class="muted" style={{ marginBottom: "6px", fontSize: "12.5px" }}>
        {selected.length ? `${selected.length} selected run${selected.length > 1 ? "s" : ""}` : `The first ${runs.length} runs of the table (select runs to choose)`}
      </div>
      <ChartGrid metricKeys={keys} runs={runs.map((r) => ({ id: r.id, label: r.name, short: r.short_id }))} settings={s} onSettings={set} height={220} />
    </div>
  );
}

function ParallelPanel(p: {
  project: string;
  proj: Project | undefined;
  q: string;
  order: string;
  axes: string[];
  brushes: Brush[];
  keys: { params: string[]; metrics: string[]; tags: string[] };
  selected: Set<string>;
  hovered: string | null;
  set: Setter;
}) {
  // At most this many lines: the server picks them from the whole result (every k-th,
  // or a sample stratified by creation time) and says how.
  const CAP = 3000;
  const data = useAsync(
    (sig) => api.search({ project: p.project, filter: p.q, order_by: p.order, fields: LEAN_FIELDS, sample: CAP, count: true }, sig),
    [p.project, p.q, p.order],
  );
  const runs = data.data?.runs ?? [];
  const total = data.data?.total;
  const axes = useMemo(() => {
    if (p.axes.length) return p.axes;
    // Params that vary among these runs, then the project's metric.
    const varying = p.keys.params
      .map((k) => fieldText({ kind: "param", key: k }))
      .filter((f) => {
        const a = inferAxis(f, runs.slice(0, 500).map((r) => meantOf(r, f)));
        return a.type === "cat" ? a.cats.length > 1 : a.domain[0] !== a.domain[1];
      })
      .slice(0, 6);
    const pm = p.proj?.primary_metric?.key ?? splitSystem(p.keys.metrics).metrics[0];
    return pm ? [...varying, fieldText({ kind: "metric", key: pm })] : varying;
  }, [p.axes.join("\u0000"), runs, p.keys, p.proj]);
  const setAxes = (list: string[]) => p.set({ axis: list });
  if (data.error) return <ErrorBanner error={data.error} />;
  return (
    <div>
      <div class="toolbar">
        <ColumnPicker label="Axes" keys={p.keys} selected={axes.map((a) => parseAxisEntry(a).field)} onChange={setAxes} onReset={() => p.set({ axis: [] })} attributes={false} />
        <span class="muted" style={{ fontSize: "12.5px" }}>
          {data.loading && !data.data
            ? "loading runs…"
            : `${runs.length.toLocaleString()}${total !== undefined && total > runs.length ? ` of ${data.data?.total_estimated ? "≈ " : ""}${total.toLocaleString()}` : ""} runs`}
          {data.data?.sample && (
            <span id="parcoords-sample" data-sampled={total !== undefined && total > runs.length ? "1" : "0"}>
              {" "}
              ({data.data.sample})
            </span>
          )}
          {" · drag on an axis to filter, click it to clear"}
        </span>
      </div>
      <ParCoords
        runs={runs}
        axes={axes}
        brushes={p.brushes}
        onBrush={(f, b) => p.set({ brush: setBrush(p.brushes, f, b) })}
        onScale={(f, scale) => setAxes(axes.map((a) => (parseAxisEntry(a).field === f ? (scale === "log" ? "log:" : "lin:") + f : a)))}
        onRemoveAxis={(f) => setAxes(axes.filter((a) => parseAxisEntry(a).field !== f))}
        highlight={p.selected}
        hovered={p.hovered}
      />
    </div>
  );
}

function GroupsView(p: {
  project: string;
  query: { project: string; filter: string; order_by: string };
  group: string;
  metric: string;
  keys: { metrics: string[] };
  q: string;
  set: Setter;
}) {
  const res = useAsync(
    async (sig): Promise<{ groups: GroupStats[]; total: number; server: boolean }> => {
      const srv = await api.groups({ project: p.project, filter: p.query.filter, group_by: p.group, metric: p.metric }, sig);
      return {
        groups: srv.groups
          .map((g) => ({ key: toCat(g.value), label: catLabel(toCat(g.value)), count: g.count, n: g.n, mean: g.mean, sd: g.sd, sem: g.sd !== null && g.n > 0 ? g.sd / Math.sqrt(g.n) : null, min: g.min, max: g.max }))
          .sort((a, b) => catOrder(a.key, b.key)),
        total: srv.total,
        server: true,
      };
    },
    [p.group, p.metric, JSON.stringify(p.query)],
  );
  const gs = res.data?.groups ?? [];
  const lo = Math.min(...gs.map((g) => (g.mean ?? Infinity) - (g.sd ?? 0)));
  const hi = Math.max(...gs.map((g) => (g.mean ?? -Infinity) + (g.sd ?? 0)));
  const pos = (v: number) => (hi > lo ? ((v - lo) / (hi - lo)) * 100 : 50);
  const drill = (g: GroupStats) => {
    const f = field(p.group);
    if (!f) return;
    const clause =
      g.key === null ? `${p.group} is null` : typeof g.key === "number" ? `${p.group} = ${g.key}` : typeof g.key === "boolean" ? `${p.group} = ${g.key}` : `${p.group} = ${quoteString(g.key)}`;
    p.set({ q: p.q.trim() ? `(${p.q}) and ${clause}` : clause, group: "" });
  };
  return (
    <div class="panel">
      <div class="toolbar">
        <strong>Grouped by {columnLabel(p.group)}</strong>
        <label class="inline">
          metric
          <select value={p.metric} onChange={(e) => p.set({ gmetric: e.currentTarget.value })} aria-label="Metric to summarise">
            {p.keys.metrics.flatMap((k) => [fieldText({ kind: "metric", key: k }), fieldText({ kind: "metric", key: k, agg: "min" }), fieldText({ kind: "metric", key: k, agg: "max" })]).map((f) => (
              <option value={f} key={f}>
                {f}
              </option>
            ))}
          </select>
        </label>
        <button type="button" class="btn small" onClick={() => p.set({ group: "" })}>
          Ungroup
        </button>
        <span class="muted" style={{ fontSize: "12.5px" }}>
          {res.loading && !res.data ? "grouping…" : `${(res.data?.total ?? 0).toLocaleString()} runs in ${gs.length} groups`}
        </span>
      </div>
      <ErrorBanner error={res.error} />
      <table class="plain" id="groups" data-source={res.data ? (res.data.server ? "server" : "runs") : ""}>
        <thead>
          <tr>
            <th>{columnLabel(p.group)}</th>
            <th class="num">runs</th>
            <th class="num">with metric</th>
            <th class="num">mean</th>
            <th class="num">sd</th>
            <th class="num">min</th>
            <th class="num">max</th>
            <th>mean ± sd</th>
          </tr>
        </thead>
        <tbody>
          {gs.map((g) => (
            <tr key={g.label} data-group={g.label}>
              <td>
                <a
                  href="#"
                  onClick={(e) => {
                    e.preventDefault();
                    drill(g);
                  }}
                  title="Show these runs"
                >
                  {g.label}
                </a>
              </td>
              <td class="num">{g.count}</td>
              <td class="num">{g.n}</td>
              <td class="num">{fmtNum(g.mean)}</td>
              <td class="num">{fmtNum(g.sd)}</td>
              <td class="num">{fmtNum(g.min)}</td>
              <td class="num">{fmtNum(g.max)}</td>
              <td>
                {g.mean !== null && (
                  <div class="bar-cell" title={`${fmtNum(g.mean)} ± ${fmtNum(g.sd ?? 0)}`}>
                    <div class="sd" style={{ left: `${pos(g.mean - (g.sd ?? 0))}%`, width: `${Math.max(0.5, pos(g.mean + (g.sd ?? 0)) - pos(g.mean - (g.sd ?? 0)))}%` }} />
                    <div class="mean" style={{ left: `${pos(g.mean)}%` }} />
                  </div>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}


/** An estimate, to three significant digits: 512,347 → "512,000". */
function roughly(n: number): string {
  const unit = 10 ** Math.max(0, Math.floor(Math.log10(Math.max(1, n))) - 2);
  return (Math.round(n / unit) * unit).toLocaleString();
}

/** The columns with `Δ baseline` after the baseline metric's column (or after the name). */
function withDeltaColumn(columns: string[], metric: string): string[] {
  let at = columns.findIndex((c) => {
    const f = field(c);
    return f?.kind === "metric" && f.key === metric && (!f.agg || f.agg === "last");
  });
  if (at < 0) at = columns.indexOf("name");
  const out = [...columns];
  out.splice(at + 1, 0, DBASE);
  return out;
}

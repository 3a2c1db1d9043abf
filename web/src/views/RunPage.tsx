// One run: what was tried and why (overview), what it was given (config, code, data,
// environment), where it came from (lineage), what it measured (metrics, system), what
// it printed (logs) and what it left (artifacts). A running run updates in place.

import { useMemo } from "preact/hooks";
import { api, LEAN_FIELDS, num, type Run } from "../api";
import { quoteString } from "../lib/fields";
import { ArtifactBrowser } from "../components/Artifacts";
import { ChartGrid } from "../components/ChartGrid";
import { ConfigTree } from "../components/ConfigTree";
import { CopyButton, Empty, ErrorBanner, RunLink, Status, Swatch, Tags, Time } from "../components/common";
import { UnifiedDiff } from "../components/DiffView";
import { EnvironmentView } from "../components/Environment";
import { LogView } from "../components/LogView";
import { useAsync, useDocumentTitle } from "../hooks";
import { fmtBytes, fmtDuration, fmtNum, fmtTime, fmtValue, shellQuote } from "../lib/format";
import { splitSystem } from "../lib/keyfilter";
import { useLiveRun } from "../live";
import { href, paths, useQueryState } from "../router";
import { RUN_TABS, runSchema, type RunTab } from "../state";

const TAB_LABEL: Record<RunTab, string> = {
  overview: "Overview",
  config: "Config",
  code: "Code",
  data: "Data",
  environment: "Environment",
  lineage: "Lineage",
  metrics: "Metrics",
  system: "System",
  logs: "Logs",
  artifacts: "Artifacts",
};


export function RunPage({ id }: { id: string }) {
  const [s, set] = useQueryState(runSchema);
  const { run, error, logTick, live } = useLiveRun(id);
  useDocumentTitle(run ? `${run.name} · ${run.project}` : id);

  if (error && !run) return <ErrorBanner error={error} />;
  if (!run) {
    return (
      <div>
        <div class="page-head">
          <div>
            <h1 class="skeleton" style={{ width: "280px" }}>
              loading
            </h1>
            <div class="skeleton" style={{ width: "420px", height: "16px" }} />
          </div>
        </div>
        <div class="tabs">{RUN_TABS.map((t) => <a key={t}>{TAB_LABEL[t]}</a>)}</div>
      </div>
    );
  }
  const { metrics, system } = splitSystem(run.metrics.map((m) => m.key));
  const counts: Partial<Record<RunTab, number>> = {
    config: undefined,
    metrics: metrics.length,
    system: system.length,
    lineage: run.parents.length + run.children.length,
  };
  const versions: Record<string, string> = {};
  for (const m of run.metrics) versions[m.key] = `${m.count}:${m.last_step}`;
  const chartRuns = [{ id: run.id, label: run.name, short: run.short_id }];
  const tabHref = (tab: RunTab) => href(paths.run(run.short_id), runSchema, { ...s, tab, path: tab === "artifacts" ? s.path : "" });

  return (
    <div>
      <div class="page-head">
        <div style={{ minWidth: 0 }}>
          <h1 style={{ display: "flex", gap: "10px", alignItems: "center" }}>
            <Swatch id={run.id} />
            <span id="run-name">{run.name}</span>
            <Status status={run.status} />
            {live && <span class="pill" title="updates without reloading">live</span>}
          </h1>
          <div class="sub">
            <a href={paths.dashboard(run.project)}>{run.project}</a> · <span class="mono">{run.short_id}</span> · {run.owner} · started <Time ms={run.started_at ?? run.created_at} />
            {run.ended_at && <> · took {fmtDuration(run.ended_at - (run.started_at ?? run.created_at))}</>}
          </div>
        </div>
        <div class="actions">
          <a class="btn" href={href(paths.runs(run.project), undefined)}>
            All runs
          </a>
          {run.parents[0] && (
            <a class="btn" href={`${paths.compare(run.project)}?runs=${encodeURIComponent(run.parents[0])},${run.short_id}`}>
              Compare with parent
            </a>
          )}
        </div>
      </div>

      <nav class="tabs" role="tablist" aria-label="Run sections">
        {RUN_TABS.map((t) => (
          <a role="tab" key={t} href={tabHref(t)} aria-selected={s.tab === t} data-tab={t}>
            {TAB_LABEL[t]}
            {counts[t] ? <span class="n">{counts[t]}</span> : null}
          </a>
        ))}
      </nav>

      <section role="tabpanel" aria-label={TAB_LABEL[s.tab]} id="tab-panel">
        {s.tab === "overview" && <Overview run={run} />}
        {s.tab === "config" && (
          <div class="card">
            <input type="search" placeholder="search keys and values…" value={s.cfg} onInput={(e) => set({ cfg: e.currentTarget.value }, { replace: true })} aria-label="Search config" style={{ width: "320px", marginBottom: "10px" }} />
            <ConfigTree value={run.config} query={s.cfg} sources={run.config_sources} />
          </div>
        )}
        {s.tab === "code" && <CodeTab run={run} />}
        {s.tab === "data" && <DataTab run={run} />}
        {s.tab === "environment" && <EnvironmentView env={run.environment} />}
        {s.tab === "lineage" && <LineageTab run={run} />}
        {s.tab === "metrics" && (
          <ChartGrid metricKeys={metrics} runs={chartRuns} settings={s} onSettings={set} versions={versions} legend={false} empty="No metrics recorded yet. Log some with run.log({...}) from the Python SDK." />
        )}
        {s.tab === "system" && (
          <ChartGrid metricKeys={system} runs={chartRuns} settings={s} onSettings={set} versions={versions} legend={false} empty="No system metrics: `cairn run` samples CPU, memory and GPU of the command while it runs." />
        )}
        {s.tab === "logs" && <LogView run={run} tick={logTick} follow={s.follow} onFollow={(follow) => set({ follow }, { replace: true })} />}
        {s.tab === "artifacts" && <ArtifactBrowser run={run} path={s.path} onPath={(path) => set({ path })} tick={logTick} />}
      </section>
    </div>
  );
}

/** The run's replicate group (runs that differ only by seed): n, mean, sd and 95% CI of the primary metric. */
function ReplicateGroup({ run }: { run: Run }) {
  const g = useAsync(
    async (sig) => {
      const p = await api.project(run.project, sig);
      const metric = p.primary_metric?.key ?? splitSystem(run.metrics.map((m) => m.key)).metrics[0] ?? null;
      const group = `group = ${quoteString(run.group_id!)}`;
      const { runs } = await api.search({ project: run.project, filter: group, limit: 200, fields: LEAN_FIELDS }, sig);
      // The server's statistics over the group's finished runs (a run's value is its
      // last value once it finished, as everywhere).
      const stats = { n: 0, mean: null as number | null, sd: null as number | null, ci: null as [number, number] | null };
      if (metric) {
        const g = await api.groups({ project: run.project, filter: `${group} and status = "finished"`, group_by: "group", metric: `metrics.${metric}` }, sig);
        const s = g.groups[0];
        if (s) Object.assign(stats, { n: s.n, mean: s.mean, sd: s.sd, ci: s.ci });
      }
      return { metric, runs, stats };
    },
    [run.id, run.group_id],
  );
  const d = g.data;
  return (
    <div class="banner" id="replicate-group" data-n={d?.stats.n ?? ""} style={{ marginBottom: "12px" }}>
      <span class="faint">Replicate group</span> <span class="mono">{run.group_id}</span>
      {!d ? (
        " …"
      ) : (
        <>
          {" "}
          · {d.runs.length} run{d.runs.length === 1 ? "" : "s"}
          {d.metric && (
            <>
              {" "}
              · {d.metric}: n = {d.stats.n}
              {d.stats.mean !== null && <>, mean {fmtNum(d.stats.mean)}</>}
              {d.stats.sd !== null && <>, sd {fmtNum(d.stats.sd, 3)}</>}
              {d.stats.ci && (
                <>
                  , 95% CI [{fmtNum(d.stats.ci[0])}, {fmtNum(d.stats.ci[1])}]
                </>
              )}
            </>
          )}
          {d.stats.n <= 1 && <div class="muted" style={{ fontSize: "13px" }}>Only one run with a value in this group: one run proves nothing alone. Repeat it with other seeds to see the spread.</div>}
          {d.runs.length > 1 && (
            <div style={{ fontSize: "13px", marginTop: "2px" }}>
              {d.runs.map((r, i) => (
                <span key={r.id}>
                  {i > 0 && " · "}
                  <RunLink id={r.id} short={r.short_id} name={r.id === run.id ? `${r.name} (this run)` : r.name} />
                </span>
              ))}
            </div>
          )}
        </>
      )}
    </div>
  );
}

function Overview({ run }: { run: Run }) {
  const lineage = useAsync((sig) => (run.parents.length ? api.lineage(run.id, sig) : Promise.resolve(null)), [run.id, run.parents.join()]);
  const started = run.started_at ?? run.created_at;
  const end = run.ended_at ?? (run.status === "running" ? Date.now() : null);
  return (
    <div>
      {run.group_id && <ReplicateGroup run={run} />}
      {run.hypothesis ? (
        <div class="hyp" id="hypothesis">
          <div class="faint" style={{ fontSize: "12px" }}>
            Hypothesis
          </div>
          {run.hypothesis}
          {run.expected && (
            <div class="muted" style={{ fontSize: "13px", marginTop: "4px" }}>
              expects {run.expected.metric} to {run.expected.direction}
              {run.expected.size !== null ? ` by ${fmtNum(run.expected.size)}` : ""}
            </div>
          )}
          {run.verdict && (
            <div style={{ fontSize: "13px", marginTop: "4px" }}>
              verdict: <strong>{run.verdict.outcome}</strong>
              {run.verdict.note ? ` — ${run.verdict.note}` : ""}
            </div>
          )}
        </div>
      ) : (
        <div class="hyp missing" id="hypothesis">
          No hypothesis recorded. Next time: <code>cairn run --hypothesis "…" -- …</code>
        </div>
      )}
      <div class="cols2">
        <div class="card">
          <h3>Run</h3>
          <dl class="kv">
            <dt>status</dt>
            <dd>
              <Status status={run.status} />
              {run.exit_code !== null ? ` (exit ${run.exit_code})` : ""}
            </dd>
            <dt>owner</dt>
            <dd>{run.owner}</dd>
            <dt>created</dt>
            <dd>{fmtTime(run.created_at)}</dd>
            <dt>started</dt>
            <dd>{fmtTime(run.started_at) || "—"}</dd>
            <dt>ended</dt>
            <dd>{fmtTime(run.ended_at) || "—"}</dd>
            <dt>duration</dt>
            <dd>{end ? fmtDuration(end - started) : "—"}</dd>
            <dt>seeds</dt>
            <dd class="mono">{run.seeds.length ? run.seeds.join(", ") : "—"}</dd>
            <dt>id</dt>
            <dd class="mono">{run.id}</dd>
            {run.group_id && (
              <>
                <dt>group</dt>
                <dd>
                  <a href={`${paths.runs(run.project)}?q=${encodeURIComponent(`group = "${run.group_id}"`)}`}>{run.group_id}</a>
                </dd>
              </>
            )}
            {run.fingerprint && (
              <>
                <dt>fingerprint</dt>
                <dd class="mono">{run.fingerprint.slice(0, 16)}</dd>
              </>
            )}
            <dt>tags</dt>
            <dd>
              <Tags tags={run.tags} />
            </dd>
            {run.parents.length > 0 && (
              <>
                <dt>parents</dt>
                <dd>
                  {run.parents.map((p) => {
                    const b = lineage.data?.parents.find((x) => x.id === p);
                    return (
                      <span key={p}>
                        <RunLink id={p} short={b?.short_id ?? p} name={b ? `${b.name} (${b.short_id})` : "…"} color />{" "}
                      </span>
                    );
                  })}
                </dd>
              </>
            )}
          </dl>
          <h3 style={{ marginTop: "14px" }}>Command</h3>
          {run.command.length ? (
            <div style={{ display: "flex", gap: "8px", alignItems: "flex-start" }}>
              <pre class="cmd" id="command" style={{ flex: 1 }}>
                {shellQuote(run.command)}
              </pre>
              <CopyButton text={shellQuote(run.command)} />
            </div>
          ) : (
            <div class="faint">not recorded</div>
          )}
          <h3 style={{ marginTop: "14px" }}>Notes</h3>
          <div style={{ whiteSpace: "pre-wrap" }}>{run.description || <span class="faint">none</span>}</div>
        </div>
        <div class="grid">
          <div class="card">
            <h3>Metrics</h3>
            {run.metrics.length === 0 ? (
              <div class="faint">none yet</div>
            ) : (
              <table class="plain">
                <thead>
                  <tr>
                    <th>key</th>
                    <th class="num">last</th>
                    <th class="num">min</th>
                    <th class="num">max</th>
                    <th class="num">points</th>
                  </tr>
                </thead>
                <tbody>
                  {run.metrics.map((m) => (
                    <tr key={m.key}>
                      <td class="mono">{m.key}</td>
                      <td class="num">{fmtNum(num(m.last))}</td>
                      <td class="num">{fmtNum(num(m.min))}</td>
                      <td class="num">{fmtNum(num(m.max))}</td>
                      <td class="num">{m.count.toLocaleString()}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </div>
          {run.changes && <Changes run={run} />}
        </div>
      </div>
    </div>
  );
}

function Changes({ run }: { run: Run }) {
  const c = run.changes!;
  const n = c.params.length + (c.code ? 1 : 0) + c.data.length + (c.command ? 1 : 0);
  return (
    <div class="card">
      <h2>
        What changed against <RunLink id={c.against} short={c.against_short_id} name={c.against_short_id} /> <span class="muted" style={{ fontWeight: 400 }}>({c.basis === "parent" ? "its parent" : "the most similar earlier run"})</span>
      </h2>
      {n === 0 && c.environment.length === 0 && <div class="faint">nothing: same code, data, config and command</div>}
      <table class="plain">
        <tbody>
          {c.params.map((p) => (
            <tr key={p.key}>
              <td class="mono">params.{p.key}</td>
              <td class="mono">
                {fmtValue(p.before) || "∅"} → {fmtValue(p.after) || "∅"}
              </td>
            </tr>
          ))}
          {c.code && (
            <tr>
              <td>code</td>
              <td class="mono">
                {c.code.commit_before === c.code.commit_after
                  ? `same commit ${(c.code.commit_after ?? "").slice(0, 8)}, other uncommitted changes`
                  : `${(c.code.commit_before ?? "∅").slice(0, 8)} → ${(c.code.commit_after ?? "∅").slice(0, 8)}`}{" "}
                {c.code.files.length ? `(${c.code.files.join(", ")})` : ""}
              </td>
            </tr>
          )}
          {c.data.map((d) => (
            <tr key={d.path}>
              <td>data {d.path}</td>
              <td class="mono">
                {(d.before ?? "∅").slice(0, 10)} → {(d.after ?? "∅").slice(0, 10)}
              </td>
            </tr>
          ))}
          {c.command && (
            <tr>
              <td>command</td>
              <td class="mono">
                {fmtValue(c.command.before)} → {fmtValue(c.command.after)}
              </td>
            </tr>
          )}
          {c.environment.map((e) => (
            <tr key={e.what} class="faint">
              <td>env {e.what}</td>
              <td class="mono">
                {e.before ?? "∅"} → {e.after ?? "∅"}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {run.tags["cairn.many_changes"] !== undefined && (
        <div class="banner" style={{ marginTop: "8px" }}>
          More than one variable changed at once: the effect of each cannot be told apart.
        </div>
      )}
    </div>
  );
}

function CodeTab({ run }: { run: Run }) {
  const code = run.code;
  const diff = useAsync(async (sig) => (code?.diff_artifact ? (await api.artifactText(run.id, code.diff_artifact, { maxBytes: 4 << 20, signal: sig })).text : null), [run.id, code?.diff_artifact]);
  if (!code) return <Empty title="No code recorded">Runs started with <code>cairn run</code> inside a git repository record the commit, branch and uncommitted changes.</Empty>;
  const modified = Object.entries(code.modified);
  const untracked = Object.entries(code.untracked);
  return (
    <div>
      <div class="card" style={{ marginBottom: "14px" }}>
        {!code.versioned ? (
          <div class="muted">The command ran outside a git repository.</div>
        ) : (
          <dl class="kv">
            <dt>commit</dt>
            <dd class="mono" id="commit">
              {code.commit ?? "—"}
            </dd>
            <dt>branch</dt>
            <dd class="mono">{code.branch ?? "—"}</dd>
            <dt>remote</dt>
            <dd class="mono">{code.remote ?? "—"}</dd>
            <dt>working tree</dt>
            <dd>{code.dirty ? <span style={{ color: "var(--warn)" }}>uncommitted changes</span> : "clean"}</dd>
            {modified.length > 0 && (
              <>
                <dt>modified</dt>
                <dd class="mono">{modified.map(([p]) => p).join(", ")}</dd>
              </>
            )}
            {untracked.length > 0 && (
              <>
                <dt>untracked</dt>
                <dd class="mono">{untracked.map(([p]) => p).join(", ")}</dd>
              </>
            )}
          </dl>
        )}
      </div>
      {code.diff_artifact ? (
        diff.error ? (
          <ErrorBanner error={diff.error} />
        ) : diff.data === undefined ? (
          <div class="skeleton" style={{ height: "200px" }} />
        ) : (
          <div id="code-diff">
            <UnifiedDiff text={diff.data ?? ""} />
          </div>
        )
      ) : code.dirty ? (
        <div class="muted">The uncommitted diff was not stored.</div>
      ) : null}
    </div>
  );
}

function DataTab({ run }: { run: Run }) {
  const ds = run.data?.datasets ?? [];
  if (ds.length === 0) return <Empty title="No data recorded">Pass <code>cairn run --data PATH</code> to fingerprint the data a run reads.</Empty>;
  return (
    <div class="grid">
      {ds.map((d) => (
        <Dataset run={run} d={d} key={d.path} />
      ))}
    </div>
  );
}

function Dataset({ run, d }: { run: Run; d: NonNullable<Run["data"]>["datasets"][number] }) {
  const manifest = useAsync(
    async (sig) => {
      if (!d.manifest_artifact) return null;
      const t = await api.artifactText(run.id, d.manifest_artifact, { maxBytes: 8 << 20, signal: sig });
      try {
        const j = JSON.parse(t.text) as { manifest?: { path: string; size: number; blake3: string }[] };
        return j.manifest ?? [];
      } catch {
        return null;
      }
    },
    [run.id, d.manifest_artifact],
  );
  const files = manifest.data ?? [];
  return (
    <div class="card" data-dataset={d.path}>
      <h2 class="mono">{d.path}</h2>
      <dl class="kv">
        <dt>fingerprint</dt>
        <dd class="mono">{d.hash}</dd>
        <dt>files</dt>
        <dd>{d.files.toLocaleString()}</dd>
        <dt>size</dt>
        <dd>{fmtBytes(d.bytes)}</dd>
      </dl>
      {d.manifest_artifact && (
        <>
          <h3 style={{ marginTop: "12px" }}>Manifest</h3>
          {manifest.loading && !manifest.data ? (
            <div class="faint">loading…</div>
          ) : (
            <div style={{ maxHeight: "360px", overflow: "auto" }}>
              <table class="plain">
                <thead>
                  <tr>
                    <th>path</th>
                    <th class="num">size</th>
                    <th>blake3</th>
                  </tr>
                </thead>
                <tbody>
                  {files.slice(0, 2000).map((f) => (
                    <tr key={f.path}>
                      <td class="mono">{f.path}</td>
                      <td class="num">{fmtBytes(f.size)}</td>
                      <td class="mono faint">{f.blake3.slice(0, 16)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {files.length > 2000 && <div class="faint">… and {(files.length - 2000).toLocaleString()} more files</div>}
            </div>
          )}
        </>
      )}
    </div>
  );
}

function LineageTab({ run }: { run: Run }) {
  const lin = useAsync((sig) => api.lineage(run.id, sig), [run.id, run.children.length, run.parents.length]);
  const me = useMemo(() => ({ id: run.id, short_id: run.short_id, name: run.name, status: run.status, created_at: run.created_at }), [run]);
  if (lin.error) return <ErrorBanner error={lin.error} />;
  const l = lin.data;
  const node = (r: { id: string; short_id: string; name: string; status: string; created_at: number }, me = false) => (
    <a class={`node${me ? " me" : ""}`} href={paths.run(r.short_id)} key={r.id} data-run={r.short_id}>
      <div style={{ display: "flex", gap: "6px", alignItems: "center" }}>
        <Swatch id={r.id} />
        <strong>{r.name}</strong>
      </div>
      <div class="muted" style={{ fontSize: "12px" }}>
        <span class="mono">{r.short_id}</span> · <Status status={r.status} /> · {fmtTime(r.created_at)}
      </div>
    </a>
  );
  if (!l) return <div class="skeleton" style={{ height: "120px" }} />;
  if (l.parents.length === 0 && l.children.length === 0) {
    return <Empty title="No lineage">This run has no parents or children. Runs name their parents with <code>cairn run --parent ID</code>.</Empty>;
  }
  return (
    <div class="card">
      <div class="lineage" id="lineage">
        <div class="col">
          <h3>Parents</h3>
          {l.parents.length ? l.parents.map((p) => node(p)) : <span class="faint">none</span>}
        </div>
        <div class="arrow">→</div>
        <div class="col">{node(me, true)}</div>
        <div class="arrow">→</div>
        <div class="col">
          <h3>Children</h3>
          {l.children.length ? l.children.map((c) => node(c)) : <span class="faint">none</span>}
        </div>
      </div>
    </div>
  );
}

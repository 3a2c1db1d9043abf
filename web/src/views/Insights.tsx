// What the project's runs say: which parameters matter for a metric (fANOVA shares of a
// random-forest surrogate), values whose runs do worse than the rest, the runs the
// surrogate predicts worst, the baseline over time with its re-evaluations, and the
// project's studies (ablation waterfalls, factorial effects and ANOVA tables).

import { api, type Project, type StudyReport } from "../api";
import { FilterBox } from "../components/FilterBox";
import { Empty, ErrorBanner, RunLink } from "../components/common";
import { BaselineChart, EffectPlot, ImportanceBars, VerdictPill, Waterfall, type Marker } from "../components/StatCharts";
import { useAsync, useDocumentTitle } from "../hooks";
import { quoteString } from "../lib/fields";
import { fmtNum, fmtTime } from "../lib/format";
import { fmtDiffCI, fmtP, fmtPValue, parseBaselineTags, verdictText } from "../lib/stats";
import { useProjectKeys } from "../runs";
import { paths, useQueryState } from "../router";
import { insightsSchema } from "../state";

export function InsightsPage({ project }: { project: string }) {
  const [s, set] = useQueryState(insightsSchema);
  useDocumentTitle(`Insights · ${project}`);
  const proj = useAsync((sig) => api.project(project, sig), [project]);
  const keys = useProjectKeys(project, [], 0);
  const metric = s.metric || proj.data?.primary_metric?.key || "";
  const ins = useAsync((sig) => api.insights(project, { metric: metric || undefined, filter: s.q || undefined }, sig), [project, metric, s.q]);
  const studies = useAsync((sig) => api.studies(project, metric || undefined, sig), [project, metric]);
  const summary = useAsync((sig) => api.summary(project, 365, sig), [project]);
  const noMetric = proj.data && !metric;
  const r = ins.data?.insights;
  return (
    <div id="insights">
      <div class="page-head">
        <div>
          <h1>Insights</h1>
          <div class="sub">
            <a href={paths.dashboard(project)}>{project}</a> · what matters for{" "}
            <select value={metric} onChange={(e) => set({ metric: e.currentTarget.value })} aria-label="Metric">
              {!metric && <option value="">choose a metric</option>}
              {[...new Set([metric, ...keys.metrics].filter(Boolean))].map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
            {ins.data && (
              <span class="faint">
                {" "}
                · {ins.data.analysed} runs analysed{ins.data.sample ? ` (a sample of ${ins.data.qualifying})` : ""}{ins.data.excluded ? `, ${ins.data.excluded} left out (no finite value, or not finished)` : ""} ·{" "}
                {ins.data.direction === "increase" ? "higher" : "lower"} is better
              </span>
            )}
          </div>
        </div>
      </div>
      <div style={{ marginBottom: "14px" }}>
        <FilterBox value={s.q} onApply={(q, o) => set({ q }, o)} keys={keys} error={ins.error} />
      </div>
      {noMetric && (
        <Empty title="No metric to analyse">
          Set a primary metric: <code>cairn projects set {project} --primary-metric val/acc</code>, or choose one above.
        </Empty>
      )}
      <div class="cols2">
        <div class="card">
          <h2>Parameter importance</h2>
          {!r ? (
            ins.error ? null : <div class="skeleton" style={{ height: "120px" }} />
          ) : (
            <>
              {r.note && (
                <div class="banner" id="insights-note" role="note">
                  ⚠ {r.note}
                </div>
              )}
              {r.importance.length === 0 ? (
                <div class="muted">No parameter varies over these runs.</div>
              ) : (
                <ImportanceBars items={r.importance} />
              )}
              <div class="faint" style={{ fontSize: "12px", marginTop: "8px" }}>
                Share of the metric's variance each parameter explains alone (fANOVA main effect of a random-forest surrogate); the whisker is ±1 sd across the
                forest's trees.
              </div>
              {ins.data?.sample && (
                <div class="faint" style={{ fontSize: "12px", marginTop: "8px" }} id="insights-sample">
                  Fitted on {ins.data.sample}.
                </div>
              )}
              {r.too_many_levels.length > 0 && (
                <div style={{ marginTop: "8px", fontSize: "13px" }} id="too-many-levels">
                  <span class="muted">Not modelled, too many levels: </span>
                  {r.too_many_levels.map((t) => (
                    <span class="pill tag" key={t.param} style={{ marginRight: "4px" }}>
                      {t.param} ({t.levels.toLocaleString()} values)
                    </span>
                  ))}
                </div>
              )}
              {r.left_out.length > 0 && (
                <div style={{ marginTop: "8px", fontSize: "13px" }} id="left-out">
                  <span class="muted">Left out (one value everywhere, or a different one in every run): </span>
                  {r.left_out.map((p) => (
                    <span class="pill tag" key={p} style={{ marginRight: "4px" }}>
                      {p}
                    </span>
                  ))}
                </div>
              )}
            </>
          )}
        </div>
        <BaselineCard project={proj.data} summary={summary.data} />
      </div>
      <ErrorBanner error={ins.error} />
      {r && (
        <div class="cols2" style={{ marginTop: "14px" }}>
          <div class="card" style={{ overflowX: "auto" }}>
            <h2>Underperformers</h2>
            {r.underperformers.length === 0 ? (
              <div class="faint">No parameter value does significantly worse than the rest (Welch, Holm-corrected).</div>
            ) : (
              <table class="plain" id="underperformers">
                <thead>
                  <tr>
                    <th>value</th>
                    <th class="num">runs</th>
                    <th class="num">mean vs rest</th>
                    <th class="num">Δ [95% CI]</th>
                    <th class="num">Hedges g</th>
                    <th class="num">Holm p</th>
                  </tr>
                </thead>
                <tbody>
                  {r.underperformers.map((u) => (
                    <tr key={u.param + "=" + u.value}>
                      <td class="mono">
                        {u.param} = {u.value}
                      </td>
                      <td class="num">
                        {u.n} / {u.rest_n}
                      </td>
                      <td class="num">
                        {fmtNum(u.mean)} vs {fmtNum(u.rest_mean)}
                      </td>
                      <td class="num delta neg">{fmtDiffCI(u.diff, u.ci)}</td>
                      <td class="num">{fmtNum(u.effect_size, 2)}</td>
                      <td class="num">{fmtPValue(u.p_adjusted)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </div>
          <div class="card" style={{ overflowX: "auto" }}>
            <h2>Surprises</h2>
            {r.surprises.length === 0 ? (
              <div class="faint">No run stands out from what the surrogate predicts.</div>
            ) : (
              <table class="plain" id="surprises">
                <thead>
                  <tr>
                    <th>run</th>
                    <th class="num">value</th>
                    <th class="num">predicted</th>
                    <th class="num">z</th>
                  </tr>
                </thead>
                <tbody>
                  {r.surprises.map((x) => (
                    <tr key={x.run} data-run={x.run}>
                      <td>
                        <RunLink id={x.run} short={x.run} name={x.run} color />
                      </td>
                      <td class="num">{fmtNum(x.value)}</td>
                      <td class="num">{fmtNum(x.predicted)}</td>
                      <td class={`num delta ${x.z > 0 === (ins.data!.direction === "increase") ? "pos" : "neg"}`}>{fmtNum(x.z, 2)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <div class="faint" style={{ fontSize: "12px", marginTop: "6px" }}>
              z: how far the result is from the forest's out-of-bag prediction, in residual standard deviations.
            </div>
          </div>
        </div>
      )}
      <div class="card" style={{ marginTop: "14px" }} id="studies">
        <h2>Studies</h2>
        {studies.error ? (
          <ErrorBanner error={studies.error} />
        ) : !studies.data ? (
          <div class="skeleton" style={{ height: "160px" }} />
        ) : studies.data.length === 0 ? (
          <div class="faint">
            No studies yet. Ablate two runs with <code>cairn ablate BASE CANDIDATE --seeds 3</code>, or design one with{" "}
            <code>cairn design factorial --factor aug=none,mixup --factor lr=1e-3,1e-2 -- python train.py</code>.
          </div>
        ) : (
          studies.data.map((st) => <StudyView key={st.study.name} r={st} />)
        )}
      </div>
    </div>
  );
}

function BaselineCard({ project, summary }: { project: Project | undefined; summary: Awaited<ReturnType<typeof api.summary>> | undefined }) {
  const tags = parseBaselineTags(project?.tags ?? {});
  const markers: Marker[] = [];
  for (const h of tags.history) if (h.set_at) markers.push({ at: h.set_at, label: `set: ${h.label || h.reference}`, kind: "set" });
  if (tags.reeval) {
    const v = tags.reeval.comparison?.verdict ?? null;
    markers.push({
      at: tags.reeval.at,
      label: tags.reeval.failed && Array.isArray(tags.reeval.failed) && tags.reeval.failed.length && !tags.reeval.comparison ? "re-eval failed" : `re-eval: ${v ? (v === "not_distinguishable" ? "no drift" : v === "cannot_tell" ? "cannot tell" : "drift (" + verdictText(v) + ")") : "?"}`,
      verdict: v,
      kind: "reeval",
    });
  }
  const b = summary?.baseline ?? null;
  return (
    <div class="card" id="baseline-card">
      <h2>Baseline</h2>
      {!summary ? (
        <div class="skeleton" style={{ height: "200px" }} />
      ) : !b ? (
        <div class="faint">
          No baseline set. Name one: <code>cairn baseline set RUN --project {project?.name ?? "P"}</code>; comparisons and the weekly review then default to it.
        </div>
      ) : (
        <>
          <div style={{ marginBottom: "6px" }}>
            {b.reference.startsWith("replicates-") ? (
              <a href={`${paths.runs(project?.name ?? "")}?q=${encodeURIComponent(`group = ${quoteString(b.reference)}`)}`}>{b.label || b.reference}</a>
            ) : (
              <RunLink id={b.reference} short={b.reference} name={b.label || b.reference} />
            )}{" "}
            · {summary.metric} = <strong>{fmtNum(b.mean)}</strong>{" "}
            <span class="faint">({b.n} run{b.n === 1 ? "" : "s"})</span>
          </div>
          <BaselineChart points={summary.progress.map((p) => ({ at: p.at, value: p.value, name: p.name }))} baseline={b.mean} markers={markers} up={summary.direction !== "decrease"} />
          {summary.progress.length < summary.progress_of && (
            <div class="faint" style={{ fontSize: "12px" }} id="baseline-sample">
              {summary.progress.length.toLocaleString("en-US")} of {summary.progress_of.toLocaleString("en-US")} runs drawn: every run that set a record, and a sample spread evenly over time.
            </div>
          )}
          {tags.reeval && (
            <div style={{ fontSize: "13px", marginTop: "6px" }} id="reeval">
              Last re-evaluation {fmtTime(tags.reeval.at)}
              {tags.reeval.comparison ? (
                <>
                  : <VerdictPill verdict={tags.reeval.comparison.verdict} /> {fmtDiffCI(tags.reeval.comparison.diff, tags.reeval.comparison.ci)} {fmtP(tags.reeval.comparison.p)}
                </>
              ) : null}
              {tags.reeval.summary ? <div class="muted">{tags.reeval.summary}</div> : null}
              {Array.isArray(tags.reeval.conditions_changed) && tags.reeval.conditions_changed.length > 0 && (
                <div class="muted">conditions changed: {tags.reeval.conditions_changed.map(String).join("; ")}</div>
              )}
            </div>
          )}
        </>
      )}
    </div>
  );
}

function StudyView({ r }: { r: StudyReport }) {
  const st = r.study;
  const id = st.name.replace(/[^A-Za-z0-9_-]/g, "-");
  const up = r.direction !== "decrease";
  // The server counts a run once per arm it belongs to (an ablation's "base + x" arm is
  // often the same runs as "candidate − y"), so `missing` is over by the repeats; see
  // SERVER-NEEDS.md §10.
  const armRuns = st.arms.flatMap((a) => a.runs);
  const missing = Math.max(0, r.missing - (armRuns.length - new Set(armRuns).size));
  return (
    <div class="study" data-study={st.name} data-kind={st.kind}>
      <h3>
        {st.kind === "ablation" ? "Ablation" : "Factorial design"} <span class="mono">{st.name}</span>{" "}
        <span class="faint" style={{ fontWeight: 400 }}>
          · {r.metric} · {st.arms.length} arms · {st.seeds.length} seed{st.seeds.length === 1 ? "" : "s"}
          {st.fraction ? ` · fraction ${st.fraction}` : ""}
          {missing ? ` · ${missing} run${missing === 1 ? "" : "s"} without a value` : ""}
        </span>
      </h3>
      {st.kind === "ablation" && st.base && st.candidate && (
        <div class="muted" style={{ fontSize: "13px" }}>
          <RunLink id={st.base} short={st.base} name={st.base} /> → <RunLink id={st.candidate} short={st.candidate} name={st.candidate} />: {st.changes.join("; ")}
        </div>
      )}
      {r.ablation && (
        <>
          {r.ablation.interaction_detected && (
            <div class="banner" role="note" data-interaction="yes">
              The changes interact: together they do {fmtDiffCI(r.ablation.interaction, r.ablation.interaction_ci)} beyond the sum of their single effects.
            </div>
          )}
          <Waterfall report={r.ablation} id={`waterfall-${id}`} higherIsBetter={up} />
          <table class="plain" style={{ marginTop: "8px" }}>
            <thead>
              <tr>
                <th>change</th>
                <th class="num">added to base: Δ [95% CI]</th>
                <th class="num">removed from candidate: Δ [95% CI]</th>
                <th>verdict (added)</th>
              </tr>
            </thead>
            <tbody>
              {r.ablation.changes.map((c) => (
                <tr key={c.change}>
                  <td class="mono">{c.change}</td>
                  <td class="num">{c.added ? `${fmtDiffCI(c.added.diff, c.added.ci)} ${fmtP(c.added.p)}` : "—"}</td>
                  <td class="num">{c.removed ? `${fmtDiffCI(c.removed.diff, c.removed.ci)} ${fmtP(c.removed.p)}` : "—"}</td>
                  <td>{c.added ? <VerdictPill verdict={c.added.verdict} /> : "—"}</td>
                </tr>
              ))}
              {r.ablation.joint && (
                <tr>
                  <td>all at once</td>
                  <td class="num">
                    {fmtDiffCI(r.ablation.joint.diff, r.ablation.joint.ci)} {fmtP(r.ablation.joint.p)}
                  </td>
                  <td class="num faint">sum of single: {r.ablation.sum_of_single === null ? "—" : fmtNum(r.ablation.sum_of_single, 3)}</td>
                  <td>
                    <VerdictPill verdict={r.ablation.joint.verdict} />
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </>
      )}
      {r.factorial && (
        <div class="cols2">
          <div>
            <h4>Effects (high − low level, 95% CI)</h4>
            <EffectPlot anova={r.factorial} id={`effects-${id}`} />
          </div>
          <div style={{ overflowX: "auto" }}>
            <h4>ANOVA ({r.factorial.n} runs)</h4>
            <table class="plain" id={`anova-${id}`}>
              <thead>
                <tr>
                  <th>term</th>
                  <th class="num">df</th>
                  <th class="num">SS</th>
                  <th class="num">MS</th>
                  <th class="num">F</th>
                  <th class="num">p</th>
                </tr>
              </thead>
              <tbody>
                {r.factorial.table.map((t) => (
                  <tr key={t.term} data-term={t.term}>
                    <td class="mono">{t.term}</td>
                    <td class="num">{fmtNum(t.df)}</td>
                    <td class="num">{fmtNum(t.ss, 3)}</td>
                    <td class="num">{fmtNum(t.ms, 3)}</td>
                    <td class="num">{t.f === null ? "" : fmtNum(t.f, 3)}</td>
                    <td class="num">{fmtPValue(t.p)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {r.factorial.means.length > 0 && (
              <table class="plain" style={{ marginTop: "8px" }}>
                <thead>
                  <tr>
                    <th>factor = level</th>
                    <th class="num">n</th>
                    <th class="num">mean [95% CI]</th>
                  </tr>
                </thead>
                <tbody>
                  {r.factorial.means.map((m) => (
                    <tr key={m.factor + m.level}>
                      <td class="mono">
                        {m.factor} = {m.level}
                      </td>
                      <td class="num">{m.n}</td>
                      <td class="num">
                        {fmtNum(m.mean)}
                        {m.ci ? ` [${fmtNum(m.ci[0])}, ${fmtNum(m.ci[1])}]` : ""}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </div>
        </div>
      )}
      {[...st.notes, ...(r.factorial?.notes ?? [])].length > 0 && (
        <ul class="muted study-notes" style={{ fontSize: "13px" }}>
          {[...st.notes, ...(r.factorial?.notes ?? [])].map((n, i) => (
            <li key={i}>{n}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

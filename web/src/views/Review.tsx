// The weekly review: the period's most informative runs — significant improvements over
// the baseline, negative results, refuted hypotheses, surprises, runs that changed many
// things at once — ready for the team meeting (also as Markdown).

import { useState } from "preact/hooks";
import { api, type ReviewItem } from "../api";
import { ErrorBanner, RunLink } from "../components/common";
import { VerdictPill } from "../components/StatCharts";
import { useAsync, useDocumentTitle } from "../hooks";
import { fmtDate, fmtNum } from "../lib/format";
import { fmtDiffCI, fmtPValue } from "../lib/stats";
import { paths, useQueryState } from "../router";
import { reviewSchema } from "../state";

const DAY_OPTIONS = [1, 7, 14, 30, 90];

export function ReviewPage({ project }: { project: string }) {
  const [s, set] = useQueryState(reviewSchema);
  useDocumentTitle(`Weekly review · ${project}`);
  const rev = useAsync((sig) => api.review(project, s.days, sig), [project, s.days]);
  const [copied, setCopied] = useState<string>("");
  const r = rev.data;
  const copy = async () => {
    try {
      const md = await api.reviewMarkdown(project, s.days);
      (window as unknown as { __cairnLastCopy?: string }).__cairnLastCopy = md;
      await navigator.clipboard.writeText(md);
      setCopied("Copied");
    } catch (e) {
      setCopied(e instanceof Error && /clipboard|permission|denied|secure/i.test(e.message + e.name) ? "Clipboard not available" : "Could not copy");
    }
    setTimeout(() => setCopied(""), 1500);
  };
  return (
    <div id="review" aria-busy={rev.loading ? "true" : "false"}>
      <div class="page-head">
        <div>
          <h1>Weekly review</h1>
          <div class="sub">
            <a href={paths.dashboard(project)}>{project}</a> · the last{" "}
            <select value={s.days} onChange={(e) => set({ days: Number(e.currentTarget.value) })} aria-label="Days" id="review-days">
              {[...new Set([...DAY_OPTIONS, s.days])].sort((a, b) => a - b).map((d) => (
                <option value={d} key={d}>
                  {d} day{d === 1 ? "" : "s"}
                </option>
              ))}
            </select>
            {r && (
              <span class="faint">
                {" "}
                · {fmtDate(r.since)} – {fmtDate(r.until)} · {r.runs} runs, {r.finished} finished, {r.failed} failed
                {r.metric ? ` · ${r.metric} (${r.direction === "decrease" ? "lower" : "higher"} is better)` : ""}
                {r.baseline ? ` · against baseline ${r.baseline}` : ""}
              </span>
            )}
          </div>
        </div>
        <div class="actions">
          <button type="button" class="btn" id="copy-markdown" onClick={copy}>
            {copied || "Copy as Markdown"}
          </button>
        </div>
      </div>
      <ErrorBanner error={rev.error} />
      {!r ? (
        rev.error ? null : <div class="skeleton" style={{ height: "300px" }} />
      ) : (
        <div class="grid">
          {r.notes.length > 0 && (
            <div class="banner" id="review-notes" role="note">
              {r.notes.map((n, i) => (
                <div key={i}>{n}</div>
              ))}
            </div>
          )}
          <Items id="improvements" title="Improvements over the baseline" empty="No significant improvement over the baseline in this period." items={r.improvements} />
          <Items id="regressions" title="Negative results" empty="No run was significantly worse than the baseline." items={r.regressions} />
          <div class="card review-sec" id="refuted">
            <h2>Refuted hypotheses</h2>
            {r.refuted.length === 0 ? (
              <div class="faint">none</div>
            ) : (
              <ul>
                {r.refuted.map((id) => (
                  <li key={id}>
                    <RunLink id={id} short={id} name={id} color />
                  </li>
                ))}
              </ul>
            )}
          </div>
          <div class="card review-sec" id="review-surprises">
            <h2>Surprises</h2>
            {r.surprises.length === 0 ? (
              <div class="faint">none</div>
            ) : (
              <ul>
                {r.surprises.map((x) => (
                  <li key={x.run} data-run={x.run}>
                    <RunLink id={x.run} short={x.run} name={x.run} color /> {fmtNum(x.value)} where {fmtNum(x.predicted)} was predicted (z = {fmtNum(x.z, 2)})
                  </li>
                ))}
              </ul>
            )}
          </div>
          <div class="card review-sec" id="many-changes">
            <h2>Several changes at once</h2>
            {r.many_changes.length === 0 ? (
              <div class="faint">none</div>
            ) : (
              <>
                <ul>
                  {r.many_changes.map((f) => (
                    <li key={f.run} data-run={f.run}>
                      <RunLink id={f.run} short={f.run} name={f.name} color /> <span class="faint">({f.owner})</span> changed {f.changes}
                    </li>
                  ))}
                </ul>
                <div class="muted" style={{ fontSize: "13px", marginTop: "6px" }}>
                  Which change mattered? Ablate it: <code>cairn ablate BASE RUN --seeds 3</code> runs each change alone and reports its contribution.
                </div>
              </>
            )}
          </div>
          <div class="card review-sec" id="refused">
            <h2>Refused duplicates</h2>
            <div>
              {r.refused_duplicates === 0 ? (
                <span class="faint">none</span>
              ) : (
                <>
                  <strong>{r.refused_duplicates}</strong> run{r.refused_duplicates === 1 ? " was" : "s were"} refused as repeats of a finished run — see the{" "}
                  <a href={paths.dashboard(project) + "#refusals"}>dashboard</a>.
                </>
              )}
            </div>
          </div>
        </div>
      )}
    </div>
  );
}

function Items({ id, title, empty, items }: { id: string; title: string; empty: string; items: ReviewItem[] }) {
  return (
    <div class="card review-sec" id={id} style={{ overflowX: "auto" }}>
      <h2>{title}</h2>
      {items.length === 0 ? (
        <div class="faint">{empty}</div>
      ) : (
        <table class="plain">
          <thead>
            <tr>
              <th>runs</th>
              <th>owner</th>
              <th>hypothesis</th>
              <th class="num">n</th>
              <th class="num">Δ [95% CI]</th>
              <th class="num">Holm p</th>
              <th>verdict</th>
            </tr>
          </thead>
          <tbody>
            {items.map((it) => (
              <tr key={it.runs.join(",")} data-runs={it.runs.join(",")}>
                <td>
                  {/* A run without a name is named by its short id: show it once. */}
                  {it.runs.length === 1 && it.runs[0] === it.name ? (
                    <RunLink id={it.runs[0]} short={it.runs[0]} name={it.name} />
                  ) : (
                    <>
                      {it.name}{" "}
                      <span class="faint">
                        (
                        {it.runs.map((r, i) => (
                          <span key={r}>
                            {i > 0 && ", "}
                            <RunLink id={r} short={r} name={r} />
                          </span>
                        ))}
                        )
                      </span>
                    </>
                  )}
                </td>
                <td>{it.owner}</td>
                <td>{it.hypothesis ?? <em class="faint">no hypothesis</em>}</td>
                <td class="num nowrap">
                  {it.comparison.n_candidate} vs {it.comparison.n_reference}
                </td>
                <td class="num ci">{fmtDiffCI(it.comparison.diff, it.comparison.ci)}</td>
                <td class="num">{fmtPValue(it.p_adjusted ?? it.comparison.p)}</td>
                <td>
                  <VerdictPill verdict={it.comparison.verdict} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

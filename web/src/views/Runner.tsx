// The runner's pages: the queue (where each job stands and why it waits), the agents
// (what each machine has, uses and how busy its GPUs are), and usage and cost.

import { api, type Job } from "../api";
import { Empty, ErrorBanner, RunLink, Seg, Time } from "../components/common";
import { useAsync, useDocumentTitle, useInterval } from "../hooks";
import { fmtAgo, fmtDuration, fmtNum } from "../lib/format";
import { useQueryState } from "../router";
import { bool, num, oneOf } from "../lib/urlstate";

const REFRESH_MS = 2000;

function where(j: Job): string {
  if (j.state === "queued") return j.reason ?? "";
  if (j.agent && (j.state === "assigned" || j.state === "running" || j.state === "stopping")) {
    const gpus = j.gpu_indices.length ? j.gpu_indices.join(",") : "none";
    return `on ${j.agent_name ?? j.agent} (GPUs ${gpus})${j.stop_reason ? `, stopping: ${j.stop_reason}` : ""}`;
  }
  return j.exit_code !== null ? `exit code ${j.exit_code}` : "";
}

const queueSchema = { all: bool(false) };

export function QueuePage() {
  useDocumentTitle("Queue");
  const [state, set] = useQueryState(queueSchema);
  const q = useAsync((sig) => api.queue(state.all, sig), [state.all]);
  useInterval(() => q.reload(), REFRESH_MS);
  if (q.error) return <ErrorBanner error={q.error} />;
  const jobs = q.data?.jobs ?? [];
  const now = Date.now();
  return (
    <div>
      <div class="page-head">
        <div>
          <h1>Queue</h1>
          <div class="sub">Jobs waiting and running, in the order the scheduler considers them, and why each waits.</div>
        </div>
        <Seg label="Show" value={state.all ? "all" : "open"} options={[["open", "Waiting and running"], ["all", "All jobs"]]} onChange={(v) => set({ all: v === "all" })} />
      </div>
      {(q.data?.warnings ?? []).map((w) => (
        <div class="banner err" key={w}>
          {w}
        </div>
      ))}
      {q.data && jobs.length === 0 ? (
        <Empty title="The queue is empty">
          Queue work with <code>cairn submit --gpus 1 -- python train.py</code>; start <code>cairn agent</code> on a machine to run it.
        </Empty>
      ) : (
        <table class="plain" id="queue">
          <thead>
            <tr>
              <th class="num">#</th>
              <th>Job</th>
              <th>Project</th>
              <th>Owner</th>
              <th>Team</th>
              <th>Priority</th>
              <th class="num">GPUs</th>
              <th>State</th>
              <th>Starts</th>
              <th>Why / where</th>
              <th class="num">Attempts</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((j) => (
              <tr key={j.run_id} data-job={j.short_id} data-state={j.state}>
                <td class="num">{j.position ? j.position : ""}</td>
                <td>
                  <RunLink id={j.run_id} short={j.short_id} name={j.name} />
                </td>
                <td>{j.project}</td>
                <td>{j.owner}</td>
                <td>{j.team ?? ""}</td>
                <td>
                  {j.priority}
                  {j.preemptible ? <span class="pill" title="may be preempted; resumes from its checkpoint"> preemptible</span> : null}
                </td>
                <td class="num">{j.resources.gpus}</td>
                <td>
                  <span class={`status ${j.state}`}>{j.state}</span>
                </td>
                <td>{j.state === "queued" && j.eta !== null ? (j.eta <= now ? "now" : `in ${fmtDuration(j.eta - now)}`) : j.started_at ? <Time ms={j.started_at} /> : ""}</td>
                <td class="why">{where(j)}</td>
                <td class="num" title={j.preemptions ? `${j.preemptions} preemption(s), ${fmtNum(j.lost_gpu_ms / 60000, 3)} GPU-minutes preempted` : undefined}>
                  {j.attempts}
                  {j.preemptions ? ` (${j.preemptions} preempted)` : ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function AgentsPage() {
  useDocumentTitle("Agents");
  const agents = useAsync((sig) => api.agents(sig), []);
  useInterval(() => agents.reload(), REFRESH_MS);
  if (agents.error) return <ErrorBanner error={agents.error} />;
  const list = agents.data ?? [];
  const total = list.filter((a) => a.state !== "lost").reduce((n, a) => n + a.gpus.length, 0);
  const used = list.filter((a) => a.state !== "lost").reduce((n, a) => n + a.used_gpus, 0);
  return (
    <div>
      <div class="page-head">
        <div>
          <h1>Agents</h1>
          <div class="sub">
            The machines that run jobs. {total > 0 ? `${used} of ${total} GPUs allocated (${Math.round((100 * used) / total)} %).` : ""}
          </div>
        </div>
      </div>
      {agents.data && list.length === 0 ? (
        <Empty title="No agent has registered">
          Start <code>cairn agent</code> on each machine that should run jobs (<code>--gpus fake:8</code> declares a pretend inventory for trying it out).
        </Empty>
      ) : (
        <table class="plain" id="agents">
          <thead>
            <tr>
              <th>Agent</th>
              <th>State</th>
              <th class="num">GPUs used</th>
              <th class="num">CPUs used</th>
              <th class="num">Memory used</th>
              <th class="num">GPU utilisation</th>
              <th>Jobs</th>
              <th>Last seen</th>
            </tr>
          </thead>
          <tbody>
            {list.map((a) => (
              <tr key={a.id} data-agent={a.name} data-state={a.state}>
                <td>
                  <b>{a.name}</b> <span class="faint">{a.host}</span>
                  {a.spot ? <span class="pill"> spot</span> : null}
                  {a.fake_gpus ? <span class="pill" title="a pretend inventory (--gpus fake:N)"> pretend GPUs</span> : null}
                </td>
                <td>
                  <span class={`status ${a.state === "alive" ? "running" : a.state === "lost" ? "failed" : "killed"}`}>{a.state}</span>
                </td>
                <td class="num">
                  {a.used_gpus}/{a.gpus.length} {a.gpu_type ?? ""}
                </td>
                <td class="num">
                  {a.used_cpus}/{a.cpus}
                </td>
                <td class="num">
                  {Math.round(a.used_mem_mb / 1024)}/{Math.round(a.mem_mb / 1024)} GB
                </td>
                <td class="num" title={a.gpu_utilisation !== null && a.gpu_utilisation < 5 && a.used_gpus > 0 ? "allocated GPUs are idle" : undefined}>
                  {a.gpu_utilisation === null ? "—" : `${Math.round(a.gpu_utilisation)} %`}
                </td>
                <td>{a.jobs.join(" ")}</td>
                <td>{fmtAgo(a.heartbeat_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

const usageSchema = {
  by: oneOf(["team", "user", "project", "budget"] as const, "team"),
  days: num(30, 1, 3650),
};

export function UsagePage() {
  useDocumentTitle("Usage");
  const [state, set] = useQueryState(usageSchema);
  const since = Date.now() - state.days * 86_400_000;
  const usage = useAsync((sig) => api.usage(state.by, since, sig), [state.by, state.days]);
  if (usage.error) return <ErrorBanner error={usage.error} />;
  const rows = usage.data?.rows ?? [];
  return (
    <div>
      <div class="page-head">
        <div>
          <h1>Usage and cost</h1>
          <div class="sub">Compute the runner allocated over the last {state.days} days, and what it cost at the configured prices.</div>
        </div>
        <Seg label="By" value={state.by} options={[["team", "Team"], ["user", "User"], ["project", "Project"], ["budget", "Budget"]]} onChange={(v) => set({ by: v })} />
        <Seg
          label="Since"
          value={String(state.days) as "7" | "30" | "90"}
          options={[
            ["7", "7 days"],
            ["30", "30 days"],
            ["90", "90 days"],
          ]}
          onChange={(v) => set({ days: Number(v) })}
        />
      </div>
      {usage.data && rows.length === 0 ? (
        <Empty title="No job used compute in this period" />
      ) : (
        <table class="plain" id="usage">
          <thead>
            <tr>
              <th>{state.by}</th>
              <th class="num">Jobs</th>
              <th class="num">GPU-hours</th>
              <th class="num">CPU-hours</th>
              <th class="num">Memory GB-hours</th>
              <th class="num">Cost</th>
              <th class="num">Preemptions</th>
              <th class="num">Preempted GPU-hours</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.key} data-key={r.key}>
                <td>{r.key}</td>
                <td class="num">{r.jobs}</td>
                <td class="num">{r.gpu_hours.toFixed(2)}</td>
                <td class="num">{r.cpu_hours.toFixed(2)}</td>
                <td class="num">{r.mem_gb_hours.toFixed(2)}</td>
                <td class="num">
                  {r.cost.toFixed(2)}
                  {r.limit ? <span class={r.cost >= 0.8 * r.limit ? "over" : "faint"}> of {r.limit.toFixed(2)} ({Math.round((100 * r.cost) / r.limit)} %)</span> : null}
                </td>
                <td class="num">{r.preemptions}</td>
                <td class="num">{r.lost_gpu_hours.toFixed(2)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

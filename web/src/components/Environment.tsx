// Where a run ran: OS, host, container, CPU, memory, GPUs, Python and its packages,
// allow-listed environment variables; anything else recorded is shown as a tree.

import { useState } from "preact/hooks";
import { fmtBytes, fmtValue } from "../lib/format";
import { ConfigTree } from "./ConfigTree";
import { Empty } from "./common";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown) => (v === null || v === undefined ? "—" : fmtValue(v));

export function EnvironmentView({ env }: { env: unknown }) {
  const [q, setQ] = useState("");
  if (!isObj(env) || Object.keys(env).length === 0) {
    return <Empty title="No environment recorded">Runs started with <code>cairn run</code> or the Python SDK record the OS, hardware and packages.</Empty>;
  }
  const os = isObj(env.os) ? env.os : {};
  const host = isObj(env.host) ? env.host : {};
  const cpu = isObj(env.cpu) ? env.cpu : {};
  const cont = isObj(env.container) ? env.container : null;
  const gpus = Array.isArray(env.gpus) ? (env.gpus as Obj[]) : [];
  const py = isObj(env.python) ? env.python : null;
  const pkgs = py && Array.isArray(py.packages) ? (py.packages as string[]) : [];
  const vars = isObj(env.env) ? env.env : {};
  const known = new Set(["os", "host", "cpu", "container", "gpus", "python", "env", "memory_bytes"]);
  const rest: Obj = {};
  for (const [k, v] of Object.entries(env)) if (!known.has(k)) rest[k] = v;
  const shownPkgs = pkgs.filter((p) => !q || p.toLowerCase().includes(q.toLowerCase()));
  return (
    <div class="cols2" id="environment">
      <div class="grid">
        <div class="card">
          <h3>Machine</h3>
          <dl class="kv">
            <dt>OS</dt>
            <dd>
              {str(os.name)} <span class="faint">({str(os.family)}, {str(os.arch)})</span>
            </dd>
            <dt>kernel</dt>
            <dd class="mono">{str(os.kernel)}</dd>
            <dt>host</dt>
            <dd>
              {str(host.hostname)} <span class="faint">as {str(host.user)}</span>
            </dd>
            <dt>CPU</dt>
            <dd>
              {str(cpu.model)} <span class="faint">· {str(cpu.cores)} cores</span>
            </dd>
            <dt>memory</dt>
            <dd>{typeof env.memory_bytes === "number" ? fmtBytes(env.memory_bytes) : "—"}</dd>
            {cont && cont.runtime ? (
              <>
                <dt>container</dt>
                <dd>
                  {str(cont.runtime)} {cont.image ? <span class="mono">{str(cont.image)}</span> : null} {cont.id ? <span class="faint mono">{String(cont.id).slice(0, 12)}</span> : null}
                </dd>
              </>
            ) : null}
          </dl>
        </div>
        <div class="card">
          <h3>GPUs</h3>
          {gpus.length === 0 ? (
            <div class="faint">none found</div>
          ) : (
            <table class="plain">
              <thead>
                <tr>
                  <th>#</th>
                  <th>name</th>
                  <th class="num">memory</th>
                  <th>driver / CUDA</th>
                </tr>
              </thead>
              <tbody>
                {gpus.map((g, i) => (
                  <tr key={i}>
                    <td>{str(g.index ?? i)}</td>
                    <td>{str(g.name)}</td>
                    <td class="num">{typeof g.memory_bytes === "number" ? fmtBytes(g.memory_bytes) : "—"}</td>
                    <td class="mono">
                      {str(g.driver)} / {str(g.cuda)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        {Object.keys(vars).length > 0 && (
          <div class="card">
            <h3>Environment variables</h3>
            <ConfigTree value={vars} query="" />
          </div>
        )}
        {Object.keys(rest).length > 0 && (
          <div class="card">
            <h3>Other</h3>
            <ConfigTree value={rest} query="" />
          </div>
        )}
      </div>
      <div class="card">
        <h3>Python</h3>
        {py ? (
          <>
            <dl class="kv" style={{ marginBottom: "10px" }}>
              <dt>version</dt>
              <dd>{str(py.version)}</dd>
              <dt>executable</dt>
              <dd class="mono">{str(py.executable)}</dd>
              <dt>packages</dt>
              <dd>{pkgs.length}</dd>
            </dl>
            <input type="search" placeholder="search packages…" value={q} onInput={(e) => setQ(e.currentTarget.value)} aria-label="Search packages" style={{ width: "100%", marginBottom: "8px" }} />
            <div style={{ maxHeight: "520px", overflow: "auto" }} class="tree" id="packages">
              {shownPkgs.map((p) => {
                const [name, ver] = p.split("==");
                return (
                  <div class="row" key={p}>
                    <span>{name}</span>
                    <span class="src mono">{ver}</span>
                  </div>
                );
              })}
            </div>
          </>
        ) : (
          <div class="faint">not a Python command, or not recorded</div>
        )}
      </div>
    </div>
  );
}

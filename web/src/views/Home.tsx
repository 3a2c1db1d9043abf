// The projects of this server, or how to record a first run when there are none.

import { api } from "../api";
import { ErrorBanner, GetStarted } from "../components/common";
import { useAsync, useDocumentTitle } from "../hooks";
import { fmtAgo } from "../lib/format";
import { paths } from "../router";

export function Home() {
  useDocumentTitle("");
  const projects = useAsync((sig) => api.projects(sig), []);
  if (projects.error) return <ErrorBanner error={projects.error} />;
  const list = (projects.data ?? []).filter((p) => !p.deleted_at);
  return (
    <div>
      <div class="page-head">
        <div>
          <h1>Projects</h1>
          <div class="sub">Every project on this server.</div>
        </div>
      </div>
      {!projects.data ? (
        <div class="projects">
          {[0, 1, 2].map((i) => (
            <div class="card skeleton" style={{ height: "96px" }} key={i} />
          ))}
        </div>
      ) : list.length === 0 ? (
        <GetStarted />
      ) : (
        <div class="projects" id="projects">
          {list.map((p) => (
            <a class="card" href={paths.dashboard(p.name)} key={p.id} data-project={p.name}>
              <h2 style={{ marginBottom: "4px" }}>{p.name}</h2>
              <div class="muted" style={{ minHeight: "20px" }}>
                {p.description}
              </div>
              <div class="faint" style={{ fontSize: "12.5px", marginTop: "6px" }}>
                {p.run_count.toLocaleString()} runs{p.primary_metric ? ` · primary metric ${p.primary_metric.key}` : ""} · created {fmtAgo(p.created_at)}
              </div>
            </a>
          ))}
        </div>
      )}
    </div>
  );
}

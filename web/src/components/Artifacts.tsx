// A run's artifacts as folders and files: browse, download, and preview images, text
// (diffs coloured, JSON indented) and CSV as a table.

import { api, type ArtifactInfo, type Run } from "../api";
import { useAsync } from "../hooks";
import { listFolder } from "../lib/artifacts";
import { parseCsv } from "../lib/csv";
import { fmtBytes, fmtTime } from "../lib/format";
import { UnifiedDiff } from "./DiffView";
import { Empty, ErrorBanner } from "./common";

const IMAGE = /\.(png|jpe?g|gif|webp|svg|bmp|avif)$/i;
const CSV = /\.(csv|tsv)$/i;
const TEXT = /\.(txt|log|out|err|json|jsonl|ya?ml|md|py|toml|cfg|ini|sh|js|ts|rs|c|h|cpp|hpp|java|go|r|sql|xml|html|css|env|diff|patch|ipynb)$|(^|\/)(README|LICENSE|Makefile|Dockerfile)$/i;
const PREVIEW_BYTES = 512 * 1024;

function Icon({ kind }: { kind: "dir" | "image" | "file" | "up" }) {
  const d = {
    dir: "M1.5 3.5h4l1.5 1.5h7.5v8h-13z",
    file: "M3.5 1.5h6l3 3v10h-9z M9.5 1.5v3h3",
    image: "M2 2.5h12v11h-12z M2 11l3.5-3.5 3 3 2-2 3.5 3.5",
    up: "M8 13V4 M4 7.5L8 3.5l4 4",
  }[kind];
  return (
    <svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true" style={{ flex: "none" }}>
      <path d={d} fill={kind === "dir" ? "var(--hover)" : "none"} stroke="var(--muted)" stroke-width="1.2" stroke-linejoin="round" />
    </svg>
  );
}

export function ArtifactBrowser({ run, path, onPath, tick }: { run: Run; path: string; onPath: (p: string) => void; tick: number }) {
  const list = useAsync((sig) => api.artifacts(run.id, "", sig), [run.id, run.status === "running" ? tick : 0]);
  if (list.error) return <ErrorBanner error={list.error} />;
  const all = list.data;
  if (!all) return <div class="skeleton" style={{ height: "240px" }} />;
  if (all.length === 0) return <Empty title="No artifacts">Upload files with <code>run.log_artifact("model.pt")</code>; <code>cairn run</code> stores the output log here.</Empty>;
  const file = all.find((a) => a.path === path);
  const dir = file ? path.split("/").slice(0, -1).join("/") : path;
  const entries = listFolder(all, dir);
  const crumbs = dir ? dir.split("/") : [];
  return (
    <div class="files">
      <div>
        <div class="muted" style={{ marginBottom: "6px" }}>
          <a href="#" onClick={(e) => (e.preventDefault(), onPath(""))}>
            artifacts
          </a>
          {crumbs.map((c, i) => (
            <span key={i}>
              {" / "}
              <a href="#" onClick={(e) => (e.preventDefault(), onPath(crumbs.slice(0, i + 1).join("/")))}>
                {c}
              </a>
            </span>
          ))}
        </div>
        <nav class="list" aria-label="Artifacts" id="artifact-list">
          {dir && (
            <a href="#" onClick={(e) => (e.preventDefault(), onPath(crumbs.slice(0, -1).join("/")))}>
              <Icon kind="up" /> ..
            </a>
          )}
          {entries.map((e) => (
            <a href="#" key={e.path} aria-current={e.path === path} data-path={e.path} onClick={(ev) => (ev.preventDefault(), onPath(e.path))}>
              <Icon kind={e.dir ? "dir" : IMAGE.test(e.name) ? "image" : "file"} />
              <span class="ellipsis">{e.name}</span>
              <span class="sz">{e.dir ? `${e.files} files` : fmtBytes(e.size)}</span>
            </a>
          ))}
        </nav>
      </div>
      <div>{file ? <Preview run={run} a={file} /> : <div class="preview faint">Choose a file to preview it.</div>}</div>
    </div>
  );
}

function Preview({ run, a }: { run: Run; a: ArtifactInfo }) {
  const url = api.artifactUrl(run.id, a.path);
  const kind = IMAGE.test(a.path) ? "image" : CSV.test(a.path) ? "csv" : TEXT.test(a.path) || a.size < 64 * 1024 ? "text" : "binary";
  const text = useAsync(
    async (sig) => (kind === "text" || kind === "csv" ? api.artifactText(run.id, a.path, { maxBytes: PREVIEW_BYTES, signal: sig }) : null),
    [run.id, a.path, a.blake3, kind],
  );
  return (
    <div class="preview" id="artifact-preview" data-kind={kind}>
      <div style={{ display: "flex", gap: "10px", alignItems: "center", marginBottom: "10px" }}>
        <strong class="mono">{a.path}</strong>
        <span class="faint">
          {fmtBytes(a.size)} · {fmtTime(a.created_at)}
        </span>
        <a class="btn small" href={url} download={a.path.split("/").pop()} style={{ marginLeft: "auto" }}>
          Download
        </a>
      </div>
      {kind === "image" && <img src={url} alt={a.path} />}
      {kind === "binary" && <div class="faint">Binary file; no preview.</div>}
      {text.error ? <ErrorBanner error={text.error} /> : null}
      {text.data && kind === "csv" && <CsvTable text={text.data.text} sep={/\.tsv$/i.test(a.path) ? "\t" : ","} partial={text.data.partial} />}
      {text.data && kind === "text" && <TextPreview path={a.path} text={text.data.text} partial={text.data.partial} />}
    </div>
  );
}

function TextPreview({ path, text, partial }: { path: string; text: string; partial: boolean }) {
  if (/\.(diff|patch)$/i.test(path)) return <UnifiedDiff text={text} />;
  let shown = text;
  if (/\.json$/i.test(path) && !partial) {
    try {
      shown = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      /* show as is */
    }
  }
  return (
    <>
      <pre>{shown}</pre>
      {partial && <div class="faint">… the first {fmtBytes(PREVIEW_BYTES)} are shown; download for the rest.</div>}
    </>
  );
}

function CsvTable({ text, sep, partial }: { text: string; sep: string; partial: boolean }) {
  const rows = parseCsv(text, { sep, maxRows: 501, truncated: partial });
  const [head, ...body] = rows;
  if (!head) return <div class="faint">empty</div>;
  return (
    <div style={{ overflow: "auto", maxHeight: "70vh" }}>
      <table class="plain" id="csv-preview">
        <thead>
          <tr>
            {head.map((h, i) => (
              <th key={i}>{h}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {body.slice(0, 500).map((r, i) => (
            <tr key={i}>
              {r.map((c, j) => (
                <td key={j} class={/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(c) ? "num" : ""}>
                  {c}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {(body.length > 500 || partial) && <div class="faint">showing the first {Math.min(500, body.length)} rows</div>}
    </div>
  );
}

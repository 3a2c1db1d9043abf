import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { ApiError, type RunStatus } from "../api";
import { runColor } from "../lib/color";
import { fmtAgo, fmtTime } from "../lib/format";
import { paths } from "../router";
import { useTheme } from "../hooks";

export function Status({ status }: { status: RunStatus | string }) {
  return <span class={`status ${status}`}>{status}</span>;
}

export function Swatch({ id }: { id: string }) {
  const theme = useTheme();
  return <span class="swatch" style={{ background: runColor(id, theme) }} aria-hidden="true" />;
}

export function RunLink({ id, name, short, color = false }: { id: string; name?: string; short?: string; color?: boolean }) {
  return (
    <a href={paths.run(short ?? id)} class="nowrap">
      {color && <Swatch id={id} />} {name || short || id.slice(0, 8)}
    </a>
  );
}

export function Time({ ms }: { ms: number | null | undefined }) {
  if (ms === null || ms === undefined) return <span class="faint">—</span>;
  return <time dateTime={new Date(ms).toISOString()} title={fmtTime(ms)}>{fmtAgo(ms)}</time>;
}

export function Tags({ tags }: { tags: Record<string, string> }) {
  const entries = Object.entries(tags);
  if (entries.length === 0) return <span class="faint">none</span>;
  return (
    <span style={{ display: "inline-flex", flexWrap: "wrap", gap: "4px" }}>
      {entries.map(([k, v]) => (
        <span class="pill tag" key={k}>
          {k}
          {v ? `=${v}` : ""}
        </span>
      ))}
    </span>
  );
}

export function ErrorBanner({ error }: { error: unknown }) {
  if (!error) return null;
  const msg = error instanceof ApiError ? `${error.message} (${error.code})` : error instanceof Error ? error.message : String(error);
  return (
    <div class="banner err" role="alert">
      {msg}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <div style={{ fontSize: "15px", color: "var(--fg)", marginBottom: "4px" }}>{title}</div>
      {children}
    </div>
  );
}

export const GET_STARTED = `cairn run --hypothesis "a wider model lowers val loss" -- python train.py`;

export function GetStarted({ project }: { project?: string }) {
  return (
    <Empty title={project ? `No runs in ${project} yet` : "No runs yet"}>
      <div>Record your first experiment: wrap the training command with <code>cairn run</code>.</div>
      <pre>
        {project ? `cairn run --project ${project} --hypothesis "a wider model lowers val loss" -- python train.py` : GET_STARTED}
      </pre>
      <div style={{ marginTop: "8px" }}>or from Python: <code>import cairn; run = cairn.init(hypothesis="…")</code></div>
    </Empty>
  );
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="btn small"
      onClick={() => {
        navigator.clipboard?.writeText(text).then(() => {
          setDone(true);
          setTimeout(() => setDone(false), 1200);
        });
      }}
    >
      {done ? "Copied" : label}
    </button>
  );
}

export function Seg<T extends string>({ value, options, onChange, label }: { value: T; options: [T, string][]; onChange: (v: T) => void; label: string }) {
  return (
    <span class="seg" role="group" aria-label={label}>
      {options.map(([v, l]) => (
        <button type="button" key={v} aria-pressed={v === value} onClick={() => onChange(v)}>
          {l}
        </button>
      ))}
    </span>
  );
}

// The run's output log (`logs/output.log`). While the run is live the log is re-read
// every tick, asking only for the bytes after what is shown (a Range request; a server
// without Range support sends it all and the new part is cut here).

import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, isAbort, type Run } from "../api";
import { fmtBytes } from "../lib/format";
import { Empty } from "./common";

const LOG = "logs/output.log";
const MAX_CHARS = 2_000_000;
/** Bytes read at a time. */
const CHUNK = 1 << 20;

export function LogView({ run, tick, follow, onFollow }: { run: Run; tick: number; follow: boolean; onFollow: (f: boolean) => void }) {
  const [text, setText] = useState("");
  const [size, setSize] = useState(0);
  const [state, setState] = useState<"loading" | "ok" | "missing" | "error">("loading");
  const [msg, setMsg] = useState("");
  const offset = useRef(0);
  const box = useRef<HTMLPreElement>(null);

  useEffect(() => {
    offset.current = 0;
    setText("");
    setState("loading");
  }, [run.id]);

  useEffect(() => {
    const ac = new AbortController();
    let from = offset.current;
    const read = async () => {
      let r = await api.artifactText(run.id, LOG, { fromByte: from, maxBytes: CHUNK, signal: ac.signal });
      if (from > 0 && r.size < from) {
        // The log was stored anew and is shorter than what is shown: read it again.
        from = 0;
        r = await api.artifactText(run.id, LOG, { fromByte: 0, maxBytes: CHUNK, signal: ac.signal });
      }
      let text = r.text;
      // A long log: show its end, not its start (a second ranged read).
      if (from === 0 && r.partial && r.size > CHUNK) {
        r = await api.artifactText(run.id, LOG, { fromByte: r.size - CHUNK, maxBytes: CHUNK, signal: ac.signal });
        text = `… (the first ${fmtBytes(r.size - CHUNK)} are not shown; download the log for all of it)\n` + r.text.slice(r.text.indexOf("\n") + 1);
      }
      return { r, text };
    };
    read()
      .then(({ r, text }) => {
        if (ac.signal.aborted) return;
        offset.current = r.end ?? from + r.text.length;
        setSize(r.size);
        setState("ok");
        if (text) setText((t) => (from === 0 ? text : t + text).slice(-MAX_CHARS));
      })
      .catch((e) => {
        if (isAbort(e)) return;
        if (e instanceof ApiError && (e.code === "artifact_not_found" || e.status === 404)) setState("missing");
        else {
          setState("error");
          setMsg(e instanceof Error ? e.message : String(e));
        }
      });
    return () => ac.abort();
  }, [run.id, tick, run.status]);

  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [text, follow]);

  if (state === "missing") {
    return (
      <Empty title={run.status === "running" ? "No log yet" : "No output log"}>
        {run.status === "running"
          ? "This server receives the output log when the command ends; it will appear here then (without reloading)."
          : "Runs started with cairn run store what the command printed here."}
      </Empty>
    );
  }
  return (
    <div>
      <div class="toolbar">
        <label class="inline">
          <input type="checkbox" checked={follow} onChange={(e) => onFollow(e.currentTarget.checked)} /> follow
        </label>
        <span class="faint">
          {fmtBytes(size)}
          {run.status === "running" ? " · live" : ""}
        </span>
        <a class="btn small" href={api.artifactUrl(run.id, LOG)} download="output.log">
          Download
        </a>
        {state === "error" && <span class="err">{msg}</span>}
      </div>
      <pre class="log" ref={box} id="log" onScroll={(e) => {
        const el = e.currentTarget;
        const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < 30;
        if (follow && !atEnd) onFollow(false);
      }}>
        {state === "loading" ? "loading…" : text}
      </pre>
    </div>
  );
}

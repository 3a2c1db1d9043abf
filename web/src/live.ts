// Keeping a running run up to date: the server-sent events stream proposed in
// SERVER-NEEDS.md when the server has it, else polling every two seconds. Either way
// the page re-reads the run (and its metric summaries change, which makes charts fetch
// the new points).

import { useEffect, useRef, useState } from "preact/hooks";
import { api, isAbort, type Run } from "./api";

export const POLL_MS = 2000;

export function isLive(r: Run | undefined): boolean {
  return !!r && (r.status === "running" || r.status === "queued");
}

export function useLiveRun(id: string) {
  const [run, setRun] = useState<Run | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [logTick, setLogTick] = useState(0);
  const ac = useRef<AbortController | null>(null);

  const load = () => {
    ac.current?.abort();
    const c = new AbortController();
    ac.current = c;
    return api.run(id, c.signal).then(
      (r) => {
        if (c.signal.aborted) return;
        setRun(r);
        setError(null);
      },
      (e) => !isAbort(e) && setError(e),
    );
  };

  useEffect(() => {
    setRun(undefined);
    setError(null);
    load();
    return () => ac.current?.abort();
  }, [id]);

  const live = isLive(run);
  useEffect(() => {
    if (!live) return;
    let stopped = false;
    let timer = 0;
    let es: EventSource | null = null;
    const poll = () => {
      if (stopped) return;
      load().finally(() => {
        if (!stopped) {
          setLogTick((t) => t + 1);
          timer = window.setTimeout(poll, POLL_MS);
        }
      });
    };
    if (api.hasEvents() && typeof EventSource !== "undefined") {
      es = new EventSource(`/api/v1/runs/${encodeURIComponent(id)}/events`);
      let opened = false;
      es.onopen = () => (opened = true);
      const refresh = () => load();
      es.addEventListener("run", refresh);
      es.addEventListener("metrics", refresh);
      es.addEventListener("log", () => setLogTick((t) => t + 1));
      es.addEventListener("end", () => {
        es?.close();
        load();
      });
      es.onerror = () => {
        if (!opened) {
          // No such endpoint on this server: poll instead, and do not try again.
          api.markMissing("events");
          es?.close();
          es = null;
          poll();
        }
      };
    } else poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
      es?.close();
    };
  }, [id, live]);

  return { run, error, reload: load, logTick, live };
}

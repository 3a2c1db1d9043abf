// Runs as the table sees them: column values by field, paging through search results,
// fetching everything that matches (for CSV, groups and parallel coordinates) and the
// keys a project's runs use.

import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, isAbort, LEAN_FIELDS, num, type Run, type SearchQuery } from "./api";
import type { Keys } from "./lib/completion";
import { parseField, type Field } from "./lib/fields";
import { flatten, getPath, meaning } from "./lib/flatten";

const ATTR_VALUE: Record<string, (r: Run) => unknown> = {
  id: (r) => r.id,
  short_id: (r) => r.short_id,
  name: (r) => r.name,
  description: (r) => r.description,
  hypothesis: (r) => r.hypothesis,
  owner: (r) => r.owner,
  status: (r) => r.status,
  project: (r) => r.project,
  group: (r) => r.group_id,
  created: (r) => r.created_at,
  started: (r) => r.started_at,
  ended: (r) => r.ended_at,
  fingerprint: (r) => r.fingerprint,
};

export function fieldValue(r: Run, f: Field): unknown {
  switch (f.kind) {
    case "attr":
      return ATTR_VALUE[f.key]?.(r);
    case "param":
      return getPath(r.config, f.key);
    case "tag":
      return r.tags[f.key];
    case "metric": {
      const m = r.metrics.find((x) => x.key === f.key);
      if (!m) return undefined;
      if (f.agg === "min") return num(m.min);
      if (f.agg === "max") return num(m.max);
      if (f.agg === "count") return m.count;
      return num(m.last);
    }
  }
}

const fieldCache = new Map<string, Field | null>();
export function field(text: string): Field | null {
  let f = fieldCache.get(text);
  if (f === undefined) {
    f = parseField(text);
    fieldCache.set(text, f);
  }
  return f;
}

/** The value of column `text` (field text) for a run. */
export function valueOf(r: Run, text: string): unknown {
  const f = field(text);
  return f ? fieldValue(r, f) : undefined;
}

/** The value of column `text` as runs are compared: params by what they mean (`"1e-3"` is 0.001). */
export function meantOf(r: Run, text: string): unknown {
  const f = field(text);
  if (!f) return undefined;
  const v = fieldValue(r, f);
  return f.kind === "param" ? meaning(v) : v;
}

export const TIME_ATTRS = new Set(["created", "started", "ended"]);

/** Keys used by some runs: params (flattened config), metrics, tags. */
export function keysOf(runs: Iterable<Run>, into?: Keys): Keys {
  const p = new Set(into?.params);
  const m = new Set(into?.metrics);
  const t = new Set(into?.tags);
  for (const r of runs) {
    for (const k of flatten(r.config).keys()) p.add(k);
    for (const s of r.metrics) m.add(s.key);
    for (const k of Object.keys(r.tags)) t.add(k);
  }
  const sort = (s: Set<string>) => [...s].sort((a, b) => a.localeCompare(b));
  return { params: sort(p), metrics: sort(m), tags: sort(t) };
}

export interface Pager {
  /** The runs from the first on, as far as paged through in order. */
  rows: Run[];
  /** Bumped whenever rows change (rows is appended to in place). */
  version: number;
  done: boolean;
  loading: boolean;
  error: ApiError | Error | null;
  /** Time from asking to showing the first page, ms. */
  firstPageMs: number | null;
  /** The rows are those of the previous query while the new one loads. */
  stale: boolean;
  /** Runs matching the query, when the server tells (SERVER-NEEDS.md §5). */
  total: number | null;
  /** `total` is the server's estimate (past 10,000 matches). */
  estimated: boolean;
  /** The run at position `i` of the result, when loaded (past `rows`, by a jump). */
  rowAt: (i: number) => Run | undefined;
  /** Rows `from`..`to` are in view: loads what they need (the next page, or a jump). */
  need: (from: number, to: number) => void;
  loadMore: () => void;
  reload: () => void;
}

/** Rows fetched by position when the view jumps past what was paged in order. */
const JUMP_PAGE = 100;
/** Past this many rows beyond those loaded, a scroll jumps instead of paging on. */
const JUMP_AFTER = 2000;

/**
 * Pages through the runs matching `q`. The first page is small, for a quick first
 * paint; later pages are large. When `q` changes the old rows stay until the new first
 * page arrives, so the table does not flash empty. A view far past the rows loaded in
 * order (the scrollbar dragged to the middle of a million runs) fetches the pages at
 * that position, in the snapshot of the first page, instead of everything before it.
 */
export function usePager(q: SearchQuery | null, opts: { first?: number; page?: number; total?: number | null } = {}): Pager {
  const first = opts.first ?? 100;
  const page = opts.page ?? 500;
  const [, force] = useState(0);
  const st = useRef({
    total: null as number | null,
    estimated: false,
    resetting: false,
    rows: [] as Run[],
    cursor: null as string | null,
    /** The first page's cursor: its snapshot is where jumps read. */
    snapshot: null as string | null,
    far: new Map<number, Run[]>(),
    farWant: -1,
    done: false,
    loading: false,
    error: null as ApiError | Error | null,
    version: 0,
    firstPageMs: null as number | null,
  });
  const ac = useRef<AbortController | null>(null);
  const countAc = useRef<AbortController | null>(null);
  const farAc = useRef<AbortController | null>(null);
  // A total the caller knows (a project's run count, without a filter): no count request.
  const knownTotal = useRef<number | null>(null);
  knownTotal.current = opts.total ?? null;
  const key = q ? JSON.stringify(q) : "";
  const [tick, setTick] = useState(0);

  const fetchPage = useCallback(
    (reset: boolean) => {
      if (!q) return;
      const s = st.current;
      if (!reset && (s.loading || s.done)) return;
      ac.current?.abort();
      const ctl = new AbortController();
      ac.current = ctl;
      s.loading = true;
      s.resetting = reset;
      const t0 = performance.now();
      if (reset) {
        performance.mark("cairn:query-start");
        s.total = null;
        s.estimated = false;
        countAc.current?.abort();
        farAc.current?.abort();
      }
      force((n) => n + 1);
      api
        .search({ ...q, limit: reset ? first : page, cursor: reset ? null : s.cursor, fields: LEAN_FIELDS }, ctl.signal)
        .then((res) => {
          if (ctl.signal.aborted) return;
          if (reset) {
            s.rows = res.runs;
            s.far = new Map();
            s.farWant = -1;
            s.snapshot = res.next_cursor;
            s.firstPageMs = performance.now() - t0;
            // The number of matches, asked for once the rows are in: counting 50,000 runs
            // takes longer than the first page, which should not wait or compete for it.
            if (res.next_cursor && knownTotal.current === null && api.mayCount()) {
              const cc = new AbortController();
              countAc.current = cc;
              api.search({ ...q, limit: 1, count: true, fields: [], cursor: res.next_cursor, offset: 0 }, cc.signal).then(
                (r) => {
                  if (cc.signal.aborted || r.total === undefined) return;
                  s.total = r.total;
                  s.estimated = !!r.total_estimated;
                  force((n) => n + 1);
                },
                () => {},
              );
            } else if (!res.next_cursor) s.total = res.runs.length;
          } else {
            s.rows.push(...res.runs);
            // Jumped-to pages that paging in order has now passed.
            for (const k of [...s.far.keys()]) if ((k + 1) * JUMP_PAGE <= s.rows.length) s.far.delete(k);
          }
          s.cursor = res.next_cursor;
          s.done = !res.next_cursor;
          if (s.done) settle(s, s.rows.length);
          s.error = null;
          s.loading = false;
          s.resetting = false;
          s.version++;
          force((n) => n + 1);
        })
        .catch((e) => {
          if (ctl.signal.aborted || isAbort(e)) return;
          s.loading = false;
          s.resetting = false;
          s.error = e instanceof Error ? e : new Error(String(e));
          if (reset) s.done = true;
          s.version++;
          force((n) => n + 1);
        });
    },
    [key, first, page],
  );

  // Pages `from`..`to` (of JUMP_PAGE rows) by position; the newest jump wins.
  const fetchFar = useCallback(
    (from: number, to: number) => {
      const s = st.current;
      if (!q || !s.snapshot) return;
      const want = from * 1_000_003 + to;
      if (s.farWant === want) return;
      s.farWant = want;
      farAc.current?.abort();
      const ctl = new AbortController();
      farAc.current = ctl;
      const offset = from * JUMP_PAGE;
      const limit = (to - from + 1) * JUMP_PAGE;
      api.search({ ...q, limit, cursor: s.snapshot, offset, fields: LEAN_FIELDS }, ctl.signal).then(
        (res) => {
          if (ctl.signal.aborted) return;
          for (let k = from; k <= to; k++) s.far.set(k, res.runs.slice((k - from) * JUMP_PAGE, (k - from + 1) * JUMP_PAGE));
          // Fewer than asked: the result ends here (an estimated total was too high);
          // more than the estimate: it goes on at least this far.
          if (res.runs.length < limit) settle(s, offset + res.runs.length);
          else if (s.total !== null && offset + limit > s.total) s.total = offset + limit;
          s.farWant = -1;
          s.version++;
          force((n) => n + 1);
        },
        (e) => {
          if (ctl.signal.aborted || isAbort(e)) return;
          s.farWant = -1;
          s.error = e instanceof Error ? e : new Error(String(e));
          s.version++;
          force((n) => n + 1);
        },
      );
    },
    [key],
  );

  // A layout effect: the request leaves in the same task as the render that changed the
  // query, not a frame later.
  useLayoutEffect(() => {
    st.current.done = false;
    st.current.cursor = null;
    fetchPage(true);
    return () => {
      ac.current?.abort();
      countAc.current?.abort();
      farAc.current?.abort();
    };
  }, [fetchPage, tick]);

  const s = st.current;
  const rowAt = (i: number): Run | undefined => (i < s.rows.length ? s.rows[i] : s.far.get(Math.floor(i / JUMP_PAGE))?.[i % JUMP_PAGE]);
  const need = (from: number, to: number) => {
    if (s.resetting || s.done) return;
    if (from <= s.rows.length + JUMP_AFTER) {
      if (to >= s.rows.length - 40) fetchPage(false);
      return;
    }
    let a = Math.floor(from / JUMP_PAGE);
    let b = Math.floor(to / JUMP_PAGE);
    while (a <= b && s.far.has(a)) a++;
    while (b >= a && s.far.has(b)) b--;
    if (a <= b) fetchFar(a, b);
  };
  return {
    rows: s.rows,
    version: s.version,
    done: s.done,
    loading: s.loading,
    error: s.error,
    firstPageMs: s.firstPageMs,
    stale: s.resetting && s.rows.length > 0,
    // The caller's exact total (the project's run count, no filter) wins over an estimate.
    total: knownTotal.current ?? s.total,
    estimated: knownTotal.current === null && s.total !== null && s.estimated,
    rowAt,
    need,
    loadMore: () => fetchPage(false),
    reload: () => setTick((t) => t + 1),
  };
}

/** The result is known to hold exactly `n` runs. */
function settle(s: { total: number | null; estimated: boolean }, n: number) {
  if (s.total === null || s.estimated || s.total !== n) {
    s.total = n;
    s.estimated = false;
  }
}

/**
 * Every run matching `q` (pages of 1000), up to `cap`. `onProgress` is told the count so
 * far. Returns the runs and whether the cap cut the list short.
 */
export async function fetchAll(
  q: SearchQuery,
  opts: { cap?: number; signal?: AbortSignal; onProgress?: (n: number) => void } = {},
): Promise<{ runs: Run[]; capped: boolean }> {
  const cap = opts.cap ?? Infinity;
  const runs: Run[] = [];
  let cursor: string | null = null;
  for (;;) {
    const res = await api.search({ fields: LEAN_FIELDS, ...q, limit: 1000, cursor }, opts.signal);
    runs.push(...res.runs);
    opts.onProgress?.(runs.length);
    cursor = res.next_cursor;
    if (!cursor) return { runs, capped: false };
    if (runs.length >= cap) return { runs: runs.slice(0, cap), capped: true };
  }
}

/** A project's keys: the server's list when it has one, else those of recent runs. */
export function useProjectKeys(project: string, seen: Run[], version: number): Keys {
  const [server, setServer] = useState<Keys | null | undefined>(undefined);
  useEffect(() => {
    const ac = new AbortController();
    setServer(undefined);
    api.keys(project, ac.signal).then(
      (k) => setServer(k ?? null),
      (e) => !isAbort(e) && setServer(null),
    );
    return () => ac.abort();
  }, [project]);
  const cache = useRef<{ version: number; n: number; keys: Keys }>({ version: -1, n: 0, keys: { params: [], metrics: [], tags: [] } });
  if (server) return server;
  const c = cache.current;
  if (c.version !== version) {
    // Only look at rows not seen yet (pages are appended), at most the first 5,000.
    const upto = Math.min(seen.length, 5000);
    if (upto < c.n) c.keys = keysOf(seen.slice(0, upto));
    else if (upto > c.n) c.keys = keysOf(seen.slice(c.n, upto), c.keys);
    c.n = upto;
    c.version = version;
  }
  return c.keys;
}

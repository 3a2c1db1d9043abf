// Small hooks shared by the pages.

import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { isAbort } from "./api";
import type { Theme } from "./lib/color";

export interface Async<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `fn` when `deps` change, aborting the previous call. Old data stays shown while
 * new data loads (no layout jumps); `reload` re-runs it without clearing.
 */
export function useAsync<T>(fn: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const ac = new AbortController();
    setState((s) => (s.loading ? s : { ...s, loading: true }));
    fn(ac.signal).then(
      (data) => !ac.signal.aborted && setState({ data, error: undefined, loading: false }),
      (error) => !ac.signal.aborted && !isAbort(error) && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => ac.abort();
    // `fn` is a fresh closure each render; `deps` say when its result changes.
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

export function useInterval(fn: () => void, ms: number, active = true) {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (!active) return;
    const id = setInterval(() => ref.current(), ms);
    return () => clearInterval(id);
  }, [ms, active]);
}

export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const id = setTimeout(() => setV(value), ms);
    return () => clearTimeout(id);
  }, [value, ms]);
  return v;
}

function effectiveTheme(): Theme {
  const t = document.documentElement.dataset.theme;
  if (t === "light" || t === "dark") return t;
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

const themeListeners = new Set<() => void>();
window.matchMedia?.("(prefers-color-scheme: dark)").addEventListener?.("change", () => themeListeners.forEach((l) => l()));

export function setThemePreference(t: "light" | "dark" | "auto") {
  if (t === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  try {
    if (t === "auto") localStorage.removeItem("cairn.theme");
    else localStorage.setItem("cairn.theme", t);
  } catch {
    /* storage may be off */
  }
  themeListeners.forEach((l) => l());
}

export function themePreference(): "light" | "dark" | "auto" {
  const t = document.documentElement.dataset.theme;
  return t === "light" || t === "dark" ? t : "auto";
}

export function useTheme(): Theme {
  const [t, setT] = useState(effectiveTheme);
  useEffect(() => {
    const l = () => setT(effectiveTheme());
    themeListeners.add(l);
    return () => void themeListeners.delete(l);
  }, []);
  return t;
}

/** The content width of an element, updated on resize. */
export function useWidth<E extends HTMLElement>(): [(el: E | null) => void, number] {
  const [w, setW] = useState(0);
  const obs = useRef<ResizeObserver | null>(null);
  const ref = useCallback((el: E | null) => {
    obs.current?.disconnect();
    if (!el) return;
    setW(el.clientWidth);
    obs.current = new ResizeObserver((entries) => {
      const cw = Math.round(entries[0]!.contentRect.width);
      setW((old) => (old === cw ? old : cw));
    });
    obs.current.observe(el);
  }, []);
  useEffect(() => () => obs.current?.disconnect(), []);
  return [ref, w];
}

/** Whether an element has come near the viewport (charts load only then). */
export function useVisible<E extends HTMLElement>(): [(el: E | null) => void, boolean] {
  const [seen, setSeen] = useState(false);
  const obs = useRef<IntersectionObserver | null>(null);
  const ref = useCallback((el: E | null) => {
    obs.current?.disconnect();
    if (!el) return;
    obs.current = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) {
          setSeen(true);
          obs.current?.disconnect();
        }
      },
      { rootMargin: "300px" },
    );
    obs.current.observe(el);
  }, []);
  useEffect(() => () => obs.current?.disconnect(), []);
  return [ref, seen];
}

export function useDocumentTitle(title: string) {
  useLayoutEffect(() => {
    document.title = title ? `${title} · Cairn` : "Cairn";
  }, [title]);
}

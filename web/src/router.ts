// Client-side routing: the path picks the page, the query string holds the page's view
// state. Links are plain <a href>; clicks on same-origin links are turned into history
// pushes, so opening a link in a new tab or copying it behaves as on any web page.

import { useEffect, useState } from "preact/hooks";
import { decode, encode, type Schema, type StateOf } from "./lib/urlstate";

type Listener = () => void;
const listeners = new Set<Listener>();
let current = { path: location.pathname, search: location.search };

function update() {
  const next = { path: location.pathname, search: location.search };
  if (next.path === current.path && next.search === current.search) return;
  current = next;
  for (const l of [...listeners]) l();
}

window.addEventListener("popstate", update);

export function navigate(url: string, opts: { replace?: boolean } = {}) {
  const u = new URL(url, location.href);
  const target = u.pathname + u.search + u.hash;
  if (target === location.pathname + location.search + location.hash) return;
  if (opts.replace) history.replaceState(null, "", target);
  else history.pushState(null, "", target);
  if (!opts.replace && u.pathname !== current.path) window.scrollTo(0, 0);
  update();
}

document.addEventListener("click", (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest?.("a");
  if (!a || a.target || a.hasAttribute("download")) return;
  const href = a.getAttribute("href");
  if (!href || href.startsWith("#")) return;
  const u = new URL(href, location.href);
  if (u.origin !== location.origin || u.pathname.startsWith("/api/")) return;
  e.preventDefault();
  navigate(u.pathname + u.search + u.hash);
});

export function useLocation() {
  const [, force] = useState(0);
  useEffect(() => {
    const l = () => force((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return current;
}

/**
 * A page's view state from the query string, and a setter that writes it back. Typing
 * replaces the history entry (`replace: true`); deliberate changes push one, so Back
 * undoes them.
 */
export function useQueryState<S extends Schema>(schema: S): [StateOf<S>, (p: Partial<StateOf<S>>, opts?: { replace?: boolean }) => void] {
  const loc = useLocation();
  const state = decode(schema, loc.search);
  const set = (p: Partial<StateOf<S>>, opts: { replace?: boolean } = {}) => {
    const now = decode(schema, location.search);
    const qs = encode(schema, { ...now, ...p }, new URLSearchParams(location.search));
    navigate(location.pathname + (qs ? "?" + qs : ""), opts);
  };
  return [state, set];
}

/** A link to `path` with view state `state` of `schema`. */
export function href<S extends Schema>(path: string, schema?: S, state?: Partial<StateOf<S>>): string {
  if (!schema || !state) return path;
  const qs = encode(schema, state);
  return path + (qs ? "?" + qs : "");
}

export type Route =
  | { page: "home" }
  | { page: "dashboard"; project: string }
  | { page: "runs"; project: string }
  | { page: "compare"; project: string }
  | { page: "insights"; project: string }
  | { page: "review"; project: string }
  | { page: "run"; run: string }
  | { page: "queue" }
  | { page: "agents" }
  | { page: "usage" }
  | { page: "notfound" };

export function matchRoute(path: string): Route {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: "home" };
  if (parts[0] === "p" && parts.length >= 2) {
    const project = parts[1]!;
    if (parts.length === 2) return { page: "dashboard", project };
    if (parts[2] === "runs" && parts.length === 3) return { page: "runs", project };
    if (parts[2] === "compare" && parts.length === 3) return { page: "compare", project };
    if (parts[2] === "insights" && parts.length === 3) return { page: "insights", project };
    if (parts[2] === "review" && parts.length === 3) return { page: "review", project };
  }
  if (parts[0] === "r" && parts.length === 2) return { page: "run", run: parts[1]! };
  if (parts.length === 1 && (parts[0] === "queue" || parts[0] === "agents" || parts[0] === "usage")) return { page: parts[0] };
  return { page: "notfound" };
}

export const paths = {
  dashboard: (project: string) => `/p/${encodeURIComponent(project)}`,
  runs: (project: string) => `/p/${encodeURIComponent(project)}/runs`,
  compare: (project: string) => `/p/${encodeURIComponent(project)}/compare`,
  insights: (project: string) => `/p/${encodeURIComponent(project)}/insights`,
  review: (project: string) => `/p/${encodeURIComponent(project)}/review`,
  run: (id: string) => `/r/${encodeURIComponent(id)}`,
  queue: "/queue",
  agents: "/agents",
  usage: "/usage",
};

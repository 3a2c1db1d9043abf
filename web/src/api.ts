// The REST API (docs/rest-api.md), typed. Everything the UI reads goes through here.
// Endpoints proposed in SERVER-NEEDS.md are tried once and, when the server answers
// `not_found`, remembered as missing so the fallback is used without asking again.

import type { ProjectSummary } from "./lib/summary";

export type RunStatus = "queued" | "running" | "finished" | "failed" | "killed" | "crashed";
export type Direction = "increase" | "decrease";
/** Non-finite values come as strings. */
export type Float = number | "NaN" | "Infinity" | "-Infinity";

export interface Project {
  id: number;
  name: string;
  description: string;
  require_hypothesis: boolean;
  primary_metric: { key: string; direction: Direction } | null;
  created_at: number;
  run_count: number;
  updated_at: number | null;
  tags: Record<string, string>;
  deleted_at: number | null;
}

export interface MetricSummary {
  key: string;
  count: number;
  last: Float | null;
  last_step: number | null;
  last_timestamp: number | null;
  min: Float | null;
  min_step: number | null;
  max: Float | null;
  max_step: number | null;
}

export interface CodeInfo {
  versioned: boolean;
  commit: string | null;
  branch: string | null;
  remote: string | null;
  dirty: boolean;
  diff_artifact: string | null;
  untracked: Record<string, string>;
  diff_hash: string | null;
  modified: Record<string, string>;
}

export interface Dataset {
  path: string;
  hash: string;
  files: number;
  bytes: number;
  manifest_artifact: string | null;
}

export interface RunChanges {
  against: string;
  against_short_id: string;
  basis: "parent" | "nearest";
  params: { key: string; before?: unknown; after?: unknown }[];
  code: { commit_before: string | null; commit_after: string | null; files: string[] } | null;
  data: { path: string; before: string | null; after: string | null }[];
  environment: { what: string; before: string | null; after: string | null }[];
  command: { key: string; before?: unknown; after?: unknown } | null;
}

export interface Run {
  id: string;
  short_id: string;
  project: string;
  name: string;
  description: string;
  hypothesis: string | null;
  expected: { metric: string; direction: Direction; size: number | null } | null;
  verdict: { outcome: "confirmed" | "refuted" | "inconclusive"; at: number; note: string | null } | null;
  owner: string;
  tags: Record<string, string>;
  status: RunStatus;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  exit_code: number | null;
  config: Record<string, unknown>;
  command: string[];
  code: CodeInfo | null;
  data: { datasets: Dataset[] } | null;
  environment: unknown;
  seeds: number[];
  parents: string[];
  children: string[];
  group_id: string | null;
  fingerprint: string | null;
  metrics: MetricSummary[];
  deleted_at: number | null;
  updated_at: number;
  changes?: RunChanges | null;
  config_sources?: Record<string, string>;
}

export interface RunBrief {
  id: string;
  short_id: string;
  project: string;
  name: string;
  status: RunStatus;
  created_at: number;
}

export interface History {
  run: string;
  key: string;
  downsampled: boolean;
  total: number;
  steps: number[];
  values: (Float | null)[];
  timestamps: number[];
}

export interface ArtifactInfo {
  path: string;
  size: number;
  blake3: string;
  created_at: number;
}

export interface SearchQuery {
  project?: string;
  filter?: string;
  order_by?: string;
  limit?: number;
  cursor?: string | null;
  /** Proposed (SERVER-NEEDS.md §5): also answer the number of matching runs. */
  count?: boolean;
  /** Proposed (SERVER-NEEDS.md §5): only these heavy members of each Run. */
  fields?: string[];
  /** Start at this position of the result (with `cursor`, in that cursor's snapshot). */
  offset?: number;
  /**
   * Instead of a page, at most this many runs spread over the whole result (every k-th
   * in order while it is small, else a sample stratified by creation time); the answer
   * says which in `sample`.
   */
  sample?: number;
}

/** What the table, parallel coordinates, groups, CSV and dashboard read of a run. */
export const LEAN_FIELDS = ["config", "metrics", "tags"];

export interface SearchPage {
  runs: Run[];
  next_cursor: string | null;
  /** Proposed (SERVER-NEEDS.md): runs matching the filter in all pages. */
  total?: number;
  /** `total` is an estimate (past 10,000 matches the server may estimate). */
  total_estimated?: boolean;
  /** With `sample`: how the runs were chosen, in words. */
  sample?: string;
}

// ---- statistics (issue 6): insights, studies, weekly review, comparisons ----

export type Verdict = "better" | "worse" | "not_distinguishable" | "cannot_tell";

/** A candidate against a reference: difference of means, its 95% CI, p-value and verdict. */
export interface Comparison {
  n_candidate: number;
  n_reference: number;
  mean_candidate: number;
  mean_reference: number;
  diff: number;
  ci: [number, number] | null;
  p: number | null;
  method: "welch" | "noise_floor" | null;
  verdict: Verdict;
  sd: number | null;
  replicates_needed: number | null;
  within_noise: boolean;
}

export interface Importance {
  param: string;
  share: number;
  sd: number;
  scale: "numeric" | "log" | "categorical";
  levels: number;
}

export interface Underperformer {
  param: string;
  value: string;
  n: number;
  mean: number;
  rest_n: number;
  rest_mean: number;
  diff: number;
  ci: [number, number];
  p: number;
  p_adjusted: number;
  effect_size: number;
}

export interface Surprise {
  run: string;
  value: number;
  predicted: number;
  z: number;
}

export interface InsightsReport {
  project: string;
  metric: string;
  direction: Direction;
  filter: string | null;
  analysed: number;
  qualifying: number;
  excluded: number;
  sample: string | null;
  insights: {
    runs: number;
    importance: Importance[];
    left_out: string[];
    too_many_levels: { param: string; levels: number }[];
    underperformers: Underperformer[];
    surprises: Surprise[];
    note: string | null;
  };
}

export interface StudyArm {
  role: string;
  change: string | null;
  levels: Record<string, string>;
  command: string[];
  runs: string[];
}

export interface Study {
  name: string;
  kind: "ablation" | "factorial";
  created_at: number;
  base: string | null;
  candidate: string | null;
  changes: string[];
  factors: { name: string; levels: string[] }[];
  fraction: string | null;
  seeds: number[];
  arms: StudyArm[];
  notes: string[];
}

export interface AblationReport {
  joint: Comparison | null;
  changes: { change: string; added: Comparison | null; removed: Comparison | null }[];
  sum_of_single: number | null;
  interaction: number | null;
  interaction_ci: [number, number] | null;
  interaction_detected: boolean;
}

export interface Anova {
  n: number;
  table: { term: string; df: number; ss: number; ms: number; f: number | null; p: number | null }[];
  effects: { term: string; estimate: number; ci: [number, number] | null; p: number | null }[];
  means: { factor: string; level: string; n: number; mean: number; ci: [number, number] | null }[];
  notes: string[];
}

export interface StudyReport {
  study: Study;
  metric: string;
  direction: Direction;
  missing: number;
  ablation: AblationReport | null;
  factorial: Anova | null;
}

export interface ReviewItem {
  runs: string[];
  name: string;
  owner: string;
  hypothesis: string | null;
  comparison: Comparison;
  p_adjusted: number | null;
}

export interface Review {
  project: string;
  since: number;
  until: number;
  metric: string | null;
  direction: Direction | null;
  runs: number;
  finished: number;
  failed: number;
  baseline: string | null;
  improvements: ReviewItem[];
  regressions: ReviewItem[];
  refuted: string[];
  surprises: Surprise[];
  many_changes: { run: string; name: string; owner: string; changes: string }[];
  refused_duplicates: number;
  notes: string[];
}

export interface Side {
  label: string;
  runs: string[];
  n: number;
  missing: number;
  mean: number | null;
  sd: number | null;
  ci: [number, number] | null;
}

export interface CompareReport {
  project: string;
  metric: string;
  direction: Direction;
  alpha: number;
  reference: Side;
  noise_floor: { sd: number; df: number; groups: number } | null;
  correction: "holm" | null;
  candidates: (Side & { comparison: Comparison; p_adjusted: number | null; verdict: Verdict })[];
}

/** The project tag `cairn.baseline.last_reeval`. */
export interface Reeval {
  at: number;
  summary?: string;
  runs?: string[];
  failed?: unknown;
  comparison?: Comparison | null;
  conditions_changed?: unknown;
  metric?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Byte offset of the problem in a filter (`invalid_filter`). */
    readonly position?: number,
  ) {
    super(message);
  }
}

export const isAbort = (e: unknown) => e instanceof DOMException && e.name === "AbortError";

/** A signed-in user (servers that require signing in). */
export interface User {
  id: number;
  name: string;
  display_name: string;
  email: string | null;
  role: "viewer" | "editor" | "admin" | "owner";
  local: boolean;
  oidc_issuer: string | null;
}

export interface WhoAmI {
  auth: boolean;
  user: User | null;
  scope: "read" | "write" | "admin";
  name: string;
}

export interface AuthConfig {
  required: boolean;
  password: boolean;
  oidc: { issuer: string; login_url: string } | null;
}

// ---- the runner ----

export type JobState = "queued" | "assigned" | "running" | "stopping" | "finished" | "failed" | "cancelled";

export interface Job {
  run_id: string;
  short_id: string;
  project: string;
  name: string;
  owner: string;
  team: string | null;
  priority: string;
  resources: { gpus: number; gpu_type: string | null; cpus: number; mem_mb: number; time_limit_s: number | null };
  preemptible: boolean;
  budget: string | null;
  state: JobState;
  agent: string | null;
  agent_name: string | null;
  gpu_indices: number[];
  submitted_at: number;
  started_at: number | null;
  ended_at: number | null;
  exit_code: number | null;
  attempts: number;
  preemptions: number;
  lost_gpu_ms: number;
  stop_reason: string | null;
  position: number | null;
  reason: string | null;
  eta: number | null;
}

export interface Agent {
  id: string;
  name: string;
  host: string;
  gpus: number[];
  gpu_type: string | null;
  fake_gpus: boolean;
  cpus: number;
  mem_mb: number;
  labels: Record<string, string>;
  spot: boolean;
  state: string;
  heartbeat_at: number;
  jobs: string[];
  used_gpus: number;
  used_cpus: number;
  used_mem_mb: number;
  gpu_utilisation: number | null;
}

export interface UsageRow {
  key: string;
  jobs: number;
  gpu_hours: number;
  cpu_hours: number;
  mem_gb_hours: number;
  cost: number;
  limit: number | null;
  preemptions: number;
  lost_gpu_hours: number;
}

/** Raised (as a window event) when the server says the session is missing or over. */
export const SIGN_IN_EVENT = "cairn:sign-in";

async function request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const init: RequestInit = { method, signal: signal ?? null, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  const res = await fetch(path, init);
  if (res.status === 401 && !path.startsWith("/api/v1/auth/")) window.dispatchEvent(new Event(SIGN_IN_EVENT));
  if (!res.ok) throw await toError(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

async function toError(res: Response): Promise<ApiError> {
  let code = "http_" + res.status;
  let message = `${res.status} ${res.statusText}`;
  let position: number | undefined;
  try {
    const j = (await res.json()) as { error?: { code?: string; message?: string; position?: number } };
    if (j.error) {
      code = j.error.code ?? code;
      message = j.error.message ?? message;
      position = j.error.position;
    }
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(res.status, code, message, position);
}

const enc = encodeURIComponent;
const encPath = (p: string) => p.split("/").map(enc).join("/");

/** Proposed endpoints the server turned out not to have. */
const missing = new Set<string>();

async function optional<T>(name: string, f: () => Promise<T>): Promise<T | undefined> {
  if (missing.has(name)) return undefined;
  try {
    return await f();
  } catch (e) {
    if (e instanceof ApiError && (e.code === "not_found" || e.status === 404 || e.status === 405)) {
      missing.add(name);
      return undefined;
    }
    if (e instanceof ApiError && e.code === "invalid_argument" && /unknown|field/i.test(e.message)) {
      missing.add(name);
      return undefined;
    }
    throw e;
  }
}

export const api = {
  health: () => request<{ status: string; version: string; store: string }>("GET", "/healthz"),
  whoami: () => request<WhoAmI>("GET", "/api/v1/auth/whoami"),
  authConfig: () => request<AuthConfig>("GET", "/api/v1/auth/config"),
  /** Signs a local account in; the server sets the session cookie. */
  login: (username: string, password: string) =>
    request<{ user: User }>("POST", "/api/v1/auth/login", { username, password, kind: "session", token_name: "web" }),
  logout: () => request<void>("POST", "/api/v1/auth/logout"),
  projects: (signal?: AbortSignal) => request<{ projects: Project[] }>("GET", "/api/v1/projects", undefined, signal).then((r) => r.projects),
  project: (name: string, signal?: AbortSignal) => request<Project>("GET", `/api/v1/projects/${enc(name)}`, undefined, signal),
  async search(q: SearchQuery, signal?: AbortSignal): Promise<SearchPage> {
    // Without `count` and `fields` an older server still answers; `offset` and `sample`
    // stay (dropping them would answer with other runs).
    const { count, fields, ...plain } = q;
    if ((count || fields) && !missing.has("search-ext")) {
      try {
        return await request<SearchPage>("POST", "/api/v1/runs/search", q, signal);
      } catch (e) {
        // A server without the proposed members refuses them by name; ask again without.
        if (!(e instanceof ApiError && e.code === "invalid_argument" && /unknown field `(count|fields)`/.test(e.message))) throw e;
        missing.add("search-ext");
      }
    }
    return request<SearchPage>("POST", "/api/v1/runs/search", plain, signal);
  },
  run: (id: string, signal?: AbortSignal) => request<Run>("GET", `/api/v1/runs/${enc(id)}`, undefined, signal),
  lineage: (id: string, signal?: AbortSignal) =>
    request<{ run: string; parents: RunBrief[]; children: RunBrief[] }>("GET", `/api/v1/runs/${enc(id)}/lineage`, undefined, signal),
  metrics: (id: string, signal?: AbortSignal) =>
    request<{ metrics: MetricSummary[] }>("GET", `/api/v1/runs/${enc(id)}/metrics`, undefined, signal).then((r) => r.metrics),
  history: (
    body: { runs: string[]; keys: string[]; min_step?: number; max_step?: number; max_points?: number },
    signal?: AbortSignal,
  ) => request<{ series: History[] }>("POST", "/api/v1/metrics/history", body, signal).then((r) => r.series),
  artifacts: (id: string, prefix = "", signal?: AbortSignal) =>
    request<{ artifacts: ArtifactInfo[] }>("GET", `/api/v1/runs/${enc(id)}/artifacts${prefix ? "?prefix=" + enc(prefix) : ""}`, undefined, signal).then(
      (r) => r.artifacts,
    ),
  artifactUrl: (id: string, path: string) => `/api/v1/runs/${enc(id)}/artifacts/${encPath(path)}`,

  /**
   * Up to `maxBytes` of an artifact as text: the start, or with `fromByte` what follows
   * that offset. Uses a Range request; a server that ignores Range sends everything and
   * the slice is taken here.
   */
  async artifactText(id: string, path: string, opts: { maxBytes?: number; fromByte?: number; signal?: AbortSignal } = {}) {
    const from = opts.fromByte ?? 0;
    const max = opts.maxBytes ?? 1 << 20;
    const headers: Record<string, string> = { range: `bytes=${from}-${from + max - 1}` };
    const res = await fetch(api.artifactUrl(id, path), { headers, signal: opts.signal ?? null });
    if (res.status === 416) {
      // Nothing at or after `from`: the artifact is that long, or was replaced by a shorter one.
      const m = /\/(\d+)$/.exec(res.headers.get("content-range") ?? "");
      const size = m ? Number(m[1]) : from;
      return { text: "", size, partial: false, ranged: true, end: Math.min(from, size) };
    }
    if (!res.ok) throw await toError(res);
    const buf = new Uint8Array(await res.arrayBuffer());
    const ranged = res.status === 206;
    let bytes = buf;
    let size = buf.length;
    if (ranged) {
      const m = /\/(\d+)$/.exec(res.headers.get("content-range") ?? "");
      size = m ? Number(m[1]) : from + buf.length;
    } else {
      bytes = buf.subarray(from, from + max);
    }
    const end = from + bytes.length;
    return { text: new TextDecoder().decode(bytes), size, partial: end < size, ranged, end };
  },

  // ---- statistics (issue 6) ----
  insights: (project: string, q: { metric?: string; filter?: string }, signal?: AbortSignal) => {
    const qs = new URLSearchParams();
    if (q.metric) qs.set("metric", q.metric);
    if (q.filter) qs.set("filter", q.filter);
    return request<InsightsReport>("GET", `/api/v1/projects/${enc(project)}/insights${qs.toString() ? "?" + qs.toString() : ""}`, undefined, signal);
  },
  studies: (project: string, metric: string | undefined, signal?: AbortSignal) =>
    request<{ studies: StudyReport[] }>("GET", `/api/v1/projects/${enc(project)}/studies${metric ? "?metric=" + enc(metric) : ""}`, undefined, signal).then(
      (r) => r.studies,
    ),
  review: (project: string, days: number, signal?: AbortSignal) =>
    request<Review>("GET", `/api/v1/projects/${enc(project)}/review?days=${days}`, undefined, signal),
  async reviewMarkdown(project: string, days: number): Promise<string> {
    const res = await fetch(`/api/v1/projects/${enc(project)}/review?days=${days}&format=markdown`);
    if (!res.ok) throw await toError(res);
    return res.text();
  },
  /** Candidates against a reference (default: the project's baseline). */
  compare: (project: string, q: { candidates: string[]; reference?: string; metric?: string }, signal?: AbortSignal) => {
    const qs = new URLSearchParams({ candidates: q.candidates.join(",") });
    if (q.reference) qs.set("reference", q.reference);
    if (q.metric) qs.set("metric", q.metric);
    return request<CompareReport>("GET", `/api/v1/projects/${enc(project)}/compare?${qs}`, undefined, signal);
  },

  // ---- the analyses the server computes: the UI shows them, it does not redo them ----

  /** Distinct param, metric and tag keys of a project. */
  keys: (project: string, signal?: AbortSignal) =>
    optional("keys", () =>
      request<{ params: string[]; metrics: string[]; tags: string[] }>("GET", `/api/v1/projects/${enc(project)}/keys`, undefined, signal),
    ),
  /** A project's dashboard figures. */
  summary: (project: string, days: number, signal?: AbortSignal) =>
    request<ProjectSummary>("GET", `/api/v1/projects/${enc(project)}/summary?days=${days}`, undefined, signal),
  /** Duplicate runs the server refused in a project. */
  refusals: (project: string, signal?: AbortSignal) =>
    optional("refusals", () =>
      request<{ total: number; refusals: { at: number; owner: string; fingerprint: string; duplicate_of: string; hypothesis: string | null; command: string[] }[] }>(
        "GET",
        `/api/v1/projects/${enc(project)}/refusals?limit=20`,
        undefined,
        signal,
      ),
    ),
  /** Statistics of a metric per value of a field, over the runs matching a filter. */
  groups: (body: { project: string; filter: string; group_by: string; metric: string }, signal?: AbortSignal) =>
    request<{
      groups: {
        value: unknown;
        count: number;
        n: number;
        mean: number | null;
        sd: number | null;
        ci: [number, number] | null;
        min: number | null;
        max: number | null;
      }[];
      total: number;
      /** How many groups there are; `groups` lists the largest 10,000. */
      group_count: number;
    }>("POST", "/api/v1/runs/groups", body, signal),
  queue: (all: boolean, signal?: AbortSignal) =>
    request<{ jobs: Job[]; warnings: string[] }>("GET", `/api/v1/queue${all ? "?all=true" : ""}`, undefined, signal),
  agents: (signal?: AbortSignal) => request<{ agents: Agent[] }>("GET", "/api/v1/agents", undefined, signal).then((r) => r.agents),
  usage: (by: string, since: number, signal?: AbortSignal) =>
    request<{ by: string; since: number; rows: UsageRow[] }>("GET", `/api/v1/usage?by=${enc(by)}&since=${since}`, undefined, signal),
  hasEvents: () => !missing.has("events"),
  /** Whether the server may take `count`/`fields` in a search (not known to refuse them). */
  mayCount: () => !missing.has("search-ext"),
  markMissing: (name: string) => missing.add(name),
};

/** A metric value as a number (non-finite strings become NaN/±Infinity; null stays null). */
export function num(v: Float | null | undefined): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  return v === "Infinity" ? Infinity : -Infinity;
}

// A project's dashboard figures: the shape of `GET /api/v1/projects/{name}/summary`.
// The server works them out; the UI only shows them.

export type Direction = "increase" | "decrease";

export interface ProjectSummary {
  runs: number;
  by_status: Record<string, number>;
  /** The last `days` UTC days, oldest first. */
  per_day: { day: string; created: number; failed: number }[];
  metric: string | null;
  direction: Direction | null;
  /** Runs with the primary metric, oldest first: every record setter and about 2,000
   *  others spread evenly over time. */
  progress: { run: string; short_id: string; name: string; at: number; value: number }[];
  /** How many runs `progress` was drawn from: more than it holds means a sample. */
  progress_of: number;
  flagged: { many_changes: number; no_hypothesis: number };
  baseline: { reference: string; label: string; mean: number | null; n: number } | null;
}

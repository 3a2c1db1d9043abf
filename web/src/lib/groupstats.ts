// Statistics of a metric per group of runs (group by a param), as the server's
// `POST /api/v1/runs/groups` answers them: count of runs, how many have the metric,
// mean, sample standard deviation, standard error, min and max.

import type { Cat } from "./parcoords";

export interface GroupStats {
  key: Cat;
  label: string;
  /** Runs in the group. */
  count: number;
  /** Runs with a finite metric value. */
  n: number;
  mean: number | null;
  /** Sample standard deviation (n-1); null below two values. */
  sd: number | null;
  /** Standard error of the mean; null below two values. */
  sem: number | null;
  min: number | null;
  max: number | null;
}

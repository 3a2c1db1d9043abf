// The view state of each page, as it is written in the URL. Links between pages are
// built from these schemas, so a copied URL reproduces the view exactly.

import { isBrushList, type Brush } from "./lib/parcoords";
import { bool, commaList, json, list, num, oneOf, range, str } from "./lib/urlstate";

/** Chart settings, shared by every page with charts. */
export const chartSchema = {
  x: oneOf(["step", "wall", "rel"] as const, "step"),
  smooth: num(0, 0, 0.99),
  logy: bool(false),
  keys: str(),
  xr: range(),
};

export const runsSchema = {
  q: str(),
  sort: str("created"),
  desc: bool(true),
  col: list(),
  sel: commaList(),
  group: str(),
  gmetric: str(),
  panel: oneOf(["", "charts", "parcoords"] as const, ""),
  axis: list(),
  brush: json<Brush[]>([], isBrushList),
  /** Show the `Δ baseline` column. */
  dbase: bool(false),
  ...chartSchema,
};

export const RUN_TABS = ["overview", "config", "code", "data", "environment", "lineage", "metrics", "system", "logs", "artifacts"] as const;
export type RunTab = (typeof RUN_TABS)[number];

export const runSchema = {
  tab: oneOf(RUN_TABS, "overview"),
  cfg: str(),
  path: str(),
  follow: bool(true),
  ...chartSchema,
};

export const insightsSchema = {
  q: str(),
  metric: str(),
};

export const reviewSchema = {
  days: num(7, 1, 365),
};

export const compareSchema = {
  runs: commaList(),
  /** Statistics against the project's baseline instead of the first run. */
  vsbase: bool(false),
  /** The metric of the statistics (default: the project's primary metric). */
  metric: str(),
  same: bool(false),
  base: num(0, 0, 1000),
  ...chartSchema,
};

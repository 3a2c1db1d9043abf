// The metric key filter of chart grids.

/** Whether a key passes the filter: space-separated words, all must appear (case-insensitive). */
export function keyMatches(key: string, filter: string): boolean {
  const k = key.toLowerCase();
  return filter
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((w) => k.includes(w));
}

/** Metric keys split into training metrics and system metrics (`system/…`). */
export function splitSystem(keys: string[]): { metrics: string[]; system: string[] } {
  const metrics: string[] = [];
  const system: string[] = [];
  for (const k of keys) (k.startsWith("system/") ? system : metrics).push(k);
  return { metrics, system };
}

// The team's progress line: the best value of the primary metric so far, over time.

/** The points (ordered by time) that improved on every earlier one; better = higher when `up`. */
export function runningBest<P extends { t: number; v: number }>(points: P[], up: boolean): P[] {
  const out: P[] = [];
  let best: number | null = null;
  for (const p of points) {
    if (!Number.isFinite(p.v)) continue;
    if (best === null || (up ? p.v > best : p.v < best)) {
      best = p.v;
      out.push(p);
    }
  }
  return out;
}

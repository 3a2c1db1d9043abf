// Exponential moving average for metric smoothing, debiased so that the first points are
// not pulled towards zero: s_t = w·s_{t-1} + (1-w)·x_t, divided by 1 - w^n where n counts
// the finite points seen. Gaps (null, NaN, ±Infinity) give a gap and do not move the
// average, so a NaN in a loss curve does not poison everything after it.

export function ema(values: ArrayLike<number | null>, weight: number): (number | null)[] {
  const w = Math.min(0.999, Math.max(0, Number.isFinite(weight) ? weight : 0));
  const out: (number | null)[] = new Array(values.length);
  let acc = 0;
  let norm = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (x === null || x === undefined || !Number.isFinite(x)) {
      out[i] = null;
      continue;
    }
    acc = w * acc + (1 - w) * x;
    norm = w * norm + (1 - w);
    out[i] = acc / norm;
  }
  return out;
}

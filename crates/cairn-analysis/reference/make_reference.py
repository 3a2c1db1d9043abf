"""Writes reference.json: SciPy's answers for the samples cairn-analysis is tested on.

Run from this folder with SciPy and NumPy installed:
    python make_reference.py > reference.json
The Rust tests (tests/reference.rs) compare cairn-analysis with every figure here.
"""

import json
import sys

import numpy as np
import scipy
from scipy import stats

SAMPLES = {
    "acc_a": [0.812, 0.834, 0.791, 0.856, 0.828],
    "acc_b": [0.851, 0.862, 0.847, 0.871, 0.858],
    "loss_a": [1.92, 2.05, 1.88, 2.11, 1.97, 2.02, 1.95],
    "loss_b": [1.71, 1.89, 1.64, 1.93, 1.78, 1.82],
    "tiny_a": [0.5, 0.7],
    "tiny_b": [0.6, 0.9, 0.65],
    "same_a": [3.1, 2.9, 3.0, 3.2, 2.8, 3.05],
    "same_b": [3.0, 3.15, 2.95, 3.1, 2.85, 3.05],
    "ties_a": [1, 2, 2, 3, 3, 3, 4, 5, 5, 6],
    "ties_b": [2, 3, 4, 4, 5, 6, 6, 7, 8, 8, 9],
    "wide_a": [12.1, 15.3, 9.8, 20.4, 11.0, 14.2, 18.9, 10.5, 13.3, 16.7, 12.8, 17.1],
    "wide_b": [10.2, 11.1, 10.8, 12.0, 10.5, 11.7, 10.9, 11.3, 10.1],
}
PAIRS = [("acc_b", "acc_a"), ("loss_b", "loss_a"), ("tiny_b", "tiny_a"), ("same_b", "same_a"),
         ("ties_b", "ties_a"), ("wide_b", "wide_a")]
LEVELS = [0.95, 0.9, 0.99]


def describe(xs, level):
    xs = np.asarray(xs, dtype=float)
    res = stats.ttest_1samp(xs, 0.0)
    lo, hi = res.confidence_interval(confidence_level=level)
    return {"n": len(xs), "mean": float(xs.mean()), "sd": float(xs.std(ddof=1)), "ci": [float(lo), float(hi)]}


def t_tests(a, b, level):
    out = {}
    for name, equal_var in [("welch", False), ("student", True)]:
        res = stats.ttest_ind(a, b, equal_var=equal_var)
        lo, hi = res.confidence_interval(confidence_level=level)
        out[name] = {"t": float(res.statistic), "p": float(res.pvalue), "df": float(res.df),
                     "ci": [float(lo), float(hi)]}
    return out


def mann_whitney(a, b):
    res = stats.mannwhitneyu(a, b, alternative="two-sided", method="auto")
    exact = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic")
    return {"u": float(res.statistic), "p": float(res.pvalue), "p_asymptotic": float(exact.pvalue)}


def bootstrap(a, b, seed):
    out = {}
    for method in ["percentile", "BCa"]:
        res = stats.bootstrap((np.asarray(a, float), np.asarray(b, float)),
                              lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
                              n_resamples=100_000, method=method, confidence_level=0.95,
                              random_state=np.random.default_rng(seed), vectorized=True)
        ci = res.confidence_interval
        out[method.lower()] = [float(ci.low), float(ci.high)]
    return out


def holm(ps):
    ps = np.asarray(ps, float)
    order = np.argsort(ps, kind="stable")
    m = len(ps)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted.tolist()


def power(n, d, sd, alpha):
    """Power of the two-sided two-sample t-test, n per group, from the noncentral t."""
    df = 2 * n - 2
    nc = d / (sd * np.sqrt(2.0 / n))
    tcrit = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(tcrit, df, nc) + stats.nct.cdf(-tcrit, df, nc))


def replicates_needed(d, sd, alpha, target):
    n = 2
    while power(n, d, sd, alpha) < target:
        n += 1
    return n


def main():
    ref = {"scipy": scipy.__version__, "samples": SAMPLES, "describe": [], "pairs": [], "holm": [], "power": [],
           "t_quantiles": []}
    for name, xs in SAMPLES.items():
        for level in LEVELS:
            ref["describe"].append({"sample": name, "level": level, **describe(xs, level)})
    for i, (x, y) in enumerate(PAIRS):
        a, b = SAMPLES[x], SAMPLES[y]
        ref["pairs"].append({"a": x, "b": y, "t_tests": {str(l): t_tests(a, b, l) for l in LEVELS},
                             "mann_whitney": mann_whitney(a, b), "bootstrap_seed": 1000 + i,
                             "bootstrap": bootstrap(a, b, 1000 + i)})
    for ps in [[0.01, 0.04, 0.03, 0.005], [0.2, 0.01, 0.5], [0.049, 0.051], [0.001]]:
        ref["holm"].append({"p": ps, "adjusted": holm(ps)})
    for d, sd in [(0.02, 0.02), (0.01, 0.02), (0.5, 1.0), (0.1, 0.03), (1.0, 0.5)]:
        n = replicates_needed(d, sd, 0.05, 0.8)
        ref["power"].append({"d": d, "sd": sd, "alpha": 0.05, "target": 0.8, "n": n,
                             "power_at_n": power(n, d, sd, 0.05), "power_at_5": power(5, d, sd, 0.05)})
    ref["one_way"] = []
    for names in [["acc_a", "acc_b"], ["loss_a", "loss_b", "same_a"], ["wide_a", "wide_b", "ties_a", "ties_b"]]:
        res = stats.f_oneway(*[SAMPLES[n] for n in names])
        ref["one_way"].append({"groups": names, "f": float(res.statistic), "p": float(res.pvalue)})
    for p, df in [(0.975, 1), (0.975, 4), (0.95, 10.5), (0.995, 3.7), (0.025, 30)]:
        ref["t_quantiles"].append({"p": p, "df": df, "q": float(stats.t.ppf(p, df))})
    json.dump(ref, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

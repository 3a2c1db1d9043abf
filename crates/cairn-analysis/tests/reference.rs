//! cairn-analysis against SciPy: every figure in `reference/reference.json`, which
//! `reference/make_reference.py` writes from SciPy.

use cairn_analysis::*;
use serde_json::Value;

const REFERENCE: &str = include_str!("../reference/reference.json");

fn reference() -> Value {
    serde_json::from_str(REFERENCE).expect("reference.json is JSON")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn sample(r: &Value, name: &str) -> Vec<f64> {
    r["samples"][name].as_array().unwrap().iter().map(f).collect()
}

#[track_caller]
fn close(got: f64, want: f64, tol: f64, what: &str) {
    let err = (got - want).abs() / want.abs().max(1.0);
    assert!(err <= tol, "{what}: got {got}, SciPy {want} (relative error {err:e})");
}

#[test]
fn descriptive_statistics_and_t_intervals() {
    let r = reference();
    for case in r["describe"].as_array().unwrap() {
        let name = case["sample"].as_str().unwrap();
        let level = f(&case["level"]);
        let d = describe(&sample(&r, name), level).unwrap();
        let what = format!("{name} at {level}");
        assert_eq!(d.n as u64, case["n"].as_u64().unwrap());
        close(d.mean, f(&case["mean"]), 1e-12, &what);
        close(d.sd, f(&case["sd"]), 1e-12, &what);
        let (lo, hi) = d.ci.unwrap();
        close(lo, f(&case["ci"][0]), 1e-10, &what);
        close(hi, f(&case["ci"][1]), 1e-10, &what);
    }
    for case in r["t_quantiles"].as_array().unwrap() {
        close(t_quantile(f(&case["p"]), f(&case["df"])), f(&case["q"]), 1e-9, "t quantile");
    }
}

#[test]
fn welch_and_student_t_tests() {
    let r = reference();
    for pair in r["pairs"].as_array().unwrap() {
        let (a, b) = (sample(&r, pair["a"].as_str().unwrap()), sample(&r, pair["b"].as_str().unwrap()));
        for (level, tests) in pair["t_tests"].as_object().unwrap() {
            for (kind, want) in tests.as_object().unwrap() {
                let what = format!("{} vs {} {kind} at {level}", pair["a"], pair["b"]);
                let got = t_test(&a, &b, level.parse().unwrap(), kind == "student").unwrap();
                close(got.t, f(&want["t"]), 1e-10, &what);
                close(got.df, f(&want["df"]), 1e-10, &what);
                close(got.p, f(&want["p"]), 1e-9, &what);
                close(got.ci.0, f(&want["ci"][0]), 1e-9, &what);
                close(got.ci.1, f(&want["ci"][1]), 1e-9, &what);
            }
        }
    }
}

#[test]
fn mann_whitney_u() {
    let r = reference();
    for pair in r["pairs"].as_array().unwrap() {
        let (a, b) = (sample(&r, pair["a"].as_str().unwrap()), sample(&r, pair["b"].as_str().unwrap()));
        let what = format!("{} vs {}", pair["a"], pair["b"]);
        let got = mann_whitney(&a, &b).unwrap();
        close(got.u, f(&pair["mann_whitney"]["u"]), 1e-12, &what);
        close(got.p, f(&pair["mann_whitney"]["p"]), 1e-9, &what);
    }
}

#[test]
fn bootstrap_intervals_agree_with_scipys_to_resampling_error() {
    // Different random streams: the intervals agree to the resampling error of 100,000
    // resamples, a small fraction of the interval's width.
    let r = reference();
    for pair in r["pairs"].as_array().unwrap() {
        let (a, b) = (sample(&r, pair["a"].as_str().unwrap()), sample(&r, pair["b"].as_str().unwrap()));
        let got = bootstrap_diff(&a, &b, 0.95, 100_000, 7).unwrap();
        for (kind, ours) in [("percentile", got.percentile), ("bca", got.bca)] {
            let want = &pair["bootstrap"][kind];
            let (lo, hi) = (f(&want[0]), f(&want[1]));
            let tol = 0.03 * (hi - lo);
            let what = format!("{} vs {} {kind}: ours {ours:?}, SciPy ({lo}, {hi})", pair["a"], pair["b"]);
            assert!((ours.0 - lo).abs() <= tol && (ours.1 - hi).abs() <= tol, "{what}");
        }
        // Seeded: the same seed gives the same interval.
        assert_eq!(bootstrap_diff(&a, &b, 0.95, 2_000, 3), bootstrap_diff(&a, &b, 0.95, 2_000, 3));
    }
}

#[test]
fn holm_adjustment() {
    for case in reference()["holm"].as_array().unwrap() {
        let ps: Vec<f64> = case["p"].as_array().unwrap().iter().map(f).collect();
        for (got, want) in holm(&ps).iter().zip(case["adjusted"].as_array().unwrap()) {
            close(*got, f(want), 1e-12, "holm");
        }
    }
}

#[test]
fn power_and_replicates_needed() {
    for case in reference()["power"].as_array().unwrap() {
        let (d, sd, alpha, target) = (f(&case["d"]), f(&case["sd"]), f(&case["alpha"]), f(&case["target"]));
        let n = replicates_needed(d, sd, alpha, target, 1000).unwrap();
        assert_eq!(n as u64, case["n"].as_u64().unwrap(), "replicates for d={d} sd={sd}");
        close(power(n, d, sd, alpha), f(&case["power_at_n"]), 1e-8, "power at n");
        close(power(5, d, sd, alpha), f(&case["power_at_5"]), 1e-8, "power at 5");
    }
}

#[test]
fn one_way_anova_matches_f_oneway() {
    let r = reference();
    for case in r["one_way"].as_array().unwrap() {
        let mut obs = Vec::new();
        for name in case["groups"].as_array().unwrap() {
            let name = name.as_str().unwrap();
            for v in sample(&r, name) {
                obs.push((vec![name.to_owned()], v));
            }
        }
        let a = anova(&["group".to_owned()], &obs).unwrap();
        let row = &a.table[0];
        close(row.f.unwrap(), f(&case["f"]), 1e-10, "F");
        close(row.p.unwrap(), f(&case["p"]), 1e-9, "p");
    }
}

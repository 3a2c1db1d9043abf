//! Analysis of variance for factorial designs: main effects and two-way interactions
//! (sums of squares from cell means, exact for the balanced designs Cairn generates),
//! F tests against the residual, and for two-level factors the effects themselves
//! (`high − low`) with confidence intervals. In a fractional design an interaction
//! that is aliased with a main effect cannot be told apart from it, so it is left out
//! and said so.

use crate::mean;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, FisherSnedecor, StudentsT};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnovaRow {
    /// `aug`, or `aug × lr` for an interaction, or `residual`.
    pub term: String,
    pub df: f64,
    pub ss: f64,
    pub ms: f64,
    pub f: Option<f64>,
    pub p: Option<f64>,
}

/// A two-level factor's effect (`mean at the second level − mean at the first`), or a
/// two-way interaction's (half the difference between one factor's effect at the
/// other's two levels, doubled: the usual ±1-coded contrast).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Effect {
    pub term: String,
    pub estimate: f64,
    pub ci: Option<(f64, f64)>,
    pub p: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LevelMean {
    pub factor: String,
    pub level: String,
    pub n: usize,
    pub mean: f64,
    pub ci: Option<(f64, f64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Anova {
    pub n: usize,
    pub table: Vec<AnovaRow>,
    pub effects: Vec<Effect>,
    pub means: Vec<LevelMean>,
    /// What the analysis could not do (no residual degrees of freedom, aliasing…).
    pub notes: Vec<String>,
}

/// `obs`: for each run, its level of each factor (in `factors`' order) and its value.
/// Levels are ordered as they first appear. `None` without observations.
pub fn anova(factors: &[String], obs: &[(Vec<String>, f64)]) -> Option<Anova> {
    let obs: Vec<&(Vec<String>, f64)> = obs.iter().filter(|(_, y)| y.is_finite()).collect();
    if obs.is_empty() {
        return None;
    }
    let n = obs.len();
    let y: Vec<f64> = obs.iter().map(|(_, y)| *y).collect();
    let grand = mean(&y);
    let ss_total: f64 = y.iter().map(|v| (v - grand).powi(2)).sum();
    let mut notes = Vec::new();
    let levels: Vec<Vec<String>> = (0..factors.len())
        .map(|i| {
            let mut seen: Vec<String> = Vec::new();
            for (l, _) in &obs {
                if !seen.contains(&l[i]) {
                    seen.push(l[i].clone());
                }
            }
            seen
        })
        .collect();
    // Means by any grouping of the observations.
    let cell_means = |key: &dyn Fn(&Vec<String>) -> Vec<String>| -> BTreeMap<Vec<String>, (usize, f64)> {
        let mut acc: BTreeMap<Vec<String>, (usize, f64)> = BTreeMap::new();
        for (l, v) in &obs {
            let e = acc.entry(key(l)).or_default();
            e.0 += 1;
            e.1 += v;
        }
        acc.into_iter().map(|(k, (c, s))| (k, (c, s / c as f64))).collect()
    };

    let mut terms: Vec<AnovaRow> = Vec::new();
    let mut main: Vec<BTreeMap<Vec<String>, (usize, f64)>> = Vec::new();
    for (i, f) in factors.iter().enumerate() {
        let m = cell_means(&|l: &Vec<String>| vec![l[i].clone()]);
        if levels[i].len() < 2 {
            notes.push(format!("factor {f} has one level in these runs: it has no effect to estimate"));
            main.push(m);
            continue;
        }
        let ss: f64 = m.values().map(|(c, mu)| *c as f64 * (mu - grand).powi(2)).sum();
        let df = (levels[i].len() - 1) as f64;
        terms.push(AnovaRow { term: f.clone(), df, ss, ms: ss / df, f: None, p: None });
        main.push(m);
    }
    // ±1 coding of two-level factors, to find interactions aliased with main effects.
    let code = |i: usize, l: &Vec<String>| if l[i] == levels[i][0] { -1.0 } else { 1.0 };
    let design_points = cell_means(&|l: &Vec<String>| l.clone());
    let mut pairs = Vec::new();
    for i in 0..factors.len() {
        for j in i + 1..factors.len() {
            if levels[i].len() < 2 || levels[j].len() < 2 {
                continue;
            }
            let two_level = levels[i].len() == 2 && levels[j].len() == 2;
            if two_level {
                let aliased = (0..factors.len()).filter(|&k| k != i && k != j && levels[k].len() == 2).find(|&k| {
                    let same = design_points.keys().all(|p| code(i, p) * code(j, p) == code(k, p));
                    let opposite = design_points.keys().all(|p| code(i, p) * code(j, p) == -code(k, p));
                    same || opposite
                });
                if let Some(k) = aliased {
                    notes.push(format!(
                        "{} × {} is aliased with {} in this fraction: their effects cannot be told apart",
                        factors[i], factors[j], factors[k]
                    ));
                    continue;
                }
            }
            let cells = cell_means(&|l: &Vec<String>| vec![l[i].clone(), l[j].clone()]);
            if cells.len() < levels[i].len() * levels[j].len() {
                notes
                    .push(format!("{} × {}: not every combination was run, so it is left out", factors[i], factors[j]));
                continue;
            }
            let ss: f64 = cells
                .iter()
                .map(|(k, (c, mu))| {
                    let (mi, mj) = (main[i][&vec![k[0].clone()]].1, main[j][&vec![k[1].clone()]].1);
                    *c as f64 * (mu - mi - mj + grand).powi(2)
                })
                .sum();
            let df = ((levels[i].len() - 1) * (levels[j].len() - 1)) as f64;
            terms.push(AnovaRow {
                term: format!("{} × {}", factors[i], factors[j]),
                df,
                ss,
                ms: ss / df,
                f: None,
                p: None,
            });
            pairs.push((i, j, two_level));
        }
    }
    let df_model: f64 = terms.iter().map(|t| t.df).sum();
    let df_resid = n as f64 - 1.0 - df_model;
    let ss_resid = (ss_total - terms.iter().map(|t| t.ss).sum::<f64>()).max(0.0);
    let ms_resid = if df_resid > 0.0 { Some(ss_resid / df_resid) } else { None };
    if ms_resid.is_none() {
        notes.push("no degrees of freedom are left for the residual: replicate the design to test the effects".into());
    }
    if let Some(ms_e) = ms_resid.filter(|m| *m > 0.0) {
        for t in &mut terms {
            let f = t.ms / ms_e;
            t.f = Some(f);
            t.p = FisherSnedecor::new(t.df, df_resid).ok().map(|d| d.sf(f));
        }
    }
    let t_crit = ms_resid.and_then(|_| StudentsT::new(0.0, 1.0, df_resid).ok());
    let interval = |est: f64, n_hi: usize, n_lo: usize| -> (Option<(f64, f64)>, Option<f64>) {
        match (ms_resid, &t_crit) {
            (Some(ms), Some(t)) if ms > 0.0 => {
                let se = (ms * (1.0 / n_hi as f64 + 1.0 / n_lo as f64)).sqrt();
                let half = t.inverse_cdf(0.975) * se;
                (Some((est - half, est + half)), Some(2.0 * t.sf((est / se).abs())))
            }
            _ => (None, None),
        }
    };
    let mut effects = Vec::new();
    for (i, f) in factors.iter().enumerate() {
        if levels[i].len() != 2 {
            continue;
        }
        let (lo, hi) = (&main[i][&vec![levels[i][0].clone()]], &main[i][&vec![levels[i][1].clone()]]);
        let est = hi.1 - lo.1;
        let (ci, p) = interval(est, hi.0, lo.0);
        effects.push(Effect { term: format!("{f}: {} → {}", levels[i][0], levels[i][1]), estimate: est, ci, p });
    }
    for &(i, j, two_level) in &pairs {
        if !two_level {
            continue;
        }
        let (mut plus, mut minus) = (Vec::new(), Vec::new());
        for (l, v) in &obs {
            if code(i, l) * code(j, l) > 0.0 { plus.push(*v) } else { minus.push(*v) }
        }
        let est = mean(&plus) - mean(&minus);
        let (ci, p) = interval(est, plus.len(), minus.len());
        effects.push(Effect { term: format!("{} × {}", factors[i], factors[j]), estimate: est, ci, p });
    }
    let mut means = Vec::new();
    for (i, f) in factors.iter().enumerate() {
        for l in &levels[i] {
            let (c, mu) = main[i][&vec![l.clone()]];
            let ci = match (ms_resid, &t_crit) {
                (Some(ms), Some(t)) if ms > 0.0 => {
                    let half = t.inverse_cdf(0.975) * (ms / c as f64).sqrt();
                    Some((mu - half, mu + half))
                }
                _ => None,
            };
            means.push(LevelMean { factor: f.clone(), level: l.clone(), n: c, mean: mu, ci });
        }
    }
    let mut table = terms;
    if let Some(ms) = ms_resid {
        table.push(AnovaRow { term: "residual".into(), df: df_resid, ss: ss_resid, ms, f: None, p: None });
    }
    Some(Anova { n, table, effects, means, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn design(noise: &[f64]) -> Vec<(Vec<String>, f64)> {
        // y = 10 + 2·[aug = mixup] + 0·lr + 1·[aug = mixup and lr = hi], 2 replicates.
        let mut out = Vec::new();
        let mut k = 0;
        for aug in ["none", "mixup"] {
            for lr in ["lo", "hi"] {
                for _ in 0..2 {
                    let mut y = 10.0;
                    if aug == "mixup" {
                        y += 2.0;
                    }
                    if aug == "mixup" && lr == "hi" {
                        y += 1.0;
                    }
                    out.push((vec![aug.to_owned(), lr.to_owned()], y + noise[k % noise.len()]));
                    k += 1;
                }
            }
        }
        out
    }

    #[test]
    fn two_by_two_effects_and_interaction() {
        let f = vec!["aug".to_owned(), "lr".to_owned()];
        let a = anova(&f, &design(&[0.05, -0.05, 0.02, -0.02])).unwrap();
        let eff: BTreeMap<&str, f64> = a.effects.iter().map(|e| (e.term.as_str(), e.estimate)).collect();
        // aug: mean(mixup) − mean(none) = 2.5; lr: 0.5; interaction (±1 contrast): 0.5.
        assert!((eff["aug: none → mixup"] - 2.5).abs() < 1e-9, "{eff:?}");
        assert!((eff["lr: lo → hi"] - 0.5).abs() < 1e-9, "{eff:?}");
        assert!((eff["aug × lr"] - 0.5).abs() < 1e-9, "{eff:?}");
        let aug = &a.table[0];
        assert!(aug.p.unwrap() < 1e-4, "{a:?}");
        assert_eq!(a.table.last().unwrap().term, "residual");
        assert_eq!(a.table.last().unwrap().df, 4.0);
        // Sums of squares add up to the total.
        let total: f64 = a.table.iter().map(|r| r.ss).sum();
        let ys: Vec<f64> = design(&[0.05, -0.05, 0.02, -0.02]).iter().map(|o| o.1).collect();
        let m = mean(&ys);
        assert!((total - ys.iter().map(|y| (y - m).powi(2)).sum::<f64>()).abs() < 1e-9);
    }

    #[test]
    fn a_half_fraction_says_what_is_aliased_and_unreplicated_designs_have_no_test() {
        // 2^(3-1) with c = a·b: every two-way interaction is aliased with a main effect.
        let f: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let pts = [("-", "-", "+"), ("+", "-", "-"), ("-", "+", "-"), ("+", "+", "+")];
        let obs: Vec<(Vec<String>, f64)> = pts
            .iter()
            .enumerate()
            .map(|(i, (a, b, c))| (vec![a.to_string(), b.to_string(), c.to_string()], i as f64))
            .collect();
        let a = anova(&f, &obs).unwrap();
        assert_eq!(a.notes.iter().filter(|n| n.contains("aliased")).count(), 3, "{:?}", a.notes);
        assert!(a.notes.iter().any(|n| n.contains("no degrees of freedom")));
        assert!(a.effects.iter().all(|e| e.ci.is_none()));
    }
}

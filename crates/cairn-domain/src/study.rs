//! Studies: sets of runs designed together so that several variables *can* change at
//! once — an ablation (each difference between two runs added alone to the first and
//! removed alone from the second) or a factorial design (every combination of factor
//! levels, or a regular fraction of them). A study is kept with its project (the tag
//! `cairn.study.<name>`), so its report can be printed again at any time.

use crate::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Project tag prefix under which studies are kept.
pub const STUDY_TAG_PREFIX: &str = "cairn.study.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StudyKind {
    Ablation,
    Factorial,
}

/// One factor of a factorial design and its levels, as the command-line values given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    pub name: String,
    pub levels: Vec<String>,
}

/// One arm: a command line run with several seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    /// `base`, `candidate`, `base + lr`, `candidate − lr`, or a design point `aug=mixup lr=1e-3`.
    pub role: String,
    /// The change an ablation arm adds or removes.
    #[serde(default)]
    pub change: Option<String>,
    /// Factor → level, for a design point.
    #[serde(default)]
    pub levels: BTreeMap<String, String>,
    pub command: Vec<String>,
    /// The runs of this arm (full ids), including runs the project already had.
    #[serde(default)]
    pub runs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Study {
    pub name: String,
    pub kind: StudyKind,
    pub created_at: Millis,
    /// Ablation: the two runs compared (short ids).
    #[serde(default)]
    pub base: Option<String>,
    #[serde(default)]
    pub candidate: Option<String>,
    /// Ablation: the changes between them that were ablated, as `key: before → after`.
    #[serde(default)]
    pub changes: Vec<String>,
    #[serde(default)]
    pub factors: Vec<Factor>,
    /// Factorial: `1/2`, `1/4`… for a fractional design.
    #[serde(default)]
    pub fraction: Option<String>,
    pub seeds: Vec<i64>,
    pub arms: Vec<Arm>,
    /// What could not be part of the study, and why (a change that is not a flag…).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Study {
    pub fn tag(&self) -> String {
        format!("{STUDY_TAG_PREFIX}{}", self.name)
    }

    /// The studies kept with a project, newest first.
    pub fn all_of(project: &crate::Project) -> Vec<Study> {
        let mut out: Vec<Study> = project
            .tags
            .iter()
            .filter(|(k, _)| k.starts_with(STUDY_TAG_PREFIX))
            .filter_map(|(_, v)| serde_json::from_str(v).ok())
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        out
    }
}

/// How a command line sets a config key: `--key value`, `--key=value`, or the bare
/// `--key` (true). `None` when the command does not set it.
pub fn flag_value(command: &[String], key: &str) -> Option<Option<String>> {
    let mut i = 0;
    while i < command.len() {
        let a = &command[i];
        if let Some(rest) = a.strip_prefix("--") {
            if let Some((k, v)) = rest.split_once('=')
                && k == key
            {
                return Some(Some(v.to_owned()));
            }
            if rest == key {
                let value = command.get(i + 1).filter(|n| !n.starts_with("--")).cloned();
                return Some(value);
            }
        }
        i += 1;
    }
    None
}

/// `command` with `key` set as `value` (`Some(None)`: a bare flag), or removed (`None`).
pub fn with_flag(command: &[String], key: &str, value: Option<Option<&str>>) -> Vec<String> {
    let mut out = Vec::with_capacity(command.len() + 2);
    let mut i = 0;
    let mut replaced = false;
    while i < command.len() {
        let a = &command[i];
        let rest = a.strip_prefix("--");
        let is_eq = rest.and_then(|r| r.split_once('=')).is_some_and(|(k, _)| k == key);
        let is_bare = rest == Some(key);
        if is_eq || is_bare {
            let skip_value = is_bare && command.get(i + 1).is_some_and(|n| !n.starts_with("--"));
            i += if skip_value { 2 } else { 1 };
            if let (Some(v), false) = (value, replaced) {
                push_flag(&mut out, key, v);
                replaced = true;
            }
            continue;
        }
        out.push(a.clone());
        i += 1;
    }
    if let (Some(v), false) = (value, replaced) {
        push_flag(&mut out, key, v);
    }
    out
}

fn push_flag(out: &mut Vec<String>, key: &str, value: Option<&str>) {
    out.push(format!("--{key}"));
    if let Some(v) = value {
        out.push(v.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn flags_are_read_and_rewritten_in_every_form() {
        let c = argv("python train.py --lr 0.01 --aug=mixup --fast --epochs 3");
        assert_eq!(flag_value(&c, "lr"), Some(Some("0.01".into())));
        assert_eq!(flag_value(&c, "aug"), Some(Some("mixup".into())));
        assert_eq!(flag_value(&c, "fast"), Some(None));
        assert_eq!(flag_value(&c, "model"), None);
        assert_eq!(
            with_flag(&c, "lr", Some(Some("1e-3"))),
            argv("python train.py --lr 1e-3 --aug=mixup --fast --epochs 3")
        );
        assert_eq!(
            with_flag(&c, "aug", Some(Some("none"))),
            argv("python train.py --lr 0.01 --aug none --fast --epochs 3")
        );
        assert_eq!(with_flag(&c, "fast", None), argv("python train.py --lr 0.01 --aug=mixup --epochs 3"));
        assert_eq!(
            with_flag(&c, "model", Some(Some("big"))),
            argv("python train.py --lr 0.01 --aug=mixup --fast --epochs 3 --model big")
        );
        assert_eq!(with_flag(&c, "epochs", None), argv("python train.py --lr 0.01 --aug=mixup --fast"));
    }
}

//! Filters and orders over the lists that are not runs: projects (MLflow's
//! experiments), registered models and their versions. Few fields, the same tests as a run filter;
//! the store translates them, binding every value.

use crate::CmpOp;

/// A literal of a filter: a number or a quoted string.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Num(f64),
    Str(String),
}

/// What one condition tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Compare(CmpOp, Literal),
    /// The values, and whether it is `NOT IN`.
    In(Vec<Literal>, bool),
    /// The pattern (`%` any run, `_` one character), and whether case is ignored.
    Like(String, bool),
    /// `IS NOT NULL` when true.
    IsNull(bool),
}

/// A field of a project or registered model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListField {
    Name,
    /// The numeric id (a project's; models are found by name).
    Id,
    Created,
    Updated,
    Tag(String),
    /// A model version's number.
    Version,
    /// The run a model version came from (32 hex digits).
    Run,
    /// Where a model version's files are.
    Source,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListCond {
    pub field: ListField,
    pub test: Test,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOrder {
    pub field: ListField,
    pub descending: bool,
}

/// MLflow's LIKE: `%` any run of characters, `_` one character; ILIKE ignores case.
/// Linear in the subject for each `%` (the usual wildcard walk that resumes after the
/// last `%`), so a hostile pattern cannot make it exponential.
pub fn like(subject: &str, pattern: &str, case_insensitive: bool) -> bool {
    let fold = |t: &str| -> Vec<char> {
        if case_insensitive { t.to_lowercase().chars().collect() } else { t.chars().collect() }
    };
    let (s, p) = (fold(subject), fold(pattern));
    let (mut si, mut pi) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '_' || (p[pi] != '%' && p[pi] == s[si])) {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            resume = Some((pi, si));
            pi += 1;
        } else if let Some((star, from)) = resume {
            pi = star + 1;
            si = from + 1;
            resume = Some((star, from + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_is_mlflows_and_linear() {
        assert!(like("baseline-3", "base%", false));
        assert!(!like("Baseline", "base%", false));
        assert!(like("Baseline", "base%", true));
        assert!(like("ab", "a_", false));
        assert!(!like("abc", "a_", false));
        assert!(like("a-b-c", "%-%-%", false));
        assert!(like("", "%", false));
        assert!(!like("", "_", false));
        assert!(like("mississippi", "m%iss%pi", false));
        assert!(!like("mississippi", "m%iss%pa", false));
        let long = "a".repeat(5000);
        assert!(!like(&long, &format!("{}b", "%a".repeat(40)), false));
    }
}

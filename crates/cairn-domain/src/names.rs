use crate::DomainError;
use serde::{Deserialize, Serialize};

/// Longest accepted name (projects, run names, tag keys, metric keys).
pub const MAX_NAME_LEN: usize = 250;

/// Rejects control characters (newlines included unless `multiline`) and overlong text.
pub fn validate_text(field: &'static str, text: &str, max: usize, multiline: bool) -> Result<(), DomainError> {
    if text.len() > max {
        return Err(DomainError::invalid(field, format!("is {} bytes long; the limit is {max}", text.len())));
    }
    if let Some(c) = text.chars().find(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))) {
        return Err(DomainError::invalid(field, format!("contains the control character {c:?}; remove it")));
    }
    Ok(())
}

fn validate_name(field: &'static str, s: &str) -> Result<(), DomainError> {
    if s.trim().is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if s.trim() != s {
        return Err(DomainError::invalid(field, "must not start or end with whitespace"));
    }
    validate_text(field, s, MAX_NAME_LEN, false)
}

/// A project name: non-empty, no control characters, no `/` (it appears in URLs).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProjectName(String);

impl ProjectName {
    pub fn parse(s: impl Into<String>) -> Result<Self, DomainError> {
        let s = s.into();
        validate_name("project name", &s)?;
        if s.contains('/') {
            return Err(DomainError::invalid("project name", "must not contain '/'"));
        }
        Ok(ProjectName(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProjectName {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        ProjectName::parse(s)
    }
}
impl From<ProjectName> for String {
    fn from(p: ProjectName) -> String {
        p.0
    }
}
impl std::fmt::Display for ProjectName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tag key: non-empty, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TagKey(String);

impl TagKey {
    pub fn parse(s: impl Into<String>) -> Result<Self, DomainError> {
        let s = s.into();
        validate_name("tag key", &s)?;
        Ok(TagKey(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for TagKey {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        TagKey::parse(s)
    }
}
impl From<TagKey> for String {
    fn from(p: TagKey) -> String {
        p.0
    }
}

/// Checks a name (a run's, a key): non-empty, no control characters, no whitespace at either end.
pub fn check_name(field: &'static str, s: &str) -> Result<(), DomainError> {
    validate_name(field, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names() {
        assert!(ProjectName::parse("vision").is_ok());
        assert!(ProjectName::parse("défaut détection 2").is_ok());
        for bad in ["", " x", "a/b", "a\nb", "a\u{7}b"] {
            assert!(ProjectName::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = "x".repeat(MAX_NAME_LEN + 1);
        let err = ProjectName::parse(long).unwrap_err().to_string();
        assert!(err.contains("limit is 250"), "{err}");
    }

    #[test]
    fn multiline_text_allows_newlines_only() {
        assert!(validate_text("description", "a\nb\tc", 100, true).is_ok());
        assert!(validate_text("description", "a\u{0}b", 100, true).is_err());
        assert!(validate_text("name", "a\nb", 100, false).is_err());
    }
}

use crate::{DomainError, Millis};
use serde::{Deserialize, Serialize};

/// A path inside a run's artifact folder, e.g. `checkpoints/epoch-3.pt`.
/// Guarantees: relative, `/`-separated, no empty, `.` or `..` segments, no backslashes
/// or control characters — so it can never escape the run's prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArtifactPath(String);

impl ArtifactPath {
    pub fn parse(s: impl Into<String>) -> Result<Self, DomainError> {
        let s: String = s.into();
        let bad = |reason: &str| Err(DomainError::invalid("artifact path", format!("'{s}' {reason}")));
        if s.is_empty() {
            return bad("is empty");
        }
        if s.len() > 1024 {
            return bad("is longer than 1024 bytes");
        }
        if s.starts_with('/') || s.contains(':') && s.split('/').next().is_some_and(|p| p.ends_with(':')) {
            return bad("is absolute; give a path relative to the run's artifact folder");
        }
        if s.contains('\\') {
            return bad("contains a backslash; use '/' between folders");
        }
        if s.chars().any(char::is_control) {
            return bad("contains a control character");
        }
        for seg in s.split('/') {
            match seg {
                "" => return bad("has an empty segment ('//' or a trailing '/')"),
                "." | ".." => {
                    return bad("contains '.' or '..'; paths may not leave the run's folder");
                }
                _ if seg
                    .rsplit_once('#')
                    .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
                {
                    return bad("has a name ending in '#' and digits, which storage keeps for partial uploads");
                }
                _ => {}
            }
        }
        Ok(ArtifactPath(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for ArtifactPath {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        ArtifactPath::parse(s)
    }
}
impl From<ArtifactPath> for String {
    fn from(p: ArtifactPath) -> String {
        p.0
    }
}
impl std::fmt::Display for ArtifactPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the record keeps about a stored artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactInfo {
    pub path: ArtifactPath,
    pub size: u64,
    /// BLAKE3 of the content, hex.
    pub blake3: String,
    pub created_at: Millis,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_relative_paths() {
        for ok in ["model.pt", "checkpoints/epoch-3.pt", "a/b/c.d.e", "..hidden", "x..y"] {
            assert!(ArtifactPath::parse(ok).is_ok(), "{ok} refused");
        }
    }

    #[test]
    fn refuses_escapes() {
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", "a\\b", "c:/x", "a\nb"] {
            assert!(ArtifactPath::parse(bad).is_err(), "{bad:?} accepted");
        }
        let msg = ArtifactPath::parse("a/../b").unwrap_err().to_string();
        assert!(msg.contains("'..'"), "{msg}");
    }
}

use crate::DomainError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A run's stable identity. Never changes, whatever the run is renamed to. Written
/// as 32 hex digits; read with or without dashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub Uuid);

impl Serialize for RunId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.simple())
    }
}

impl RunId {
    pub fn parse(s: &str) -> Option<RunId> {
        Uuid::parse_str(s).ok().map(RunId)
    }
}
impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.as_simple().fmt(f)
    }
}

/// The human-friendly handle of a run: 8 characters from an alphabet without
/// look-alikes (no 0/o, 1/l/i). Unique within a store.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShortId(String);

const ALPHABET: &[u8; 31] = b"23456789abcdefghjkmnpqrstuvwxyz";
pub const SHORT_ID_LEN: usize = 8;

impl ShortId {
    /// Derives a short id from random bits supplied by the caller.
    pub fn from_random(mut bits: u64) -> ShortId {
        let mut s = String::with_capacity(SHORT_ID_LEN);
        for _ in 0..SHORT_ID_LEN {
            s.push(ALPHABET[(bits % ALPHABET.len() as u64) as usize] as char);
            bits /= ALPHABET.len() as u64;
        }
        ShortId(s)
    }
    pub fn parse(s: &str) -> Option<ShortId> {
        (s.len() == SHORT_ID_LEN && s.bytes().all(|b| ALPHABET.contains(&b))).then(|| ShortId(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl std::fmt::Display for ShortId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a user names a run: its full id (with or without dashes) or its short id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RunRef {
    Id(RunId),
    Short(ShortId),
}

impl RunRef {
    pub fn parse(s: &str) -> Result<RunRef, DomainError> {
        let s = s.trim();
        if let Some(id) = RunId::parse(s) {
            return Ok(RunRef::Id(id));
        }
        if let Some(short) = ShortId::parse(&s.to_ascii_lowercase()) {
            return Ok(RunRef::Short(short));
        }
        Err(DomainError::invalid(
            "run reference",
            format!("'{s}' is neither a run id (32 hex digits) nor a short id (8 characters, as shown by `cairn ls`)"),
        ))
    }
}
impl std::fmt::Display for RunRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunRef::Id(id) => id.fmt(f),
            RunRef::Short(s) => s.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_round_trip() {
        let s = ShortId::from_random(0xdead_beef_1234_5678);
        assert_eq!(s.as_str().len(), 8);
        assert_eq!(ShortId::parse(s.as_str()), Some(s.clone()));
        assert_eq!(RunRef::parse(&s.as_str().to_uppercase()).unwrap(), RunRef::Short(s));
    }

    #[test]
    fn run_refs() {
        let u = Uuid::from_u128(42);
        assert_eq!(RunRef::parse(&u.to_string()).unwrap(), RunRef::Id(RunId(u)));
        assert_eq!(RunRef::parse(&u.simple().to_string()).unwrap(), RunRef::Id(RunId(u)));
        let err = RunRef::parse("nope").unwrap_err().to_string();
        assert!(err.contains("'nope' is neither"), "{err}");
    }
}

//! [`ParseError`]: what went wrong, and where.

use std::fmt;

/// A filter or ordering that could not be parsed.
///
/// `position` is a byte offset into `input` (always on a character boundary, at most
/// `input.len()`); it points at the start of the offending token, or at the end of the
/// input when the text stopped too early. [`column`](Self::column) turns it into a
/// 1-based character column for people, and [`caret`](Self::caret) draws it.
///
/// Displays as `{message} at column {column}` (with `line {line}, ` in front of the
/// column when the input spans several lines).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// Byte offset into `input`.
    pub position: usize,
    /// What was wrong and what was expected, for a person to read.
    pub message: String,
    /// The complete text that was parsed.
    pub input: String,
}

impl ParseError {
    /// Builds an error, clamping `position` into the input and back onto a character
    /// boundary so that [`column`](Self::column) and [`caret`](Self::caret) never panic.
    pub fn new(input: &str, position: usize, message: impl Into<String>) -> Self {
        let mut position = position.min(input.len());
        while !input.is_char_boundary(position) {
            position -= 1;
        }
        ParseError { position, message: message.into(), input: input.to_owned() }
    }

    /// `position` clamped into the input and onto a character boundary (the fields are
    /// public, so they may have been set to anything).
    fn safe_position(&self) -> usize {
        let mut position = self.position.min(self.input.len());
        while !self.input.is_char_boundary(position) {
            position -= 1;
        }
        position
    }

    /// Byte offset of the start of the line holding the error.
    fn line_start(&self) -> usize {
        let position = self.safe_position();
        self.input[..position].rfind('\n').map_or(0, |i| i + 1)
    }

    /// 1-based line of the error (1 unless the input spans several lines).
    pub fn line(&self) -> usize {
        let position = self.safe_position();
        self.input[..position].matches('\n').count() + 1
    }

    /// 1-based column of the error, counted in characters (not bytes) from the start of
    /// its line. For the usual single-line filter that is the column in the whole input.
    pub fn column(&self) -> usize {
        let position = self.safe_position();
        self.input[self.line_start()..position].chars().count() + 1
    }

    /// Two lines: the input (the line of it holding the error, if it has several) and,
    /// under it, spaces and a `^` at the error position. Tabs in the input are repeated
    /// in the padding so the caret lines up in a terminal.
    ///
    /// ```text
    /// params.lr < 0.01 andd x
    ///                  ^
    /// ```
    pub fn caret(&self) -> String {
        let position = self.safe_position();
        let start = self.line_start();
        let end = self.input[start..].find('\n').map_or(self.input.len(), |i| start + i);
        let line = self.input[start..end].trim_end_matches('\r');
        let pad: String = self.input[start..position].chars().map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
        format!("{line}\n{pad}^")
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.input.contains('\n') {
            write!(f, "{} at line {}, column {}", self.message, self.line(), self.column())
        } else {
            write!(f, "{} at column {}", self.message, self.column())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_uses_one_based_columns() {
        let e = ParseError::new("params.lr <", 11, "expected a value after '<'");
        assert_eq!(e.column(), 12);
        assert_eq!(e.to_string(), "expected a value after '<' at column 12");
        let e = ParseError::new("x", 0, "bad");
        assert_eq!(e.column(), 1);
        assert_eq!(e.to_string(), "bad at column 1");
    }

    #[test]
    fn column_counts_characters_not_bytes() {
        // 'é' is two bytes; the 'x' after "é = " sits at byte 5 but column 5.
        let input = "é = x";
        let e = ParseError::new(input, 5, "m");
        assert_eq!(e.position, 5);
        assert_eq!(e.column(), 5);
        assert_eq!(e.caret(), "é = x\n    ^");
    }

    #[test]
    fn new_clamps_position() {
        let e = ParseError::new("abc", 99, "m");
        assert_eq!(e.position, 3);
        assert_eq!(e.column(), 4);
        // Inside the two bytes of 'é': moved back to its start.
        let e = ParseError::new("aé", 2, "m");
        assert_eq!(e.position, 1);
        assert_eq!(e.column(), 2);
    }

    #[test]
    fn hand_built_errors_with_bad_positions_do_not_panic() {
        let e = ParseError { position: 2, message: "m".into(), input: "é".into() };
        assert_eq!(e.column(), 2);
        assert_eq!(e.caret(), "é\n ^");
        let e = ParseError { position: 1, message: "m".into(), input: "é".into() };
        assert_eq!(e.column(), 1);
        let e = ParseError { position: 0, message: "m".into(), input: String::new() };
        assert_eq!(e.caret(), "\n^");
        assert_eq!(e.to_string(), "m at column 1");
    }

    #[test]
    fn caret_points_under_the_position() {
        let input = "params.lr < 0.01 andd x";
        let e = ParseError::new(input, 17, "m");
        assert_eq!(e.caret(), "params.lr < 0.01 andd x\n                 ^");
        // At the end of the input.
        let e = ParseError::new("a <", 3, "m");
        assert_eq!(e.caret(), "a <\n   ^");
    }

    #[test]
    fn caret_keeps_tabs_aligned() {
        let e = ParseError::new("\ta\t= x", 5, "m");
        assert_eq!(e.caret(), "\ta\t= x\n\t \t  ^");
    }

    #[test]
    fn multi_line_input_reports_line_and_column() {
        let input = "status = 'ok'\nand\r\n  x";
        let pos = input.find('x').unwrap();
        let e = ParseError::new(input, pos, "unknown field 'x'");
        assert_eq!(e.line(), 3);
        assert_eq!(e.column(), 3);
        assert_eq!(e.caret(), "  x\n  ^");
        assert_eq!(e.to_string(), "unknown field 'x' at line 3, column 3");
        // A line ending in \r\n is shown without the \r.
        let e = ParseError::new(input, input.find("and").unwrap(), "m");
        assert_eq!(e.line(), 2);
        assert_eq!(e.caret(), "and\n^");
    }

    #[test]
    fn is_a_std_error() {
        fn takes(_: &dyn std::error::Error) {}
        takes(&ParseError::new("", 0, "m"));
    }
}

//! Splits filter text into tokens.
//!
//! A *word* is a dotted path of segments (`params.optimizer.lr`, ``tags.`my tag` ``,
//! `and`); keywords are words too, recognised by the parser, so that keys may freely
//! contain keyword text (`params.in`). Segments are made of `[A-Za-z0-9_\-/:]` or are
//! backtick-quoted; a word starts with a letter, `_` or a backtick.

use crate::CmpOp;
use crate::error::ParseError;

/// One piece of a dotted word.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    pub text: String,
    /// Written between backticks: never a keyword, never a field prefix.
    pub quoted: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    Word(Vec<Segment>),
    Number(f64),
    Str(String),
    Op(CmpOp),
    LParen,
    RParen,
    Comma,
    /// Always the last token of a successful tokenization, at `input.len()`.
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// Byte range in the input.
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// The single unquoted segment of a word, if this token is one: the form every
    /// keyword and bare attribute name takes.
    pub fn bare_word(&self) -> Option<&str> {
        match &self.kind {
            TokenKind::Word(segments) if segments.len() == 1 && !segments[0].quoted => Some(&segments[0].text),
            _ => None,
        }
    }

    /// Whether this token is the keyword `kw` (given in lower case), in any case.
    pub fn is_keyword(&self, kw: &str) -> bool {
        self.bare_word().is_some_and(|w| w.eq_ignore_ascii_case(kw))
    }
}

/// Characters a bare key segment is made of.
pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | ':')
}

/// Tokenizes all of `input`. On success the last token is [`TokenKind::End`]. On a
/// lexical error the tokens before it are returned together with the error, so the
/// parser can report an earlier syntax error first.
pub(crate) fn tokenize(input: &str) -> (Vec<Token>, Option<ParseError>) {
    let mut lexer = Lexer { src: input, pos: 0 };
    let mut tokens = Vec::new();
    loop {
        match lexer.next_token() {
            Ok(token) => {
                let end = token.kind == TokenKind::End;
                tokens.push(token);
                if end {
                    return (tokens, None);
                }
            }
            Err(e) => return (tokens, Some(e)),
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    /// The character after the next one.
    fn peek2(&self) -> Option<char> {
        let mut chars = self.src[self.pos..].chars();
        chars.next();
        chars.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn error(&self, position: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.src, position, message)
    }

    fn next_token(&mut self) -> Result<Token, ParseError> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Token { kind: TokenKind::End, start, end: start });
        };
        let kind = match c {
            '(' => {
                self.bump();
                TokenKind::LParen
            }
            ')' => {
                self.bump();
                TokenKind::RParen
            }
            ',' => {
                self.bump();
                TokenKind::Comma
            }
            '=' => {
                self.bump();
                if self.peek() == Some('=') {
                    self.bump();
                }
                TokenKind::Op(CmpOp::Eq)
            }
            '!' => {
                self.bump();
                if self.peek() != Some('=') {
                    return Err(self.error(start, "unexpected character '!'; did you mean '!='?"));
                }
                self.bump();
                TokenKind::Op(CmpOp::Ne)
            }
            '<' => {
                self.bump();
                match self.peek() {
                    Some('=') => {
                        self.bump();
                        TokenKind::Op(CmpOp::Le)
                    }
                    Some('>') => {
                        self.bump();
                        TokenKind::Op(CmpOp::Ne)
                    }
                    _ => TokenKind::Op(CmpOp::Lt),
                }
            }
            '>' => {
                self.bump();
                if self.peek() == Some('=') {
                    self.bump();
                    TokenKind::Op(CmpOp::Ge)
                } else {
                    TokenKind::Op(CmpOp::Gt)
                }
            }
            '\'' | '"' => TokenKind::Str(self.string()?),
            c if starts_number(c, self.peek2(), self.src[self.pos..].chars().nth(2)) => {
                TokenKind::Number(self.number()?)
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == '`' => TokenKind::Word(self.word()?),
            '&' => {
                return Err(self.error(start, "unexpected character '&'; use 'and' to combine conditions"));
            }
            '|' => {
                return Err(self.error(start, "unexpected character '|'; use 'or' to combine conditions"));
            }
            c if c.is_control() => {
                return Err(self.error(start, format!("unexpected character {}", c.escape_unicode())));
            }
            c => return Err(self.error(start, format!("unexpected character '{c}'"))),
        };
        Ok(Token { kind, start, end: self.pos })
    }

    /// A quoted string; the opening quote is next.
    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let Some(quote) = self.bump() else {
            return Err(self.error(start, "expected a string"));
        };
        let mut out = String::new();
        loop {
            let here = self.pos;
            match self.bump() {
                None => {
                    return Err(self.error(start, format!("unterminated string; add the closing {quote}")));
                }
                Some(c) if c == quote => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('"') => out.push('"'),
                    Some('\'') => out.push('\''),
                    Some('\\') => out.push('\\'),
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    None => {
                        return Err(self.error(start, format!("unterminated string; add the closing {quote}")));
                    }
                    Some(other) => {
                        return Err(self.error(
                            here,
                            format!(
                                "unknown escape '\\{other}' in string; the escapes are \
                                 \\\", \\', \\\\, \\n and \\t"
                            ),
                        ));
                    }
                },
                Some(c) => out.push(c),
            }
        }
    }

    /// A number: optional sign, digits with an optional fraction, optional exponent.
    fn number(&mut self) -> Result<f64, ParseError> {
        let start = self.pos;
        if matches!(self.peek(), Some('+' | '-')) {
            self.bump();
        }
        self.digits();
        if self.peek() == Some('.') {
            self.bump();
            self.digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            if self.digits() == 0 {
                return Err(self.invalid_number(start));
            }
        }
        if self.peek().is_some_and(|c| is_ident_char(c) || c == '.' || c == '`') {
            return Err(self.invalid_number(start));
        }
        let text = &self.src[start..self.pos];
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(_) => Err(self.error(start, format!("number '{text}' is too large"))),
            Err(_) => Err(self.invalid_number(start)),
        }
    }

    fn digits(&mut self) -> usize {
        let mut n = 0;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            n += 1;
        }
        n
    }

    /// Consumes the rest of a malformed number so the message can quote all of it.
    fn invalid_number(&mut self, start: usize) -> ParseError {
        while self.peek().is_some_and(|c| is_ident_char(c) || matches!(c, '.' | '+')) {
            self.bump();
        }
        let text = &self.src[start..self.pos];
        self.error(
            start,
            format!(
                "invalid number '{text}'; numbers look like 1, -2.5 or 1e-3 \
                 (put text in quotes)"
            ),
        )
    }

    /// A dotted word; its first character (letter, `_` or backtick) is next.
    fn word(&mut self) -> Result<Vec<Segment>, ParseError> {
        let start = self.pos;
        let mut segments = Vec::new();
        loop {
            if self.peek() == Some('`') {
                let tick = self.pos;
                self.bump();
                let content_start = self.pos;
                let Some(len) = self.src[content_start..].find('`') else {
                    return Err(self.error(tick, "unterminated backtick-quoted key; add the closing `"));
                };
                if len == 0 {
                    return Err(self.error(tick, "empty key between backticks"));
                }
                self.pos = content_start + len + 1;
                segments.push(Segment { text: self.src[content_start..content_start + len].to_owned(), quoted: true });
            } else {
                let seg_start = self.pos;
                while self.peek().is_some_and(is_ident_char) {
                    self.bump();
                }
                segments.push(Segment { text: self.src[seg_start..self.pos].to_owned(), quoted: false });
            }
            if self.peek() != Some('.') {
                return Ok(segments);
            }
            let dot = self.pos;
            match self.peek2() {
                Some(c) if c == '`' || is_ident_char(c) => {
                    self.bump();
                }
                _ => {
                    return Err(self.error(dot + 1, format!("expected a key after '{}'", &self.src[start..=dot])));
                }
            }
        }
    }
}

/// Whether a number starts at `c` (followed by `c2`, `c3`): a digit, `.5`, `-1`, `+.5`.
fn starts_number(c: char, c2: Option<char>, c3: Option<char>) -> bool {
    let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
    match c {
        '0'..='9' => true,
        '.' => digit(c2),
        '+' | '-' => digit(c2) || (c2 == Some('.') && digit(c3)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<TokenKind> {
        let (tokens, err) = tokenize(input);
        if let Some(e) = err {
            panic!("lexing {input:?} failed: {e}");
        }
        tokens.into_iter().map(|t| t.kind).collect()
    }

    fn word(parts: &[&str]) -> TokenKind {
        TokenKind::Word(
            parts
                .iter()
                .map(|p| match p.strip_prefix('`') {
                    Some(q) => Segment { text: q.to_owned(), quoted: true },
                    None => Segment { text: (*p).to_owned(), quoted: false },
                })
                .collect(),
        )
    }

    fn lex_err(input: &str) -> (usize, String) {
        let (_, err) = tokenize(input);
        let e = err.unwrap_or_else(|| panic!("lexing {input:?} should fail"));
        (e.position, e.message)
    }

    #[test]
    fn empty_input_is_just_end() {
        assert_eq!(kinds(""), vec![TokenKind::End]);
        assert_eq!(kinds(" \t\n "), vec![TokenKind::End]);
        let (tokens, _) = tokenize("  ");
        assert_eq!((tokens[0].start, tokens[0].end), (2, 2));
    }

    #[test]
    fn operators() {
        use CmpOp::*;
        let cases = [("=", Eq), ("==", Eq), ("!=", Ne), ("<>", Ne), ("<", Lt), ("<=", Le), (">", Gt), (">=", Ge)];
        for (text, op) in cases {
            assert_eq!(kinds(text), vec![TokenKind::Op(op), TokenKind::End], "{text}");
        }
        // No spaces needed between a word, an operator and a value.
        assert_eq!(kinds("a<=-1"), vec![word(&["a"]), TokenKind::Op(Le), TokenKind::Number(-1.0), TokenKind::End]);
        assert_eq!(kinds("a>=b"), vec![word(&["a"]), TokenKind::Op(Ge), word(&["b"]), TokenKind::End]);
    }

    #[test]
    fn punctuation() {
        assert_eq!(
            kinds("(a,b)"),
            vec![TokenKind::LParen, word(&["a"]), TokenKind::Comma, word(&["b"]), TokenKind::RParen, TokenKind::End]
        );
    }

    #[test]
    fn numbers() {
        let cases: &[(&str, f64)] = &[
            ("1", 1.0),
            ("0", 0.0),
            ("-2.5", -2.5),
            ("+3", 3.0),
            ("1e-3", 1e-3),
            ("1E+3", 1e3),
            ("2.5e10", 2.5e10),
            (".5", 0.5),
            ("-.5", -0.5),
            ("5.", 5.0),
            ("007", 7.0),
        ];
        for &(text, v) in cases {
            assert_eq!(kinds(text), vec![TokenKind::Number(v), TokenKind::End], "{text}");
        }
    }

    #[test]
    fn bad_numbers() {
        let (pos, msg) = lex_err("x = 1abc");
        assert_eq!(pos, 4);
        assert_eq!(msg, "invalid number '1abc'; numbers look like 1, -2.5 or 1e-3 (put text in quotes)");
        assert_eq!(lex_err("x = 1e").0, 4);
        assert!(lex_err("x = 1e").1.contains("'1e'"));
        assert!(lex_err("x = 1e+").1.contains("'1e+'"));
        assert!(lex_err("x = 1.2.3").1.contains("'1.2.3'"));
        assert!(lex_err("x = 1-2").1.contains("'1-2'"));
        let (pos, msg) = lex_err("x = 1e999");
        assert_eq!(pos, 4);
        assert_eq!(msg, "number '1e999' is too large");
    }

    #[test]
    fn strings_and_escapes() {
        let cases = [
            (r#""abc""#, "abc"),
            ("'abc'", "abc"),
            ("''", ""),
            (r#""it's""#, "it's"),
            (r#"'say "hi"'"#, "say \"hi\""),
            (r#""a\"b""#, "a\"b"),
            (r"'a\'b'", "a'b"),
            (r"'a\\b'", "a\\b"),
            (r"'a\nb\tc'", "a\nb\tc"),
            ("'ünï cödé ✓'", "ünï cödé ✓"),
            ("'a and b'", "a and b"),
        ];
        for (text, s) in cases {
            assert_eq!(kinds(text), vec![TokenKind::Str(s.to_owned()), TokenKind::End], "{text}");
        }
    }

    #[test]
    fn bad_strings() {
        assert_eq!(lex_err("tags.a = 'abc"), (9, "unterminated string; add the closing '".to_owned()));
        assert_eq!(lex_err(r#"tags.a = "abc\"#), (9, "unterminated string; add the closing \"".to_owned()));
        assert_eq!(lex_err(r#"tags.a = "ab\"#).0, 9);
        let (pos, msg) = lex_err(r"tags.a = 'a\qb'");
        assert_eq!(pos, 11);
        assert_eq!(msg, r#"unknown escape '\q' in string; the escapes are \", \', \\, \n and \t"#);
    }

    #[test]
    fn words_and_keys() {
        assert_eq!(kinds("params.optimizer.lr"), vec![word(&["params", "optimizer", "lr"]), TokenKind::End]);
        assert_eq!(kinds("metrics.train/loss"), vec![word(&["metrics", "train/loss"]), TokenKind::End]);
        assert_eq!(kinds("metrics.val-acc:top1"), vec![word(&["metrics", "val-acc:top1"]), TokenKind::End]);
        assert_eq!(kinds("params.layers.0.size"), vec![word(&["params", "layers", "0", "size"]), TokenKind::End]);
        assert_eq!(kinds("params.`learning rate`.x"), vec![word(&["params", "`learning rate", "x"]), TokenKind::End]);
        assert_eq!(kinds("tags.`a.b (c)`"), vec![word(&["tags", "`a.b (c)"]), TokenKind::End]);
        assert_eq!(kinds("_x"), vec![word(&["_x"]), TokenKind::End]);
        assert_eq!(kinds("`odd`"), vec![word(&["`odd"]), TokenKind::End]);
    }

    #[test]
    fn bad_words() {
        assert_eq!(lex_err("params. = 1"), (7, "expected a key after 'params.'".to_owned()));
        assert_eq!(lex_err("params.a."), (9, "expected a key after 'params.a.'".to_owned()));
        assert_eq!(lex_err("tags.`abc = 1"), (5, "unterminated backtick-quoted key; add the closing `".to_owned()));
        assert_eq!(lex_err("tags.`` = 1"), (5, "empty key between backticks".to_owned()));
    }

    #[test]
    fn unexpected_characters() {
        assert_eq!(lex_err("a ! b"), (2, "unexpected character '!'; did you mean '!='?".to_owned()));
        assert_eq!(
            lex_err("a = 1 && b = 2"),
            (6, "unexpected character '&'; use 'and' to combine conditions".to_owned())
        );
        assert_eq!(lex_err("a = 1 || b").1, "unexpected character '|'; use 'or' to combine conditions");
        assert_eq!(lex_err("a = 1 ; b").0, 6);
        assert_eq!(lex_err("a = 1 ; b").1, "unexpected character ';'");
        assert_eq!(lex_err("é").1, "unexpected character 'é'");
        assert_eq!(lex_err("a\u{0}").1, "unexpected character \\u{0}");
        assert_eq!(lex_err("-x").1, "unexpected character '-'");
    }

    #[test]
    fn spans_are_byte_ranges() {
        let (tokens, err) = tokenize("a = 'ü' and b");
        assert!(err.is_none());
        let spans: Vec<_> = tokens.iter().map(|t| (t.start, t.end)).collect();
        assert_eq!(spans, vec![(0, 1), (2, 3), (4, 8), (9, 12), (13, 14), (14, 14)]);
    }

    #[test]
    fn tokens_before_a_lex_error_are_kept() {
        let (tokens, err) = tokenize("a < < 'x");
        assert!(err.is_some());
        assert_eq!(tokens.len(), 3);
    }

    #[test]
    fn keyword_helpers() {
        let (tokens, _) = tokenize("AnD `and` a.b");
        assert!(tokens[0].is_keyword("and"));
        assert!(!tokens[1].is_keyword("and"));
        assert_eq!(tokens[1].bare_word(), None);
        assert_eq!(tokens[2].bare_word(), None);
        assert!(!tokens[3].is_keyword("and"));
    }
}

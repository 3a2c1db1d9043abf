//! Recursive-descent parser for filters and orderings.

use crate::error::ParseError;
use crate::lexer::{Segment, Token, TokenKind, tokenize};
use crate::{Attr, Expr, Field, MetricAgg, OrderKey, Value};

/// How deeply `not` and parentheses may nest before the parser gives up (keeps the
/// recursion, and so the stack, bounded for hostile input).
pub const MAX_DEPTH: usize = 100;
/// Most comparisons one filter may hold. Each becomes a condition (often a subquery)
/// in SQL; thousands of them take a database minutes, or exceed SQLite's limits.
pub const MAX_TERMS: usize = 200;
/// Most values in one `in (…)` list.
pub const MAX_LIST: usize = 1_000;
/// Longest filter text, in bytes.
pub const MAX_FILTER_BYTES: usize = 100_000;

const FIELD_HELP: &str = "fields are attributes (name, status, owner, …), params.<key>, \
                          metrics.<key>, tags.<key>";
const EXPECTED_FIELD: &str = "expected a field such as params.lr, metrics.loss or status";

/// Parses a filter such as `params.lr < 0.01 and metrics.val_acc > 0.9`.
///
/// Returns `Ok(None)` for empty or whitespace-only text (no filter). Chains of the same
/// operator are flat: `a and b and c` is `And([a, b, c])`; a parenthesised group stays
/// its own node, so `(a and b) and c` is `And([And([a, b]), c])`.
pub fn parse_filter(text: &str) -> Result<Option<Expr>, ParseError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_FILTER_BYTES {
        return Err(ParseError::new(
            text,
            MAX_FILTER_BYTES,
            format!(
                "the filter is {} bytes, over the limit of {MAX_FILTER_BYTES}: narrow it, or split the \
                 search into several",
                text.len()
            ),
        ));
    }
    let mut p = Parser::new(text, "filter");
    let expr = p.expr()?;
    let t = p.peek()?;
    match t.kind {
        TokenKind::End => Ok(Some(expr)),
        TokenKind::RParen => Err(p.error_at(t, "unmatched ')'")),
        _ => Err(p.unexpected(t, "expected 'and', 'or' or the end of the filter", "")),
    }
}

/// Parses an ordering such as `metrics.val_acc desc, params.lr asc, created`.
///
/// Each key is a field (same rules as in filters) optionally followed by `asc` (the
/// default) or `desc`. Empty or whitespace-only text gives no keys.
pub fn parse_order(text: &str) -> Result<Vec<OrderKey>, ParseError> {
    let mut keys = Vec::new();
    if text.trim().is_empty() {
        return Ok(keys);
    }
    let mut p = Parser::new(text, "ordering");
    loop {
        let field = p.field()?;
        let mut descending = false;
        let mut had_direction = false;
        let t = p.peek()?;
        if t.is_keyword("desc") || t.is_keyword("asc") {
            descending = t.is_keyword("desc");
            had_direction = true;
            p.advance();
        }
        keys.push(OrderKey { field, descending });
        let t = p.peek()?;
        match t.kind {
            TokenKind::End => return Ok(keys),
            TokenKind::Comma => p.advance(),
            _ if had_direction => {
                return Err(p.unexpected(t, "expected ',' or the end of the ordering", ""));
            }
            _ => {
                return Err(p.unexpected(t, "expected 'asc', 'desc', ',' or the end of the ordering", ""));
            }
        }
    }
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    /// The lexical error that stopped tokenization, reported when the parser reaches it.
    lex_error: Option<ParseError>,
    pos: usize,
    depth: usize,
    /// Comparisons parsed so far.
    terms: usize,
    /// "filter" or "ordering", for messages.
    what: &'static str,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str, what: &'static str) -> Self {
        let (tokens, lex_error) = tokenize(input);
        Parser { input, tokens, lex_error, pos: 0, depth: 0, terms: 0, what }
    }

    /// The next token; the lexical error once the parser reaches it.
    fn peek(&self) -> Result<&Token, ParseError> {
        match self.tokens.get(self.pos) {
            Some(t) => Ok(t),
            None => Err(self
                .lex_error
                .clone()
                .unwrap_or_else(|| ParseError::new(self.input, self.input.len(), "unexpected end of input"))),
        }
    }

    /// The token after the next one, if it was lexed.
    fn peek2(&self) -> Option<&Token> {
        self.tokens.get(self.pos + 1)
    }

    fn advance(&mut self) {
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
    }

    fn text(&self, t: &Token) -> &'a str {
        &self.input[t.start..t.end]
    }

    fn error_at(&self, t: &Token, message: impl Into<String>) -> ParseError {
        ParseError::new(self.input, t.start, message)
    }

    /// How a token is named in "found …".
    fn describe(&self, t: &Token) -> String {
        match t.kind {
            TokenKind::End => format!("the end of the {}", self.what),
            TokenKind::Str(_) => format!("the string {}", shorten(self.text(t))),
            _ => format!("'{}'", shorten(self.text(t))),
        }
    }

    /// `"{expected}, found {t}"`, or just `expected` at the end of the input (the
    /// position says where). `hint`, when not empty, is appended after a semicolon.
    fn unexpected(&self, t: &Token, expected: &str, hint: &str) -> ParseError {
        let mut message = if t.kind == TokenKind::End {
            expected.to_owned()
        } else {
            format!("{expected}, found {}", self.describe(t))
        };
        if !hint.is_empty() && t.kind != TokenKind::End {
            message.push_str("; ");
            message.push_str(hint);
        }
        self.error_at(t, message)
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let t = self.peek()?;
            return Err(self.error_at(
                t,
                format!(
                    "the {} nests too deeply (more than {MAX_DEPTH} levels of parentheses \
                     or 'not')",
                    self.what
                ),
            ));
        }
        Ok(())
    }

    // expr := and_expr ("or" and_expr)*
    fn expr(&mut self) -> Result<Expr, ParseError> {
        let first = self.and_expr()?;
        if !self.peek()?.is_keyword("or") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.peek()?.is_keyword("or") {
            self.advance();
            items.push(self.and_expr()?);
        }
        Ok(Expr::Or(items))
    }

    // and_expr := not_expr ("and" not_expr)*
    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let first = self.not_expr()?;
        if !self.peek()?.is_keyword("and") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.peek()?.is_keyword("and") {
            self.advance();
            items.push(self.not_expr()?);
        }
        Ok(Expr::And(items))
    }

    // not_expr := "not" not_expr | "(" expr ")" | predicate
    fn not_expr(&mut self) -> Result<Expr, ParseError> {
        let t = self.peek()?;
        if t.is_keyword("not") {
            self.enter()?;
            self.advance();
            let inner = self.not_expr()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        if t.kind == TokenKind::LParen {
            let open = t.clone();
            self.enter()?;
            self.advance();
            let inner = self.expr()?;
            let t = self.peek()?;
            match t.kind {
                TokenKind::RParen => self.advance(),
                TokenKind::End => {
                    return Err(self.error_at(
                        t,
                        format!(
                            "expected ')' to close the '(' at column {}",
                            ParseError::new(self.input, open.start, "").column()
                        ),
                    ));
                }
                _ => return Err(self.unexpected(t, "expected 'and', 'or' or ')'", "")),
            }
            self.depth -= 1;
            return Ok(inner);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, ParseError> {
        let field_token = self.peek()?.clone();
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(self.error_at(
                &field_token,
                format!(
                    "the filter has more than {MAX_TERMS} comparisons, the limit: use 'in (…)' for a \
                     list of values (up to {MAX_LIST}), or split the search"
                ),
            ));
        }
        let field = self.field()?;
        let input = self.input;
        let field_text = &input[field_token.start..self.tokens[self.pos - 1].end];
        let t = self.peek()?.clone();
        if let TokenKind::Op(op) = t.kind {
            self.advance();
            let value = self.value(self.text(&t))?;
            return Ok(Expr::Compare { field, op, value });
        }
        let negated = t.is_keyword("not");
        if negated {
            self.advance();
            let t = self.peek()?;
            if !(t.is_keyword("in") || t.is_keyword("like") || t.is_keyword("ilike")) {
                return Err(self.unexpected(t, "expected 'in', 'like' or 'ilike' after 'not'", ""));
            }
        }
        let t = self.peek()?.clone();
        if t.is_keyword("in") {
            self.advance();
            let values = self.value_list()?;
            return Ok(Expr::In { field, values, negated });
        }
        if t.is_keyword("like") || t.is_keyword("ilike") {
            let case_insensitive = t.is_keyword("ilike");
            self.advance();
            let p = self.peek()?;
            let TokenKind::Str(pattern) = &p.kind else {
                let kw = if case_insensitive { "ilike" } else { "like" };
                return Err(self.error_at(p, format!("'{kw}' needs a quoted pattern such as 'ad%'")));
            };
            let pattern = pattern.clone();
            self.advance();
            return Ok(Expr::Like { field, pattern, case_insensitive, negated });
        }
        if t.is_keyword("is") {
            self.advance();
            let negated = self.peek()?.is_keyword("not");
            if negated {
                self.advance();
            }
            let t = self.peek()?;
            if !t.is_keyword("null") {
                let expected =
                    if negated { "expected 'null' after 'is not'" } else { "expected 'null' or 'not null' after 'is'" };
                return Err(self.unexpected(t, expected, ""));
            }
            self.advance();
            return Ok(Expr::IsNull { field, negated });
        }
        Err(self.unexpected(
            &t,
            &format!(
                "expected an operator after '{}' (=, !=, <, <=, >, >=, in, not in, like, \
                 ilike, is null)",
                shorten(field_text)
            ),
            "",
        ))
    }

    /// A value after `after` (an operator, `(` or `,`, as written).
    fn value(&mut self, after: &str) -> Result<Value, ParseError> {
        let t = self.peek()?;
        if t.kind == TokenKind::End {
            return Err(self.error_at(t, format!("expected a value after '{after}'")));
        }
        let value = match &t.kind {
            TokenKind::Number(n) => Value::Number(*n),
            TokenKind::Str(s) => Value::String(s.clone()),
            _ if t.is_keyword("true") => Value::Bool(true),
            _ if t.is_keyword("false") => Value::Bool(false),
            _ if t.is_keyword("null") => {
                return Err(self.error_at(
                    t,
                    "null is not a value; use 'is null' or 'is not null' to test for a \
                     missing value",
                ));
            }
            TokenKind::Word(_) => {
                let text = self.text(t);
                return Err(self.unexpected(
                    t,
                    &format!("expected a value after '{after}'"),
                    &format!("put text in quotes, e.g. '{}'", shorten(text)),
                ));
            }
            _ => {
                return Err(self.unexpected(
                    t,
                    &format!(
                        "expected a value (a number, a quoted string, true or false) \
                         after '{after}'"
                    ),
                    "",
                ));
            }
        };
        self.advance();
        Ok(value)
    }

    /// `( value ("," value)* )` after `in`.
    fn value_list(&mut self) -> Result<Vec<Value>, ParseError> {
        let t = self.peek()?;
        if t.kind != TokenKind::LParen {
            return Err(self.error_at(t, "'in' needs a parenthesised list such as (1, 2)"));
        }
        self.advance();
        let t = self.peek()?;
        if t.kind == TokenKind::RParen {
            return Err(self.error_at(t, "'in' needs at least one value, such as (1, 2)"));
        }
        let mut values = vec![self.value("(")?];
        loop {
            let t = self.peek()?;
            match t.kind {
                TokenKind::Comma => {
                    if values.len() == MAX_LIST {
                        return Err(self.error_at(
                            t,
                            format!(
                                "the 'in' list has more than {MAX_LIST} values, the limit: split the search, \
                                 or filter on a tag the runs share"
                            ),
                        ));
                    }
                    self.advance();
                    values.push(self.value(",")?);
                }
                TokenKind::RParen => {
                    self.advance();
                    return Ok(values);
                }
                TokenKind::End => {
                    return Err(self.error_at(t, "expected ',' or ')' to continue the 'in' list"));
                }
                _ => {
                    return Err(self.unexpected(t, "expected ',' or ')' in the 'in' list", ""));
                }
            }
        }
    }

    /// field := path | ("min"|"max"|"last"|"count") "(" metric path ")"
    fn field(&mut self) -> Result<Field, ParseError> {
        let t = self.peek()?;
        let TokenKind::Word(segments) = &t.kind else {
            let hint = if matches!(t.kind, TokenKind::Str(_)) {
                "quote odd keys with backticks, e.g. params.`learning rate`"
            } else {
                ""
            };
            return Err(self.unexpected(t, EXPECTED_FIELD, hint));
        };
        if let Some(agg) = t.bare_word().and_then(aggregate)
            && self.peek2().is_some_and(|n| n.kind == TokenKind::LParen)
        {
            let name = self.text(t).to_ascii_lowercase();
            self.advance();
            self.advance();
            let inner = self.peek()?;
            let key = match &inner.kind {
                TokenKind::Word(segments) => match resolve_path(self.input, inner, segments) {
                    Ok(Field::Metric { key, .. }) => key,
                    Ok(_) => {
                        return Err(
                            self.error_at(inner, format!("{name}() takes a metric, such as {name}(metrics.loss)"))
                        );
                    }
                    Err(e) => return Err(e),
                },
                _ => {
                    return Err(self.unexpected(
                        inner,
                        &format!("{name}() takes a metric, such as {name}(metrics.loss)"),
                        "",
                    ));
                }
            };
            self.advance();
            let close = self.peek()?;
            if close.kind != TokenKind::RParen {
                return Err(self.unexpected(
                    close,
                    &format!("expected ')' after '{name}(metrics.{}'", display_key(&key)),
                    "",
                ));
            }
            self.advance();
            return Ok(Field::Metric { key, agg });
        }
        if t.is_keyword("not") || t.is_keyword("and") || t.is_keyword("or") {
            return Err(self.unexpected(t, EXPECTED_FIELD, ""));
        }
        let field = resolve_path(self.input, t, segments)?;
        self.advance();
        Ok(field)
    }
}

fn aggregate(word: &str) -> Option<MetricAgg> {
    match word.to_ascii_lowercase().as_str() {
        "min" => Some(MetricAgg::Min),
        "max" => Some(MetricAgg::Max),
        "last" => Some(MetricAgg::Last),
        "count" => Some(MetricAgg::Count),
        _ => None,
    }
}

#[derive(Clone, Copy)]
enum Prefix {
    Param,
    Metric,
    Tag,
    Attr,
}

fn prefix(word: &str) -> Option<Prefix> {
    match word.to_ascii_lowercase().as_str() {
        "params" | "param" | "config" => Some(Prefix::Param),
        "metrics" | "metric" => Some(Prefix::Metric),
        "tags" | "tag" => Some(Prefix::Tag),
        "attributes" | "attribute" | "attr" | "attrs" => Some(Prefix::Attr),
        _ => None,
    }
}

/// Turns a dotted word into a field.
fn resolve_path(input: &str, t: &Token, segments: &[Segment]) -> Result<Field, ParseError> {
    let text = &input[t.start..t.end];
    let err = |message: String| ParseError::new(input, t.start, message);
    let head = &segments[0];
    let head_prefix = if head.quoted { None } else { prefix(&head.text) };
    if let Some(kind) = head_prefix {
        let rest = &segments[1..];
        let name = head.text.to_ascii_lowercase();
        if rest.is_empty() {
            let example = match kind {
                Prefix::Param => format!("{name}.lr"),
                Prefix::Metric => format!("{name}.loss"),
                Prefix::Tag => format!("{name}.aug"),
                Prefix::Attr => format!("{name}.status"),
            };
            return Err(err(format!("'{text}' needs a key, such as {example}")));
        }
        let key = rest.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(".");
        return match kind {
            Prefix::Param => Ok(Field::Param(key)),
            Prefix::Metric => Ok(Field::Metric { key, agg: MetricAgg::Last }),
            Prefix::Tag => Ok(Field::Tag(key)),
            Prefix::Attr => match rest {
                [one] if !one.quoted => {
                    Attr::from_name(&one.text).map(Field::Attr).ok_or_else(|| err(unknown_attribute(&one.text)))
                }
                _ => Err(err(unknown_attribute(&key))),
            },
        };
    }
    if segments.len() == 1
        && !head.quoted
        && let Some(attr) = Attr::from_name(&head.text)
    {
        return Ok(Field::Attr(attr));
    }
    let mut message = format!("unknown field '{}'; {FIELD_HELP}", shorten(text));
    if let Some(suggestion) = suggest(segments) {
        message.push_str(&format!("; did you mean '{suggestion}'?"));
    }
    Err(err(message))
}

fn unknown_attribute(name: &str) -> String {
    let names: Vec<&str> = Attr::ALL.iter().map(|a| a.name()).collect();
    format!("unknown attribute '{}'; attributes are {}", shorten(name), names.join(", "))
}

/// A close spelling of the field prefix or attribute name, for "did you mean".
fn suggest(segments: &[Segment]) -> Option<String> {
    let head = &segments[0];
    if head.quoted {
        return None;
    }
    let lower = head.text.to_ascii_lowercase();
    let candidates: &[&str] =
        if segments.len() > 1 { &["params", "metrics", "tags", "attributes", "config"] } else { &[] };
    let attr_names: Vec<&str> =
        if segments.len() == 1 { Attr::ALL.iter().map(|a| a.name()).collect() } else { Vec::new() };
    let best = candidates
        .iter()
        .chain(attr_names.iter())
        .map(|c| (edit_distance(&lower, c), *c))
        .filter(|&(d, c)| d > 0 && d <= 2 && d < c.len())
        .min_by_key(|&(d, _)| d)?
        .1;
    let mut out = best.to_owned();
    for s in &segments[1..] {
        out.push('.');
        out.push_str(&display_segment(&s.text));
    }
    Some(out)
}

/// Levenshtein distance over characters; inputs here are short words.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// A key segment as it would be typed: bare when possible, else in backticks.
pub(crate) fn display_segment(segment: &str) -> String {
    if !segment.is_empty() && segment.chars().all(crate::lexer::is_ident_char) {
        segment.to_owned()
    } else {
        format!("`{segment}`")
    }
}

/// A dotted key as it would be typed after `params.` etc.
pub(crate) fn display_key(key: &str) -> String {
    // A key with an empty segment (a leading, trailing or doubled dot, which only a
    // quoted segment can hold) is quoted whole, so it reads back as the same key.
    if key.split('.').any(str::is_empty) {
        return format!("`{key}`");
    }
    key.split('.').map(display_segment).collect::<Vec<_>>().join(".")
}

/// Long source text quoted in messages is cut to keep them readable.
fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(MAX - 1).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CmpOp::{self, *};

    // ---- helpers -------------------------------------------------------------------

    fn check(input: &str, expected: Expr) {
        match parse_filter(input) {
            Ok(Some(got)) => assert_eq!(got, expected, "input: {input:?}"),
            Ok(None) => panic!("{input:?} parsed to no filter"),
            Err(e) => panic!("{input:?} failed: {e}\n{}", e.caret()),
        }
    }

    /// The error's byte position and message.
    fn check_err(input: &str, position: usize, message: &str) {
        match parse_filter(input) {
            Ok(got) => panic!("{input:?} should fail, parsed to {got:?}"),
            Err(e) => {
                assert_eq!((e.position, e.message.as_str()), (position, message), "input: {input:?}\n{}", e.caret());
                assert_eq!(e.input, input);
            }
        }
    }

    fn param(k: &str) -> Field {
        Field::Param(k.to_owned())
    }
    fn metric(k: &str) -> Field {
        Field::Metric { key: k.to_owned(), agg: MetricAgg::Last }
    }
    fn agg(k: &str, agg: MetricAgg) -> Field {
        Field::Metric { key: k.to_owned(), agg }
    }
    fn tag(k: &str) -> Field {
        Field::Tag(k.to_owned())
    }
    fn num(n: f64) -> Value {
        Value::Number(n)
    }
    fn s(v: &str) -> Value {
        Value::String(v.to_owned())
    }
    fn cmp(field: Field, op: CmpOp, value: Value) -> Expr {
        Expr::Compare { field, op, value }
    }
    /// `params.<k> = 1`, a short leaf for structure tests.
    fn p(k: &str) -> Expr {
        cmp(param(k), Eq, num(1.0))
    }
    fn not(e: Expr) -> Expr {
        Expr::Not(Box::new(e))
    }

    // ---- filters -------------------------------------------------------------------

    #[test]
    fn empty_filter_is_none() {
        for input in ["", " ", "\t\n  ", "\r\n"] {
            assert_eq!(parse_filter(input), Ok(None), "{input:?}");
        }
    }

    #[test]
    fn comparison_operators() {
        let cases = [
            ("params.lr = 1", Eq),
            ("params.lr == 1", Eq),
            ("params.lr != 1", Ne),
            ("params.lr <> 1", Ne),
            ("params.lr < 1", Lt),
            ("params.lr <= 1", Le),
            ("params.lr > 1", Gt),
            ("params.lr >= 1", Ge),
            ("params.lr>=1", Ge),
        ];
        for (input, op) in cases {
            check(input, cmp(param("lr"), op, num(1.0)));
        }
    }

    #[test]
    fn values() {
        let cases = [
            ("params.x = 1", num(1.0)),
            ("params.x = 0", num(0.0)),
            ("params.x = -2.5", num(-2.5)),
            ("params.x = +2.5", num(2.5)),
            ("params.x = 1e-3", num(1e-3)),
            ("params.x = 1E3", num(1000.0)),
            ("params.x = -1.5e+2", num(-150.0)),
            ("params.x = .25", num(0.25)),
            ("params.x = 'adam'", s("adam")),
            ("params.x = \"adam\"", s("adam")),
            ("params.x = ''", s("")),
            ("params.x = 'a\\'b'", s("a'b")),
            ("params.x = \"a\\\"b\"", s("a\"b")),
            ("params.x = 'a\\\\b'", s("a\\b")),
            ("params.x = 'a\\nb\\tc'", s("a\nb\tc")),
            ("params.x = 'and or not ('", s("and or not (")),
            ("params.x = 'ünïcödé'", s("ünïcödé")),
            ("params.x = true", Value::Bool(true)),
            ("params.x = FALSE", Value::Bool(false)),
            ("params.x = True", Value::Bool(true)),
        ];
        for (input, value) in cases {
            check(input, cmp(param("x"), Eq, value));
        }
    }

    #[test]
    fn attributes_and_aliases() {
        use Attr::*;
        let cases = [
            ("id", Id),
            ("short_id", ShortId),
            ("name", Name),
            ("run_name", Name),
            ("description", Description),
            ("hypothesis", Hypothesis),
            ("owner", Owner),
            ("user", Owner),
            ("status", Status),
            ("project", Project),
            ("group", Group),
            ("group_id", Group),
            ("created", Created),
            ("created_at", Created),
            ("started", Started),
            ("started_at", Started),
            ("start_time", Started),
            ("ended", Ended),
            ("ended_at", Ended),
            ("end_time", Ended),
            ("fingerprint", Fingerprint),
            ("STATUS", Status),
            ("attributes.status", Status),
            ("attr.status", Status),
            ("Attributes.Created_At", Created),
        ];
        for (name, attr) in cases {
            check(&format!("{name} = 'x'"), cmp(Field::Attr(attr), Eq, s("x")));
        }
    }

    #[test]
    fn field_kinds() {
        let cases = [
            ("params.lr", param("lr")),
            ("param.lr", param("lr")),
            ("config.lr", param("lr")),
            ("PARAMS.lr", param("lr")),
            ("params.optimizer.lr", param("optimizer.lr")),
            ("params.layers.0.size", param("layers.0.size")),
            ("params.LR", param("LR")),
            ("params.in", param("in")),
            ("params.and.or", param("and.or")),
            ("params.`learning rate`", param("learning rate")),
            ("params.`a.b`.c", param("a.b.c")),
            ("params.`x`", param("x")),
            ("params.`(odd) key = 1`", param("(odd) key = 1")),
            ("metrics.val_acc", metric("val_acc")),
            ("metric.val_acc", metric("val_acc")),
            ("metrics.train/loss", metric("train/loss")),
            ("metrics.val-acc:top1", metric("val-acc:top1")),
            ("metrics.eval.loss", metric("eval.loss")),
            ("tags.aug", tag("aug")),
            ("tag.aug", tag("aug")),
            ("tags.`my tag`", tag("my tag")),
            ("min(metrics.loss)", agg("loss", MetricAgg::Min)),
            ("MAX(metrics.loss)", agg("loss", MetricAgg::Max)),
            ("last(metrics.loss)", agg("loss", MetricAgg::Last)),
            ("count(metrics.loss)", agg("loss", MetricAgg::Count)),
            ("count( metric.train/loss )", agg("train/loss", MetricAgg::Count)),
            ("min(metrics.`a b`)", agg("a b", MetricAgg::Min)),
        ];
        for (text, field) in cases {
            check(&format!("{text} > 1"), cmp(field, Gt, num(1.0)));
        }
    }

    #[test]
    fn in_lists() {
        check(
            "status in ('finished', 'failed')",
            Expr::In { field: Field::Attr(Attr::Status), values: vec![s("finished"), s("failed")], negated: false },
        );
        check(
            "params.seed not in (1, 2, 3)",
            Expr::In { field: param("seed"), values: vec![num(1.0), num(2.0), num(3.0)], negated: true },
        );
        check("params.x IN (1)", Expr::In { field: param("x"), values: vec![num(1.0)], negated: false });
        check(
            "params.x NOT IN(true,'a',-1e2)",
            Expr::In { field: param("x"), values: vec![Value::Bool(true), s("a"), num(-100.0)], negated: true },
        );
    }

    #[test]
    fn like_and_ilike() {
        let like = |pattern: &str, ci: bool, neg: bool| Expr::Like {
            field: param("optimizer.name"),
            pattern: pattern.to_owned(),
            case_insensitive: ci,
            negated: neg,
        };
        check("params.optimizer.name like 'ad%'", like("ad%", false, false));
        check("params.optimizer.name LIKE \"ad_\"", like("ad_", false, false));
        check("params.optimizer.name ilike 'AD%'", like("AD%", true, false));
        check("params.optimizer.name not like 'sgd%'", like("sgd%", false, true));
        check("params.optimizer.name Not ILike '%x%'", like("%x%", true, true));
    }

    #[test]
    fn is_null() {
        check("tags.note is null", Expr::IsNull { field: tag("note"), negated: false });
        check("tags.note IS NOT NULL", Expr::IsNull { field: tag("note"), negated: true });
        check("ended is null", Expr::IsNull { field: Field::Attr(Attr::Ended), negated: false });
    }

    #[test]
    fn and_or_chains_are_flat() {
        check("params.a = 1", p("a"));
        check("params.a = 1 and params.b = 1", Expr::And(vec![p("a"), p("b")]));
        check("params.a = 1 and params.b = 1 and params.c = 1", Expr::And(vec![p("a"), p("b"), p("c")]));
        check("params.a = 1 or params.b = 1 or params.c = 1", Expr::Or(vec![p("a"), p("b"), p("c")]));
        check("params.a = 1 AND params.b = 1 Or params.c = 1", Expr::Or(vec![Expr::And(vec![p("a"), p("b")]), p("c")]));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        check("params.a = 1 or params.b = 1 and params.c = 1", Expr::Or(vec![p("a"), Expr::And(vec![p("b"), p("c")])]));
        check(
            "params.a = 1 and params.b = 1 or params.c = 1 and params.d = 1",
            Expr::Or(vec![Expr::And(vec![p("a"), p("b")]), Expr::And(vec![p("c"), p("d")])]),
        );
    }

    #[test]
    fn not_binds_tightest() {
        check("not params.a = 1", not(p("a")));
        check("not params.a = 1 and params.b = 1", Expr::And(vec![not(p("a")), p("b")]));
        check("params.a = 1 or not params.b = 1", Expr::Or(vec![p("a"), not(p("b"))]));
        check("not not params.a = 1", not(not(p("a"))));
        check("NOT params.a = 1", not(p("a")));
        check("not params.x in (1)", not(Expr::In { field: param("x"), values: vec![num(1.0)], negated: false }));
    }

    #[test]
    fn parentheses() {
        check("(params.a = 1)", p("a"));
        check("((params.a = 1))", p("a"));
        check(
            "(params.a = 1 or params.b = 1) and params.c = 1",
            Expr::And(vec![Expr::Or(vec![p("a"), p("b")]), p("c")]),
        );
        check("not (params.a = 1 or params.b = 1)", not(Expr::Or(vec![p("a"), p("b")])));
        // Explicit groups keep their structure.
        check(
            "(params.a = 1 and params.b = 1) and params.c = 1",
            Expr::And(vec![Expr::And(vec![p("a"), p("b")]), p("c")]),
        );
        check(
            "params.a = 1 and (params.b = 1 and (params.c = 1 or params.d = 1))",
            Expr::And(vec![p("a"), Expr::And(vec![p("b"), Expr::Or(vec![p("c"), p("d")])])]),
        );
        check("(params.a=1)and(params.b=1)", Expr::And(vec![p("a"), p("b")]));
    }

    #[test]
    fn whitespace_is_free() {
        check("  params.a = 1\n\tand\r\n params.b = 1  ", Expr::And(vec![p("a"), p("b")]));
    }

    #[test]
    fn documented_examples() {
        check(
            r#"params.lr < 0.01 and metrics.val_acc > 0.9 and tags.aug = "mixup""#,
            Expr::And(vec![
                cmp(param("lr"), Lt, num(0.01)),
                cmp(metric("val_acc"), Gt, num(0.9)),
                cmp(tag("aug"), Eq, s("mixup")),
            ]),
        );
        check(
            r#"status in ("finished", "failed") or not (owner = 'ana')"#,
            Expr::Or(vec![
                Expr::In { field: Field::Attr(Attr::Status), values: vec![s("finished"), s("failed")], negated: false },
                not(cmp(Field::Attr(Attr::Owner), Eq, s("ana"))),
            ]),
        );
        check(
            r#"min(metrics.loss) <= 0.2 and params.optimizer.name like "ad%" and tags.note is null"#,
            Expr::And(vec![
                cmp(agg("loss", MetricAgg::Min), Le, num(0.2)),
                Expr::Like {
                    field: param("optimizer.name"),
                    pattern: "ad%".into(),
                    case_insensitive: false,
                    negated: false,
                },
                Expr::IsNull { field: tag("note"), negated: false },
            ]),
        );
    }

    // ---- filter errors -------------------------------------------------------------

    #[test]
    fn error_missing_value_points_at_end() {
        check_err("params.lr < ", 12, "expected a value after '<'");
        check_err("params.lr <", 11, "expected a value after '<'");
        let e = parse_filter("params.lr <").unwrap_err();
        assert_eq!(e.to_string(), "expected a value after '<' at column 12");
        assert_eq!(e.caret(), "params.lr <\n           ^");
    }

    #[test]
    fn error_trailing_garbage() {
        check_err("params.lr < 0.01 andd x", 17, "expected 'and', 'or' or the end of the filter, found 'andd'");
        check_err("params.lr < 0.01 xyz", 17, "expected 'and', 'or' or the end of the filter, found 'xyz'");
        check_err("params.lr < 0.01 0.5", 17, "expected 'and', 'or' or the end of the filter, found '0.5'");
        check_err("params.a = 1 'x'", 13, "expected 'and', 'or' or the end of the filter, found the string 'x'");
        check_err("params.a = 1)", 12, "unmatched ')'");
        check_err("params.a = 1 (", 13, "expected 'and', 'or' or the end of the filter, found '('");
    }

    #[test]
    fn error_unterminated_string() {
        check_err("tags.aug = 'mixup", 11, "unterminated string; add the closing '");
        check_err("tags.aug = \"mixup and x = 1", 11, "unterminated string; add the closing \"");
    }

    #[test]
    fn error_unknown_field() {
        check_err(
            "paramz.lr < 1",
            0,
            "unknown field 'paramz.lr'; fields are attributes (name, status, owner, …), \
             params.<key>, metrics.<key>, tags.<key>; did you mean 'params.lr'?",
        );
        check_err(
            "x = 1 and foo = 2",
            0,
            "unknown field 'x'; fields are attributes (name, status, owner, …), \
             params.<key>, metrics.<key>, tags.<key>",
        );
        check_err(
            "params.a = 1 and foo.bar.baz = 2",
            17,
            "unknown field 'foo.bar.baz'; fields are attributes (name, status, owner, …), \
             params.<key>, metrics.<key>, tags.<key>",
        );
        check_err(
            "stauts = 'ok'",
            0,
            "unknown field 'stauts'; fields are attributes (name, status, owner, …), \
             params.<key>, metrics.<key>, tags.<key>; did you mean 'status'?",
        );
        check_err(
            "metrix.`train loss` > 1",
            0,
            "unknown field 'metrix.`train loss`'; fields are attributes (name, status, \
             owner, …), params.<key>, metrics.<key>, tags.<key>; did you mean \
             'metrics.`train loss`'?",
        );
        // A backticked head is never a prefix.
        assert!(parse_filter("`params`.lr = 1").unwrap_err().message.starts_with("unknown field '`params`.lr'"));
        // An attribute name is not a prefix.
        assert!(parse_filter("status.x = 1").unwrap_err().message.starts_with("unknown field 'status.x'"));
        check_err(
            "attributes.colour = 1",
            0,
            "unknown attribute 'colour'; attributes are id, short_id, name, description, \
             hypothesis, owner, status, project, group, created, started, ended, fingerprint",
        );
        assert!(parse_filter("attr.a.b = 1").unwrap_err().message.starts_with("unknown attribute 'a.b'"));
    }

    #[test]
    fn error_prefix_without_key() {
        check_err("params = 1", 0, "'params' needs a key, such as params.lr");
        check_err("METRICS > 1", 0, "'METRICS' needs a key, such as metrics.loss");
        check_err("tags is null", 0, "'tags' needs a key, such as tags.aug");
        check_err("attr = 1", 0, "'attr' needs a key, such as attr.status");
        check_err("params. = 1", 7, "expected a key after 'params.'");
    }

    #[test]
    fn error_in_needs_a_list() {
        check_err("status in 1", 10, "'in' needs a parenthesised list such as (1, 2)");
        check_err("status in", 9, "'in' needs a parenthesised list such as (1, 2)");
        check_err("status not in 'a'", 14, "'in' needs a parenthesised list such as (1, 2)");
        check_err("status in ()", 11, "'in' needs at least one value, such as (1, 2)");
        check_err(
            "status in (1,)",
            13,
            "expected a value (a number, a quoted string, true or false) after ',', found ')'",
        );
        check_err("status in (1", 12, "expected ',' or ')' to continue the 'in' list");
        check_err("status in (1 2)", 13, "expected ',' or ')' in the 'in' list, found '2'");
        check_err(
            "status in (finished)",
            11,
            "expected a value after '(', found 'finished'; put text in quotes, e.g. 'finished'",
        );
        check_err("status in (", 11, "expected a value after '('");
    }

    #[test]
    fn error_missing_operator() {
        check_err(
            "params.lr",
            9,
            "expected an operator after 'params.lr' (=, !=, <, <=, >, >=, in, not in, like, \
             ilike, is null)",
        );
        check_err(
            "min(metrics.loss) 1",
            18,
            "expected an operator after 'min(metrics.loss)' (=, !=, <, <=, >, >=, in, not in, \
             like, ilike, is null), found '1'",
        );
        check_err(
            "params.lr between 1",
            10,
            "expected an operator after 'params.lr' (=, !=, <, <=, >, >=, in, not in, like, \
             ilike, is null), found 'between'",
        );
    }

    #[test]
    fn error_bad_values() {
        check_err(
            "status = finished",
            9,
            "expected a value after '=', found 'finished'; put text in quotes, e.g. 'finished'",
        );
        check_err(
            "params.a = 1 and params.b >= (1)",
            29,
            "expected a value (a number, a quoted string, true or false) after '>=', \
             found '('",
        );
        check_err(
            "tags.a = null",
            9,
            "null is not a value; use 'is null' or 'is not null' to test for a missing value",
        );
        check_err("params.a <> ", 12, "expected a value after '<>'");
        check_err(
            "params.a = = 1",
            11,
            "expected a value (a number, a quoted string, true or false) after '=', found '='",
        );
        check_err(
            "params.a = 1abc",
            11,
            "invalid number '1abc'; numbers look like 1, -2.5 or 1e-3 (put text in quotes)",
        );
    }

    #[test]
    fn error_like_and_is() {
        check_err("params.a like 1", 14, "'like' needs a quoted pattern such as 'ad%'");
        check_err("params.a ILIKE", 14, "'ilike' needs a quoted pattern such as 'ad%'");
        check_err("params.a not = 1", 13, "expected 'in', 'like' or 'ilike' after 'not', found '='");
        check_err("params.a is 1", 12, "expected 'null' or 'not null' after 'is', found '1'");
        check_err("params.a is not", 15, "expected 'null' after 'is not'");
        check_err("params.a is not nul", 16, "expected 'null' after 'is not', found 'nul'");
    }

    #[test]
    fn error_structure() {
        check_err("params.a = 1 and", 16, "expected a field such as params.lr, metrics.loss or status");
        check_err(
            "params.a = 1 or or params.b = 1",
            16,
            "expected a field such as params.lr, metrics.loss or status, found 'or'",
        );
        check_err("and params.a = 1", 0, "expected a field such as params.lr, metrics.loss or status, found 'and'");
        check_err("not", 3, "expected a field such as params.lr, metrics.loss or status");
        check_err("(params.a = 1", 13, "expected ')' to close the '(' at column 1");
        check_err("params.b = 2 and ((params.a = 1)", 32, "expected ')' to close the '(' at column 18");
        check_err("(params.a = 1 params.b = 2)", 14, "expected 'and', 'or' or ')', found 'params.b'");
        check_err("()", 1, "expected a field such as params.lr, metrics.loss or status, found ')'");
        check_err(
            "'lr' = 1",
            0,
            "expected a field such as params.lr, metrics.loss or status, found the string \
             'lr'; quote odd keys with backticks, e.g. params.`learning rate`",
        );
        check_err("1 = params.a", 0, "expected a field such as params.lr, metrics.loss or status, found '1'");
    }

    #[test]
    fn error_aggregates() {
        check_err("min(params.lr) < 1", 4, "min() takes a metric, such as min(metrics.loss)");
        check_err("COUNT(status) > 1", 6, "count() takes a metric, such as count(metrics.loss)");
        check_err("max() > 1", 4, "max() takes a metric, such as max(metrics.loss), found ')'");
        check_err("max(metrics.loss > 1", 17, "expected ')' after 'max(metrics.loss', found '>'");
        check_err("max(metrics.`a b`", 17, "expected ')' after 'max(metrics.`a b`'");
        // Without a parenthesis an aggregate name is just an unknown field.
        assert!(parse_filter("min > 1").unwrap_err().message.starts_with("unknown field 'min'"));
        check_err(
            "min(paramz.lr) < 1",
            4,
            "unknown field 'paramz.lr'; fields are attributes (name, status, owner, …), \
             params.<key>, metrics.<key>, tags.<key>; did you mean 'params.lr'?",
        );
    }

    #[test]
    fn earliest_error_wins_over_later_lex_error() {
        // The parser reaches the bad '<' before the unterminated string.
        check_err(
            "params.a < < 'x",
            11,
            "expected a value (a number, a quoted string, true or false) after '<', found '<'",
        );
        // A lexical error is reported when the parser gets to it.
        check_err("params.a = 1 and tags.b = 'x", 26, "unterminated string; add the closing '");
        check_err("params.a = 1 && params.b = 2", 13, "unexpected character '&'; use 'and' to combine conditions");
    }

    #[test]
    fn error_positions_are_byte_offsets() {
        // 'é' is two bytes: the 'x' is at byte 20 but in column 19.
        let input = "tags.a = 'éé' and x = 1";
        let e = parse_filter(input).unwrap_err();
        assert_eq!(e.position, 20);
        assert_eq!(&input[e.position..e.position + 1], "x");
        assert_eq!(e.column(), 19);
    }

    #[test]
    fn size_limits_name_the_limit() {
        let terms = |n: usize| (0..n).map(|i| format!("params.a = {i}")).collect::<Vec<_>>().join(" or ");
        assert!(parse_filter(&terms(MAX_TERMS)).is_ok());
        let e = parse_filter(&terms(MAX_TERMS + 1)).unwrap_err();
        assert!(e.message.contains("more than 200 comparisons"), "{e}");
        let list = |n: usize| format!("params.a in ({})", (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
        assert!(parse_filter(&list(MAX_LIST)).is_ok());
        let e = parse_filter(&list(MAX_LIST + 1)).unwrap_err();
        assert!(e.message.contains("more than 1000 values"), "{e}");
        let long = format!("tags.a = '{}'", "x".repeat(MAX_FILTER_BYTES));
        let e = parse_filter(&long).unwrap_err();
        assert!(e.message.contains("over the limit of 100000"), "{e}");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}params.a = 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(parse_filter(&deep).unwrap(), Some(p("a")));
        let too_deep = format!("{}params.a = 1{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        let e = parse_filter(&too_deep).unwrap_err();
        assert_eq!(e.position, MAX_DEPTH);
        assert!(e.message.contains("nests too deeply"), "{}", e.message);
        let nots = format!("{}params.a = 1", "not ".repeat(20_000));
        let e = parse_filter(&nots).unwrap_err();
        assert!(e.message.contains("nests too deeply"), "{}", e.message);
        // Flat chains up to the term limit are fine.
        let long = vec!["params.a = 1"; MAX_TERMS].join(" or ");
        match parse_filter(&long).unwrap() {
            Some(Expr::Or(items)) => assert_eq!(items.len(), MAX_TERMS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn long_tokens_are_shortened_in_messages() {
        let input = format!("params.a = 1 {}", "x".repeat(100));
        let e = parse_filter(&input).unwrap_err();
        assert!(e.message.ends_with("found 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…'"));
    }

    // ---- ordering ------------------------------------------------------------------

    fn key(field: Field, descending: bool) -> OrderKey {
        OrderKey { field, descending }
    }

    fn check_order(input: &str, expected: Vec<OrderKey>) {
        match parse_order(input) {
            Ok(got) => assert_eq!(got, expected, "input: {input:?}"),
            Err(e) => panic!("{input:?} failed: {e}\n{}", e.caret()),
        }
    }

    fn check_order_err(input: &str, position: usize, message: &str) {
        match parse_order(input) {
            Ok(got) => panic!("{input:?} should fail, parsed to {got:?}"),
            Err(e) => assert_eq!((e.position, e.message.as_str()), (position, message), "input: {input:?}"),
        }
    }

    #[test]
    fn orderings() {
        check_order("", vec![]);
        check_order("   ", vec![]);
        check_order("created", vec![key(Field::Attr(Attr::Created), false)]);
        check_order(
            "metrics.val_acc desc, params.lr asc, created",
            vec![key(metric("val_acc"), true), key(param("lr"), false), key(Field::Attr(Attr::Created), false)],
        );
        check_order(
            "min(metrics.loss) DESC,tags.`my tag` ASC , name",
            vec![
                key(agg("loss", MetricAgg::Min), true),
                key(tag("my tag"), false),
                key(Field::Attr(Attr::Name), false),
            ],
        );
        check_order("params.desc desc", vec![key(param("desc"), true)]);
    }

    #[test]
    fn ordering_errors() {
        check_order_err("metrics.acc desc,", 17, "expected a field such as params.lr, metrics.loss or status");
        check_order_err(", created", 0, "expected a field such as params.lr, metrics.loss or status, found ','");
        check_order_err(
            "created descending",
            8,
            "expected 'asc', 'desc', ',' or the end of the ordering, found 'descending'",
        );
        check_order_err("created desc name", 13, "expected ',' or the end of the ordering, found 'name'");
        check_order_err("created,, name", 8, "expected a field such as params.lr, metrics.loss or status, found ','");
        check_order_err(
            "paramz.lr",
            0,
            "unknown field 'paramz.lr'; fields are attributes (name, status, owner, …), \
             params.<key>, metrics.<key>, tags.<key>; did you mean 'params.lr'?",
        );
        check_order_err("created; name", 7, "unexpected character ';'");
    }

    // ---- helpers under test --------------------------------------------------------

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("paramz", "params"), 1);
        assert_eq!(edit_distance("stauts", "status"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn keys_display_with_backticks_when_needed() {
        assert_eq!(display_key("lr"), "lr");
        assert_eq!(display_key("optimizer.lr"), "optimizer.lr");
        assert_eq!(display_key("train/loss"), "train/loss");
        assert_eq!(display_key("learning rate"), "`learning rate`");
        assert_eq!(display_key("a.b c"), "a.`b c`");
    }
}

//! The query language of ListWorkers and CountWorkers, as the real server (1.32) reads it.
//!
//! The real server hands `select * from table1 where <query>` to a MySQL-dialect SQL parser and
//! evaluates the WHERE expression against each heartbeat. So:
//!
//! - **Syntax** is SQL's: `AND`, `OR`, parentheses, comparisons, `[NOT] STARTS_WITH`,
//!   `[NOT] BETWEEN … AND …`, `IS [NOT] NULL`, and also what parses but never matches (`NOT`,
//!   `IN`, `LIKE`, functions, arithmetic). `GROUP BY`, `HAVING` and `ORDER BY` are accepted and
//!   ignored; `LIMIT` is refused. A query that does not parse is INVALID_ARGUMENT
//!   `malformed query: syntax error at position N[ near 'token']`, N counting bytes in that
//!   whole statement up to just past the offending token, as that parser does.
//! - **Evaluation** goes left to right, `AND` and `OR` short-circuiting. A condition the
//!   evaluator cannot judge (an unknown field, an operator the field does not take, a value of
//!   the wrong kind, `NOT`) is no error: it drops the worker being judged. So
//!   `SdkName = 'a' OR Bogus = 'x'` matches the workers of sdk `a`, and `Bogus = 'x' OR …`
//!   matches nothing.
//!
//! The fields are listed once, in [`FIELDS`]. Field names are case-sensitive, except `Status`:
//! it is an SQL keyword, which the parser reads as `status` however it is written (and a
//! back-quoted `` `Status` `` is then no field at all).
//!
//! This module deliberately does not know where heartbeats are kept, nor paging, nor which
//! workers are the server's own: it judges one heartbeat at a time.
//!
//! Deliberate differences from the real server, all on queries nobody writes: SQL beyond the
//! grammar below (subqueries, `CASE`, `INTERVAL`, `EXISTS` …) is refused as malformed where the
//! real server parses it and then matches nothing; a string value is compared as written, where
//! the real server compares its SQL-escaped text (so a value holding a quote, a backslash or a
//! control character never matches there); RFC 3339 times are read by chrono, which is a little
//! more lenient than Go (a lowercase `t`, a space for `T`).

use crate::error::ApiError;
use endure_api::temporal::api::enums::v1::WorkerStatus;
use endure_api::temporal::api::worker::v1::WorkerHeartbeat;
use prost_wkt_types::Timestamp;
use std::borrow::Cow;

/// The statement the real server wraps a query in; its parser's positions count from its start.
const STATEMENT_PREFIX: &str = "select * from table1 where ";

/// Go's zero time (0001-01-01T00:00:00Z) in nanoseconds since the Unix epoch: an unset time for
/// `IS NULL` and `BETWEEN`, and what an integer literal `<= 0` stands for.
const GO_ZERO_TIME: i128 = -62_135_596_800 * 1_000_000_000;

/// How a query reads one field of a heartbeat.
#[derive(Clone, Copy)]
enum Field {
    /// A string: `=`, `!=`, `STARTS_WITH`, `NOT STARTS_WITH` with a non-empty quoted value;
    /// `IS NULL` is the empty string.
    Text(fn(&WorkerHeartbeat) -> Cow<'_, str>),
    /// A time: `=`, `!=`, `<`, `<=`, `>`, `>=` (an unset time compares as the Unix epoch),
    /// `[NOT] BETWEEN` (never true of an unset time), `IS NULL` (unset). Values are RFC 3339
    /// strings or integers (nanoseconds since the epoch).
    Time(fn(&WorkerHeartbeat) -> Option<&Timestamp>),
}

/// Every field a query may name, as the real server spells it.
const FIELDS: &[(&str, Field)] = &[
    ("WorkerInstanceKey", Field::Text(|h| Cow::Borrowed(&h.worker_instance_key))),
    ("WorkerIdentity", Field::Text(|h| Cow::Borrowed(&h.worker_identity))),
    ("HostName", Field::Text(|h| Cow::Borrowed(h.host_info.as_ref().map_or("", |i| &i.host_name)))),
    ("TaskQueue", Field::Text(|h| Cow::Borrowed(&h.task_queue))),
    (
        "DeploymentName",
        Field::Text(|h| Cow::Borrowed(h.deployment_version.as_ref().map_or("", |v| &v.deployment_name))),
    ),
    ("BuildId", Field::Text(|h| Cow::Borrowed(h.deployment_version.as_ref().map_or("", |v| &v.build_id)))),
    ("SdkName", Field::Text(|h| Cow::Borrowed(&h.sdk_name))),
    ("SdkVersion", Field::Text(|h| Cow::Borrowed(&h.sdk_version))),
    ("WorkerStatus", Field::Text(|h| status_name(h.status))),
    // `Status`, read as the keyword it is.
    ("status", Field::Text(|h| status_name(h.status))),
    ("StartTime", Field::Time(|h| h.start_time.as_ref())),
    ("HeartbeatTime", Field::Time(|h| h.heartbeat_time.as_ref())),
];

fn field(name: &str) -> Option<Field> {
    FIELDS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// A status as the real server names it in queries (Go's `String()` of the enum: `Running`,
/// `ShuttingDown`, `Shutdown`, `Unspecified`; an unknown number as its digits).
pub fn status_name(status: i32) -> Cow<'static, str> {
    let Ok(s) = WorkerStatus::try_from(status) else { return Cow::Owned(status.to_string()) };
    let words = s.as_str_name().trim_start_matches("WORKER_STATUS_");
    let mut out = String::with_capacity(words.len());
    for word in words.split('_') {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first);
            out.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    Cow::Owned(out)
}

/// A parsed query, ready to judge heartbeats.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerQuery(Option<Node>);

impl WorkerQuery {
    /// The query that matches every worker (an empty query).
    pub fn all() -> WorkerQuery {
        WorkerQuery(None)
    }

    /// Parses a query: the empty string matches every worker; anything else must parse (a
    /// blank one does not).
    pub fn parse(text: &str) -> Result<WorkerQuery, ApiError> {
        if text.is_empty() {
            return Ok(WorkerQuery(None));
        }
        let trimmed = text.trim();
        if trimmed.is_empty() {
            // The real server parses the trimmed, empty text on its own: nothing to point at.
            return Err(malformed(1, None));
        }
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with("where ") || lower.starts_with("select ") {
            return Err(ApiError::InvalidArgument(format!("invalid filter: {trimmed}")));
        }
        let tokens = tokenize(trimmed);
        let mut p = Parser { tokens, pos: 0, depth: 0 };
        let node = p.statement()?;
        Ok(WorkerQuery(Some(node)))
    }

    /// Whether `hb` matches: the whole query evaluates to true, without an evaluation error on
    /// the way.
    pub fn matches(&self, hb: &WorkerHeartbeat) -> bool {
        self.0.as_ref().is_none_or(|n| eval(n, hb) == Some(true))
    }
}

fn malformed(position: usize, near: Option<&str>) -> ApiError {
    let near = near.filter(|t| !t.is_empty()).map(|t| format!(" near '{t}'")).unwrap_or_default();
    ApiError::InvalidArgument(format!("malformed query: syntax error at position {position}{near}"))
}

// ---------------------------------------------------------------- syntax tree and evaluation

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    StartsWith,
    NotStartsWith,
    /// Parses, never matches (`LIKE`, `IN`, `REGEXP`, `<=>` …).
    Other,
}

/// What follows `IS`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum IsSuffix {
    Null,
    NotNull,
    /// `IS [NOT] TRUE|FALSE`: parses, never matches.
    Other,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// Conditions joined by `AND`, in order (a chain is one node: no recursion over its length).
    And(Vec<Node>),
    /// Conditions joined by `OR`, in order.
    Or(Vec<Node>),
    Paren(Box<Node>),
    Compare {
        left: Box<Node>,
        op: Op,
        right: Box<Node>,
    },
    Between {
        left: Box<Node>,
        low: Box<Node>,
        high: Box<Node>,
        negated: bool,
    },
    Is {
        inner: Box<Node>,
        suffix: IsSuffix,
    },
    Column(String),
    Str(String),
    /// A number literal as written (with a leading `-` if negated).
    Number(String),
    /// Parses but is nothing the evaluator judges (`NOT`, functions, arithmetic, tuples,
    /// `NULL`/`TRUE`/`FALSE` literals).
    Unsupported,
}

/// `None`: the evaluator cannot judge it (the worker is dropped).
fn eval(n: &Node, hb: &WorkerHeartbeat) -> Option<bool> {
    match n {
        Node::And(all) => {
            for n in all {
                if !eval(n, hb)? {
                    return Some(false);
                }
            }
            Some(true)
        }
        Node::Or(any) => {
            for n in any {
                if eval(n, hb)? {
                    return Some(true);
                }
            }
            Some(false)
        }
        Node::Paren(inner) => eval(inner, hb),
        Node::Compare { left, op, right } => {
            let Node::Column(name) = &**left else { return None };
            if !matches!(**right, Node::Str(_) | Node::Number(_)) {
                return None;
            }
            match field(name)? {
                Field::Text(get) => {
                    let Node::Str(value) = &**right else { return None };
                    if value.is_empty() {
                        return None;
                    }
                    let actual = get(hb);
                    match op {
                        Op::Eq => Some(*actual == **value),
                        Op::Ne => Some(*actual != **value),
                        Op::StartsWith => Some(actual.starts_with(value.as_str())),
                        Op::NotStartsWith => Some(!actual.starts_with(value.as_str())),
                        _ => None,
                    }
                }
                Field::Time(get) => {
                    let expected = time_literal(right)?;
                    // An unset time is the protobuf's zero: the Unix epoch.
                    let actual = get(hb).map_or(0, nanos);
                    match op {
                        Op::Eq => Some(actual == expected),
                        Op::Ne => Some(actual != expected),
                        Op::Lt => Some(actual < expected),
                        Op::Le => Some(actual <= expected),
                        Op::Gt => Some(actual > expected),
                        Op::Ge => Some(actual >= expected),
                        _ => None,
                    }
                }
            }
        }
        Node::Between { left, low, high, negated } => {
            let Node::Column(name) = &**left else { return None };
            let Field::Time(get) = field(name)? else { return None };
            let (low, high) = (time_literal(low)?, time_literal(high)?);
            let actual = get(hb).map_or(GO_ZERO_TIME, nanos);
            if actual == GO_ZERO_TIME {
                return Some(false);
            }
            Some((low <= actual && actual <= high) != *negated)
        }
        Node::Is { inner, suffix } => {
            let Node::Column(name) = &**inner else { return None };
            let is_null = match suffix {
                IsSuffix::Null => true,
                IsSuffix::NotNull => false,
                IsSuffix::Other => return None,
            };
            let empty = match field(name)? {
                Field::Text(get) => get(hb).is_empty(),
                Field::Time(get) => get(hb).map_or(GO_ZERO_TIME, nanos) == GO_ZERO_TIME,
            };
            Some(empty == is_null)
        }
        Node::Column(_) | Node::Str(_) | Node::Number(_) | Node::Unsupported => None,
    }
}

fn nanos(t: &Timestamp) -> i128 {
    i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos)
}

/// A time value: an integer is nanoseconds since the epoch (`<= 0`: Go's zero time), a string
/// an RFC 3339 time.
fn time_literal(n: &Node) -> Option<i128> {
    match n {
        Node::Number(text) => {
            let ns: i64 = text.parse().ok()?;
            Some(if ns <= 0 { GO_ZERO_TIME } else { i128::from(ns) })
        }
        Node::Str(text) => {
            let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
            Some(i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos()))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare name as written (or `status`, lowercased: a keyword that may name a column).
    Ident(String),
    /// A reserved word, lowercased.
    Keyword(&'static str),
    /// A back-quoted name.
    QuotedIdent(String),
    /// A string literal, escapes resolved.
    Str(String),
    /// A number literal as written.
    Number(String),
    /// An operator or punctuation.
    Punct(&'static str),
    /// What the lexer could not read (an unterminated string, a stray character), with the text
    /// it had read.
    Error(String),
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Byte offset just past the token, in the trimmed query.
    end: usize,
}

impl Token {
    /// The text an error quotes (`near '…'`): keywords lowercased, literals without quotes.
    fn text(&self) -> Option<&str> {
        match &self.tok {
            Tok::Ident(s) | Tok::QuotedIdent(s) | Tok::Str(s) | Tok::Number(s) | Tok::Error(s) => Some(s),
            Tok::Keyword(k) => Some(k),
            Tok::Punct(p) => Some(p),
            Tok::Eof => None,
        }
    }
}

/// Reserved words (space-separated): they cannot name a column without back-quotes.
const KEYWORDS: &str = "all and as asc between binary by case collate default desc distinct div else end escape \
    exists false for from group having in interval into is like limit lock mod not null \
    offset on or order regexp rlike select starts_with then true union values when where xor";

/// Keywords that still name columns; the parser lowercases them.
const NON_RESERVED: &[&str] = &["status"];

/// Punctuation, longest first.
const PUNCT: &[&str] = &[
    "<=>", "<=", ">=", "<>", "!=", "<<", ">>", "&&", "||", "=", "<", ">", "(", ")", ",", ";", "+", "-", "*",
    "/", "%", "&", "|", "^", "~", "!", ".",
];

fn is_letter(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'@'
}

fn tokenize(q: &str) -> Vec<Token> {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        // Comments: `-- …`, `# …` to the end of the line, `/* … */`.
        if q[i..].starts_with("--") || q[i..].starts_with('#') {
            i = q[i..].find('\n').map_or(b.len(), |n| i + n + 1);
            continue;
        }
        if q[i..].starts_with("/*") {
            match q[i + 2..].find("*/") {
                Some(n) => {
                    i += n + 4;
                    continue;
                }
                None => {
                    out.push(Token { tok: Tok::Error(q[i..].to_owned()), end: b.len() });
                    break;
                }
            }
        }
        let Some(&c) = b.get(i) else {
            out.push(Token { tok: Tok::Eof, end: b.len() });
            break;
        };
        let start = i;
        let tok = if is_letter(c) {
            while i < b.len() && (is_letter(b[i]) || b[i].is_ascii_digit()) {
                i += 1;
            }
            let word = &q[start..i];
            let lower = word.to_ascii_lowercase();
            match KEYWORDS.split_whitespace().find(|k| *k == lower) {
                Some(k) => Tok::Keyword(k),
                None if NON_RESERVED.contains(&lower.as_str()) => Tok::Ident(lower),
                None => Tok::Ident(word.to_owned()),
            }
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            if q[i..].starts_with("0x") || q[i..].starts_with("0X") {
                i += 2;
                while i < b.len() && b[i].is_ascii_hexdigit() {
                    i += 1;
                }
            } else {
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if b.get(i) == Some(&b'.') {
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                if matches!(b.get(i), Some(b'e' | b'E')) {
                    i += 1;
                    if matches!(b.get(i), Some(b'+' | b'-')) {
                        i += 1;
                    }
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            Tok::Number(q[start..i].to_owned())
        } else if c == b'\'' || c == b'"' || c == b'`' {
            let (tok, next) = quoted(q, i);
            i = next;
            tok
        } else if let Some(p) = PUNCT.iter().find(|p| q[i..].starts_with(**p)) {
            i += p.len();
            Tok::Punct(p)
        } else {
            let ch = q[i..].chars().next().map_or(1, char::len_utf8);
            i += ch;
            Tok::Error(q[start..i].to_owned())
        };
        out.push(Token { tok, end: i });
    }
    out
}

/// A quoted string or name starting at `start`: the token and the offset past it. A doubled
/// quote stands for one; in strings a backslash escapes the next character.
fn quoted(q: &str, start: usize) -> (Tok, usize) {
    let delim = q.as_bytes()[start] as char;
    let mut text = String::new();
    let mut chars = q[start + 1..].char_indices().peekable();
    while let Some((at, ch)) = chars.next() {
        if ch == delim {
            if chars.peek().is_some_and(|(_, next)| *next == delim) {
                chars.next();
                text.push(delim);
                continue;
            }
            let end = start + 1 + at + 1;
            return match delim {
                '`' if text.is_empty() => (Tok::Error(text), end),
                '`' => (Tok::QuotedIdent(text), end),
                _ => (Tok::Str(text), end),
            };
        }
        if ch == '\\' && delim != '`' {
            match chars.next() {
                Some((_, e)) => text.push(match e {
                    '0' => '\0',
                    'b' => '\u{8}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'Z' => '\u{1a}',
                    other => other,
                }),
                None => break,
            }
            continue;
        }
        text.push(ch);
    }
    (Tok::Error(text), q.len())
}

// ---------------------------------------------------------------- parser

/// Deepest nesting (parentheses, `NOT`, unary operators) the parser follows: deeper input is
/// a syntax error rather than a stack overflow (the real server's parser has no such limit).
const MAX_DEPTH: usize = 64;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.tokens.get(self.pos).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn advance(&mut self) {
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
    }

    fn is_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Keyword(k) if *k == kw)
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(x) if *x == p)
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        let yes = self.is_keyword(kw);
        if yes {
            self.advance();
        }
        yes
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        let yes = self.is_punct(p);
        if yes {
            self.advance();
        }
        yes
    }

    /// The syntax error at the current token.
    fn error(&self) -> ApiError {
        let last = self.tokens.len().saturating_sub(1);
        let t = &self.tokens[self.pos.min(last)];
        malformed(STATEMENT_PREFIX.len() + t.end + 1, t.text())
    }

    /// Runs `f` one level deeper, refusing past [`MAX_DEPTH`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, ApiError>) -> Result<T, ApiError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error());
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn expect_keyword(&mut self, kw: &str) -> Result<(), ApiError> {
        if self.eat_keyword(kw) { Ok(()) } else { Err(self.error()) }
    }

    /// `expr [GROUP BY …] [HAVING expr] [ORDER BY …] [LIMIT …] [;]`.
    fn statement(&mut self) -> Result<Node, ApiError> {
        let node = self.expr()?;
        if self.eat_keyword("group") {
            self.expect_keyword("by")?;
            self.value_list()?;
        }
        if self.eat_keyword("having") {
            self.expr()?;
        }
        if self.eat_keyword("order") {
            self.expect_keyword("by")?;
            loop {
                self.value()?;
                let _ = self.eat_keyword("asc") || self.eat_keyword("desc");
                if !self.eat_punct(",") {
                    break;
                }
            }
        }
        let limit = self.eat_keyword("limit");
        if limit {
            self.value()?;
            if self.eat_punct(",") || self.eat_keyword("offset") {
                self.value()?;
            }
        }
        self.eat_punct(";");
        if *self.peek() != Tok::Eof {
            return Err(self.error());
        }
        if limit {
            return Err(ApiError::InvalidArgument("operation is not supported: 'limit' clause".into()));
        }
        Ok(node)
    }

    fn value_list(&mut self) -> Result<(), ApiError> {
        loop {
            self.value()?;
            if !self.eat_punct(",") {
                return Ok(());
            }
        }
    }

    fn expr(&mut self) -> Result<Node, ApiError> {
        self.nested(|p| {
            let mut any = vec![p.and()?];
            while p.eat_keyword("or") || p.eat_punct("||") || p.eat_keyword("xor") {
                any.push(p.and()?);
            }
            Ok(if any.len() == 1 { any.swap_remove(0) } else { Node::Or(any) })
        })
    }

    fn and(&mut self) -> Result<Node, ApiError> {
        let mut all = vec![self.not()?];
        while self.eat_keyword("and") || self.eat_punct("&&") {
            all.push(self.not()?);
        }
        Ok(if all.len() == 1 { all.swap_remove(0) } else { Node::And(all) })
    }

    fn not(&mut self) -> Result<Node, ApiError> {
        if self.eat_keyword("not") || self.eat_punct("!") {
            self.nested(Self::not)?;
            return Ok(Node::Unsupported);
        }
        self.condition()
    }

    /// A value, then at most one comparison, then any `IS …` suffixes.
    fn condition(&mut self) -> Result<Node, ApiError> {
        let left = self.value()?;
        let mut node = self.comparison(left)?;
        while self.eat_keyword("is") {
            let not = self.eat_keyword("not");
            let suffix = if self.eat_keyword("null") {
                if not { IsSuffix::NotNull } else { IsSuffix::Null }
            } else if self.eat_keyword("true") || self.eat_keyword("false") {
                IsSuffix::Other
            } else {
                return Err(self.error());
            };
            node = Node::Is { inner: Box::new(node), suffix };
        }
        Ok(node)
    }

    fn comparison(&mut self, left: Node) -> Result<Node, ApiError> {
        let op = match self.peek() {
            Tok::Punct("=") => Some(Op::Eq),
            Tok::Punct("!=" | "<>") => Some(Op::Ne),
            Tok::Punct("<") => Some(Op::Lt),
            Tok::Punct("<=") => Some(Op::Le),
            Tok::Punct(">") => Some(Op::Gt),
            Tok::Punct(">=") => Some(Op::Ge),
            Tok::Punct("<=>") => Some(Op::Other),
            _ => None,
        };
        if let Some(op) = op {
            self.advance();
            let right = self.value()?;
            return Ok(Node::Compare { left: Box::new(left), op, right: Box::new(right) });
        }
        let negated = self.eat_keyword("not");
        if self.eat_keyword("starts_with") {
            let op = if negated { Op::NotStartsWith } else { Op::StartsWith };
            let right = self.value()?;
            return Ok(Node::Compare { left: Box::new(left), op, right: Box::new(right) });
        }
        if self.eat_keyword("between") {
            let low = self.value()?;
            self.expect_keyword("and")?;
            let high = self.value()?;
            return Ok(Node::Between {
                left: Box::new(left),
                low: Box::new(low),
                high: Box::new(high),
                negated,
            });
        }
        if self.eat_keyword("like") {
            self.value()?;
            if self.eat_keyword("escape") {
                self.value()?;
            }
            return Ok(Node::Unsupported);
        }
        if self.eat_keyword("regexp") || self.eat_keyword("rlike") {
            self.value()?;
            return Ok(Node::Unsupported);
        }
        if self.eat_keyword("in") {
            if !self.is_punct("(") {
                return Err(self.error());
            }
            self.value()?;
            return Ok(Node::Unsupported);
        }
        if negated {
            return Err(self.error());
        }
        Ok(left)
    }

    /// A value: operands joined by arithmetic (which never matches).
    fn value(&mut self) -> Result<Node, ApiError> {
        let first = self.unary()?;
        let mut arithmetic = false;
        while matches!(self.peek(), Tok::Punct("+" | "-" | "*" | "/" | "%" | "&" | "|" | "^" | "<<" | ">>"))
            || self.is_keyword("div")
            || self.is_keyword("mod")
        {
            self.advance();
            self.unary()?;
            arithmetic = true;
        }
        Ok(if arithmetic { Node::Unsupported } else { first })
    }

    fn unary(&mut self) -> Result<Node, ApiError> {
        if self.eat_punct("-") {
            return Ok(match self.nested(Self::unary)? {
                Node::Number(n) if !n.starts_with('-') => Node::Number(format!("-{n}")),
                _ => Node::Unsupported,
            });
        }
        if self.eat_punct("+") {
            return self.nested(Self::unary);
        }
        if self.eat_punct("~") || self.eat_punct("!") || self.eat_keyword("binary") {
            self.nested(Self::unary)?;
            return Ok(Node::Unsupported);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, ApiError> {
        let tok = self.peek().clone();
        match tok {
            Tok::Str(s) => {
                self.advance();
                Ok(Node::Str(s))
            }
            Tok::Number(n) => {
                self.advance();
                Ok(Node::Number(n))
            }
            Tok::Keyword("null" | "true" | "false") => {
                self.advance();
                Ok(Node::Unsupported)
            }
            Tok::Punct("(") => {
                self.advance();
                let first = self.expr()?;
                if self.eat_punct(")") {
                    return Ok(Node::Paren(Box::new(first)));
                }
                // A tuple.
                while self.eat_punct(",") {
                    self.expr()?;
                }
                if !self.eat_punct(")") {
                    return Err(self.error());
                }
                Ok(Node::Unsupported)
            }
            Tok::Ident(name) | Tok::QuotedIdent(name) => {
                self.advance();
                if self.eat_punct("(") {
                    // A function call.
                    if !self.eat_punct(")") {
                        self.eat_keyword("distinct");
                        if !self.eat_punct("*") {
                            self.expr()?;
                            while self.eat_punct(",") {
                                self.expr()?;
                            }
                        }
                        if !self.eat_punct(")") {
                            return Err(self.error());
                        }
                    }
                    return Ok(Node::Unsupported);
                }
                if self.eat_punct(".") {
                    // A qualified name (`t.col`): no field is called that.
                    match self.peek() {
                        Tok::Ident(_) | Tok::QuotedIdent(_) => self.advance(),
                        _ => return Err(self.error()),
                    }
                    if self.eat_punct(".") {
                        match self.peek() {
                            Tok::Ident(_) | Tok::QuotedIdent(_) => self.advance(),
                            _ => return Err(self.error()),
                        }
                    }
                    return Ok(Node::Column(String::new()));
                }
                Ok(Node::Column(name))
            }
            _ => Err(self.error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use endure_api::temporal::api::deployment::v1::WorkerDeploymentVersion;
    use endure_api::temporal::api::worker::v1::WorkerHostInfo;

    fn ts(seconds: i64) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos: 0 })
    }

    const JAN_2024: i64 = 1_704_067_200;
    const JAN_2025: i64 = 1_735_689_600;

    fn full() -> WorkerHeartbeat {
        WorkerHeartbeat {
            worker_instance_key: "key-1".into(),
            worker_identity: "ident@host".into(),
            host_info: Some(WorkerHostInfo { host_name: "host-a".into(), ..Default::default() }),
            task_queue: "tq".into(),
            deployment_version: Some(WorkerDeploymentVersion {
                deployment_name: "dep".into(),
                build_id: "b1".into(),
            }),
            sdk_name: "sdk".into(),
            sdk_version: "1.0".into(),
            status: WorkerStatus::Running as i32,
            start_time: ts(JAN_2024),
            heartbeat_time: ts(JAN_2025),
            ..Default::default()
        }
    }

    fn bare() -> WorkerHeartbeat {
        WorkerHeartbeat { worker_instance_key: "key-2".into(), task_queue: "tq".into(), ..Default::default() }
    }

    fn m(q: &str, hb: &WorkerHeartbeat) -> bool {
        WorkerQuery::parse(q).unwrap_or_else(|e| panic!("{q}: {e}")).matches(hb)
    }

    fn err(q: &str) -> String {
        match WorkerQuery::parse(q) {
            Err(ApiError::InvalidArgument(m)) => m,
            other => panic!("{q}: {other:?}"),
        }
    }

    #[test]
    fn every_field_reads_its_part_of_the_heartbeat() {
        let (f, b) = (full(), bare());
        for (q, on_full, on_bare) in [
            ("WorkerInstanceKey = 'key-1'", true, false),
            ("WorkerIdentity = 'ident@host'", true, false),
            ("HostName = 'host-a'", true, false),
            ("TaskQueue = 'tq'", true, true),
            ("DeploymentName = 'dep'", true, false),
            ("BuildId = 'b1'", true, false),
            ("SdkName = 'sdk'", true, false),
            ("SdkVersion = '1.0'", true, false),
            ("WorkerStatus = 'Running'", true, false),
            ("Status = 'Unspecified'", false, true),
            ("STATUS = 'Running'", true, false),
            ("StartTime = '2024-01-01T00:00:00Z'", true, false),
            ("HeartbeatTime > '2024-06-01T00:00:00+02:00'", true, false),
        ] {
            assert_eq!((m(q, &f), m(q, &b)), (on_full, on_bare), "{q}");
        }
        let names: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(names, unique);
    }

    #[test]
    fn status_names_are_gos() {
        assert_eq!(status_name(WorkerStatus::ShuttingDown as i32), "ShuttingDown");
        assert_eq!(status_name(WorkerStatus::Shutdown as i32), "Shutdown");
        assert_eq!(status_name(0), "Unspecified");
        assert_eq!(status_name(42), "42");
        assert!(!m("Status = 'WORKER_STATUS_RUNNING'", &full()));
        assert!(!m("Status = 'running'", &full()), "values are case-sensitive");
        assert!(!m("`Status` = 'Running'", &full()), "a quoted keyword is no field");
        assert!(m("`WorkerStatus` = 'Running'", &full()));
    }

    #[test]
    fn string_operators() {
        let f = full();
        assert!(m("TaskQueue != 'x'", &f));
        assert!(m("TaskQueue <> 'x'", &f));
        assert!(m("WorkerIdentity starts_with 'ident'", &f));
        assert!(m("WorkerIdentity STARTS_WITH \"ident\"", &f));
        assert!(!m("WorkerIdentity not starts_with 'ident'", &f));
        assert!(m("HostName IS NOT NULL", &f) && m("HostName IS NULL", &bare()));
        // Operators a string does not take, empty values and numbers: no match, no error.
        for q in [
            "TaskQueue > 'a'",
            "TaskQueue LIKE 't%'",
            "TaskQueue IN ('tq')",
            "TaskQueue = ''",
            "TaskQueue = 5",
            "TaskQueue = TaskQueue",
            "TaskQueue = NULL",
            "NOT TaskQueue = 'x'",
            "TaskQueue",
            "lower(TaskQueue) = 'tq'",
            "TaskQueue = 'a' + 'b'",
            "t.TaskQueue = 'tq'",
            "TaskQueue = 'tq' IS NULL",
            "TaskQueue IS TRUE",
        ] {
            assert!(!m(q, &f), "{q}");
        }
    }

    #[test]
    fn time_operators_and_unset_times() {
        let (f, b) = (full(), bare());
        assert!(m("StartTime < '2024-06-01T00:00:00Z'", &f));
        assert!(m("StartTime <= '2024-01-01T00:00:00Z'", &f) && m("StartTime >= '2024-01-01T00:00:00Z'", &f));
        assert!(m("StartTime != '2024-01-01T00:00:01Z'", &f));
        // Unset: the epoch when compared, never BETWEEN anything, NULL.
        assert!(m("StartTime < '1971-01-01T00:00:00Z'", &b));
        assert!(m("StartTime = '1970-01-01T00:00:00Z'", &b));
        assert!(!m("StartTime BETWEEN '1960-01-01T00:00:00Z' AND '2030-01-01T00:00:00Z'", &b));
        assert!(!m("StartTime NOT BETWEEN '1960-01-01T00:00:00Z' AND '1961-01-01T00:00:00Z'", &b));
        assert!(m("StartTime IS NULL", &b) && m("StartTime IS NOT NULL", &f));
        // Inclusive bounds.
        assert!(m("StartTime BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T00:00:00Z'", &f));
        assert!(m("StartTime NOT BETWEEN '2024-01-02T00:00:00Z' AND '2025-01-01T00:00:00Z'", &f));
        // Integers are nanoseconds; <= 0 is Go's zero time, before the epoch.
        assert!(m(&format!("StartTime = {}", JAN_2024 as i128 * 1_000_000_000), &f));
        assert!(m("StartTime > 0", &b) && m("StartTime > -5", &b));
        // What a time does not take.
        for q in [
            "StartTime starts_with '2024'",
            "StartTime > 'yesterday'",
            "StartTime > 1.5",
            "TaskQueue BETWEEN 'a' AND 'z'",
            "StartTime BETWEEN 'a' AND '2030-01-01T00:00:00Z'",
        ] {
            assert!(!m(q, &f), "{q}");
        }
    }

    #[test]
    fn evaluation_is_left_to_right_and_an_unjudged_condition_drops_the_worker() {
        let f = full();
        assert!(m("SdkName = 'sdk' OR Bogus = 'x'", &f));
        assert!(!m("Bogus = 'x' OR SdkName = 'sdk'", &f));
        assert!(!m("SdkName = 'sdk' AND Bogus = 'x'", &f));
        assert!(!m("SdkName = 'other' AND Bogus = 'x'", &f), "false, not an error: still no match");
        assert!(m("(SdkName = 'other' AND Bogus = 'x') OR SdkName = 'sdk'", &f));
        assert!(m("SdkName = 'sdk' OR (SdkName = 'x' AND Bogus = 'x')", &f));
        assert!(!m("taskqueue = 'tq'", &f), "names are case-sensitive");
        assert!(m("TaskQueue = 'tq' AND SdkName = 'sdk' OR Bogus = 1", &f), "AND binds tighter");
        assert!(m("TaskQueue = 'tq' ORDER BY StartTime DESC", &f));
        assert!(m("TaskQueue = 'tq' GROUP BY TaskQueue", &f));
        assert!(m("TaskQueue = 'tq';", &f));
        assert!(m("", &bare()));
    }

    #[test]
    fn syntax_errors_point_where_the_real_server_does() {
        let at = |n: usize| format!("malformed query: syntax error at position {n}");
        assert_eq!(err("TaskQueue='"), at(39));
        assert_eq!(err("TaskQueue = 'a' AND"), at(47));
        assert_eq!(err("ORDER BY StartTime"), format!("{} near 'order'", at(33)));
        assert_eq!(err("   "), at(1));
        assert_eq!(err("TaskQueue = 'x' Foo"), format!("{} near 'Foo'", at(47)));
        assert_eq!(err("TaskQueue = 'abc"), format!("{} near 'abc'", at(44)));
        assert_eq!(err("TaskQueue $ 'a'"), format!("{} near '$'", at(39)));
        assert_eq!(err("TaskQueue = 'a' LIMIT 1"), "operation is not supported: 'limit' clause");
        assert_eq!(err("  TaskQueue = 'a' limit 1, 2 "), "operation is not supported: 'limit' clause");
        assert_eq!(err("where TaskQueue = 'a'"), "invalid filter: where TaskQueue = 'a'");
        assert!(err("(TaskQueue = 'a'").starts_with(&at(44)));
        assert!(err("Order = 'x'").starts_with(&at(33)));
        assert!(err("TaskQueue = 'a' TaskQueue = 'b'").contains("near 'TaskQueue'"));
    }

    #[test]
    fn deep_or_long_queries_cannot_overflow_the_stack() {
        let deep = format!("{}TaskQueue = 'tq'{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(err(&deep).starts_with("malformed query: syntax error at position"));
        assert!(err(&"NOT ".repeat(10_000)).starts_with("malformed query"));
        assert!(err(&format!("TaskQueue = {}5", "-".repeat(10_000))).starts_with("malformed query"));
        let long = vec!["TaskQueue = 'tq'"; 100_000].join(" AND ");
        assert!(m(&long, &full()));
        let long = vec!["TaskQueue = 'x'"; 100_000].join(" OR ");
        assert!(!m(&long, &full()));
    }

    #[test]
    fn literals() {
        let hb = WorkerHeartbeat { task_queue: "it's \"q\"".into(), ..Default::default() };
        assert!(m(r#"TaskQueue = 'it''s "q"'"#, &hb));
        assert!(m(r#"TaskQueue = "it's \"q\"""#, &hb));
        assert!(m(r#"TaskQueue = 'it\'s \"q\"'"#, &hb));
        assert!(m("TaskQueue starts_with 'it' -- a comment", &hb));
        assert!(m("/* c */ TaskQueue starts_with 'it' # another", &hb));
    }
}

//! The recursive-descent parser of the list-filter language (grammar in the module above).

use super::lex::{Token, TokenKind, tokenize};
use super::{CmpOp, Expr, OrderBy, Query, QueryError, Value};

/// Deepest nesting of parentheses accepted (deeper input is an error, not a stack overflow).
const MAX_DEPTH: usize = 64;

/// Words that cannot be attribute names without back-quotes.
const RESERVED: &[&str] = &[
    "AND",
    "OR",
    "NOT",
    "IN",
    "BETWEEN",
    "IS",
    "NULL",
    "ORDER",
    "GROUP",
    "BY",
    "ASC",
    "DESC",
    "LIMIT",
    "STARTS_WITH",
    "TRUE",
    "FALSE",
    "LIKE",
];

/// Whether `word` is a keyword (so a name spelled like it must be back-quoted).
pub(super) fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| word.eq_ignore_ascii_case(r))
}

/// Parses a list-filter query. An empty or blank query is the empty [`Query`].
pub fn parse(q: &str) -> Result<Query, QueryError> {
    let tokens = tokenize(q)?;
    let mut p = Parser { tokens, pos: 0, end: q.len(), depth: 0 };
    let mut query = Query::default();
    if !p.at_clause_start() && !p.done() {
        query.filter = Some(p.expr()?);
    }
    while !p.done() {
        let t = p.peek().cloned().ok_or_else(|| p.eof("more input"))?;
        if t.kind.is_keyword("ORDER") {
            p.next();
            p.expect_keyword("BY")?;
            if !query.order_by.is_empty() {
                return Err(QueryError::at(t.offset, "ORDER BY given twice"));
            }
            loop {
                let name = p.name("an attribute name after ORDER BY")?;
                let descending = if p.eat_keyword("DESC") {
                    true
                } else {
                    p.eat_keyword("ASC");
                    false
                };
                query.order_by.push(OrderBy { name, descending });
                if !p.eat(&TokenKind::Comma) {
                    break;
                }
            }
        } else if t.kind.is_keyword("GROUP") {
            p.next();
            p.expect_keyword("BY")?;
            if !query.group_by.is_empty() {
                return Err(QueryError::at(t.offset, "GROUP BY given twice"));
            }
            loop {
                query.group_by.push(p.name("an attribute name after GROUP BY")?);
                if !p.eat(&TokenKind::Comma) {
                    break;
                }
            }
        } else if t.kind.is_keyword("LIMIT") {
            return Err(QueryError::at(t.offset, "LIMIT is not supported: use the page size of the request"));
        } else {
            return Err(QueryError::at(t.offset, format!("unexpected {}", t.kind.describe())));
        }
    }
    Ok(query)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn done(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn eof(&self, wanted: &str) -> QueryError {
        QueryError::at(self.end, format!("incomplete query: it ends where {wanted} was expected"))
    }

    fn at_clause_start(&self) -> bool {
        self.peek().is_some_and(|t| t.kind.is_keyword("ORDER") || t.kind.is_keyword("GROUP"))
    }

    fn eat(&mut self, kind: &TokenKind) -> bool {
        if self.peek().is_some_and(|t| &t.kind == kind) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        if self.peek().is_some_and(|t| t.kind.is_keyword(kw)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_keyword(&mut self, kw: &str) -> Result<(), QueryError> {
        match self.next() {
            Some(t) if t.kind.is_keyword(kw) => Ok(()),
            Some(t) => Err(QueryError::at(t.offset, format!("expected {kw}, found {}", t.kind.describe()))),
            None => Err(self.eof(kw)),
        }
    }

    /// An attribute name: a bare word that is not a keyword, or a back-quoted name.
    fn name(&mut self, wanted: &str) -> Result<String, QueryError> {
        match self.next() {
            Some(Token { kind: TokenKind::QuotedIdent(n), offset }) => {
                if n.is_empty() {
                    return Err(QueryError::at(offset, "empty attribute name"));
                }
                Ok(n)
            }
            Some(Token { kind: TokenKind::Word(w), offset }) => {
                if is_reserved(&w) {
                    return Err(QueryError::at(
                        offset,
                        format!("keyword '{w}' is not supported here: expected {wanted}"),
                    ));
                }
                Ok(w)
            }
            Some(t) => Err(QueryError::at(
                t.offset,
                format!("expected {wanted} (a column name), found {}", t.kind.describe()),
            )),
            None => Err(self.eof(wanted)),
        }
    }

    fn value(&mut self, after: &str) -> Result<Value, QueryError> {
        let wanted = format!("a value after {after}");
        match self.next() {
            Some(Token { kind: TokenKind::Str(s), .. }) => Ok(Value::Str(s)),
            Some(Token { kind: TokenKind::Number(n), offset }) => {
                parse_number(&n).ok_or_else(|| QueryError::at(offset, format!("invalid number '{n}'")))
            }
            Some(Token { kind: TokenKind::Word(w), offset }) => {
                if w.eq_ignore_ascii_case("true") {
                    Ok(Value::Bool(true))
                } else if w.eq_ignore_ascii_case("false") {
                    Ok(Value::Bool(false))
                } else {
                    Err(QueryError::at(
                        offset,
                        format!("expected {wanted}, found '{w}' (quote string values: '{w}')"),
                    ))
                }
            }
            Some(t) => {
                Err(QueryError::at(t.offset, format!("expected {wanted}, found {}", t.kind.describe())))
            }
            None => Err(self.eof(&wanted)),
        }
    }

    fn expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and()?;
        while self.eat_keyword("OR") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        while self.eat_keyword("AND") {
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        let Some(t) = self.peek().cloned() else { return Err(self.eof("a condition")) };
        if t.kind.is_keyword("NOT") {
            self.pos += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(QueryError::at(t.offset, format!("NOT nested deeper than {MAX_DEPTH}")));
            }
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        let Some(t) = self.peek().cloned() else { return Err(self.eof("a condition")) };
        if t.kind == TokenKind::LParen {
            self.pos += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(QueryError::at(t.offset, format!("parentheses nested deeper than {MAX_DEPTH}")));
            }
            let inner = self.expr()?;
            self.depth -= 1;
            return match self.next() {
                Some(Token { kind: TokenKind::RParen, .. }) => Ok(inner),
                Some(u) => Err(QueryError::at(
                    u.offset,
                    format!(
                        "expected ')' to close the '(' at position {}, found {}",
                        t.offset,
                        u.kind.describe()
                    ),
                )),
                None => Err(QueryError::at(t.offset, "this '(' is never closed")),
            };
        }
        let name = self.name("an attribute name")?;
        self.predicate(name)
    }

    fn predicate(&mut self, name: String) -> Result<Expr, QueryError> {
        let Some(t) = self.next() else { return Err(self.eof(&format!("an operator after {name}"))) };
        let op = match &t.kind {
            TokenKind::Op(o) => Some(match *o {
                "=" => CmpOp::Eq,
                "!=" => CmpOp::Ne,
                "<" => CmpOp::Lt,
                "<=" => CmpOp::Le,
                ">" => CmpOp::Gt,
                _ => CmpOp::Ge,
            }),
            _ => None,
        };
        if let Some(op) = op {
            let value = self.value(&format!("{name} {}", op.as_str()))?;
            return Ok(Expr::Compare { name, op, value });
        }
        let negated = t.kind.is_keyword("NOT");
        let kw = if negated {
            match self.next() {
                Some(k)
                    if k.kind.is_keyword("IN")
                        || k.kind.is_keyword("BETWEEN")
                        || k.kind.is_keyword("STARTS_WITH") =>
                {
                    k
                }
                Some(k) => {
                    return Err(QueryError::at(
                        k.offset,
                        format!("expected IN, BETWEEN or STARTS_WITH after NOT, found {}", k.kind.describe()),
                    ));
                }
                None => return Err(self.eof("IN, BETWEEN or STARTS_WITH")),
            }
        } else {
            t.clone()
        };
        if kw.kind.is_keyword("IN") {
            match self.next() {
                Some(Token { kind: TokenKind::LParen, .. }) => {}
                Some(u) => {
                    return Err(QueryError::at(
                        u.offset,
                        format!("expected '(' after IN, found {}", u.kind.describe()),
                    ));
                }
                None => return Err(self.eof("'(' after IN")),
            }
            let mut values = vec![self.value(&format!("{name} IN ("))?];
            loop {
                match self.next() {
                    Some(Token { kind: TokenKind::Comma, .. }) => values.push(self.value("','")?),
                    Some(Token { kind: TokenKind::RParen, .. }) => break,
                    Some(u) => {
                        return Err(QueryError::at(
                            u.offset,
                            format!("expected ',' or ')' in the IN list, found {}", u.kind.describe()),
                        ));
                    }
                    None => return Err(self.eof("')' closing the IN list")),
                }
            }
            return Ok(Expr::In { name, values, negated });
        }
        if kw.kind.is_keyword("BETWEEN") {
            let low = self.value(&format!("{name} BETWEEN"))?;
            self.expect_keyword("AND")?;
            let high = self.value(&format!("{name} BETWEEN … AND"))?;
            return Ok(Expr::Between { name, low, high, negated });
        }
        if kw.kind.is_keyword("STARTS_WITH") {
            return match self.value(&format!("{name} STARTS_WITH"))? {
                Value::Str(prefix) => Ok(Expr::StartsWith { name, prefix, negated }),
                other => Err(QueryError::at(
                    kw.offset,
                    format!("STARTS_WITH on {name} needs a string, found {other}"),
                )),
            };
        }
        if kw.kind.is_keyword("IS") {
            let negated = self.eat_keyword("NOT");
            self.expect_keyword("NULL")?;
            return Ok(Expr::IsNull { name, negated });
        }
        if kw.kind.is_keyword("LIKE") {
            return Err(QueryError::at(
                kw.offset,
                format!("operator LIKE is not supported (on {name}): use STARTS_WITH"),
            ));
        }
        Err(QueryError::at(
            kw.offset,
            format!("expected an operator after {name}, found {}", kw.kind.describe()),
        ))
    }
}

/// An integer if it is one, else a finite float.
fn parse_number(n: &str) -> Option<Value> {
    if let Ok(i) = n.parse::<i64>() {
        return Some(Value::Int(i));
    }
    n.parse::<f64>().ok().filter(|x| x.is_finite()).map(Value::Float)
}

//! The tokenizer of the list-filter language.

use super::QueryError;

/// One token, with the byte offset where it starts in the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Byte offset of its first character.
    pub offset: usize,
}

/// Token kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// A bare word: an identifier or a keyword (`AND`, `IN`, `ORDER` …), as written.
    Word(String),
    /// A back-quoted identifier (`` `Custom Field` ``).
    QuotedIdent(String),
    /// A string literal in single or double quotes, escapes resolved.
    Str(String),
    /// A number literal, as written (`42`, `-1.5`, `1e3`).
    Number(String),
    /// `=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`.
    Op(&'static str),
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `,`.
    Comma,
}

impl TokenKind {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            TokenKind::Word(w) => format!("'{w}'"),
            TokenKind::QuotedIdent(w) => format!("'`{w}`'"),
            TokenKind::Str(s) => format!("string '{s}'"),
            TokenKind::Number(n) => format!("number {n}"),
            TokenKind::Op(o) => format!("'{o}'"),
            TokenKind::LParen => "'('".into(),
            TokenKind::RParen => "')'".into(),
            TokenKind::Comma => "','".into(),
        }
    }

    /// Whether this is the bare word `kw` (keywords are case-insensitive).
    pub fn is_keyword(&self, kw: &str) -> bool {
        matches!(self, TokenKind::Word(w) if w.eq_ignore_ascii_case(kw))
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.' || c == '-' || c == ':'
}

/// Splits `q` into tokens.
pub fn tokenize(q: &str) -> Result<Vec<Token>, QueryError> {
    let mut out = Vec::new();
    let mut it = q.char_indices().peekable();
    while let Some(&(offset, c)) = it.peek() {
        let kind = match c {
            c if c.is_whitespace() => {
                it.next();
                continue;
            }
            '(' => {
                it.next();
                TokenKind::LParen
            }
            ')' => {
                it.next();
                TokenKind::RParen
            }
            ',' => {
                it.next();
                TokenKind::Comma
            }
            '=' => {
                it.next();
                TokenKind::Op("=")
            }
            '!' => {
                it.next();
                match it.next() {
                    Some((_, '=')) => TokenKind::Op("!="),
                    _ => return Err(QueryError::at(offset, "'!' must be followed by '='")),
                }
            }
            '<' => {
                it.next();
                match it.peek() {
                    Some((_, '=')) => {
                        it.next();
                        TokenKind::Op("<=")
                    }
                    Some((_, '>')) => {
                        it.next();
                        TokenKind::Op("!=")
                    }
                    _ => TokenKind::Op("<"),
                }
            }
            '>' => {
                it.next();
                if matches!(it.peek(), Some((_, '='))) {
                    it.next();
                    TokenKind::Op(">=")
                } else {
                    TokenKind::Op(">")
                }
            }
            '\'' | '"' | '`' => {
                it.next();
                let mut s = String::new();
                let mut closed = false;
                while let Some((_, x)) = it.next() {
                    if x == c {
                        // A doubled quote is one quote ('it''s', `a``b`).
                        if matches!(it.peek(), Some((_, y)) if *y == c) {
                            it.next();
                            s.push(c);
                            continue;
                        }
                        closed = true;
                        break;
                    }
                    if x == '\\' && c != '`' {
                        match it.next() {
                            Some((_, e)) => s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '0' => '\0',
                                other => other,
                            }),
                            None => break,
                        }
                        continue;
                    }
                    s.push(x);
                }
                if !closed {
                    return Err(QueryError::at(offset, format!("unterminated {c}…{c} starting here")));
                }
                if c == '`' { TokenKind::QuotedIdent(s) } else { TokenKind::Str(s) }
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+' || c == '.')
                    && q[offset + 1..].starts_with(|d: char| d.is_ascii_digit() || d == '.')) =>
            {
                let mut s = String::new();
                while let Some(&(_, x)) = it.peek() {
                    let exponent_sign = (x == '-' || x == '+') && s.ends_with(['e', 'E']);
                    if x.is_ascii_alphanumeric()
                        || x == '.'
                        || exponent_sign
                        || (s.is_empty() && (x == '-' || x == '+'))
                    {
                        s.push(x);
                        it.next();
                    } else {
                        break;
                    }
                }
                TokenKind::Number(s)
            }
            c if is_word_char(c) => {
                let mut s = String::new();
                while let Some(&(_, x)) = it.peek() {
                    if is_word_char(x) {
                        s.push(x);
                        it.next();
                    } else {
                        break;
                    }
                }
                TokenKind::Word(s)
            }
            other => return Err(QueryError::at(offset, format!("unexpected character '{other}'"))),
        };
        out.push(Token { kind, offset });
    }
    Ok(out)
}

//! Temporal's list-filter language (ListWorkflowExecutions, CountWorkflowExecutions,
//! ScanWorkflowExecutions): a small SQL `WHERE` dialect.
//!
//! ```text
//! query      := [ expr ] [ ORDER BY order (, order)* ] [ GROUP BY name (, name)* ]
//! expr       := and ( OR and )*
//! and        := unary ( AND unary )*
//! unary      := NOT unary | primary
//! primary    := '(' expr ')' | predicate
//! predicate  := name op value                      op: = != <> < <= > >=
//!             | name [NOT] IN '(' value (, value)* ')'
//!             | name [NOT] BETWEEN value AND value
//!             | name [NOT] STARTS_WITH string
//!             | name IS [NOT] NULL
//! order      := name [ ASC | DESC ]
//! name       := word | `back-quoted`
//! value      := 'string' | "string" | number | TRUE | FALSE
//! ```
//!
//! Keywords are case-insensitive; names are not. [`parse`] only checks the syntax: the names
//! and value types are checked against the namespace's search attributes by the caller. Every
//! error carries the byte offset it points at.

mod lex;
mod parse;

pub use lex::{Token, TokenKind, tokenize};
pub use parse::parse;

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// The filter (`None`: every run).
    pub filter: Option<Expr>,
    /// `ORDER BY` terms, in order.
    pub order_by: Vec<OrderBy>,
    /// `GROUP BY` names.
    pub group_by: Vec<String>,
}

/// One `ORDER BY` term.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    /// The attribute.
    pub name: String,
    /// `DESC`.
    pub descending: bool,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A quoted string.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// A literal with a fraction or exponent.
    Float(f64),
    /// `TRUE` / `FALSE`.
    Bool(bool),
}

impl std::fmt::Display for Value {
    /// The value as a literal [`parse`] reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Str(s) => write!(f, "'{}'", s.replace('\\', "\\\\").replace('\'', "''")),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Bool(b) => write!(f, "{}", if *b { "true" } else { "false" }),
        }
    }
}

/// Writes an attribute name, back-quoted unless it is a plain word.
fn write_name(f: &mut std::fmt::Formatter<'_>, name: &str) -> std::fmt::Result {
    let plain = name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !parse::is_reserved(name);
    if plain { f.write_str(name) } else { write!(f, "`{}`", name.replace('`', "``")) }
}

impl std::fmt::Display for Expr {
    /// The expression as a query [`parse`] reads back to the same tree.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expr::And(a, b) => write!(f, "({a}) AND ({b})"),
            Expr::Or(a, b) => write!(f, "({a}) OR ({b})"),
            Expr::Not(e) => write!(f, "NOT ({e})"),
            Expr::Compare { name, op, value } => {
                write_name(f, name)?;
                write!(f, " {} {value}", op.as_str())
            }
            Expr::In { name, values, negated } => {
                write_name(f, name)?;
                f.write_str(if *negated { " NOT IN (" } else { " IN (" })?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
            Expr::Between { name, low, high, negated } => {
                write_name(f, name)?;
                write!(f, "{} BETWEEN {low} AND {high}", if *negated { " NOT" } else { "" })
            }
            Expr::StartsWith { name, prefix, negated } => {
                write_name(f, name)?;
                let not = if *negated { " NOT" } else { "" };
                write!(f, "{not} STARTS_WITH {}", Value::Str(prefix.clone()))
            }
            Expr::IsNull { name, negated } => {
                write_name(f, name)?;
                f.write_str(if *negated { " IS NOT NULL" } else { " IS NULL" })
            }
        }
    }
}

impl std::fmt::Display for Query {
    /// The query as text [`parse`] reads back to the same value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut sep = "";
        if let Some(e) = &self.filter {
            write!(f, "{e}")?;
            sep = " ";
        }
        if !self.order_by.is_empty() {
            write!(f, "{sep}ORDER BY ")?;
            for (i, o) in self.order_by.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_name(f, &o.name)?;
                f.write_str(if o.descending { " DESC" } else { " ASC" })?;
            }
            sep = " ";
        }
        if !self.group_by.is_empty() {
            write!(f, "{sep}GROUP BY ")?;
            for (i, g) in self.group_by.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_name(f, g)?;
            }
        }
        Ok(())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written in a query.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Both hold.
    And(Box<Expr>, Box<Expr>),
    /// Either holds.
    Or(Box<Expr>, Box<Expr>),
    /// `NOT e` (SQL logic: not true where `e` is unknown because a value is missing).
    Not(Box<Expr>),
    /// `name op value`.
    Compare {
        /// Attribute.
        name: String,
        /// Operator.
        op: CmpOp,
        /// Literal.
        value: Value,
    },
    /// `name [NOT] IN (values)`.
    In {
        /// Attribute.
        name: String,
        /// Literals (at least one).
        values: Vec<Value>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `name [NOT] BETWEEN low AND high` (inclusive).
    Between {
        /// Attribute.
        name: String,
        /// Lower bound.
        low: Value,
        /// Upper bound.
        high: Value,
        /// `NOT BETWEEN`.
        negated: bool,
    },
    /// `name [NOT] STARTS_WITH 'prefix'`.
    StartsWith {
        /// Attribute.
        name: String,
        /// Prefix.
        prefix: String,
        /// `NOT STARTS_WITH`.
        negated: bool,
    },
    /// `name IS [NOT] NULL`.
    IsNull {
        /// Attribute.
        name: String,
        /// `IS NOT NULL`.
        negated: bool,
    },
}

impl Expr {
    /// Every attribute name the expression mentions, in order of appearance.
    pub fn names(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_names(&mut out);
        out
    }

    fn collect_names<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.collect_names(out);
                b.collect_names(out);
            }
            Expr::Not(e) => e.collect_names(out),
            Expr::Compare { name, .. }
            | Expr::In { name, .. }
            | Expr::Between { name, .. }
            | Expr::StartsWith { name, .. }
            | Expr::IsNull { name, .. } => out.push(name),
        }
    }
}

/// A malformed query: what is wrong and where (byte offset into the query).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (at position {offset})")]
pub struct QueryError {
    /// What is wrong.
    pub message: String,
    /// Byte offset into the query.
    pub offset: usize,
}

impl QueryError {
    /// An error at `offset`.
    pub fn at(offset: usize, message: impl Into<String>) -> QueryError {
        QueryError { message: message.into(), offset }
    }
}

#[cfg(test)]
mod tests;

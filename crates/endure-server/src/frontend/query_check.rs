//! Resolves a parsed list-filter query against the search attributes and converts its literals:
//! the bridge from `endure_core::query` (syntax) to `endure_store::visibility` (typed filter).

use crate::error::ApiError;
use crate::search_attributes::SaTypes;
use crate::search_attributes::schema::execution_status_name;
use crate::search_attributes::schema::{self, Queried};
use endure_core::query::{self, CmpOp as QOp, Expr, Query, Value};
use endure_store::visibility::{Attr, CmpOp, FilterExpr, SaType, Scalar};

/// A checked query, ready for the store.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct CheckedQuery {
    /// The typed filter (`None`: every run).
    pub expr: Option<FilterExpr>,
    /// `GROUP BY ExecutionStatus` was asked for.
    pub group_by_status: bool,
}

/// How an attribute's literals are read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// A string.
    Keyword,
    /// An execution status name (`'Running'`) or number.
    Status,
    /// An RFC 3339 timestamp string or nanoseconds since the epoch.
    Datetime,
    /// A duration (`'1h30m'`, `'10s'`, `'01:30:00'`) or nanoseconds.
    Duration,
    /// An integer.
    Int,
    /// A full-text string (custom Text attributes).
    Text,
    /// A float (an integer literal is accepted).
    Double,
    /// `true`/`false` (or `'true'`/`'false'`).
    Bool,
    /// An element of a KeywordList (a string).
    List,
}

fn kind_of(ty: SaType) -> Kind {
    match ty {
        SaType::Keyword => Kind::Keyword,
        SaType::Text => Kind::Text,
        SaType::Int => Kind::Int,
        SaType::Double => Kind::Double,
        SaType::Bool => Kind::Bool,
        SaType::Datetime => Kind::Datetime,
        SaType::KeywordList => Kind::List,
    }
}

/// The attribute a name refers to: a system one (a column, one no run carries, or one workflows
/// set and that is stored like a custom one) or a custom one of the namespace.
fn resolve(name: &str, custom: &SaTypes) -> Result<(Attr, Kind), ApiError> {
    let (attr, ty) = match schema::system(name) {
        Some(a) => match &a.queried {
            Queried::Column(Attr::ExecutionStatus) => return Ok((Attr::ExecutionStatus, Kind::Status)),
            Queried::Column(Attr::ExecutionDuration) => {
                return Ok((Attr::ExecutionDuration, Kind::Duration));
            }
            Queried::Column(attr) => (attr.clone(), a.ty),
            Queried::Unset => (Attr::Unset, a.ty),
            Queried::Stored => (Attr::Custom { name: name.to_owned(), ty: a.ty }, a.ty),
        },
        None => {
            let ty = custom.get(name).copied().ok_or_else(|| unknown(name))?;
            (Attr::Custom { name: name.to_owned(), ty }, ty)
        }
    };
    Ok((attr, kind_of(ty)))
}

fn invalid(message: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidArgument(format!("invalid query: {message}"))
}

/// Parses and checks `text` for ListWorkflowExecutions (`count = false`) or
/// CountWorkflowExecutions (`count = true`).
pub(crate) fn check(text: &str, count: bool, custom: &SaTypes) -> Result<CheckedQuery, ApiError> {
    let q: Query = query::parse(text)
        .map_err(|e| invalid(format!("syntax error at position {}: {}", e.offset, e.message)))?;
    let mut out = CheckedQuery::default();
    for g in &q.group_by {
        if !count {
            return Err(invalid("GROUP BY is supported only by CountWorkflowExecutions"));
        }
        if g != "ExecutionStatus" {
            return Err(invalid(format!("GROUP BY is supported only on ExecutionStatus, not '{g}'")));
        }
        out.group_by_status = true;
    }
    if q.group_by.len() > 1 {
        return Err(invalid("GROUP BY takes one attribute"));
    }
    if !q.order_by.is_empty() {
        // As the real server's SQL visibility: results always come running runs first, then
        // closed ones by close time, newest first.
        return Err(invalid(
            "ORDER BY is not supported: results come running first, then by CloseTime descending",
        ));
    }
    out.expr = q.filter.as_ref().map(|e| convert(e, custom)).transpose()?;
    Ok(out)
}

fn unknown(name: &str) -> ApiError {
    if name == "ActivityId" {
        // The real server knows it as a standalone activity's field: workflows have none.
        return invalid(format!("invalid search attribute: {name}"));
    }
    invalid(format!("unknown search attribute '{name}'"))
}

/// Operators that only compare for (in)equality on these kinds.
fn equality_only(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Status => Some("execution statuses"),
        Kind::Text => Some("Text attributes"),
        Kind::Bool => Some("Bool attributes"),
        Kind::List => Some("KeywordList attributes"),
        _ => None,
    }
}

fn convert(e: &Expr, custom: &SaTypes) -> Result<FilterExpr, ApiError> {
    Ok(match e {
        Expr::And(a, b) => FilterExpr::And(Box::new(convert(a, custom)?), Box::new(convert(b, custom)?)),
        Expr::Or(a, b) => FilterExpr::Or(Box::new(convert(a, custom)?), Box::new(convert(b, custom)?)),
        Expr::Not(e) => FilterExpr::Not(Box::new(convert(e, custom)?)),
        Expr::Compare { name, op, value } => {
            let (attr, kind) = resolve(name, custom)?;
            if let Some(what) = equality_only(kind)
                && !matches!(op, QOp::Eq | QOp::Ne)
            {
                return Err(invalid(format!(
                    "operator '{}' is not supported on {name}: {what} take =, !=, IN or NOT IN",
                    op.as_str()
                )));
            }
            if kind == Kind::Text && matches!(value, Value::Str(s) if s.trim().is_empty()) {
                return Err(invalid(format!("an empty value cannot match a Text attribute: {name}")));
            }
            FilterExpr::Cmp { attr, op: cmp_op(*op), value: literal(name, kind, value)? }
        }
        Expr::In { name, values, negated } => {
            let (attr, kind) = resolve(name, custom)?;
            if kind == Kind::Text {
                let op = if *negated { "NOT IN" } else { "IN" };
                return Err(invalid(format!(
                    "operator {op} is not supported on {name}: Text attributes take = and !="
                )));
            }
            let values = values.iter().map(|v| literal(name, kind, v)).collect::<Result<_, _>>()?;
            FilterExpr::In { attr, values, negated: *negated }
        }
        Expr::Between { name, low, high, negated } => {
            let (attr, kind) = resolve(name, custom)?;
            if let Some(what) = equality_only(kind) {
                return Err(invalid(format!(
                    "BETWEEN is not supported on {name}: {what} take =, !=, IN or NOT IN"
                )));
            }
            FilterExpr::Between {
                attr,
                low: literal(name, kind, low)?,
                high: literal(name, kind, high)?,
                negated: *negated,
            }
        }
        Expr::StartsWith { name, prefix, negated } => {
            let (attr, kind) = resolve(name, custom)?;
            if kind != Kind::Keyword {
                return Err(invalid(format!(
                    "STARTS_WITH is supported only on Keyword attributes, not on {name}"
                )));
            }
            let test = FilterExpr::StartsWith { attr, prefix: prefix.clone() };
            if *negated { FilterExpr::Not(Box::new(test)) } else { test }
        }
        Expr::IsNull { name, negated } => {
            let (attr, _) = resolve(name, custom)?;
            FilterExpr::IsNull { attr, negated: *negated }
        }
    })
}

fn cmp_op(o: QOp) -> CmpOp {
    match o {
        QOp::Eq => CmpOp::Eq,
        QOp::Ne => CmpOp::Ne,
        QOp::Lt => CmpOp::Lt,
        QOp::Le => CmpOp::Le,
        QOp::Gt => CmpOp::Gt,
        QOp::Ge => CmpOp::Ge,
    }
}

/// Converts a literal to the attribute's type.
fn literal(name: &str, kind: Kind, v: &Value) -> Result<Scalar, ApiError> {
    let bad = |expected: &str| invalid(format!("invalid value {v} for {name}: expected {expected}"));
    match (kind, v) {
        (Kind::Keyword | Kind::Text | Kind::List, Value::Str(s)) => Ok(Scalar::Str(s.clone())),
        (Kind::Keyword | Kind::Text | Kind::List, _) => Err(bad("a string")),
        (Kind::Double, Value::Float(f)) => Ok(Scalar::Float(*f)),
        (Kind::Double, Value::Int(i)) => Ok(Scalar::Float(*i as f64)),
        (Kind::Double, _) => Err(bad("a number")),
        (Kind::Bool, Value::Bool(b)) => Ok(Scalar::Int(*b as i64)),
        (Kind::Bool, _) => Err(bad("true or false")),
        (Kind::Status, Value::Str(s)) => status_number(s).map(Scalar::Int).ok_or_else(|| {
            invalid(format!(
                "invalid ExecutionStatus value '{s}' (one of Running, Completed, Failed, Canceled, Terminated, ContinuedAsNew, TimedOut)"
            ))
        }),
        (Kind::Status, Value::Int(i)) if (1..=7).contains(i) => Ok(Scalar::Int(*i)),
        (Kind::Status, _) => Err(bad("an execution status name such as 'Running'")),
        (Kind::Datetime, Value::Str(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .map(Scalar::Int)
            .ok_or_else(|| bad("an RFC 3339 time such as '2026-01-02T15:04:05Z'")),
        (Kind::Datetime, Value::Int(i)) => Ok(Scalar::Int(*i)),
        (Kind::Datetime, _) => Err(bad("an RFC 3339 time such as '2026-01-02T15:04:05Z'")),
        (Kind::Duration, Value::Str(s)) => {
            parse_duration(s).map(Scalar::Int).ok_or_else(|| bad("a duration such as '1h30m', '90s' or '01:30:00'"))
        }
        (Kind::Duration, Value::Int(i)) if *i >= 0 => Ok(Scalar::Int(*i)),
        (Kind::Duration, _) => Err(bad("a duration such as '1h30m', '90s' or '01:30:00'")),
        (Kind::Int, Value::Int(i)) => Ok(Scalar::Int(*i)),
        (Kind::Int, _) => Err(bad("an integer")),
    }
}

fn status_number(name: &str) -> Option<i64> {
    // Exact, as the real server: 'Running', not 'running'.
    (1..=7).find(|s| execution_status_name(*s as i32) == name)
}

/// Parses `1h30m`, `90s`, `1.5h`, `250ms`, `10us`, `5ns`, `1d` (Go's duration syntax plus days)
/// or `hh:mm:ss` into nanoseconds.
fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.contains(':') {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 3 {
            return None;
        }
        let h: i64 = parts[0].parse().ok()?;
        let m: i64 = parts[1].parse().ok()?;
        let sec: f64 = parts[2].parse().ok()?;
        if !(0..60).contains(&m) || !(0.0..60.0).contains(&sec) || h < 0 {
            return None;
        }
        return Some(h.checked_mul(3_600_000_000_000)?.checked_add(m * 60_000_000_000)? + (sec * 1e9) as i64);
    }
    // Unsigned: an execution's duration is never negative.
    if s.starts_with(['+', '-']) {
        return None;
    }
    endure_core::time::parse_duration(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom() -> SaTypes {
        [
            ("Customer".to_string(), SaType::Keyword),
            ("Notes".to_string(), SaType::Text),
            ("Priority".to_string(), SaType::Int),
            ("Score".to_string(), SaType::Double),
            ("Urgent".to_string(), SaType::Bool),
            ("Due".to_string(), SaType::Datetime),
            ("Tags".to_string(), SaType::KeywordList),
        ]
        .into_iter()
        .collect()
    }

    fn ok(q: &str) -> CheckedQuery {
        check(q, true, &custom()).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    fn err(q: &str) -> String {
        match check(q, false, &custom()) {
            Err(ApiError::InvalidArgument(m)) => m,
            other => panic!("{q}: expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn literals_take_the_attribute_types() {
        let e = ok("ExecutionStatus = 'Failed' AND StartTime > '2026-11-23T00:00:00Z'").expr.unwrap();
        let FilterExpr::And(a, b) = e else { panic!("not an AND") };
        assert_eq!(*a, FilterExpr::eq(Attr::ExecutionStatus, Scalar::Int(3)));
        assert_eq!(
            *b,
            FilterExpr::Cmp {
                attr: Attr::StartTime,
                op: CmpOp::Gt,
                value: Scalar::Int(1_795_392_000_000_000_000)
            }
        );
        assert_eq!(
            ok("ExecutionDuration > '1h30m'").expr,
            Some(FilterExpr::Cmp {
                attr: Attr::ExecutionDuration,
                op: CmpOp::Gt,
                value: Scalar::Int(5_400_000_000_000)
            })
        );
        assert_eq!(
            ok("ExecutionDuration <= '00:00:02.5'").expr,
            Some(FilterExpr::Cmp {
                attr: Attr::ExecutionDuration,
                op: CmpOp::Le,
                value: Scalar::Int(2_500_000_000)
            })
        );
        assert_eq!(
            ok("HistoryLength >= 12").expr,
            Some(FilterExpr::Cmp { attr: Attr::HistoryLength, op: CmpOp::Ge, value: Scalar::Int(12) })
        );
        assert!(ok("BuildIds IS NULL").expr.is_some());
        assert!(ok("GROUP BY ExecutionStatus").group_by_status);
    }

    #[test]
    fn type_and_name_errors_name_the_problem() {
        for (q, needle) in [
            ("Foo = 'x'", "unknown search attribute 'Foo'"),
            ("WorkflowId = 5", "expected a string"),
            ("HistoryLength = 'many'", "expected an integer"),
            ("StartTime > 'yesterday'", "RFC 3339"),
            ("ExecutionStatus = 'Bogus'", "invalid ExecutionStatus value 'Bogus'"),
            ("ExecutionStatus > 'Running'", "not supported on ExecutionStatus"),
            ("HistoryLength STARTS_WITH '1'", "STARTS_WITH is supported only on Keyword"),
            ("ExecutionDuration > '5 parsecs'", "a duration"),
            ("GROUP BY ExecutionStatus", "only by CountWorkflowExecutions"),
            ("HistoryLength = '5'", "expected an integer"),
            ("WorkflowId = 'x' ORDER BY StartTime", "ORDER BY is not supported"),
            ("WorkflowId = ", "syntax error at position 13"),
        ] {
            let m = err(q);
            assert!(m.starts_with("invalid query: ") && m.contains(needle), "{q}: {m}");
        }
        assert!(
            matches!(check("GROUP BY WorkflowType", true, &custom()), Err(ApiError::InvalidArgument(m)) if m.contains("only on ExecutionStatus"))
        );
        for (q, needle) in [
            ("Notes > 'a'", "not supported on Notes: Text attributes"),
            ("Urgent BETWEEN true AND false", "BETWEEN is not supported on Urgent: Bool attributes"),
            ("Tags < 'a'", "not supported on Tags: KeywordList attributes"),
            ("Priority = 'high'", "expected an integer"),
            ("Score = 'high'", "expected a number"),
            ("Score = '1.5'", "expected a number"),
            ("Urgent = 'true'", "true or false"),
            ("Tags STARTS_WITH 'r'", "STARTS_WITH is supported only on Keyword"),
            ("Urgent = 1", "true or false"),
            ("Due > 'tomorrow'", "RFC 3339"),
            ("Customer = 1", "expected a string"),
        ] {
            let m = err(q);
            assert!(m.contains(needle), "{q}: {m}");
        }
    }

    #[test]
    fn custom_attributes_resolve_with_their_types() {
        let custom = |n: &str, ty| Attr::Custom { name: n.into(), ty };
        assert_eq!(
            ok("Customer = 'acme'").expr,
            Some(FilterExpr::eq(custom("Customer", SaType::Keyword), Scalar::Str("acme".into())))
        );
        assert_eq!(
            ok("Score > 1").expr,
            Some(FilterExpr::Cmp {
                attr: custom("Score", SaType::Double),
                op: CmpOp::Gt,
                value: Scalar::Float(1.0)
            })
        );
        assert_eq!(
            ok("Urgent = true").expr,
            Some(FilterExpr::eq(custom("Urgent", SaType::Bool), Scalar::Int(1)))
        );
        assert_eq!(
            ok("TemporalChangeVersion = 'fix-1'").expr,
            Some(FilterExpr::eq(
                custom("TemporalChangeVersion", SaType::KeywordList),
                Scalar::Str("fix-1".into())
            ))
        );
        assert!(ok("Customer STARTS_WITH 'r' AND Due IS NOT NULL").expr.is_some());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("250ms"), Some(250_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("1:2"), None);
    }
}

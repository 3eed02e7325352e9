//! Compiles a typed [`VisibilityFilter`] to an SQLite `WHERE` clause with positional parameters.

use endure_store::VisibilityFilter;
use endure_store::visibility::{Attr, CmpOp, FilterExpr, Scalar};
use rusqlite::types::Value;

/// The SQL expression of an attribute. Absent values (close time of an open run, the parent of
/// a top-level run) are NULL, so comparisons with them do not hold, as in Temporal's SQL stores.
fn column(attr: &Attr) -> &'static str {
    match attr {
        Attr::WorkflowId => "workflow_id",
        Attr::RunId => "run_id",
        Attr::WorkflowType => "workflow_type",
        Attr::ExecutionStatus => "status",
        Attr::StartTime => "start_time",
        Attr::CloseTime => "NULLIF(close_time, 0)",
        Attr::ExecutionTime => "execution_time",
        Attr::ExecutionDuration => "(CASE WHEN close_time > 0 THEN close_time - execution_time END)",
        Attr::TaskQueue => "task_queue",
        Attr::HistoryLength => "history_length",
        Attr::HistorySizeBytes => "history_size_bytes",
        Attr::StateTransitionCount => "state_transition_count",
        Attr::ParentWorkflowId => "NULLIF(parent_workflow_id, '')",
        Attr::ParentRunId => "NULLIF(parent_run_id, '')",
        Attr::RootWorkflowId => "root_workflow_id",
        Attr::RootRunId => "root_run_id",
        Attr::Unset => "NULL",
    }
}

fn value(v: &Scalar) -> Value {
    match v {
        Scalar::Str(s) => Value::Text(s.clone()),
        Scalar::Int(i) => Value::Integer(*i),
        Scalar::Float(f) => Value::Real(*f),
    }
}

fn op(o: CmpOp) -> &'static str {
    match o {
        CmpOp::Eq => "=",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

/// The smallest string greater than every string starting with `prefix` (code-point order,
/// which is SQLite's BINARY order on UTF-8), or `None` if there is none.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn expr(e: &FilterExpr, sql: &mut String, args: &mut Vec<Value>) {
    match e {
        FilterExpr::And(a, b) | FilterExpr::Or(a, b) => {
            sql.push('(');
            expr(a, sql, args);
            sql.push_str(if matches!(e, FilterExpr::And(..)) { " AND " } else { " OR " });
            expr(b, sql, args);
            sql.push(')');
        }
        FilterExpr::Cmp { attr, op: o, value: v } => {
            sql.push_str(&format!("{} {} ?", column(attr), op(*o)));
            args.push(value(v));
        }
        FilterExpr::In { attr, values, negated } => {
            let marks = vec!["?"; values.len()].join(", ");
            let not = if *negated { "NOT " } else { "" };
            sql.push_str(&format!("{} {not}IN ({marks})", column(attr)));
            args.extend(values.iter().map(value));
        }
        FilterExpr::Between { attr, low, high, negated } => {
            let not = if *negated { "NOT " } else { "" };
            sql.push_str(&format!("{} {not}BETWEEN ? AND ?", column(attr)));
            args.push(value(low));
            args.push(value(high));
        }
        FilterExpr::StartsWith { attr, prefix } => {
            let col = column(attr);
            if prefix.is_empty() {
                sql.push_str(&format!("{col} IS NOT NULL"));
                return;
            }
            // A range the column's index can use, then the exact test (no LIKE wildcards).
            sql.push_str(&format!("({col} >= ?"));
            args.push(Value::Text(prefix.clone()));
            if let Some(upper) = prefix_upper_bound(prefix) {
                sql.push_str(&format!(" AND {col} < ?"));
                args.push(Value::Text(upper));
            }
            sql.push_str(&format!(" AND substr({col}, 1, length(?)) = ?)"));
            args.push(Value::Text(prefix.clone()));
            args.push(Value::Text(prefix.clone()));
        }
        FilterExpr::IsNull { attr, negated } => {
            let not = if *negated { "NOT " } else { "" };
            sql.push_str(&format!("{} IS {not}NULL", column(attr)));
        }
    }
}

/// The `WHERE` clause (without the keyword) and its parameters.
pub(crate) fn where_clause(f: &VisibilityFilter) -> (String, Vec<Value>) {
    let mut sql = String::from("namespace_id = ?");
    let mut args = vec![Value::Text(f.namespace_id.clone())];
    if let Some(e) = &f.expr {
        sql.push_str(" AND ");
        expr(e, &mut sql, &mut args);
    }
    match f.open {
        Some(true) => sql.push_str(" AND close_time = 0"),
        Some(false) => sql.push_str(" AND close_time != 0"),
        None => {}
    }
    (sql, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        assert_eq!(prefix_upper_bound("x\u{D7FF}").as_deref(), Some("x\u{E000}"));
    }
}

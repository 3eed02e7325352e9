//! Compiles a typed [`VisibilityFilter`] to an SQLite `WHERE` clause with positional parameters.

use endure_store::VisibilityFilter;
use endure_store::visibility::prefix_upper_bound;
use endure_store::visibility::{Attr, CmpOp, FilterExpr, SaType, SaValue, Scalar};
use rusqlite::types::Value;

/// Words of a Text value: runs of letters and digits, lower-cased.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase())
}

/// Whether some word of `query` is a word of `value` (Text attribute `=`, as the real server's
/// full-text match).
pub(crate) fn text_match(value: &str, query: &str) -> bool {
    let wanted: std::collections::HashSet<String> = words(query).collect();
    words(value).any(|w| wanted.contains(&w))
}

/// Registers the SQL functions filters use (`endure_text_match(value, query)`).
pub(crate) fn register_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "endure_text_match",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let value: Option<String> = ctx.get(0)?;
            let query: Option<String> = ctx.get(1)?;
            Ok(match (value, query) {
                (Some(v), Some(q)) => Some(text_match(&v, &q)),
                _ => None,
            })
        },
    )
}

/// The JSON stored in `visibility.custom` for a run's custom search attribute values.
pub(crate) fn custom_to_json(values: &[(String, SaValue)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .map(|(name, v)| {
            let j = match v {
                SaValue::Str(s) => serde_json::Value::from(s.clone()),
                SaValue::Int(i) => serde_json::Value::from(*i),
                SaValue::Float(f) => serde_json::Value::from(*f),
                SaValue::List(l) => serde_json::Value::from(l.clone()),
            };
            (name.clone(), j)
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Reads `visibility.custom` back (unreadable JSON reads as no values).
pub(crate) fn custom_from_json(text: &str) -> Vec<(String, SaValue)> {
    endure_store::visibility::custom_values_from_json(text)
}

/// The SQL expression reading a custom attribute's value, with its path inlined as a literal:
/// the same text as the attribute's expression index (see [`custom_index_sql`]), so SQLite can
/// use it.
pub(crate) fn custom_value_sql(name: &str) -> String {
    format!("json_extract(custom, '{}')", json_path(name).replace('\'', "''"))
}

/// The statement creating the expression index for a custom attribute (one per name, over every
/// namespace; partial: only runs that have it).
pub(crate) fn custom_index_sql(name: &str) -> String {
    let value = custom_value_sql(name);
    let index = format!("visibility_custom_{name}").replace('"', "\"\"");
    format!(
        "CREATE INDEX IF NOT EXISTS \"{index}\" ON visibility (namespace_id, {value}) WHERE {value} IS NOT NULL"
    )
}

/// The JSON path of a custom attribute in `visibility.custom`.
fn json_path(name: &str) -> String {
    format!("$.\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The SQL expression of an attribute. Absent values (close time of an open run, the parent of
/// a top-level run, a custom attribute the run does not have) are NULL, so comparisons with
/// them do not hold, as in Temporal's SQL stores.
fn column(attr: &Attr) -> std::borrow::Cow<'static, str> {
    if let Attr::Custom { name, .. } = attr {
        return custom_value_sql(name).into();
    }
    match attr {
        Attr::Custom { .. } => unreachable!("handled above"),
        Attr::WorkflowId => "workflow_id",
        Attr::RunId => "run_id",
        Attr::WorkflowType => "workflow_type",
        Attr::ExecutionStatus => "status",
        Attr::StartTime => "start_time",
        Attr::CloseTime => "NULLIF(close_time, 0)",
        Attr::ExecutionTime => "execution_time",
        Attr::ExecutionDuration => "(CASE WHEN close_time > 0 THEN close_time - execution_time END)",
        Attr::TaskQueue => "task_queue",
        // Recorded when the run closes, as the real server's visibility does: null while open.
        Attr::HistoryLength => "(CASE WHEN close_time > 0 THEN history_length END)",
        Attr::HistorySizeBytes => "(CASE WHEN close_time > 0 THEN history_size_bytes END)",
        Attr::StateTransitionCount => "(CASE WHEN close_time > 0 THEN state_transition_count END)",
        Attr::ParentWorkflowId => "NULLIF(parent_workflow_id, '')",
        Attr::ParentRunId => "NULLIF(parent_run_id, '')",
        Attr::RootWorkflowId => "root_workflow_id",
        Attr::RootRunId => "root_run_id",
        Attr::Unset => "NULL",
    }
    .into()
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

/// A KeywordList attribute: whether some element satisfies `cond` (SQL over `value`, with its
/// parameters `cond_args`), optionally negated among runs that have the attribute.
fn list_test(
    name: &str,
    cond: &str,
    cond_args: Vec<Value>,
    negated: bool,
    sql: &mut String,
    args: &mut Vec<Value>,
) {
    let exists = "EXISTS (SELECT 1 FROM json_each(custom, ?) WHERE ";
    if negated {
        sql.push_str(&format!("(json_extract(custom, ?) IS NOT NULL AND NOT {exists}{cond}))"));
        args.push(Value::Text(json_path(name)));
    } else {
        sql.push_str(&format!("{exists}{cond})"));
    }
    args.push(Value::Text(json_path(name)));
    args.extend(cond_args);
}

/// A test on a Text attribute: `=` / `IN` hold when some word of a literal is a word of the
/// value (case-insensitive); `!=` / `NOT IN` when none is (and the run has the attribute).
fn text_condition(e: &FilterExpr, sql: &mut String, args: &mut Vec<Value>) -> bool {
    let (name, values, negated) = match e {
        FilterExpr::Cmp {
            attr: Attr::Custom { name, ty: SaType::Text },
            op: o @ (CmpOp::Eq | CmpOp::Ne),
            value: v,
        } => (name, std::slice::from_ref(v), *o == CmpOp::Ne),
        FilterExpr::In { attr: Attr::Custom { name, ty: SaType::Text }, values, negated } => {
            (name, &values[..], *negated)
        }
        _ => return false,
    };
    let col = custom_value_sql(name);
    let any = vec![format!("endure_text_match({col}, ?)"); values.len()].join(" OR ");
    sql.push_str(&format!("{}({any})", if negated { "NOT " } else { "" }));
    args.extend(values.iter().map(value));
    true
}

fn expr(e: &FilterExpr, sql: &mut String, args: &mut Vec<Value>) {
    if let Some((name, negated, cond, cond_args)) = list_condition(e) {
        list_test(name, &cond, cond_args, negated, sql, args);
        return;
    }
    if text_condition(e, sql, args) {
        return;
    }
    match e {
        FilterExpr::And(a, b) | FilterExpr::Or(a, b) => {
            sql.push('(');
            expr(a, sql, args);
            sql.push_str(if matches!(e, FilterExpr::And(..)) { " AND " } else { " OR " });
            expr(b, sql, args);
            sql.push(')');
        }
        FilterExpr::Not(inner) => {
            sql.push_str("NOT (");
            expr(inner, sql, args);
            sql.push(')');
        }
        FilterExpr::Cmp { attr, op: o, value: v } => {
            let col = column(attr);
            sql.push_str(&format!("{col} {} ?", op(*o)));
            args.push(value(v));
        }
        FilterExpr::In { attr, values, negated } => {
            let marks = vec!["?"; values.len()].join(", ");
            let not = if *negated { "NOT " } else { "" };
            let col = column(attr);
            sql.push_str(&format!("{col} {not}IN ({marks})"));
            args.extend(values.iter().map(value));
        }
        FilterExpr::Between { attr, low, high, negated } => {
            let not = if *negated { "NOT " } else { "" };
            let col = column(attr);
            sql.push_str(&format!("{col} {not}BETWEEN ? AND ?"));
            args.push(value(low));
            args.push(value(high));
        }
        FilterExpr::StartsWith { attr, prefix } => starts_with(attr, prefix, sql, args),
        FilterExpr::IsNull { attr, negated } => {
            let not = if *negated { "NOT " } else { "" };
            let col = column(attr);
            sql.push_str(&format!("{col} IS {not}NULL"));
        }
    }
}

/// `attr STARTS_WITH prefix`: a range the column's index can use, then the exact test (no LIKE
/// wildcards). Every parameter is pushed right after the placeholder it belongs to.
fn starts_with(attr: &Attr, prefix: &str, sql: &mut String, args: &mut Vec<Value>) {
    if prefix.is_empty() {
        let col = column(attr);
        sql.push_str(&format!("{col} IS NOT NULL"));
        return;
    }
    let col = column(attr);
    sql.push_str(&format!("({col} >= ?"));
    args.push(Value::Text(prefix.to_owned()));
    if let Some(upper) = prefix_upper_bound(prefix) {
        let col = column(attr);
        sql.push_str(&format!(" AND {col} < ?"));
        args.push(Value::Text(upper));
    }
    let col = column(attr);
    sql.push_str(&format!(" AND substr({col}, 1, length(?)) = ?)"));
    args.push(Value::Text(prefix.to_owned()));
    args.push(Value::Text(prefix.to_owned()));
}

/// For a test on a KeywordList attribute: (name, negated, condition on a list element `value`,
/// its parameters). `=`/`IN` hold when some element matches; `!=`/`NOT IN` when the run has the
/// attribute and no element matches; STARTS_WITH when some element starts with the prefix.
fn list_condition(e: &FilterExpr) -> Option<(&str, bool, String, Vec<Value>)> {
    fn list_name(attr: &Attr) -> Option<&str> {
        match attr {
            Attr::Custom { name, ty: SaType::KeywordList } => Some(name.as_str()),
            _ => None,
        }
    }
    match e {
        FilterExpr::Cmp { attr, op: o @ (CmpOp::Eq | CmpOp::Ne), value: v } => {
            Some((list_name(attr)?, *o == CmpOp::Ne, "value = ?".into(), vec![value(v)]))
        }
        FilterExpr::In { attr, values, negated } => {
            let marks = vec!["?"; values.len()].join(", ");
            Some((
                list_name(attr)?,
                *negated,
                format!("value IN ({marks})"),
                values.iter().map(value).collect(),
            ))
        }
        FilterExpr::StartsWith { attr, prefix } => Some((
            list_name(attr)?,
            false,
            "substr(value, 1, length(?)) = ?".into(),
            vec![Value::Text(prefix.clone()), Value::Text(prefix.clone())],
        )),
        _ => None,
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
    fn text_matches_any_whole_word_ignoring_case() {
        assert!(text_match("Hello big World", "small world"));
        assert!(text_match("order-123 shipped", "ORDER"));
        assert!(!text_match("Hello big World", "wor"));
        assert!(!text_match("", "x"));
        assert!(!text_match("a b", ""));
    }

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        assert_eq!(prefix_upper_bound("x\u{D7FF}").as_deref(), Some("x\u{E000}"));
    }
}

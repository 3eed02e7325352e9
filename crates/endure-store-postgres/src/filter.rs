//! Compiles a typed [`VisibilityFilter`] to a PostgreSQL `WHERE` clause with bind parameters,
//! and encodes runs' custom search attribute values for the `visibility.custom` and
//! `visibility.custom_words` JSONB columns.
//!
//! Literals are always bind parameters. Attribute *names* of custom search attributes are
//! inlined as escaped string literals, because an expression index only serves a query whose
//! expression is textually the same (see [`custom_index`]).
//!
//! Null semantics follow SQL, as in the SQLite backend: an absent value (close time of an open
//! run, the parent of a top-level run, a custom attribute the run does not have, or one stored
//! with another type) is NULL, so no comparison with it holds, and `NOT` of such a comparison
//! does not hold either.

use endure_store::VisibilityFilter;
use endure_store::visibility::prefix_upper_bound;
use endure_store::visibility::{Attr, CmpOp, FilterExpr, SaType, SaValue, Scalar};
use tokio_postgres::types::{ToSql, Type};

/// A bind parameter of a compiled filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    /// `text`
    Text(String),
    /// `bigint`
    Int(i64),
    /// `double precision`
    Float(f64),
    /// `text[]`
    Texts(Vec<String>),
    /// `bigint[]`
    Ints(Vec<i64>),
    /// `double precision[]`
    Floats(Vec<f64>),
}

impl Param {
    /// The SQL type name the placeholder is cast to.
    fn cast(&self) -> &'static str {
        match self {
            Param::Text(_) => "text",
            Param::Int(_) => "bigint",
            Param::Float(_) => "double precision",
            Param::Texts(_) => "text[]",
            Param::Ints(_) => "bigint[]",
            Param::Floats(_) => "double precision[]",
        }
    }

    /// The driver type of the parameter.
    fn ty(&self) -> Type {
        match self {
            Param::Text(_) => Type::TEXT,
            Param::Int(_) => Type::INT8,
            Param::Float(_) => Type::FLOAT8,
            Param::Texts(_) => Type::TEXT_ARRAY,
            Param::Ints(_) => Type::INT8_ARRAY,
            Param::Floats(_) => Type::FLOAT8_ARRAY,
        }
    }

    fn value(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::Text(v) => v,
            Param::Int(v) => v,
            Param::Float(v) => v,
            Param::Texts(v) => v,
            Param::Ints(v) => v,
            Param::Floats(v) => v,
        }
    }
}

/// SQL text and its parameters (`$1` is `params[0]`).
#[derive(Debug, Default)]
pub(crate) struct Query {
    /// The SQL text.
    pub(crate) sql: String,
    /// The parameters, in placeholder order.
    pub(crate) params: Vec<Param>,
}

impl Query {
    /// Adds a parameter and returns its placeholder, cast to its type (`$3::bigint`).
    pub(crate) fn bind(&mut self, p: Param) -> String {
        let cast = p.cast();
        self.params.push(p);
        format!("${}::{cast}", self.params.len())
    }

    /// The parameters with their types, for `query_typed` (one round trip, no statement kept).
    pub(crate) fn typed_params(&self) -> Vec<(&(dyn ToSql + Sync), Type)> {
        self.params.iter().map(|p| (p.value(), p.ty())).collect()
    }
}

/// A custom attribute's name as an SQL string literal (an escape string, so its meaning does
/// not depend on `standard_conforming_strings`).
fn lit(name: &str) -> String {
    format!("E'{}'", name.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A custom attribute's string value (Keyword, Text), byte-ordered; NULL if absent or not a
/// string.
fn str_expr(name: &str) -> String {
    let l = lit(name);
    format!("((CASE WHEN jsonb_typeof(custom -> {l}) = 'string' THEN custom ->> {l} END) COLLATE \"C\")")
}

/// A custom attribute's numeric value (Int, Double, Bool as 0/1, Datetime in ns); NULL if
/// absent or not a number.
fn num_expr(name: &str) -> String {
    let l = lit(name);
    format!("(CASE WHEN jsonb_typeof(custom -> {l}) = 'number' THEN (custom ->> {l})::numeric END)")
}

/// A custom KeywordList attribute's JSON array; NULL if absent or not an array.
fn list_expr(name: &str) -> String {
    let l = lit(name);
    format!("(CASE WHEN jsonb_typeof(custom -> {l}) = 'array' THEN custom -> {l} END)")
}

/// The words of a custom Text attribute's value, a JSON array; NULL if absent.
fn words_expr(name: &str) -> String {
    format!("(custom_words -> {})", lit(name))
}

/// 64-bit FNV-1a, for stable index names.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The expression index serving filters on a custom attribute of type `ty`: (index name,
/// `CREATE INDEX CONCURRENTLY IF NOT EXISTS` statement). Partial (only runs that have the
/// attribute) and shared by every namespace registering that name with that kind of type.
pub(crate) fn custom_index(name: &str, ty: SaType) -> (String, String) {
    let (kind, expr, gin) = match ty {
        SaType::Keyword => ("kw", str_expr(name), false),
        SaType::Text => ("txt", words_expr(name), true),
        SaType::Int | SaType::Double | SaType::Bool | SaType::Datetime => ("num", num_expr(name), false),
        SaType::KeywordList => ("list", list_expr(name), true),
    };
    let index = format!("visibility_sa_{kind}_{:016x}", fnv1a(name));
    let sql = if gin {
        format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON visibility USING gin ({expr}) WHERE {expr} IS NOT NULL"
        )
    } else {
        format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON visibility (namespace_id, {expr}) WHERE {expr} IS NOT NULL"
        )
    };
    (index, sql)
}

/// The SQL expression of a (non-list) attribute. Absent values are NULL.
fn column(attr: &Attr) -> String {
    match attr {
        Attr::Custom { name, ty } => match ty {
            SaType::Keyword | SaType::Text => str_expr(name),
            SaType::Int | SaType::Double | SaType::Bool | SaType::Datetime => num_expr(name),
            SaType::KeywordList => list_expr(name),
        },
        Attr::WorkflowId => "workflow_id".into(),
        Attr::RunId => "run_id".into(),
        Attr::WorkflowType => "workflow_type".into(),
        Attr::ExecutionStatus => "status".into(),
        Attr::StartTime => "start_time".into(),
        Attr::CloseTime => "NULLIF(close_time, 0)".into(),
        Attr::ExecutionTime => "execution_time".into(),
        Attr::ExecutionDuration => "(CASE WHEN close_time > 0 THEN close_time - execution_time END)".into(),
        Attr::TaskQueue => "task_queue".into(),
        // Recorded when the run closes, as the real server's visibility does: null while open.
        Attr::HistoryLength => "(CASE WHEN close_time > 0 THEN history_length END)".into(),
        Attr::HistorySizeBytes => "(CASE WHEN close_time > 0 THEN history_size_bytes END)".into(),
        Attr::StateTransitionCount => "(CASE WHEN close_time > 0 THEN state_transition_count END)".into(),
        Attr::ParentWorkflowId => "NULLIF(parent_workflow_id, '')".into(),
        Attr::ParentRunId => "NULLIF(parent_run_id, '')".into(),
        Attr::RootWorkflowId => "root_workflow_id".into(),
        Attr::RootRunId => "root_run_id".into(),
        Attr::Unset => "NULL".into(),
    }
}

fn op_sql(o: CmpOp) -> &'static str {
    match o {
        CmpOp::Eq => "=",
        CmpOp::Ne => "<>",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

fn scalar(v: &Scalar) -> Param {
    match v {
        Scalar::Str(s) => Param::Text(s.clone()),
        Scalar::Int(i) => Param::Int(*i),
        Scalar::Float(f) => Param::Float(*f),
    }
}

/// A literal as a list element (lists hold strings).
fn scalar_text(v: &Scalar) -> String {
    match v {
        Scalar::Str(s) => s.clone(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
    }
}

/// The literals of an `IN` as one array parameter, if they share a type (Int and Float mix as
/// floats).
fn array_param(values: &[Scalar]) -> Option<Param> {
    if let Some(v) =
        values.iter().map(|v| if let Scalar::Str(s) = v { Some(s.clone()) } else { None }).collect()
    {
        return Some(Param::Texts(v));
    }
    if let Some(v) = values.iter().map(|v| if let Scalar::Int(i) = v { Some(*i) } else { None }).collect() {
        return Some(Param::Ints(v));
    }
    values
        .iter()
        .map(|v| match v {
            Scalar::Int(i) => Some(*i as f64),
            Scalar::Float(f) => Some(*f),
            Scalar::Str(_) => None,
        })
        .collect::<Option<Vec<f64>>>()
        .map(Param::Floats)
}

/// Words of a Text value: runs of letters and digits, lower-cased (the SQLite backend's rule).
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase())
}

/// The distinct words of `values`, in first-seen order.
fn distinct_words<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        for w in words(v) {
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
    out
}

/// `cond` (over `el.v`, an element of a KeywordList attribute, byte-ordered) holds for some
/// element; NULL when the run does not have the list.
fn any_element(name: &str, cond: impl FnOnce(&str) -> String) -> String {
    let list = list_expr(name);
    let cond = cond("(el.v COLLATE \"C\")");
    format!(
        "(CASE WHEN {list} IS NULL THEN NULL ELSE EXISTS (SELECT 1 FROM jsonb_array_elements_text({list}) AS el(v) WHERE {cond}) END)"
    )
}

/// `LIKE` pattern matching strings that start with `prefix` (wildcards and the escape character
/// in it escaped with `\`, LIKE's default escape).
fn like_prefix(prefix: &str) -> String {
    let mut p = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn list_name(attr: &Attr) -> Option<&str> {
    match attr {
        Attr::Custom { name, ty: SaType::KeywordList } => Some(name),
        _ => None,
    }
}

fn text_name(attr: &Attr) -> Option<&str> {
    match attr {
        Attr::Custom { name, ty: SaType::Text } => Some(name),
        _ => None,
    }
}

fn not_if(negated: bool, sql: String) -> String {
    if negated { format!("(NOT {sql})") } else { sql }
}

/// `attr op value`.
fn cmp(attr: &Attr, op: CmpOp, value: &Scalar, q: &mut Query) -> String {
    if let Some(name) = list_name(attr) {
        // `=`: the list contains the value; `!=`: the run has the list, without the value;
        // ordering: some element compares so.
        let p = q.bind(Param::Text(scalar_text(value)));
        return match op {
            CmpOp::Eq | CmpOp::Ne => not_if(op == CmpOp::Ne, format!("({} ? {p})", list_expr(name))),
            _ => any_element(name, |el| format!("{el} {} {p}", op_sql(op))),
        };
    }
    if let Some(name) = text_name(attr)
        && matches!(op, CmpOp::Eq | CmpOp::Ne)
    {
        // Full-text match: some word of the literal is a word of the value.
        let p = q.bind(Param::Texts(distinct_words([scalar_text(value).as_str()])));
        return not_if(op == CmpOp::Ne, format!("({} ?| {p})", words_expr(name)));
    }
    let p = q.bind(scalar(value));
    format!("({} {} {p})", column(attr), op_sql(op))
}

/// `attr [NOT] IN (values)`.
fn in_list(attr: &Attr, values: &[Scalar], negated: bool, q: &mut Query) -> String {
    if let Some(name) = list_name(attr) {
        let p = q.bind(Param::Texts(values.iter().map(scalar_text).collect()));
        return not_if(negated, format!("({} ?| {p})", list_expr(name)));
    }
    if let Some(name) = text_name(attr) {
        let texts: Vec<String> = values.iter().map(scalar_text).collect();
        let p = q.bind(Param::Texts(distinct_words(texts.iter().map(String::as_str))));
        return not_if(negated, format!("({} ?| {p})", words_expr(name)));
    }
    let col = column(attr);
    match array_param(values) {
        Some(arr) => {
            let p = q.bind(arr);
            if negated { format!("({col} <> ALL({p}))") } else { format!("({col} = ANY({p}))") }
        }
        None => {
            // Literals of mixed types: one comparison each (same null logic as IN).
            let any: Vec<String> = values.iter().map(|v| format!("{col} = {}", q.bind(scalar(v)))).collect();
            not_if(negated, format!("({})", any.join(" OR ")))
        }
    }
}

/// `attr STARTS_WITH prefix`: case-sensitive, no wildcards. A range the column's index can use
/// (even in a generic plan), then the exact test with LIKE.
fn starts_with(attr: &Attr, prefix: &str, q: &mut Query) -> String {
    if let Some(name) = list_name(attr) {
        let p = q.bind(Param::Text(like_prefix(prefix)));
        return any_element(name, |el| format!("{el} LIKE {p}"));
    }
    let col = column(attr);
    if prefix.is_empty() {
        return format!("({col} IS NOT NULL)");
    }
    let mut parts = vec![format!("{col} >= {}", q.bind(Param::Text(prefix.to_owned())))];
    if let Some(upper) = prefix_upper_bound(prefix) {
        parts.push(format!("{col} < {}", q.bind(Param::Text(upper))));
    }
    parts.push(format!("{col} LIKE {}", q.bind(Param::Text(like_prefix(prefix)))));
    format!("({})", parts.join(" AND "))
}

fn expr(e: &FilterExpr, q: &mut Query) -> String {
    match e {
        FilterExpr::And(a, b) => {
            let (a, b) = (expr(a, q), expr(b, q));
            format!("({a} AND {b})")
        }
        FilterExpr::Or(a, b) => {
            let (a, b) = (expr(a, q), expr(b, q));
            format!("({a} OR {b})")
        }
        FilterExpr::Not(inner) => format!("(NOT {})", expr(inner, q)),
        FilterExpr::Cmp { attr, op, value } => cmp(attr, *op, value, q),
        FilterExpr::In { attr, values, negated } => in_list(attr, values, *negated, q),
        FilterExpr::Between { attr, low, high, negated } => {
            if let Some(name) = list_name(attr) {
                let (lo, hi) =
                    (q.bind(Param::Text(scalar_text(low))), q.bind(Param::Text(scalar_text(high))));
                return not_if(*negated, any_element(name, |el| format!("{el} BETWEEN {lo} AND {hi}")));
            }
            let not = if *negated { "NOT " } else { "" };
            let (lo, hi) = (q.bind(scalar(low)), q.bind(scalar(high)));
            format!("({} {not}BETWEEN {lo} AND {hi})", column(attr))
        }
        FilterExpr::StartsWith { attr, prefix } => starts_with(attr, prefix, q),
        FilterExpr::IsNull { attr, negated } => {
            let not = if *negated { "NOT " } else { "" };
            format!("({} IS {not}NULL)", column(attr))
        }
    }
}

/// The `WHERE` condition (without the keyword) of a filter, and its parameters.
pub(crate) fn where_clause(f: &VisibilityFilter) -> Query {
    let mut q = Query::default();
    let mut sql = format!("namespace_id = {}", q.bind(Param::Text(f.namespace_id.clone())));
    if let Some(e) = &f.expr {
        let cond = expr(e, &mut q);
        sql.push_str(" AND ");
        sql.push_str(&cond);
    }
    match f.open {
        Some(true) => sql.push_str(" AND close_time = 0"),
        Some(false) => sql.push_str(" AND close_time <> 0"),
        None => {}
    }
    q.sql = sql;
    q
}

/// A string as a JSON string literal. PostgreSQL text cannot hold U+0000, so it becomes U+FFFD.
fn json_string(s: &str) -> String {
    let s = if s.contains('\0') { s.replace('\0', "\u{FFFD}") } else { s.to_owned() };
    serde_json::Value::String(s).to_string()
}

/// A float as JSON that reads back as a float: JSONB keeps numbers as decimals and prints an
/// integral one without a fraction (which would read back as an Int), so integral values get
/// an explicit `.0`. `None` for NaN and infinities, which JSON cannot hold.
fn json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        None
    } else if f.fract() == 0.0 {
        Some(format!("{f:.1}"))
    } else {
        Some(serde_json::Value::from(f).to_string())
    }
}

/// The JSON object stored in `visibility.custom` (bound as text, cast to `jsonb`). Values
/// JSON cannot hold (NaN, infinities) are left out, so they read as absent.
pub(crate) fn custom_to_json(values: &[(String, SaValue)]) -> String {
    let mut members = Vec::with_capacity(values.len());
    for (name, v) in values {
        let value = match v {
            SaValue::Str(s) => json_string(s),
            SaValue::Int(i) => i.to_string(),
            SaValue::Float(f) => match json_float(*f) {
                Some(f) => f,
                None => continue,
            },
            SaValue::List(l) => {
                format!("[{}]", l.iter().map(|s| json_string(s)).collect::<Vec<_>>().join(","))
            }
        };
        members.push(format!("{}:{value}", json_string(name)));
    }
    format!("{{{}}}", members.join(","))
}

/// The JSON object stored in `visibility.custom_words`: for every string value, its distinct
/// words (Text attributes' `=` matches a word of the literal against these).
pub(crate) fn custom_words_json(values: &[(String, SaValue)]) -> String {
    let members: Vec<String> = values
        .iter()
        .filter_map(|(name, v)| match v {
            SaValue::Str(s) => {
                let words: Vec<String> =
                    distinct_words([s.as_str()]).iter().map(|w| json_string(w)).collect();
                Some(format!("{}:[{}]", json_string(name), words.join(",")))
            }
            _ => None,
        })
        .collect();
    format!("{{{}}}", members.join(","))
}

/// Reads `visibility.custom` back (as text). Unreadable JSON reads as no values.
pub(crate) fn custom_from_json(text: &str) -> Vec<(String, SaValue)> {
    endure_store::visibility::custom_values_from_json(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lower_cased_alphanumeric_runs() {
        assert_eq!(
            distinct_words(["Hello big World", "hello-WORLD 42"]),
            vec!["hello", "big", "world", "42"]
        );
        assert!(distinct_words(["", "!!"]).is_empty());
    }

    #[test]
    fn like_prefix_escapes_wildcards() {
        assert_eq!(like_prefix("order_%x"), "order\\_\\%x%");
        assert_eq!(like_prefix("a\\b"), "a\\\\b%");
        assert_eq!(like_prefix(""), "%");
    }

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        assert_eq!(prefix_upper_bound("x\u{D7FF}").as_deref(), Some("x\u{E000}"));
    }

    #[test]
    fn names_are_escaped_literals() {
        assert_eq!(lit("Odd \"name\""), "E'Odd \"name\"'");
        assert_eq!(lit("it's\\"), "E'it\\'s\\\\'");
    }

    #[test]
    fn custom_values_round_trip_with_their_kinds() {
        let values = vec![
            ("S".to_string(), SaValue::Str("a \"q\"\u{0}".into())),
            ("I".to_string(), SaValue::Int(-5)),
            ("F".to_string(), SaValue::Float(1e16)),
            ("G".to_string(), SaValue::Float(-2.5)),
            ("N".to_string(), SaValue::Float(f64::NAN)),
            ("L".to_string(), SaValue::List(vec!["x".into(), "y".into()])),
        ];
        let mut back = custom_from_json(&custom_to_json(&values));
        back.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            back,
            vec![
                ("F".to_string(), SaValue::Float(1e16)),
                ("G".to_string(), SaValue::Float(-2.5)),
                ("I".to_string(), SaValue::Int(-5)),
                ("L".to_string(), SaValue::List(vec!["x".into(), "y".into()])),
                ("S".to_string(), SaValue::Str("a \"q\"\u{FFFD}".into())),
            ]
        );
        assert_eq!(custom_words_json(&values[..2]), r#"{"S":["a","q"]}"#, "only strings have words");
    }

    #[test]
    fn values_are_parameters_never_text() {
        let f = VisibilityFilter {
            namespace_id: "ns'; DROP TABLE runs; --".into(),
            expr: Some(FilterExpr::eq(Attr::WorkflowId, Scalar::Str("x' OR '1'='1".into())).and(
                FilterExpr::In {
                    attr: Attr::Custom { name: "Tags".into(), ty: SaType::KeywordList },
                    values: vec![Scalar::Str("'".into())],
                    negated: true,
                },
            )),
            open: Some(true),
        };
        let q = where_clause(&f);
        assert!(!q.sql.contains("DROP") && !q.sql.contains("OR '1'"), "{}", q.sql);
        assert_eq!(q.params.len(), 3);
        assert!(q.sql.starts_with("namespace_id = $1::text AND "), "{}", q.sql);
        assert!(q.sql.ends_with(" AND close_time = 0"), "{}", q.sql);
    }

    #[test]
    fn in_lists_bind_one_array() {
        let mut q = Query::default();
        let sql = in_list(&Attr::ExecutionStatus, &[Scalar::Int(1), Scalar::Int(2)], false, &mut q);
        assert_eq!(sql, "(status = ANY($1::bigint[]))");
        let sql = in_list(&Attr::StartTime, &[Scalar::Int(1), Scalar::Float(2.5)], true, &mut q);
        assert_eq!(sql, "(start_time <> ALL($2::double precision[]))");
        let sql = in_list(&Attr::WorkflowId, &[Scalar::Str("a".into()), Scalar::Int(2)], false, &mut q);
        assert_eq!(sql, "(workflow_id = $3::text OR workflow_id = $4::bigint)");
    }
}

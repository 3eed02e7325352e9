//! Evaluates a typed [`FilterExpr`] on a visibility row with SQL's three-valued logic, as the
//! SQL backends' compiled filters do.
//!
//! Every test answers true, false or unknown (`None`): a comparison with an absent value (close
//! time of an open run, the history figures of an open run, the parent of a top-level run, a
//! custom attribute the run does not have or holds with another type) is unknown, `NOT`
//! unknown is unknown, and only rows whose whole expression is true match. Values compare like
//! the backends' columns: strings byte-wise, integers exactly, an integer with a float as
//! floats. A literal of another kind than the value (a string against a number) compares as
//! unknown.
//!
//! The per-type rules, as PostgreSQL's compiled filters state them:
//! - **KeywordList**: `=` holds when the list contains the literal, `!=` when the run has the
//!   list without it, `IN` when it contains one of the literals; orderings, `BETWEEN` and
//!   `STARTS_WITH` hold when some element does; all unknown when the run has no list.
//! - **Text**: `=`/`IN` hold when some word of a literal is a word of the value, `!=`/`NOT IN`
//!   when none is (words: runs of letters and digits, lower-cased); other tests use the string.
//! - **STARTS_WITH** is literal and case-sensitive; an empty prefix is `IS NOT NULL` (true or
//!   false, never unknown).

use endure_store::VisibilityRow;
use endure_store::visibility::{Attr, CmpOp, FilterExpr, SaType, SaValue, Scalar};
use std::cmp::Ordering;

/// A value of a row under test; `Null` where SQL would see NULL.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Val<'a> {
    Null,
    Int(i64),
    Float(f64),
    Str(&'a str),
    List(&'a [String]),
}

/// Whether `expr` holds for `row`: `Some(true)`, `Some(false)`, or `None` (unknown).
pub(crate) fn eval(expr: &FilterExpr, row: &VisibilityRow) -> Option<bool> {
    match expr {
        FilterExpr::And(a, b) => and(eval(a, row), eval(b, row)),
        FilterExpr::Or(a, b) => or(eval(a, row), eval(b, row)),
        FilterExpr::Not(inner) => eval(inner, row).map(|v| !v),
        FilterExpr::Cmp { attr, op, value } => cmp(attr, *op, value, row),
        FilterExpr::In { attr, values, negated } => not_if(*negated, in_list(attr, values, row)),
        FilterExpr::Between { attr, low, high, negated } => {
            let holds = match column(attr, row) {
                Val::List(list) => any_element(list, |el| {
                    and(
                        compare_str(el, low, |o| o != Ordering::Less),
                        compare_str(el, high, |o| o != Ordering::Greater),
                    )
                }),
                v => and(holds(v, low, |o| o != Ordering::Less), holds(v, high, |o| o != Ordering::Greater)),
            };
            not_if(*negated, holds)
        }
        FilterExpr::StartsWith { attr, prefix } => starts_with(attr, prefix, row),
        FilterExpr::IsNull { attr, negated } => Some((column(attr, row) == Val::Null) != *negated),
    }
}

/// SQL `AND`.
fn and(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

/// SQL `OR`.
fn or(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

fn not_if(negated: bool, v: Option<bool>) -> Option<bool> {
    if negated { v.map(|v| !v) } else { v }
}

/// The value of `attr` in `row` (see the module docs for what is NULL).
fn column<'a>(attr: &Attr, row: &'a VisibilityRow) -> Val<'a> {
    let closed = row.close_time > 0;
    let non_empty = |s: &'a str| if s.is_empty() { Val::Null } else { Val::Str(s) };
    let when_closed = |v: i64| if closed { Val::Int(v) } else { Val::Null };
    match attr {
        Attr::WorkflowId => Val::Str(&row.workflow_id),
        Attr::RunId => Val::Str(&row.run_id),
        Attr::WorkflowType => Val::Str(&row.workflow_type),
        Attr::ExecutionStatus => Val::Int(i64::from(row.status)),
        Attr::StartTime => Val::Int(row.start_time),
        Attr::CloseTime => {
            if row.close_time == 0 {
                Val::Null
            } else {
                Val::Int(row.close_time)
            }
        }
        Attr::ExecutionTime => Val::Int(row.execution_time),
        Attr::ExecutionDuration => match row.close_time.checked_sub(row.execution_time) {
            _ if !closed => Val::Null,
            Some(d) => Val::Int(d),
            // SQLite turns an overflowing integer into a float.
            None => Val::Float(row.close_time as f64 - row.execution_time as f64),
        },
        Attr::TaskQueue => Val::Str(&row.task_queue),
        Attr::HistoryLength => when_closed(row.history_length),
        Attr::HistorySizeBytes => when_closed(row.history_size_bytes),
        Attr::StateTransitionCount => when_closed(row.state_transition_count),
        Attr::ParentWorkflowId => non_empty(&row.parent_workflow_id),
        Attr::ParentRunId => non_empty(&row.parent_run_id),
        Attr::RootWorkflowId => Val::Str(&row.root_workflow_id),
        Attr::RootRunId => Val::Str(&row.root_run_id),
        Attr::Unset => Val::Null,
        Attr::Custom { name, ty } => {
            let Some((_, value)) = row.custom.iter().find(|(n, _)| n == name) else {
                return Val::Null;
            };
            match (ty, value) {
                (SaType::Keyword | SaType::Text, SaValue::Str(s)) => Val::Str(s),
                (SaType::Int | SaType::Double | SaType::Bool | SaType::Datetime, SaValue::Int(i)) => {
                    Val::Int(*i)
                }
                (SaType::Int | SaType::Double | SaType::Bool | SaType::Datetime, SaValue::Float(f)) => {
                    Val::Float(*f)
                }
                (SaType::KeywordList, SaValue::List(l)) => Val::List(l),
                _ => Val::Null,
            }
        }
    }
}

/// Floats ordered as PostgreSQL's `double precision`: `-0 = 0`, NaN equal to itself and above
/// every other value.
fn cmp_f64(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// How a (non-list) value compares with a literal; `None` if either is absent or they are of
/// different kinds.
fn compare(v: Val<'_>, lit: &Scalar) -> Option<Ordering> {
    match (v, lit) {
        (Val::Int(a), Scalar::Int(b)) => Some(a.cmp(b)),
        (Val::Int(a), Scalar::Float(b)) => Some(cmp_f64(a as f64, *b)),
        (Val::Float(a), Scalar::Int(b)) => Some(cmp_f64(a, *b as f64)),
        (Val::Float(a), Scalar::Float(b)) => Some(cmp_f64(a, *b)),
        (Val::Str(a), Scalar::Str(b)) => Some(a.cmp(b.as_str())),
        _ => None,
    }
}

/// Whether `v` compares with `lit` in a way `ok` accepts (unknown if they do not compare).
fn holds(v: Val<'_>, lit: &Scalar, ok: impl Fn(Ordering) -> bool) -> Option<bool> {
    compare(v, lit).map(ok)
}

/// A literal as a list element or a text to find words in (lists and texts hold strings).
fn text_of(lit: &Scalar) -> String {
    match lit {
        Scalar::Str(s) => s.clone(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
    }
}

/// Whether the list element `el` compares with `lit` (as text) in a way `ok` accepts.
fn compare_str(el: &str, lit: &Scalar, ok: impl Fn(Ordering) -> bool) -> Option<bool> {
    Some(ok(el.cmp(text_of(lit).as_str())))
}

/// Whether `cond` holds for some element (SQL `EXISTS`: true or false).
fn any_element(list: &[String], cond: impl Fn(&str) -> Option<bool>) -> Option<bool> {
    Some(list.iter().any(|el| cond(el) == Some(true)))
}

fn accepts(op: CmpOp) -> impl Fn(Ordering) -> bool {
    move |o| match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Ne => o != Ordering::Equal,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
    }
}

/// Words of a Text value: runs of letters and digits, lower-cased (the SQL backends' rule).
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase())
}

/// Whether some word of one of `queries` is a word of `value`.
fn text_match(value: &str, queries: &[Scalar]) -> bool {
    let wanted: Vec<String> = queries.iter().flat_map(|q| words(&text_of(q)).collect::<Vec<_>>()).collect();
    words(value).any(|w| wanted.contains(&w))
}

fn is_text(attr: &Attr) -> bool {
    matches!(attr, Attr::Custom { ty: SaType::Text, .. })
}

/// `attr op lit`.
fn cmp(attr: &Attr, op: CmpOp, lit: &Scalar, row: &VisibilityRow) -> Option<bool> {
    let v = column(attr, row);
    match v {
        Val::Null => None,
        Val::List(list) => match op {
            CmpOp::Eq | CmpOp::Ne => {
                let contains = list.contains(&text_of(lit));
                Some(contains != (op == CmpOp::Ne))
            }
            _ => any_element(list, |el| compare_str(el, lit, accepts(op))),
        },
        Val::Str(s) if is_text(attr) && matches!(op, CmpOp::Eq | CmpOp::Ne) => {
            Some(text_match(s, std::slice::from_ref(lit)) != (op == CmpOp::Ne))
        }
        v => holds(v, lit, accepts(op)),
    }
}

/// `attr IN (values)` (the caller negates for `NOT IN`).
fn in_list(attr: &Attr, values: &[Scalar], row: &VisibilityRow) -> Option<bool> {
    match column(attr, row) {
        Val::Null => None,
        Val::List(list) => Some(values.iter().any(|v| list.contains(&text_of(v)))),
        Val::Str(s) if is_text(attr) => Some(text_match(s, values)),
        v => {
            // SQL: `v = a OR v = b OR …`.
            let mut any = Some(false);
            for lit in values {
                any = or(any, holds(v, lit, |o| o == Ordering::Equal));
            }
            any
        }
    }
}

/// `attr STARTS_WITH prefix`.
fn starts_with(attr: &Attr, prefix: &str, row: &VisibilityRow) -> Option<bool> {
    match column(attr, row) {
        Val::List(list) => any_element(list, |el| Some(el.starts_with(prefix))),
        // A list's test is on its elements: unknown without the list, even for "".
        Val::Null if matches!(attr, Attr::Custom { ty: SaType::KeywordList, .. }) => None,
        Val::Null if prefix.is_empty() => Some(false),
        Val::Null => None,
        _ if prefix.is_empty() => Some(true),
        Val::Str(s) => Some(s.starts_with(prefix)),
        Val::Int(_) | Val::Float(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use endure_store::visibility::FilterExpr as F;

    fn row() -> VisibilityRow {
        VisibilityRow {
            workflow_id: "order-1".into(),
            close_time: 0,
            history_length: 5,
            custom: vec![
                ("Notes".into(), SaValue::Str("Hello big World".into())),
                ("Tags".into(), SaValue::List(vec!["red".into(), "blue".into()])),
                ("Score".into(), SaValue::Float(0.5)),
                ("Wrong".into(), SaValue::Int(3)),
            ],
            ..Default::default()
        }
    }

    fn custom(name: &str, ty: SaType) -> Attr {
        Attr::Custom { name: name.into(), ty }
    }

    fn not(e: FilterExpr) -> FilterExpr {
        F::Not(Box::new(e))
    }

    fn s(v: &str) -> Scalar {
        Scalar::Str(v.into())
    }

    #[test]
    fn three_valued_logic_follows_sql() {
        let t = Some(true);
        let f = Some(false);
        for (a, b, and_ab, or_ab) in
            [(t, None, None, t), (f, None, f, None), (None, None, None, None), (t, f, f, t), (t, t, t, t)]
        {
            assert_eq!((and(a, b), and(b, a)), (and_ab, and_ab), "{a:?} AND {b:?}");
            assert_eq!((or(a, b), or(b, a)), (or_ab, or_ab), "{a:?} OR {b:?}");
        }
    }

    #[test]
    fn absent_values_are_unknown_and_stay_unknown_under_not() {
        let r = row();
        let open_length = F::Cmp { attr: Attr::HistoryLength, op: CmpOp::Ge, value: Scalar::Int(0) };
        assert_eq!(eval(&open_length, &r), None, "history figures are recorded at close");
        assert_eq!(eval(&not(open_length), &r), None);
        let tags = |op| F::Cmp { attr: custom("Missing", SaType::KeywordList), op, value: s("red") };
        assert_eq!(eval(&not(tags(CmpOp::Eq)), &r), None, "a run without the list");
        assert_eq!(eval(&not(tags(CmpOp::Ne)), &r), None);
        let wrong_type = F::Cmp { attr: custom("Wrong", SaType::Keyword), op: CmpOp::Ne, value: s("x") };
        assert_eq!(eval(&wrong_type, &r), None, "a value of another type reads as absent");
        assert_eq!(
            eval(&F::IsNull { attr: custom("Wrong", SaType::Keyword), negated: false }, &r),
            Some(true)
        );
        let mismatched = F::Cmp { attr: Attr::WorkflowId, op: CmpOp::Ne, value: Scalar::Int(1) };
        assert_eq!(eval(&mismatched, &r), None, "a literal of another kind does not compare");
    }

    #[test]
    fn text_matches_whole_words_ignoring_case() {
        let r = row();
        let notes = |op, v: &str| F::Cmp { attr: custom("Notes", SaType::Text), op, value: s(v) };
        assert_eq!(eval(&notes(CmpOp::Eq, "small WORLD"), &r), Some(true));
        assert_eq!(eval(&notes(CmpOp::Eq, "wor"), &r), Some(false));
        assert_eq!(eval(&notes(CmpOp::Ne, "wor"), &r), Some(true));
        assert_eq!(eval(&notes(CmpOp::Eq, "!!"), &r), Some(false), "a literal without words matches nothing");
        assert_eq!(eval(&notes(CmpOp::Lt, "I"), &r), Some(true), "orderings compare the string");
        let any =
            F::In { attr: custom("Notes", SaType::Text), values: vec![s("x"), s("big")], negated: true };
        assert_eq!(eval(&any, &r), Some(false));
    }

    #[test]
    fn lists_test_their_elements() {
        let r = row();
        let tags = || custom("Tags", SaType::KeywordList);
        let between = F::Between { attr: tags(), low: s("a"), high: s("c"), negated: false };
        assert_eq!(eval(&between, &r), Some(true), "blue");
        assert_eq!(eval(&F::Cmp { attr: tags(), op: CmpOp::Gt, value: s("s") }, &r), Some(false));
        assert_eq!(eval(&F::StartsWith { attr: tags(), prefix: "bl".into() }, &r), Some(true));
        assert_eq!(eval(&F::StartsWith { attr: tags(), prefix: String::new() }, &r), Some(true));
        let missing = F::StartsWith { attr: custom("None", SaType::KeywordList), prefix: String::new() };
        assert_eq!(eval(&missing, &r), None);
    }

    #[test]
    fn numbers_compare_across_integer_and_float() {
        let r = row();
        let score = |op, value| F::Cmp { attr: custom("Score", SaType::Double), op, value };
        assert_eq!(eval(&score(CmpOp::Lt, Scalar::Int(1)), &r), Some(true));
        assert_eq!(eval(&score(CmpOp::Eq, Scalar::Float(0.5)), &r), Some(true));
        assert_eq!(eval(&score(CmpOp::Lt, Scalar::Float(f64::NAN)), &r), Some(true), "NaN sorts above all");
        assert_eq!(cmp_f64(-0.0, 0.0), Ordering::Equal);
        let mixed = F::In { attr: Attr::StartTime, values: vec![s("0"), Scalar::Float(0.0)], negated: false };
        assert_eq!(eval(&mixed, &r), Some(true), "one comparable literal is enough");
        let none = F::In { attr: Attr::StartTime, values: vec![s("0")], negated: true };
        assert_eq!(eval(&none, &r), None, "only incomparable literals: unknown");
    }

    #[test]
    fn empty_prefixes_test_presence() {
        let r = row();
        let parent = F::StartsWith { attr: Attr::ParentWorkflowId, prefix: String::new() };
        assert_eq!(eval(&not(parent), &r), Some(true), "a top-level run has no parent");
        assert_eq!(eval(&F::StartsWith { attr: Attr::ParentWorkflowId, prefix: "x".into() }, &r), None);
        assert_eq!(eval(&F::StartsWith { attr: Attr::WorkflowId, prefix: "order-".into() }, &r), Some(true));
    }
}

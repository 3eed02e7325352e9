use super::*;
use proptest::prelude::*;

fn cmp(name: &str, op: CmpOp, value: Value) -> Expr {
    Expr::Compare { name: name.into(), op, value }
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

fn and(a: Expr, b: Expr) -> Expr {
    Expr::And(Box::new(a), Box::new(b))
}

fn or(a: Expr, b: Expr) -> Expr {
    Expr::Or(Box::new(a), Box::new(b))
}

#[test]
fn empty_and_blank_queries_match_everything() {
    assert_eq!(parse("").unwrap(), Query::default());
    assert_eq!(parse("  \n\t ").unwrap(), Query::default());
}

#[test]
fn comparisons_of_every_kind() {
    for (text, op) in [
        ("=", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<>", CmpOp::Ne),
        ("<", CmpOp::Lt),
        ("<=", CmpOp::Le),
        (">", CmpOp::Gt),
        (">=", CmpOp::Ge),
    ] {
        let q = parse(&format!("HistoryLength {text} 42")).unwrap();
        assert_eq!(q.filter, Some(cmp("HistoryLength", op, Value::Int(42))), "{text}");
    }
    assert_eq!(parse("WorkflowType='a'").unwrap().filter, Some(cmp("WorkflowType", CmpOp::Eq, s("a"))));
    assert_eq!(parse("X = \"dq\"").unwrap().filter, Some(cmp("X", CmpOp::Eq, s("dq"))));
    assert_eq!(parse("X = -1.5").unwrap().filter, Some(cmp("X", CmpOp::Eq, Value::Float(-1.5))));
    assert_eq!(parse("X = 1e3").unwrap().filter, Some(cmp("X", CmpOp::Eq, Value::Float(1000.0))));
    assert_eq!(parse("X = TRUE").unwrap().filter, Some(cmp("X", CmpOp::Eq, Value::Bool(true))));
    assert_eq!(parse("X = false").unwrap().filter, Some(cmp("X", CmpOp::Eq, Value::Bool(false))));
}

#[test]
fn and_binds_tighter_than_or_and_parentheses_group() {
    let a = || cmp("A", CmpOp::Eq, s("1"));
    let b = || cmp("B", CmpOp::Eq, s("2"));
    let c = || cmp("C", CmpOp::Eq, s("3"));
    assert_eq!(parse("A='1' OR B='2' AND C='3'").unwrap().filter, Some(or(a(), and(b(), c()))));
    assert_eq!(parse("(A='1' OR B='2') AND C='3'").unwrap().filter, Some(and(or(a(), b()), c())));
    assert_eq!(parse("a='1'").unwrap().filter, Some(cmp("a", CmpOp::Eq, s("1"))), "names keep their case");
    assert_eq!(parse("A='1' and B='2' Or C='3'").unwrap().filter, Some(or(and(a(), b()), c())));
}

#[test]
fn not_binds_tighter_than_and() {
    let a = || cmp("A", CmpOp::Eq, s("1"));
    let b = || cmp("B", CmpOp::Eq, s("2"));
    let not = |e: Expr| Expr::Not(Box::new(e));
    assert_eq!(parse("NOT A = '1' AND NOT B = '2'").unwrap().filter, Some(and(not(a()), not(b()))));
    assert_eq!(parse("NOT (A = '1' OR B = '2')").unwrap().filter, Some(not(or(a(), b()))));
    assert_eq!(parse("not not A = '1'").unwrap().filter, Some(not(not(a()))));
}

#[test]
fn in_between_starts_with_and_null() {
    assert_eq!(
        parse("ExecutionStatus IN ('Running', 'Failed')").unwrap().filter,
        Some(Expr::In {
            name: "ExecutionStatus".into(),
            values: vec![s("Running"), s("Failed")],
            negated: false
        })
    );
    assert_eq!(
        parse("X not in (1)").unwrap().filter,
        Some(Expr::In { name: "X".into(), values: vec![Value::Int(1)], negated: true })
    );
    assert_eq!(
        parse("StartTime BETWEEN '2026-01-01' AND '2026-02-01' AND A = '1'").unwrap().filter,
        Some(and(
            Expr::Between {
                name: "StartTime".into(),
                low: s("2026-01-01"),
                high: s("2026-02-01"),
                negated: false
            },
            cmp("A", CmpOp::Eq, s("1"))
        ))
    );
    assert_eq!(
        parse("X NOT BETWEEN 1 AND 2").unwrap().filter,
        Some(Expr::Between { name: "X".into(), low: Value::Int(1), high: Value::Int(2), negated: true })
    );
    assert_eq!(
        parse("WorkflowId STARTS_WITH 'order-'").unwrap().filter,
        Some(Expr::StartsWith { name: "WorkflowId".into(), prefix: "order-".into(), negated: false })
    );
    assert_eq!(
        parse("X NOT STARTS_WITH 'a'").unwrap().filter,
        Some(Expr::StartsWith { name: "X".into(), prefix: "a".into(), negated: true })
    );
    assert_eq!(
        parse("CloseTime IS NULL").unwrap().filter,
        Some(Expr::IsNull { name: "CloseTime".into(), negated: false })
    );
    assert_eq!(
        parse("X is not null").unwrap().filter,
        Some(Expr::IsNull { name: "X".into(), negated: true })
    );
}

#[test]
fn quoted_names_and_escapes() {
    assert_eq!(parse("`Custom Field` = 'a'").unwrap().filter, Some(cmp("Custom Field", CmpOp::Eq, s("a"))));
    assert_eq!(parse("`order` = 'a'").unwrap().filter, Some(cmp("order", CmpOp::Eq, s("a"))));
    assert_eq!(parse("X = 'it''s'").unwrap().filter, Some(cmp("X", CmpOp::Eq, s("it's"))));
    assert_eq!(parse(r"X = 'a\'b\\c'").unwrap().filter, Some(cmp("X", CmpOp::Eq, s(r"a'b\c"))));
}

#[test]
fn order_by_and_group_by() {
    let q = parse("WorkflowType = 'a' ORDER BY StartTime DESC, WorkflowId").unwrap();
    assert_eq!(
        q.order_by,
        vec![
            OrderBy { name: "StartTime".into(), descending: true },
            OrderBy { name: "WorkflowId".into(), descending: false }
        ]
    );
    let q = parse("GROUP BY ExecutionStatus").unwrap();
    assert_eq!((q.filter, q.group_by), (None, vec!["ExecutionStatus".to_string()]));
    let q = parse("order by StartTime asc").unwrap();
    assert_eq!(q.order_by, vec![OrderBy { name: "StartTime".into(), descending: false }]);
}

/// Every malformed query is an error pointing into the query, with a message naming the problem.
#[test]
fn malformed_queries_say_what_and_where() {
    for (q, offset, needle) in [
        ("WorkflowId", 10, "incomplete query"),
        ("WorkflowId =", 12, "value after WorkflowId ="),
        ("WorkflowId = abc", 13, "quote string values"),
        ("WorkflowId = 'abc", 13, "unterminated"),
        ("WorkflowId == 'a'", 12, "value"),
        ("(A = '1'", 0, "never closed"),
        ("A = '1')", 7, "unexpected ')'"),
        ("A = '1' B = '2'", 8, "unexpected 'B'"),
        ("A = '1' AND", 11, "condition"),
        ("A = '1' OR OR B = '2'", 11, "keyword 'OR' is not supported here"),
        ("A LIKE 'x%'", 2, "operator LIKE is not supported (on A)"),
        ("NOT", 3, "incomplete query"),
        ("A NOT = '1'", 6, "expected IN, BETWEEN or STARTS_WITH after NOT"),
        ("A IN ()", 6, "value"),
        ("A IN ('1' '2')", 10, "',' or ')'"),
        ("A IN '1'", 5, "'(' after IN"),
        ("A BETWEEN 1 2", 12, "expected AND"),
        ("A STARTS_WITH 5", 2, "STARTS_WITH on A needs a string"),
        ("A IS 'x'", 5, "expected NULL"),
        ("A = '1' LIMIT 10", 8, "LIMIT is not supported"),
        ("ORDER StartTime", 6, "expected BY"),
        ("A = '1' ORDER BY", 16, "attribute name after ORDER BY"),
        ("A = 1.2.3", 4, "invalid number"),
        ("A ! '1'", 2, "'!' must be followed by '='"),
        ("A = '1' ; DROP TABLE runs", 8, "unexpected character ';'"),
        ("`` = '1'", 0, "empty attribute name"),
        ("A = 1e999", 4, "invalid number"),
    ] {
        let err = parse(q).expect_err(q);
        assert_eq!(err.offset, offset, "{q}: {err}");
        assert!(err.message.contains(needle), "{q}: {err} (wanted {needle:?})");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let q = format!("{}A = '1'{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse(&q).unwrap_err().message.contains("nested deeper"));
    let q = format!("{}A = '1'{}", "(".repeat(60), ")".repeat(60));
    assert!(parse(&q).is_ok());
}

/// The kept corpus: every line is `ok<TAB>query` or `err<TAB>query`.
#[test]
fn corpus() {
    let corpus = include_str!("corpus.tsv");
    let mut n = 0;
    for line in corpus.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let (expect, q) = line.split_once('\t').unwrap_or_else(|| panic!("bad corpus line {line:?}"));
        let r = parse(q);
        match expect {
            "ok" => {
                let parsed = r.unwrap_or_else(|e| panic!("{q:?} should parse: {e}"));
                assert_eq!(parse(&parsed.to_string()).unwrap(), parsed, "round trip of {q:?}");
            }
            "err" => {
                let e = r.expect_err(q);
                assert!(e.offset <= q.len(), "{q:?}: offset {} past the end", e.offset);
            }
            other => panic!("bad corpus verdict {other:?}"),
        }
        n += 1;
    }
    assert!(n >= 40, "the corpus has {n} queries");
}

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("WorkflowId".to_string()),
        Just("ExecutionStatus".to_string()),
        Just("StartTime".to_string()),
        "[A-Za-z_][A-Za-z0-9_]{0,12}",
        "[ -~]{1,12}",
    ]
    .prop_filter("non-empty", |n| !n.is_empty())
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::Str),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
    ]
}

fn arb_op() -> impl Strategy<Value = CmpOp> {
    prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Ne),
        Just(CmpOp::Lt),
        Just(CmpOp::Le),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge)
    ]
}

fn arb_expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        (arb_name(), arb_op(), arb_value()).prop_map(|(name, op, value)| Expr::Compare { name, op, value }),
        (arb_name(), prop::collection::vec(arb_value(), 1..4), any::<bool>())
            .prop_map(|(name, values, negated)| Expr::In { name, values, negated }),
        (arb_name(), arb_value(), arb_value(), any::<bool>())
            .prop_map(|(name, low, high, negated)| Expr::Between { name, low, high, negated }),
        (arb_name(), any::<String>(), any::<bool>()).prop_map(|(name, prefix, negated)| Expr::StartsWith {
            name,
            prefix,
            negated
        }),
        (arb_name(), any::<bool>()).prop_map(|(name, negated)| Expr::IsNull { name, negated }),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

proptest! {
    /// Any text at all: an answer, never a panic, and errors point inside the query.
    #[test]
    fn arbitrary_text_never_panics(q in "\\PC{0,80}") {
        if let Err(e) = parse(&q) {
            prop_assert!(e.offset <= q.len());
        }
    }

    /// Text made of the language's own pieces (more likely to get deep into the parser).
    #[test]
    fn token_soup_never_panics(parts in prop::collection::vec(prop_oneof![
        Just("A"), Just("`B c`"), Just("'v'"), Just("1"), Just("-2.5"), Just("="), Just("!="), Just("<"),
        Just(">="), Just("("), Just(")"), Just(","), Just("AND"), Just("OR"), Just("NOT"), Just("IN"),
        Just("BETWEEN"), Just("IS"), Just("NULL"), Just("STARTS_WITH"), Just("ORDER"), Just("GROUP"),
        Just("BY"), Just("DESC"), Just("LIMIT"), Just("true"), Just("'"), Just("`"),
    ], 0..24)) {
        let q = parts.join(" ");
        if let Err(e) = parse(&q) {
            prop_assert!(e.offset <= q.len());
        }
    }

    /// Printing a query and parsing it back gives the same query.
    #[test]
    fn print_then_parse_round_trips(
        filter in prop::option::of(arb_expr()),
        order in prop::collection::vec((arb_name(), any::<bool>()), 0..3),
        group in prop::collection::vec(arb_name(), 0..2),
    ) {
        let q = Query {
            filter,
            order_by: order.into_iter().map(|(name, descending)| OrderBy { name, descending }).collect(),
            group_by: group,
        };
        let text = q.to_string();
        match parse(&text) {
            Ok(back) => prop_assert_eq!(back, q),
            Err(e) => prop_assert!(false, "{} does not parse: {}", text, e),
        }
    }
}

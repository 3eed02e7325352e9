//! Where the SQL backends disagree, this store does what PostgreSQL does (the cluster's
//! database, which a simulation stands in for). Each case names SQLite's answer.

mod common;

use common::bare_batch;
use endure_store::visibility::{Attr, CmpOp, FilterExpr, SaType, SaValue, Scalar};
use endure_store::*;
use endure_store_memory::MemoryStore;

fn batch(wf: &str, custom: Vec<(String, SaValue)>) -> WriteBatch {
    let mut b = bare_batch(&RunKey { namespace_id: "ns".into(), workflow_id: wf.into(), run_id: wf.into() });
    b.visibility = Some(VisibilityRow {
        namespace_id: "ns".into(),
        workflow_id: wf.into(),
        run_id: wf.into(),
        custom,
        ..Default::default()
    });
    b
}

async fn ids(store: &MemoryStore, expr: FilterExpr) -> Vec<String> {
    let f = VisibilityFilter { namespace_id: "ns".into(), expr: Some(expr), open: None };
    let mut ids: Vec<String> =
        store.list_runs(&f, None, 10).await.unwrap().into_iter().map(|r| r.workflow_id).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_run_without_a_list_is_unknown_to_every_list_test_even_under_not() {
    let store = MemoryStore::new();
    store.commit(batch("none", vec![])).await.unwrap();
    store
        .commit(batch("tagged", vec![("Tags".into(), SaValue::List(vec!["red".into(), "c".into()]))]))
        .await
        .unwrap();
    let tags = || Attr::Custom { name: "Tags".into(), ty: SaType::KeywordList };
    let red = || Scalar::Str("red".into());
    let not = |e| FilterExpr::Not(Box::new(e));
    // SQLite lists "none" in each of these: its list tests are false, not NULL, without the list.
    assert!(ids(&store, not(FilterExpr::Cmp { attr: tags(), op: CmpOp::Eq, value: red() })).await.is_empty());
    assert_eq!(
        ids(&store, not(FilterExpr::Cmp { attr: tags(), op: CmpOp::Ne, value: red() })).await,
        ["tagged"]
    );
    assert!(
        ids(&store, not(FilterExpr::StartsWith { attr: tags(), prefix: String::new() })).await.is_empty()
    );
    let not_in = not(FilterExpr::In { attr: tags(), values: vec![Scalar::Str("x".into())], negated: false });
    assert_eq!(ids(&store, not_in).await, ["tagged"]);
    // Orderings test the elements (SQLite compares the list's JSON text: `["red","c"] < "b"`).
    let lt = FilterExpr::Cmp { attr: tags(), op: CmpOp::Lt, value: Scalar::Str("b".into()) };
    assert!(ids(&store, lt).await.is_empty());
    let gt = FilterExpr::Cmp { attr: tags(), op: CmpOp::Gt, value: Scalar::Str("b".into()) };
    assert_eq!(ids(&store, gt).await, ["tagged"]);
}

#[tokio::test]
async fn values_and_literals_of_another_type_are_null() {
    let store = MemoryStore::new();
    store.commit(batch("5", vec![("Kw".into(), SaValue::Int(3))])).await.unwrap();
    // SQLite reads the stored number (not NULL) …
    let kw = Attr::Custom { name: "Kw".into(), ty: SaType::Keyword };
    assert_eq!(ids(&store, FilterExpr::IsNull { attr: kw, negated: false }).await, ["5"]);
    // … and converts an integer literal to text for a text column (PostgreSQL refuses the query).
    let int_literal = FilterExpr::Cmp { attr: Attr::WorkflowId, op: CmpOp::Eq, value: Scalar::Int(5) };
    assert!(ids(&store, int_literal).await.is_empty());
}

#[tokio::test]
async fn a_group_checks_every_fence_before_any_condition() {
    let store = MemoryStore::new();
    store.init_shard_count(1).await.unwrap();
    store.acquire_shard(0, "m", 0).await.unwrap();
    let mut stale_version = batch("a", vec![]);
    stale_version.expected_version = Some(9);
    let mut stale_fence = batch("b", vec![]);
    stale_fence.fence = Some(Fence { shard_id: 0, range_id: 0 });
    // SQLite checks batch by batch, so it answers the first batch's Conflict.
    let r = store.commit_all(vec![stale_version, stale_fence]).await;
    assert!(matches!(r, Err(StoreError::ShardOwnershipLost { .. })), "{r:?}");
}

#[tokio::test]
async fn deleting_no_tasks_checks_no_fence() {
    let store = MemoryStore::new();
    store.init_shard_count(1).await.unwrap();
    store.acquire_shard(0, "m", 0).await.unwrap();
    // SQLite checks the fence first: ShardOwnershipLost.
    store.delete_tasks(Some(Fence { shard_id: 0, range_id: 0 }), vec![]).await.expect("nothing to delete");
    let stale = store.delete_tasks(Some(Fence { shard_id: 0, range_id: 0 }), vec![1]).await;
    assert!(matches!(stale, Err(StoreError::ShardOwnershipLost { .. })), "{stale:?}");
}

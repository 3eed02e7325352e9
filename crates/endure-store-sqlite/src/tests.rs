use crate::SqliteStore;
use crate::error::backend;
use crate::filter;
use crate::migrate::{MIGRATIONS, SCHEMA_VERSION};
use endure_store::*;
use rusqlite::Connection;
use std::sync::Arc;

fn alpha() -> NamespaceRow {
    NamespaceRow { id: "id-1".into(), name: "alpha".into(), data: vec![1, 2, 3] }
}

#[tokio::test]
async fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("endure.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store.create_namespace(alpha()).await.unwrap();
        store.close().await.unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.namespace_by_name("alpha").await.unwrap(), Some(alpha()));
}

#[tokio::test]
async fn concurrent_commits_are_grouped_and_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("endure.db")).unwrap());
    let mut handles = vec![];
    for i in 0..200 {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            let k = RunKey { namespace_id: "ns".into(), workflow_id: format!("w{i}"), run_id: "r".into() };
            s.commit(WriteBatch {
                run: k,
                fence: None,
                state: vec![],
                expected_version: None,
                current: None,
                events: vec![EventRow { event_id: 1, data: vec![] }],
                new_tasks: vec![],
                delete_tasks: vec![],
                visibility: None,
            })
            .await
        }));
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    let f = store.clone();
    let n: i64 = f
        .read(|c| {
            c.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0)).map_err(backend("counting runs"))
        })
        .await
        .unwrap();
    assert_eq!(n, 200);
}

#[tokio::test]
async fn many_concurrent_reads_do_not_run_out_of_connections() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("endure.db")).unwrap());
    store.create_namespace(alpha()).await.unwrap();
    let mut handles = vec![];
    for _ in 0..64 {
        let s = store.clone();
        handles.push(tokio::spawn(async move { s.namespace_by_name("alpha").await }));
    }
    for h in handles {
        assert!(h.await.unwrap().unwrap().is_some(), "every concurrent read must succeed");
    }
}

#[test]
fn refuses_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("endure.db");
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (99);",
        )
        .unwrap();
    }
    let err = SqliteStore::open(&path).err().expect("must refuse");
    assert!(err.to_string().contains("newer"), "{err}");
}

#[tokio::test]
async fn version_1_database_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("endure.db");
    {
        // A database as a version-1 server left it, with one run in the old `runs` table.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE schema_version (version INTEGER NOT NULL); {} INSERT INTO schema_version VALUES (1);",
            MIGRATIONS[0].1
        ))
        .unwrap();
        conn.execute(
            "INSERT INTO runs (namespace_id, workflow_id, run_id, state, db_version) VALUES ('ns', 'wf', 'r1', x'7b7d', 7)",
            [],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let key = RunKey { namespace_id: "ns".into(), workflow_id: "wf".into(), run_id: "r1".into() };
    let row = store.get_run(&key).await.unwrap().expect("the run survives the migration");
    assert_eq!((row.state.as_slice(), row.db_version), (b"{}".as_slice(), 7));
    let (sql, version): (String, i64) = store
        .read(|c| {
            let sql = c
                .query_row("SELECT sql FROM sqlite_master WHERE name = 'runs'", [], |r| r.get(0))
                .map_err(backend("reading the schema"))?;
            let v = c
                .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
                .map_err(backend("reading the schema"))?;
            Ok((sql, v))
        })
        .await
        .unwrap();
    assert!(!sql.contains("WITHOUT ROWID"), "{sql}");
    assert_eq!(version, SCHEMA_VERSION);
    // The unique key still guards against a second row for the same run.
    let dup = store.commit(WriteBatch::for_run(key)).await;
    assert!(dup.is_err(), "a second row for the same run must be refused");
    store.close().await.unwrap();
}

#[tokio::test]
async fn custom_attribute_filters_use_their_expression_index() {
    use endure_store::visibility::{Attr, FilterExpr, SaType, Scalar};
    let store = SqliteStore::open(":memory:").unwrap();
    store.add_search_attributes("ns", vec![("Customer".into(), SaType::Keyword)]).await.unwrap();
    let f = VisibilityFilter {
        namespace_id: "ns".into(),
        expr: Some(FilterExpr::eq(
            Attr::Custom { name: "Customer".into(), ty: SaType::Keyword },
            Scalar::Str("acme".into()),
        )),
        open: None,
    };
    let (clause, args) = filter::where_clause(&f);
    let plan: Vec<String> = store
        .read(move |c| {
            let mut s = c
                .prepare(&format!("EXPLAIN QUERY PLAN SELECT run_id FROM visibility WHERE {clause}"))
                .map_err(backend("explaining a query"))?;
            let rows = s
                .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
                .map_err(backend("explaining a query"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend("explaining a query"))
        })
        .await
        .unwrap();
    assert!(plan.iter().any(|p| p.contains("visibility_custom_Customer")), "{plan:?}");
}

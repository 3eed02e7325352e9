//! The behavioural suite every backend passes, on PostgreSQL.

mod common;

use endure_store::Store;

#[tokio::test]
async fn conformance() {
    let (store, _config, db) = common::fresh_store(8).await;
    endure_store::conformance::run_all(&store).await;
    store.close().await.unwrap();
    db.drop_db().await.unwrap();
}

/// With one connection, nothing may hold a connection while waiting for another.
#[tokio::test]
async fn conformance_with_a_single_connection() {
    let (store, _config, db) = common::fresh_store(1).await;
    endure_store::conformance::run_all(&store).await;
    store.close().await.unwrap();
    db.drop_db().await.unwrap();
}

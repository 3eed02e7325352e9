//! The behavioural suite every backend passes, on PostgreSQL: one test per behaviour, each on
//! a scratch database of its own, with a pool of 8 connections and with a single one.

mod common;

endure_store::conformance_tests!(pool_of_8, async {
    let (store, _config, db) = common::fresh_store(8).await;
    (store, db)
});

// With one connection, nothing may hold a connection while waiting for another.
endure_store::conformance_tests!(pool_of_1, async {
    let (store, _config, db) = common::fresh_store(1).await;
    (store, db)
});

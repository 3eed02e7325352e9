//! Shared helpers of the PostgreSQL integration tests: each test gets a database of its own on
//! the server named by `ENDURE_TEST_POSTGRES_URL` (see `scripts/postgres.sh`).

#![allow(dead_code)]

use endure_store::*;
use endure_store_postgres::testing::{ScratchDb, scratch_database, server_url};
use endure_store_postgres::{PostgresConfig, PostgresStore};

/// A fresh, empty database (not migrated).
pub async fn fresh_db() -> (PostgresConfig, ScratchDb) {
    scratch_database(&server_url()).await.expect("creating a scratch database")
}

/// A fresh, migrated database and a store on it.
pub async fn fresh_store(max_connections: usize) -> (PostgresStore, PostgresConfig, ScratchDb) {
    let (mut config, db) = fresh_db().await;
    config.max_connections = max_connections;
    let store = PostgresStore::connect_and_migrate(&config).await.expect("connect_and_migrate");
    (store, config, db)
}

pub fn key(wf: &str, run: &str) -> RunKey {
    RunKey { namespace_id: "ns".into(), workflow_id: wf.into(), run_id: run.into() }
}

pub fn batch(k: &RunKey, expected: Option<i64>, events: std::ops::Range<i64>) -> WriteBatch {
    WriteBatch {
        state: format!("state-{}", events.end).into_bytes(),
        expected_version: expected,
        events: events.map(|i| EventRow { event_id: i, data: vec![i as u8] }).collect(),
        ..WriteBatch::for_run(k.clone())
    }
}

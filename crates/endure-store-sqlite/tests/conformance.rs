//! The behavioural suite every backend passes, on SQLite: one test per behaviour, on a
//! database file and in memory.

use endure_store_sqlite::SqliteStore;

endure_store::conformance_tests!(file, async {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(dir.path().join("endure.db")).expect("opening a database file");
    (store, dir)
});

endure_store::conformance_tests!(in_memory, async {
    (SqliteStore::open(":memory:").expect("opening an in-memory database"), ())
});

//! Versioned schema migrations: `migrations/NNNN_name.sql`, embedded, applied in order when
//! the store opens. A database records the versions applied in `schema_version`; every
//! missing migration is applied in one transaction (one fsync: all or nothing), and a
//! database with a newer schema than this build knows is refused.

use crate::error::{backend, store_error};
use endure_store::StoreError;
use rusqlite::Connection;

/// The schema migrations, in order: (version, SQL). Never edit a released one: add the next.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_runs_rowid.sql")),
    (3, include_str!("../migrations/0003_visibility_lineage.sql")),
    (4, include_str!("../migrations/0004_custom_search_attributes.sql")),
    (5, include_str!("../migrations/0005_timer_index.sql")),
    (6, include_str!("../migrations/0006_visibility_close_order.sql")),
    (7, include_str!("../migrations/0007_visibility_filter_indexes.sql")),
    (8, include_str!("../migrations/0008_visibility_counts.sql")),
    (9, include_str!("../migrations/0009_cluster.sql")),
    (10, include_str!("../migrations/0010_outbox_check.sql")),
];
/// The newest schema version this build knows: the last migration's.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Applies every missing migration in one transaction; refuses a newer schema.
pub(crate) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);")
        .map_err(backend("creating schema_version"))?;
    let current: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .map_err(backend("reading the schema version"))?;
    match current {
        Some(v) if v > SCHEMA_VERSION => Err(StoreError::backend(format!(
            "database schema version {v} is newer than this server understands ({SCHEMA_VERSION}); upgrade Endure"
        ))),
        current => {
            // Every missing migration in one transaction (one fsync): all or nothing.
            let applied = current.unwrap_or(0);
            let pending: Vec<_> = MIGRATIONS.iter().filter(|(v, _)| *v > applied).collect();
            if pending.is_empty() {
                return Ok(());
            }
            let mut batch = String::from("BEGIN;");
            for (version, sql) in &pending {
                batch.push_str(sql);
                batch.push_str(&format!("\nINSERT INTO schema_version (version) VALUES ({version});"));
            }
            batch.push_str("COMMIT;");
            conn.execute_batch(&batch).map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK;");
                let versions: Vec<String> = pending.iter().map(|(v, _)| v.to_string()).collect();
                store_error(format!("applying schema migrations {}", versions.join(", ")), e)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_match_the_schema_version() {
        for (i, (version, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, i as i64 + 1);
        }
        assert_eq!(MIGRATIONS.last().map(|(v, _)| *v), Some(SCHEMA_VERSION));
    }
}

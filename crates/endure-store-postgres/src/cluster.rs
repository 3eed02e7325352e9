//! Cluster membership and shard leases.
//!
//! - `cluster_metadata` holds the shard count, fixed when the cluster is created.
//! - `cluster_members`: each replica's heartbeat sets `expires_at = now() + ttl` by the
//!   database's clock (replicas' clocks never matter) and reads the live members in the same
//!   statement.
//! - `shards`: acquisition is a compare-and-set on `range_id`; fenced commits read the row
//!   `FOR SHARE` (see `commit.rs`), so an acquisition waits for in-flight fenced commits, and
//!   fenced commits after it see the new range.
//!
//! Fairness: row share locks do not queue behind a waiting `UPDATE` (a new `FOR SHARE` is
//! granted at once while other share locks are held), so a steady stream of fenced commits
//! from the old owner could hold off an acquisition indefinitely. Every fenced commit therefore
//! first takes a *shared* transaction-scoped advisory lock on (`SHARD_LOCK_CLASS`, shard), and
//! acquisitions and releases take it *exclusive* before updating the row. Advisory locks are
//! heavyweight locks, which queue: once an acquisition waits, later commits wait behind it, so
//! it waits only for the commits already in flight. Commits lock shards in ascending order and
//! acquisitions lock one shard, so these locks cannot deadlock.

use crate::error::{backend, unreadable};
use crate::fence::SHARD_LOCK_CLASS;
use crate::store::PostgresStore;
use async_trait::async_trait;
use endure_store::{ClusterStore, Member, ShardLease, StoreError, StoreResult};

/// Records a heartbeat and returns the live members, in one statement.
const HEARTBEAT_SQL: &str = include_str!("../sql/heartbeat.sql");

fn lease(r: &tokio_postgres::Row) -> StoreResult<ShardLease> {
    let get = |e| unreadable("a shard lease", e);
    Ok(ShardLease {
        shard_id: r.try_get(0).map_err(get)?,
        owner: r.try_get(1).map_err(get)?,
        range_id: r.try_get(2).map_err(get)?,
    })
}

#[async_trait]
impl ClusterStore for PostgresStore {
    async fn init_shard_count(&self, requested: u32) -> StoreResult<u32> {
        let requested = i32::try_from(requested).ok().filter(|n| *n > 0).ok_or_else(|| {
            StoreError::backend(format!("invalid shard count {requested}: must be 1..=2^31-1"))
        })?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend("beginning a transaction"))?;
        // Separate statements: under READ COMMITTED each sees what a concurrent initializer
        // committed while this one waited on the conflicting insert.
        tx.execute(
            "INSERT INTO cluster_metadata (id, shard_count) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            &[&requested],
        )
        .await
        .map_err(backend("storing the shard count"))?;
        let stored: i32 = tx
            .query_one("SELECT shard_count FROM cluster_metadata WHERE id = 1", &[])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(backend("reading the shard count"))?;
        tx.execute(
            "INSERT INTO shards (shard_id, owner, range_id) SELECT g, '', 0 FROM generate_series(0, $1 - 1) AS g \
             ON CONFLICT (shard_id) DO NOTHING",
            &[&stored],
        )
        .await
        .map_err(backend("creating the shard leases"))?;
        tx.commit().await.map_err(backend("committing the shard count"))?;
        u32::try_from(stored).map_err(|e| {
            StoreError::corrupt(format!("stored shard count {stored} is invalid")).with_source(e)
        })
    }

    async fn heartbeat_member(&self, id: &str, address: &str, ttl_ms: i64) -> StoreResult<Vec<Member>> {
        let client = self.client().await?;
        let st = client.prepare_cached(HEARTBEAT_SQL).await.map_err(backend("preparing the heartbeat"))?;
        let rows =
            client.query(&st, &[&id, &address, &ttl_ms]).await.map_err(backend("recording a heartbeat"))?;
        rows.iter()
            .map(|r| {
                Ok(Member {
                    id: r.try_get(0).map_err(|e| unreadable("a member", e))?,
                    address: r.try_get(1).map_err(|e| unreadable("a member", e))?,
                })
            })
            .collect()
    }

    async fn remove_member(&self, id: &str) -> StoreResult<()> {
        let client = self.client().await?;
        let st = client
            .prepare_cached("DELETE FROM cluster_members WHERE id = $1")
            .await
            .map_err(backend("preparing a member removal"))?;
        client.execute(&st, &[&id]).await.map_err(backend("removing a member"))?;
        Ok(())
    }

    async fn shard_leases(&self) -> StoreResult<Vec<ShardLease>> {
        let client = self.client().await?;
        let st = client
            .prepare_cached("SELECT shard_id, owner, range_id FROM shards ORDER BY shard_id")
            .await
            .map_err(backend("preparing the lease listing"))?;
        client.query(&st, &[]).await.map_err(backend("listing shard leases"))?.iter().map(lease).collect()
    }

    async fn acquire_shard(
        &self,
        shard_id: i32,
        owner: &str,
        expected_range_id: i64,
    ) -> StoreResult<ShardLease> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend("beginning a transaction"))?;
        lock_shard_exclusive(&tx, shard_id).await?;
        let st = tx
            .prepare_cached(
                "UPDATE shards SET owner = $2, range_id = range_id + 1 WHERE shard_id = $1 AND range_id = $3 \
                 RETURNING shard_id, owner, range_id",
            )
            .await
            .map_err(backend("preparing a shard acquisition"))?;
        let row = tx
            .query_opt(&st, &[&shard_id, &owner, &expected_range_id])
            .await
            .map_err(backend("acquiring a shard"))?;
        tx.commit().await.map_err(backend("committing a shard acquisition"))?;
        match row {
            Some(r) => lease(&r),
            None => Err(StoreError::conflict(format!(
                "shard {shard_id} is no longer at range {expected_range_id} (or does not exist)"
            ))),
        }
    }

    async fn release_shard(&self, shard_id: i32, owner: &str, range_id: i64) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend("beginning a transaction"))?;
        lock_shard_exclusive(&tx, shard_id).await?;
        let st = tx
            .prepare_cached(
                "UPDATE shards SET owner = '' WHERE shard_id = $1 AND owner = $2 AND range_id = $3",
            )
            .await
            .map_err(backend("preparing a shard release"))?;
        tx.execute(&st, &[&shard_id, &owner, &range_id]).await.map_err(backend("releasing a shard"))?;
        tx.commit().await.map_err(backend("committing a shard release"))
    }
}

/// Takes the shard's advisory lock exclusively until the end of the transaction: waits for
/// the fenced commits in flight on the shard, and holds off later ones.
async fn lock_shard_exclusive(tx: &deadpool_postgres::Transaction<'_>, shard_id: i32) -> StoreResult<()> {
    let st = tx
        .prepare_cached("SELECT pg_advisory_xact_lock($1::integer, $2::integer)")
        .await
        .map_err(backend("preparing a shard lock"))?;
    tx.execute(&st, &[&SHARD_LOCK_CLASS, &shard_id]).await.map_err(backend("locking a shard"))?;
    Ok(())
}

//! The per-shard advisory lock that orders fenced commits and shard acquisitions: commits take
//! it shared (`commit.rs`), acquisitions and releases exclusive (`cluster.rs`), so an
//! acquisition waits only for the commits already in flight (see `cluster.rs` for why a row lock
//! alone is not fair).
//!
//! A leaf: it knows the lock's key, not who takes it.

/// First key of the per-shard advisory locks ("Endu"); the second is the shard id.
pub(crate) const SHARD_LOCK_CLASS: i32 = 0x456E_6475;

//! Where things live: the stable hash that places workflow ids and task queues in shards, and
//! the rendezvous choice of a shard's owner among the live members.
//!
//! Pure functions of their arguments, the same on every replica and every version (changing
//! them would move every workflow of an existing cluster; a test pins them). Tools and tests
//! that need to know where something lives call these (`endure debug`), never a copy.

use endure_store::Member;

/// FNV-1a, 64 bit, over the parts separated by a `0xff` byte: the same on every replica and
/// every version, unlike std's hasher.
pub fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0xff;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in p.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// [`fnv1a`] with a final avalanche (MurmurHash3's fmix64), so every output bit depends on
/// every input bit: FNV alone leaves the high bits of short keys poorly mixed, which skews
/// rendezvous weights.
pub fn stable_hash(parts: &[&str]) -> u64 {
    let mut h = fnv1a(parts);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The history shard of a workflow id among `shard_count` shards.
pub fn shard_of(shard_count: u32, namespace_id: &str, workflow_id: &str) -> i32 {
    (stable_hash(&[namespace_id, workflow_id]) % u64::from(shard_count.max(1))) as i32
}

/// The shard of a task queue: the queue's matching lives on that shard's owner (every kind of
/// the queue, so a worker's workflow and activity polls go to one replica).
pub fn queue_shard(shard_count: u32, namespace_id: &str, queue: &str) -> i32 {
    (stable_hash(&[namespace_id, "\u{1}task-queue", queue]) % u64::from(shard_count.max(1))) as i32
}

/// Rendezvous (highest random weight) choice of a shard's owner among `members`.
pub fn desired_owner(members: &[Member], shard: i32) -> Option<&Member> {
    let s = shard.to_string();
    members.iter().max_by_key(|m| (stable_hash(&[&m.id, &s]), m.id.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn members(ids: &[&str]) -> Vec<Member> {
        ids.iter().map(|i| Member { id: (*i).into(), address: format!("{i}:7234") }).collect()
    }

    #[test]
    fn shards_spread_and_move_only_with_their_member() {
        let three = members(&["a", "b", "c"]);
        let mut counts = HashMap::new();
        for s in 0..64 {
            *counts.entry(desired_owner(&three, s).unwrap().id.clone()).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 3, "every member gets shards: {counts:?}");
        assert!(counts.values().all(|&n| n >= 10), "roughly even: {counts:?}");
        // When c leaves, only c's shards move.
        let two = members(&["a", "b"]);
        for s in 0..64 {
            let before = desired_owner(&three, s).unwrap().id.clone();
            let after = desired_owner(&two, s).unwrap().id.clone();
            if before != "c" {
                assert_eq!(before, after, "shard {s} moved although its owner stayed");
            }
        }
    }

    #[test]
    fn the_shard_hash_is_stable() {
        // Pinned: changing the hash would move every workflow of an existing cluster.
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(&["a"]), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fnv1a(&["ab", "c"]), fnv1a(&["a", "bc"]), "parts are separated");
        assert_eq!(shard_of(16, "ns", "wf-1"), (stable_hash(&["ns", "wf-1"]) % 16) as i32);
        let spread: std::collections::HashSet<i32> =
            (0..200).map(|i| shard_of(16, "ns", &format!("wf-{i}"))).collect();
        assert_eq!(spread.len(), 16, "200 workflow ids reach every one of 16 shards");
        assert_eq!(shard_of(0, "ns", "wf"), 0, "no shard count means one shard");
        assert_ne!(
            queue_shard(1 << 20, "ns", "q"),
            shard_of(1 << 20, "ns", "q"),
            "queues hash apart from workflows"
        );
    }
}

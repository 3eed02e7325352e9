//! The unique ids the server makes — run ids, request ids, namespace ids, query and update ids,
//! member ids: random UUIDs, or a seeded sequence so that a simulation of the cluster
//! reproduces from its seed. Injected like the clock; nothing else in the crate makes an id.

use parking_lot::Mutex;
use std::sync::Arc;
use uuid::Uuid;

/// A source of unique ids.
#[derive(Clone)]
pub struct Ids(Arc<dyn Fn() -> Uuid + Send + Sync>);

impl Ids {
    /// Random (version 4) UUIDs.
    pub fn random() -> Self {
        Ids(Arc::new(Uuid::new_v4))
    }

    /// Version-4-shaped UUIDs from a sequence seeded by `seed` (SplitMix64): the same seed gives
    /// the same ids in the same order. For simulations and tests only.
    pub fn seeded(seed: u64) -> Self {
        let state = Arc::new(Mutex::new(seed));
        Ids(Arc::new(move || {
            let mut s = state.lock();
            let mut bytes = [0u8; 16];
            for half in bytes.chunks_mut(8) {
                *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = *s;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                half.copy_from_slice(&(z ^ (z >> 31)).to_be_bytes());
            }
            uuid::Builder::from_random_bytes(bytes).into_uuid()
        }))
    }

    /// The next id, as text.
    pub fn next(&self) -> String {
        (self.0)().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_repeat_with_their_seed_and_look_like_uuids() {
        let (a, b, c) = (Ids::seeded(7), Ids::seeded(7), Ids::seeded(8));
        let first: Vec<String> = (0..3).map(|_| a.next()).collect();
        assert_eq!(first, (0..3).map(|_| b.next()).collect::<Vec<_>>());
        assert_ne!(first[0], c.next());
        assert_ne!(first[0], first[1]);
        let u = Uuid::parse_str(&first[0]).expect("a UUID");
        assert_eq!(u.get_version_num(), 4);
        assert_ne!(Ids::random().next(), Ids::random().next());
    }
}

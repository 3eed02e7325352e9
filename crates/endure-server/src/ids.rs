//! The unique ids the server makes — run ids, request ids, namespace ids, query and update ids,
//! member ids: random UUIDs (time-ordered version 7 by default, as the real server makes run
//! ids), or a seeded sequence so that a simulation of the cluster
//! reproduces from its seed. Injected like the clock; nothing else in the crate makes an id.

use crate::clock::Clock;
use parking_lot::Mutex;
use std::sync::Arc;
use uuid::Uuid;

type Source = Arc<dyn Fn() -> Uuid + Send + Sync>;

/// A source of unique ids.
#[derive(Clone)]
pub struct Ids {
    any: Source,
    /// Time-ordered: started runs' and namespaces' ids.
    runs: Source,
}

impl Ids {
    /// Random (version 4) UUIDs, run ids too.
    pub fn random() -> Self {
        let any: Source = Arc::new(Uuid::new_v4);
        Ids { runs: any.clone(), any }
    }

    /// What the real server makes: random (version 4) UUIDs, and time-ordered (version 7) ones
    /// for started runs (SDKs and users sort on them) and namespaces, their time from `clock`.
    pub fn with_time_ordered_runs(clock: Clock) -> Self {
        let runs: Source = Arc::new(move || {
            let ns = clock.now().max(0);
            let secs = (ns / 1_000_000_000) as u64;
            let nanos = (ns % 1_000_000_000) as u32;
            Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, nanos))
        });
        Ids { any: Arc::new(Uuid::new_v4), runs }
    }

    /// Version-4-shaped UUIDs from a sequence seeded by `seed` (SplitMix64): the same seed gives
    /// the same ids in the same order. For simulations and tests only.
    pub fn seeded(seed: u64) -> Self {
        let state = Arc::new(Mutex::new(seed));
        let any: Source = Arc::new(move || {
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
        });
        Ids { runs: any.clone(), any }
    }

    /// The next id, as text.
    pub fn next(&self) -> String {
        (self.any)().to_string()
    }

    /// A number drawn from `0..n` (0 when `n` is 0), from the same source as the ids (so a
    /// seeded source draws the same numbers): jitter, for instance.
    pub fn below(&self, n: u64) -> u64 {
        if n == 0 { 0 } else { ((self.any)().as_u128() % u128::from(n)) as u64 }
    }

    /// The next time-ordered id (a started run's, a namespace's), as text.
    pub fn next_time_ordered(&self) -> String {
        (self.runs)().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_version_7_and_carry_the_clocks_time() {
        let ids = Ids::with_time_ordered_runs(Clock::from_fn(|| 1_767_225_600_123_000_000));
        let other: Uuid = ids.next().parse().expect("a UUID");
        assert_eq!(other.get_version_num(), 4, "other ids are random, as the real server's");
        let id: Uuid = ids.next_time_ordered().parse().expect("a UUID");
        assert_eq!(id.get_version_num(), 7);
        let (secs, nanos) = id.get_timestamp().expect("a v7 timestamp").to_unix();
        assert_eq!((secs, nanos / 1_000_000), (1_767_225_600, 123), "millisecond precision");
        assert_ne!(ids.next_time_ordered(), ids.next_time_ordered(), "random beyond the time");
    }

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

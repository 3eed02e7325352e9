//! The same calls in the same order give the same answers: three simulated replicas, each a
//! handle with a seeded fault policy, run concurrently on tokio's paused clock (which is also
//! the database's clock) and leave the same transcript every time a seed is run.

mod common;

use common::{Rng, bare_batch};
use endure_store::*;
use endure_store_memory::{Clock, Fault, Faults, MemoryStore, Operation};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A seeded policy: mostly proceed, sometimes time out, delay or lose the answer.
struct Seeded(Mutex<Rng>);

impl Faults for Seeded {
    fn decide(&self, _: &Operation<'_>) -> Fault {
        let mut rng = self.0.lock();
        match rng.below(10) {
            0 => Fault::TimeOut,
            1 => Fault::LoseAck,
            2 | 3 => Fault::Delay(Duration::from_millis(rng.below(500) as u64)),
            _ => Fault::Proceed,
        }
    }
}

/// An answer as text: the value, or the error's kind and context.
fn text<T: std::fmt::Debug>(r: StoreResult<T>) -> String {
    match r {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("{e}"),
    }
}

/// One replica: heartbeats, takes shards, commits fenced updates of its workflows, deletes
/// their tasks, reads; every answer goes into the transcript with the simulated time.
async fn replica(id: usize, store: MemoryStore, seed: u64, start: Instant, log: Arc<Mutex<Vec<String>>>) {
    let mut rng = Rng(seed.wrapping_mul(31).wrapping_add(id as u64));
    let me = format!("m{id}");
    let mut lease: Option<ShardLease> = None;
    let mut version: Option<i64> = None;
    let k =
        RunKey { namespace_id: "ns".into(), workflow_id: format!("wf-{}", rng.below(2)), run_id: me.clone() };
    for step in 0..40 {
        let answer = match rng.below(6) {
            0 => text(store.heartbeat_member(&me, "addr", 300).await),
            1 => {
                let shard = rng.below(2) as i32;
                let expected =
                    store.shard_leases().await.ok().and_then(|l| l.get(shard as usize).map(|l| l.range_id));
                let r = store.acquire_shard(shard, &me, expected.unwrap_or(0)).await;
                if let Ok(l) = &r {
                    lease = Some(l.clone());
                }
                text(r)
            }
            2 | 3 => {
                let mut b = bare_batch(&k);
                b.fence = lease.as_ref().map(|l| Fence { shard_id: l.shard_id, range_id: l.range_id });
                b.expected_version = version;
                b.new_tasks = vec![NewTask { fire_at: Some(rng.below(100) as i64), data: vec![id as u8] }];
                let r = store.commit(b).await;
                match &r {
                    Ok(c) => version = Some(c.db_version),
                    Err(_) => version = store.get_run(&k).await.ok().flatten().map(|row| row.db_version),
                }
                text(r)
            }
            4 => {
                let fence = lease.as_ref().map(|l| Fence { shard_id: l.shard_id, range_id: l.range_id });
                text(store.delete_tasks(fence, vec![rng.below(20) as i64 + 1]).await)
            }
            _ => text(store.load_timer_tasks(&[0, 1], 0, 100).await),
        };
        let at = start.elapsed().as_millis();
        log.lock().push(format!("{at:>6} ms m{id} #{step}: {answer}"));
        tokio::time::sleep(Duration::from_millis(rng.below(200) as u64)).await;
    }
}

/// The transcript of a seed: every replica's answers in the order they came, then the tables.
async fn transcript(seed: u64) -> Vec<String> {
    let start = Instant::now();
    // The database's clock is tokio's (paused) clock: simulated time.
    let db = MemoryStore::with_clock(Clock::from_fn(move || start.elapsed().as_nanos() as i64));
    db.init_shard_count(2).await.expect("shards");
    let log = Arc::new(Mutex::new(Vec::new()));
    let replicas: Vec<_> = (0..3)
        .map(|id| {
            let policy = Arc::new(Seeded(Mutex::new(Rng(seed ^ (id as u64 + 1) << 32))));
            let store = db.handle().with_faults(policy);
            tokio::spawn(replica(id, store, seed, start, log.clone()))
        })
        .collect();
    for r in replicas {
        r.await.expect("a replica");
    }
    let mut out = std::mem::take(&mut *log.lock());
    out.push(text(db.shard_leases().await));
    out.push(text(db.load_tasks().await));
    out.push(text(db.heartbeat_member("observer", "x", 0).await));
    out
}

#[tokio::test(start_paused = true)]
async fn a_seed_gives_the_same_transcript_every_time() {
    for seed in 0..5 {
        let first = transcript(seed).await;
        assert_eq!(first, transcript(seed).await, "seed {seed}");
        assert_ne!(first, transcript(seed + 100).await, "another seed, another run");
        let all = first.join("\n");
        for sign in
            ["timed out, nothing done", "carried out, its answer lost", "shard ownership lost", "conflict"]
        {
            assert!(all.contains(sign), "seed {seed} never showed {sign:?}:\n{all}");
        }
    }
}

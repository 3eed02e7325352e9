//! The simulation in the test suite: a fixed range of seeds must break no invariant, and a seed
//! must reproduce its run exactly.
//!
//! `ENDURE_SIM_SEEDS=from..to` runs another range (`cargo run -p endure-sim -- --from N
//! --seeds M` does the same outside the test harness and prints each seed's outcome).

use std::ops::Range;

/// The seeds the test suite runs unless told otherwise.
const SEEDS: Range<u64> = 0..1000;

fn seeds() -> Range<u64> {
    let Ok(text) = std::env::var("ENDURE_SIM_SEEDS") else { return SEEDS };
    let parsed =
        text.split_once("..").and_then(|(a, b)| Some(a.trim().parse().ok()?..b.trim().parse().ok()?));
    parsed.unwrap_or_else(|| panic!("ENDURE_SIM_SEEDS must look like 0..1000, got {text:?}"))
}

#[test]
fn no_seed_breaks_an_invariant() {
    let range = seeds();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as u64;
    let config = endure_sim::Config::default();
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (range, config) = (range.clone(), config.clone());
                s.spawn(move || {
                    range
                        .filter(|seed| seed % threads == t)
                        .filter_map(|seed| endure_sim::run_seed(seed, &config).err())
                        .map(|v| format!("seed {}: {}", v.seed, v.what))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| vec!["a simulation thread panicked".into()]))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} seeds broke an invariant (rerun one: cargo run -p endure-sim -- --seed N):\n{}",
        failures.len(),
        range.end - range.start,
        failures.join("\n")
    );
}

#[test]
fn a_seed_reproduces_its_run_exactly() {
    let config = endure_sim::Config::default();
    for seed in [3, 41] {
        let first = endure_sim::run_seed(seed, &config).expect("the seed passes");
        let again = endure_sim::run_seed(seed, &config).expect("the seed passes again");
        assert_eq!(first.transcript, again.transcript, "seed {seed} ran differently the second time");
        assert!(first.faults.values().sum::<u32>() > 0, "seed {seed} injected faults");
    }
}

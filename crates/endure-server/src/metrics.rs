//! The metrics Endure records, each named and described once here; the rest of the server
//! records through the `metrics` facade with these names.
//!
//! This module deliberately does not know how (or whether) metrics are exported: the binary
//! installs a recorder (the Prometheus endpoint of `--metrics-port` / `metrics.listen`), tests
//! and the simulation run without one and every recording is then a no-op. Names follow
//! Temporal's where Endure has the same thing, so existing dashboards and alerts apply.

use metrics::Unit;

/// A metric: its name, kind, unit and what it counts.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// The exported name.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// The unit of its values.
    pub unit: Unit,
    /// What it measures (the exporter's help text).
    pub help: &'static str,
}

/// How a metric's values behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
}

/// Task rows the outbox check had to re-create because an open run waited for a task that no
/// row would ever dispatch. Every increment is a bug in Endure (the log line names the run).
pub const OUTBOX_REPAIRS: Metric = Metric {
    name: "outbox_repairs",
    kind: Kind::Counter,
    unit: Unit::Count,
    help: "Task rows the outbox check re-created for open runs that waited for a task no row \
           would dispatch (each one is a bug in Endure; the server logs the run)",
};

/// Every metric Endure records.
pub const ALL: &[Metric] = &[OUTBOX_REPAIRS];

/// Describes every metric to the installed recorder and makes each counter visible at zero
/// before its first increment (an alert on `increase(outbox_repairs[…]) > 0` needs the series).
/// Called once, by whoever installed the recorder.
pub fn describe() {
    for m in ALL {
        match m.kind {
            Kind::Counter => {
                metrics::describe_counter!(m.name, m.unit, m.help);
                metrics::counter!(m.name).absolute(0);
            }
        }
    }
}

/// Adds `n` to the counter `m`.
pub fn count(m: &Metric, n: u64) {
    debug_assert_eq!(m.kind, Kind::Counter, "{} is not a counter", m.name);
    metrics::counter!(m.name).increment(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: &str = include_str!("../../../docs/metrics.md");

    /// The names documented in docs/metrics.md's table, with their type column.
    fn documented() -> Vec<(String, String)> {
        DOCS.lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| {
                let (name, rest) = l.split_once('`')?;
                let kind = rest.split('|').nth(1)?.trim().to_owned();
                Some((name.to_owned(), kind))
            })
            .collect()
    }

    #[test]
    fn the_docs_list_every_metric_once_with_its_type() {
        let expected: Vec<(String, String)> = ALL
            .iter()
            .map(|m| {
                let kind = match m.kind {
                    Kind::Counter => "counter",
                };
                (m.name.to_owned(), kind.to_owned())
            })
            .collect();
        assert_eq!(documented(), expected, "docs/metrics.md lists endure_server::metrics::ALL, in order");
    }
}

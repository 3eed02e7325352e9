//! Resident memory and CPU time of a process and its descendants, read from Linux `/proc`.
//!
//! A server is measured as its whole process tree (a launcher that forks the real server would
//! otherwise be measured instead of it). CPU time is user + system time of all threads.

use std::fs;

/// CPU time of one sample, in clock ticks (see [`ticks_per_second`]).
pub type Ticks = u64;

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, normally 100).
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// The fields after the command name of `/proc/<pid>/stat` (the name may hold spaces and
/// parentheses, so split after the last `)`); index 0 is the state (field 3).
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Parent pid of `pid`.
fn parent_of(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// `pid` and all its descendants that are alive now.
pub fn process_tree(pid: i32) -> Vec<i32> {
    let mut tree = vec![pid];
    let Ok(entries) = fs::read_dir("/proc") else { return tree };
    let all: Vec<(i32, i32)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|p| Some((p, parent_of(p)?)))
        .collect();
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(all.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    tree
}

/// User + system CPU ticks of one process (all its threads).
pub fn cpu_ticks(pid: i32) -> Ticks {
    // utime and stime are fields 14 and 15, i.e. indexes 11 and 12 after the name.
    stat_fields(pid)
        .map(|f| {
            let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            get(11) + get(12)
        })
        .unwrap_or(0)
}

/// Resident set size of one process, in KiB (`VmRSS`; 0 once it is gone).
pub fn rss_kib(pid: i32) -> u64 {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else { return 0 };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU ticks and RSS (KiB) summed over `pids`.
pub fn sample(pids: &[i32]) -> (Ticks, u64) {
    pids.iter().fold((0, 0), |(cpu, rss), &p| (cpu + cpu_ticks(p), rss + rss_kib(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id() as i32;
        assert!(rss_kib(me) > 0);
        assert!(process_tree(me).contains(&me));
        let (_, rss) = sample(&[me]);
        assert!(rss > 0);
        assert!(ticks_per_second() > 0.0);
    }
}

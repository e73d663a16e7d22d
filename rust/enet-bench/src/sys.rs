//! Process measurements from `/proc` (no `libc`, no `unsafe`) and latency percentiles.

use std::fs;

/// CPU time this process has used, in nanoseconds, all threads included (the driver may run a
/// helper thread).
///
/// The sum of `/proc/self/task/*/schedstat` (each thread's run time in nanoseconds); without
/// schedstats, `utime + stime` of `/proc/self/stat` in clock ticks, taken as the usual 100 Hz
/// (std cannot ask `sysconf(_SC_CLK_TCK)`). The single-threaded C side reads the same numbers.
/// Threads that already exited are not counted; the driver's helper lives as long as its host.
pub fn cpu_ns() -> u64 {
    cpu_ns_of("self")
}

/// [`cpu_ns`] of the process `/proc/<pid>` names (`"self"` or a process id).
pub fn cpu_ns_of(pid: &str) -> u64 {
    let proc_dir = std::path::Path::new("/proc").join(pid);
    let threads = fs::read_dir(proc_dir.join("task")).ok().map(|dir| {
        dir.filter_map(Result::ok)
            .map(|task| {
                fs::read_to_string(task.path().join("schedstat"))
                    .ok()
                    .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            })
            .sum::<Option<u64>>()
    });
    if let Some(Some(ns)) = threads {
        return ns;
    }
    fs::read_to_string(proc_dir.join("stat"))
        .ok()
        .and_then(|s| stat_ticks(&s))
        .map_or(0, |ticks| ticks * 10_000_000)
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line.
fn stat_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may contain spaces; the fields after its ')' are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Peak resident set size (`VmHWM`) of this process in KiB, 0 if unknown.
pub fn vm_hwm_kib() -> u64 {
    status_kib("self", "VmHWM")
}

/// A `kB` line (`VmHWM`, `VmRSS`, ...) of `/proc/<pid>/status` in KiB, 0 if unknown.
pub fn status_kib(pid: &str, key: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Nearest-rank percentile `p` (0..=100) of sorted samples; -1 without samples (as the C side).
pub fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return -1;
    }
    let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_name_with_spaces() {
        let line = "42 (a b) S 1 2 3 4 5 6 7 8 9 10 111 222 0 0 20 0 1 0 5 6 7";
        assert_eq!(stat_ticks(line), Some(333));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), -1);
    }

    #[test]
    fn own_process_is_measurable() {
        assert!(vm_hwm_kib() > 0);
        assert!(cpu_ns() > 0);
        // The process's sum can shrink between two reads: the harness's other test threads
        // end and take their time with them. This thread's own counter cannot.
        let a = cpu_ns_of("thread-self");
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_ns_of("thread-self") >= a);
    }
}

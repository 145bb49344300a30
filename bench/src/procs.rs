//! Memory and CPU of processes and of the machine, from `/proc`: VmRSS and
//! VmHWM of `/proc/PID/status`, utime + stime of `/proc/PID/stat`, and the
//! busy share of `/proc/stat`.

use std::time::Duration;

/// One reading of a process.
#[derive(Debug, Clone)]
pub struct ProcSample {
    /// Process id.
    pub pid: u32,
    /// Its command line (arguments joined by spaces).
    pub cmdline: String,
    /// Resident set size in KiB.
    pub rss_kib: u64,
    /// Peak resident set size in KiB.
    pub hwm_kib: u64,
    /// User + system CPU time consumed so far.
    pub cpu: Duration,
}

/// Clock ticks per second of `/proc/PID/stat` (`getconf CLK_TCK`, else 100).
fn clk_tck() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

fn status_kib(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// utime + stime ticks from the text of `/proc/PID/stat` (the command name
/// in parentheses may contain spaces, so fields are counted after the last `)`).
fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After `)`: state is field 3 of the man page, utime 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Reads `pid`'s memory and CPU time.
pub fn sample(pid: u32) -> anyhow::Result<ProcSample> {
    let base = format!("/proc/{pid}");
    let status = std::fs::read_to_string(format!("{base}/status"))
        .map_err(|e| anyhow::anyhow!("process {pid}: {e}"))?;
    let stat = std::fs::read_to_string(format!("{base}/stat"))
        .map_err(|e| anyhow::anyhow!("process {pid}: {e}"))?;
    let ticks = stat_ticks(&stat)
        .ok_or_else(|| anyhow::anyhow!("process {pid}: unreadable /proc/{pid}/stat"))?;
    let cmdline = std::fs::read(format!("{base}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    Ok(ProcSample {
        pid,
        cmdline,
        rss_kib: status_kib(&status, "VmRSS:"),
        hwm_kib: status_kib(&status, "VmHWM:"),
        cpu: Duration::from_secs_f64(ticks as f64 / clk_tck() as f64),
    })
}

/// Reads every pid; fails if one is not running.
pub fn sample_all(pids: &[u32]) -> anyhow::Result<Vec<ProcSample>> {
    pids.iter().map(|p| sample(*p)).collect()
}

/// Busy and total jiffies of all CPUs (first line of `/proc/stat`).
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineCpu {
    busy: u64,
    total: u64,
}

impl MachineCpu {
    /// Reads `/proc/stat` (zeros when unreadable).
    pub fn now() -> Self {
        let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let nums: Vec<u64> = text
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|n| n.parse().ok())
            .collect();
        let total: u64 = nums.iter().take(8).sum();
        // idle and iowait are fields 4 and 5.
        let idle = nums.get(3).copied().unwrap_or(0) + nums.get(4).copied().unwrap_or(0);
        Self {
            busy: total.saturating_sub(idle),
            total,
        }
    }

    /// Share of all CPUs busy between `self` and `later`, in percent.
    pub fn busy_percent(&self, later: &MachineCpu) -> f64 {
        let total = later.total.saturating_sub(self.total);
        if total == 0 {
            0.0
        } else {
            100.0 * later.busy.saturating_sub(self.busy) as f64 / total as f64
        }
    }
}

/// CPUs of the machine.
pub fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// A short name for a process: the arguments after `serve`, or the binary.
pub fn short_name(cmdline: &str) -> String {
    let mut words = cmdline.split_whitespace();
    let bin = words
        .next()
        .map(|b| b.rsplit('/').next().unwrap_or(b).to_string())
        .unwrap_or_default();
    let rest: Vec<&str> = words.collect();
    let name = if rest.is_empty() {
        bin
    } else {
        format!("{bin} {}", rest.join(" "))
    };
    if name.chars().count() > 72 {
        name.chars().take(69).chain("...".chars()).collect()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_name_with_spaces() {
        let stat = "42 (c4forge (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 4 0";
        assert_eq!(stat_ticks(stat), Some(10));
    }

    #[test]
    fn own_process_is_readable() {
        let me = sample(std::process::id()).expect("own /proc entry");
        assert!(me.rss_kib > 0 && me.hwm_kib >= me.rss_kib);
    }
}

//! The server's CPU time and resident memory, read from /proc/<pid>, and
//! how busy the whole machine was, from /proc/stat.

use std::fs;
use std::io;
use std::time::Duration;

/// Clock ticks per second in /proc/<pid>/stat. Linux fixes USER_HZ at 100
/// in its ABI on every architecture the project runs on.
const USER_HZ: u64 = 100;

/// One look at a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcSample {
    /// User + system CPU time of all its threads.
    pub cpu: Duration,
    /// Resident set size in bytes.
    pub rss: u64,
}

pub fn sample(pid: u32) -> io::Result<ProcSample> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let cpu = parse_cpu(&stat).ok_or_else(|| bad(format!("/proc/{pid}/stat")))?;
    let rss = parse_rss(&status).ok_or_else(|| bad(format!("/proc/{pid}/status")))?;
    Ok(ProcSample { cpu, rss })
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("unexpected {what}"))
}

/// utime and stime, fields 14 and 15; counted after the `)` that ends the
/// command name, which may itself hold spaces.
fn parse_cpu(stat: &str) -> Option<Duration> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_millis(ticks * 1000 / USER_HZ))
}

fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Cumulative CPU time of the whole machine, in ticks of all cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineCpu {
    busy: u64,
    total: u64,
}

impl MachineCpu {
    pub fn sample() -> io::Result<MachineCpu> {
        let stat = fs::read_to_string("/proc/stat")?;
        parse_machine(&stat).ok_or_else(|| bad("/proc/stat".to_owned()))
    }

    /// Fraction of all cores' time spent busy between `self` and `later`:
    /// with the loadgen and server sharing a machine, near 1.0 means any of
    /// the figures may be CPU-starved.
    pub fn busy_fraction(self, later: MachineCpu) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        let busy = later.busy.checked_sub(self.busy)?;
        (total > 0).then(|| busy as f64 / total as f64)
    }
}

/// The `cpu` line: user nice system idle iowait irq softirq steal ...
/// (guest time is already inside user and nice).
fn parse_machine(stat: &str) -> Option<MachineCpu> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    if ticks.len() < 5 {
        return None;
    }
    let total: u64 = ticks.iter().sum();
    let idle = ticks[3] + ticks[4];
    Some(MachineCpu {
        busy: total - idle,
        total,
    })
}

/// The 1-minute load average.
pub fn load_average() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let stat = "1234 (my server) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_cpu(stat), Some(Duration::from_secs(3)));
    }

    #[test]
    fn parses_vmrss() {
        let status = "Name:\tserver\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\n";
        assert_eq!(parse_rss(status), Some(2048 * 1024));
    }

    #[test]
    fn parses_machine_cpu() {
        let a = parse_machine("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4 5\n").unwrap();
        let b = parse_machine("cpu  200 0 100 850 50 0 0 0 0 0\n").unwrap();
        assert_eq!(a.busy_fraction(b), Some(0.75));
        assert_eq!(b.busy_fraction(a), None);
        assert!(MachineCpu::sample().is_ok());
    }

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss > 0);
    }
}

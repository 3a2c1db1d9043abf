//! Resource use of a running command: CPU and resident memory of its whole process
//! tree, read from `/proc` (Linux). Samples are turned into system metrics.

use std::time::Instant;

/// Samples one process and its descendants.
pub struct TreeSampler {
    root: u32,
    ticks_per_second: f64,
    last: Option<(Instant, u64)>,
}

/// One reading: CPU use since the previous reading (100 = one core busy) and
/// resident memory now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub cpu_percent: Option<f64>,
    pub rss_bytes: u64,
    pub processes: usize,
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return out };
    for t in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(text.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
        }
    }
    out
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after its end.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the line are 12 and 13 here (after pid and comm).
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

impl TreeSampler {
    pub fn new(root: u32) -> TreeSampler {
        // Linux reports CPU times in USER_HZ, 100 on every architecture Cairn runs on.
        TreeSampler { root, ticks_per_second: 100.0, last: None }
    }

    /// `None` once the process is gone.
    pub fn sample(&mut self) -> Option<Sample> {
        let mut pids = vec![self.root];
        let mut i = 0;
        while i < pids.len() && pids.len() < 10_000 {
            let kids = children(pids[i]);
            pids.extend(kids);
            i += 1;
        }
        let root_ticks = cpu_ticks(self.root)?;
        let ticks: u64 = root_ticks + pids[1..].iter().filter_map(|&p| cpu_ticks(p)).sum::<u64>();
        let rss: u64 = pids.iter().filter_map(|&p| rss_bytes(p)).sum();
        let now = Instant::now();
        let cpu_percent = self.last.map(|(t, prev)| {
            let secs = now.duration_since(t).as_secs_f64().max(1e-3);
            (ticks.saturating_sub(prev) as f64 / self.ticks_per_second) / secs * 100.0
        });
        self.last = Some((now, ticks));
        Some(Sample { cpu_percent, rss_bytes: rss, processes: pids.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_process_shows_cpu_and_memory() {
        let mut child = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
        let mut s = TreeSampler::new(child.id());
        let first = s.sample().unwrap();
        assert_eq!(first.cpu_percent, None, "no rate from a single reading");
        std::thread::sleep(std::time::Duration::from_millis(500));
        let second = s.sample().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(second.cpu_percent.unwrap() > 10.0, "{second:?}");
        assert!(second.rss_bytes > 0);
        assert!(s.sample().is_none(), "gone after it exits");
    }
}

//! Small helpers: a deterministic PRNG, latency statistics, number formatting,
//! HTTP calls that report failing bodies, and `/proc` memory readings.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::time::Duration;

/// xorshift64* seeded through splitmix64: deterministic, tiny, good enough for
/// generating benchmark data (not for anything else).
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        // splitmix64 spreads small or similar seeds over the whole state.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }
}

/// Latency summary over a set of samples (nearest-rank percentiles).
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub p50: Duration,
    pub p95: Duration,
    pub max: Duration,
}

impl Latency {
    pub fn of(samples: &[Duration]) -> Latency {
        assert!(!samples.is_empty(), "latency of no samples");
        let mut s = samples.to_vec();
        s.sort();
        let rank = |q: f64| {
            let r = (q * s.len() as f64).ceil() as usize;
            s[r.clamp(1, s.len()) - 1]
        };
        Latency { p50: rank(0.50), p95: rank(0.95), max: s[s.len() - 1] }
    }

    pub fn describe(&self) -> String {
        format!("{} (p95 {}, max {})", ms(self.p50), ms(self.p95), ms(self.max))
    }
}

pub fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1e3;
    if v < 10.0 {
        format!("{v:.2} ms")
    } else if v < 100.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// Bytes in decimal units: `123.4 MB`, or `56.7 kB` below a megabyte.
pub fn mb(bytes: u64) -> String {
    if bytes < 1_000_000 { format!("{:.1} kB", bytes as f64 / 1e3) } else { format!("{:.1} MB", bytes as f64 / 1e6) }
}

/// Fails with the response body when the status is not a success.
pub async fn ok(resp: reqwest::Response, what: &str) -> Result<reqwest::Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_else(|e| format!("<body unreadable: {e}>"));
    bail!("{what}: HTTP {status}: {body}")
}

pub async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value> {
    // Once more on a connection the server had just closed as idle (a reused
    // keep-alive connection can be closed while the request is on its way).
    let resp = match client.get(url).send().await {
        Err(e) if e.is_request() || e.is_connect() => client.get(url).send().await,
        other => other,
    }
    .with_context(|| format!("GET {url}"))?;
    ok(resp, &format!("GET {url}")).await?.json().await.with_context(|| format!("GET {url}: the answer is not JSON"))
}

/// Resident and peak resident memory of a process, in bytes (VmRSS, VmHWM).
pub fn memory_of(pid: u32) -> Result<(u64, u64)> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let field = |name: &str| -> Result<u64> {
        let line = text.lines().find(|l| l.starts_with(name)).with_context(|| format!("{path} has no {name} line"))?;
        let kb: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("cannot read {line:?} in {path}"))?;
        Ok(kb * 1024)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Runs a command and returns its trimmed standard output, or None if it fails.
pub fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program).args(args).stderr(std::process::Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(10_000_000), "10,000,000");
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(&s);
        assert_eq!(l.p50, Duration::from_millis(50));
        assert_eq!(l.p95, Duration::from_millis(95));
        assert_eq!(l.max, Duration::from_millis(100));
        let one = Latency::of(&[Duration::from_millis(7)]);
        assert_eq!(one.p50, Duration::from_millis(7));
    }

    #[test]
    fn prng_is_deterministic_and_in_range() {
        let mut a = XorShift::new(1);
        let mut b = XorShift::new(1);
        for _ in 0..1000 {
            let x = a.next_f64();
            assert_eq!(x, b.next_f64());
            assert!((0.0..1.0).contains(&x));
        }
        assert_ne!(XorShift::new(1).next_u64(), XorShift::new(2).next_u64());
    }
}

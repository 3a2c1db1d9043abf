//! `cairn-sched-bench`: how long one scheduling round takes over a large queue (the
//! runner's target: 10,000 queued jobs on 100 nodes in at most 10 ms).
//!
//! ```text
//! cargo run --release -p cairn-bench --bin cairn-sched-bench
//! ```

use cairn_sched::{Config, Job, Node, Priority, Request, Scope, State, Used, schedule};
use std::time::{Duration, Instant};

fn main() {
    let (jobs, nodes, rounds) = (10_000, 100, 50);
    let mut s = State {
        now: 0,
        nodes: (0..nodes)
            .map(|i| Node {
                id: format!("node-{i}"),
                gpus: (0..8).collect(),
                gpu_type: Some(if i % 4 == 0 { "h100" } else { "a100" }.into()),
                cpus: 64,
                mem_mb: 512_000,
                spot: i % 10 == 0,
                cordoned: false,
            })
            .collect(),
        queued: (0..jobs)
            .map(|i| Job {
                id: format!("job-{i}"),
                user: format!("user-{}", i % 37),
                team: Some(format!("team-{}", i % 5)),
                project: format!("project-{}", i % 11),
                priority: [Priority::Low, Priority::Normal, Priority::Normal, Priority::High][i % 4],
                request: Request {
                    gpus: 1 + (i % 4) as u32,
                    cpus: 4,
                    mem_mb: 16_000,
                    time_limit_ms: Some(3_600_000 * (1 + (i % 6) as i64)),
                    ..Default::default()
                },
                preemptible: i % 2 == 0,
                budget: None,
                submitted_at: i as i64,
            })
            .collect(),
        ..Default::default()
    };
    for u in 0..37 {
        s.used.insert(
            Scope::User(format!("user-{u}")),
            Used { decayed_gpu_seconds: f64::from(u) * 3600.0, ..Default::default() },
        );
    }
    let cfg = Config::default();
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            let d = schedule(&s, &cfg);
            let took = t.elapsed();
            assert_eq!(d.len(), jobs);
            took
        })
        .collect();
    times.sort();
    println!(
        "one scheduling round, {jobs} queued jobs on {nodes} nodes: p50 {:.2} ms, max {:.2} ms ({rounds} rounds)",
        times[rounds / 2].as_secs_f64() * 1000.0,
        times[rounds - 1].as_secs_f64() * 1000.0
    );
}

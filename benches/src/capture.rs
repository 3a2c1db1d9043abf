//! What `cairn run` costs before and after the command: capture overhead in a git
//! repository of 10,000 files (`cairn run -- true` against plain `true`), and data
//! fingerprinting throughput on a warm page cache, uncached and cached.

use crate::server::Server;
use crate::util::{self, Latency};
use crate::{Ctx, Row, Section};
use anyhow::{Context, Result, ensure};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("cannot run git {args:?}"))?
        .success();
    ensure!(ok, "git {args:?} failed in {}", dir.display());
    Ok(())
}

/// Runs a command to completion and returns how long it took.
fn timed(cmd: &mut Command) -> Result<Duration> {
    let t = Instant::now();
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().context("cannot start the command")?;
    let took = t.elapsed();
    ensure!(out.status.success(), "{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr));
    Ok(took)
}

pub async fn run(ctx: &Ctx, srv: &Server) -> Result<Section> {
    let s = &ctx.sizes;
    let cairn = &ctx.cairn;
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    // A repository like a real one: 10,000 tracked source files in 100 folders, clean.
    let repo = srv.home().join("repo");
    for d in 0..100 {
        let dir = repo.join(format!("pkg{d:03}"));
        std::fs::create_dir_all(&dir)?;
        for f in 0..s.repo_files / 100 {
            std::fs::write(dir.join(format!("m{f:03}.py")), format!("# module {d}/{f}\nVALUE = {}\n", d * 1000 + f))?;
        }
    }
    git(&repo, &["init", "-q", "-b", "main"])?;
    git(&repo, &["add", "."])?;
    git(&repo, &["commit", "-q", "-m", "bench"])?;

    let home = srv.home().join("client-home");
    let base = |n: usize| {
        let mut c = Command::new(cairn);
        c.args(["run", "--project", "bench-capture", "--hypothesis", "overhead", "--", "true", "--i"])
            .arg(n.to_string())
            .current_dir(&repo)
            .env("CAIRN_SERVER", &srv.url)
            .env("CAIRN_HOME", &home);
        c
    };
    for i in 0..3 {
        timed(&mut base(1_000_000 + i))?; // warm-up: page cache, server statements
    }
    let mut plain = Vec::new();
    let mut wrapped = Vec::new();
    for i in 0..s.capture_runs {
        plain.push(timed(Command::new("true").current_dir(&repo))?);
        wrapped.push(timed(&mut base(i))?);
    }
    let (p, w) = (Latency::of(&plain), Latency::of(&wrapped));
    let overhead = w.p50.saturating_sub(p.p50);
    rows.push(Row {
        key: "capture_overhead",
        label: format!(
            "`cairn run -- true` over `true`, git repository of {} files, p50 ({} runs)",
            util::thousands(s.repo_files as u64),
            s.capture_runs
        ),
        value: format!("{} ({} vs {})", util::ms(overhead), util::ms(w.p50), util::ms(p.p50)),
        target: "≤ 50 ms",
        ok: ctx.judge(overhead <= Duration::from_millis(50)),
    });
    notes.push(format!(
        "capture overhead: `cairn run` p50 {} (p95 {}), `true` p50 {}; each run is new (a distinct --i), so the \
         duplicate check and the nearest-run comparison are included",
        util::ms(w.p50),
        util::ms(w.p95),
        util::ms(p.p50)
    ));

    // Data: files totalling `data_bytes`, read once so the page cache is warm.
    let data = srv.home().join("dataset");
    std::fs::create_dir_all(&data)?;
    let files = 16usize;
    let per_file = s.data_bytes / files as u64;
    let mut rng = util::XorShift::new(7);
    let block: Vec<u8> = (0..1 << 20).map(|_| rng.next_u64() as u8).collect();
    for f in 0..files {
        let mut w = std::io::BufWriter::new(std::fs::File::create(data.join(format!("shard-{f:02}.bin")))?);
        let mut left = per_file;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            std::io::Write::write_all(&mut w, &block[..n])?;
            left -= n as u64;
        }
    }
    let total = per_file * files as u64;
    let out = srv.home().join("capture-out");
    let fingerprint = |fresh_cache: bool| {
        if fresh_cache {
            let _ = std::fs::remove_file(home.join("cache").join("fingerprints.json"));
        }
        timed(
            Command::new(cairn)
                .args(["capture", "--data-only", "--out"])
                .arg(&out)
                .arg("--data")
                .arg(&data)
                .env("CAIRN_HOME", &home),
        )
    };
    fingerprint(true)?; // warms the page cache
    let uncached: Vec<Duration> = (0..s.fingerprint_runs).map(|_| fingerprint(true)).collect::<Result<_>>()?;
    let cached: Vec<Duration> = (0..s.fingerprint_runs).map(|_| fingerprint(false)).collect::<Result<_>>()?;
    let (u, c) = (Latency::of(&uncached), Latency::of(&cached));
    let gbps = total as f64 / u.p50.as_secs_f64() / 1e9;
    rows.push(Row {
        key: "fingerprint_throughput",
        label: format!("data fingerprint, {} in {files} files, warm page cache, p50", util::mb(total)),
        value: format!("{gbps:.2} GB/s ({})", util::ms(u.p50)),
        target: "≥ 1 GB/s",
        ok: ctx.judge(gbps >= 1.0),
    });
    rows.push(Row {
        key: "fingerprint_cached",
        label: "data fingerprint again, unchanged (cached by path, size, mtime), p50".to_owned(),
        value: util::ms(c.p50),
        target: "≤ 10 ms",
        ok: ctx.judge(c.p50 <= Duration::from_millis(10)),
    });
    notes.push(format!(
        "fingerprint times are of the whole `cairn capture --data-only` process (start-up included), {} cores",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    ));
    Ok(Section { rows, notes })
}

//! The `simboard run` benchmark: 600 SIMs onboarded against the emulator with
//! 30 ms of latency and a limit of 100 requests/s that simboard is not told
//! about (it must learn it from the 429s), once at the default concurrency and
//! once with `--concurrency 1`. All rows share one user (one email).
//!
//! It runs the real release binary and reads the emulator's own counters
//! (`GET /_emulator/state`), then prints a Markdown table: wall time, requests
//! sent, requests/s as a share of the limit, the share answered 429, API calls
//! per onboarded SIM, and the speed-up over one worker.
//!
//! Run: `cargo bench --bench run_throughput` (`SIMBOARD_BENCH_SIMS` sets the
//! SIM count, 600 by default).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use simboard::emulator::{Emulator, EmulatorConfig};

const LIMIT: f64 = 100.0;
const LATENCY: Duration = Duration::from_millis(30);

struct Measured {
    label: String,
    wall: Duration,
    requests: u64,
    refused: u64,
    onboarded: u64,
}

fn main() {
    let sims: usize = std::env::var("SIMBOARD_BENCH_SIMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let iccids: Vec<String> = (0..sims)
        .map(|i| {
            let payload = format!("8988307777{i:09}");
            let check = simboard::iccid::luhn_check_digit(payload.as_bytes());
            format!("{payload}{check}")
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("fleet.csv");
    let mut text = String::from("iccid,email,full_name\n");
    for iccid in &iccids {
        text.push_str(&format!("{iccid},fleet@acme.example,Fleet Ops\n"));
    }
    std::fs::write(&manifest, text).unwrap();

    let default = measure("default (8 workers)", &iccids, &manifest, &[]);
    let single = measure(
        "--concurrency 1",
        &iccids,
        &manifest,
        &["--concurrency", "1"],
    );

    println!();
    println!(
        "{sims} SIMs, emulator latency {} ms, limit {LIMIT:.0} requests/s (not told to simboard)",
        LATENCY.as_millis()
    );
    println!();
    println!("| run | wall time | requests | requests/s (% of limit) | answered 429 | calls per onboarded SIM | speed-up |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for m in [&default, &single] {
        let secs = m.wall.as_secs_f64();
        let rate = m.requests as f64 / secs;
        println!(
            "| {} | {:.2} s | {} | {:.1} ({:.0}%) | {} ({:.1}%) | {:.3} | {:.2}× |",
            m.label,
            secs,
            m.requests,
            rate,
            100.0 * rate / LIMIT,
            m.refused,
            100.0 * m.refused as f64 / m.requests as f64,
            m.requests as f64 / m.onboarded.max(1) as f64,
            single.wall.as_secs_f64() / secs,
        );
    }
}

fn measure(label: &str, iccids: &[String], manifest: &Path, args: &[&str]) -> Measured {
    let emu = Emulator::start(EmulatorConfig {
        inventory_iccids: iccids.to_vec(),
        latency: LATENCY,
        rate: Some(LIMIT),
        seed: 1,
        ..Default::default()
    })
    .expect("the emulator starts");
    let results = manifest.with_extension(format!("{}.results.csv", args.len()));
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_simboard"))
        .env("GIGS_TOKEN", emu.token())
        .args(["run", manifest.to_str().unwrap(), "--quiet", "-o"])
        .arg(&results)
        .args(["--api-url", emu.url()])
        .args(["--project", emu.project()])
        .args(args)
        .output()
        .expect("simboard runs");
    let wall = started.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{label}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state: serde_json::Value = reqwest::blocking::get(format!("{}/_emulator/state", emu.url()))
        .unwrap()
        .json()
        .unwrap();
    let counter = |name: &str| state["counters"][name].as_u64().unwrap_or(0);
    let m = Measured {
        label: label.to_owned(),
        wall,
        requests: counter("requestsTotal"),
        refused: counter("rateLimited"),
        onboarded: counter("subscriptionsCreated"),
    };
    eprintln!(
        "{label}: {:.2} s, {} requests, {} answered 429",
        wall.as_secs_f64(),
        m.requests,
        m.refused
    );
    m
}

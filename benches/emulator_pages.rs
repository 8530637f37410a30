//! Paging a large inventory: the figure issue 10 asks for. `simboard
//! emulator --inventory 1000000` must serve all 5,000 pages of
//! `GET /sims?limit=200` in 10 s or less.
//!
//! It runs the real binary (as a user would), waits for its `listening on`
//! line, then follows `moreItemsAfter` from the first page to the last with
//! one keep-alive client, as a client listing the whole inventory does. It
//! checks that every SIM came exactly once, prints the time to start, the
//! time to page and the emulator's peak resident memory (`VmHWM` from
//! `/proc`), and fails when paging took longer than the budget.
//!
//! Run: `cargo bench --bench emulator_pages`
//! (`-- --sims N --limit L --budget-secs S` to change it).

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::Value;

struct Load {
    sims: usize,
    limit: usize,
    budget: Duration,
}

fn load_from_args() -> Load {
    let mut load = Load {
        sims: 1_000_000,
        limit: 200,
        budget: Duration::from_secs(10),
    };
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        let value: Option<u64> = pair[1].parse().ok();
        match (pair[0].as_str(), value) {
            ("--sims", Some(n)) => load.sims = n as usize,
            ("--limit", Some(n)) => load.limit = n as usize,
            ("--budget-secs", Some(n)) => load.budget = Duration::from_secs(n),
            _ => {}
        }
    }
    load
}

/// Kills the emulator however the bench ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Peak resident memory of a process, in MiB, from `/proc/PID/status`.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let load = load_from_args();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_simboard"))
        .args([
            "emulator",
            "--port",
            "0",
            "--inventory",
            &load.sims.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("simboard emulator starts");
    let stdout = child.stdout.take().expect("a stdout pipe");
    let running = Running(child);
    let mut lines = BufReader::new(stdout).lines();
    let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
    let url = next()
        .strip_prefix("listening on ")
        .expect("the first line says where it listens")
        .to_owned();
    let token = next()
        .strip_prefix("token: ")
        .expect("a token line")
        .to_owned();
    let project = next()
        .strip_prefix("project: ")
        .expect("a project line")
        .to_owned();
    let start_time = started.elapsed();

    let http = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a client");
    let base = format!("{url}/projects/{project}/sims?limit={}", load.limit);
    let mut seen: HashSet<String> = HashSet::with_capacity(load.sims);
    let mut pages = 0usize;
    let mut after: Option<String> = None;
    let paging = Instant::now();
    loop {
        let address = match &after {
            Some(id) => format!("{base}&after={id}"),
            None => base.clone(),
        };
        let page: Value = http
            .get(address)
            .bearer_auth(&token)
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
            .expect("a page of SIMs");
        pages += 1;
        for sim in page["items"].as_array().expect("a list") {
            let id = sim["id"].as_str().expect("a SIM id").to_owned();
            assert!(seen.insert(id), "a SIM came twice");
        }
        match page["moreItemsAfter"].as_str() {
            Some(id) => after = Some(id.to_owned()),
            None => break,
        }
    }
    let elapsed = paging.elapsed();
    let rss = peak_rss_mib(running.0.id());
    drop(running);

    println!("emulator pages: {} SIMs, limit {}", load.sims, load.limit);
    println!("  start-up     {:.2} s", start_time.as_secs_f64());
    println!("  pages        {pages}");
    println!("  paging       {:.2} s", elapsed.as_secs_f64());
    println!("  pages/s      {:.0}", pages as f64 / elapsed.as_secs_f64());
    match rss {
        Some(mib) => println!("  peak RSS     {mib:.0} MiB"),
        None => println!("  peak RSS     unknown (no /proc)"),
    }
    assert_eq!(seen.len(), load.sims, "every SIM is listed exactly once");
    if elapsed > load.budget {
        eprintln!(
            "paging took {:.2} s, over the budget of {} s",
            elapsed.as_secs_f64(),
            load.budget.as_secs()
        );
        std::process::exit(1);
    }
}

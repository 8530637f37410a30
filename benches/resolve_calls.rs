//! The `--resolve` benchmark: API calls per SIM, and wall time, of each
//! strategy (`auto`, the default; `snapshot`; `search`, the per-row lookups
//! of earlier versions) against the emulator with 30 ms of latency and a
//! limit of 100 requests/s that simboard is not told about.
//!
//! Scenarios, each on a fresh emulator:
//! - a dry run of 2,000 rows covering a 2,000-SIM project (one fleet user);
//! - the real run of the same;
//! - 1,000 rows with a new email each (a 1,000-SIM project);
//! - 10 rows in a 20,000-SIM project, the 10 oldest SIMs (listed last: the
//!   worst case for `auto`) and the 10 newest (listed first), dry and real.
//!
//! It runs the real release binary and reads the emulator's own counter of
//! requests (`GET /_emulator/state`), then prints a Markdown table.
//!
//! Run: `cargo bench --bench resolve_calls` (`SIMBOARD_BENCH_ONLY=auto` runs
//! one strategy).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use simboard::emulator::{Emulator, EmulatorConfig};

const LIMIT: f64 = 100.0;
const LATENCY: Duration = Duration::from_millis(30);

/// One manifest over one project.
struct Scenario {
    name: &'static str,
    /// The project's SIMs, oldest first.
    project: Vec<String>,
    /// The manifest's rows (without header).
    rows: Vec<String>,
    header: &'static str,
    dry_run: bool,
    /// Create a fleet user with this email before the run.
    fleet: Option<&'static str>,
}

struct Measured {
    requests: u64,
    wall: Duration,
    rows: usize,
    failed: bool,
}

fn iccids(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let payload = format!("{prefix}{i:09}");
            let check = simboard::iccid::luhn_check_digit(payload.as_bytes());
            format!("{payload}{check}")
        })
        .collect()
}

fn fleet_rows(sims: &[String]) -> Vec<String> {
    sims.iter()
        .map(|s| format!("{s},fleet@acme.example"))
        .collect()
}

fn scenarios() -> Vec<Scenario> {
    let two = iccids("8988307771", 2000);
    let one = iccids("8988307772", 1000);
    let big = iccids("8988307773", 20_000);
    let new_emails: Vec<String> = one
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{s},person{i}@acme.example"))
        .collect();
    let fleet = |name, project: &Vec<String>, rows: &[String], dry_run| Scenario {
        name,
        project: project.clone(),
        rows: fleet_rows(rows),
        header: "iccid,email",
        dry_run,
        fleet: Some("fleet@acme.example"),
    };
    vec![
        fleet(
            "dry run, 2,000 rows = the 2,000-SIM project",
            &two,
            &two,
            true,
        ),
        fleet(
            "real run, 2,000 rows = the 2,000-SIM project",
            &two,
            &two,
            false,
        ),
        Scenario {
            name: "real run, 1,000 rows, a new email each",
            project: one.clone(),
            rows: new_emails,
            header: "iccid,email",
            dry_run: false,
            fleet: None,
        },
        fleet("dry run, 10 oldest of 20,000 SIMs", &big, &big[..10], true),
        fleet(
            "real run, 10 oldest of 20,000 SIMs",
            &big,
            &big[..10],
            false,
        ),
        fleet(
            "dry run, 10 newest of 20,000 SIMs",
            &big,
            &big[big.len() - 10..],
            true,
        ),
    ]
}

fn main() {
    let only = std::env::var("SIMBOARD_BENCH_ONLY").ok();
    let modes: Vec<&str> = ["auto", "snapshot", "search"]
        .into_iter()
        .filter(|m| only.as_deref().map_or(true, |o| o == *m))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut table = Vec::new();
    for scenario in scenarios() {
        let mut cells = Vec::new();
        for mode in &modes {
            let m = measure(&scenario, mode, dir.path());
            eprintln!(
                "{} · {mode}: {} requests in {:.1} s{}",
                scenario.name,
                m.requests,
                m.wall.as_secs_f64(),
                if m.failed { " (FAILED)" } else { "" }
            );
            cells.push(m);
        }
        table.push((scenario.name, cells));
    }
    println!();
    println!(
        "emulator latency {} ms, limit {LIMIT:.0} requests/s (not told to simboard); calls per SIM (requests), wall time",
        LATENCY.as_millis()
    );
    println!();
    let header: Vec<String> = modes.iter().map(|m| format!("`{m}`")).collect();
    println!("| scenario | {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(modes.len()));
    for (name, cells) in table {
        let shown: Vec<String> = cells
            .iter()
            .map(|m| {
                format!(
                    "{:.3} ({}), {:.1} s{}",
                    m.requests as f64 / m.rows as f64,
                    m.requests,
                    m.wall.as_secs_f64(),
                    if m.failed { " FAILED" } else { "" }
                )
            })
            .collect();
        println!("| {name} | {} |", shown.join(" | "));
    }
}

/// Runs one scenario in one mode on a fresh emulator.
fn measure(scenario: &Scenario, mode: &str, dir: &Path) -> Measured {
    let emulator = Emulator::start(EmulatorConfig {
        inventory_iccids: scenario.project.clone(),
        latency: LATENCY,
        rate: Some(LIMIT),
        seed: 1,
        ..Default::default()
    })
    .expect("the emulator starts");
    let http = reqwest::blocking::Client::new();
    if let Some(email) = scenario.fleet {
        let url = format!("{}/projects/{}/users", emulator.url(), emulator.project());
        let answer = http
            .post(url)
            .bearer_auth(emulator.token())
            .json(&serde_json::json!({ "email": email }))
            .send()
            .expect("the fleet user is made");
        assert!(answer.status().is_success(), "{}", answer.status());
    }
    let manifest = dir.join("m.csv");
    let mut text = format!("{}\n", scenario.header);
    for row in &scenario.rows {
        text.push_str(row);
        text.push('\n');
    }
    std::fs::write(&manifest, text).unwrap();
    let before = requests(&http, &emulator);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_simboard"));
    // A result file of its own: a run refuses to replace one that records
    // onboarded rows of another.
    let results = tempfile::Builder::new()
        .suffix(".csv")
        .tempfile_in(dir)
        .unwrap()
        .into_temp_path();
    std::fs::remove_file(&results).unwrap();
    cmd.args(["run", manifest.to_str().unwrap(), "-o"])
        .arg(&results)
        .args(["--api-url", emulator.url(), "--project", emulator.project()])
        .args(["--resolve", mode, "--quiet"])
        .env("GIGS_TOKEN", emulator.token());
    if scenario.dry_run {
        cmd.arg("--dry-run");
    }
    let started = Instant::now();
    let out = cmd.output().expect("simboard runs");
    let wall = started.elapsed();
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    Measured {
        requests: requests(&http, &emulator) - before,
        wall,
        rows: scenario.rows.len(),
        failed: !out.status.success(),
    }
}

/// The emulator's count of every API request it received.
fn requests(http: &reqwest::blocking::Client, emulator: &Emulator) -> u64 {
    let state: serde_json::Value = http
        .get(format!("{}/_emulator/state", emulator.url()))
        .send()
        .and_then(|r| r.json())
        .expect("the state route answers");
    state["counters"]["requestsTotal"].as_u64().unwrap_or(0)
}

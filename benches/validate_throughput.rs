//! The `simboard validate` benchmark: one generated manifest, three readers.
//!
//! 1. the floor: the csv crate reading every record of the file, nothing more;
//! 2. `simboard validate` (the release binary), writing the full result CSV;
//! 3. the Python baseline (`benches/baseline.py`: the csv module plus
//!    python-stdnum's luhn) writing the same result rows.
//!
//! The manifest has 5 columns and 2% damaged rows. The two result files are
//! compared byte for byte, so both sides did the same work. Peak memory is the
//! child's maximum resident set size, from `wait4`.
//!
//! Every timed run starts with the disk quiet (`sync`) and writes a new result
//! file, as a first validation does: otherwise a run pays for writing back the
//! last run's 80 MB, on the same two cores. Overwriting the result file of the
//! run just before is timed on its own line.
//!
//! Run: `cargo bench --bench validate_throughput` (`SIMBOARD_BENCH_ROWS` sets
//! the row count, 1,000,000 by default; needs `pip install python-stdnum`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 7;

fn main() {
    let rows: u64 = std::env::var("SIMBOARD_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/data");
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join(format!("manifest-{rows}.csv"));
    if !manifest.exists() {
        generate(&manifest, rows).unwrap();
    }
    let bytes = std::fs::metadata(&manifest).unwrap().len();
    eprintln!(
        "manifest: {} ({rows} rows, {bytes} bytes)",
        manifest.display()
    );

    let floor = best_of(RUNS, || {
        quiet_disk();
        let started = Instant::now();
        let records = read_every_record(&manifest);
        assert_eq!(records, rows + 1);
        (started.elapsed(), 0)
    });

    let simboard_out = dir.join("simboard.results.csv");
    let validate = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_simboard"));
        command
            .arg("validate")
            .arg(&manifest)
            .arg("-o")
            .arg(&simboard_out)
            .arg("--quiet");
        command
    };
    let simboard = best_of(RUNS, || {
        let _ = std::fs::remove_file(&simboard_out);
        quiet_disk();
        run(&mut validate())
    });
    let overwriting = best_of(RUNS, || run(&mut validate()));

    let python_out = dir.join("python.results.csv");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/baseline.py");
    let _ = std::fs::remove_file(&python_out);
    quiet_disk();
    let python = run(Command::new("python3")
        .arg(&script)
        .arg(&manifest)
        .arg(&python_out));
    let same = std::fs::read(&simboard_out).unwrap() == std::fs::read(&python_out).unwrap();

    let mb = bytes as f64 / 1e6;
    let line = |name: &str, (time, rss): (Duration, u64)| {
        let secs = time.as_secs_f64();
        format!(
            "| {name} | {secs:.3} | {:.0} | {:.1} | {} |",
            rows as f64 / secs,
            mb / secs,
            if rss == 0 {
                "-".to_owned()
            } else {
                format!("{:.1}", rss as f64 / 1024.0)
            }
        )
    };
    println!("| reader | seconds | rows/s | MB/s | peak RSS (MB) |");
    println!("|---|---:|---:|---:|---:|");
    println!("{}", line("csv crate, read only (floor)", floor));
    println!("{}", line("simboard validate", simboard));
    println!(
        "{}",
        line(
            "simboard validate, overwriting its last results",
            overwriting
        )
    );
    println!("{}", line("Python baseline", python));
    println!();
    println!(
        "simboard is {:.1}x faster than the Python baseline and takes {:.2}x the floor; \
         result files identical: {same}",
        python.0.as_secs_f64() / simboard.0.as_secs_f64(),
        simboard.0.as_secs_f64() / floor.0.as_secs_f64(),
    );
}

/// Waits until every file written so far is on disk, so that writing it back
/// does not run alongside the next timed run.
fn quiet_disk() {
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// The fastest of `n` runs, with the largest peak memory seen.
fn best_of(n: usize, mut f: impl FnMut() -> (Duration, u64)) -> (Duration, u64) {
    (0..n)
        .map(|_| f())
        .fold((Duration::MAX, 0), |(t, m), (t2, m2)| {
            (t.min(t2), m.max(m2))
        })
}

fn read_every_record(path: &Path) -> u64 {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .unwrap();
    let mut record = csv::ByteRecord::new();
    let mut n = 0;
    while reader.read_byte_record(&mut record).unwrap() {
        n += 1;
    }
    n
}

/// Runs a command to completion: its wall time and peak RSS in KiB.
#[allow(clippy::zombie_processes, reason = "wait4 below reaps the child")]
fn run(command: &mut Command) -> (Duration, u64) {
    let started = Instant::now();
    let child = command.stdout(Stdio::null()).spawn().unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in; the pid is our child's.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    let code = libc::WEXITSTATUS(status);
    assert!(code <= 1, "{command:?} exited {code}");
    (elapsed, usage.ru_maxrss as u64)
}

/// A supplier manifest: 5 columns, 2% of rows damaged in the ways spreadsheets
/// and people damage them.
fn generate(path: &PathBuf, rows: u64) -> std::io::Result<()> {
    let mut rng = fastrand::Rng::with_seed(20261128);
    let mut out = BufWriter::new(File::create(path)?);
    writeln!(out, "iccid,device_id,pallet,batch,shipped_on")?;
    let mut earlier = Vec::new();
    for i in 0..rows {
        let payload = format!("898830{:013}", rng.u64(..10_000_000_000_000));
        let mut iccid = format!("{payload}{}", luhn(&payload));
        if rng.f64() < 0.02 {
            iccid = match rng.u8(..7) {
                0 => format!("{payload}{}", (luhn(&payload) + 1) % 10),
                1 => format!("8.{}E+19", &payload[1..15]),
                2 => format!("{}00000", &payload[..15]),
                3 => format!("{}O{}", &iccid[..10], &iccid[11..]),
                4 => String::new(),
                5 => iccid[..17].to_owned(),
                _ => earlier
                    .get(rng.usize(..earlier.len().max(1)))
                    .cloned()
                    .unwrap_or_default(),
            };
        } else if earlier.len() < 1000 {
            earlier.push(iccid.clone());
        }
        writeln!(
            out,
            "{iccid},DEV-{i:08},P-{:05},B{:03},2026-{:02}-{:02}",
            i / 500,
            i % 997,
            1 + i % 12,
            1 + i % 28
        )?;
    }
    out.flush()
}

fn luhn(payload: &str) -> u32 {
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match (i % 2 == 0, d * 2) {
                (true, t) if t > 9 => t - 9,
                (true, t) => t,
                (false, _) => d,
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

//! The workbook benchmark: `simboard validate` on a 200,000-row `.xlsx`
//! against calamine's own bare read of the same file (the floor).
//!
//! The workbook has 5 columns, like the CSV benchmark's manifest: the ICCID as
//! text (1% of them damaged), a device id and a batch as text, a pallet number
//! and a shipping date as a spreadsheet stores them (a number, a date). The
//! floor opens the workbook with calamine, reads the first sheet into a range
//! and visits every cell, in this process; simboard is the release binary,
//! which must do the same read and then check, convert and write every row, so
//! the ratio says what simboard adds to the unavoidable part.
//!
//! Run: `cargo bench --bench workbook_throughput` (`SIMBOARD_BENCH_ROWS` sets
//! the row count, 200,000 by default). The workbook is made once, in
//! `benches/data/`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use calamine::{open_workbook_auto, Data, Reader};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

const RUNS: usize = 5;

fn main() {
    let rows: u32 = std::env::var("SIMBOARD_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/data");
    std::fs::create_dir_all(&dir).unwrap();
    let book = dir.join(format!("manifest-{rows}.xlsx"));
    if !book.exists() {
        generate(&book, rows);
    }
    let bytes = std::fs::metadata(&book).unwrap().len();
    eprintln!("workbook: {} ({rows} rows, {bytes} bytes)", book.display());

    let floor = best_of(RUNS, || {
        let started = Instant::now();
        let cells = read_every_cell(&book);
        assert_eq!(cells, (u64::from(rows) + 1) * 5);
        started.elapsed()
    });
    let out = dir.join("workbook.results.csv");
    let simboard = best_of(RUNS, || {
        let _ = std::fs::remove_file(&out);
        let started = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_simboard"))
            .arg("validate")
            .arg(&book)
            .arg("-o")
            .arg(&out)
            .arg("--quiet")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(matches!(status.code(), Some(0 | 1)), "{status}");
        started.elapsed()
    });

    let line = |name: &str, time: Duration| {
        let secs = time.as_secs_f64();
        format!("| {name} | {secs:.3} | {:.0} |", f64::from(rows) / secs)
    };
    println!("| reader | seconds | rows/s |");
    println!("|---|---:|---:|");
    println!("{}", line("calamine, read only (floor)", floor));
    println!("{}", line("simboard validate", simboard));
    println!();
    println!(
        "simboard takes {:.2}x the floor (best of {RUNS} each)",
        simboard.as_secs_f64() / floor.as_secs_f64()
    );
}

/// The fastest of `n` runs.
fn best_of(n: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..n).map(|_| f()).min().unwrap_or_default()
}

/// calamine's bare read: open, load the first sheet, visit every cell.
fn read_every_cell(path: &Path) -> u64 {
    let mut book = open_workbook_auto(path).unwrap();
    let first = book.sheet_names()[0].clone();
    let range = book.worksheet_range(&first).unwrap();
    let mut cells = 0;
    for row in range.rows() {
        for cell in row {
            // Touch the cell so that the loop is not optimised away.
            if !matches!(std::hint::black_box(cell), Data::Error(_)) {
                cells += 1;
            }
        }
    }
    cells
}

/// A supplier workbook of `rows` SIMs in 5 columns.
fn generate(path: &Path, rows: u32) {
    let mut rng = fastrand::Rng::with_seed(20261202);
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    for (col, name) in ["iccid", "device_id", "pallet", "batch", "shipped_on"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, col as u16, *name).unwrap();
    }
    for i in 0..rows {
        let payload = format!("898830{:013}", rng.u64(..10_000_000_000_000));
        let check = simboard::iccid::luhn_check_digit(payload.as_bytes());
        let mut iccid = format!("{payload}{check}");
        if rng.f64() < 0.01 {
            iccid.pop();
        }
        let row = i + 1;
        sheet.write_string(row, 0, &iccid).unwrap();
        sheet.write_string(row, 1, format!("DEV-{i:08}")).unwrap();
        sheet.write_number(row, 2, f64::from(i / 500)).unwrap();
        sheet
            .write_string(row, 3, format!("B{:03}", i % 997))
            .unwrap();
        let shipped =
            ExcelDateTime::from_ymd(2026, 1 + (i % 12) as u8, 1 + (i % 28) as u8).unwrap();
        sheet
            .write_datetime_with_format(row, 4, &shipped, &date)
            .unwrap();
    }
    book.save(path).unwrap();
}

//! The validation stage: every row's ICCID is checked in parallel (rayon), then
//! duplicates are found in manifest order, so results come out in the order of
//! the file whatever the number of threads.
//!
//! [`Validator`] is the stage itself and is shared with `simboard run`;
//! [`validate`] is the `simboard validate` command built on it.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use crate::exit::{Fatal, Partial};
use crate::iccid::{self, CheckDigit, Iccid, Invalid, Note};
use crate::manifest::{Manifest, ManifestError, ManifestOptions, Row};
use crate::progress;
use crate::results::{self, Outcome, Output, ResultWriter};
use crate::summary::Summary;

/// Rows read, checked and written per step. Large enough to keep both cores
/// busy, small enough that memory does not grow with the file.
pub const CHUNK_ROWS: usize = 8 * 1024;

/// Why a row's ICCID cannot be used: a problem with the cell itself, or a
/// repeat of an earlier line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Iccid(Invalid),
    /// The same normalised ICCID appeared on an earlier line.
    Duplicate {
        first_line: u64,
    },
}

impl Problem {
    /// The stable reason code for the result CSV.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Iccid(invalid) => invalid.code(),
            Problem::Duplicate { .. } => "duplicate",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Iccid(invalid) => invalid.fmt(f),
            Problem::Duplicate { first_line } => {
                write!(f, "the same ICCID already appears on line {first_line}")
            }
        }
    }
}

/// The verdict on one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub line: u64,
    /// The normalised ICCID where there is one, else the raw cell.
    pub iccid: String,
    pub verdict: Result<Option<Note>, Problem>,
}

impl Checked {
    pub fn outcome(&self) -> Outcome {
        if self.verdict.is_ok() {
            Outcome::Valid
        } else {
            Outcome::Invalid
        }
    }

    /// The reason code, empty when the row is valid.
    pub fn reason(&self) -> &'static str {
        self.verdict.as_ref().err().map_or("", Problem::code)
    }

    /// The human message: the problem, or a note on a valid ICCID.
    pub fn message(&self) -> String {
        match &self.verdict {
            Ok(None) => String::new(),
            Ok(Some(note)) => note.to_string(),
            Err(problem) => problem.to_string(),
        }
    }

    /// The ICCID when the row is valid.
    pub fn valid_iccid(&self) -> Option<&str> {
        self.verdict.is_ok().then_some(self.iccid.as_str())
    }
}

/// Checks rows chunk by chunk and remembers every valid ICCID seen, to find
/// duplicates. The set of seen ICCIDs is the only memory that grows with the file.
#[derive(Debug, Default)]
pub struct Validator {
    policy: CheckDigit,
    seen: HashMap<u64, u64>,
}

impl Validator {
    pub fn new(policy: CheckDigit) -> Self {
        Validator {
            policy,
            seen: HashMap::new(),
        }
    }

    /// Checks `rows` in parallel, then marks duplicates in order. Rows must be
    /// given in manifest order across calls.
    pub fn check_chunk(&mut self, rows: &[Row], iccid_column: usize) -> Vec<Checked> {
        let policy = self.policy;
        let mut checked: Vec<(Checked, Option<Iccid>)> = rows
            .par_iter()
            .with_min_len(256)
            .map(|row| check_row(row, iccid_column, policy))
            .collect();
        checked
            .iter_mut()
            .map(|(row, iccid)| {
                if let Some(iccid) = iccid.take() {
                    self.mark_duplicate(row, &iccid);
                }
                std::mem::replace(
                    row,
                    Checked {
                        line: 0,
                        iccid: String::new(),
                        verdict: Ok(None),
                    },
                )
            })
            .collect()
    }

    fn mark_duplicate(&mut self, row: &mut Checked, iccid: &Iccid) {
        let first_line = *self.seen.entry(iccid.key()).or_insert(row.line);
        if first_line != row.line {
            row.verdict = Err(Problem::Duplicate { first_line });
        }
    }
}

fn check_row(row: &Row, iccid_column: usize, policy: CheckDigit) -> (Checked, Option<Iccid>) {
    let raw = row.get(iccid_column);
    match iccid::check(raw, policy) {
        Ok(ok) => {
            let checked = Checked {
                line: row.line,
                iccid: ok.iccid.as_str().to_owned(),
                verdict: Ok(ok.note),
            };
            (checked, Some(ok.iccid))
        }
        Err(rejected) => {
            let checked = Checked {
                line: row.line,
                iccid: rejected.normalised.unwrap_or_else(|| raw.to_owned()),
                verdict: Err(Problem::Iccid(rejected.reason)),
            };
            (checked, None)
        }
    }
}

/// Every valid, distinct ICCID of a manifest, in file order, and how many rows
/// were skipped as invalid or duplicate. Used to stock the emulator.
pub fn valid_iccids(
    path: &Path,
    options: &ManifestOptions,
    policy: CheckDigit,
) -> Result<(Vec<String>, u64), ManifestError> {
    let mut manifest = Manifest::open(path, options)?;
    let column = manifest.iccid_column();
    let mut validator = Validator::new(policy);
    let mut rows = Vec::new();
    let (mut valid, mut skipped) = (Vec::new(), 0);
    loop {
        let n = manifest.read_chunk(&mut rows, CHUNK_ROWS)?;
        for checked in validator.check_chunk(&rows[..n], column) {
            match checked.verdict {
                Ok(_) => valid.push(checked.iccid),
                Err(_) => skipped += 1,
            }
        }
        if n < CHUNK_ROWS {
            return Ok((valid, skipped));
        }
    }
}

/// `simboard validate`, as plain settings.
#[derive(Clone, Debug)]
pub struct ValidateConfig {
    pub manifest: PathBuf,
    pub output: Output,
    pub manifest_options: ManifestOptions,
    pub check_digit: CheckDigit,
    pub quiet: bool,
}

/// Files larger than this get a progress bar (on a terminal).
const PROGRESS_MIN_BYTES: u64 = 4 * 1024 * 1024;

/// Validates a manifest and writes the result CSV. Returns the summary; the
/// caller prints it and turns it into an exit code.
pub fn validate(config: &ValidateConfig) -> Result<Summary, Fatal> {
    let started = Instant::now();
    let mut manifest = Manifest::open(&config.manifest, &config.manifest_options)
        .map_err(Fatal::before_results)?;
    let extra_columns = manifest.other_columns();
    let extra_headers: Vec<String> = extra_columns
        .iter()
        .map(|&i| manifest.headers()[i].clone())
        .collect();
    let out = results::open_output(&config.output).map_err(|err| {
        Fatal::before_results(format!(
            "cannot create the result file {}: {err}",
            config.output
        ))
    })?;
    let mut writer = ResultWriter::new(out, &extra_headers)
        .map_err(|err| Fatal::before_results(write_error(&config.output, err)))?;

    let bar = if manifest.size() >= PROGRESS_MIN_BYTES {
        progress::bytes(manifest.size(), config.quiet)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut validator = Validator::new(config.check_digit);
    let mut summary = Summary::default();
    let mut rows = Vec::new();
    let column = manifest.iccid_column();
    let mut written = 0u64;
    let partial = |written| match &config.output {
        Output::Stdout => Partial::Stdout { rows: written },
        Output::File(path) => Partial::File {
            path: path.clone(),
            rows: written,
        },
    };
    loop {
        let n = match manifest.read_chunk(&mut rows, CHUNK_ROWS) {
            Ok(n) => n,
            Err(err) => {
                let _ = writer.flush();
                return Err(Fatal::new(err.to_string(), partial(written)));
            }
        };
        let checked = validator.check_chunk(&rows[..n], column);
        let encoded = encode_chunk(&rows[..n], &checked, &extra_columns);
        for c in &checked {
            summary.record(c.outcome(), c.reason());
        }
        writer
            .write_raw(&encoded)
            .map_err(|err| Fatal::new(write_error(&config.output, err), partial(written)))?;
        written += n as u64;
        bar.set_position(manifest.bytes_read());
        if n < CHUNK_ROWS {
            break;
        }
    }
    writer
        .into_inner()
        .and_then(|mut out| out.flush())
        .map_err(|err| Fatal::new(write_error(&config.output, err), partial(written)))?;
    bar.finish_and_clear();
    summary.elapsed = started.elapsed();
    summary.notes.push(format!("results: {}", config.output));
    Ok(summary)
}

fn write_error(output: &Output, err: std::io::Error) -> String {
    format!("cannot write the results to {output}: {err}")
}

/// Encodes result rows as CSV bytes, in parallel pieces joined in order.
fn encode_chunk(rows: &[Row], checked: &[Checked], extra_columns: &[usize]) -> Vec<u8> {
    const PIECE: usize = 1024;
    let pieces: Vec<Vec<u8>> = rows
        .par_chunks(PIECE)
        .zip(checked.par_chunks(PIECE))
        .map(|(rows, checked)| {
            let mut piece = Vec::with_capacity(rows.len() * 96);
            for (row, c) in rows.iter().zip(checked) {
                let message = c.message();
                let extra = extra_columns.iter().map(|&i| row.get(i));
                let fixed = [
                    &c.iccid,
                    c.outcome().as_str(),
                    c.reason(),
                    &message,
                    "",
                    "",
                    "",
                    "",
                ];
                results::encode_row(&mut piece, c.line, fixed, extra);
            }
            piece
        })
        .collect();
    pieces.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(cells: &[&str]) -> Vec<Row> {
        cells
            .iter()
            .enumerate()
            .map(|(i, cell)| Row::new(i as u64 + 2, &[cell]))
            .collect()
    }

    #[test]
    fn duplicates_name_the_first_line_across_chunks() {
        let mut v = Validator::new(CheckDigit::Enforce);
        let first = v.check_chunk(
            &rows(&["89883070000007537119", "8988 3070 0000 0753 7119"]),
            0,
        );
        assert_eq!(first[0].verdict, Ok(None));
        assert_eq!(first[1].verdict, Err(Problem::Duplicate { first_line: 2 }));
        assert_eq!(first[1].reason(), "duplicate");
        assert!(first[1].message().contains("line 2"));
        let again = v.check_chunk(&rows(&["x", "89883070000007537119"]), 0);
        assert_eq!(again[1].verdict, Err(Problem::Duplicate { first_line: 2 }));
    }

    #[test]
    fn an_invalid_row_is_not_a_duplicate_source() {
        let mut v = Validator::new(CheckDigit::Enforce);
        let checked = v.check_chunk(&rows(&["89883070000007537118", "89883070000007537118"]), 0);
        assert!(checked.iter().all(|c| c.reason() == "invalid_check_digit"));
    }

    #[test]
    fn order_is_kept_in_large_chunks() {
        let cells: Vec<String> = (0..5000).map(|i| format!("x{i}")).collect();
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        let checked = Validator::new(CheckDigit::Enforce).check_chunk(&rows(&refs), 0);
        let lines: Vec<u64> = checked.iter().map(|c| c.line).collect();
        assert_eq!(lines, (2..5002).collect::<Vec<u64>>());
        assert_eq!(checked[4999].iccid, "x4999");
    }
}

//! The validation stage: every row's ICCID is checked in parallel (rayon), then
//! duplicates are found in manifest order, so results come out in the order of
//! the file whatever the number of threads.
//!
//! [`Validator`] is the stage itself and is shared with `simboard run`
//! ([`Validator::check_chunk`]); [`validate`] is the `simboard validate`
//! command built on it. Its hot path splits, checks and encodes the pieces of
//! each block of the file in one parallel pass, and re-encodes the rare
//! duplicates afterwards.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use crate::duplicates::Seen;
use crate::exit::{Fatal, Partial};
use crate::iccid::{self, CheckDigit, Iccid, Invalid, Note};
use crate::manifest::{Cells, Manifest, ManifestError, ManifestOptions};
use crate::progress;
use crate::results::{self, Outcome, Output, ResultWriter};
use crate::summary::Summary;

mod block;
mod rows;

pub use rows::{CheckedRows, CHUNK_BYTES, CHUNK_ROWS};

use block::Piece;

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
    pub verdict: Result<Option<Note>, Problem>,
    shown: Shown,
}

/// What the result's `iccid` column shows: the ICCID itself (inline, no
/// allocation) or, for a cell that is not one, the normalised or raw text.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Shown {
    Iccid(Iccid),
    Text(String),
}

impl Checked {
    /// The verdict on the cell `raw` of the row on `line`, from its check.
    fn new(line: u64, raw: &[u8], result: Result<iccid::Checked, iccid::Rejected>) -> Checked {
        match result {
            Ok(ok) => Checked {
                line,
                verdict: Ok(ok.note),
                shown: Shown::Iccid(ok.iccid),
            },
            Err(rejected) => Checked {
                line,
                verdict: Err(Problem::Iccid(rejected.reason)),
                shown: Shown::Text(
                    rejected
                        .normalised
                        .unwrap_or_else(|| String::from_utf8_lossy(raw).into_owned()),
                ),
            },
        }
    }

    /// The normalised ICCID where there is one, else the raw cell.
    pub fn iccid(&self) -> &str {
        match &self.shown {
            Shown::Iccid(iccid) => iccid.as_str(),
            Shown::Text(text) => text,
        }
    }

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
        self.verdict.is_ok().then(|| self.iccid())
    }

    fn parsed(&self) -> Option<&Iccid> {
        match &self.shown {
            Shown::Iccid(iccid) if self.verdict.is_ok() => Some(iccid),
            _ => None,
        }
    }
}

/// Checks rows chunk by chunk and remembers every valid ICCID seen, to find
/// duplicates. The set of seen ICCIDs is the only memory that grows with the file.
#[derive(Debug, Default)]
pub struct Validator {
    policy: CheckDigit,
    seen: Seen,
    /// The size of the file `validate` reads, in bytes (0: unknown).
    file_size: u64,
    /// Pieces to reuse, emptied.
    scratch: Vec<Piece>,
    /// Some columns are withheld (SIM secrets): a manifest line can never
    /// be copied into the results as it is.
    withholding: bool,
}

impl Validator {
    pub fn new(policy: CheckDigit) -> Self {
        Validator {
            policy,
            seen: Seen::new(),
            file_size: 0,
            scratch: Vec::new(),
            withholding: false,
        }
    }

    /// Checks `rows` in parallel, then marks duplicates in order. Rows must be
    /// given in manifest order across calls.
    pub fn check_chunk<R: Cells + Sync>(
        &mut self,
        rows: &[R],
        iccid_column: usize,
    ) -> Vec<Checked> {
        let policy = self.policy;
        let mut checked: Vec<Checked> = rows
            .par_iter()
            .with_min_len(256)
            .map(|row| check_row(row, iccid_column, policy))
            .collect();
        let keys: Vec<(usize, u64, u64)> = checked
            .iter()
            .enumerate()
            .filter_map(|(i, row)| Some((i, row.parsed()?.key(), row.line)))
            .collect();
        for (i, first_line) in self.seen.insert_all(&keys) {
            checked[i].verdict = Err(Problem::Duplicate { first_line });
        }
        checked
    }
}

/// Rows per outcome and reason.
#[derive(Debug, Default)]
struct Counts {
    valid: u64,
    reasons: Vec<(&'static str, u64)>,
}

impl Counts {
    fn add(&mut self, checked: &Checked) {
        match &checked.verdict {
            Ok(_) => self.valid += 1,
            Err(problem) => self.add_reason(problem.code(), 1),
        }
    }

    fn add_reason(&mut self, reason: &'static str, n: u64) {
        match self.reasons.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, count)) => *count += n,
            None => self.reasons.push((reason, n)),
        }
    }

    fn into_summary(self, summary: &mut Summary) {
        summary.add(Outcome::Valid, "", self.valid);
        for (reason, n) in self.reasons {
            summary.add(Outcome::Invalid, reason, n);
        }
    }
}

/// Appends one checked row to `buf`.
fn encode_checked(buf: &mut Vec<u8>, row: &impl Cells, checked: &Checked, extra_columns: &[usize]) {
    let extra = extra_columns.iter().map(|&i| row.get_bytes(i));
    if checked.verdict == Ok(None) {
        results::encode_valid_row(buf, checked.line, checked.iccid(), extra);
        return;
    }
    let message = checked.message();
    let fixed = [
        checked.iccid(),
        checked.outcome().as_str(),
        checked.reason(),
        &message,
        "",
        "",
        "",
        "",
    ];
    results::encode_row(buf, checked.line, fixed, extra);
}

fn check_row(row: &impl Cells, iccid_column: usize, policy: CheckDigit) -> Checked {
    let raw = row.get_bytes(iccid_column);
    if row.stored_as_number(iccid_column) {
        let rejected = iccid::Rejected {
            reason: Invalid::StoredAsNumber,
            normalised: None,
        };
        return Checked::new(row.line(), raw, Err(rejected));
    }
    Checked::new(row.line(), raw, iccid::check_bytes(raw, policy))
}

/// Every valid, distinct ICCID of a manifest, in file order, and how many rows
/// were skipped as invalid or duplicate. Used to stock the emulator.
pub fn valid_iccids(
    path: &Path,
    options: &ManifestOptions,
    policy: CheckDigit,
) -> Result<(Vec<String>, u64), ManifestError> {
    let mut manifest = Manifest::open(path, options)?;
    let mut rows = CheckedRows::new(&mut manifest, policy);
    let (mut valid, mut skipped) = (Vec::new(), 0);
    while let Some((_, checked)) = rows.next_chunk()? {
        for checked in checked {
            match checked.valid_iccid() {
                Some(iccid) => valid.push(iccid.to_owned()),
                None => skipped += 1,
            }
        }
    }
    Ok((valid, skipped))
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
///
/// One thread reads blocks of whole records, rayon splits, checks and
/// encodes the pieces of the block before, and one more thread writes the
/// block before that. Reading, finding where records end, putting the
/// duplicates in order and writing are all that is left to one thread
/// alone, so both cores of a small machine stay busy.
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
    let writer = ResultWriter::new(out, &extra_headers)
        .map_err(|err| Fatal::before_results(write_error(&config.output, err)))?;

    let size = manifest.size();
    let bar = if size >= PROGRESS_MIN_BYTES {
        progress::bytes(size, config.quiet)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut validator = Validator::new(config.check_digit);
    validator.file_size = size;
    validator.withholding = !manifest.withheld().is_empty();
    let mut summary = Summary::default();
    let partial = |written| match &config.output {
        Output::Stdout => Partial::Stdout { rows: written },
        Output::File(path) => Partial::File {
            path: path.clone(),
            rows: written,
        },
    };
    let mut stage = Stage {
        validator: &mut validator,
        extra_columns: &extra_columns,
        summary: &mut summary,
        bar: &bar,
    };
    let (read_result, written, write_result) = if manifest.is_workbook() {
        stage.rows(&mut manifest, writer)
    } else {
        stage.blocks(&mut manifest, writer, &config.manifest)
    };
    write_result.map_err(|err| Fatal::new(write_error(&config.output, err), partial(written)))?;
    read_result.map_err(|err| Fatal::new(err.to_string(), partial(written)))?;
    bar.finish_and_clear();
    summary.elapsed = started.elapsed();
    summary.notes.extend(manifest.notes());
    summary.notes.push(format!("results: {}", config.output));
    Ok(summary)
}

/// Where `validate` puts what it checks: shared by the block path (CSV,
/// converted or not) and the row path (workbooks).
struct Stage<'a> {
    validator: &'a mut Validator,
    extra_columns: &'a [usize],
    summary: &'a mut Summary,
    bar: &'a indicatif::ProgressBar,
}

/// What reading and writing came to: the read's result, the rows written
/// and the write's result.
type Ended = (Result<(), ManifestError>, u64, std::io::Result<()>);

impl Stage<'_> {
    /// The row path, for a workbook: its rows come one at a time from the
    /// sheet already in memory, and are checked a chunk at a time, as in `run`.
    fn rows<W: Write>(&mut self, manifest: &mut Manifest, mut writer: ResultWriter<W>) -> Ended {
        let mut rows = CheckedRows::new(manifest, self.validator.policy);
        let (mut buf, mut written) = (Vec::new(), 0u64);
        let mut counts = Counts::default();
        let read_result = loop {
            let (chunk, checked) = match rows.next_chunk() {
                Ok(Some(next)) => next,
                Ok(None) => break Ok(()),
                Err(err) => break Err(err),
            };
            buf.clear();
            for (row, checked) in chunk.iter().zip(&checked) {
                counts.add(checked);
                encode_checked(&mut buf, row, checked, self.extra_columns);
            }
            if let Err(err) = writer.write_raw(&buf) {
                counts.into_summary(self.summary);
                return (Ok(()), written, Err(err));
            }
            written += chunk.len() as u64;
        };
        counts.into_summary(self.summary);
        let flushed = writer.into_inner().and_then(|mut out| out.flush());
        (read_result, written, flushed)
    }
}

fn write_error(output: &Output, err: std::io::Error) -> String {
    format!("cannot write the results to {output}: {err}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Row;

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
        assert_eq!(checked[4999].iccid(), "x4999");
    }
}

//! The validation stage: every row's ICCID is checked in parallel (rayon), then
//! duplicates are found in manifest order, so results come out in the order of
//! the file whatever the number of threads.
//!
//! [`Validator`] is the stage itself and is shared with `simboard run`
//! ([`Validator::check_chunk`]); [`validate`] is the `simboard validate`
//! command built on it. Its hot path decodes, checks and encodes each chunk
//! in one parallel pass and re-encodes the rare duplicates afterwards.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel};
use std::time::Instant;

use rayon::prelude::*;

use crate::duplicates::Seen;
use crate::exit::{Fatal, Partial};
use crate::iccid::{self, CheckDigit, Iccid, Invalid, Note};
use crate::manifest::{Cells, Decoded, Manifest, ManifestError, ManifestOptions, RawChunk};
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
    /// How many records `validate` expects in all (0: unknown).
    expected_records: usize,
}

impl Validator {
    pub fn new(policy: CheckDigit) -> Self {
        Validator {
            policy,
            seen: Seen::new(),
            expected_records: 0,
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

/// Rows encoded per parallel piece of a chunk.
const PIECE_ROWS: usize = 1024;

/// One piece of a chunk, checked and encoded in one pass.
#[derive(Default)]
struct Piece {
    bytes: Vec<u8>,
    /// Each row's record index in the chunk, and where its encoding starts.
    starts: Vec<(usize, usize)>,
    /// The line of a record that is not UTF-8, where this piece stopped.
    not_utf8: Option<u64>,
    /// `(row index in the chunk, key, line)` of each valid row.
    keys: Vec<(usize, u64, u64)>,
    counts: Counts,
}

/// Rows per outcome and reason.
#[derive(Default)]
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

impl Validator {
    /// `validate`'s hot path: decodes, checks and encodes the records of a
    /// chunk in one parallel pass, as if no row were a duplicate, then finds
    /// the duplicates in order and re-encodes just those rows. Duplicates are
    /// rare, so each row is read once instead of once per stage.
    ///
    /// Returns the encoded pieces, in order, with the rows they hold. On text
    /// that is not UTF-8 they hold every row before it, and the error names it.
    fn check_and_encode(
        &mut self,
        chunk: &RawChunk,
        iccid_column: usize,
        extra_columns: &[usize],
        summary: &mut Summary,
    ) -> (Vec<Vec<u8>>, u64, Option<u64>) {
        let policy = self.policy;
        let records = chunk.records_read();
        let mut pieces: Vec<Piece> = (0..records.div_ceil(PIECE_ROWS))
            .into_par_iter()
            .map(|p| {
                let range = p * PIECE_ROWS..((p + 1) * PIECE_ROWS).min(records);
                let mut piece = Piece {
                    bytes: Vec::with_capacity(range.len() * 160),
                    ..Piece::default()
                };
                for index in range {
                    let row = match chunk.decode(index) {
                        Decoded::Row(row) => row,
                        Decoded::Blank => continue,
                        Decoded::NotUtf8 { line } => {
                            piece.not_utf8 = Some(line);
                            break;
                        }
                    };
                    let checked = check_row(&row, iccid_column, policy);
                    piece.starts.push((index, piece.bytes.len()));
                    encode_checked(&mut piece.bytes, &row, &checked, extra_columns);
                    if let Some(iccid) = checked.parsed() {
                        piece.keys.push((index, iccid.key(), checked.line));
                    }
                    piece.counts.add(&checked);
                }
                piece
            })
            .collect();
        // Nothing after text that is not UTF-8 counts: reading stops there.
        let not_utf8 = pieces.iter().position(|p| p.not_utf8.is_some());
        if let Some(bad) = not_utf8 {
            pieces.truncate(bad + 1);
        }
        let keys: Vec<(usize, u64, u64)> =
            pieces.iter().flat_map(|p| p.keys.iter().copied()).collect();
        if self.seen.is_empty() && records > 0 {
            // Size the set once for the valid ICCIDs the file is likely to
            // hold, rather than growing it step by step: a file of junk
            // reserves nothing.
            let share = keys.len() as f64 / records as f64;
            self.seen
                .reserve((self.expected_records as f64 * share) as usize);
        }
        let repeats = self.seen.insert_all(&keys);
        let mut counts = Counts::default();
        let mut rows = 0;
        for piece in &mut pieces {
            let piece_counts = std::mem::take(&mut piece.counts);
            counts.valid += piece_counts.valid;
            for (reason, n) in piece_counts.reasons {
                counts.add_reason(reason, n);
            }
            rows += piece.starts.len() as u64;
        }
        counts.valid -= repeats.len() as u64;
        if !repeats.is_empty() {
            counts.add_reason("duplicate", repeats.len() as u64);
        }
        counts.into_summary(summary);
        for (index, first_line) in repeats {
            let Decoded::Row(row) = chunk.decode(index) else {
                continue; // cannot happen: only rows have keys
            };
            let mut checked = check_row(&row, iccid_column, policy);
            checked.verdict = Err(Problem::Duplicate { first_line });
            let piece = &mut pieces[index / PIECE_ROWS];
            piece.reencode(index, |buf| {
                encode_checked(buf, &row, &checked, extra_columns)
            });
        }
        let not_utf8 = not_utf8.and_then(|p| pieces[p].not_utf8);
        let bytes = pieces.into_iter().map(|piece| piece.bytes).collect();
        (bytes, rows, not_utf8)
    }
}

impl Piece {
    /// Replaces the encoding of record `index` with what `encode` writes.
    fn reencode(&mut self, index: usize, encode: impl FnOnce(&mut Vec<u8>)) {
        let Ok(at) = self.starts.binary_search_by_key(&index, |&(i, _)| i) else {
            return;
        };
        let start = self.starts[at].1;
        let end = self
            .starts
            .get(at + 1)
            .map_or(self.bytes.len(), |&(_, s)| s);
        let mut again = Vec::new();
        encode(&mut again);
        let grown = again.len() as isize - (end - start) as isize;
        self.bytes.splice(start..end, again);
        for (_, later) in &mut self.starts[at + 1..] {
            *later = (*later as isize + grown) as usize;
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
    let raw = row.get(iccid_column);
    match iccid::check(raw, policy) {
        Ok(ok) => Checked {
            line: row.line(),
            verdict: Ok(ok.note),
            shown: Shown::Iccid(ok.iccid),
        },
        Err(rejected) => Checked {
            line: row.line(),
            verdict: Err(Problem::Iccid(rejected.reason)),
            shown: Shown::Text(rejected.normalised.unwrap_or_else(|| raw.to_owned())),
        },
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
            match checked.valid_iccid() {
                Some(iccid) => valid.push(iccid.to_owned()),
                None => skipped += 1,
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
///
/// One thread reads the file while the rest check and encode the previous
/// chunk, so the two cores of a small machine are both busy.
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

    let size = manifest.size();
    let bar = if size >= PROGRESS_MIN_BYTES {
        progress::bytes(size, config.quiet)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let column = manifest.iccid_column();
    let mut validator = Validator::new(config.check_digit);
    let mut summary = Summary::default();
    let partial = |written| match &config.output {
        Output::Stdout => Partial::Stdout { rows: written },
        Output::File(path) => Partial::File {
            path: path.clone(),
            rows: written,
        },
    };

    // Three stages, each on its own thread, so reading, checking and writing
    // overlap: reader → (this thread, fanning out to rayon) → writer.
    let (read_result, written, write_result) = std::thread::scope(|scope| {
        // A fixed set of chunks travels reader → here in `full`, and back empty
        // in `empty`, so their rows' allocations are reused for the whole file
        // and the reader is never more than a few chunks ahead.
        const CHUNKS: usize = 3;
        let (full_tx, full) = sync_channel::<Result<RawChunk, ManifestError>>(CHUNKS);
        let (empty, empty_rx) = channel::<RawChunk>();
        for _ in 0..CHUNKS {
            let _ = empty.send(RawChunk::default());
        }
        let reader = &mut manifest;
        scope.spawn(move || {
            while let Ok(mut chunk) = empty_rx.recv() {
                let read = reader
                    .read_raw_chunk(&mut chunk, CHUNK_ROWS)
                    .map(|()| chunk);
                let last = !matches!(&read, Ok(chunk) if chunk.records_read() >= CHUNK_ROWS);
                if full_tx.send(read).is_err() || last {
                    return;
                }
            }
        });

        let (encoded_tx, encoded_rx) = sync_channel::<(Vec<Vec<u8>>, u64)>(2);
        let writing = scope.spawn(move || {
            let mut written = 0u64;
            for (pieces, rows) in encoded_rx {
                for piece in &pieces {
                    if let Err(err) = writer.write_raw(piece) {
                        return (written, Err(err));
                    }
                }
                written += rows;
            }
            // Whatever happened upstream, what was written reaches the file.
            (written, writer.into_inner().and_then(|mut out| out.flush()))
        });

        let mut read_result = Ok(());
        for read in full {
            let chunk = match read {
                Ok(chunk) => chunk,
                Err(err) => {
                    read_result = Err(err);
                    break;
                }
            };
            if summary.rows() == 0 && chunk.bytes_read() > 0 {
                // How many records the whole file holds, judged from the
                // first chunk; `check_and_encode` sizes the duplicate set from it.
                let estimate =
                    size as f64 * chunk.records_read() as f64 / chunk.bytes_read() as f64;
                validator.expected_records = estimate.min(1e9) as usize;
            }
            let (encoded, rows, not_utf8) =
                validator.check_and_encode(&chunk, column, &extra_columns, &mut summary);
            let sent = encoded_tx.send((encoded, rows));
            if let Some(line) = not_utf8 {
                read_result = Err(ManifestError::NotUtf8 {
                    path: config.manifest.clone(),
                    line,
                });
                break;
            }
            if sent.is_err() {
                break; // the writer failed; it reports why
            }
            bar.set_position(chunk.bytes_read());
            let _ = empty.send(chunk);
        }
        drop(encoded_tx);
        let (written, write_result) = writing.join().expect("the writer thread does not panic");
        (read_result, written, write_result)
    });
    write_result.map_err(|err| Fatal::new(write_error(&config.output, err), partial(written)))?;
    read_result.map_err(|err| Fatal::new(err.to_string(), partial(written)))?;
    bar.finish_and_clear();
    summary.elapsed = started.elapsed();
    summary.notes.push(format!("results: {}", config.output));
    Ok(summary)
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

    proptest::proptest! {
        /// The path `validate` takes (raw chunks decoded in parallel, then
        /// checked) never panics, whatever the bytes.
        #[test]
        fn arbitrary_bytes_through_the_chunk_path_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            chunk in 1usize..8,
        ) {
            let path = Path::new("arbitrary.csv");
            let input = Box::new(std::io::Cursor::new(bytes.clone()));
            let options = ManifestOptions::default();
            if let Ok(mut m) = Manifest::from_reader(path, input, bytes.len() as u64, &options) {
                let column = m.iccid_column();
                let mut validator = Validator::new(CheckDigit::Enforce);
                let mut raw = RawChunk::default();
                while m.read_raw_chunk(&mut raw, chunk).is_ok() {
                    let mut summary = Summary::default();
                    let (_, _, not_utf8) =
                        validator.check_and_encode(&raw, column, &m.other_columns(), &mut summary);
                    if not_utf8.is_some() || raw.records_read() < chunk {
                        break;
                    }
                }
            }
        }
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

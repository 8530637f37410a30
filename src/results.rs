//! The result CSV: one row per manifest row, saying what happened and why.
//!
//! The columns are fixed ([`COLUMNS`]) and followed by the manifest's other
//! columns, unchanged. Every cell that a spreadsheet would run as a formula is
//! neutralised on the way out, because users open this file in one.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The fixed leading columns of every result CSV, in order.
pub const COLUMNS: [&str; 9] = [
    "line",
    "iccid",
    "outcome",
    "reason",
    "message",
    "sim_id",
    "plan_id",
    "user_id",
    "subscription_id",
];

/// What happened to one manifest row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// `validate`: the ICCID is well formed.
    Valid,
    /// The ICCID is not usable; `reason` says why. Costs no API call.
    Invalid,
    /// `run`: a subscription was created for this SIM.
    Onboarded,
    /// `run`: the SIM already had the subscription this row asks for.
    AlreadyOnboarded,
    /// `run --dry-run`: everything checks out; nothing was created.
    WouldOnboard,
    /// `run`: the row could not be onboarded; `reason` says why.
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Valid,
        Outcome::Invalid,
        Outcome::Onboarded,
        Outcome::AlreadyOnboarded,
        Outcome::WouldOnboard,
        Outcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Valid => "valid",
            Outcome::Invalid => "invalid",
            Outcome::Onboarded => "onboarded",
            Outcome::AlreadyOnboarded => "already_onboarded",
            Outcome::WouldOnboard => "would_onboard",
            Outcome::Failed => "failed",
        }
    }

    /// True for the outcomes that leave the exit code at 0.
    pub fn is_success(self) -> bool {
        !matches!(self, Outcome::Invalid | Outcome::Failed)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown outcome {s:?}"))
    }
}

/// One row of the result CSV, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultRow {
    pub line: u64,
    /// The normalised ICCID where there is one, else the raw cell.
    pub iccid: String,
    pub outcome: Outcome,
    /// The snake_case reason code; empty for a success without remarks.
    pub reason: String,
    pub message: String,
    pub sim_id: String,
    pub plan_id: String,
    pub user_id: String,
    pub subscription_id: String,
    /// The manifest's other columns, unchanged.
    pub extra: Vec<String>,
}

impl ResultRow {
    /// The fixed columns after `line`, in [`COLUMNS`] order.
    pub fn fixed_cells(&self) -> [&str; 8] {
        [
            &self.iccid,
            self.outcome.as_str(),
            &self.reason,
            &self.message,
            &self.sim_id,
            &self.plan_id,
            &self.user_id,
            &self.subscription_id,
        ]
    }

    /// A row with the given outcome and every other cell empty.
    pub fn new(line: u64, iccid: impl Into<String>, outcome: Outcome) -> Self {
        ResultRow {
            line,
            iccid: iccid.into(),
            outcome,
            reason: String::new(),
            message: String::new(),
            sim_id: String::new(),
            plan_id: String::new(),
            user_id: String::new(),
            subscription_id: String::new(),
            extra: Vec::new(),
        }
    }
}

/// Makes a cell inert in a spreadsheet: one that starts like a formula gets a
/// leading `'`. Applying it twice changes nothing more.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(&b) if is_formula_start(b) => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// A fingerprint of the cells a result row carries from its manifest row,
/// with their headers: equal for equal cells, whether taken from the
/// manifest or read back from a result file (both are encoded as the result
/// file writes them, neutralised). `scratch` is reused between rows.
pub fn fingerprint<'a>(
    headers: impl IntoIterator<Item = &'a [u8]>,
    cells: impl IntoIterator<Item = &'a [u8]>,
    scratch: &mut Vec<u8>,
) -> u64 {
    use std::hash::Hasher;
    scratch.clear();
    end_row(scratch, headers);
    end_row(scratch, cells);
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(scratch);
    hasher.finish()
}

/// Appends one CSV row to `buf`: the line number, the eight other fixed
/// columns, then the extra columns. Every cell is neutralised, and quoted only
/// when it must be.
pub fn encode_row<'a>(
    buf: &mut Vec<u8>,
    line: u64,
    fixed: [&str; 8],
    extra: impl IntoIterator<Item = &'a [u8]>,
) {
    push_number(buf, line);
    for cell in fixed {
        buf.push(b',');
        push_cell(buf, cell.as_bytes());
    }
    end_row(buf, extra);
}

/// Appends the extra columns and the line end to a row whose fixed cells are
/// already in `buf` (see [`encode_row`]).
pub fn end_row<'a>(buf: &mut Vec<u8>, extra: impl IntoIterator<Item = &'a [u8]>) {
    for cell in extra {
        buf.push(b',');
        push_cell(buf, cell);
    }
    buf.push(b'\n');
}

/// Appends the commonest row of `validate`: a valid ICCID with no message.
/// Its fixed cells are digits and fixed words, which can need neither quotes
/// nor neutralising, so they are written as they are.
pub fn encode_valid_row<'a>(
    buf: &mut Vec<u8>,
    line: u64,
    iccid: &str,
    extra: impl IntoIterator<Item = &'a [u8]>,
) {
    debug_assert!(iccid.bytes().all(|b| b.is_ascii_digit()));
    push_number(buf, line);
    buf.push(b',');
    buf.extend_from_slice(iccid.as_bytes());
    buf.extend_from_slice(b",valid,,,,,,");
    for cell in extra {
        buf.push(b',');
        push_cell(buf, cell);
    }
    buf.push(b'\n');
}

/// Appends the commonest row of `validate` from a comma-delimited manifest:
/// a valid ICCID with no message, whose other columns are still as the
/// manifest line holds them, commas between (`others`: two stretches of the
/// line to be joined, each starting at a cell). The cells must need neither
/// quotes nor neutralising (see `manifest::RowRef::plain_others`); they are
/// then written exactly as they are, in one copy.
pub fn encode_valid_line(buf: &mut Vec<u8>, line: u64, iccid: &[u8], others: [&[u8]; 2]) {
    debug_assert!(others.iter().all(|part| plain_cells(part)), "{others:?}");
    const FIXED: &[u8; 13] = b",valid,,,,,,,";
    // The line, the ICCID and the fixed cells are put together here and
    // copied once: a row is short enough that each copy's call costs more
    // than its bytes.
    let mut head = [0u8; 20 + 1 + 20 + FIXED.len()];
    let start = number_into(line, &mut head);
    head[20] = b',';
    let copied = if let Ok(twenty) = <&[u8; 20]>::try_from(iccid) {
        head[21..41].copy_from_slice(twenty);
        Some(41)
    } else if let Ok(nineteen) = <&[u8; 19]>::try_from(iccid) {
        head[21..40].copy_from_slice(nineteen);
        Some(40)
    } else {
        None
    };
    if let Some(end) = copied {
        head[end..end + FIXED.len()].copy_from_slice(FIXED);
        buf.extend_from_slice(&head[start..end + FIXED.len()]);
    } else {
        // Not an ICCID's length, which `validate` never passes.
        buf.extend_from_slice(&head[start..21]);
        buf.extend_from_slice(iccid);
        buf.extend_from_slice(FIXED);
    }
    for part in others {
        if !part.is_empty() {
            buf.extend_from_slice(part);
        }
    }
    buf.push(b'\n');
}

/// True when the comma-separated cells of `text` (which starts at a cell)
/// need neither quotes nor neutralising.
fn plain_cells(text: &[u8]) -> bool {
    text.split(|&b| b == b',')
        .all(|cell| !needs_quotes(cell) && !cell.first().is_some_and(|&b| is_formula_start(b)))
}

/// True for a byte that makes a cell a formula when it starts it.
pub fn is_formula_start(b: u8) -> bool {
    matches!(b, b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
}

fn push_number(buf: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let start = number_into(n, &mut digits);
    buf.extend_from_slice(&digits[start..]);
}

/// Writes `n` in decimal at the end of the first 20 bytes of `out` and
/// returns where its digits start.
fn number_into(mut n: u64, out: &mut [u8]) -> usize {
    // Two digits a step, from a table of "00" to "99".
    const PAIRS: [[u8; 2]; 100] = {
        let mut pairs = [[0; 2]; 100];
        let mut i = 0;
        while i < 100 {
            pairs[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
            i += 1;
        }
        pairs
    };
    let digits = &mut out[..20];
    let mut start = digits.len();
    while n >= 100 {
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[(n % 100) as usize]);
        n /= 100;
    }
    if n >= 10 {
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[n as usize]);
    } else {
        start -= 1;
        digits[start] = b'0' + n as u8;
    }
    start
}

/// True when a cell holds a comma, a quote or a line end. Looks at eight
/// bytes at a time: this runs for every cell of a million-row result file.
fn needs_quotes(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Non-zero when some byte of `word` equals `byte` (the classic zero-byte test).
    let has = |word: u64, byte: u8| {
        let x = word ^ (ONES * u64::from(byte));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let w = u64::from_le_bytes(eight);
        if has(w, b',') | has(w, b'"') | has(w, b'\n') | has(w, b'\r') != 0 {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

fn push_cell(buf: &mut Vec<u8>, bytes: &[u8]) {
    let formula = bytes.first().is_some_and(|&b| is_formula_start(b));
    let needs_quotes = needs_quotes(bytes);
    if !needs_quotes {
        if formula {
            buf.push(b'\'');
        }
        buf.extend_from_slice(bytes);
        return;
    }
    buf.push(b'"');
    if formula {
        buf.push(b'\'');
    }
    for &b in bytes {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    buf.push(b'"');
}

/// Writes result rows as CSV to any writer (give it a buffered one).
pub struct ResultWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> ResultWriter<W> {
    /// Starts a result CSV: writes the header, with `extra_headers` after [`COLUMNS`].
    pub fn new(out: W, extra_headers: &[String]) -> io::Result<Self> {
        let mut writer = ResultWriter {
            out,
            buf: Vec::with_capacity(512),
        };
        let mut cells = COLUMNS
            .iter()
            .copied()
            .chain(extra_headers.iter().map(String::as_str));
        if let Some(first) = cells.next() {
            push_cell(&mut writer.buf, first.as_bytes());
        }
        for cell in cells {
            writer.buf.push(b',');
            push_cell(&mut writer.buf, cell.as_bytes());
        }
        writer.buf.push(b'\n');
        writer.flush_buf()?;
        Ok(writer)
    }

    /// Appends rows already encoded with [`encode_row`].
    pub fn write_raw(&mut self, encoded: &[u8]) -> io::Result<()> {
        self.out.write_all(encoded)
    }

    pub fn write(&mut self, row: &ResultRow) -> io::Result<()> {
        let extra = row.extra.iter().map(String::as_bytes);
        encode_row(&mut self.buf, row.line, row.fixed_cells(), extra);
        self.flush_buf()
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        let result = self.out.write_all(&self.buf);
        self.buf.clear();
        result
    }

    /// Flushes the underlying writer, so that what was written survives a crash.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and hands back the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Where results go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Stdout,
    File(PathBuf),
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Stdout => f.write_str("standard output"),
            Output::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// `<manifest stem>.results.csv`, beside the manifest.
pub fn default_output(manifest: &Path) -> PathBuf {
    let stem = manifest
        .file_stem()
        .map_or_else(|| "manifest".into(), |s| s.to_string_lossy().into_owned());
    manifest.with_file_name(format!("{stem}.results.csv"))
}

/// `-o` names the manifest itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing to write results over the manifest {} itself; choose another file with -o",
    .0.display()
)]
pub struct OverManifest(pub PathBuf);

/// Turns `-o` into an [`Output`]: `-` is stdout, nothing is the default file.
/// Refuses to write over the manifest itself.
pub fn resolve_output(manifest: &Path, flag: Option<&Path>) -> Result<Output, OverManifest> {
    let path = match flag {
        Some(p) if p == Path::new("-") => return Ok(Output::Stdout),
        Some(p) => p.to_owned(),
        None => default_output(manifest),
    };
    if same_file(manifest, &path) {
        return Err(OverManifest(manifest.to_owned()));
    }
    Ok(Output::File(path))
}

fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(ca), Ok(cb)) => ca == cb,
        _ => a == b,
    }
}

/// The result file's buffer. `validate` writes pieces larger than this, which
/// then go straight to the file instead of being copied through the buffer.
const OUTPUT_BUFFER: usize = 64 * 1024;

/// Creates the result file (or takes stdout) as a buffered writer.
pub fn open_output(output: &Output) -> io::Result<Box<dyn Write + Send>> {
    Ok(match output {
        Output::Stdout => Box::new(io::BufWriter::with_capacity(OUTPUT_BUFFER, io::stdout())),
        Output::File(path) => Box::new(io::BufWriter::with_capacity(
            OUTPUT_BUFFER,
            File::create(path)?,
        )),
    })
}

/// Reads a result CSV back (for `--resume`): the rows and the extra headers.
/// See [`read_results_each`].
pub fn read_results(path: &Path) -> io::Result<(Vec<String>, Vec<ResultRow>)> {
    let mut rows = Vec::new();
    let end = read_results_each(path, |row| rows.push(row))?;
    Ok((end.extra_headers, rows))
}

/// The extra headers of a result CSV (after [`COLUMNS`]); none for an empty
/// file. Reads only the header row.
pub fn read_extra_headers(path: &Path) -> io::Result<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(File::open(path)?);
    let mut record = csv::StringRecord::new();
    if !reader.read_record(&mut record).map_err(csv_to_io)? {
        return Ok(Vec::new());
    }
    Ok(record
        .iter()
        .skip(COLUMNS.len())
        .map(str::to_owned)
        .collect())
}

/// What [`read_results_each`] found besides the rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadEnd {
    pub extra_headers: Vec<String>,
    /// The length of the file up to the end of its last complete row (or of
    /// its header; 0 for an empty file). A journal is cut back to this before
    /// rows are appended, so that a torn row cannot swallow the next ones.
    pub complete_len: u64,
}

/// Reads a result CSV (or a journal) row by row, without holding it in
/// memory, for `--resume`. Rows whose line or outcome does not parse are
/// skipped; so is a last row that is not complete (no line end outside
/// quotes): a row torn by a killed process is simply run again.
pub fn read_results_each(path: &Path, mut each: impl FnMut(ResultRow)) -> io::Result<ReadEnd> {
    let not_results = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a simboard result file", path.display()),
        )
    };
    let file = File::open(path)?;
    if file.metadata()?.len() == 0 {
        // Created by a run killed before it wrote the header.
        return Ok(ReadEnd {
            extra_headers: Vec::new(),
            complete_len: 0,
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(file);
    let mut record = csv::ByteRecord::new();
    if !reader.read_byte_record(&mut record).map_err(csv_to_io)? {
        return Err(not_results());
    }
    let headers = csv::StringRecord::from_byte_record(record.clone()).map_err(|_| not_results())?;
    let fixed: Vec<&str> = headers.iter().take(COLUMNS.len()).collect();
    if fixed != COLUMNS {
        return Err(not_results());
    }
    let extra_headers = headers
        .iter()
        .skip(COLUMNS.len())
        .map(str::to_owned)
        .collect();
    let mut complete_len = reader.position().byte();
    // A row is given once the next one has parsed (then it surely ended), or
    // at the end of the file once its bytes show that it is complete.
    let mut pending: Option<(ResultRow, u64, u64)> = None;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) if err.is_io_error() => return Err(csv_to_io(err)),
            Err(_) => continue,
        }
        let start = record.position().map_or(complete_len, |p| p.byte());
        let end = reader.position().byte();
        let Some(row) = parse_row(&record) else {
            continue;
        };
        if let Some((row, _, end)) = pending.replace((row, start, end)) {
            complete_len = end;
            each(row);
        }
    }
    if let Some((row, start, end)) = pending {
        if is_complete(path, start, end)? {
            complete_len = end;
            each(row);
        }
    }
    Ok(ReadEnd {
        extra_headers,
        complete_len,
    })
}

fn parse_row(record: &csv::ByteRecord) -> Option<ResultRow> {
    let record = csv::StringRecord::from_byte_record(record.clone()).ok()?;
    let cell = |i: usize| record.get(i).unwrap_or("").to_owned();
    let line = record.get(0)?.parse::<u64>().ok()?;
    let outcome = record.get(2)?.parse::<Outcome>().ok()?;
    Some(ResultRow {
        line,
        iccid: cell(1),
        outcome,
        reason: cell(3),
        message: cell(4),
        sim_id: cell(5),
        plan_id: cell(6),
        user_id: cell(7),
        subscription_id: cell(8),
        extra: record
            .iter()
            .skip(COLUMNS.len())
            .map(str::to_owned)
            .collect(),
    })
}

/// True when the bytes `start..end` of the file end a row: a line end outside
/// quotes. The csv reader ends a row at the end of the file even inside an
/// open quote, so it cannot tell by itself. Every quote simboard writes comes
/// in pairs (`"cell"`, `""` inside), so the quotes of a complete row are even.
fn is_complete(path: &Path, start: u64, end: u64) -> io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(end.saturating_sub(start))
        .read_to_end(&mut bytes)?;
    let quotes = bytes.iter().filter(|&&b| b == b'"').count();
    Ok(bytes.last() == Some(&b'\n') && quotes % 2 == 0)
}

fn csv_to_io(err: csv::Error) -> io::Error {
    match err.into_kind() {
        csv::ErrorKind::Io(err) => err,
        other => io::Error::new(io::ErrorKind::InvalidData, format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_exactly_the_cells_that_need_them() {
        for (cell, quoted) in [
            ("plain text cell", false),
            ("a,b", true),
            ("12345678,", true),
            ("say \"hi\"", true),
            ("two\nlines", true),
            ("ends with cr\r", true),
            ("ünïcödé bytes ≥ 0x80", false),
            ("", false),
        ] {
            assert_eq!(needs_quotes(cell.as_bytes()), quoted, "{cell:?}");
        }
    }

    #[test]
    fn the_fast_valid_row_matches_the_general_one() {
        let extra: [&[u8]; 3] = [b"dev 1", b"=x", b"a,b"];
        let mut fast = Vec::new();
        encode_valid_row(&mut fast, 7, "89883070000007537119", extra);
        let mut general = Vec::new();
        let fixed = ["89883070000007537119", "valid", "", "", "", "", "", ""];
        encode_row(&mut general, 7, fixed, extra);
        assert_eq!(
            String::from_utf8(fast).unwrap(),
            String::from_utf8(general).unwrap()
        );
    }

    proptest::proptest! {
        /// Plain cells copied from a line in one go come out exactly as
        /// cell-by-cell encoding writes them.
        #[test]
        fn cells_copied_from_a_line_match_the_general_encoding(
            text in "[a-c0-9 ,=+@-]{0,40}",
            split in 0usize..41,
            line in proptest::prelude::any::<u64>(),
            iccid in "[0-9]{18,21}",
        ) {
            // Both stretches must start at a cell: cut after a comma, or at an end.
            let cuts: Vec<usize> = std::iter::once(0)
                .chain(text.match_indices(',').map(|(i, _)| i + 1))
                .chain(std::iter::once(text.len()))
                .collect();
            let (a, b) = text.as_bytes().split_at(cuts[split % cuts.len()]);
            let joined = [a, b].concat();
            let cells: Vec<&[u8]> = joined.split(|&c| c == b',').collect();
            proptest::prop_assume!(plain_cells(&joined));
            let mut fast = Vec::new();
            encode_valid_line(&mut fast, line, iccid.as_bytes(), [a, b]);
            let mut general = Vec::new();
            encode_valid_row(&mut general, line, &iccid, cells.iter().copied());
            proptest::prop_assert_eq!(fast, general);
        }
    }

    #[test]
    fn formulas_are_neutralised_once() {
        for cell in ["=1+1", "+44", "-3", "@SUM(A1)"] {
            let once = neutralise(cell);
            assert_eq!(once, format!("'{cell}"));
            assert_eq!(neutralise(&once), once);
        }
        assert_eq!(neutralise("89883070000007537119"), "89883070000007537119");
    }

    #[test]
    fn writes_header_and_rows_and_reads_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut w = ResultWriter::new(File::create(&path).unwrap(), &["device".into()]).unwrap();
        let row = ResultRow {
            message: "a, \"quoted\" message".into(),
            extra: vec!["=cmd".into()],
            ..ResultRow::new(2, "89883070000007537119", Outcome::Valid)
        };
        w.write(&row).unwrap();
        w.into_inner().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(
            "line,iccid,outcome,reason,message,sim_id,plan_id,user_id,subscription_id,device\n"
        ));
        assert!(text.contains(",'=cmd\n"), "{text}");
        let (extra, rows) = read_results(&path).unwrap();
        assert_eq!(extra, ["device"]);
        assert_eq!(rows[0].message, row.message);
        assert_eq!(rows[0].outcome, Outcome::Valid);
    }

    #[test]
    fn the_default_output_sits_beside_the_manifest() {
        let out = default_output(Path::new("/in/acme.2026.csv"));
        assert_eq!(out, Path::new("/in/acme.2026.results.csv"));
    }

    #[test]
    fn refuses_to_overwrite_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("m.csv");
        std::fs::write(&manifest, "iccid\n").unwrap();
        let err = resolve_output(&manifest, Some(&manifest)).unwrap_err();
        assert!(err.to_string().contains("refusing"));
        let dotted = dir.path().join(".").join("m.csv");
        assert!(resolve_output(&manifest, Some(&dotted)).is_err());
        assert_eq!(
            resolve_output(&manifest, Some(Path::new("-"))),
            Ok(Output::Stdout)
        );
    }
}

//! Reading supplier manifests, as a stream, the way suppliers really send them.
//!
//! A manifest is a CSV of ICCIDs, usually exported from a spreadsheet. Nothing
//! about it is configured: the delimiter (comma, semicolon or tab) is sniffed
//! from the first line, a UTF-8 BOM is dropped, and the ICCID column is found
//! among header aliases — or the file is taken as a bare list when its first
//! line is already an ICCID. Blank lines are not rows. Every [`Row`] keeps the
//! line number an editor shows, so results can point back at the file.
//!
//! Problems that make the whole file unusable are a [`ManifestError`], whose
//! message names the file and says what to do.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use csv::ByteRecord;

/// The header names (compared after [`header_key`]) taken to mean "the ICCID",
/// best first. Any other header that contains `iccid` comes next.
const ICCID_ALIASES: &[&str] = &[
    "iccid",
    "simiccid",
    "iccidnumber",
    "iccidno",
    "iccidnr",
    "iccidnum",
    "simcardiccid",
];

/// Headers that mean "the SIM" and, in a manifest, hold its ICCID. They are
/// weaker than any header that says `iccid`.
const SIM_ALIASES: &[&str] = &[
    "sim",
    "simno",
    "simnumber",
    "simcard",
    "simcardnumber",
    "simcardno",
];

/// Why a manifest cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot open the manifest {path}: {source}; check the path and its permissions")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot read the manifest {path} near line {line}: {source}")]
    Read {
        path: PathBuf,
        line: u64,
        source: io::Error,
    },
    #[error(
        "the manifest {path} is not UTF-8 text at line {line}; re-save it as UTF-8 \
         (in a spreadsheet: \"CSV UTF-8\") and run again"
    )]
    NotUtf8 { path: PathBuf, line: u64 },
    #[error(
        "the manifest {path} is UTF-16 text; re-save it as UTF-8 \
         (in a spreadsheet: \"CSV UTF-8\") and run again"
    )]
    Utf16 { path: PathBuf },
    #[error("the manifest {path} is empty; it needs a header row with an iccid column, or one ICCID per line")]
    Empty { path: PathBuf },
    #[error(
        "the manifest {path} has no ICCID column: line {line} has the headers {seen}; \
         name the column \"iccid\" (or pass a file with one ICCID per line)",
        seen = quote_list(headers)
    )]
    NoIccidColumn {
        path: PathBuf,
        line: u64,
        headers: Vec<String>,
    },
}

fn quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|h| format!("{h:?}")).collect();
    quoted.join(", ")
}

/// Bytes read at a time. The csv reader's buffer is as large as the one used
/// for sniffing, so that reads bypass the latter instead of copying through it.
const INPUT_BUFFER: usize = 256 * 1024;

/// How to read a manifest. Everything is sniffed unless set here.
#[derive(Clone, Debug, Default)]
pub struct ManifestOptions {
    /// `--delimiter`: overrides the sniffed delimiter.
    pub delimiter: Option<u8>,
}

/// One manifest row: its line number and every cell, as read.
///
/// Cells are kept as the csv parser left them and checked as UTF-8 once, when
/// the row is decoded; every row handed out has passed that check.
#[derive(Clone, Debug, Default)]
pub struct Row {
    /// The line the row starts on, as an editor shows it (the header is line 1).
    pub line: u64,
    /// The reader's line just after the record, from which `line` is derived.
    end_line: u64,
    record: ByteRecord,
}

impl Row {
    /// A row made of the given cells (for tests and tools).
    pub fn new(line: u64, cells: &[&str]) -> Row {
        Row {
            line,
            end_line: line + 1,
            record: ByteRecord::from(cells.to_vec()),
        }
    }

    /// The cell in column `index`, or `""` when the row is short.
    pub fn get(&self, index: usize) -> &str {
        // The whole record was checked as UTF-8 and cells split at ASCII
        // bytes, so this cannot fail.
        std::str::from_utf8(self.get_bytes(index)).unwrap_or_default()
    }

    /// The cell in column `index` as bytes (UTF-8 text), or empty.
    pub fn get_bytes(&self, index: usize) -> &[u8] {
        let cell = self.record.get(index).unwrap_or_default();
        // Lines end at '\n' (see `Manifest::from_reader`), so the '\r' of a
        // CRLF line end is still on the row's last cell.
        if index + 1 == self.record.len() {
            cell.strip_suffix(b"\r").unwrap_or(cell)
        } else {
            cell
        }
    }

    /// How many cells the row has.
    pub fn len(&self) -> usize {
        self.record.len()
    }

    pub fn is_empty(&self) -> bool {
        self.record.is_empty()
    }

    fn is_blank(&self) -> bool {
        // Nearly every row starts with a visible character: decide on it alone.
        match self.record.as_slice().first() {
            Some(b) if !b.is_ascii_whitespace() && b.is_ascii() => false,
            _ => (0..self.len()).all(|i| self.get(i).trim().is_empty()),
        }
    }

    /// Works out the row's line and checks its text is UTF-8; returns `false`
    /// when it is not.
    fn decode(&mut self) -> bool {
        // Every record ends with '\n' (see `FinalNewline`), so it started on
        // the line after this one's end, less the line ends inside its cells.
        let bytes = self.record.as_slice();
        let inner_newlines = memchr::memchr_iter(b'\n', bytes).count() as u64;
        self.line = self.end_line - 1 - inner_newlines;
        std::str::from_utf8(bytes).is_ok()
    }
}

/// Adds a final `'\n'` to a stream that lacks one, so that every record ends
/// with a line end and line numbers can be counted the same way for all.
struct FinalNewline<R> {
    inner: R,
    last: u8,
    done: bool,
}

impl<R: Read> Read for FinalNewline<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.last = buf[n - 1];
            return Ok(n);
        }
        self.done = true;
        if self.last == b'\n' {
            return Ok(0);
        }
        buf[0] = b'\n';
        Ok(1)
    }
}

/// An open manifest: its layout, and a reader positioned at its first data row.
pub struct Manifest {
    path: PathBuf,
    reader: csv::Reader<FinalNewline<BufReader<Box<dyn Read + Send>>>>,
    delimiter: u8,
    headers: Vec<String>,
    has_header: bool,
    iccid_column: usize,
    /// The first data row of a headerless file, read while sniffing.
    pending: Option<Row>,
    size: u64,
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifest")
            .field("path", &self.path)
            .field("delimiter", &char::from(self.delimiter))
            .field("headers", &self.headers)
            .field("iccid_column", &self.iccid_column)
            .finish_non_exhaustive()
    }
}

impl Manifest {
    /// Opens `path`, sniffs its layout and finds the ICCID column.
    pub fn open(path: &Path, options: &ManifestOptions) -> Result<Manifest, ManifestError> {
        let open_error = |source| ManifestError::Open {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(open_error)?;
        let meta = file.metadata().map_err(open_error)?;
        if meta.is_dir() {
            let source = io::Error::new(io::ErrorKind::InvalidInput, "it is a directory");
            return Err(open_error(source));
        }
        Manifest::from_reader(path, Box::new(file), meta.len(), options)
    }

    /// Reads a manifest from any byte stream; `path` is only used in messages.
    pub fn from_reader(
        path: &Path,
        input: Box<dyn Read + Send>,
        size: u64,
        options: &ManifestOptions,
    ) -> Result<Manifest, ManifestError> {
        let path = path.to_owned();
        let mut input = BufReader::with_capacity(INPUT_BUFFER, input);
        let head = input.fill_buf().map_err(|source| ManifestError::Read {
            path: path.clone(),
            line: 1,
            source,
        })?;
        if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
            return Err(ManifestError::Utf16 { path });
        }
        let bom = if head.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        let delimiter = options
            .delimiter
            .unwrap_or_else(|| sniff_delimiter(&head[bom..]));
        input.consume(bom);

        // csv's record positions skip blank lines uncounted and see "\r\n" as
        // two ends, so records end at '\n' alone and lines are counted here
        // (see `read_raw`).
        let input = FinalNewline {
            inner: input,
            last: b'\n',
            done: false,
        };
        let reader = csv::ReaderBuilder::new()
            .buffer_capacity(INPUT_BUFFER)
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(input);
        let mut manifest = Manifest {
            path,
            reader,
            delimiter,
            headers: Vec::new(),
            has_header: false,
            iccid_column: 0,
            pending: None,
            size,
        };
        manifest.read_layout()?;
        Ok(manifest)
    }

    fn read_layout(&mut self) -> Result<(), ManifestError> {
        let mut first = Row::default();
        loop {
            if !self.read_raw(&mut first)? {
                return Err(ManifestError::Empty {
                    path: self.path.clone(),
                });
            }
            if !first.is_blank() {
                break;
            }
        }
        let cells: Vec<String> = (0..first.len())
            .map(|i| first.get(i).trim().to_owned())
            .collect();
        if let Some(column) = find_iccid_header(&cells) {
            self.headers = cells;
            self.has_header = true;
            self.iccid_column = column;
            return Ok(());
        }
        // No header: the first line is data when one of its cells already looks
        // like an ICCID (or a damaged one), as in a bare list of ICCIDs.
        let column = if cells.len() == 1 && cells[0].bytes().any(|b| b.is_ascii_digit()) {
            Some(0)
        } else {
            cells.iter().position(|cell| looks_like_iccid(cell))
        };
        let Some(column) = column else {
            return Err(ManifestError::NoIccidColumn {
                path: self.path.clone(),
                line: first.line,
                headers: cells,
            });
        };
        self.headers = (1..=cells.len())
            .map(|n| {
                if n - 1 == column {
                    "iccid".to_owned()
                } else {
                    format!("column_{n}")
                }
            })
            .collect();
        self.iccid_column = column;
        self.pending = Some(first);
        Ok(())
    }

    /// Reads the next record, blank or not. Returns `false` at the end.
    fn read_raw(&mut self, row: &mut Row) -> Result<bool, ManifestError> {
        let more = self
            .reader
            .read_byte_record(&mut row.record)
            .map_err(|err| self.csv_error(err))?;
        if !more {
            return Ok(false);
        }
        row.end_line = self.reader.position().line();
        if !row.decode() {
            return Err(self.not_utf8(row.line));
        }
        Ok(true)
    }

    fn not_utf8(&self, line: u64) -> ManifestError {
        ManifestError::NotUtf8 {
            path: self.path.clone(),
            line,
        }
    }

    /// Reads up to `max` records into `chunk` without decoding them: the
    /// sequential part of reading, kept to what the csv parser must do. The
    /// rest happens in [`RawChunk::decode`], in parallel.
    pub fn read_raw_chunk(
        &mut self,
        chunk: &mut RawChunk,
        max: usize,
    ) -> Result<(), ManifestError> {
        chunk.len = 0;
        chunk.read = 0;
        if let Some(first) = self.pending.take() {
            chunk.push_row(first);
            chunk.read = 1;
        }
        while chunk.read < max {
            if chunk.len == chunk.rows.len() {
                chunk.rows.push(Row::default());
            }
            let row = &mut chunk.rows[chunk.len];
            match self.reader.read_byte_record(&mut row.record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(err) => return Err(self.csv_error(err)),
            }
            row.end_line = self.reader.position().line();
            chunk.len += 1;
            chunk.read += 1;
        }
        chunk.bytes_read = self.bytes_read();
        Ok(())
    }

    fn csv_error(&self, err: csv::Error) -> ManifestError {
        let line = err
            .position()
            .map_or_else(|| self.reader.position().line(), |p| p.line());
        match err.into_kind() {
            csv::ErrorKind::Utf8 { .. } => ManifestError::NotUtf8 {
                path: self.path.clone(),
                line,
            },
            csv::ErrorKind::Io(source) => ManifestError::Read {
                path: self.path.clone(),
                line,
                source,
            },
            other => ManifestError::Read {
                path: self.path.clone(),
                line,
                source: io::Error::new(io::ErrorKind::InvalidData, format!("{other:?}")),
            },
        }
    }

    /// Reads the next non-blank row into `row`, reusing its allocation.
    /// Returns `false` at the end of the file.
    pub fn next_row(&mut self, row: &mut Row) -> Result<bool, ManifestError> {
        if let Some(first) = self.pending.take() {
            *row = first;
            return Ok(true);
        }
        loop {
            if !self.read_raw(row)? {
                return Ok(false);
            }
            if !row.is_blank() {
                return Ok(true);
            }
        }
    }

    /// Fills `rows` with up to `max` rows, reusing the allocations already in it.
    /// Returns how many were read; fewer than `max` means the file has ended.
    pub fn read_chunk(&mut self, rows: &mut Vec<Row>, max: usize) -> Result<usize, ManifestError> {
        rows.truncate(max);
        let mut filled = 0;
        while filled < max {
            if filled == rows.len() {
                rows.push(Row::default());
            }
            if !self.next_row(&mut rows[filled])? {
                break;
            }
            filled += 1;
        }
        Ok(filled)
    }

    /// The rows that are left, one allocation each. For the hot path, see
    /// [`Manifest::read_chunk`].
    pub fn rows(mut self) -> impl Iterator<Item = Result<Row, ManifestError>> {
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let mut row = Row::default();
            match self.next_row(&mut row) {
                Ok(true) => Some(Ok(row)),
                Ok(false) => {
                    done = true;
                    None
                }
                Err(err) => {
                    done = true;
                    Some(Err(err))
                }
            }
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// Every column name: the header row, or `iccid`/`column_N` for a headerless file.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    pub fn has_header(&self) -> bool {
        self.has_header
    }

    pub fn iccid_column(&self) -> usize {
        self.iccid_column
    }

    /// The columns other than the ICCID's, in file order: they are carried into
    /// the result CSV unchanged.
    pub fn other_columns(&self) -> Vec<usize> {
        (0..self.headers.len())
            .filter(|&i| i != self.iccid_column)
            .collect()
    }

    /// The first column whose header matches one of `names`, compared
    /// case-insensitively and ignoring spaces, `_` and `-`.
    pub fn column(&self, names: &[&str]) -> Option<usize> {
        if !self.has_header {
            return None;
        }
        names.iter().find_map(|name| {
            let wanted = header_key(name);
            self.headers.iter().position(|h| header_key(h) == wanted)
        })
    }

    /// The file's size in bytes, when known (for progress).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How far into the file the reader is, in bytes.
    pub fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }
}

/// Records read but not yet decoded: see [`Manifest::read_raw_chunk`]. Its
/// rows are reused from one chunk to the next.
#[derive(Debug, Default)]
pub struct RawChunk {
    rows: Vec<Row>,
    /// Rows in use; after `decode`, the rows handed out.
    len: usize,
    /// Records read from the file for this chunk, blank ones included.
    read: usize,
    bytes_read: u64,
}

impl RawChunk {
    fn push_row(&mut self, row: Row) {
        if self.len == self.rows.len() {
            self.rows.push(row);
        } else {
            self.rows[self.len] = row;
        }
        self.len += 1;
    }

    /// How many records were read (blank ones included). Fewer than asked
    /// for means the file has ended.
    pub fn records_read(&self) -> usize {
        self.read
    }

    /// How far into the file the reader was after this chunk, in bytes.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Decodes the rows in parallel and drops the blank ones. On text that
    /// is not UTF-8, the rows before it are kept and the error names its line.
    pub fn decode(&mut self, path: &Path) -> Result<(), ManifestError> {
        use rayon::prelude::*;
        let bad = self.rows[..self.len]
            .par_iter_mut()
            .with_min_len(512)
            .position_first(|row| !row.decode());
        let mut result = Ok(());
        if let Some(bad) = bad {
            result = Err(ManifestError::NotUtf8 {
                path: path.to_owned(),
                line: self.rows[bad].line,
            });
            self.len = bad;
        }
        let mut kept = 0;
        for i in 0..self.len {
            if !self.rows[i].is_blank() {
                self.rows.swap(kept, i);
                kept += 1;
            }
        }
        self.len = kept;
        result
    }

    /// The rows handed out by [`RawChunk::decode`].
    pub fn rows(&self) -> &[Row] {
        &self.rows[..self.len]
    }
}

/// A header reduced to lowercase letters and digits: `"ICCID Number"` → `iccidnumber`.
pub fn header_key(header: &str) -> String {
    header
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn find_iccid_header(cells: &[String]) -> Option<usize> {
    let keys: Vec<String> = cells.iter().map(|c| header_key(c)).collect();
    let exact = |aliases: &[&str]| {
        aliases
            .iter()
            .find_map(|alias| keys.iter().position(|k| k == alias))
    };
    exact(ICCID_ALIASES)
        .or_else(|| keys.iter().position(|k| k.contains("iccid")))
        .or_else(|| exact(SIM_ALIASES))
}

/// True for a cell that reads as an ICCID, spreadsheet damage included.
fn looks_like_iccid(cell: &str) -> bool {
    let normal = crate::iccid::normalise(cell);
    let digits = normal.bytes().filter(u8::is_ascii_digit).count();
    digits >= 15 && normal.starts_with(|c: char| c.is_ascii_digit())
}

/// Picks the delimiter that occurs most, outside quotes, on the first non-blank
/// line; a comma when none does.
fn sniff_delimiter(head: &[u8]) -> u8 {
    let line = head
        .split(|&b| b == b'\n')
        .find(|line| line.iter().any(|b| !b.is_ascii_whitespace()))
        .unwrap_or_default();
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b',', b';', b'\t'];
    let (best, &count) = counts
        .iter()
        .enumerate()
        .rev()
        .max_by_key(|&(_, c)| c)
        .expect("three candidates");
    if count == 0 {
        b','
    } else {
        candidates[best]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn open(text: &[u8]) -> Result<Manifest, ManifestError> {
        let bytes = text.to_vec();
        Manifest::from_reader(
            Path::new("m.csv"),
            Box::new(io::Cursor::new(bytes)),
            text.len() as u64,
            &ManifestOptions::default(),
        )
    }

    fn lines_and_iccids(m: Manifest) -> Vec<(u64, String)> {
        let col = m.iccid_column();
        m.rows()
            .map(|r| {
                let r = r.unwrap();
                (r.line, r.get(col).to_owned())
            })
            .collect()
    }

    #[test]
    fn sniffs_each_delimiter() {
        assert_eq!(sniff_delimiter(b"iccid,name\n"), b',');
        assert_eq!(sniff_delimiter(b"iccid;name;\"a,b\"\n"), b';');
        assert_eq!(sniff_delimiter(b"iccid\tname\n"), b'\t');
        assert_eq!(sniff_delimiter(b"\n\niccid\n"), b',');
    }

    #[test]
    fn finds_header_aliases_case_insensitively() {
        for header in [
            "ICCID",
            "iccid",
            "sim_iccid",
            "ICCID Number",
            "Sim ICCID (20)",
            "SIM",
        ] {
            let text = format!("device,{header}\nd1,89883070000007537119\n");
            let m = open(text.as_bytes()).unwrap();
            assert_eq!(m.iccid_column(), 1, "{header}");
            assert!(m.has_header());
        }
        let m = open(b"sim,iccid\n1,2\n").unwrap();
        assert_eq!(
            m.iccid_column(),
            1,
            "a header saying iccid beats one saying sim"
        );
    }

    #[test]
    fn bom_crlf_blank_lines_and_lines() {
        let m =
            open(b"\xEF\xBB\xBFICCID;Device\r\n\r\n89883070000007537119;a\r\n;b\r\n\r\n").unwrap();
        assert_eq!(m.delimiter(), b';');
        assert_eq!(m.headers(), ["ICCID", "Device"]);
        assert_eq!(
            lines_and_iccids(m),
            [(3, "89883070000007537119".to_owned()), (4, String::new())]
        );
    }

    #[test]
    fn a_bare_list_has_no_header() {
        let m = open(b"89883070000007537119\n8.98830700000075E+19\n\n123\n").unwrap();
        assert!(!m.has_header());
        assert_eq!(m.headers(), ["iccid"]);
        let lines: Vec<u64> = lines_and_iccids(m).into_iter().map(|(l, _)| l).collect();
        assert_eq!(lines, [1, 2, 4]);
    }

    #[test]
    fn quoted_fields_and_short_rows() {
        let m = open(b"iccid,name,note\n\"8988 3070 0000 0753 7119\",\"Doe, J\"\n").unwrap();
        let col = m.iccid_column();
        let row = m.rows().next().unwrap().unwrap();
        assert_eq!(row.get(col), "8988 3070 0000 0753 7119");
        assert_eq!(row.get(1), "Doe, J");
        assert_eq!(row.get(2), "");
    }

    #[test]
    fn fatal_errors_name_the_file_and_what_to_do() {
        let err = open(b"device,owner\nd1,o1\n").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ManifestError::NoIccidColumn { .. }));
        assert!(
            msg.contains("m.csv") && msg.contains("\"device\", \"owner\""),
            "{msg}"
        );

        let err = open(b"iccid\n89883070000007537119\n8988\xff\n").unwrap();
        let last = err.rows().last().unwrap().unwrap_err();
        assert!(
            matches!(last, ManifestError::NotUtf8 { line: 3, .. }),
            "{last:?}"
        );
        assert!(last.to_string().contains("line 3"));

        assert!(matches!(
            open(b"").unwrap_err(),
            ManifestError::Empty { .. }
        ));
        assert!(matches!(
            open(b"\xFF\xFEi\0").unwrap_err(),
            ManifestError::Utf16 { .. }
        ));
        let missing = Manifest::open(Path::new("/no/such/file.csv"), &ManifestOptions::default());
        assert!(missing
            .unwrap_err()
            .to_string()
            .contains("/no/such/file.csv"));
    }

    #[test]
    fn read_chunk_reuses_rows() {
        let mut m = open(b"iccid\n1\n2\n3\n").unwrap();
        let mut rows = Vec::new();
        assert_eq!(m.read_chunk(&mut rows, 2).unwrap(), 2);
        assert_eq!(rows[1].get(0), "2");
        assert_eq!(m.read_chunk(&mut rows, 2).unwrap(), 1);
        assert_eq!((rows[0].line, rows[0].get(0)), (4, "3"));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(m) = open(&bytes) {
                for row in m.rows().map_while(Result::ok) {
                    let _ = crate::iccid::check(row.get(0), crate::iccid::CheckDigit::Enforce);
                }
            }
        }
    }
}

//! Reading supplier manifests, as a stream, the way suppliers really send them.
//!
//! A manifest is a CSV of ICCIDs, usually exported from a spreadsheet. Nothing
//! about it is configured: the delimiter (comma, semicolon or tab) is sniffed
//! from the first line, a UTF-8 BOM is dropped, and the ICCID column is found
//! among header aliases — or the file is taken as a bare list when its first
//! line is already an ICCID. Blank lines are not rows. Every [`Row`] keeps the
//! line number an editor shows, so results can point back at the file.
//!
//! Rows come out two ways: one at a time ([`Manifest::next_row`], [`Manifest::rows`])
//! for `run`, whose pace is the API's; and in blocks of whole records
//! ([`Manifest::read_block`], then [`Block::each_record`] on each piece) for
//! `validate`, where one thread only reads and finds where records end, and
//! the pieces of a block are split into rows and checked in parallel.
//!
//! Problems that make the whole file unusable are a [`ManifestError`], whose
//! message names the file and says what to do.
//!
//! What the file is, is decided by its content, never its name: a workbook
//! ([`crate::workbook`], by its zip or OLE signature) is read sheet row by
//! sheet row; text in another encoding than UTF-8 ([`crate::encoding`]) is
//! converted as it is read, and so is a SIM vendor output file
//! ([`crate::vendor`]), so both reach the CSV reader as UTF-8 CSV with the
//! file's own line numbers. The header may sit below title rows: it is the
//! first of the first [`HEADER_SEARCH_ROWS`] rows that names an ICCID column.
//! Columns of SIM secrets ([`crate::secrets`]) are withheld: they are not
//! among [`Manifest::other_columns`], the only columns carried anywhere.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::encoding::{self, Decoding, Encoding};
use crate::records::{self, Grow, Records, SliceRecords};
use crate::workbook::{self, SheetRows, WorkbookError};
use crate::{results, secrets, vendor};

/// How many rows (blank ones aside) may come before the header: title rows,
/// a supplier's name, a date.
pub const HEADER_SEARCH_ROWS: usize = 10;

/// The header names (compared after [`header_key`]) taken to mean "the ICCID",
/// best first. Any other header that contains `iccid` comes next.
pub const ICCID_ALIASES: &[&str] = &[
    "iccid",
    "simiccid",
    "iccidnumber",
    "iccidno",
    "iccidnr",
    "iccidnum",
    "simcardiccid",
];

/// The headers of the optional columns `run` reads, best first (compared
/// [`Manifest::column`] does): the plan, the user, the user's email, full
/// name and birthday, and the address lines line 1, line 2, city, postal code,
/// state and country.
pub const PLAN_ALIASES: &[&str] = &["plan", "plan_id"];
pub const USER_ALIASES: &[&str] = &["user", "user_id"];
pub const EMAIL_ALIASES: &[&str] = &["email", "e-mail", "email_address"];
pub const FULL_NAME_ALIASES: &[&str] = &["full_name", "user_full_name"];
pub const BIRTHDAY_ALIASES: &[&str] = &["birthday", "user_birthday", "date_of_birth", "dob"];
pub const ADDRESS_ALIASES: [&[&str]; 6] = [
    &["address_line1", "address_line_1"],
    &["address_line2", "address_line_2"],
    &["address_city"],
    &["address_postal_code", "address_zip"],
    &["address_state"],
    &["address_country"],
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
         (in a spreadsheet: \"CSV UTF-8\") and run again, or name its encoding with \
         --encoding (a CSV saved by Excel on Windows: --encoding windows-1252)"
    )]
    NotUtf8 { path: PathBuf, line: u64 },
    #[error(
        "the manifest {path} is UTF-16 text, but --encoding says otherwise; \
         run again without --encoding"
    )]
    Utf16 { path: PathBuf },
    #[error("cannot read the workbook {path}: {source}")]
    Workbook {
        path: PathBuf,
        source: WorkbookError,
    },
    #[error("--sheet was given, but the manifest {path} is not a workbook; run again without it")]
    NotAWorkbook { path: PathBuf },
    #[error(
        "the manifest {path} ends its lines with a carriage return alone (an old Mac \
         format), so it reads as one line; re-save it as \"CSV UTF-8\" and run again"
    )]
    LoneCarriageReturn { path: PathBuf },
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
    /// `--sheet`: the workbook's sheet, by name or number from 1.
    pub sheet: Option<String>,
    /// `--encoding`: overrides the guessed text encoding.
    pub encoding: Option<&'static Encoding>,
    /// `--keep-column`: secret-looking columns the user knows are harmless.
    pub keep_columns: Vec<String>,
}

/// Read access to one row's cells, whether the row owns them ([`Row`]) or
/// borrows them from a chunk ([`RowRef`]).
pub trait Cells {
    /// The line the row starts on, as an editor shows it (the header is line 1).
    fn line(&self) -> u64;

    /// The cell in column `index` as bytes (UTF-8 text), or empty.
    fn get_bytes(&self, index: usize) -> &[u8];

    /// The cell in column `index`, or `""` when the row is short.
    fn get(&self, index: usize) -> &str {
        // Rows are checked as UTF-8 before they are handed out, and cells
        // split at ASCII bytes, so this cannot fail.
        std::str::from_utf8(self.get_bytes(index)).unwrap_or_default()
    }

    /// True when a workbook holds the cell in column `index` as a number.
    fn stored_as_number(&self, _index: usize) -> bool {
        false
    }
}

/// The '\r' of a CRLF line end is still on a row's last cell, because lines
/// end at '\n' alone (see `Manifest::from_reader`).
fn strip_cr(cell: &[u8], last: bool) -> &[u8] {
    if last {
        cell.strip_suffix(b"\r").unwrap_or(cell)
    } else {
        cell
    }
}

/// True when every cell is empty or white space.
fn all_blank(first_cell: &[u8], cells: impl Iterator<Item = bool>) -> bool {
    // Nearly every row starts with a visible character: decide on it alone.
    match first_cell.first() {
        Some(b) if !b.is_ascii_whitespace() && b.is_ascii() => false,
        _ => cells.into_iter().all(|blank| blank),
    }
}

/// True when every cell (back to back in `bytes`, ending at `ends`) is UTF-8
/// text on its own: cells joined can be UTF-8 when one alone is not.
fn cells_are_utf8(bytes: &[u8], ends: &[usize]) -> bool {
    bytes.is_ascii()
        || ends
            .iter()
            .scan(0, |start, &end| {
                let cell = bytes.get(*start..end).unwrap_or_default();
                *start = end;
                Some(cell)
            })
            .all(|cell| std::str::from_utf8(cell).is_ok())
}

/// The line a record starts on, from the reader's line just after it.
fn start_line(bytes: &[u8], end_line: u64) -> u64 {
    // Every record ends with '\n' (see `FinalNewline`), so it started on the
    // line after this one's end, less the line ends inside its cells.
    let inner_newlines = memchr::memchr_iter(b'\n', bytes).count() as u64;
    end_line - 1 - inner_newlines
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
    /// The cells, one after the other.
    bytes: Grow<u8>,
    /// Where each cell ends in `bytes`.
    ends: Grow<usize>,
    /// Bit `i`: a workbook holds the cell in column `i` (of the first 64) as
    /// a number.
    numbers: u64,
}

impl Row {
    /// A row made of the given cells (for tests and tools).
    pub fn new(line: u64, cells: &[&str]) -> Row {
        let mut row = Row {
            line,
            end_line: line + 1,
            ..Row::default()
        };
        for cell in cells {
            row.bytes.extend_from_slice(cell.as_bytes());
            row.ends.push(row.bytes.len());
        }
        row
    }

    /// The cell in column `index`, or `""` when the row is short.
    pub fn get(&self, index: usize) -> &str {
        Cells::get(self, index)
    }

    /// The cell in column `index` as bytes (UTF-8 text), or empty.
    pub fn get_bytes(&self, index: usize) -> &[u8] {
        Cells::get_bytes(self, index)
    }

    /// How many cells the row has.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.len() == 0
    }

    fn view(&self) -> RowRef<'_> {
        RowRef {
            line: self.line,
            bytes: self.bytes.as_slice(),
            ends: self.ends.as_slice(),
            gap: 0,
            plain: false,
        }
    }

    fn is_blank(&self) -> bool {
        self.view().is_blank()
    }

    /// Works out the row's line and checks its text is UTF-8; returns `false`
    /// when it is not.
    fn decode(&mut self) -> bool {
        self.line = start_line(self.bytes.as_slice(), self.end_line);
        cells_are_utf8(self.bytes.as_slice(), self.ends.as_slice())
    }
}

impl Cells for Row {
    fn line(&self) -> u64 {
        self.line
    }

    fn get_bytes(&self, index: usize) -> &[u8] {
        self.view().cell(index)
    }

    fn stored_as_number(&self, index: usize) -> bool {
        index < 64 && self.numbers >> index & 1 == 1
    }
}

/// A row borrowed from a [`Row`] or a [`Block`].
#[derive(Clone, Copy, Debug)]
pub struct RowRef<'a> {
    pub line: u64,
    /// The record's cells, one after the other, `gap` bytes apart.
    bytes: &'a [u8],
    /// Where each cell ends in `bytes`.
    ends: &'a [usize],
    /// 0 for cells the csv parser wrote out back to back; 1 for cells still
    /// in the file's line, between delimiters.
    gap: usize,
    /// Cells split from a line without quotes, none of which holds a `'\r'`
    /// or starts like a formula (see [`RowRef::plain_others`]).
    plain: bool,
}

impl<'a> RowRef<'a> {
    fn cell(&self, index: usize) -> &'a [u8] {
        let Some(&end) = self.ends.get(index) else {
            return &[];
        };
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] + self.gap
        };
        let cell = self.bytes.get(start..end).unwrap_or_default();
        strip_cr(cell, index + 1 == self.ends.len())
    }

    fn is_blank(&self) -> bool {
        let cells = (0..self.ends.len()).map(|i| self.get(i).trim().is_empty());
        all_blank(self.cell(0), cells)
    }

    /// Every cell but column `skip`, as the stretches of the manifest line
    /// that hold them, delimiters between: joined, the two are those cells
    /// as the line had them. Only for a row split straight from its line
    /// (not parsed) that has exactly `width` cells, two or more, none of
    /// which holds a quote, a line end or a `'\r'`, or starts like a
    /// formula: cells a result CSV takes as they are.
    pub fn plain_others(&self, skip: usize, width: usize) -> Option<[&'a [u8]; 2]> {
        if !self.plain || self.gap != 1 || self.ends.len() != width || width < 2 || skip >= width {
            return None;
        }
        let line = strip_cr(self.bytes, true);
        let start = |i: usize| self.ends[i - 1] + 1;
        let empty: &[u8] = &[];
        Some(if skip == 0 {
            [empty, line.get(start(1)..)?]
        } else if skip == width - 1 {
            [line.get(..self.ends[skip - 1])?, empty]
        } else {
            [line.get(..start(skip))?, line.get(start(skip + 1)..)?]
        })
    }
}

impl Cells for RowRef<'_> {
    fn line(&self) -> u64 {
        self.line
    }

    fn get_bytes(&self, index: usize) -> &[u8] {
        self.cell(index)
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

/// Bytes that the guesses of what a file is (workbook, encoding, vendor
/// file, delimiter) look at.
const HEAD_BYTES: u64 = 64 * 1024;

/// `input`, with its first [`HEAD_BYTES`] read already, so that the first
/// read hands out all of them: a pipe gives a few bytes at a time, and a
/// guess must not change with how they trickle in.
fn with_whole_head(mut input: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
    let mut head = Vec::new();
    input.by_ref().take(HEAD_BYTES).read_to_end(&mut head)?;
    Ok(Box::new(io::Cursor::new(head).chain(input)))
}

/// An open manifest: its layout, and a reader positioned at its first data row.
pub struct Manifest {
    path: PathBuf,
    records: Records<FinalNewline<BufReader<Box<dyn Read + Send>>>>,
    /// The sheet a workbook's rows come from; `records` is then empty.
    sheet: Option<SheetRows>,
    /// The text encoding converted from (UTF-8: none).
    encoding: &'static Encoding,
    /// A SIM vendor output file, converted to CSV as it is read.
    vendor: bool,
    /// The lines of the title rows above the header, and the header's line.
    title_lines: Vec<u64>,
    header_line: u64,
    /// The columns of SIM secrets, which go nowhere.
    withheld: Vec<usize>,
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
        let read_error = |source| ManifestError::Read {
            path: path.clone(),
            line: 1,
            source,
        };
        let input = with_whole_head(input).map_err(read_error)?;
        let mut input = BufReader::with_capacity(INPUT_BUFFER, input);
        let head = input.fill_buf().map_err(read_error)?;
        if workbook::is_workbook(head) {
            return Manifest::from_workbook(path, input, size, options);
        }
        if options.sheet.is_some() {
            return Err(ManifestError::NotAWorkbook { path });
        }
        let encoding = options.encoding.unwrap_or_else(|| encoding::sniff(head).0);
        if encoding != encoding_rs::UTF_8 {
            // Everything after this sees UTF-8 (the decoder drops a BOM).
            let decoded: Box<dyn Read + Send> = Box::new(Decoding::new(input, encoding));
            input = BufReader::with_capacity(INPUT_BUFFER, decoded);
        }
        let head = input.fill_buf().map_err(read_error)?;
        if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
            return Err(ManifestError::Utf16 { path });
        }
        let bom = if head.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        let is_vendor = vendor::looks_like_vendor(&head[bom..]);
        let delimiter = match options.delimiter {
            _ if is_vendor => b',',
            Some(delimiter) => delimiter,
            None => sniff_delimiter(&head[bom..]),
        };
        input.consume(bom);
        if is_vendor {
            let csv: Box<dyn Read + Send> = Box::new(vendor::VendorCsv::new(input));
            input = BufReader::with_capacity(INPUT_BUFFER, csv);
        }
        let mut manifest = Manifest::new(path, input, delimiter, size);
        manifest.encoding = encoding;
        manifest.vendor = is_vendor;
        manifest.read_layout(options)?;
        Ok(manifest)
    }

    /// Reads the workbook that `input` holds, whole (calamine needs to seek),
    /// and opens its sheet.
    fn from_workbook(
        path: PathBuf,
        mut input: BufReader<Box<dyn Read + Send>>,
        size: u64,
        options: &ManifestOptions,
    ) -> Result<Manifest, ManifestError> {
        let mut bytes = Vec::with_capacity(size.min(1 << 30) as usize);
        if let Err(source) = input.read_to_end(&mut bytes) {
            return Err(ManifestError::Read {
                path,
                line: 1,
                source,
            });
        }
        let sheet = match workbook::open(bytes, options.sheet.as_deref()) {
            Ok(sheet) => sheet,
            Err(source) => return Err(ManifestError::Workbook { path, source }),
        };
        let nothing: Box<dyn Read + Send> = Box::new(io::empty());
        let mut manifest = Manifest::new(path, BufReader::new(nothing), b',', size);
        manifest.sheet = Some(sheet);
        manifest.read_layout(options)?;
        Ok(manifest)
    }

    /// A manifest reading CSV from `input`, before its layout is known.
    fn new(
        path: PathBuf,
        input: BufReader<Box<dyn Read + Send>>,
        delimiter: u8,
        size: u64,
    ) -> Manifest {
        // The parser skips blank lines without saying so; ending the stream
        // with a '\n' lets every record's first line be worked out from the
        // line it ends on (see `start_line`).
        let input = FinalNewline {
            inner: input,
            last: b'\n',
            done: false,
        };
        Manifest {
            path,
            records: Records::new(input, delimiter, INPUT_BUFFER),
            sheet: None,
            encoding: encoding_rs::UTF_8,
            vendor: false,
            title_lines: Vec::new(),
            header_line: 0,
            withheld: Vec::new(),
            delimiter,
            headers: Vec::new(),
            has_header: false,
            iccid_column: 0,
            pending: None,
            size,
        }
    }

    /// Reads the next record that is not blank; `false` at the end.
    fn read_filled(&mut self, row: &mut Row) -> Result<bool, ManifestError> {
        while self.read_raw(row)? {
            if !row.is_blank() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn read_layout(&mut self, options: &ManifestOptions) -> Result<(), ManifestError> {
        let mut first = Row::default();
        if !self.read_filled(&mut first)? {
            return Err(ManifestError::Empty {
                path: self.path.clone(),
            });
        }
        let cells = trimmed_cells(&first);
        // A '\r' inside the first line of a text file: lines end with '\r'
        // alone, and the whole file would be read as one line.
        if self.sheet.is_none() && cells.iter().any(|cell| cell.contains('\r')) {
            return Err(ManifestError::LoneCarriageReturn {
                path: self.path.clone(),
            });
        }
        if let Some(column) = find_iccid_header(&cells) {
            self.set_header(first.line, cells, column, options);
            return Ok(());
        }
        // No header: the first line is data when one of its cells already looks
        // like an ICCID (or a damaged one), as in a bare list of ICCIDs.
        let column = if cells.len() == 1 && cells[0].bytes().any(|b| b.is_ascii_digit()) {
            Some(0)
        } else {
            cells.iter().position(|cell| looks_like_iccid(cell))
        };
        if let Some(column) = column {
            self.set_headerless(cells.len(), column);
            self.pending = Some(first);
            return Ok(());
        }
        // Title rows above the header: look a little further down.
        let mut titles = vec![first.line];
        let mut row = Row::default();
        while titles.len() < HEADER_SEARCH_ROWS && self.read_filled(&mut row)? {
            let below = trimmed_cells(&row);
            if let Some(column) = find_iccid_header(&below) {
                self.title_lines = titles;
                self.set_header(row.line, below, column, options);
                return Ok(());
            }
            titles.push(row.line);
        }
        Err(ManifestError::NoIccidColumn {
            path: self.path.clone(),
            line: first.line,
            headers: cells,
        })
    }

    fn set_header(
        &mut self,
        line: u64,
        headers: Vec<String>,
        column: usize,
        options: &ManifestOptions,
    ) {
        self.withheld = secrets::withheld(&headers, &options.keep_columns);
        self.withheld.retain(|&i| i != column);
        self.header_line = line;
        self.headers = headers;
        self.has_header = true;
        self.iccid_column = column;
    }

    fn set_headerless(&mut self, width: usize, column: usize) {
        self.headers = (1..=width)
            .map(|n| {
                if n - 1 == column {
                    "iccid".to_owned()
                } else {
                    format!("column_{n}")
                }
            })
            .collect();
        self.iccid_column = column;
    }

    /// Reads the next record, blank or not. Returns `false` at the end.
    fn read_raw(&mut self, row: &mut Row) -> Result<bool, ManifestError> {
        row.bytes.clear();
        row.ends.clear();
        row.numbers = 0;
        if let Some(sheet) = &mut self.sheet {
            let Some((line, numbers)) = sheet.next_row(&mut row.bytes, &mut row.ends) else {
                return Ok(false);
            };
            (row.line, row.end_line, row.numbers) = (line, line + 1, numbers);
            return Ok(true);
        }
        let Some(parsed) = self
            .records
            .next(&mut row.bytes, &mut row.ends)
            .map_err(|err| self.read_error(err))?
        else {
            return Ok(false);
        };
        row.end_line = parsed.end_line;
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

    /// Fills `block` with the next whole records, about a mebibyte of them;
    /// an empty block means the file has ended. Once blocks are read, rows
    /// cannot be read one at a time.
    pub fn read_block(&mut self, block: &mut Block) -> Result<(), ManifestError> {
        self.read_block_sized(block, BLOCK_BYTES, PIECE_BYTES)
    }

    /// [`Manifest::read_block`] with the block's and the pieces' sizes given.
    pub fn read_block_sized(
        &mut self,
        block: &mut Block,
        target: usize,
        piece: usize,
    ) -> Result<(), ManifestError> {
        if self.sheet.is_some() {
            let source = io::Error::other("a workbook is read row by row, not in blocks");
            return Err(self.read_error(source));
        }
        block.delimiter = self.delimiter;
        block.first = self.pending.take();
        self.records
            .read_block(&mut block.raw, target, piece)
            .map_err(|err| self.read_error(err))?;
        block.bytes_read = self.bytes_read();
        Ok(())
    }

    fn read_error(&self, source: io::Error) -> ManifestError {
        ManifestError::Read {
            path: self.path.clone(),
            line: self.records.line(),
            source,
        }
    }

    /// Reads the next non-blank row into `row`, reusing its allocation.
    /// Returns `false` at the end of the file.
    pub fn next_row(&mut self, row: &mut Row) -> Result<bool, ManifestError> {
        if let Some(first) = self.pending.take() {
            *row = first;
            return Ok(true);
        }
        self.read_filled(row)
    }

    /// True for a workbook, whose rows come one at a time ([`Manifest::next_row`],
    /// [`Manifest::read_chunk`]), never in blocks.
    pub fn is_workbook(&self) -> bool {
        self.sheet.is_some()
    }

    /// The columns of SIM secrets, which are carried nowhere.
    pub fn withheld(&self) -> &[usize] {
        &self.withheld
    }

    /// What the summary should say about how the file was read: its sheet,
    /// an encoding other than UTF-8, a vendor file, title rows skipped,
    /// columns withheld.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(sheet) = &self.sheet {
            let (n, of) = sheet.position;
            notes.push(format!("read sheet {:?} ({n} of {of})", sheet.name));
        }
        if self.encoding != encoding_rs::UTF_8 {
            notes.push(format!(
                "read as {} text, not UTF-8 (--encoding chooses another)",
                self.encoding.name()
            ));
        }
        if self.vendor {
            notes.push(format!(
                "read as a SIM vendor output file: its columns are named on line {}",
                self.header_line
            ));
        }
        if let (Some(first), Some(last)) = (self.title_lines.first(), self.title_lines.last()) {
            let lines = if first == last {
                format!("line {first}")
            } else {
                format!("lines {first}-{last}")
            };
            notes.push(format!(
                "skipped {lines} above the header on line {}",
                self.header_line
            ));
        }
        if !self.withheld.is_empty() {
            let names: Vec<String> = self
                .withheld
                .iter()
                .map(|&i| self.headers[i].clone())
                .collect();
            notes.push(format!(
                "withheld SIM secret columns, which are written nowhere: {} \
                 (--keep-column NAME keeps one)",
                quote_list(&names)
            ));
        }
        notes
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

    /// Like [`Manifest::read_chunk`], but stops too once the rows read hold
    /// `max_bytes` of cells, so that a chunk of wide rows stays small: memory
    /// does not grow with row width. Returns how many rows were read, and
    /// whether the file has ended. Rows beyond them are dropped, so that a
    /// chunk of wide rows does not stay allocated behind a chunk of narrow ones.
    pub fn read_chunk_within(
        &mut self,
        rows: &mut Vec<Row>,
        max: usize,
        max_bytes: usize,
    ) -> Result<(usize, bool), ManifestError> {
        rows.truncate(max);
        let (mut filled, mut bytes) = (0, 0usize);
        while filled < max && bytes < max_bytes {
            if filled == rows.len() {
                rows.push(Row::default());
            }
            if !self.next_row(&mut rows[filled])? {
                return Ok((filled, true));
            }
            bytes += rows[filled].bytes.len();
            filled += 1;
        }
        if bytes >= max_bytes {
            rows.truncate(filled);
        }
        Ok((filled, false))
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
            .filter(|&i| i != self.iccid_column && !self.withheld.contains(&i))
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

    /// Every column whose header matches one of `names` (as [`Manifest::column`]
    /// compares them), in file order: more than one means two columns say
    /// the same thing, and the reader cannot tell which one is meant.
    pub fn columns_named(&self, names: &[&str]) -> Vec<usize> {
        if !self.has_header {
            return Vec::new();
        }
        let wanted: Vec<String> = names.iter().map(|n| header_key(n)).collect();
        (0..self.headers.len())
            .filter(|&i| wanted.contains(&header_key(&self.headers[i])))
            .collect()
    }

    /// The header of a column, as the file gives it.
    pub fn header(&self, column: usize) -> &str {
        self.headers.get(column).map_or("", String::as_str)
    }

    /// The file's size in bytes, when known (for progress).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How far into the file the reader is, in bytes.
    pub fn bytes_read(&self) -> u64 {
        self.records.consumed()
    }
}

/// Bytes per block read by [`Manifest::read_block`]: enough for each core
/// to get several pieces.
const BLOCK_BYTES: usize = 1 << 20;

/// Bytes per piece of a block.
const PIECE_BYTES: usize = 64 << 10;

/// Where the sniffed first row of a headerless file sits in its block.
const FIRST_ROW: usize = usize::MAX;

/// Whole records read in one go: see [`Manifest::read_block`]. Each piece is
/// split into rows without looking at the others, so pieces can be handled
/// in parallel ([`Block::each_record`]).
#[derive(Debug, Default)]
pub struct Block {
    raw: records::Block,
    /// The first data row of a headerless file, read while sniffing; it
    /// comes before the first piece.
    first: Option<Row>,
    delimiter: u8,
    bytes_read: u64,
}

impl Block {
    /// How many pieces the block has.
    pub fn pieces(&self) -> usize {
        self.raw.pieces.len().max(usize::from(self.first.is_some()))
    }

    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// How many bytes of the file the block holds.
    pub fn len(&self) -> usize {
        self.raw.bytes().len()
    }

    /// True when the file has ended.
    pub fn is_empty(&self) -> bool {
        self.raw.bytes().is_empty() && self.first.is_none()
    }

    /// How far into the file the reader was after this block, in bytes.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// How many bytes of the file piece `index` holds (about; for sizing).
    pub fn piece_len(&self, index: usize) -> usize {
        if index < self.raw.pieces.len() {
            self.raw.piece(index).0.len()
        } else {
            0
        }
    }

    /// Calls `each` with every record of piece `index`, in file order, and
    /// where the record is (for [`Block::rows_at`]), until `each` breaks. A
    /// record that is not UTF-8 text comes as [`Decoded::NotUtf8`] and is
    /// the last.
    pub fn each_record(
        &self,
        index: usize,
        mut each: impl FnMut(usize, Decoded<'_>) -> ControlFlow<()>,
    ) {
        if index == 0 {
            if let Some(first) = &self.first {
                if each(FIRST_ROW, Decoded::Row(first.view())).is_break() {
                    return;
                }
            }
        }
        if index >= self.raw.pieces.len() {
            return;
        }
        let (text, line) = self.raw.piece(index);
        let base = self.raw.pieces[index].0;
        if self.raw.quoted || self.delimiter == b'\n' {
            each_parsed(text, base, line, self.delimiter, each);
        } else {
            // Without quotes a cell is exactly its stretch of the line, and
            // cells are split at ASCII bytes: every cell of a record is UTF-8
            // exactly when its line is, so one check covers the whole piece.
            let valid_to = if text.is_ascii() {
                text.len()
            } else {
                std::str::from_utf8(text).map_or_else(|e| e.valid_up_to(), str::len)
            };
            each_line(text, base, line, self.delimiter, valid_to, each);
        }
    }

    /// The records at `places`, each an `(at, line)` pair of where
    /// [`Block::each_record`] gave one and its line, read again.
    pub fn rows_at(&self, places: impl IntoIterator<Item = (usize, u64)>) -> Vec<Option<Row>> {
        let mut records = SliceRecords::new(&[], self.delimiter);
        let mut again = |at: usize, line: u64| {
            if at == FIRST_ROW {
                return self.first.clone();
            }
            let mut row = Row {
                line,
                end_line: line + 1,
                ..Row::default()
            };
            records.restart(self.raw.bytes().get(at..)?);
            records.next(&mut row.bytes, &mut row.ends)?;
            Some(row)
        };
        places
            .into_iter()
            .map(|(at, line)| again(at, line))
            .collect()
    }
}

/// [`Block::each_record`] for a piece without quotes: each line is a record
/// and the delimiters split it into cells, as the csv parser would. One pass
/// finds both, and notes on the way whether the cells can go into a result
/// CSV as they are: this is the innermost loop of `validate`.
fn each_line(
    text: &[u8],
    base: usize,
    mut line: u64,
    delimiter: u8,
    valid_to: usize,
    mut each: impl FnMut(usize, Decoded<'_>) -> ControlFlow<()>,
) {
    let mut ends = Vec::new();
    let mut start = 0;
    let starts_plain = |at: usize| !text.get(at).is_some_and(|&b| results::is_formula_start(b));
    let mut plain = starts_plain(0);
    for end in records::ThreeBytes::new(text, [delimiter, b'\n', b'\r']) {
        match text[end] {
            b'\n' => {}
            b if b == delimiter => {
                ends.push(end - start);
                plain &= starts_plain(end + 1);
                continue;
            }
            _ => {
                // A '\r' that does not end the line sits inside a cell.
                plain &= text.get(end + 1) == Some(&b'\n');
                continue;
            }
        }
        let (at, record, this_line, this_plain) = (start, &text[start..end], line, plain);
        start = end + 1;
        line += 1;
        plain = starts_plain(start);
        if record.is_empty() {
            continue; // the parser skips empty lines too
        }
        if valid_to < end {
            let _ = each(base + at, Decoded::NotUtf8 { line: this_line });
            return;
        }
        ends.push(record.len());
        let row = RowRef {
            line: this_line,
            bytes: record,
            ends: &ends,
            gap: 1,
            plain: this_plain,
        };
        if each(base + at, Decoded::of(row)).is_break() {
            return;
        }
        ends.clear();
    }
}

/// [`Block::each_record`] for a piece with quotes, through the csv parser.
fn each_parsed(
    text: &[u8],
    base: usize,
    first_line: u64,
    delimiter: u8,
    mut each: impl FnMut(usize, Decoded<'_>) -> ControlFlow<()>,
) {
    let mut records = SliceRecords::new(text, delimiter);
    let (mut bytes, mut ends) = (Grow::default(), Grow::default());
    loop {
        bytes.clear();
        ends.clear();
        let at = records.pos();
        let Some(parsed) = records.next(&mut bytes, &mut ends) else {
            return;
        };
        // The parser counts lines from 1 at the start of the piece.
        let line = start_line(bytes.as_slice(), first_line - 1 + parsed.end_line);
        if !cells_are_utf8(bytes.as_slice(), ends.as_slice()) {
            let _ = each(base + at, Decoded::NotUtf8 { line });
            return;
        }
        let row = RowRef {
            line,
            bytes: bytes.as_slice(),
            ends: ends.as_slice(),
            gap: 0,
            plain: false,
        };
        if each(base + at, Decoded::of(row)).is_break() {
            return;
        }
    }
}

/// One record of a [`Block`], decoded.
#[derive(Clone, Copy, Debug)]
pub enum Decoded<'a> {
    Row(RowRef<'a>),
    /// Only empty or white-space cells: not a row.
    Blank,
    /// Text that is not UTF-8: reading must stop here.
    NotUtf8 {
        line: u64,
    },
}

impl<'a> Decoded<'a> {
    /// A record of UTF-8 text: a row, unless its cells are all blank.
    fn of(row: RowRef<'a>) -> Self {
        if row.is_blank() {
            Decoded::Blank
        } else {
            Decoded::Row(row)
        }
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

/// A row's cells, trimmed, as header candidates.
fn trimmed_cells(row: &Row) -> Vec<String> {
    (0..row.len())
        .map(|i| row.get(i).trim().to_owned())
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
        open_with(text, &ManifestOptions::default())
    }

    fn open_with(text: &[u8], options: &ManifestOptions) -> Result<Manifest, ManifestError> {
        let bytes = text.to_vec();
        Manifest::from_reader(
            Path::new("m.csv"),
            Box::new(io::Cursor::new(bytes)),
            text.len() as u64,
            options,
        )
    }

    fn utf8_only() -> ManifestOptions {
        ManifestOptions {
            encoding: Some(encoding_rs::UTF_8),
            ..ManifestOptions::default()
        }
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

        let err = open_with(b"iccid\n89883070000007537119\n8988\xff\n", &utf8_only()).unwrap();
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
            open_with(b"\xFF\xFEi\0", &utf8_only()).unwrap_err(),
            ManifestError::Utf16 { .. }
        ));
        let missing = Manifest::open(Path::new("/no/such/file.csv"), &ManifestOptions::default());
        assert!(missing
            .unwrap_err()
            .to_string()
            .contains("/no/such/file.csv"));
    }

    #[test]
    fn a_quote_left_open_at_the_end_keeps_its_line() {
        let headerless = open(b"\"89883070000007537119").unwrap();
        assert_eq!(lines_and_iccids(headerless)[0].0, 1);
        let with_header = open(b"iccid\n89883070000007537119\n\n\"89883070000007537127\n").unwrap();
        let lines: Vec<u64> = lines_and_iccids(with_header)
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        assert_eq!(lines, [2, 4]);
    }

    #[test]
    fn a_chunk_of_wide_rows_stops_at_its_byte_budget() {
        let wide = "x".repeat(1000);
        let text: String = std::iter::once("iccid,note\n".to_owned())
            .chain((0..10).map(|i| format!("8988{i},{wide}\n")))
            .collect();
        let mut m = Manifest::from_reader(
            Path::new("m.csv"),
            Box::new(std::io::Cursor::new(text.into_bytes())),
            0,
            &ManifestOptions::default(),
        )
        .unwrap();
        let mut rows = Vec::new();
        let mut sizes = Vec::new();
        loop {
            let (n, ended) = m.read_chunk_within(&mut rows, 100, 2500).unwrap();
            sizes.push(n);
            if ended {
                break;
            }
        }
        assert_eq!(sizes, [3, 3, 3, 1], "three rows pass 2,500 bytes");
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

    #[test]
    fn the_header_may_sit_below_title_rows() {
        let m = open(
            b"ACME SIM delivery\n\nbatch 7,2026-04-01\nDevice,ICCID\nd1,89883070000007537119\n",
        )
        .unwrap();
        assert_eq!(m.headers(), ["Device", "ICCID"]);
        let notes = m.notes();
        assert!(
            notes
                .iter()
                .any(|n| n == "skipped lines 1-3 above the header on line 4"),
            "{notes:?}"
        );
        assert_eq!(
            lines_and_iccids(m),
            [(5, "89883070000007537119".to_owned())]
        );
    }

    #[test]
    fn a_header_past_the_first_ten_rows_is_not_looked_for() {
        let mut text = "title\n".repeat(10);
        text += "iccid\n89883070000007537119\n";
        let err = open(text.as_bytes()).unwrap_err();
        assert!(
            matches!(err, ManifestError::NoIccidColumn { line: 1, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn windows_1252_and_utf16_are_read_as_utf8_and_named() {
        let m = open(b"iccid,name\n89883070000007537119,J\xfcrgen M\xfcller\n").unwrap();
        assert!(m.notes()[0].contains("windows-1252"), "{:?}", m.notes());
        let row = m.rows().next().unwrap().unwrap();
        assert_eq!(row.get(1), "Jürgen Müller");

        let text = "ICCID\tName\r\n89883070000007537119\tJürgen\r\n";
        for (bom, bytes) in [
            (
                [0xFF, 0xFE],
                text.encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect::<Vec<_>>(),
            ),
            (
                [0xFE, 0xFF],
                text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
            ),
        ] {
            let file = [&bom[..], &bytes].concat();
            let m = open(&file).unwrap();
            assert_eq!(m.delimiter(), b'\t');
            assert!(m.notes()[0].contains("UTF-16"), "{:?}", m.notes());
            let rows: Vec<Row> = m.rows().map(Result::unwrap).collect();
            assert_eq!((rows[0].line, rows[0].get(1)), (2, "Jürgen"));
        }
    }

    #[test]
    fn secret_columns_are_withheld_unless_kept() {
        let text = b"ICCID,Ki,device,PUK1\n89883070000007537119,00112233,d1,12345678\n";
        let m = open(text).unwrap();
        assert_eq!(m.other_columns(), [2]);
        assert!(m.notes().iter().any(|n| n.contains("\"Ki\", \"PUK1\"")));
        let keep = ManifestOptions {
            keep_columns: vec!["puk1".to_owned()],
            ..ManifestOptions::default()
        };
        assert_eq!(open_with(text, &keep).unwrap().other_columns(), [2, 3]);
    }

    #[test]
    fn a_sheet_option_for_text_is_refused() {
        let sheet = ManifestOptions {
            sheet: Some("1".to_owned()),
            ..ManifestOptions::default()
        };
        let err = open_with(b"iccid\n89883070000007537119\n", &sheet).unwrap_err();
        assert!(matches!(err, ManifestError::NotAWorkbook { .. }), "{err:?}");
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

        #[test]
        fn arbitrary_bytes_in_any_encoding_or_as_a_vendor_file_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            encoding in proptest::sample::select(vec![
                encoding_rs::UTF_16LE, encoding_rs::UTF_16BE, encoding_rs::WINDOWS_1252,
            ]),
        ) {
            let forced = ManifestOptions { encoding: Some(encoding), ..ManifestOptions::default() };
            let vendor = [&b"* out file\nvar_out: ICCID/KI\n"[..], &bytes].concat();
            for (text, options) in [(&bytes, &forced), (&vendor, &ManifestOptions::default())] {
                if let Ok(m) = open_with(text, options) {
                    let _ = m.notes();
                    for row in m.rows().map_while(Result::ok) {
                        let _ = crate::iccid::check(row.get(0), crate::iccid::CheckDigit::Enforce);
                    }
                }
            }
        }
    }
}

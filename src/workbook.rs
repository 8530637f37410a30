//! Workbooks as manifests: `.xlsx`, `.xlsm`, `.xls` and `.ods`, read with
//! calamine.
//!
//! Suppliers send spreadsheets, and converting one to CSV by hand is exactly
//! where ICCIDs get destroyed. So simboard reads the sheet itself: the first
//! one, or the one `--sheet` names (by name, or by number from 1). Each row
//! keeps the row number the spreadsheet shows, and each cell becomes the text
//! the spreadsheet shows for it: whole numbers without `.0`, dates as ISO
//! dates. A cell stored as a number is flagged, because an ICCID stored as a
//! number has already lost every digit after the 15th (see
//! `iccid::Invalid::StoredAsNumber`).
//!
//! A workbook is known by its first bytes (a zip or an OLE file), not by its
//! name, so one renamed `.csv` is still read as a workbook.

use std::fmt::Write as _;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use calamine::{Data, Ods, Range, Reader, Sheets, Xls, Xlsx};

use crate::records::Grow;

/// The first bytes of a zip file (`.xlsx`, `.xlsm`, `.ods`).
const ZIP: &[u8] = b"PK\x03\x04";
/// The first bytes of an OLE compound file (`.xls`).
const OLE: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

/// Why a workbook cannot be read. Messages never quote the workbook's
/// content: it may hold SIM secrets.
#[derive(Debug, thiserror::Error)]
pub enum WorkbookError {
    #[error(
        "it is not a workbook simboard can read ({kind}); open it in a spreadsheet, \
         save it again as .xlsx and run again"
    )]
    Unreadable { kind: &'static str },
    #[error("it has no sheets")]
    NoSheets,
    #[error(
        "it has no sheet {wanted:?}; its sheets are {}; pass one of them (or its number, from 1) to --sheet",
        list(sheets)
    )]
    NoSuchSheet { wanted: String, sheets: Vec<String> },
}

fn list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    quoted.join(", ")
}

/// True when a file starting with `head` is a workbook (a zip or OLE file).
pub fn is_workbook(head: &[u8]) -> bool {
    head.starts_with(ZIP) || head.starts_with(OLE)
}

/// One sheet of a workbook, handed out row by row.
pub struct SheetRows {
    /// The sheet's name, as the workbook has it.
    pub name: String,
    /// Its place among the workbook's sheets, from 1, and how many there are.
    pub position: (usize, usize),
    range: Range<Data>,
    /// The next row of `range` to hand out.
    next: usize,
    /// The sheet row number of the range's first row, and how many empty
    /// columns come before its first column.
    first_line: u64,
    first_column: usize,
    text: String,
}

impl std::fmt::Debug for SheetRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetRows")
            .field("name", &self.name)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// Opens the workbook in `bytes` and picks its sheet: `choice` by name (or,
/// failing that, by number from 1), else the first.
pub fn open(bytes: Vec<u8>, choice: Option<&str>) -> Result<SheetRows, WorkbookError> {
    // A damaged workbook must not take the process down: a panic in the
    // reader is one more way of being unreadable.
    catch_unwind(AssertUnwindSafe(|| open_sheet(bytes, choice))).unwrap_or(Err(
        WorkbookError::Unreadable {
            kind: "the reader gave up on it",
        },
    ))
}

fn open_sheet(bytes: Vec<u8>, choice: Option<&str>) -> Result<SheetRows, WorkbookError> {
    let ods = bytes.get(30..38) == Some(b"mimetype")
        && bytes[38..].starts_with(b"application/vnd.oasis.opendocument.spreadsheet");
    let ole = bytes.starts_with(OLE);
    let cursor = Cursor::new(bytes);
    let mut sheets: Sheets<_> = if ole {
        Sheets::Xls(Xls::new(cursor).map_err(unreadable("a damaged .xls file"))?)
    } else if ods {
        Sheets::Ods(Ods::new(cursor).map_err(unreadable("a damaged .ods file"))?)
    } else {
        Sheets::Xlsx(Xlsx::new(cursor).map_err(unreadable("a zip file that is not an .xlsx"))?)
    };
    let names = sheets.sheet_names();
    if names.is_empty() {
        return Err(WorkbookError::NoSheets);
    }
    let index = pick_sheet(&names, choice)?;
    let range = sheets
        .worksheet_range(&names[index])
        .map_err(unreadable("a sheet that cannot be read"))?;
    let (first_line, first_column) = range
        .start()
        .map_or((1, 0), |(row, col)| (u64::from(row) + 1, col as usize));
    Ok(SheetRows {
        name: names[index].clone(),
        position: (index + 1, names.len()),
        range,
        next: 0,
        first_line,
        first_column,
        text: String::new(),
    })
}

/// An error of the reader, said without its text (which may quote cells).
fn unreadable<E>(kind: &'static str) -> impl FnOnce(E) -> WorkbookError {
    move |_| WorkbookError::Unreadable { kind }
}

/// The sheet `choice` names among `names`: by exact name, by name without
/// regard to case, then by number from 1.
fn pick_sheet(names: &[String], choice: Option<&str>) -> Result<usize, WorkbookError> {
    let Some(wanted) = choice else {
        return Ok(0);
    };
    names
        .iter()
        .position(|n| n == wanted)
        .or_else(|| {
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(wanted.trim()))
        })
        .or_else(|| {
            let n: usize = wanted.trim().parse().ok()?;
            (1..=names.len()).contains(&n).then(|| n - 1)
        })
        .ok_or_else(|| WorkbookError::NoSuchSheet {
            wanted: wanted.to_owned(),
            sheets: names.to_vec(),
        })
}

impl SheetRows {
    /// Writes the next row's cells into `bytes` and `ends` (as the CSV
    /// reader would) and returns its sheet row number and which of its
    /// first 64 columns hold numbers (bit `i` for column `i`); `None` after
    /// the last row.
    pub fn next_row(&mut self, bytes: &mut Grow<u8>, ends: &mut Grow<usize>) -> Option<(u64, u64)> {
        let (height, width) = self.range.get_size();
        if self.next >= height {
            return None;
        }
        let r = self.next;
        self.next += 1;
        let used = (0..width)
            .rev()
            .find(|&c| !matches!(self.range.get((r, c)), None | Some(Data::Empty)))
            .map_or(0, |c| c + 1);
        // Columns left of the range are empty, but still columns.
        if used > 0 {
            for _ in 0..self.first_column {
                ends.push(bytes.len());
            }
        }
        let mut numbers = 0u64;
        for c in 0..used {
            let cell = self.range.get((r, c)).unwrap_or(&Data::Empty);
            let column = self.first_column + c;
            if matches!(cell, Data::Int(_) | Data::Float(_)) && column < 64 {
                numbers |= 1 << column;
            }
            self.text.clear();
            shown(cell, &mut self.text);
            bytes.extend_from_slice(self.text.as_bytes());
            ends.push(bytes.len());
        }
        Some((self.first_line + r as u64, numbers))
    }
}

/// Appends the text a spreadsheet shows for `cell`.
fn shown(cell: &Data, out: &mut String) {
    let _ = match cell {
        Data::Empty => Ok(()),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => {
            out.push_str(s);
            Ok(())
        }
        Data::Int(i) => write!(out, "{i}"),
        // Rust writes a whole float without `.0` and never in exponent
        // form, as a spreadsheet shows a number formatted as such.
        Data::Float(f) => write!(out, "{f}"),
        Data::Bool(b) => {
            out.push_str(if *b { "TRUE" } else { "FALSE" });
            Ok(())
        }
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
            if dt.as_f64() < 1.0 {
                write!(out, "{h:02}:{mi:02}:{s:02}")
            } else if (h, mi, s) == (0, 0, 0) {
                write!(out, "{y:04}-{mo:02}-{d:02}")
            } else {
                write!(out, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
            }
        }
        Data::DateTime(dt) => {
            let seconds = (dt.as_f64() * 86_400.0).round() as i64;
            let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
            write!(out, "{h}:{m:02}:{s:02}")
        }
        Data::Error(err) => write!(out, "{err}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{ExcelDateTime, ExcelDateTimeType};

    fn text(cell: Data) -> String {
        let mut out = String::new();
        shown(&cell, &mut out);
        out
    }

    #[test]
    fn cells_read_as_a_spreadsheet_shows_them() {
        assert_eq!(text(Data::Float(3.0)), "3");
        assert_eq!(text(Data::Float(2.5)), "2.5");
        assert_eq!(text(Data::Int(-7)), "-7");
        assert_eq!(text(Data::Bool(true)), "TRUE");
        assert_eq!(
            text(Data::Float(8.988307000000754e19)),
            "89883070000007540000"
        );
        let date = ExcelDateTime::new(45943.0, ExcelDateTimeType::DateTime, false);
        assert_eq!(text(Data::DateTime(date)), "2025-10-13");
        let datetime = ExcelDateTime::new(45943.5, ExcelDateTimeType::DateTime, false);
        assert_eq!(text(Data::DateTime(datetime)), "2025-10-13T12:00:00");
    }

    #[test]
    fn sheets_are_picked_by_name_then_number() {
        let names: Vec<String> = ["Summary", "SIMs", "2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(pick_sheet(&names, None).unwrap(), 0);
        assert_eq!(pick_sheet(&names, Some("sims")).unwrap(), 1);
        assert_eq!(
            pick_sheet(&names, Some("2")).unwrap(),
            2,
            "a name wins over a number"
        );
        assert_eq!(pick_sheet(&names, Some("1")).unwrap(), 0);
        let err = pick_sheet(&names, Some("4")).unwrap_err().to_string();
        assert!(err.contains("\"Summary\", \"SIMs\", \"2\""), "{err}");
    }

    /// A small real `.xlsx`, for the damaged-workbook proptest.
    fn small_xlsx() -> Vec<u8> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "iccid").unwrap();
        sheet.write_string(1, 0, "89883070000007537119").unwrap();
        sheet.write_number(2, 0, 8.9e19).unwrap();
        book.save_to_buffer().unwrap()
    }

    /// Every row of whatever `open` makes of `bytes`.
    fn read_all(bytes: Vec<u8>, choice: Option<&str>) {
        if let Ok(mut sheet) = open(bytes, choice) {
            let (mut cells, mut ends) = (Grow::default(), Grow::default());
            while sheet.next_row(&mut cells, &mut ends).is_some() {
                cells.clear();
                ends.clear();
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_behind_a_workbook_signature_never_panic(
            zip in proptest::bool::ANY,
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2000),
        ) {
            let head = if zip { ZIP } else { OLE };
            read_all([head, &bytes[..]].concat(), Some("1"));
        }

        #[test]
        fn a_damaged_xlsx_never_panics(
            damage in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 1..8),
            cut in proptest::option::of(proptest::num::usize::ANY),
        ) {
            let mut bytes = small_xlsx();
            for (at, byte) in damage {
                let len = bytes.len();
                bytes[at % len] = byte;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            read_all(bytes, None);
        }
    }

    #[test]
    fn signatures_decide_what_is_a_workbook() {
        assert!(is_workbook(b"PK\x03\x04rest"));
        assert!(is_workbook(OLE));
        assert!(!is_workbook(b"iccid\n"));
    }
}

//! SIM vendor output files ("out files"), read as the CSV they amount to.
//!
//! A SIM vendor's personalisation output opens with a header block of
//! `key: value` lines (quantity, profile, batch, the input variables) and
//! `*` comment lines, then a `var_out:` line naming the columns, separated by
//! `/` or spaces (`var_out: ICCID/IMSI/KI/PIN1/PUK1`), then one SIM per line,
//! its values separated by white space. [`VendorCsv`] turns such a file into
//! CSV line by line, as it is read: the header block and comments become
//! blank lines, the `var_out:` line the header row and each SIM a row, so
//! every row keeps the line number the vendor's file has. The columns past
//! the ICCID are mostly secrets (Ki, OPc, PIN, PUK, ADM), which
//! [`crate::secrets`] withholds.

use std::io::{self, BufRead, Read};

/// The columns a `var_out:` line names, or `None` when `line` is not one.
fn var_out_columns(line: &[u8]) -> Option<Vec<&[u8]>> {
    const KEY: &[u8] = b"var_out";
    let line = line.trim_ascii();
    let head = line.get(..KEY.len())?;
    if !head.eq_ignore_ascii_case(KEY) {
        return None;
    }
    let rest = line[KEY.len()..].trim_ascii_start().strip_prefix(b":")?;
    Some(
        rest.split(|&b| b == b'/' || b.is_ascii_whitespace())
            .filter(|name| !name.is_empty())
            .collect(),
    )
}

/// True for a line of the header block or a comment: blank, `* ...`, or
/// `key: value`.
fn is_header_block_line(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    line.is_empty() || line.starts_with(b"*") || line.contains(&b':')
}

/// True when the text `head` (the start of a file) is a vendor output file:
/// only header-block lines and comments up to a `var_out:` line.
pub fn looks_like_vendor(head: &[u8]) -> bool {
    for line in head.split(|&b| b == b'\n') {
        if var_out_columns(line).is_some() {
            return true;
        }
        if !is_header_block_line(line) {
            return false;
        }
    }
    false
}

/// Appends `cells` to `out` as one comma-separated CSV line.
fn push_csv_line<'a>(out: &mut Vec<u8>, cells: impl IntoIterator<Item = &'a [u8]>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if cell.iter().any(|b| matches!(b, b',' | b'"')) {
            out.push(b'"');
            for &b in cell {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(cell);
        }
    }
    out.push(b'\n');
}

/// A vendor output file, read as CSV: one line out for every line in.
pub struct VendorCsv<R> {
    inner: R,
    line: Vec<u8>,
    out: Vec<u8>,
    at: usize,
    /// Past the `var_out:` line: lines are SIMs.
    in_rows: bool,
}

impl<R: BufRead> VendorCsv<R> {
    pub fn new(inner: R) -> Self {
        VendorCsv {
            inner,
            line: Vec::new(),
            out: Vec::new(),
            at: 0,
            in_rows: false,
        }
    }

    /// Converts the next line; returns `false` at the end of the file.
    fn next_line(&mut self) -> io::Result<bool> {
        self.line.clear();
        self.out.clear();
        self.at = 0;
        if self.inner.read_until(b'\n', &mut self.line)? == 0 {
            return Ok(false);
        }
        let text = self.line.trim_ascii();
        if text.is_empty() || text.starts_with(b"*") {
            self.out.push(b'\n');
        } else if self.in_rows {
            let cells = text
                .split(u8::is_ascii_whitespace)
                .filter(|c| !c.is_empty());
            push_csv_line(&mut self.out, cells);
        } else if let Some(columns) = var_out_columns(text) {
            push_csv_line(&mut self.out, columns);
            self.in_rows = true;
        } else {
            self.out.push(b'\n');
        }
        Ok(true)
    }
}

impl<R: BufRead> Read for VendorCsv<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.out.len() {
            if buf.is_empty() || !self.next_line()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &[u8] = b"*****\n* HEADER\n*****\nQuantity: 2\nvar_In:\n Ser_nb: 1\n\
        Var_Out: ICCID/IMSI/KI PIN1\n\
        89883070000007537119 240010000000001 0A1B2C3D 1234\r\n\
        \n89883070000007537127  240010000000002\t0A1B2C3E \"1,2\"\n";

    #[test]
    fn recognises_vendor_files_by_their_header_block() {
        assert!(looks_like_vendor(SAMPLE));
        assert!(!looks_like_vendor(b"iccid,name\n8988,a\n"));
        assert!(!looks_like_vendor(
            b"Note: a title\niccid,name\nvar_out: x\n"
        ));
        assert!(!looks_like_vendor(b"Quantity: 2\n"));
    }

    #[test]
    fn turns_each_line_into_one_csv_line() {
        let mut csv = String::new();
        VendorCsv::new(SAMPLE).read_to_string(&mut csv).unwrap();
        let lines: Vec<&str> = csv.split('\n').collect();
        assert_eq!(lines[..6], ["", "", "", "", "", ""]);
        assert_eq!(lines[6], "ICCID,IMSI,KI,PIN1");
        assert_eq!(
            lines[7],
            "89883070000007537119,240010000000001,0A1B2C3D,1234"
        );
        assert_eq!(lines[8], "");
        assert_eq!(
            lines[9],
            "89883070000007537127,240010000000002,0A1B2C3E,\"\"\"1,2\"\"\""
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut head = b"var_out: iccid/ki\n".to_vec();
            head.extend_from_slice(&bytes);
            let _ = looks_like_vendor(&bytes);
            let mut out = Vec::new();
            VendorCsv::new(&head[..]).read_to_end(&mut out).unwrap();
            let lines_in = head.iter().filter(|&&b| b == b'\n').count();
            let lines_out = out.iter().filter(|&&b| b == b'\n').count();
            prop_assert!(lines_out == lines_in || lines_out == lines_in + 1);
        }
    }
}

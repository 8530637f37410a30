//! Splitting a byte stream into CSV records, straight into the caller's
//! buffers, with the line each record ends on.
//!
//! The csv crate's reader parses into one `ByteRecord` per call; `validate`
//! wants a whole chunk of records in one flat buffer, so parsing with
//! `csv_core` into that buffer saves a copy of every byte on the one thread
//! that cannot be parallel. Records end at `'\n'` alone (a `'\r'` before it
//! stays on the last cell) and the stream always ends with one, which is
//! what makes line numbers exact (see `manifest::start_line`).

use std::io::{self, Read};

/// A CSV record reader over a byte stream.
pub struct Records<R> {
    core: csv_core::Reader,
    input: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    eof: bool,
    /// Bytes handed to the parser so far.
    consumed: u64,
}

/// A buffer the parser writes into. Its spare room stays initialised from
/// one record to the next, so growing it is the only time it is filled.
#[derive(Clone, Debug, Default)]
pub struct Grow<T> {
    data: Vec<T>,
    used: usize,
}

impl<T: Copy + Default> Grow<T> {
    pub fn as_slice(&self) -> &[T] {
        &self.data[..self.used]
    }

    pub fn len(&self) -> usize {
        self.used
    }

    pub fn clear(&mut self) {
        self.used = 0;
    }

    pub fn push(&mut self, value: T) {
        self.room(1)[0] = value;
        self.used += 1;
    }

    pub fn extend_from_slice(&mut self, values: &[T]) {
        self.room(values.len())[..values.len()].copy_from_slice(values);
        self.used += values.len();
    }

    /// At least `min` elements of spare room, after the used ones.
    fn room(&mut self, min: usize) -> &mut [T] {
        if self.data.len() - self.used < min {
            let grown = (self.data.len() * 2).max(self.used + min);
            self.data.resize(grown, T::default());
        }
        &mut self.data[self.used..]
    }
}

/// Where a parsed record went: its cells were appended to `bytes`, and
/// `ends` got each cell's end, counted from the record's first byte.
pub struct Parsed {
    pub end_line: u64,
}

impl<R: Read> Records<R> {
    pub fn new(input: R, delimiter: u8, buffer: usize) -> Self {
        let core = csv_core::ReaderBuilder::new()
            .delimiter(delimiter)
            .terminator(csv_core::Terminator::Any(b'\n'))
            .build();
        Records {
            core,
            input,
            buf: vec![0; buffer.max(1)].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
            consumed: 0,
        }
    }

    /// Parses the next record onto the ends of `bytes` and `ends`. Returns
    /// `None` at the end of the stream. On an I/O error, what was appended is
    /// left in place; the caller drops the chunk anyway.
    pub fn next(
        &mut self,
        bytes: &mut Grow<u8>,
        ends: &mut Grow<usize>,
    ) -> io::Result<Option<Parsed>> {
        loop {
            if self.pos == self.len && !self.eof {
                self.len = self.input.read(&mut self.buf)?;
                self.pos = 0;
                self.eof = self.len == 0;
            }
            let ending = self.eof && self.pos == self.len;
            let (result, read, wrote, ended) = self.core.read_record(
                &self.buf[self.pos..self.len],
                bytes.room(256),
                ends.room(16),
            );
            self.pos += read;
            self.consumed += read as u64;
            bytes.used += wrote;
            ends.used += ended;
            match result {
                csv_core::ReadRecordResult::InputEmpty
                | csv_core::ReadRecordResult::OutputFull
                | csv_core::ReadRecordResult::OutputEndsFull => continue,
                csv_core::ReadRecordResult::Record => {
                    // A record ended by the end of the input, not by a line
                    // end, swallowed the stream's last '\n' into a quote left
                    // open: count the line end it never had, so that its
                    // first line comes out right.
                    let end_line = self.core.line() + u64::from(ending);
                    return Ok(Some(Parsed { end_line }));
                }
                csv_core::ReadRecordResult::End => return Ok(None),
            }
        }
    }

    /// Bytes handed to the parser so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The line the parser is on.
    pub fn line(&self) -> u64 {
        self.core.line()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (cells, end line) of `text`, read through a buffer of `buffer` bytes.
    fn parse(text: &str, buffer: usize) -> Vec<(Vec<String>, u64)> {
        let mut records = Records::new(text.as_bytes(), b',', buffer);
        let mut out = Vec::new();
        loop {
            let (mut bytes, mut ends) = (Grow::default(), Grow::default());
            let Some(parsed) = records.next(&mut bytes, &mut ends).unwrap() else {
                return out;
            };
            let bytes = bytes.as_slice();
            let mut start = 0;
            let cells = ends
                .as_slice()
                .iter()
                .map(|&end| {
                    let cell = String::from_utf8(bytes[start..end].to_vec()).unwrap();
                    start = end;
                    cell
                })
                .collect();
            out.push((cells, parsed.end_line));
        }
    }

    #[test]
    fn records_and_lines_do_not_depend_on_the_buffer_size() {
        let text = "a,b\n\n\"x\ny\",\"q\"\"q\"\nlast,,\n";
        let expected = parse(text, 1 << 16);
        assert_eq!(expected[0].0, ["a", "b"]);
        assert_eq!(expected[1].0, ["x\ny", "q\"q"]);
        assert_eq!(expected[2].0, ["last", "", ""]);
        for buffer in 1..12 {
            assert_eq!(parse(text, buffer), expected, "buffer of {buffer} bytes");
        }
    }
}

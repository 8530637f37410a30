//! Splitting a byte stream into CSV records, with the line each record ends on.
//!
//! Two ways: one record at a time ([`Records::next`], parsed with `csv_core`
//! straight into the caller's buffers), and whole blocks of records
//! ([`Records::read_block`]) for `validate`, whose one sequential thread then
//! only has to find where records end and leaves the parsing to the others.
//! Records end at `'\n'` alone (a `'\r'` before it stays on the last cell)
//! and the stream always ends with one, which is what makes line numbers
//! exact (see `manifest::start_line`).

use std::io::{self, Read};

/// A CSV record reader over a byte stream.
pub struct Records<R> {
    core: Parser,
    delimiter: u8,
    input: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    eof: bool,
    /// Bytes handed to the parser so far.
    consumed: u64,
    /// Block reading: bytes read past the last block's final record.
    carry: Vec<u8>,
    /// Block reading: the line the next block starts on.
    block_line: Option<u64>,
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

/// What one call into the parser came to.
enum Fed {
    /// It wants more input or more room.
    More,
    /// A record ended; the parser's line is now `end_line`.
    Record { end_line: u64 },
    /// The stream ended between records.
    End,
}

/// The csv parser, as every reader here uses it.
struct Parser {
    core: csv_core::Reader,
    /// Whether it has been given any input yet.
    fed: bool,
}

impl Parser {
    fn new(delimiter: u8) -> Self {
        let core = csv_core::ReaderBuilder::new()
            .delimiter(delimiter)
            .terminator(csv_core::Terminator::Any(b'\n'))
            .build();
        Parser { core, fed: false }
    }

    fn reset(&mut self) {
        self.core.reset();
        self.fed = false;
    }

    fn line(&self) -> u64 {
        self.core.line()
    }

    /// Feeds `input` to the parser, which appends what it parses to `bytes`
    /// and `ends`; an empty `input` tells it the stream has ended. Returns
    /// how many bytes of `input` it used.
    fn feed(&mut self, input: &[u8], bytes: &mut Grow<u8>, ends: &mut Grow<usize>) -> (usize, Fed) {
        // csv_core drops a UTF-8 BOM at the start of the first input it is
        // given. A manifest's own BOM is dealt with before parsing starts, and
        // a parser that starts mid-file must not drop one that is text: its
        // first input is one byte, too short for a BOM.
        let input = if self.fed {
            input
        } else {
            self.fed = true;
            &input[..input.len().min(1)]
        };
        let (result, read, wrote, ended) =
            self.core.read_record(input, bytes.room(256), ends.room(16));
        bytes.used += wrote;
        ends.used += ended;
        let fed = match result {
            csv_core::ReadRecordResult::InputEmpty
            | csv_core::ReadRecordResult::OutputFull
            | csv_core::ReadRecordResult::OutputEndsFull => Fed::More,
            // A record ended by the end of the input, not by a line end,
            // swallowed the stream's last '\n' into a quote left open: count
            // the line end it never had, so that its first line comes out right.
            csv_core::ReadRecordResult::Record => Fed::Record {
                end_line: self.core.line() + u64::from(input.is_empty()),
            },
            csv_core::ReadRecordResult::End => Fed::End,
        };
        (read, fed)
    }
}

/// The records of a slice that holds whole records (a piece of a [`Block`]),
/// with lines counted from 1 at its start.
pub struct SliceRecords<'a> {
    core: Parser,
    input: &'a [u8],
    pos: usize,
}

impl<'a> SliceRecords<'a> {
    pub fn new(input: &'a [u8], delimiter: u8) -> Self {
        SliceRecords {
            core: Parser::new(delimiter),
            input,
            pos: 0,
        }
    }

    /// Parses the next record onto the ends of `bytes` and `ends`, or says
    /// the slice is used up.
    pub fn next(&mut self, bytes: &mut Grow<u8>, ends: &mut Grow<usize>) -> Option<Parsed> {
        loop {
            let (read, fed) = self.core.feed(&self.input[self.pos..], bytes, ends);
            self.pos += read;
            match fed {
                Fed::More => continue,
                Fed::Record { end_line } => return Some(Parsed { end_line }),
                Fed::End => return None,
            }
        }
    }

    /// Starts again on another slice, keeping the parser (building one is
    /// not cheap).
    pub fn restart(&mut self, input: &'a [u8]) {
        self.core.reset();
        self.input = input;
        self.pos = 0;
    }

    /// How much of the slice the records so far took, blank lines included.
    pub fn pos(&self) -> usize {
        self.pos
    }
}

/// Whole records straight from the stream, cut into pieces that each start
/// at a record, so that the pieces can be split into records in parallel:
/// see [`Records::read_block`]. Empty when the stream has ended.
#[derive(Debug, Default)]
pub struct Block {
    /// The block's bytes, then room: it is never shrunk, so the room never
    /// needs filling again before the next read writes over it.
    buf: Vec<u8>,
    len: usize,
    /// Where each piece starts in `bytes`, and the line it starts on.
    pub pieces: Vec<(usize, u64)>,
    /// The block holds a `"`, so its records need the csv parser; a block
    /// without one is split at line ends and delimiters, which is the same
    /// thing there and many times faster.
    pub quoted: bool,
}

impl Block {
    /// The block's bytes: whole records.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The bytes of piece `index` and the line it starts on.
    pub fn piece(&self, index: usize) -> (&[u8], u64) {
        let (start, line) = self.pieces[index];
        let end = self.pieces.get(index + 1).map_or(self.len, |p| p.0);
        (&self.buf[start..end], line)
    }

    /// Puts `bytes` at `at`, making room for them, and returns where they end.
    fn put(&mut self, at: usize, bytes: &[u8]) -> usize {
        let end = at + bytes.len();
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        self.buf[at..end].copy_from_slice(bytes);
        end
    }
}

/// Runs the csv parser over `bytes`, which start at a record, and returns
/// where the last record that ends inside them ends (0 when none does).
/// Record ends about `piece` bytes apart go into `starts`, as piece starts.
fn record_ends(bytes: &[u8], delimiter: u8, piece: usize, starts: &mut Vec<(usize, u64)>) -> usize {
    starts.clear();
    let mut core = Parser::new(delimiter);
    let (mut cells, mut ends) = (Grow::default(), Grow::default());
    let (mut pos, mut last, mut next_piece) = (0, 0, piece);
    while pos < bytes.len() {
        let (read, fed) = core.feed(&bytes[pos..], &mut cells, &mut ends);
        pos += read;
        if let Fed::Record { .. } = fed {
            last = pos;
            cells.clear();
            ends.clear();
            if pos >= next_piece {
                starts.push((pos, 0));
                next_piece = pos + piece;
            }
        }
    }
    last
}

/// The places of every byte of a text equal to one of three, in order.
/// Like `memchr::memchr3_iter`, but without starting a new search for each
/// one, which is what a CSV line is made of: a hit every few bytes.
pub struct ThreeBytes<'a> {
    text: &'a [u8],
    bytes: [u8; 3],
    /// Where the next 16 bytes to look at start.
    at: usize,
    /// Where the 16 bytes looked at last start, and which of them matched.
    chunk: usize,
    found: u32,
}

impl<'a> ThreeBytes<'a> {
    pub fn new(text: &'a [u8], bytes: [u8; 3]) -> Self {
        ThreeBytes {
            text,
            bytes,
            at: 0,
            chunk: 0,
            found: 0,
        }
    }

    /// Which of the 16 bytes at `at` match, one bit each.
    #[cfg(target_arch = "x86_64")]
    fn matches(&self, at: usize) -> u32 {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        assert!(at + 16 <= self.text.len());
        // SAFETY: SSE2 is part of every x86_64 processor, and the unaligned
        // 16-byte load lies inside `text`, as just asserted.
        unsafe {
            let [a, b, c] = self.bytes.map(|byte| _mm_set1_epi8(byte as i8));
            let v = _mm_loadu_si128(self.text.as_ptr().add(at).cast::<__m128i>());
            let equal = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, a), _mm_cmpeq_epi8(v, b)),
                _mm_cmpeq_epi8(v, c),
            );
            _mm_movemask_epi8(equal) as u32
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn matches(&self, at: usize) -> u32 {
        (0..16).fold(0, |found, i| {
            found | u32::from(self.bytes.contains(&self.text[at + i])) << i
        })
    }
}

impl Iterator for ThreeBytes<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        loop {
            if self.found != 0 {
                let hit = self.chunk + self.found.trailing_zeros() as usize;
                self.found &= self.found - 1;
                return Some(hit);
            }
            if self.at + 16 <= self.text.len() {
                self.chunk = self.at;
                self.found = self.matches(self.at);
                self.at += 16;
                continue;
            }
            // The last few bytes, one at a time.
            while self.at < self.text.len() {
                self.at += 1;
                if self.bytes.contains(&self.text[self.at - 1]) {
                    return Some(self.at - 1);
                }
            }
            return None;
        }
    }
}

/// How many line ends `bytes` holds.
fn count_lines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

impl<R: Read> Records<R> {
    pub fn new(input: R, delimiter: u8, buffer: usize) -> Self {
        Records {
            core: Parser::new(delimiter),
            delimiter,
            input,
            buf: vec![0; buffer.max(1)].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
            consumed: 0,
            carry: Vec::new(),
            block_line: None,
        }
    }

    /// Parses the next record onto the ends of `bytes` and `ends`. Returns
    /// `None` at the end of the stream. On an I/O error, what was appended is
    /// left in place; the caller drops the chunk anyway.
    ///
    /// Not to be called once [`Records::read_block`] has been.
    pub fn next(
        &mut self,
        bytes: &mut Grow<u8>,
        ends: &mut Grow<usize>,
    ) -> io::Result<Option<Parsed>> {
        debug_assert!(self.block_line.is_none(), "records read after blocks");
        loop {
            if self.pos == self.len && !self.eof {
                self.len = self.input.read(&mut self.buf)?;
                self.pos = 0;
                self.eof = self.len == 0;
            }
            let (read, fed) = self.core.feed(&self.buf[self.pos..self.len], bytes, ends);
            self.pos += read;
            self.consumed += read as u64;
            match fed {
                Fed::More => continue,
                Fed::Record { end_line } => return Ok(Some(Parsed { end_line })),
                Fed::End => return Ok(None),
            }
        }
    }

    /// Fills `block` with the whole records of about the next `target` bytes
    /// (more when one record is longer), cut into pieces of about `piece`
    /// bytes. The records after the last one read here come next; once
    /// blocks are read, records cannot be read one at a time.
    pub fn read_block(&mut self, block: &mut Block, target: usize, piece: usize) -> io::Result<()> {
        let line = *self.block_line.get_or_insert(self.core.line());
        block.pieces.clear();
        block.quoted = false;
        // What the last block left over, then what the header's reader had
        // buffered, then fresh reads.
        let mut len = block.put(0, &self.carry);
        len = block.put(len, &self.buf[self.pos..self.len]);
        self.carry.clear();
        self.pos = self.len;

        let mut target = target.max(1);
        let mut scanned = 0;
        let cut = loop {
            while len < target && !self.eof {
                let room = target.max(len + 64 * 1024);
                if block.buf.len() < room {
                    block.buf.resize(room, 0);
                }
                match self.input.read(&mut block.buf[len..room]) {
                    Ok(n) => {
                        len += n;
                        self.eof = n == 0;
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            }
            let bytes = &block.buf[..len];
            block.quoted |= memchr::memchr(b'"', &bytes[scanned..]).is_some();
            scanned = len;
            if self.eof {
                break len;
            }
            let last_end = if block.quoted {
                record_ends(bytes, self.delimiter, piece, &mut block.pieces)
            } else {
                memchr::memrchr(b'\n', bytes).map_or(0, |i| i + 1)
            };
            if last_end > 0 {
                break last_end;
            }
            // One record longer than the block: read on.
            target = len * 2;
        };
        self.carry.extend_from_slice(&block.buf[cut..len]);
        block.len = cut;
        self.consumed += cut as u64;
        let bytes = &block.buf[..cut];

        if !block.quoted {
            block.pieces.clear();
            let mut at = piece;
            while at < cut {
                match memchr::memchr(b'\n', &bytes[at..]) {
                    Some(i) if at + i + 1 < cut => block.pieces.push((at + i + 1, 0)),
                    _ => break,
                }
                at = block.pieces.last().map_or(cut, |p| p.0) + piece;
            }
        } else if self.eof {
            // The cut is the end of the stream, and the record ends are not
            // known yet.
            record_ends(bytes, self.delimiter, piece, &mut block.pieces);
        }
        block.pieces.retain(|&(start, _)| start < cut);
        if cut > 0 {
            block.pieces.insert(0, (0, 0));
        }
        let mut line = line;
        let mut counted = 0;
        for (start, piece_line) in &mut block.pieces {
            line += count_lines(&bytes[counted..*start]);
            counted = *start;
            *piece_line = line;
        }
        self.block_line = Some(line + count_lines(&bytes[counted..cut]));
        Ok(())
    }

    /// Bytes read as records so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The line the reader is on.
    pub fn line(&self) -> u64 {
        self.block_line.unwrap_or_else(|| self.core.line())
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

    proptest::proptest! {
        /// The three-byte scan finds what a plain filter finds, in order.
        #[test]
        fn three_bytes_finds_every_match(text in proptest::collection::vec(0u8..8, 0..100)) {
            let bytes = [1, 3, 7];
            let want: Vec<usize> = (0..text.len()).filter(|&i| bytes.contains(&text[i])).collect();
            let got: Vec<usize> = ThreeBytes::new(&text, bytes).collect();
            proptest::prop_assert_eq!(got, want);
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

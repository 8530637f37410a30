//! `validate`'s block path, the fast one for text: the file comes in blocks
//! of whole records, and each block is split into pieces that are checked
//! and encoded in one parallel pass, as if no row were a duplicate; the rare
//! duplicates are found in order afterwards and just those rows re-encoded.
//!
//! Its contract is the row path ([`Validator::check_chunk`], which `run`
//! uses): the proptests at the end of this file hold the two to the same
//! bytes, the same stop on text that is not UTF-8, and the same counts,
//! however a file is cut into blocks and pieces.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Mutex;

use rayon::prelude::*;

use super::{check_row, encode_checked, Checked, Counts, Ended, Problem, Stage, Validator};
use crate::duplicates::Batch;
use crate::iccid::{self, CheckDigit};
use crate::manifest::{Block, Cells, Decoded, Manifest, ManifestError, RowRef};
use crate::results::{self, ResultWriter};
use crate::summary::Summary;

/// The most valid ICCIDs the duplicate set is sized for up front (a table of
/// about 128 MB). A guess from the first piece cannot make it bigger than
/// that; past it, the set grows as ICCIDs come.
const RESERVE_AT_MOST: usize = 1 << 22;

/// One piece of a block, checked and encoded in one pass.
#[derive(Debug, Default)]
pub(super) struct Piece {
    bytes: Vec<u8>,
    /// Each row: where its record is in the block, its line, and where its
    /// encoding starts in `bytes`.
    rows: Vec<(usize, u64, usize)>,
    /// The line of a record that is not UTF-8, where this piece stopped.
    not_utf8: Option<u64>,
    /// Each valid row's ICCID: its key under the row's number in the piece.
    keys: Batch,
    counts: Counts,
}

/// A block checked and encoded: the result rows, in pieces.
struct Encoded {
    pieces: Vec<Out>,
    rows: u64,
    /// The line of the first record that is not UTF-8; the pieces hold every
    /// row before it.
    not_utf8: Option<u64>,
}

/// One piece's result rows as the writer gets them: the rows encoded as if
/// none were a duplicate, and the stretches that the duplicates replace.
/// Splicing those in would move the rest of the piece; the writer just
/// writes around them.
struct Out {
    bytes: Vec<u8>,
    /// `(start, end, encoding)`: the row at `bytes[start..end]` is written
    /// as `encoding` instead. In order.
    redone: Vec<(usize, usize, Vec<u8>)>,
}

impl Out {
    fn write_to(&self, out: &mut impl FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<()> {
        let mut at = 0;
        for (start, end, encoding) in &self.redone {
            out(&self.bytes[at..*start])?;
            out(encoding)?;
            at = *end;
        }
        out(&self.bytes[at..])
    }
}

/// What every piece of a block is checked against.
struct Layout<'a> {
    block: &'a Block,
    iccid_column: usize,
    extra_columns: &'a [usize],
    policy: CheckDigit,
    /// A comma-delimited line already holds its other cells as CSV.
    commas: bool,
    width: usize,
}

impl Validator {
    /// `validate`'s hot path: splits, checks and encodes the pieces of a
    /// block in one parallel pass, as if no row were a duplicate, then finds
    /// the duplicates in order and re-encodes just those rows. Duplicates are
    /// rare, so each row is read once instead of once per stage. Encodings go
    /// into buffers taken from `spare`.
    fn check_block(
        &mut self,
        block: &Block,
        iccid_column: usize,
        extra_columns: &[usize],
        summary: &mut Summary,
        spare: &mut Vec<Vec<u8>>,
    ) -> Encoded {
        let layout = Layout {
            block,
            iccid_column,
            extra_columns,
            policy: self.policy,
            commas: block.delimiter() == b',' && !self.withholding,
            width: extra_columns.len() + 1,
        };
        let blank = self.blank_pieces(block.pieces(), spare);
        let mut pieces = self.check_pieces(&layout, blank);
        // Nothing after text that is not UTF-8 counts: reading stops there.
        let not_utf8 = pieces.iter().position(|p| p.not_utf8.is_some());
        if let Some(bad) = not_utf8 {
            pieces.truncate(bad + 1);
        }
        // Rows are numbered across the block, so that duplicates can be
        // found in the order of the file.
        let mut firsts = Vec::with_capacity(pieces.len());
        let mut rows = 0;
        for piece in &pieces {
            firsts.push(rows);
            rows += piece.rows.len();
        }
        let batches: Vec<(&Batch, usize)> = pieces
            .iter()
            .map(|p| &p.keys)
            .zip(firsts.iter().copied())
            .collect();
        let repeats = self.seen.insert_batches(&batches);
        count(&mut pieces, repeats.len() as u64).into_summary(summary);
        let redone = redo_repeats(&layout, &pieces, &firsts, repeats);
        let not_utf8 = not_utf8.and_then(|p| pieces[p].not_utf8);
        let encoded = pieces
            .iter_mut()
            .zip(redone)
            .map(|(piece, redone)| Out {
                bytes: std::mem::take(&mut piece.bytes),
                redone,
            })
            .collect();
        self.scratch.append(&mut pieces);
        Encoded {
            pieces: encoded,
            rows: rows as u64,
            not_utf8,
        }
    }

    /// Pieces are reused from block to block, and the buffers their rows
    /// are encoded into come back from the writer: growing vectors anew
    /// for every piece would copy each of them several times over.
    fn blank_pieces(&mut self, n: usize, spare: &mut Vec<Vec<u8>>) -> Vec<Piece> {
        (0..n)
            .map(|_| {
                let mut piece = self.scratch.pop().unwrap_or_else(|| Piece {
                    keys: self.seen.batch(),
                    ..Piece::default()
                });
                piece.bytes = spare.pop().unwrap_or_default();
                piece
            })
            .collect()
    }

    /// Checks and encodes every piece in parallel.
    fn check_pieces(&mut self, layout: &Layout<'_>, blank: Vec<Piece>) -> Vec<Piece> {
        // The duplicate set is sized once, for as many valid ICCIDs as the
        // file seems to hold judged from its first piece, rather than grown
        // step by step; and made while the rest of the block is checked, as
        // that takes a while (a file of junk reserves nothing).
        let file_size = self.file_size as f64;
        let to_size =
            Mutex::new((self.seen.is_empty() && file_size > 0.0).then_some(&mut self.seen));
        blank
            .into_par_iter()
            .enumerate()
            .map(|(p, mut piece)| {
                piece.clear();
                let text = layout.block.piece_len(p);
                piece.bytes.reserve(text + text / 2 + 256);
                layout.block.each_record(p, |at, decoded| match decoded {
                    Decoded::Row(row) => {
                        piece.check_row(layout, at, &row);
                        ControlFlow::Continue(())
                    }
                    Decoded::Blank => ControlFlow::Continue(()),
                    Decoded::NotUtf8 { line } => {
                        piece.not_utf8 = Some(line);
                        ControlFlow::Break(())
                    }
                });
                if p == 0 {
                    if let Some(seen) = to_size.lock().ok().and_then(|mut s| s.take()) {
                        let per_byte = piece.keys.len() as f64 / text.max(1) as f64;
                        let expected = (file_size * per_byte) as usize;
                        seen.reserve(expected.min(RESERVE_AT_MOST));
                    }
                }
                piece
            })
            .collect()
    }
}

/// The pieces' counts, with the `repeats` found afterwards moved from valid
/// to duplicate.
fn count(pieces: &mut [Piece], repeats: u64) -> Counts {
    let mut counts = Counts::default();
    for piece in pieces {
        let piece_counts = std::mem::take(&mut piece.counts);
        counts.valid += piece_counts.valid;
        for (reason, n) in piece_counts.reasons {
            counts.add_reason(reason, n);
        }
    }
    counts.valid -= repeats;
    if repeats > 0 {
        counts.add_reason("duplicate", repeats);
    }
    counts
}

/// Re-encodes the rows found to be repeats, per piece: `(start, end,
/// encoding)` for each, in order.
fn redo_repeats(
    layout: &Layout<'_>,
    pieces: &[Piece],
    firsts: &[usize],
    repeats: Vec<(usize, u64)>,
) -> Vec<Vec<(usize, usize, Vec<u8>)>> {
    let places: Vec<(usize, usize)> = repeats
        .iter()
        .map(|&(index, _)| {
            let p = firsts.partition_point(|&first| first <= index) - 1;
            (p, index - firsts[p])
        })
        .collect();
    let again = layout.block.rows_at(places.iter().map(|&(p, r)| {
        let (at, line, _) = pieces[p].rows[r];
        (at, line)
    }));
    let mut redone: Vec<Vec<(usize, usize, Vec<u8>)>> = vec![Vec::new(); pieces.len()];
    for ((row, &(p, r)), (_, first_line)) in again.iter().zip(&places).zip(repeats) {
        let Some(row) = row else {
            continue; // cannot happen: each was read from there before
        };
        let mut checked = check_row(row, layout.iccid_column, layout.policy);
        checked.verdict = Err(Problem::Duplicate { first_line });
        let mut encoding = Vec::new();
        encode_checked(&mut encoding, row, &checked, layout.extra_columns);
        let rows = &pieces[p].rows;
        let end = rows.get(r + 1).map_or(pieces[p].bytes.len(), |next| next.2);
        redone[p].push((rows[r].2, end, encoding));
    }
    redone
}

impl Piece {
    /// Checks one row, records its key and counts, and encodes it.
    #[inline]
    fn check_row(&mut self, layout: &Layout<'_>, at: usize, row: &RowRef<'_>) {
        let raw = row.get_bytes(layout.iccid_column);
        let line = row.line();
        let rows = self.rows.len();
        self.rows.push((at, line, self.bytes.len()));
        let result = iccid::check_bytes(raw, layout.policy);
        // The commonest row by far, written without a detour
        // through `Checked`: a valid ICCID with no note.
        if let Ok(iccid::Checked { iccid, note: None }) = &result {
            self.keys.push(rows, iccid.key(), line);
            self.counts.valid += 1;
            let others = row.plain_others(layout.iccid_column, layout.width);
            match others.filter(|_| layout.commas) {
                Some(others) => {
                    results::encode_valid_line(&mut self.bytes, line, iccid.as_bytes(), others)
                }
                None => {
                    let extra = layout.extra_columns.iter().map(|&i| row.get_bytes(i));
                    results::encode_valid_row(&mut self.bytes, line, iccid.as_str(), extra);
                }
            }
            return;
        }
        let checked = Checked::new(line, raw, result);
        if let Some(iccid) = checked.parsed() {
            self.keys.push(rows, iccid.key(), line);
        }
        encode_checked(&mut self.bytes, row, &checked, layout.extra_columns);
        self.counts.add(&checked);
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.rows.clear();
        self.not_utf8 = None;
        self.keys.clear();
        self.counts = Counts::default();
    }
}

impl Stage<'_> {
    /// The block path, for text: see [`validate`].
    pub(super) fn blocks<W: Write + Send>(
        &mut self,
        manifest: &mut Manifest,
        writer: ResultWriter<W>,
        path: &Path,
    ) -> Ended {
        let column = manifest.iccid_column();
        // Three stages, each on its own thread, so reading, checking and writing
        // overlap: reader → (this thread, fanning out to rayon) → writer.
        std::thread::scope(|scope| {
            // A fixed set of blocks travels reader → here in `full`, and back
            // empty in `empty`, so their buffers are reused for the whole file
            // and the reader is never more than a few blocks ahead. The writer
            // hands its buffers back the same way, through `spare`.
            const BLOCKS: usize = 3;
            let (full_tx, full) = sync_channel::<Result<Block, ManifestError>>(BLOCKS);
            let (empty, empty_rx) = channel::<Block>();
            for _ in 0..BLOCKS {
                let _ = empty.send(Block::default());
            }
            let reader = manifest;
            scope.spawn(move || read_blocks(reader, &empty_rx, &full_tx));

            let (encoded_tx, encoded_rx) = sync_channel::<(Vec<Out>, u64)>(2);
            let (spare_tx, spare_rx) = channel::<Vec<u8>>();
            let writing = scope.spawn(move || write_blocks(encoded_rx, &spare_tx, writer));

            let mut read_result = Ok(());
            let mut spare = Vec::new();
            for read in full {
                let block = match read {
                    Ok(block) if block.is_empty() => break,
                    Ok(block) => block,
                    Err(err) => {
                        read_result = Err(err);
                        break;
                    }
                };
                spare.extend(spare_rx.try_iter());
                let encoded = self.validator.check_block(
                    &block,
                    column,
                    self.extra_columns,
                    self.summary,
                    &mut spare,
                );
                let sent = encoded_tx.send((encoded.pieces, encoded.rows));
                if let Some(line) = encoded.not_utf8 {
                    read_result = Err(ManifestError::NotUtf8 {
                        path: path.to_owned(),
                        line,
                    });
                    break;
                }
                if sent.is_err() {
                    break; // the writer failed; it reports why
                }
                self.bar.set_position(block.bytes_read());
                let _ = empty.send(block);
            }
            drop(encoded_tx);
            let (written, write_result) = writing.join().expect("the writer thread does not panic");
            (read_result, written, write_result)
        })
    }
}

/// The reader's thread: fills the empty blocks it is given, in file order,
/// until the file ends or cannot be read.
fn read_blocks(
    reader: &mut Manifest,
    empty: &Receiver<Block>,
    full: &SyncSender<Result<Block, ManifestError>>,
) {
    while let Ok(mut block) = empty.recv() {
        let read = reader.read_block(&mut block).map(|()| block);
        let last = !matches!(&read, Ok(block) if !block.is_empty());
        if full.send(read).is_err() || last {
            return;
        }
    }
}

/// The writer's thread: writes the encoded blocks in order and hands their
/// buffers back through `spare`. Answers the rows written, and how writing ended.
fn write_blocks<W: Write>(
    encoded: Receiver<(Vec<Out>, u64)>,
    spare: &Sender<Vec<u8>>,
    mut writer: ResultWriter<W>,
) -> (u64, std::io::Result<()>) {
    let mut written = 0u64;
    for (pieces, rows) in encoded {
        for piece in pieces {
            if let Err(err) = piece.write_to(&mut |bytes| writer.write_raw(bytes)) {
                return (written, Err(err));
            }
            let _ = spare.send(piece.bytes);
        }
        written += rows;
    }
    // Whatever happened upstream, what was written reaches the file.
    (written, writer.into_inner().and_then(|mut out| out.flush()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{ManifestOptions, Row};

    /// How a test feeds a manifest in: at most `trickle` bytes per read (as
    /// a pipe or a slow disk would), and maybe a `--delimiter`. The text is
    /// read as UTF-8 (as `--encoding utf-8` does), so that bytes that are
    /// not UTF-8 reach the block path; [`Feed::GUESSED`] lets simboard guess.
    #[derive(Clone, Copy, Debug)]
    struct Feed {
        trickle: usize,
        delimiter: Option<u8>,
        encoding: Option<&'static encoding_rs::Encoding>,
    }

    impl Feed {
        const WHOLE: Feed = Feed {
            trickle: usize::MAX,
            delimiter: None,
            encoding: Some(encoding_rs::UTF_8),
        };

        const GUESSED: Feed = Feed {
            encoding: None,
            ..Feed::WHOLE
        };

        fn open(self, bytes: &[u8]) -> Option<Manifest> {
            let input = Box::new(Trickle {
                bytes: bytes.to_vec(),
                at: 0,
                most: self.trickle.max(1),
            });
            let options = ManifestOptions {
                delimiter: self.delimiter,
                encoding: self.encoding,
                ..ManifestOptions::default()
            };
            let path = Path::new("m.csv");
            Manifest::from_reader(path, input, bytes.len() as u64, &options).ok()
        }
    }

    /// A reader that hands out at most `most` bytes at a time.
    struct Trickle {
        bytes: Vec<u8>,
        at: usize,
        most: usize,
    }

    impl std::io::Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.most).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// What `validate`'s block path makes of `bytes`: the encoded rows, the
    /// line of text that is not UTF-8, and the counts.
    fn through_blocks(
        bytes: &[u8],
        feed: Feed,
        target: usize,
        piece: usize,
    ) -> Option<(Vec<u8>, Option<u64>, Summary)> {
        let mut m = feed.open(bytes)?;
        let (column, extra) = (m.iccid_column(), m.other_columns());
        let mut validator = Validator::new(CheckDigit::Enforce);
        validator.file_size = bytes.len() as u64;
        let (mut out, mut summary) = (Vec::new(), Summary::default());
        loop {
            let mut block = Block::default();
            m.read_block_sized(&mut block, target, piece).unwrap();
            if block.is_empty() {
                return Some((out, None, summary));
            }
            let encoded =
                validator.check_block(&block, column, &extra, &mut summary, &mut Vec::new());
            for piece in encoded.pieces {
                piece
                    .write_to(&mut |bytes| {
                        out.extend_from_slice(bytes);
                        Ok(())
                    })
                    .unwrap();
            }
            if encoded.not_utf8.is_some() {
                return Some((out, encoded.not_utf8, summary));
            }
        }
    }

    /// The same, one row at a time, as `run` reads a manifest.
    fn row_by_row(bytes: &[u8], feed: Feed) -> Option<(Vec<u8>, Option<u64>, Summary)> {
        let mut m = feed.open(bytes)?;
        let (column, extra) = (m.iccid_column(), m.other_columns());
        let mut validator = Validator::new(CheckDigit::Enforce);
        let (mut out, mut summary) = (Vec::new(), Summary::default());
        let mut row = Row::default();
        loop {
            match m.next_row(&mut row) {
                Ok(true) => {
                    let checked = validator.check_chunk(std::slice::from_ref(&row), column);
                    encode_checked(&mut out, &row, &checked[0], &extra);
                    summary.add(checked[0].outcome(), checked[0].reason(), 1);
                }
                Ok(false) => return Some((out, None, summary)),
                Err(ManifestError::NotUtf8 { line, .. }) => {
                    return Some((out, Some(line), summary))
                }
                Err(err) => panic!("{err}"),
            }
        }
    }

    #[test]
    fn byte_order_marks_inside_and_split_utf8_read_the_same_both_ways() {
        let cases: [(&[u8], Option<u64>, usize); 5] = [
            // A BOM on a line of its own is a cell of text, not nothing.
            (b"iccid\n\xEF\xBB\xBF\n\"89883070000007537119\"\n", None, 2),
            (
                b"n,iccid\n\xEF\xBB\xBFa,\"89883070000007537119\"\n",
                None,
                1,
            ),
            (
                b"n,iccid\na,89883070000007537119\n\xEF\xBB\xBFb,89883070000007537119\n",
                None,
                2,
            ),
            // Halves of a character apart are not UTF-8, whatever is between.
            (
                b"iccid,n\n89883070000007537119,x\n\xC3,\xA9,y\n",
                Some(3),
                1,
            ),
            (
                b"iccid,n\n\"89883070000007537119\",x\n\xC3,\xA9,y\n",
                Some(3),
                1,
            ),
        ];
        for (bytes, not_utf8, rows) in cases {
            let want = row_by_row(bytes, Feed::WHOLE).unwrap();
            for target in [1, 7, 64, 1 << 20] {
                let got = through_blocks(bytes, Feed::WHOLE, target, 5).unwrap();
                assert_eq!(got.0, want.0, "{}", String::from_utf8_lossy(bytes));
                assert_eq!(got.1, want.1);
            }
            assert_eq!((want.1, want.2.rows()), (not_utf8, rows as u64));
            if bytes.starts_with(b"n,") {
                assert!(String::from_utf8_lossy(&want.0).contains("\u{FEFF}"));
            }
        }
    }

    #[test]
    fn a_piece_of_nothing_but_repeats_is_encoded_like_row_by_row() {
        let mut text = String::from("iccid,n\n");
        for i in 0..5000 {
            text += &format!("89883070000007537119,{i}\n");
        }
        let want = row_by_row(text.as_bytes(), Feed::WHOLE).unwrap();
        let got = through_blocks(text.as_bytes(), Feed::WHOLE, 1 << 20, 64 << 10).unwrap();
        assert_eq!(
            String::from_utf8(got.0).unwrap(),
            String::from_utf8(want.0).unwrap()
        );
        assert_eq!(got.2.reason_count("duplicate"), 4999);
    }

    /// Bits of damaged supplier exports, to be strung together.
    const TOKENS: &[&[u8]] = &[
        b"89883070000007537119",
        b"8988 3070 0000 0753 7119",
        b"89883070000007537127",
        b"8.98830700000075E+19",
        b"iccid",
        b"x",
        b"=1",
        b"-",
        b" ",
        b",",
        b",",
        b";",
        b"\t",
        b"\"",
        b"\"\"",
        b"\n",
        b"\n",
        b"\r\n",
        b"\r",
        "é".as_bytes(),
        b"\xFF",
        // A byte-order mark inside the file is text, and the halves of "é"
        // apart are not UTF-8.
        b"\xEF\xBB\xBF",
        b"\xC3",
        b"\xA9",
    ];

    /// Cells of supplier exports, valid and not.
    const CELLS: &[&str] = &[
        "89883070000007537119",
        "89883070000007537119",
        "89883070000007537127",
        "8942424242000000011",
        "8988 3070 0000 0753 7119",
        "8.98830700000075E+19",
        "898830700000000000",
        "dev-1",
        "",
        " ",
        "=SUM(A1)",
        "-7",
        "+1",
        "@x",
        "\"a,b\"",
        "\"say \"\"hi\"\"\"",
        "a\rb",
        "é",
        "\u{FEFF}a",
        "2026-11-28",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

        /// However a file is cut into blocks and pieces, the block path
        /// writes exactly what reading it row by row would, stops at the
        /// same line when the text is not UTF-8, and counts the same.
        #[test]
        fn blocks_agree_with_reading_row_by_row(
            tokens in proptest::collection::vec(0..TOKENS.len(), 0..80),
            target in 1usize..200,
            piece in 1usize..100,
            trickle in 1usize..12,
            delimiter in proptest::sample::select(vec![None, Some(b','), Some(b';'), Some(b' '), Some(b'8')]),
        ) {
            let bytes: Vec<u8> = tokens.iter().flat_map(|&t| TOKENS[t].iter().copied()).collect();
            let feed = Feed { trickle, delimiter, ..Feed::WHOLE };
            let want = row_by_row(&bytes, feed);
            let got = through_blocks(&bytes, feed, target, piece);
            match (want, got) {
                (None, None) => {}
                (Some(want), Some(got)) => {
                    proptest::prop_assert_eq!(
                        String::from_utf8_lossy(&got.0),
                        String::from_utf8_lossy(&want.0)
                    );
                    proptest::prop_assert_eq!(got.1, want.1);
                    proptest::prop_assert_eq!(got.2.rows(), want.2.rows());
                    proptest::prop_assert_eq!(got.2.to_string(), want.2.to_string());
                }
                (want, got) => proptest::prop_assert!(false, "opened {} vs {}", want.is_some(), got.is_some()),
            }
        }

        /// The same for files shaped like supplier exports: a header or none,
        /// rows of about the header's width, any delimiter, CRLF or LF, and
        /// cells that are valid, damaged, repeated or formula-like.
        #[test]
        fn blocks_agree_on_export_shaped_files(
            header in proptest::bool::ANY,
            delimiter in proptest::sample::select(vec![",", ";", "\t"]),
            crlf in proptest::bool::ANY,
            rows in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(CELLS.to_vec()), 2..5),
                0..40,
            ),
            target in 1usize..400,
            piece in 1usize..200,
        ) {
            let end = if crlf { "\r\n" } else { "\n" };
            let mut text = String::new();
            if header {
                text += &["ICCID", "device", "pallet"].join(delimiter);
                text += end;
            }
            for cells in rows {
                text += &cells.join(delimiter);
                text += end;
            }
            let want = row_by_row(text.as_bytes(), Feed::WHOLE);
            let got = through_blocks(text.as_bytes(), Feed::WHOLE, target, piece);
            proptest::prop_assert_eq!(want.is_some(), got.is_some());
            if let (Some(want), Some(got)) = (want, got) {
                proptest::prop_assert_eq!(
                    String::from_utf8_lossy(&got.0),
                    String::from_utf8_lossy(&want.0)
                );
                proptest::prop_assert_eq!(got.2.to_string(), want.2.to_string());
            }
        }

        /// Arbitrary bytes through the block path never panic.
        #[test]
        fn arbitrary_bytes_through_blocks_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            target in 1usize..64,
            piece in 1usize..32,
        ) {
            let _ = through_blocks(&bytes, Feed::WHOLE, target, piece);
        }

        /// Text in any encoding, converted as it is read, goes through the
        /// block path as through the row path: a converted file is one more
        /// UTF-8 CSV. The bytes are tokens of a supplier file in UTF-16,
        /// Windows-1252 or a vendor's layout.
        #[test]
        fn converted_text_agrees_with_reading_row_by_row(
            tokens in proptest::collection::vec(0..CONVERTED.len(), 0..60),
            lead in 0..4usize,
            target in 1usize..200,
            piece in 1usize..100,
        ) {
            let leads: [&[u8]; 4] = [b"", b"\xFF\xFE", b"\xFE\xFF", b"* vendor\nvar_out: ICCID/Ki\n"];
            let mut bytes = leads[lead].to_vec();
            bytes.extend(tokens.iter().flat_map(|&t| CONVERTED[t].iter().copied()));
            let want = row_by_row(&bytes, Feed::GUESSED);
            let got = through_blocks(&bytes, Feed::GUESSED, target, piece);
            proptest::prop_assert_eq!(want.is_some(), got.is_some());
            if let (Some(want), Some(got)) = (want, got) {
                proptest::prop_assert_eq!(got.0, want.0);
                proptest::prop_assert_eq!(got.1, want.1);
                proptest::prop_assert_eq!(got.2.to_string(), want.2.to_string());
            }
        }
    }

    /// Pieces of text that are not UTF-8 CSV as it stands.
    const CONVERTED: &[&[u8]] = &[
        b"iccid",
        b"\0",
        b",",
        b"\t",
        b" ",
        b"\n",
        b"\r\n",
        b"89883070000007537119",
        b"\xFC",
        b"\x80",
        b"\xE9",
        b"\"",
        b"\0\n",
        b"ki",
        b"8\09\08\08",
    ];
}

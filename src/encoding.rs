//! Text encodings of manifests: the guess, and the conversion to UTF-8.
//!
//! Spreadsheets save text in whatever the machine used: UTF-8 (with or
//! without a BOM), UTF-16 for Excel's "Unicode Text" (always with a BOM), or
//! Windows-1252 for a "CSV" saved by Excel on Windows. The guess takes a BOM
//! at its word; without one, bytes that are UTF-8 are UTF-8, and any others
//! are Windows-1252, which maps every byte to a character. UTF-8 is read as
//! it is (the fast path); any other encoding passes through [`Decoding`]
//! first, so that everything after it only ever sees UTF-8, and so do the
//! results.

use std::io::{self, BufRead, Read};

pub use encoding_rs::Encoding;
use encoding_rs::{CoderResult, Decoder, UTF_8, WINDOWS_1252};

/// The encoding `--encoding` names: any label of the WHATWG Encoding
/// Standard (`utf-8`, `utf-16le`, `utf-16be`, `windows-1252`, `latin1`,
/// `shift_jis`, ...), or `None` for a name it does not know.
pub fn for_label(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(label.trim().as_bytes()).filter(|enc| *enc != encoding_rs::REPLACEMENT)
}

/// The encoding of a file that starts with `head`, and the length of its
/// BOM (0 when it has none). `head` may end in the middle of a character.
pub fn sniff(head: &[u8]) -> (&'static Encoding, usize) {
    if let Some(found) = Encoding::for_bom(head) {
        return found;
    }
    match std::str::from_utf8(head) {
        Ok(_) => (UTF_8, 0),
        // Only cut short by the end of `head`: UTF-8 so far.
        Err(err) if err.error_len().is_none() => (UTF_8, 0),
        Err(_) => (WINDOWS_1252, 0),
    }
}

/// A reader that turns text in some encoding into UTF-8 as it is read.
/// Bytes that do not decode become U+FFFD, as a text editor shows them.
pub struct Decoding<R> {
    inner: R,
    decoder: Decoder,
    out: Vec<u8>,
    at: usize,
    done: bool,
}

impl<R: BufRead> Decoding<R> {
    /// Decodes `inner` as `encoding`; a BOM of that encoding is dropped.
    pub fn new(inner: R, encoding: &'static Encoding) -> Self {
        Decoding {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            out: Vec::new(),
            at: 0,
            done: false,
        }
    }

    /// Decodes the next stretch of input into `out`.
    fn refill(&mut self) -> io::Result<()> {
        let src = self.inner.fill_buf()?;
        let last = src.is_empty();
        let room = self
            .decoder
            .max_utf8_buffer_length(src.len())
            .unwrap_or(src.len().saturating_mul(3))
            .max(16);
        self.out.clear();
        self.out.resize(room, 0);
        self.at = 0;
        let (result, read, written, _) = self.decoder.decode_to_utf8(src, &mut self.out, last);
        self.out.truncate(written);
        self.inner.consume(read);
        if last && result == CoderResult::InputEmpty {
            self.done = true;
        }
        Ok(())
    }
}

impl<R: BufRead> Read for Decoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.out.len() {
            if self.done || buf.is_empty() {
                return Ok(0);
            }
            self.refill()?;
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

    fn decode(bytes: &[u8], encoding: &'static Encoding, chunk: usize) -> String {
        let inner = io::BufReader::with_capacity(chunk, bytes);
        let mut text = String::new();
        Decoding::new(inner, encoding)
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn sniffs_boms_utf8_and_windows_1252() {
        assert_eq!(sniff(b"\xEF\xBB\xBFiccid"), (UTF_8, 3));
        assert_eq!(sniff(b"\xFF\xFEi\0"), (encoding_rs::UTF_16LE, 2));
        assert_eq!(sniff(b"\xFE\xFF\0i"), (encoding_rs::UTF_16BE, 2));
        assert_eq!(sniff("Jürgen".as_bytes()), (UTF_8, 0));
        assert_eq!(sniff(b"J\xC3"), (UTF_8, 0), "cut short in a character");
        assert_eq!(sniff(b"J\xFCrgen M\xFCller"), (WINDOWS_1252, 0));
    }

    #[test]
    fn decodes_windows_1252_and_utf16_in_small_reads() {
        assert_eq!(decode(b"J\xFCrgen \x80", WINDOWS_1252, 1), "Jürgen €");
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("iccid\tnäme\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(&utf16, encoding_rs::UTF_16LE, 3), "iccid\tnäme\n");
    }

    #[test]
    fn labels_name_encodings() {
        assert_eq!(for_label("UTF-16LE"), Some(encoding_rs::UTF_16LE));
        assert_eq!(for_label("cp1252"), Some(WINDOWS_1252));
        assert_eq!(for_label("latin1"), Some(WINDOWS_1252));
        assert_eq!(for_label("klingon"), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_decode_without_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            chunk in 1usize..64,
        ) {
            let (encoding, _) = sniff(&bytes);
            for enc in [encoding, encoding_rs::UTF_16LE, encoding_rs::UTF_16BE, WINDOWS_1252] {
                let text = decode(&bytes, enc, chunk);
                prop_assert!(std::str::from_utf8(text.as_bytes()).is_ok());
            }
        }
    }
}

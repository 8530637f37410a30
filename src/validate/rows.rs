//! The row path: one iterator of checked rows, chunk by chunk, in manifest
//! order. `validate` reads workbooks through it, and `run` reads the
//! manifest through it twice: once before any request (to count the rows,
//! check `--resume` against the file and stock the sandbox), then to feed
//! the workers. It is also the contract of the block path ([`super::block`]).

use crate::iccid::CheckDigit;
use crate::manifest::{Manifest, ManifestError, Row};

use super::{Checked, Validator};

/// Rows read and checked per step. Large enough to keep both cores busy,
/// small enough that memory does not grow with the file.
pub const CHUNK_ROWS: usize = 8 * 1024;

/// Bytes of cells read per step at most: rows of 100 KB make chunks of a few
/// dozen rows, not of 800 MB.
pub const CHUNK_BYTES: usize = 8 << 20;

/// Rows of a manifest beside their verdicts, in order.
pub type Chunk<'a> = (&'a [Row], Vec<Checked>);

/// A manifest read as checked rows: each [`CheckedRows::next_chunk`] reads up
/// to [`CHUNK_ROWS`] rows (and [`CHUNK_BYTES`]) and checks them (duplicates across chunks too).
pub struct CheckedRows<'m> {
    manifest: &'m mut Manifest,
    validator: Validator,
    column: usize,
    rows: Vec<Row>,
    done: bool,
}

impl<'m> CheckedRows<'m> {
    pub fn new(manifest: &'m mut Manifest, policy: CheckDigit) -> Self {
        CheckedRows {
            column: manifest.iccid_column(),
            manifest,
            validator: Validator::new(policy),
            rows: Vec::new(),
            done: false,
        }
    }

    /// The next rows and their verdicts, side by side; `None` after the last.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk<'_>>, ManifestError> {
        if self.done {
            return Ok(None);
        }
        let (n, ended) =
            self.manifest
                .read_chunk_within(&mut self.rows, CHUNK_ROWS, CHUNK_BYTES)?;
        self.done = ended;
        if n == 0 {
            return Ok(None);
        }
        let checked = self.validator.check_chunk(&self.rows[..n], self.column);
        Ok(Some((&self.rows[..n], checked)))
    }
}

//! Step 3 of `simboard run`: one pass over the manifest before any request.
//! It finds an unreadable file (or two columns of one meaning) before the
//! API is touched, counts the rows (the progress bar's length, and the
//! end-of-run check that every row finished), checks that the rows kept by
//! `--resume` belong to this manifest and drops those whose manifest row
//! changed (they run again), and collects the valid ICCIDs that stock
//! `--sandbox` and those the snapshot looks for (`--resolve`). The feed is
//! the only other read of the manifest.

use std::collections::HashMap;

use crate::exit::Fatal;
use crate::manifest::Manifest;
use crate::snapshot::{Resolve, Wanted};
use crate::summary::thousands;
use crate::validate::{CheckedRows, CHUNK_BYTES, CHUNK_ROWS};

use super::feed::Columns;
use super::resume::{judge, Holds, Kept, Mismatch};
use super::{RunConfig, Target};

/// What the pre-pass learnt.
pub(super) struct Prepass {
    /// Every row of the manifest.
    pub(super) total: u64,
    /// For `--sandbox`: every valid, distinct ICCID, in file order.
    pub(super) stock: Vec<String>,
    /// The ICCIDs the rows to run will resolve (not with `--resolve search`).
    pub(super) wanted: Wanted,
}

/// Reads the manifest once. Rows are only checked when there is something
/// to check them for: kept rows, a sandbox to stock, or a snapshot to take
/// (the rows to run, not kept ones, that pass their own cells). Kept rows whose
/// manifest row changed are dropped from `kept`, to run again.
pub(super) fn read(config: &RunConfig, kept: &mut HashMap<u64, Kept>) -> Result<Prepass, Fatal> {
    let mut manifest = Manifest::open(&config.manifest, &config.manifest_options)
        .map_err(Fatal::before_results)?;
    let columns = Columns::find(&manifest).map_err(Fatal::before_results)?;
    let sandbox = matches!(config.target, Target::Sandbox);
    let snapshot = config.resolve != Resolve::Search;
    if kept.is_empty() && !sandbox && !snapshot {
        return Ok(Prepass {
            total: count(&mut manifest)?,
            stock: Vec::new(),
            wanted: Wanted::default(),
        });
    }
    let mut wanted = Wanted::default();
    let mut sift = Sift::new(kept.len() as u64);
    let mut rows = CheckedRows::new(&mut manifest, config.check_digit);
    let (mut total, mut stock) = (0u64, Vec::new());
    while let Some((chunk, checked)) = rows.next_chunk().map_err(Fatal::before_results)? {
        total += chunk.len() as u64;
        for (row, checked) in chunk.iter().zip(&checked) {
            let mut runs = true;
            if let Some(previous) = kept.get(&checked.line) {
                let fingerprint = columns.fingerprint(row, &mut sift.scratch);
                let valid = checked.valid_iccid().is_some();
                match judge(previous, checked.iccid(), valid, fingerprint) {
                    Holds::Same => {
                        sift.same += 1;
                        runs = false;
                    }
                    Holds::Changed => sift.changed.push(checked.line),
                    Holds::OtherIccid => sift.other_iccid(previous, checked.line, checked.iccid()),
                }
            }
            if let Some(iccid) = checked.valid_iccid().filter(|_| runs && snapshot) {
                // A row refused for its own cells is looked up by nobody.
                if crate::onboard::cells_pass(&columns.request(row, iccid)) {
                    wanted.add(iccid);
                }
            }
            if let Some(iccid) = checked.valid_iccid().filter(|_| sandbox) {
                stock.push(iccid.to_owned());
            }
        }
    }
    sift.apply(kept)?;
    Ok(Prepass {
        total,
        stock,
        wanted,
    })
}

/// What the pre-pass found of the kept rows.
struct Sift {
    kept: u64,
    same: u64,
    /// Lines to run again (another ICCID included).
    changed: Vec<u64>,
    others: u64,
    /// The first kept row with another ICCID, for the message.
    example: Option<(u64, Box<str>, String)>,
    scratch: Vec<u8>,
}

impl Sift {
    fn new(kept: u64) -> Self {
        Sift {
            kept,
            same: 0,
            changed: Vec::new(),
            others: 0,
            example: None,
            scratch: Vec::new(),
        }
    }

    fn other_iccid(&mut self, previous: &Kept, line: u64, iccid: &str) {
        self.others += 1;
        self.changed.push(line);
        self.example
            .get_or_insert_with(|| (line, previous.iccid.clone(), iccid.to_owned()));
    }

    /// Refuses results that are not this manifest's (lines it lacks, or
    /// mostly other ICCIDs), and drops the changed rows from `kept`.
    fn apply(self, kept: &mut HashMap<u64, Kept>) -> Result<(), Fatal> {
        let seen = self.same + self.changed.len() as u64;
        if seen < self.kept {
            return Err(Fatal::before_results(format!(
                "the previous results do not match this manifest: they hold {} rows for lines \
                 it does not have; resume with the same manifest, or choose another -o",
                thousands(self.kept - seen)
            )));
        }
        if let Some((line, previous, iccid)) = self.example.filter(|_| self.others * 2 > self.kept)
        {
            return Err(Fatal::before_results(Mismatch {
                others: self.others,
                kept: self.kept,
                line,
                previous,
                iccid,
            }));
        }
        for line in self.changed {
            kept.remove(&line);
        }
        Ok(())
    }
}

/// Counts the rows, reading without checking them.
fn count(manifest: &mut Manifest) -> Result<u64, Fatal> {
    let (mut rows, mut total) = (Vec::new(), 0u64);
    loop {
        let (n, ended) = manifest
            .read_chunk_within(&mut rows, CHUNK_ROWS, CHUNK_BYTES)
            .map_err(Fatal::before_results)?;
        total += n as u64;
        if ended {
            return Ok(total);
        }
    }
}

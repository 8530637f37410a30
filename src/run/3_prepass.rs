//! Step 3 of `simboard run`: one pass over the manifest before any request.
//! It finds an unreadable file (or two columns of one meaning) before the
//! API is touched, counts the rows (the progress bar's length, and the
//! end-of-run check that every row finished), checks that the rows kept by `--resume` belong to this
//! manifest, and collects the valid ICCIDs that stock `--sandbox`. The feed
//! is the only other read of the manifest.

use std::collections::HashMap;

use crate::exit::Fatal;
use crate::manifest::Manifest;
use crate::summary::thousands;
use crate::validate::{CheckedRows, CHUNK_ROWS};

use super::feed::Columns;
use super::resume::{check_kept, Kept};
use super::{RunConfig, Target};

/// What the pre-pass learnt.
pub(super) struct Prepass {
    /// Every row of the manifest.
    pub(super) total: u64,
    /// For `--sandbox`: every valid, distinct ICCID, in file order.
    pub(super) stock: Vec<String>,
}

/// Reads the manifest once. Rows are only checked when there is something
/// to check them for: kept rows, or a sandbox to stock.
pub(super) fn read(config: &RunConfig, kept: &HashMap<u64, Kept>) -> Result<Prepass, Fatal> {
    let mut manifest = Manifest::open(&config.manifest, &config.manifest_options)
        .map_err(Fatal::before_results)?;
    Columns::find(&manifest).map_err(Fatal::before_results)?;
    let sandbox = matches!(config.target, Target::Sandbox);
    if kept.is_empty() && !sandbox {
        return Ok(Prepass {
            total: count(&mut manifest)?,
            stock: Vec::new(),
        });
    }
    let mut rows = CheckedRows::new(&mut manifest, config.check_digit);
    let (mut total, mut matched, mut stock) = (0u64, 0usize, Vec::new());
    while let Some((chunk, checked)) = rows.next_chunk().map_err(Fatal::before_results)? {
        total += chunk.len() as u64;
        for checked in &checked {
            if let Some(previous) = kept.get(&checked.line) {
                check_kept(previous, checked.line, checked.iccid())
                    .map_err(Fatal::before_results)?;
                matched += 1;
            }
            if let Some(iccid) = checked.valid_iccid().filter(|_| sandbox) {
                stock.push(iccid.to_owned());
            }
        }
    }
    if matched < kept.len() {
        return Err(Fatal::before_results(format!(
            "the previous results do not match this manifest: they hold {} rows for lines \
             it does not have; resume with the same manifest, or choose another -o",
            thousands((kept.len() - matched) as u64)
        )));
    }
    Ok(Prepass { total, stock })
}

/// Counts the rows, reading without checking them.
fn count(manifest: &mut Manifest) -> Result<u64, Fatal> {
    let (mut rows, mut total) = (Vec::new(), 0u64);
    loop {
        let n = manifest
            .read_chunk(&mut rows, CHUNK_ROWS)
            .map_err(Fatal::before_results)?;
        total += n as u64;
        if n < CHUNK_ROWS {
            return Ok(total);
        }
    }
}

//! Step 2 of `simboard run`: with `--resume`, the rows kept from the
//! interrupted run. The previous result file and the journal are read (the
//! journal wins), and every row that finished for good is kept; the rest run
//! again. They are checked against the manifest by the pre-pass, before any
//! file is touched, and again as the feeder passes them on.
//!
//! A row is kept only while its manifest row is unchanged: its ICCID cell and
//! every cell the result carries (compared by a [`results::fingerprint`] of
//! cells and headers), and only while it is still valid. Invalid rows are
//! never kept: validating costs no request, and a duplicate is judged again
//! against the manifest as it is now. A changed row runs again, as a fresh
//! row would. Withheld secret columns are in no result file, so they cannot
//! be compared; no digest of them is stored either (a PIN's digest is
//! as good as the PIN), and onboarding never sends them.

use std::collections::HashMap;
use std::path::Path;

use crate::exit::Fatal;
use crate::results::{self, Outcome, Output, ResultRow};

use super::output::Files;
use super::sink::encode;
use super::RunConfig;

/// A row that `--resume` keeps, held compactly: the outcome and reason for the
/// summary, the ICCID cell to check the manifest against, and the row itself
/// already encoded.
pub(super) struct Kept {
    pub(super) outcome: Outcome,
    pub(super) reason: Box<str>,
    /// As the file shows it (neutralised).
    pub(super) iccid: Box<str>,
    /// In the previous results: the fixed cells, encoded, without the extra
    /// columns and the line end. Handed to the sink: the whole encoded row,
    /// with the manifest's extra columns.
    pub(super) encoded: Vec<u8>,
    /// The [`results::fingerprint`] of the cells the previous row carried.
    pub(super) fingerprint: u64,
}

/// How a kept row compares with the manifest row of its line now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Holds {
    /// Unchanged and still valid: kept.
    Same,
    /// Some cell changed, or the row is no longer valid: it runs again.
    Changed,
    /// Another ICCID: changed too, but many of these mean another manifest.
    OtherIccid,
}

/// Compares a kept row with the manifest row now at its line: its ICCID
/// cell, whether it is valid, and the fingerprint of its other cells.
pub(super) fn judge(previous: &Kept, iccid_cell: &str, valid: bool, fingerprint: u64) -> Holds {
    // The file holds the cell as written: neutralised (`-` became `'-`).
    if *previous.iccid != *results::neutralise(iccid_cell) {
        Holds::OtherIccid
    } else if !valid || previous.fingerprint != fingerprint {
        Holds::Changed
    } else {
        Holds::Same
    }
}

/// The rows `--resume` keeps, by line; none without `--resume`.
pub(super) fn load(config: &RunConfig, files: &Files) -> Result<HashMap<u64, Kept>, Fatal> {
    if !config.resume {
        return Ok(HashMap::new());
    }
    load_previous(&files.output, files.journal.as_deref())
}

/// True for a row that finished for good: `--resume` does not send it again.
/// A dry run's `would_onboard`, and `api_error` (retries ran out), run again.
pub fn is_final(row: &ResultRow) -> bool {
    match row.outcome {
        Outcome::Onboarded | Outcome::AlreadyOnboarded | Outcome::Invalid => true,
        Outcome::Failed => row.reason != "api_error",
        Outcome::Valid | Outcome::WouldOnboard => false,
    }
}

/// The rows of the previous result file and journal that `--resume` keeps,
/// by line. The journal is newer, so its rows win. Both files are read row by
/// row, and only what a kept row needs is held (see [`Kept`]).
fn load_previous(output: &Output, journal: Option<&Path>) -> Result<HashMap<u64, Kept>, Fatal> {
    let mut kept = HashMap::new();
    let Output::File(results) = output else {
        return Ok(kept);
    };
    let mut found = false;
    let (mut buf, mut scratch) = (Vec::new(), Vec::new());
    for path in [Some(results.as_path()), journal].into_iter().flatten() {
        if !path.exists() {
            continue;
        }
        found = true;
        let cannot =
            |err| Fatal::before_results(format!("cannot read {} to resume: {err}", path.display()));
        let headers = results::read_extra_headers(path).map_err(cannot)?;
        results::read_results_each(path, |row| {
            if !is_final(&row) || row.outcome == Outcome::Invalid {
                kept.remove(&row.line);
                return;
            }
            let fingerprint = results::fingerprint(
                headers.iter().map(String::as_bytes),
                row.extra.iter().map(String::as_bytes),
                &mut scratch,
            );
            buf.clear();
            encode(&mut buf, &row, false);
            kept.insert(
                row.line,
                Kept {
                    outcome: row.outcome,
                    reason: row.reason.into(),
                    iccid: row.iccid.into(),
                    encoded: buf.clone(),
                    fingerprint,
                },
            );
        })
        .map_err(cannot)?;
    }
    if !found {
        return Err(Fatal::before_results(format!(
            "--resume found nothing to resume: neither {} nor its journal exists; \
             pass the -o of the interrupted run, or drop --resume",
            results.display()
        )));
    }
    Ok(kept)
}

/// Previous results of which most kept rows show another ICCID than the
/// manifest at their line: the results of another manifest.
#[derive(Debug, thiserror::Error)]
#[error(
    "the previous results do not match this manifest: {others} of the {kept} rows they keep \
     show another ICCID (line {line} has {previous} there and {iccid} here); resume with the \
     same manifest, choose another -o, or start over with --force"
)]
pub(super) struct Mismatch {
    pub(super) others: u64,
    pub(super) kept: u64,
    pub(super) line: u64,
    pub(super) previous: Box<str>,
    pub(super) iccid: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_rows_are_kept_by_resume() {
        let row = |outcome, reason: &str| ResultRow {
            reason: reason.to_owned(),
            ..ResultRow::new(2, "89", outcome)
        };
        assert!(is_final(&row(Outcome::Onboarded, "")));
        assert!(is_final(&row(Outcome::AlreadyOnboarded, "")));
        assert!(is_final(&row(Outcome::Invalid, "duplicate")));
        assert!(is_final(&row(Outcome::Failed, "sim_in_use")));
        assert!(!is_final(&row(Outcome::Failed, "api_error")));
        assert!(!is_final(&row(Outcome::WouldOnboard, "")));
    }
}

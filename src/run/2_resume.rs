//! Step 2 of `simboard run`: with `--resume`, the rows kept from the
//! interrupted run. The previous result file and the journal are read (the
//! journal wins), and every row that finished for good is kept; the rest run
//! again. They are checked against the manifest by the pre-pass, before any
//! file is touched, and again as the feeder passes them on.

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
    let mut buf = Vec::new();
    for path in [Some(results.as_path()), journal].into_iter().flatten() {
        if !path.exists() {
            continue;
        }
        found = true;
        results::read_results_each(path, |row| {
            if !is_final(&row) {
                kept.remove(&row.line);
                return;
            }
            buf.clear();
            encode(&mut buf, &row, false);
            kept.insert(
                row.line,
                Kept {
                    outcome: row.outcome,
                    reason: row.reason.into(),
                    iccid: row.iccid.into(),
                    encoded: buf.clone(),
                },
            );
        })
        .map_err(|err| {
            Fatal::before_results(format!("cannot read {} to resume: {err}", path.display()))
        })?;
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

/// Previous results whose row for a line shows another ICCID than the manifest.
#[derive(Debug, thiserror::Error)]
#[error(
    "the previous results do not match this manifest: line {line} has ICCID {previous} \
     there and {iccid} here; resume with the same manifest, or choose another -o"
)]
pub(super) struct Mismatch {
    line: u64,
    previous: Box<str>,
    iccid: String,
}

/// Refuses previous results whose row for this line shows another ICCID.
pub(super) fn check_kept(previous: &Kept, line: u64, iccid: &str) -> Result<(), Mismatch> {
    // The file holds the cell as written: neutralised (`-` became `'-`).
    if *previous.iccid != *results::neutralise(iccid) {
        return Err(Mismatch {
            line,
            previous: previous.iccid.clone(),
            iccid: iccid.to_owned(),
        });
    }
    Ok(())
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

//! Step 1 of `simboard run`: where the results go. The result file (or
//! standard output), and beside a file its journal, `<results>.journal`,
//! where every finished row is appended at once so that a kill loses
//! nothing; and `<results>.tmp`, written in order and renamed over the
//! result file at the end. A journal left by an interrupted run stops a
//! run that is not a `--resume`, before anything is touched.

use std::path::{Path, PathBuf};

use crate::exit::{Fatal, Partial};
use crate::results::{self, Output};

use super::RunConfig;

/// Where a run's results go, settled before anything else.
pub(super) struct Files {
    pub(super) output: Output,
    /// `<results>.journal`; `None` when the results go to standard output.
    pub(super) journal: Option<PathBuf>,
}

impl Files {
    pub(super) fn settle(config: &RunConfig) -> Result<Files, Fatal> {
        let output = results::resolve_output(&config.manifest, config.output.as_deref())
            .map_err(Fatal::before_results)?;
        if config.resume && output == Output::Stdout {
            return Err(Fatal::before_results(
                "--resume needs a result file: pass the -o of the interrupted run, not -o -",
            ));
        }
        let journal = match &output {
            Output::File(path) => Some(journal_path(path)),
            Output::Stdout => None,
        };
        if let Some(journal) = &journal {
            if !config.resume && journal.exists() {
                return Err(Fatal::before_results(format!(
                    "{} holds the results of an interrupted run; continue it with --resume \
                     (or delete the file to start over)",
                    journal.display()
                )));
            }
        }
        Ok(Files { output, journal })
    }

    /// What is left when the results were written through: their first `rows`.
    pub(super) fn partial(&self, rows: u64) -> Partial {
        match &self.output {
            Output::Stdout => Partial::Stdout { rows },
            Output::File(path) => Partial::File {
                path: path.clone(),
                rows,
            },
        }
    }

    /// What is left when the result file cannot be put in place: the journal
    /// (every row finished by this run) and the previous result file, as they were.
    pub(super) fn resumable(&self, written: u64) -> Partial {
        match (&self.output, &self.journal) {
            (Output::File(path), Some(journal)) => Partial::Journal {
                journal: journal.clone(),
                results: path.exists().then(|| path.clone()),
            },
            _ => Partial::Stdout { rows: written },
        }
    }
}

/// `<results>.journal`, beside the result file.
pub fn journal_path(results: &Path) -> PathBuf {
    let mut name = results.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

pub(super) fn temp_path(results: &Path) -> PathBuf {
    let mut name = results.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_sits_beside_the_results() {
        assert_eq!(
            journal_path(Path::new("/x/m.results.csv")),
            Path::new("/x/m.results.csv.journal")
        );
    }
}

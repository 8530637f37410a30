//! Step 1 of `simboard run`: where the results go. The result file (or
//! standard output), and beside a file its journal, `<results>.journal`,
//! where every finished row is appended at once so that a kill loses
//! nothing; and `<results>.tmp`, written in order and renamed over the
//! result file at the end.
//!
//! Every local problem that can be known is found here, before the first
//! request: `-o` a directory or in a place that cannot be written, another
//! run on the same result file (see [`super::lock`]), a journal left by an
//! interrupted run, results of an earlier run that would be overwritten
//! (`--resume` keeps them, `--force` replaces them), a closed standard output.

use std::path::{Path, PathBuf};

use crate::exit::{Fatal, Partial};
use crate::results::{self, Outcome, Output};
use crate::run::Target;

use super::lock::Lock;
use super::RunConfig;

/// Where a run's results go, settled before anything else.
pub(super) struct Files {
    pub(super) output: Output,
    /// `<results>.journal`; `None` when the results go to standard output.
    pub(super) journal: Option<PathBuf>,
    /// Held from before the first request to the end of the run.
    _lock: Option<Lock>,
}

impl Files {
    pub(super) fn settle(config: &RunConfig) -> Result<Files, Fatal> {
        let output = results::resolve_output(&config.manifest, config.output.as_deref())
            .map_err(Fatal::before_results)?;
        let path = match &output {
            Output::File(path) => path.clone(),
            Output::Stdout => return Files::stdout(config),
        };
        if path.is_dir() {
            return Err(Fatal::before_results(format!(
                "-o {} is a directory; name a file in it, such as {}",
                path.display(),
                path.join("results.csv").display()
            )));
        }
        let lock = Lock::take(&path).map_err(Fatal::before_results)?;
        let journal = journal_path(&path);
        if !config.resume {
            let sandbox = matches!(config.target, Target::Sandbox);
            keep_earlier_results(&path, &journal, config.force, sandbox)?;
        }
        Ok(Files {
            output,
            journal: Some(journal),
            _lock: Some(lock),
        })
    }

    /// `-o -`: no journal, no lock, no resume.
    fn stdout(config: &RunConfig) -> Result<Files, Fatal> {
        if config.resume {
            return Err(Fatal::before_results(
                "--resume needs a result file: pass the -o of the interrupted run, not -o -",
            ));
        }
        check_stdout_open()?;
        Ok(Files {
            output: Output::Stdout,
            journal: None,
            _lock: None,
        })
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

/// Refuses to start over the results of an earlier run, unless `force`
/// (then an interrupted run's journal is dropped, and the result file is
/// replaced at the end). A result file that records nothing created (a dry
/// run, only failures) is replaced freely: running again rebuilds it. So is
/// any result file when this is a `sandbox` run: what an earlier sandbox run
/// onboarded lived in an emulator that ended with its process.
fn keep_earlier_results(
    path: &Path,
    journal: &Path,
    force: bool,
    sandbox: bool,
) -> Result<(), Fatal> {
    if journal.exists() {
        if force || sandbox {
            return std::fs::remove_file(journal).map_err(|err| {
                Fatal::before_results(format!("cannot remove {}: {err}", journal.display()))
            });
        }
        return Err(Fatal::before_results(format!(
            "{} holds the results of an interrupted run; continue it with --resume, \
             or start over with --force",
            journal.display()
        )));
    }
    if force || !path.exists() {
        return Ok(());
    }
    let mut onboarded = 0u64;
    let read = results::read_results_each(path, |row| {
        onboarded += u64::from(row.outcome == Outcome::Onboarded);
    });
    let what = match read {
        Ok(_) if onboarded == 0 || sandbox => return Ok(()),
        Ok(_) => format!(
            "holds the results of an earlier run ({} rows onboarded)",
            crate::summary::thousands(onboarded)
        ),
        Err(err) if err.kind() == std::io::ErrorKind::InvalidData => {
            "is not a simboard result file".to_owned()
        }
        Err(err) => format!("cannot be read ({err})"),
    };
    Err(Fatal::before_results(format!(
        "{} {what}; continue that run with --resume, choose another -o, \
         or pass --force to overwrite it",
        path.display()
    )))
}

/// Stops before the first request when standard output is already closed
/// (`simboard run -o - | head` after `head` has gone): every row created
/// would appear nowhere.
fn check_stdout_open() -> Result<(), Fatal> {
    #[cfg(unix)]
    {
        let mut fd = libc::pollfd {
            fd: libc::STDOUT_FILENO,
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd, a zero timeout; poll only reads and writes it.
        let ready = unsafe { libc::poll(&mut fd, 1, 0) };
        if ready > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            return Err(Fatal::before_results(
                "standard output is closed: the results would go nowhere",
            ));
        }
    }
    Ok(())
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

//! The process exit codes, shared by every subcommand.

/// What the process reports to its caller. Row problems never stop a batch;
/// they only decide between [`Exit::Success`] and [`Exit::RowsFailed`] at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Every row succeeded (`valid`, `onboarded`, `already_onboarded` or `would_onboard`).
    Success = 0,
    /// Some rows are `invalid` or `failed`; the result CSV says which and why.
    RowsFailed = 1,
    /// Nothing (more) could be done: a bad file, a rejected token, an unusable flag.
    Fatal = 2,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

/// A fatal error: the run stops at once and exits [`Exit::Fatal`]. The message
/// says what went wrong and what to do; [`Partial`] says what was left behind.
#[derive(Debug, thiserror::Error)]
#[error("{message}; {partial}")]
pub struct Fatal {
    pub message: String,
    pub partial: Partial,
}

impl Fatal {
    pub fn new(message: impl Into<String>, partial: Partial) -> Self {
        Fatal {
            message: message.into(),
            partial,
        }
    }

    /// A fatal error raised before any result was written.
    pub fn before_results(message: impl std::fmt::Display) -> Self {
        Fatal::new(message.to_string(), Partial::Nothing)
    }
}

/// What a fatal error left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Partial {
    /// No result file was written.
    Nothing,
    /// A result file holds the first `rows` results.
    File { path: std::path::PathBuf, rows: u64 },
    /// The first `rows` results went to standard output.
    Stdout { rows: u64 },
    /// The result file was not replaced: the journal (and the previous result
    /// file, when there is one) hold every finished row, for `--resume`.
    Journal {
        journal: std::path::PathBuf,
        results: Option<std::path::PathBuf>,
    },
}

impl std::fmt::Display for Partial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Partial::Nothing => f.write_str("no result file was written"),
            Partial::File { path, rows } => write!(
                f,
                "a partial result file with {rows} rows was left at {}",
                path.display()
            ),
            Partial::Stdout { rows } => {
                write!(
                    f,
                    "{rows} result rows had already been written to standard output"
                )
            }
            Partial::Journal { journal, results } => {
                write!(f, "every finished row is kept in {}", journal.display())?;
                if let Some(results) = results {
                    write!(f, " and {} (left as it was)", results.display())?;
                }
                f.write_str("; to finish, run the same command again with --resume")
            }
        }
    }
}

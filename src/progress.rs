//! The one place progress bars are made. A bar is drawn only where a person
//! is watching: on a terminal, and never with `--quiet`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether progress should be drawn at all.
pub fn visible(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// A bar over the bytes of a file being read, hidden unless [`visible`].
pub fn bytes(len: u64, quiet: bool) -> ProgressBar {
    if !visible(quiet) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta}) {msg}",
        )
        .expect("a valid template"),
    );
    bar
}

/// A bar over rows, with live counts in its message, hidden unless [`visible`].
pub fn rows(len: u64, quiet: bool) -> ProgressBar {
    if !visible(quiet) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    counting_rows(&bar);
    bar
}

/// The rows bar while the project is read before the first row: the
/// message says how far (`reading the project: 412,000 SIMs`), with no row
/// counts yet.
pub fn reading(bar: &ProgressBar) {
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .expect("a valid template"),
    );
}

/// The rows bar counting rows (again, after [`reading`]).
pub fn counting_rows(bar: &ProgressBar) {
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} rows ({per_sec}, ETA {eta}) {msg}",
        )
        .expect("a valid template"),
    );
}

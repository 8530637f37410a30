//! Step 6 of `simboard run`: the conclusion. The result file is put in place
//! (or, when some row kept from the previous run did not reach it, the
//! previous result file and the journal are left as they were), a stop is
//! turned into the fatal error that says what was left behind, and the
//! summary gets its notes: requests, pace, kept rows, where the results are.

use std::path::Path;
use std::time::Instant;

use crate::exit::Fatal;
use crate::results::Output;
use crate::summary::{thousands, Summary};

use super::connect::Connection;
use super::output::Files;
use super::pipeline::Ended;
use super::sink::{Finish, FinishError, Sink};
use super::RunConfig;

/// Finishes the files and the summary of a run that has `total` rows.
pub(super) fn conclude(
    config: &RunConfig,
    files: &Files,
    connection: &Connection,
    ended: Ended,
    total: u64,
    started: Instant,
) -> Result<Summary, Fatal> {
    let Ended {
        mut summary,
        fresh_successes,
        fresh_resolved,
        sink,
        write_error,
        unwritten,
        fatal,
        kept,
        notes,
    } = ended;
    close_files(files, total, sink, write_error, &unwritten, fatal, kept)?;
    summary.elapsed = started.elapsed();
    add_notes(&mut summary, config, connection, fresh_successes, kept);
    let calls = connection.client.counts().requests;
    summary.notes.extend(crate::snapshot::describe_run(
        connection.snapshot.as_deref(),
        config.resolve,
        calls,
        fresh_resolved,
    ));
    summary.notes.extend(notes);
    summary.notes.push(format!("results: {}", files.output));
    Ok(summary)
}

/// Finishes the result file and the journal, or says why the run cannot end
/// well: results that could not be written, a fatal stop, an interruption.
fn close_files(
    files: &Files,
    total: u64,
    sink: Sink,
    write_error: Option<std::io::Error>,
    unwritten: &[(u64, String)],
    fatal: Option<String>,
    kept: u64,
) -> Result<(), Fatal> {
    let written = sink.rows_finished();
    let output = &files.output;
    if let Some(err) = write_error {
        // On standard output, only what was flushed reached the reader.
        let written = match output {
            Output::Stdout => sink.delivered,
            Output::File(_) => written,
        };
        sink.abandon();
        return Err(Fatal::new(
            format!(
                "cannot write the results to {output}: {err}{}",
                name_unwritten(output, unwritten)
            ),
            files.resumable(written),
        ));
    }
    match sink.finish(kept) {
        Ok(Finish::Replaced) => {}
        Ok(Finish::LeftAlone) => {
            let message = fatal.unwrap_or_else(|| {
                "the run stopped before every row kept from the previous run was written".into()
            });
            return Err(Fatal::new(message, files.resumable(written)));
        }
        Err(FinishError::Write(err)) => {
            return Err(Fatal::new(
                format!("cannot write the results to {output}: {err}"),
                files.resumable(written),
            ))
        }
        Err(FinishError::Journal(err)) => {
            let journal = files.journal.as_deref().unwrap_or(Path::new("?"));
            return Err(Fatal::new(
                format!(
                    "the results are complete in {output}, but the journal {} could not be \
                     removed ({err}); delete it before the next run",
                    journal.display()
                ),
                files.partial(written),
            ));
        }
    }
    if let Some(message) = fatal {
        return Err(Fatal::new(message, files.partial(written)));
    }
    if written < total {
        let how = match output {
            Output::File(_) => "to finish, run the same command again with --resume",
            Output::Stdout => "to be able to resume, run with -o FILE instead of -o -",
        };
        return Err(Fatal::new(
            format!(
                "interrupted: {} of {} rows finished; {how}",
                thousands(written),
                thousands(total)
            ),
            files.partial(written),
        ));
    }
    Ok(())
}

/// The summary's notes on requests, pace, kept rows and a dry run.
fn add_notes(
    summary: &mut Summary,
    config: &RunConfig,
    connection: &Connection,
    fresh_successes: u64,
    kept: u64,
) {
    let client = &connection.client;
    let counts = client.counts();
    let per_sim = if fresh_successes > 0 {
        format!(
            ", {:.2} per onboarded SIM",
            counts.requests as f64 / fresh_successes as f64
        )
    } else {
        String::new()
    };
    summary.notes.push(format!(
        "requests: {} sent, {} retries, {} answered 429{per_sim}",
        thousands(counts.requests),
        thousands(counts.retries),
        thousands(counts.refused),
    ));
    if let Some(pace) = client.pace() {
        summary.notes.push(format!(
            "pace: {} requests/s (learnt from 429 answers or --rate)",
            crate::gigs::pace::describe_rate(pace)
        ));
    }
    if config.resume {
        summary.notes.push(format!(
            "kept {} rows finished by the previous run",
            thousands(kept)
        ));
    }
    if config.dry_run {
        summary
            .notes
            .push("dry run: nothing was created".to_owned());
    }
}

/// The rows onboarded by this run whose results went nowhere: with `-o -`
/// there is no journal, so the message is the only place they appear. A
/// result file's rows are in its journal.
fn name_unwritten(output: &Output, unwritten: &[(u64, String)]) -> String {
    const LISTED: usize = 50;
    if *output != Output::Stdout || unwritten.is_empty() {
        return String::new();
    }
    let mut named: Vec<String> = unwritten
        .iter()
        .take(LISTED)
        .map(|(line, sub)| format!("line {line} ({sub})"))
        .collect();
    if unwritten.len() > LISTED {
        named.push(format!("and {} more", unwritten.len() - LISTED));
    }
    format!(
        "; {} rows were onboarded but their results were not written: {}; \
         a run with -o FILE shows them as already_onboarded",
        unwritten.len(),
        named.join(", ")
    )
}

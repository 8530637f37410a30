//! Step 5 of `simboard run`: the pipeline. A feeder thread ([`super::feed`])
//! reads the manifest as checked rows, answers invalid rows (and rows kept by
//! `--resume`) itself and queues the others to `--concurrency` workers
//! ([`super::work`]) that share one client, and so one pacer. Every finished
//! row comes back to this thread, which passes it to the sink
//! ([`super::sink`]) and moves the progress bar.
//!
//! Ctrl-C (or a token refused in mid-run) stops handing out rows; rows in
//! flight finish, kept rows are still passed on, and the finished rows are
//! written, in order.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};

use crate::exit::Fatal;
use crate::manifest::Manifest;
use crate::onboard::{Onboarder, RowRequest, Settings};
use crate::results::{Outcome, ResultRow};
use crate::summary::{thousands, Summary};

use super::connect::Connection;
use super::feed::{feed, Columns, Feeder};
use super::output::Files;
use super::resume::Kept;
use super::sink::Sink;
use super::work::work;
use super::{RunConfig, INTERRUPTED};

/// What the pipeline leaves for the conclusion.
pub(super) struct Ended {
    pub(super) summary: Summary,
    /// Rows onboarded by this run (not kept from the previous one).
    pub(super) fresh_successes: u64,
    /// Valid rows run by this run (the SIMs it resolved).
    pub(super) fresh_resolved: u64,
    pub(super) sink: Sink,
    /// Why the results could not be written, when they could not.
    pub(super) write_error: Option<io::Error>,
    /// Rows this run onboarded whose results were not written (line and
    /// subscription), when the results could not be written.
    pub(super) unwritten: Vec<(u64, String)>,
    /// Why the run stopped, when something stopped it.
    pub(super) fatal: Option<String>,
    pub(super) kept: u64,
    /// What reading the manifest has to say (converted text, withheld columns).
    pub(super) notes: Vec<String>,
}

/// Runs every row: opens the result files, then feeds, works and collects
/// until the feeder runs out or the run stops.
pub(super) fn execute(
    config: &RunConfig,
    files: &Files,
    connection: &Connection,
    kept: HashMap<u64, Kept>,
    bar: &indicatif::ProgressBar,
) -> Result<Ended, Fatal> {
    let mut manifest = Manifest::open(&config.manifest, &config.manifest_options)
        .map_err(Fatal::before_results)?;
    let columns = Columns::find(&manifest).map_err(Fatal::before_results)?;
    let notes = manifest.notes();
    let extra_headers: Vec<String> = columns
        .extra
        .iter()
        .map(|&i| manifest.headers()[i].clone())
        .collect();
    let sink = Sink::open(&files.output, files.journal.as_deref(), &extra_headers)?;
    let onboarder = onboarder(config, connection);
    INTERRUPTED.store(false, Ordering::SeqCst);
    watch_ctrl_c();
    let (stop, fatal) = (AtomicBool::new(false), Mutex::new(None));
    let shared = Shared {
        stop: &stop,
        fatal: &fatal,
    };
    if let Some(refused) = &connection.refused {
        shared.fail(refused.clone());
    }
    let window = Window::new(config.concurrency);
    let kept_count = kept.len() as u64;
    let mut collector = Collector {
        summary: Summary::default(),
        fresh_successes: 0,
        fresh_resolved: 0,
        sink,
        write_error: None,
        unwritten: BTreeMap::new(),
        bar,
        window: &window,
        shared,
    };
    std::thread::scope(|scope| {
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(config.concurrency * 2);
        let (done_tx, done_rx) = mpsc::channel::<Finished>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        for _ in 0..config.concurrency {
            let (jobs, done) = (Arc::clone(&job_rx), done_tx.clone());
            let onboarder = &onboarder;
            scope.spawn(move || work(onboarder, &jobs, &done, shared));
        }
        let feeder = Feeder {
            jobs: job_tx,
            done: done_tx,
            window: &window,
            shared,
        };
        let (manifest, columns) = (&mut manifest, &columns);
        scope.spawn(move || {
            if let Err(err) = feed(config, manifest, columns, kept, &feeder) {
                shared.fail(err.to_string());
            }
        });
        collector.collect(done_rx);
    });
    Ok(Ended {
        summary: collector.summary,
        fresh_successes: collector.fresh_successes,
        fresh_resolved: collector.fresh_resolved,
        sink: collector.sink,
        unwritten: match collector.write_error {
            Some(_) => collector.unwritten.into_values().collect(),
            None => Vec::new(),
        },
        write_error: collector.write_error,
        fatal: fatal.into_inner().unwrap_or_else(|e| e.into_inner()),
        kept: kept_count,
        notes,
    })
}

/// The per-row worker's shared part: the client, the row defaults and what
/// the snapshot (if any) holds.
fn onboarder(config: &RunConfig, connection: &Connection) -> Onboarder {
    Onboarder::new(
        connection.client.clone(),
        Settings {
            project: connection.project.clone(),
            plan: config.plan.clone(),
            user: config.user.clone(),
            dry_run: config.dry_run,
            idempotency_keys: config.idempotency_keys,
        },
        connection.catalogue.clone(),
    )
    .with_snapshot(connection.snapshot.clone())
}

/// This thread's part: every finished row to the sink, in any order.
struct Collector<'a> {
    summary: Summary,
    fresh_successes: u64,
    fresh_resolved: u64,
    sink: Sink,
    write_error: Option<io::Error>,
    /// By sequence number: the rows onboarded by this run and not written
    /// yet, to name them if the results cannot be written (to standard
    /// output, which has no journal). Only those waiting for their turn.
    unwritten: BTreeMap<u64, (u64, String)>,
    bar: &'a indicatif::ProgressBar,
    window: &'a Window,
    shared: Shared<'a>,
}

impl Collector<'_> {
    fn collect(&mut self, done: Receiver<Finished>) {
        for finished in done.iter() {
            let (outcome, fresh) = match &finished.body {
                Body::Fresh(row) => {
                    self.summary.record(row.outcome, &row.reason);
                    (row.outcome, true)
                }
                Body::Kept(kept) => {
                    self.summary.record(kept.outcome, &kept.reason);
                    (kept.outcome, false)
                }
                Body::Skipped => (Outcome::Failed, false),
            };
            let skipped = matches!(finished.body, Body::Skipped);
            if fresh && outcome != Outcome::Invalid {
                self.fresh_resolved += 1;
                if outcome.is_success() {
                    self.fresh_successes += 1;
                }
            }
            if let Body::Fresh(row) = &finished.body {
                if row.outcome == Outcome::Onboarded {
                    let named = (row.line, row.subscription_id.clone());
                    self.unwritten.insert(finished.seq, named);
                }
            }
            if self.write_error.is_none() {
                match self.sink.push(finished) {
                    Ok(()) => {
                        self.unwritten = self.unwritten.split_off(&self.sink.next);
                        self.window.advance(self.sink.next);
                    }
                    Err(err) => {
                        self.write_error = Some(err);
                        // Nothing more is written: let the feeder run out.
                        self.window.advance(u64::MAX);
                        self.shared.halt();
                    }
                }
            }
            if !skipped {
                self.progress();
            }
        }
    }

    fn progress(&self) {
        let summary = &self.summary;
        self.bar.inc(1);
        self.bar.set_message(format!(
            "onboarded {} · failed {}",
            thousands(summary.count(Outcome::Onboarded) + summary.count(Outcome::AlreadyOnboarded)),
            thousands(summary.count(Outcome::Failed) + summary.count(Outcome::Invalid)),
        ));
        if INTERRUPTED.load(Ordering::SeqCst) {
            self.shared.stop.store(true, Ordering::SeqCst);
        }
    }
}

/// What the threads of a run share to stop it.
#[derive(Clone, Copy)]
pub(super) struct Shared<'a> {
    stop: &'a AtomicBool,
    fatal: &'a Mutex<Option<String>>,
}

impl Shared<'_> {
    pub(super) fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || INTERRUPTED.load(Ordering::SeqCst)
    }

    /// Stops the run with no reason of its own to report (an interrupt, or
    /// a write error reported by the sink).
    pub(super) fn halt(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops the run; the first reason given is the one reported.
    pub(super) fn fail(&self, reason: String) {
        self.halt();
        let mut fatal = self.fatal.lock().unwrap_or_else(|e| e.into_inner());
        if fatal.is_none() {
            *fatal = Some(reason);
        }
    }
}

fn watch_ctrl_c() {
    // A handler can be set once per process; a second run in the same
    // process (tests) keeps the first one, which sets the same flag.
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            let _ = writeln!(
                io::stderr(),
                "simboard: interrupted twice; stopping now (the journal keeps every finished row)"
            );
            std::process::exit(crate::exit::Exit::Fatal.code());
        }
        let _ = writeln!(
            io::stderr(),
            "simboard: interrupted; finishing the rows in flight (press Ctrl-C again to quit at once)"
        );
    });
}

/// A row for a worker.
pub(super) struct Job {
    pub(super) seq: u64,
    pub(super) line: u64,
    pub(super) request: RowRequest,
    pub(super) extra: Vec<String>,
}

/// A row with its result; `seq` is its rank among the rows the feeder handed
/// out, which are in manifest order.
pub(super) struct Finished {
    pub(super) seq: u64,
    pub(super) body: Body,
}

pub(super) enum Body {
    /// Finished by this run: journaled, then written.
    Fresh(ResultRow),
    /// Kept from the previous run (already in a file): written only.
    Kept(Kept),
    /// Handed out but not run (the run stopped): nothing to write.
    Skipped,
}

/// How far the feeder may run ahead of the next row to be written. Rows reach
/// the sink out of order and wait there (and in the channel to it) until every
/// row before them is written; without a bound, one slow row near the top of a
/// resumed million-row manifest would let every kept row after it pile up in
/// memory. Rows in flight are at most `3 × concurrency` (one per worker, twice
/// that queued), so a window of 4,096 rows beyond that only holds the feeder
/// back behind a row that is very slow, and caps the waiting rows at a few MB.
pub(super) struct Window {
    pub(super) next: Mutex<u64>,
    pub(super) moved: Condvar,
    pub(super) size: u64,
}

impl Window {
    pub(super) fn new(concurrency: usize) -> Self {
        Window {
            next: Mutex::new(0),
            moved: Condvar::new(),
            size: 4096 + 4 * concurrency as u64,
        }
    }

    /// Waits until the row `seq` is inside the window.
    pub(super) fn wait_for(&self, seq: u64) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        while seq >= next.saturating_add(self.size) {
            next = self.moved.wait(next).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The sink has written every row before `next` (`u64::MAX`: it writes no more).
    pub(super) fn advance(&self, next: u64) {
        let mut current = self.next.lock().unwrap_or_else(|e| e.into_inner());
        if next > *current {
            *current = next;
            self.moved.notify_all();
        }
    }
}

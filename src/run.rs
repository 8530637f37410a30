//! `simboard run`: drives every row of a manifest through validation and
//! [`crate::onboard`], many at once, and writes one result per row, in order.
//!
//! The shape: a preflight (token, project, `--plan`) sends the first request
//! and lists the plans once. Then a feeder thread reads and validates the
//! manifest chunk by chunk (with the same [`Validator`] as `validate`), answers
//! invalid rows (and rows kept by `--resume`) itself, and queues the others to
//! `--concurrency` worker threads that share one [`Client`] (and so one pacer).
//! Every finished row goes to this thread, which
//!
//! - appends it to the journal (`<results>.journal`, one `write` per row), so
//!   that a SIGKILL loses nothing that had finished;
//! - puts rows back in manifest order (a small reorder buffer: workers take
//!   rows in order, so only rows still in flight leave gaps) and streams them
//!   to `<results>.tmp`, renamed over the result file at the end, when the
//!   journal is removed.
//!
//! `--resume` reads the previous result file and the journal (the journal
//! wins) and keeps every row that finished for good; the rest run again.
//! They are checked against the manifest before any file is touched.
//! Ctrl-C (or a token refused in mid-run) stops handing out rows; rows in
//! flight finish, kept rows are still passed on, and the finished rows are
//! written, in order, to the result file. Should a kept row not get there,
//! the previous result file and the journal are left as they were.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::exit::{Fatal, Partial};
use crate::gigs::{Client, ClientConfig, Error, Log};
use crate::iccid::CheckDigit;
use crate::manifest::{Manifest, ManifestOptions, Row};
use crate::onboard::{AddressCells, Context, RowRequest, Settings};
use crate::progress;
use crate::results::{self, Outcome, Output, ResultRow, ResultWriter};
use crate::summary::{thousands, Summary};
use crate::validate::{Validator, CHUNK_ROWS};

/// The API token. Its `Debug` never shows the value, so it cannot leak into logs.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(value: String) -> Self {
        Token(value)
    }

    /// The value, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Which API a run talks to.
#[derive(Clone, Debug)]
pub enum Target {
    /// `--sandbox`: an in-process emulator stocked with the manifest's valid ICCIDs.
    Sandbox,
    /// A real (or emulated) Gigs API.
    Api {
        url: String,
        project: String,
        /// `None` when `GIGS_TOKEN` is not set; the preflight reports it.
        token: Option<Token>,
        allow_insecure_http: bool,
    },
}

/// `simboard run`, as plain settings.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub manifest: PathBuf,
    /// `-o`; `None` means `<manifest stem>.results.csv` beside the manifest.
    pub output: Option<PathBuf>,
    pub manifest_options: ManifestOptions,
    pub check_digit: CheckDigit,
    pub plan: Option<String>,
    pub user: Option<String>,
    pub dry_run: bool,
    pub resume: bool,
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub max_retries: u32,
    /// `--max-wait`: the longest one request may take, 429s included.
    pub max_wait: Duration,
    pub idempotency_keys: bool,
    pub target: Target,
    pub verbose: bool,
    pub quiet: bool,
}

/// Set by Ctrl-C (and SIGTERM): take no new rows.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Runs the pipeline over a manifest (`simboard run`).
pub fn run(config: &RunConfig) -> Result<Summary, Fatal> {
    let started = Instant::now();
    let output = results::resolve_output(&config.manifest, config.output.as_deref())
        .map_err(Fatal::before_results)?;
    if config.resume && output == Output::Stdout {
        return Err(Fatal::before_results(
            "--resume needs a result file: pass the -o of the interrupted run, not -o -",
        ));
    }
    let journal_path = match &output {
        Output::File(path) => Some(journal_path(path)),
        Output::Stdout => None,
    };
    if let Some(journal) = &journal_path {
        if !config.resume && journal.exists() {
            return Err(Fatal::before_results(format!(
                "{} holds the results of an interrupted run; continue it with --resume \
                 (or delete the file to start over)",
                journal.display()
            )));
        }
    }

    // The previous results come first, and are checked against the manifest
    // before anything is written: results of another manifest stop the run
    // with every file as it was.
    let kept = if config.resume {
        load_previous(&output, journal_path.as_deref())?
    } else {
        HashMap::new()
    };
    let kept_count = kept.len() as u64;
    // Reading the manifest once first finds an unreadable file before any
    // request, and gives the progress bar its length.
    let total = count_rows(config, &kept)?;
    // The sandbox must outlive every request of the run.
    let (_sandbox, api) = connect(config)?;
    let bar = progress::rows(0, config.quiet);
    let say: Log = {
        let bar = bar.clone();
        let visible = progress::visible(config.quiet);
        Arc::new(move |line: &str| {
            if visible {
                bar.println(line);
            } else {
                eprintln!("{line}");
            }
        })
    };
    let log = config.verbose.then(|| say.clone());
    let client = Client::new(ClientConfig {
        base_url: api.url.clone(),
        project: api.project.clone(),
        token: api.token.clone(),
        max_retries: config.max_retries,
        max_wait: config.max_wait,
        rate: config.rate,
        connections: config.concurrency,
        log,
        notice: Some(say),
    })
    .map_err(Fatal::before_results)?;
    // A Ctrl-C cuts short the client's waits (pacing, Retry-After, backoff),
    // so in-flight rows end promptly and are left for `--resume`.
    client.give_up_when(&INTERRUPTED);
    let catalogue = preflight(&client, &api, config.plan.as_deref())?;

    let mut manifest = Manifest::open(&config.manifest, &config.manifest_options)
        .map_err(Fatal::before_results)?;
    let columns = Columns::find(&manifest);
    let read_notes = manifest.notes();
    let extra_headers: Vec<String> = columns
        .extra
        .iter()
        .map(|&i| manifest.headers()[i].clone())
        .collect();
    let mut sink = Sink::open(&output, journal_path.as_deref(), &extra_headers)?;

    let context = Context::new(
        client.clone(),
        Settings {
            project: api.project.clone(),
            plan: config.plan.clone(),
            user: config.user.clone(),
            dry_run: config.dry_run,
            idempotency_keys: config.idempotency_keys,
        },
        catalogue,
    );
    INTERRUPTED.store(false, Ordering::SeqCst);
    watch_ctrl_c();

    bar.set_length(total);
    let stop = AtomicBool::new(false);
    let fatal: Mutex<Option<String>> = Mutex::new(None);
    let mut summary = Summary::default();
    let mut fresh_successes = 0u64;
    let mut write_error: Option<io::Error> = None;
    let window = Window::new(config.concurrency);
    let shared = Shared {
        stop: &stop,
        fatal: &fatal,
    };

    std::thread::scope(|scope| {
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(config.concurrency * 2);
        let (done_tx, done_rx) = mpsc::channel::<Finished>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        for _ in 0..config.concurrency {
            let (jobs, done) = (Arc::clone(&job_rx), done_tx.clone());
            let context = &context;
            scope.spawn(move || work(context, &jobs, &done, shared));
        }
        let feeder_done = done_tx;
        let manifest = &mut manifest;
        let columns = &columns;
        let window = &window;
        scope.spawn(move || {
            let feeder = Feeder {
                jobs: job_tx,
                done: feeder_done,
                window,
                shared,
            };
            if let Err(message) = feed(config, manifest, columns, kept, &feeder) {
                shared.fail(message);
            }
        });
        for finished in done_rx.iter() {
            let (outcome, fresh) = match &finished.body {
                Body::Fresh(row) => {
                    summary.record(row.outcome, &row.reason);
                    (row.outcome, true)
                }
                Body::Kept(kept) => {
                    summary.record(kept.outcome, &kept.reason);
                    (kept.outcome, false)
                }
                Body::Skipped => (Outcome::Failed, false),
            };
            let skipped = matches!(finished.body, Body::Skipped);
            if fresh && outcome.is_success() && outcome != Outcome::Invalid {
                fresh_successes += 1;
            }
            if write_error.is_none() {
                match sink.push(finished) {
                    Ok(()) => window.advance(sink.next),
                    Err(err) => {
                        write_error = Some(err);
                        // Nothing more is written: let the feeder run out.
                        window.advance(u64::MAX);
                        shared.fail(String::new());
                    }
                }
            }
            if skipped {
                continue;
            }
            bar.inc(1);
            bar.set_message(format!(
                "onboarded {} · failed {}",
                thousands(
                    summary.count(Outcome::Onboarded) + summary.count(Outcome::AlreadyOnboarded)
                ),
                thousands(summary.count(Outcome::Failed) + summary.count(Outcome::Invalid)),
            ));
            if INTERRUPTED.load(Ordering::SeqCst) {
                stop.store(true, Ordering::SeqCst);
            }
        }
    });
    bar.finish_and_clear();

    let written = sink.rows_finished();
    let partial = |rows| match &output {
        Output::Stdout => Partial::Stdout { rows },
        Output::File(path) => Partial::File {
            path: path.clone(),
            rows,
        },
    };
    // What is left when the result file cannot be put in place: the journal
    // (every row finished by this run) and the previous result file, as they were.
    let resumable = || match (&output, &journal_path) {
        (Output::File(path), Some(journal)) => Partial::Journal {
            journal: journal.clone(),
            results: path.exists().then(|| path.clone()),
        },
        _ => Partial::Stdout { rows: written },
    };
    if let Some(err) = write_error {
        sink.abandon();
        return Err(Fatal::new(
            format!("cannot write the results to {output}: {err}"),
            resumable(),
        ));
    }
    let fatal = fatal.into_inner().unwrap_or_else(|e| e.into_inner());
    match sink.finish(kept_count) {
        Ok(Finish::Replaced) => {}
        Ok(Finish::LeftAlone) => {
            let message = fatal.unwrap_or_else(|| {
                "the run stopped before every row kept from the previous run was written".into()
            });
            return Err(Fatal::new(message, resumable()));
        }
        Err(FinishError::Write(err)) => {
            return Err(Fatal::new(
                format!("cannot write the results to {output}: {err}"),
                resumable(),
            ))
        }
        Err(FinishError::Journal(err)) => {
            let journal = journal_path.as_deref().unwrap_or(Path::new("?"));
            return Err(Fatal::new(
                format!(
                    "the results are complete in {output}, but the journal {} could not be \
                     removed ({err}); delete it before the next run",
                    journal.display()
                ),
                partial(written),
            ));
        }
    }

    if let Some(message) = fatal {
        return Err(Fatal::new(message, partial(written)));
    }
    if written < total {
        let how = match &output {
            Output::File(_) => "to finish, run the same command again with --resume",
            Output::Stdout => "to be able to resume, run with -o FILE instead of -o -",
        };
        return Err(Fatal::new(
            format!(
                "interrupted: {} of {} rows finished; {how}",
                thousands(written),
                thousands(total)
            ),
            partial(written),
        ));
    }

    summary.elapsed = started.elapsed();
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
            thousands(kept_count)
        ));
    }
    if config.dry_run {
        summary
            .notes
            .push("dry run: nothing was created".to_owned());
    }
    summary.notes.extend(read_notes);
    summary.notes.push(format!("results: {output}"));
    Ok(summary)
}

/// What the threads of a run share to stop it.
#[derive(Clone, Copy)]
struct Shared<'a> {
    stop: &'a AtomicBool,
    fatal: &'a Mutex<Option<String>>,
}

impl Shared<'_> {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || INTERRUPTED.load(Ordering::SeqCst)
    }

    /// Stops the run; the first non-empty message is the one reported.
    fn fail(&self, message: String) {
        self.stop.store(true, Ordering::SeqCst);
        let mut fatal = self.fatal.lock().unwrap_or_else(|e| e.into_inner());
        if fatal.is_none() && !message.is_empty() {
            *fatal = Some(message);
        }
    }
}

fn watch_ctrl_c() {
    // A handler can be set once per process; a second run in the same
    // process (tests) keeps the first one, which sets the same flag.
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!(
                "simboard: interrupted twice; stopping now (the journal keeps every finished row)"
            );
            std::process::exit(crate::exit::Exit::Fatal.code());
        }
        eprintln!(
            "simboard: interrupted; finishing the rows in flight (press Ctrl-C again to quit at once)"
        );
    });
}

/// A row for a worker.
struct Job {
    seq: u64,
    line: u64,
    request: RowRequest,
    extra: Vec<String>,
}

/// A row with its result; `seq` is its rank among the rows the feeder handed
/// out, which are in manifest order.
struct Finished {
    seq: u64,
    body: Body,
}

enum Body {
    /// Finished by this run: journaled, then written.
    Fresh(ResultRow),
    /// Kept from the previous run (already in a file): written only.
    Kept(Kept),
    /// Handed out but not run (the run stopped): nothing to write.
    Skipped,
}

/// A row that `--resume` keeps, held compactly: the outcome and reason for the
/// summary, the ICCID cell to check the manifest against, and the row itself
/// already encoded.
struct Kept {
    outcome: Outcome,
    reason: Box<str>,
    /// As the file shows it (neutralised).
    iccid: Box<str>,
    /// In the previous results: the fixed cells, encoded, without the extra
    /// columns and the line end. Handed to the sink: the whole encoded row,
    /// with the manifest's extra columns.
    encoded: Vec<u8>,
}

/// How far the feeder may run ahead of the next row to be written. Rows reach
/// the sink out of order and wait there (and in the channel to it) until every
/// row before them is written; without a bound, one slow row near the top of a
/// resumed million-row manifest would let every kept row after it pile up in
/// memory. Rows in flight are at most `3 × concurrency` (one per worker, twice
/// that queued), so a window of 4,096 rows beyond that only holds the feeder
/// back behind a row that is very slow, and caps the waiting rows at a few MB.
struct Window {
    next: Mutex<u64>,
    moved: Condvar,
    size: u64,
}

impl Window {
    fn new(concurrency: usize) -> Self {
        Window {
            next: Mutex::new(0),
            moved: Condvar::new(),
            size: 4096 + 4 * concurrency as u64,
        }
    }

    /// Waits until the row `seq` is inside the window.
    fn wait_for(&self, seq: u64) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        while seq >= next.saturating_add(self.size) {
            next = self.moved.wait(next).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The sink has written every row before `next` (`u64::MAX`: it writes no more).
    fn advance(&self, next: u64) {
        let mut current = self.next.lock().unwrap_or_else(|e| e.into_inner());
        if next > *current {
            *current = next;
            self.moved.notify_all();
        }
    }
}

fn work(
    context: &Context,
    jobs: &Mutex<Receiver<Job>>,
    done: &Sender<Finished>,
    shared: Shared<'_>,
) {
    loop {
        let job = match jobs.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        // After Ctrl-C, queued rows are left for --resume; the sink is told,
        // so that the rows after them are not held back.
        let skipped = Finished {
            seq: job.seq,
            body: Body::Skipped,
        };
        if shared.stopped() {
            if done.send(skipped).is_err() {
                return;
            }
            continue;
        }
        match context.onboard(&job.request) {
            Ok(result) => {
                let row = ResultRow {
                    line: job.line,
                    iccid: job.request.iccid,
                    outcome: result.outcome(),
                    reason: result.reason.to_owned(),
                    message: result.message,
                    sim_id: result.sim_id,
                    plan_id: result.plan_id,
                    user_id: result.user_id,
                    subscription_id: result.subscription_id,
                    extra: job.extra,
                };
                if done
                    .send(Finished {
                        seq: job.seq,
                        body: Body::Fresh(row),
                    })
                    .is_err()
                {
                    return;
                }
            }
            Err(stop) => {
                shared.fail(stop.0);
                if done.send(skipped).is_err() {
                    return;
                }
            }
        }
    }
}

/// Where the feeder sends rows.
struct Feeder<'a> {
    jobs: SyncSender<Job>,
    done: Sender<Finished>,
    window: &'a Window,
    shared: Shared<'a>,
}

/// Reads and validates the manifest, answers what needs no API call, and
/// queues the rest. After a stop it hands out no new row, but keeps reading to
/// pass on every row kept by `--resume`: the result file is rewritten at the
/// end, and must not lose them.
fn feed(
    config: &RunConfig,
    manifest: &mut Manifest,
    columns: &Columns,
    mut kept: HashMap<u64, Kept>,
    to: &Feeder<'_>,
) -> Result<(), String> {
    let mut validator = Validator::new(config.check_digit);
    let mut rows: Vec<Row> = Vec::new();
    let mut seq = 0u64;
    loop {
        if to.shared.stopped() && kept.is_empty() {
            return Ok(());
        }
        let n = manifest
            .read_chunk(&mut rows, CHUNK_ROWS)
            .map_err(|err| err.to_string())?;
        let checked = validator.check_chunk(&rows[..n], columns.iccid);
        for (row, checked) in rows[..n].iter().zip(checked) {
            let stopped = to.shared.stopped();
            if stopped && kept.is_empty() {
                return Ok(());
            }
            let extra = || columns.extra.iter().map(|&i| row.get_bytes(i));
            if let Some(mut previous) = kept.remove(&row.line) {
                // The pre-pass checked this; the manifest may have changed since.
                check_kept(&previous, checked.line, checked.iccid())?;
                results::end_row(&mut previous.encoded, extra());
                if !to.send(&mut seq, Body::Kept(previous)) {
                    return Ok(());
                }
                continue;
            }
            if stopped {
                continue;
            }
            let Some(iccid) = checked.valid_iccid() else {
                let result = ResultRow {
                    reason: checked.reason().to_owned(),
                    message: checked.message(),
                    extra: columns
                        .extra
                        .iter()
                        .map(|&i| row.get(i).to_owned())
                        .collect(),
                    ..ResultRow::new(checked.line, checked.iccid().to_owned(), Outcome::Invalid)
                };
                if !to.send(&mut seq, Body::Fresh(result)) {
                    return Ok(());
                }
                continue;
            };
            to.window.wait_for(seq);
            let job = Job {
                seq,
                line: row.line,
                request: columns.request(row, iccid),
                extra: columns
                    .extra
                    .iter()
                    .map(|&i| row.get(i).to_owned())
                    .collect(),
            };
            seq += 1;
            if to.jobs.send(job).is_err() {
                return Ok(());
            }
        }
        if n < CHUNK_ROWS {
            return Ok(());
        }
    }
}

impl Feeder<'_> {
    /// Sends a row that needs no worker; false when nobody listens any more.
    fn send(&self, seq: &mut u64, body: Body) -> bool {
        self.window.wait_for(*seq);
        let sent = self.done.send(Finished { seq: *seq, body }).is_ok();
        *seq += 1;
        sent
    }
}

/// Refuses previous results whose row for this line shows another ICCID.
fn check_kept(previous: &Kept, line: u64, iccid: &str) -> Result<(), String> {
    // The file holds the cell as written: neutralised (`-` became `'-`).
    if *previous.iccid != *results::neutralise(iccid) {
        return Err(format!(
            "the previous results do not match this manifest: line {line} has ICCID {} \
             there and {iccid} here; resume with the same manifest, or choose another -o",
            previous.iccid,
        ));
    }
    Ok(())
}

/// Where the manifest's optional columns are.
struct Columns {
    iccid: usize,
    plan: Option<usize>,
    user: Option<usize>,
    email: Option<usize>,
    full_name: Option<usize>,
    birthday: Option<usize>,
    address: [Option<usize>; 6],
    /// Every column but the ICCID's, carried into the results.
    extra: Vec<usize>,
}

impl Columns {
    fn find(manifest: &Manifest) -> Self {
        Columns {
            iccid: manifest.iccid_column(),
            plan: manifest.column(&["plan", "plan_id"]),
            user: manifest.column(&["user", "user_id"]),
            email: manifest.column(&["email", "e-mail", "email_address"]),
            full_name: manifest.column(&["full_name", "user_full_name"]),
            birthday: manifest.column(&["birthday", "user_birthday", "date_of_birth", "dob"]),
            address: [
                manifest.column(&["address_line1", "address_line_1"]),
                manifest.column(&["address_line2", "address_line_2"]),
                manifest.column(&["address_city"]),
                manifest.column(&["address_postal_code", "address_zip"]),
                manifest.column(&["address_state"]),
                manifest.column(&["address_country"]),
            ],
            extra: manifest.other_columns(),
        }
    }

    fn request(&self, row: &Row, iccid: &str) -> RowRequest {
        let cell = |column: Option<usize>| {
            column
                .map(|i| row.get(i).trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let [line1, line2, city, postal_code, state, country] = self.address.map(cell);
        RowRequest {
            iccid: iccid.to_owned(),
            plan: cell(self.plan),
            user: cell(self.user),
            email: cell(self.email),
            full_name: cell(self.full_name),
            birthday: cell(self.birthday),
            address: AddressCells {
                line1,
                line2,
                city,
                postal_code,
                state,
                country,
            },
        }
    }
}

/// Counts the rows, for the progress bar and the end-of-run check. With
/// rows kept by `--resume`, also checks that they belong to this manifest:
/// each one's line must be a row with the same ICCID.
fn count_rows(config: &RunConfig, kept: &HashMap<u64, Kept>) -> Result<u64, Fatal> {
    let mut manifest = Manifest::open(&config.manifest, &config.manifest_options)
        .map_err(Fatal::before_results)?;
    let mut validator = Validator::new(config.check_digit);
    let mut rows = Vec::new();
    let mut total = 0u64;
    let mut matched = 0usize;
    loop {
        let n = manifest
            .read_chunk(&mut rows, CHUNK_ROWS)
            .map_err(Fatal::before_results)?;
        total += n as u64;
        if !kept.is_empty() {
            let checked = validator.check_chunk(&rows[..n], manifest.iccid_column());
            for checked in checked {
                if let Some(previous) = kept.get(&checked.line) {
                    check_kept(previous, checked.line, checked.iccid())
                        .map_err(Fatal::before_results)?;
                    matched += 1;
                }
            }
        }
        if n < CHUNK_ROWS {
            break;
        }
    }
    if matched < kept.len() {
        return Err(Fatal::before_results(format!(
            "the previous results do not match this manifest: they hold {} rows for lines \
             it does not have; resume with the same manifest, or choose another -o",
            thousands((kept.len() - matched) as u64)
        )));
    }
    Ok(total)
}

/// `<results>.journal`, beside the result file.
pub fn journal_path(results: &Path) -> PathBuf {
    let mut name = results.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

fn temp_path(results: &Path) -> PathBuf {
    let mut name = results.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
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

/// Where finished rows go: the journal at once, the ordered file as soon as
/// every row before it has finished.
struct Sink {
    journal: Option<File>,
    journal_path: Option<PathBuf>,
    ordered: ResultWriter<Box<dyn Write + Send>>,
    output: Output,
    /// Rows that arrived before some row above them; bounded by [`Window`].
    waiting: BTreeMap<u64, Body>,
    /// The next `seq` to write.
    next: u64,
    buf: Vec<u8>,
    finished: u64,
    /// Rows kept from the previous run that are in the ordered file.
    kept_written: u64,
}

/// What [`Sink::finish`] did with the files.
enum Finish {
    /// The result file holds every finished row; the journal is gone.
    Replaced,
    /// Some kept rows never came: the previous result file and the journal
    /// were left as they were (they hold every finished row).
    LeftAlone,
}

enum FinishError {
    /// The result file could not be written or put in place; the journal and
    /// the previous result file are as they were.
    Write(io::Error),
    /// The result file is in place, but the journal is still there.
    Journal(io::Error),
}

impl Sink {
    fn open(
        output: &Output,
        journal_path: Option<&Path>,
        extra_headers: &[String],
    ) -> Result<Sink, Fatal> {
        let cannot = |path: &Path, err: io::Error| {
            Fatal::before_results(format!("cannot create {}: {err}", path.display()))
        };
        let journal = match journal_path {
            Some(path) => Some(open_journal(path, extra_headers).map_err(|e| cannot(path, e))?),
            None => None,
        };
        let out: Box<dyn Write + Send> = match output {
            Output::Stdout => {
                results::open_output(output).map_err(|e| cannot(Path::new("-"), e))?
            }
            Output::File(path) => {
                let temp = temp_path(path);
                Box::new(io::BufWriter::with_capacity(
                    256 * 1024,
                    File::create(&temp).map_err(|e| cannot(&temp, e))?,
                ))
            }
        };
        let ordered = ResultWriter::new(out, extra_headers).map_err(|err| {
            Fatal::before_results(format!("cannot write the results to {output}: {err}"))
        })?;
        Ok(Sink {
            journal,
            journal_path: journal_path.map(Path::to_owned),
            ordered,
            output: output.clone(),
            waiting: BTreeMap::new(),
            next: 0,
            buf: Vec::with_capacity(512),
            finished: 0,
            kept_written: 0,
        })
    }

    fn push(&mut self, finished: Finished) -> io::Result<()> {
        match &finished.body {
            Body::Fresh(row) => {
                if let Some(journal) = &mut self.journal {
                    self.buf.clear();
                    encode(&mut self.buf, row, true);
                    // One write per row, straight to the file: once it returns,
                    // a SIGKILL cannot take the row back.
                    journal.write_all(&self.buf)?;
                }
                self.finished += 1;
            }
            Body::Kept(_) => self.finished += 1,
            Body::Skipped => {}
        }
        self.waiting.insert(finished.seq, finished.body);
        while let Some(body) = self.waiting.remove(&self.next) {
            self.write(body)?;
            self.next += 1;
        }
        Ok(())
    }

    fn write(&mut self, body: Body) -> io::Result<()> {
        match body {
            Body::Fresh(row) => self.ordered.write(&row),
            Body::Kept(kept) => {
                self.kept_written += 1;
                self.ordered.write_raw(&kept.encoded)
            }
            Body::Skipped => Ok(()),
        }
    }

    fn rows_finished(&self) -> u64 {
        self.finished
    }

    /// Writes what is left in order (after a stop, with gaps). If every one
    /// of the `kept` rows of the previous run is in it, puts the result file
    /// in place and drops the journal, whose rows are all in it. Otherwise
    /// replacing the previous file would lose rows: both files stay as they are.
    fn finish(mut self, kept: u64) -> Result<Finish, FinishError> {
        for (_, body) in std::mem::take(&mut self.waiting) {
            self.write(body).map_err(FinishError::Write)?;
        }
        if self.kept_written < kept {
            self.abandon();
            return Ok(Finish::LeftAlone);
        }
        let mut out = self.ordered.into_inner().map_err(FinishError::Write)?;
        out.flush().map_err(FinishError::Write)?;
        drop(out);
        if let Output::File(path) = &self.output {
            std::fs::rename(temp_path(path), path).map_err(FinishError::Write)?;
        }
        if let Some(journal) = self.journal_path {
            drop(self.journal);
            std::fs::remove_file(journal).map_err(FinishError::Journal)?;
        }
        Ok(Finish::Replaced)
    }

    /// Gives up the ordered file (its temp file is removed) and leaves the
    /// journal and the previous result file as they are.
    fn abandon(self) {
        let Sink {
            ordered, output, ..
        } = self;
        drop(ordered);
        if let Output::File(path) = &output {
            let _ = std::fs::remove_file(temp_path(path));
        }
    }
}

/// Encodes a row; without `extra`, only its fixed cells (no line end).
fn encode(buf: &mut Vec<u8>, row: &ResultRow, extra: bool) {
    let cells = row.extra.iter().map(String::as_bytes).filter(|_| extra);
    results::encode_row(buf, row.line, row.fixed_cells(), cells);
    if !extra {
        buf.pop(); // the line end: the manifest's extra columns come first
    }
}

/// Opens the journal for appending; a new one starts with the header. An
/// existing one is first cut back to the end of its last complete row: a row
/// torn by a kill (perhaps inside a quoted cell, which would otherwise stay
/// open and swallow every row appended after it) is dropped, to run again.
fn open_journal(path: &Path, extra_headers: &[String]) -> io::Result<File> {
    let complete = if path.exists() {
        results::read_results_each(path, |_| {})?.complete_len
    } else {
        0
    };
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    if file.metadata()?.len() != complete {
        file.set_len(complete)?;
    }
    if complete == 0 {
        let writer = ResultWriter::new(&mut file, extra_headers)?;
        writer.into_inner()?;
    }
    Ok(file)
}

/// The API a run talks to, once settled.
struct Api {
    url: String,
    project: String,
    token: Token,
}

/// Settles the target: starts the sandbox, or checks the URL and the token.
fn connect(config: &RunConfig) -> Result<(Option<Sandbox>, Api), Fatal> {
    match &config.target {
        Target::Sandbox => {
            let sandbox = Sandbox::start(config)?;
            let api = sandbox.api();
            Ok((Some(sandbox), api))
        }
        Target::Api {
            url,
            project,
            token,
            allow_insecure_http,
        } => {
            check_url(url, *allow_insecure_http).map_err(Fatal::before_results)?;
            let token = token.clone().ok_or_else(|| {
                Fatal::before_results(
                    "no token: set GIGS_TOKEN to your Gigs API key (it is never taken from a flag); \
                     or try --sandbox",
                )
            })?;
            Ok((
                None,
                Api {
                    url: url.clone(),
                    project: project.clone(),
                    token,
                },
            ))
        }
    }
}

/// `https://` anywhere; plain `http://` only to this machine, unless allowed.
pub fn check_url(url: &str, allow_insecure_http: bool) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|err| {
        let url = crate::gigs::client::redact_url(url);
        format!("the API URL {url:?} is not a URL: {err}")
    })?;
    let host = parsed.host_str().unwrap_or("");
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback || allow_insecure_http => Ok(()),
        "http" => Err(format!(
            "refusing plain http:// to {}: the token would travel unencrypted; use https://, \
             or pass --allow-insecure-http if you must",
            parsed.host_str().unwrap_or("?")
        )),
        other => Err(format!(
            "the API URL must start with https://, not {other}://"
        )),
    }
}

/// Checks the token, the project and `--plan` before any row, and returns
/// the project's available plans. Any failure is fatal.
fn preflight(
    client: &Client,
    api: &Api,
    plan: Option<&str>,
) -> Result<Vec<crate::gigs::types::Plan>, Fatal> {
    let plans = client.list_plans().map_err(|err| {
        Fatal::before_results(match &err {
            e if e.is_auth() => format!("the API refused the token ({err}); check GIGS_TOKEN"),
            e if e.is_not_found() => format!(
                "project {:?} was not found ({err}); check GIGS_PROJECT or --project",
                api.project
            ),
            Error::Transport { .. } => format!(
                "cannot reach the API at {}: {err}",
                crate::gigs::client::redact_url(&api.url)
            ),
            _ => format!("the preflight failed: {err}"),
        })
    })?;
    let available: Vec<_> = plans.into_iter().filter(|p| p.is_available()).collect();
    if let Some(id) = plan {
        let found = match available.iter().find(|p| p.id == id) {
            Some(plan) => plan.clone(),
            None => client.get_plan(id).map_err(|err| {
                Fatal::before_results(match &err {
                    e if e.is_not_found() => {
                        format!("--plan {id}: no such plan in project {}", api.project)
                    }
                    e if e.is_auth() => {
                        format!("the API refused the token ({err}); check GIGS_TOKEN")
                    }
                    _ => format!("--plan {id}: cannot look it up: {err}"),
                })
            })?,
        };
        if !found.is_available() {
            return Err(Fatal::before_results(format!(
                "--plan {}: the plan is {}, not available",
                found.label(),
                if found.status.is_empty() {
                    "not available"
                } else {
                    &found.status
                }
            )));
        }
        if !found.supports_psim() {
            return Err(Fatal::before_results(format!(
                "--plan {}: the plan does not support pSIMs (it supports {})",
                found.label(),
                found.sim_types.join(", ")
            )));
        }
    }
    Ok(available)
}

/// `--sandbox`: an emulator in this process, stocked with the manifest's
/// valid ICCIDs as inactive pSIMs. It stops when the run ends.
struct Sandbox(crate::emulator::Emulator);

impl Sandbox {
    fn start(config: &RunConfig) -> Result<Sandbox, Fatal> {
        let (iccids, _) = crate::validate::valid_iccids(
            &config.manifest,
            &config.manifest_options,
            config.check_digit,
        )
        .map_err(Fatal::before_results)?;
        let emulator = crate::emulator::Emulator::start(crate::emulator::EmulatorConfig {
            inventory_iccids: iccids,
            ..Default::default()
        })
        .map_err(|err| {
            Fatal::before_results(format!("cannot start the sandbox emulator: {err:#}"))
        })?;
        Ok(Sandbox(emulator))
    }

    fn api(&self) -> Api {
        Api {
            url: self.0.url().to_owned(),
            project: self.0.project().to_owned(),
            token: Token::new(self.0.token().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_only_to_loopback() {
        assert!(check_url("https://api.gigs.com", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080", false).is_ok());
        assert!(check_url("http://localhost:1", false).is_ok());
        assert!(check_url("http://[::1]:1", false).is_ok());
        let refused = check_url("http://api.gigs.com", false).unwrap_err();
        assert!(refused.contains("--allow-insecure-http"), "{refused}");
        assert!(check_url("http://10.0.0.2", true).is_ok());
        assert!(check_url("ftp://x", true).is_err());
        assert!(check_url("not a url", false).is_err());
    }

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

    #[test]
    fn the_journal_sits_beside_the_results() {
        assert_eq!(
            journal_path(Path::new("/x/m.results.csv")),
            Path::new("/x/m.results.csv.journal")
        );
    }

    #[test]
    fn a_torn_journal_line_is_dropped_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv.journal");
        drop(open_journal(&path, &[]).unwrap());
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"2,8988,onboar").unwrap();
        drop(file);
        let mut file = open_journal(&path, &[]).unwrap();
        file.write_all(b"3,8989,invalid,duplicate,,,,,\n").unwrap();
        let (_, rows) = results::read_results(&path).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 3);
    }

    #[test]
    fn a_row_torn_inside_quotes_cannot_swallow_the_next_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv.journal");
        drop(open_journal(&path, &[]).unwrap());
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"2,8988,onboarded,,,sim_2,plan_1,usr_1,sub_2\n")
            .unwrap();
        // Killed in the middle of a quoted message.
        file.write_all(b"3,8989,failed,sim_in_use,\"the SIM, it s")
            .unwrap();
        drop(file);

        let mut file = open_journal(&path, &[]).unwrap();
        file.write_all(b"4,8990,invalid,duplicate,,,,,\n").unwrap();
        file.write_all(b"5,8991,onboarded,,,sim_5,plan_1,usr_1,sub_5\n")
            .unwrap();

        let (_, rows) = results::read_results(&path).unwrap();
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(
            lines,
            [2, 4, 5],
            "the torn row runs again; no other is lost"
        );
        assert_eq!(rows[2].subscription_id, "sub_5");
    }

    #[test]
    fn a_row_torn_after_its_outcome_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv.journal");
        drop(open_journal(&path, &[]).unwrap());
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        // The outcome parses, but the ids are cut short.
        file.write_all(b"2,8988,onboarded,,,sim_2,pla").unwrap();
        drop(file);
        let (_, rows) = results::read_results(&path).unwrap();
        assert!(rows.is_empty(), "{rows:?}");
    }

    #[test]
    fn results_are_left_alone_when_kept_rows_never_came() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.csv");
        let previous = "line,iccid,outcome,reason,message,sim_id,plan_id,user_id,subscription_id\n\
                        2,8988,onboarded,,,sim_2,plan_1,usr_1,sub_2\n";
        std::fs::write(&file, previous).unwrap();
        let journal = journal_path(&file);
        let output = Output::File(file.clone());
        let mut sink = Sink::open(&output, Some(&journal), &[]).unwrap();
        let row = ResultRow::new(3, "8989", Outcome::Onboarded);
        sink.push(Finished {
            seq: 0,
            body: Body::Fresh(row),
        })
        .unwrap();

        // One row was kept from the previous run, and the sink never saw it.
        assert!(matches!(sink.finish(1), Ok(Finish::LeftAlone)));

        assert_eq!(std::fs::read_to_string(&file).unwrap(), previous);
        let (_, journaled) = results::read_results(&journal).unwrap();
        assert_eq!(journaled.len(), 1, "the new row is in the journal");
        assert!(!temp_path(&file).exists());
    }
}

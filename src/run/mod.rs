//! `simboard run`: drives every row of a manifest through validation and
//! [`crate::onboard`], many at once, and writes one result per row, in order.
//!
//! [`run`] settles everything first, then runs the pipeline, then concludes;
//! each step is a file of this folder, in order:
//!
//! 1. `1_output.rs`: where the results go, and the journal beside them;
//!    `1_lock.rs`: the lock that allows one run per result file;
//! 2. `2_resume.rs`: with `--resume`, the rows kept from the previous run;
//! 3. `3_prepass.rs`: one pass over the manifest before any request (rows
//!    counted, kept rows checked against it and dropped when their manifest
//!    row changed, the sandbox's stock, the ICCIDs the snapshot looks for);
//! 4. `4_connect.rs`: the sandbox or the API, the client, the preflight,
//!    and the snapshot of the project (`--resolve`, [`crate::snapshot`]);
//! 5. `5_pipeline.rs`: the feeder (`6_feed.rs`) reads the manifest a second
//!    and last time and queues rows to the workers (`7_work.rs`); finished
//!    rows go to the sink (`8_sink.rs`): the journal at once, the result file
//!    in order;
//! 6. `9_conclude.rs`: the result file put in place, and the summary.

#[path = "9_conclude.rs"]
mod conclude;
#[path = "4_connect.rs"]
mod connect;
#[path = "6_feed.rs"]
mod feed;
#[path = "1_lock.rs"]
mod lock;
#[path = "1_output.rs"]
mod output;
#[path = "5_pipeline.rs"]
mod pipeline;
#[path = "3_prepass.rs"]
mod prepass;
#[path = "2_resume.rs"]
mod resume;
#[path = "8_sink.rs"]
mod sink;
#[path = "7_work.rs"]
mod work;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::exit::Fatal;
use crate::gigs::Token;
use crate::iccid::CheckDigit;
use crate::manifest::ManifestOptions;
use crate::progress;
use crate::snapshot::Resolve;
use crate::summary::Summary;

pub use connect::{check_url, UrlError};
pub use output::journal_path;
pub use resume::is_final;

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
    /// `--force`: start over, replacing the results of an earlier run.
    pub force: bool,
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub max_retries: u32,
    /// `--max-wait`: the longest one request may take, 429s included.
    pub max_wait: Duration,
    pub idempotency_keys: bool,
    /// `--resolve`: how rows are resolved (see [`crate::snapshot`]).
    pub resolve: Resolve,
    pub target: Target,
    pub verbose: bool,
    pub quiet: bool,
}

/// Set by Ctrl-C (and SIGTERM): take no new rows.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Runs the pipeline over a manifest (`simboard run`).
pub fn run(config: &RunConfig) -> Result<Summary, Fatal> {
    let started = Instant::now();
    let files = output::Files::settle(config)?;
    let mut kept = resume::load(config, &files)?;
    let mut manifest = prepass::read(config, &mut kept)?;
    let bar = progress::rows(0, config.quiet);
    let mut connection = connect::open(config, manifest.stock, &bar)?;
    // The ICCIDs wanted are dropped once the project is read.
    let wanted = std::mem::take(&mut manifest.wanted);
    connect::read_project(config, &mut connection, wanted, &bar)?;
    bar.set_length(manifest.total);
    let ended = pipeline::execute(config, &files, &connection, kept, &bar)?;
    bar.finish_and_clear();
    conclude::conclude(config, &files, &connection, ended, manifest.total, started)
}

//! `simboard run`: drives many rows through [`crate::onboard`]. (Being written: see issue 4.)

use std::path::PathBuf;

use crate::iccid::CheckDigit;
use crate::manifest::ManifestOptions;

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
    pub idempotency_keys: bool,
    pub target: Target,
    pub verbose: bool,
    pub quiet: bool,
}

/// Runs the pipeline over a manifest (`simboard run`).
pub fn run(_config: &RunConfig) -> Result<crate::summary::Summary, crate::exit::Fatal> {
    Err(crate::exit::Fatal::before_results(
        "simboard run is not written yet",
    ))
}

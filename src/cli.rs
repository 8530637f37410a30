//! The command line: clap types whose `///` comments are the `--help` text,
//! and their conversion into the library's plain config structs. Nothing past
//! this file sees clap.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use simboard::emulator::EmulatorConfig;
use simboard::encoding::{self, Encoding};
use simboard::gigs::Token;
use simboard::iccid::CheckDigit;
use simboard::manifest::ManifestOptions;
use simboard::results::{self, OverManifest};
use simboard::run::{RunConfig, Target};
use simboard::validate::ValidateConfig;

/// Onboard physical SIMs in bulk through the Gigs Core API.
///
/// simboard reads a supplier's manifest (a CSV of ICCIDs), validates every
/// ICCID, finds each SIM in your Gigs project, pairs it with a plan and a user,
/// creates the subscription, and writes a result CSV with one row per manifest row.
#[derive(Debug, Parser)]
#[command(name = "simboard", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a manifest offline: characters, length, check digit, duplicates.
    ///
    /// Writes one result row per manifest row, with outcome `valid` or
    /// `invalid` and a reason code. Exit code 0: every row is valid; 1: some
    /// rows are invalid; 2: the file could not be read (nothing else is wrong).
    Validate(ValidateArgs),
    /// Onboard the SIMs of a manifest: resolve, pair plan and user, subscribe.
    ///
    /// The token is read from GIGS_TOKEN only, the project from GIGS_PROJECT or
    /// --project, the API address from GIGS_API_URL or --api-url. Exit code 0:
    /// every row is onboarded, already onboarded or would be onboarded; 1: some
    /// rows are invalid or failed; 2: fatal (bad token, project, plan or file).
    Run(Box<RunArgs>),
    /// Serve an emulator of the Gigs API on 127.0.0.1, for tests and trials.
    ///
    /// The first line printed is `listening on http://127.0.0.1:PORT`, then the
    /// token and project to use. Serves until Ctrl-C. The route
    /// GET /_emulator/state is not part of the Gigs API: it reports every
    /// object and counter, for tests.
    Emulator(EmulatorArgs),
}

/// Options shared by every command that reads a manifest.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// The manifest: a CSV of ICCIDs, with a header row or one ICCID per
    /// line; a workbook (.xlsx, .xlsm, .xls, .ods); or a SIM vendor output
    /// file (a `var_out:` line naming the columns). The content decides, not
    /// the file's name.
    pub manifest: PathBuf,
    /// Where to write the result CSV; `-` for standard output.
    /// [default: <manifest stem>.results.csv beside the manifest]
    #[arg(short, long, value_name = "RESULTS")]
    pub output: Option<PathBuf>,
    /// The manifest's delimiter: `,`, `;`, `tab` or any one ASCII character.
    /// [default: sniffed from the first line]
    #[arg(long, value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
    /// The sheet of a workbook to read, by name or by number from 1.
    /// [default: the first sheet]
    #[arg(long, value_name = "NAME|N")]
    pub sheet: Option<String>,
    /// The manifest's text encoding: `utf-8`, `utf-16le`, `utf-16be`,
    /// `windows-1252`, or any other WHATWG label (`latin1`, `shift_jis`, ...).
    /// [default: UTF-8 or UTF-16 by their BOM, else UTF-8 when the text is
    /// UTF-8, else windows-1252]
    #[arg(long, value_name = "ENCODING", value_parser = parse_encoding)]
    pub encoding: Option<&'static Encoding>,
    /// Keep a column that looks like a SIM secret (Ki, OPc, PIN, PUK, ADM,
    /// ...) in the results, when you know it is harmless. Repeat for more.
    #[arg(long, value_name = "NAME")]
    pub keep_column: Vec<String>,
    /// Accept ICCIDs whose Luhn check digit fails (for issuers that write a
    /// serial digit over it); such rows are valid, with a warning.
    #[arg(long)]
    pub no_check_digit: bool,
    /// Print neither progress nor the summary.
    #[arg(short, long)]
    pub quiet: bool,
}

impl ManifestArgs {
    fn manifest_options(&self) -> ManifestOptions {
        ManifestOptions {
            delimiter: self.delimiter,
            sheet: self.sheet.clone(),
            encoding: self.encoding,
            keep_columns: self.keep_column.clone(),
        }
    }

    fn check_digit(&self) -> CheckDigit {
        if self.no_check_digit {
            CheckDigit::Ignore
        } else {
            CheckDigit::Enforce
        }
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

impl ValidateArgs {
    pub fn into_config(self) -> Result<ValidateConfig, CliError> {
        let m = &self.manifest;
        let output = results::resolve_output(&m.manifest, m.output.as_deref())?;
        Ok(ValidateConfig {
            output,
            manifest_options: m.manifest_options(),
            check_digit: m.check_digit(),
            quiet: m.quiet,
            manifest: self.manifest.manifest,
        })
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// The plan for every row without a `plan` column value (pln_…).
    /// [default: paired automatically among the project's available plans]
    #[arg(long, value_name = "PLAN_ID")]
    pub plan: Option<String>,
    /// The user for every row without a `user` or `email` column value (usr_…).
    #[arg(long, value_name = "USER_ID")]
    pub user: Option<String>,
    /// Do every read-only step and create nothing: no user, no subscription.
    #[arg(long)]
    pub dry_run: bool,
    /// Continue an interrupted run: keep the finished rows of the result file
    /// given by -o (or the default one) and run the rest. A row whose
    /// manifest row changed since runs again.
    #[arg(long)]
    pub resume: bool,
    /// Start over, replacing the results of an earlier run in the result
    /// file (and dropping the journal of an interrupted one). Without it, a
    /// run refuses a result file that records onboarded rows.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Never send more than this many requests per second.
    /// [default: adapt to the API's 429 answers]
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// Retries of one request after a connection error, timeout, 408, 5xx or
    /// an answer that is not the API's (a redirect, a wrong object). A 429
    /// does not use them up: it is waited out, within --max-wait.
    #[arg(long, default_value_t = 5)]
    pub max_retries: u32,
    /// The longest one request may take, waits after 429s and retries
    /// included, as 90s, 15m or 1h (a bare number is seconds). A
    /// Retry-After longer than this is not waited: the request gives up and
    /// its row is left for --resume.
    #[arg(long, default_value = "15m", value_name = "DURATION", value_parser = parse_wait)]
    pub max_wait: Duration,
    /// Send a deterministic Idempotency-Key on every create (a Gigs beta
    /// feature that can fail requests in projects not enrolled in it).
    #[arg(long)]
    pub idempotency_keys: bool,
    /// How rows find their SIM, its subscriptions and their user. `snapshot`
    /// reads the project's SIMs, live subscriptions and (when rows name
    /// emails) users once, 200 per call, then resolves every row in memory;
    /// `search` looks each row up on its own; `auto` reads each listing
    /// only while it costs no more than the lookups it saves (never more
    /// than twice the calls of the cheaper way).
    #[arg(long, value_enum, default_value_t = ResolveArg::Auto)]
    pub resolve: ResolveArg,
    /// Run against an in-process emulator stocked with the manifest's valid
    /// ICCIDs: no token, no network.
    #[arg(long, conflicts_with_all = ["api_url", "project", "allow_insecure_http"])]
    pub sandbox: bool,
    /// The Gigs API address. [default: GIGS_API_URL, else https://api.gigs.com]
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// The Gigs project id. [default: GIGS_PROJECT]
    #[arg(long)]
    pub project: Option<String>,
    /// Allow plain http:// to a host that is not loopback (the token would
    /// travel unencrypted).
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Log every request: method, path, status and latency (never a header).
    #[arg(short, long)]
    pub verbose: bool,
}

impl RunArgs {
    pub fn into_config(self) -> Result<RunConfig, CliError> {
        check_rate(self.rate)?;
        let target = if self.sandbox {
            Target::Sandbox
        } else {
            // From the environment only when the flag is not given, and only
            // here: an exported GIGS_PROJECT or GIGS_API_URL must not conflict
            // with --sandbox, which refuses the flags alone.
            let project = self
                .project
                .or_else(|| from_env("GIGS_PROJECT"))
                .ok_or(CliError::NoProject)?;
            // The token is read from the environment only, never from a flag,
            // so it stays out of shell history and process listings.
            let token = std::env::var("GIGS_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
                .map(Token::new);
            Target::Api {
                url: self
                    .api_url
                    .or_else(|| from_env("GIGS_API_URL"))
                    .unwrap_or_else(|| DEFAULT_API_URL.to_owned()),
                project,
                token,
                allow_insecure_http: self.allow_insecure_http,
            }
        };
        let m = &self.manifest;
        Ok(RunConfig {
            output: m.output.clone(),
            manifest_options: m.manifest_options(),
            check_digit: m.check_digit(),
            quiet: m.quiet,
            plan: self.plan,
            user: self.user,
            dry_run: self.dry_run,
            resume: self.resume,
            force: self.force,
            concurrency: usize::from(self.concurrency),
            rate: self.rate,
            max_retries: self.max_retries,
            max_wait: self.max_wait,
            idempotency_keys: self.idempotency_keys,
            resolve: self.resolve.into(),
            target,
            verbose: self.verbose,
            manifest: self.manifest.manifest,
        })
    }
}

/// `--resolve`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ResolveArg {
    Auto,
    Snapshot,
    Search,
}

impl From<ResolveArg> for simboard::snapshot::Resolve {
    fn from(arg: ResolveArg) -> Self {
        match arg {
            ResolveArg::Auto => simboard::snapshot::Resolve::Auto,
            ResolveArg::Snapshot => simboard::snapshot::Resolve::Snapshot,
            ResolveArg::Search => simboard::snapshot::Resolve::Search,
        }
    }
}

/// The Gigs API, when neither --api-url nor GIGS_API_URL says otherwise.
const DEFAULT_API_URL: &str = "https://api.gigs.com";

/// A setting from the environment; unset and empty are the same.
fn from_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// The port to listen on, on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The bearer token requests must carry. [default: a fixed token, printed at start]
    #[arg(long)]
    pub token: Option<String>,
    /// The project id served; any other project answers 404.
    #[arg(long, default_value = "emulator")]
    pub project: String,
    /// A manifest whose valid ICCIDs become inactive pSIMs (repeatable); or a
    /// whole number N (when no file has that name): N generated pSIMs, for
    /// load tests.
    #[arg(long, value_name = "MANIFEST.csv|N")]
    pub inventory: Vec<PathBuf>,
    /// The provider of the inventory's SIMs.
    #[arg(long, default_value = "p4")]
    pub provider: String,
    /// A JSON list of plan objects replacing the built-in catalogue.
    #[arg(long, value_name = "plans.json")]
    pub plans: Option<PathBuf>,
    /// Latency added to every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Requests per second allowed (a token bucket); more get 429 with Retry-After.
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// The share of requests answered 500, 502 or 503 before anything is done.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    pub fail_rate: f64,
    /// The share of successful subscription creates that are committed and
    /// then answered by closing the connection.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    pub drop_rate: f64,
    /// The share of successful address creates that are committed and then
    /// answered by closing the connection.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    pub address_drop_rate: f64,
    /// Seed for the injected faults, to make them reproducible.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Multiplies the activation delays of the delayed test SIMs (0.001 makes
    /// "up to one minute" take up to 60 ms).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// List endpoints check their filters, then ignore them and list
    /// everything: for testing a client that must not trust filters.
    #[arg(long)]
    pub ignore_filters: bool,
    /// Serve at most N items per list page, whatever `limit` asks.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=200))]
    pub page_cap: Option<u64>,
    /// The HTTP status of `invalid` errors: 422 (Gigs' own mocks) or 400.
    #[arg(long, default_value_t = 422, value_parser = parse_invalid_status)]
    pub invalid_status: u16,
}

impl EmulatorArgs {
    pub fn into_config(self) -> Result<EmulatorConfig, CliError> {
        check_rate(self.rate)?;
        if !(self.time_scale.is_finite() && self.time_scale >= 0.0) {
            return Err(CliError::TimeScale(self.time_scale));
        }
        let defaults = EmulatorConfig::default();
        // A bare number that names no file is a count of SIMs to generate.
        let (counts, inventory): (Vec<PathBuf>, Vec<PathBuf>) =
            self.inventory.into_iter().partition(|path| {
                !path.exists() && path.to_str().is_some_and(|s| s.parse::<usize>().is_ok())
            });
        let generated_sims = counts
            .iter()
            .filter_map(|path| path.to_str()?.parse::<usize>().ok())
            .sum();
        Ok(EmulatorConfig {
            port: self.port,
            token: self.token.unwrap_or(defaults.token),
            project: self.project,
            inventory,
            generated_sims,
            ignore_filters: self.ignore_filters,
            page_cap: self.page_cap.and_then(|n| usize::try_from(n).ok()),
            invalid_status: self.invalid_status,
            provider: self.provider,
            plans: self.plans,
            latency: Duration::from_millis(self.latency_ms),
            rate: self.rate,
            fail_rate: self.fail_rate,
            drop_rate: self.drop_rate,
            address_drop_rate: self.address_drop_rate,
            seed: self.seed,
            time_scale: self.time_scale,
            ..defaults
        })
    }
}

/// A setting refused before anything runs.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Output(#[from] OverManifest),
    #[error("no project: set GIGS_PROJECT or pass --project (or try --sandbox)")]
    NoProject,
    #[error("--rate must be a number of requests per second of at least {MIN_RATE}, not {0}")]
    Rate(f64),
    #[error("--time-scale must be 0 or more, not {0}")]
    TimeScale(f64),
    #[error("{0:?} is not a duration: write it as 500ms, 30s, 15m or 2h")]
    Wait(String),
    #[error("{0:?} is not a delimiter: use `,`, `;`, `tab` or one other ASCII character")]
    Delimiter(String),
    #[error("{0:?} is not an encoding: use `utf-8`, `utf-16le`, `utf-16be` or `windows-1252`")]
    Encoding(String),
    #[error("{0:?} is not a number")]
    NotANumber(String),
    #[error("{0} is not a share between 0 and 1")]
    Share(String),
    #[error("is 400 or 422, not {0:?}")]
    InvalidStatus(String),
}

/// `--invalid-status`: 400 or 422.
fn parse_invalid_status(s: &str) -> Result<u16, CliError> {
    match s.trim() {
        "400" => Ok(400),
        "422" => Ok(422),
        other => Err(CliError::InvalidStatus(other.to_owned())),
    }
}

/// The slowest `--rate` taken: one request every 100 seconds. Slower rates
/// are surely typos, and a pause of ages is no use to anyone.
pub const MIN_RATE: f64 = 0.01;

fn check_rate(rate: Option<f64>) -> Result<(), CliError> {
    match rate {
        Some(rate) if !(rate.is_finite() && rate >= MIN_RATE) => Err(CliError::Rate(rate)),
        _ => Ok(()),
    }
}

/// `500ms`, `30s`, `15m`, `2h`, or a bare number of seconds.
fn parse_wait(s: &str) -> Result<Duration, CliError> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    number
        .parse::<f64>()
        .ok()
        .map(|n| n * scale)
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| CliError::Wait(s.to_owned()))
}

fn parse_delimiter(s: &str) -> Result<u8, CliError> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        "comma" => Ok(b','),
        "semicolon" => Ok(b';'),
        _ if s.len() == 1 && s.is_ascii() && !matches!(s, "\"" | "\n" | "\r") => {
            Ok(s.as_bytes()[0])
        }
        _ => Err(CliError::Delimiter(s.to_owned())),
    }
}

fn parse_encoding(s: &str) -> Result<&'static Encoding, CliError> {
    encoding::for_label(s).ok_or_else(|| CliError::Encoding(s.to_owned()))
}

fn parse_share(s: &str) -> Result<f64, CliError> {
    let share: f64 = s.parse().map_err(|_| CliError::NotANumber(s.to_owned()))?;
    if (0.0..=1.0).contains(&share) {
        Ok(share)
    } else {
        Err(CliError::Share(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn waits_read_units_and_bare_seconds() {
        assert_eq!(parse_wait("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_wait("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_wait("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_wait("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_wait("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["", "m", "5 days", "-1s", "1e999"] {
            assert!(parse_wait(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rates_below_the_minimum_are_refused() {
        let run = |rate: &str| {
            let flag = format!("--rate={rate}");
            let cli =
                Cli::try_parse_from(["simboard", "run", "m.csv", "--sandbox", &flag]).unwrap();
            match cli.command {
                Command::Run(args) => args.into_config().map(|c| c.rate),
                _ => unreachable!(),
            }
        };
        for bad in ["1e-25", "0", "-1", "0.001", "inf", "NaN"] {
            let err = run(bad).unwrap_err();
            assert!(err.to_string().contains("--rate"), "{bad}: {err}");
        }
        assert_eq!(run("0.01"), Ok(Some(0.01)));
        assert_eq!(run("250"), Ok(Some(250.0)));
    }

    #[test]
    fn delimiters() {
        assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
        assert_eq!(parse_delimiter(";"), Ok(b';'));
        assert!(parse_delimiter(";;").is_err());
        for quote_or_line_end in ["\"", "\n", "\r"] {
            assert!(parse_delimiter(quote_or_line_end).is_err());
        }
    }
}

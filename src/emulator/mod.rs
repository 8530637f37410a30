//! The Gigs API emulator: a stateful stand-in for the Gigs Core API, with
//! fault knobs, for the tests, the benchmarks, `--sandbox` and anyone trying
//! simboard without a Gigs project.
//!
//! It follows `REFERENCE.md` and the SIMs guide to the letter where they
//! speak (shapes, statuses, error bodies, validation order, test SIMs) and
//! makes documented choices where they are silent. It shares no wire type
//! with the client in `gigs`: each side reads the API on its own, so a
//! misreading shows up as a failing test instead of passing on both sides.
//!
//! The parts: `catalogue` (plans and test SIM placeholders), `state` (the
//! project and its rules), `api` (routing and request checks), `faults`
//! (rate limit, failures, drops), `server` (hyper on a background runtime)
//! and this file, which assembles them.

mod api;
mod catalogue;
mod clock;
mod error;
mod faults;
mod server;
mod state;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::iccid::{self, CheckDigit};
use crate::manifest::ManifestOptions;
use crate::validate::valid_iccids;

pub use self::error::EmulatorError;

use self::api::Settings;
use self::faults::Faults;
use self::server::{Running, Shared};
use self::state::{Condition, Now, State};

pub use self::server::STATE_PATH;

/// `simboard emulator`, as plain settings.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// 0 picks a free port. The emulator only ever listens on 127.0.0.1.
    pub port: u16,
    pub token: String,
    pub project: String,
    /// Manifests whose valid ICCIDs become inactive pSIMs of `provider`.
    pub inventory: Vec<PathBuf>,
    /// ICCIDs to stock besides those of `inventory` (used by `--sandbox`).
    pub inventory_iccids: Vec<String>,
    /// This many generated pSIMs of `provider` besides the others (valid
    /// 20-digit ICCIDs `8988307` + serial + check digit), for load tests:
    /// `simboard emulator --inventory 1000000`.
    pub generated_sims: usize,
    /// ICCIDs stocked as retired pSIMs of `provider`: a SIM that can never
    /// take a subscription, for tests of that refusal.
    pub retired_iccids: Vec<String>,
    /// ICCIDs stocked as `deleted` pSIMs of `provider` (a status Gigs'
    /// example code knows), for tests of a status the client has no name for.
    pub deleted_iccids: Vec<String>,
    /// List endpoints ignore their filters (`--ignore-filters`): for tests
    /// of a client that must check every item it is given.
    pub ignore_filters: bool,
    /// At most this many items per list page whatever `limit` asks
    /// (`--page-cap`): for tests of a client that must follow every page.
    pub page_cap: Option<usize>,
    /// The HTTP status of an `invalid` error: 422 (as in Gigs' own client
    /// mocks) or 400 (as in a copy of the error page); `--invalid-status`.
    pub invalid_status: u16,
    /// Revokes the token in mid-run: the first this-many API requests (as
    /// `requestsTotal` counts them) are served as usual, and every later one
    /// is refused with 401 `unauthenticated`. `None` never revokes it.
    pub revoke_token_after: Option<u64>,
    pub provider: String,
    /// A JSON list of plan objects replacing the built-in catalogue.
    pub plans: Option<PathBuf>,
    pub latency: Duration,
    /// Requests per second allowed by the token bucket; `None` is unlimited.
    pub rate: Option<f64>,
    pub fail_rate: f64,
    pub drop_rate: f64,
    /// The same for address creates (`POST users/{user}/addresses`): the
    /// address is stored, its answer lost.
    pub address_drop_rate: f64,
    pub seed: u64,
    /// Multiplies the activation delays of the delayed test SIMs (1.0 = real time).
    pub time_scale: f64,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            port: 0,
            token: "sk_emulator_token".to_owned(),
            project: "emulator".to_owned(),
            inventory: Vec::new(),
            inventory_iccids: Vec::new(),
            generated_sims: 0,
            retired_iccids: Vec::new(),
            deleted_iccids: Vec::new(),
            ignore_filters: false,
            page_cap: None,
            invalid_status: 422,
            revoke_token_after: None,
            provider: "p4".to_owned(),
            plans: None,
            latency: Duration::ZERO,
            rate: None,
            fail_rate: 0.0,
            drop_rate: 0.0,
            address_drop_rate: 0.0,
            seed: 0,
            time_scale: 1.0,
        }
    }
}

impl EmulatorConfig {
    /// The checks clap makes for the command line, repeated for library callers.
    fn check(&self) -> Result<(), EmulatorError> {
        let bad = |message: String| Err(EmulatorError::Setting(message));
        let shares = [
            ("fail rate", self.fail_rate),
            ("drop rate", self.drop_rate),
            ("address drop rate", self.address_drop_rate),
        ];
        for (name, share) in shares {
            if !(0.0..=1.0).contains(&share) {
                return bad(format!("the {name} must be between 0 and 1, not {share}"));
            }
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return bad(format!("the rate must be a positive number, not {rate}"));
            }
        }
        if !(self.time_scale.is_finite() && self.time_scale >= 0.0) {
            let scale = self.time_scale;
            return bad(format!("the time scale must be 0 or more, not {scale}"));
        }
        if self.token.is_empty() || self.project.is_empty() {
            return bad("the token and the project must not be empty".to_owned());
        }
        if self.page_cap == Some(0) {
            return bad("the page cap must be at least 1".to_owned());
        }
        if !matches!(self.invalid_status, 400 | 422) {
            let status = self.invalid_status;
            return bad(format!("the invalid status is 400 or 422, not {status}"));
        }
        Ok(())
    }
}

/// How the inventory was stocked, for the start-up lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stock {
    /// pSIMs stocked, retired ones included.
    pub sims: usize,
    /// Manifest rows (and `inventory_iccids`) not stocked: invalid ICCIDs,
    /// duplicates, placeholder ICCIDs.
    pub skipped: u64,
    pub plans: usize,
}

/// A running emulator. It stops on [`Emulator::shutdown`] or when dropped.
pub struct Emulator {
    url: String,
    token: String,
    project: String,
    stock: Stock,
    shared: Arc<Shared>,
    running: Running,
}

impl Emulator {
    /// Binds 127.0.0.1:`config.port` (0 = a free port), stocks the project,
    /// serves on background threads, and returns at once.
    pub fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        config.check()?;
        let plans = match &config.plans {
            Some(path) => catalogue::load_plans(path)?,
            None => catalogue::builtin_plans(),
        };
        let mut stock = Stock {
            plans: plans.len(),
            ..Stock::default()
        };
        let mut state = State::new(plans, config.seed, config.time_scale);
        stock_inventory(&config, &mut state, &mut stock)?;

        let port = config.port;
        let bind = |source| EmulatorError::Bind { port, source };
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(bind)?;
        let url = format!("http://{}", listener.local_addr().map_err(bind)?);
        let settings = Settings {
            token: config.token.clone(),
            project: config.project.clone(),
            revoke_token_after: config.revoke_token_after,
            ignore_filters: config.ignore_filters,
            page_cap: config.page_cap,
            invalid_status: config.invalid_status,
        };
        let faults = Faults::new(
            config.rate,
            config.fail_rate,
            config.drop_rate,
            config.address_drop_rate,
            config.seed,
        );
        let shared = Arc::new(Shared::new(settings, config.latency, state, faults));
        let running = server::spawn(listener, Arc::clone(&shared)).map_err(EmulatorError::Serve)?;
        Ok(Emulator {
            url,
            token: config.token,
            project: config.project,
            stock,
            shared,
            running,
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    pub fn stock(&self) -> Stock {
        self.stock
    }

    /// What `GET /_emulator/state` answers, without going through HTTP.
    pub fn state(&self) -> serde_json::Value {
        self.shared.state_json()
    }

    /// Stops serving: the listener closes and open connections are cut.
    pub fn shutdown(mut self) {
        self.running.stop();
    }
}

fn stock_inventory(
    config: &EmulatorConfig,
    state: &mut State,
    stock: &mut Stock,
) -> Result<(), EmulatorError> {
    let now = Now::get();
    for path in &config.inventory {
        let (valid, skipped) = valid_iccids(path, &ManifestOptions::default(), CheckDigit::Enforce)
            .map_err(|source| EmulatorError::Inventory {
                path: path.clone(),
                source,
            })?;
        stock.skipped += skipped;
        for iccid in valid {
            if state.stock_psim(&iccid, &config.provider, Condition::Usable, now) {
                stock.sims += 1;
            } else {
                stock.skipped += 1;
            }
        }
    }
    // These come from a caller that has chosen them already (`--sandbox`
    // may run with the check digit off), so only their shape is checked.
    let extra = config
        .inventory_iccids
        .iter()
        .map(|i| (i, Condition::Usable));
    let retired = config
        .retired_iccids
        .iter()
        .map(|i| (i, Condition::Retired));
    let deleted = config
        .deleted_iccids
        .iter()
        .map(|i| (i, Condition::Deleted));
    for (raw, condition) in extra.chain(retired).chain(deleted) {
        let stocked = iccid::check(raw, CheckDigit::Ignore)
            .is_ok_and(|ok| state.stock_psim(ok.iccid.as_str(), &config.provider, condition, now));
        if stocked {
            stock.sims += 1;
        } else {
            stock.skipped += 1;
        }
    }
    state.reserve_sims(config.generated_sims);
    for serial in 0..config.generated_sims {
        if state.stock_psim(
            &generated_iccid(serial),
            &config.provider,
            Condition::Usable,
            now,
        ) {
            stock.sims += 1;
        } else {
            stock.skipped += 1;
        }
    }
    Ok(())
}

/// The ICCID of generated SIM number `serial`: `8988307`, twelve digits of
/// serial, and the Luhn check digit, so that it validates like a real one.
pub fn generated_iccid(serial: usize) -> String {
    let mut iccid = format!("8988307{serial:012}");
    let check = crate::iccid::luhn_check_digit(iccid.as_bytes());
    iccid.push(char::from(b'0' + check));
    iccid
}

/// Serves until Ctrl-C (`simboard emulator`). The first line on stdout is
/// `listening on URL`, then the token and the project to use.
pub fn serve(config: &EmulatorConfig) -> Result<(), EmulatorError> {
    let plans_source = match &config.plans {
        Some(path) => path.display().to_string(),
        None => "the built-in catalogue".to_owned(),
    };
    let emulator = Emulator::start(config.clone())?;
    let (stop, stopped) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop.send(());
    })?;
    announce(config, &emulator, &plans_source).map_err(EmulatorError::Stdout)?;
    let _ = stopped.recv();
    emulator.shutdown();
    Ok(())
}

/// The start-up lines of `simboard emulator`.
fn announce(
    config: &EmulatorConfig,
    emulator: &Emulator,
    plans_source: &str,
) -> std::io::Result<()> {
    let stock = emulator.stock();
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", emulator.url())?;
    writeln!(out, "token: {}", emulator.token())?;
    writeln!(out, "project: {}", emulator.project())?;
    writeln!(
        out,
        "inventory: {} pSIMs of provider {} ({} rows skipped)",
        stock.sims, config.provider, stock.skipped
    )?;
    writeln!(out, "plans: {} from {plans_source}", stock.plans)?;
    writeln!(
        out,
        "state: GET {}{STATE_PATH} (an emulator route, not part of the Gigs API)",
        emulator.url()
    )?;
    writeln!(out, "serving until Ctrl-C")?;
    // Tests read the first line through a pipe, where stdout is block-buffered.
    out.flush()
}

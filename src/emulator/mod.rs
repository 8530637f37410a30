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

use anyhow::{bail, Context};

use crate::iccid::{self, CheckDigit};
use crate::manifest::ManifestOptions;
use crate::validate::valid_iccids;

use self::api::Settings;
use self::faults::Faults;
use self::server::{Running, Shared};
use self::state::{Now, State};

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
    /// ICCIDs stocked as retired pSIMs of `provider`: a SIM that can never
    /// take a subscription, for tests of that refusal.
    pub retired_iccids: Vec<String>,
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
            retired_iccids: Vec::new(),
            revoke_token_after: None,
            provider: "p4".to_owned(),
            plans: None,
            latency: Duration::ZERO,
            rate: None,
            fail_rate: 0.0,
            drop_rate: 0.0,
            seed: 0,
            time_scale: 1.0,
        }
    }
}

impl EmulatorConfig {
    /// The checks clap makes for the command line, repeated for library callers.
    fn check(&self) -> anyhow::Result<()> {
        for (name, share) in [("fail rate", self.fail_rate), ("drop rate", self.drop_rate)] {
            if !(0.0..=1.0).contains(&share) {
                bail!("the {name} must be between 0 and 1, not {share}");
            }
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                bail!("the rate must be a positive number, not {rate}");
            }
        }
        if !(self.time_scale.is_finite() && self.time_scale >= 0.0) {
            bail!("the time scale must be 0 or more, not {}", self.time_scale);
        }
        if self.token.is_empty() || self.project.is_empty() {
            bail!("the token and the project must not be empty");
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
    pub fn start(config: EmulatorConfig) -> anyhow::Result<Emulator> {
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

        let listener = std::net::TcpListener::bind(("127.0.0.1", config.port))
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", config.port))?;
        let url = format!("http://{}", listener.local_addr()?);
        let settings = Settings {
            token: config.token.clone(),
            project: config.project.clone(),
            revoke_token_after: config.revoke_token_after,
        };
        let faults = Faults::new(config.rate, config.fail_rate, config.drop_rate, config.seed);
        let shared = Arc::new(Shared::new(settings, config.latency, state, faults));
        let running = server::spawn(listener, Arc::clone(&shared))?;
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
) -> anyhow::Result<()> {
    let now = Now::get();
    for path in &config.inventory {
        let (valid, skipped) = valid_iccids(path, &ManifestOptions::default(), CheckDigit::Enforce)
            .with_context(|| format!("cannot read the inventory manifest {}", path.display()))?;
        stock.skipped += skipped;
        for iccid in valid {
            if state.stock_psim(&iccid, &config.provider, false, now) {
                stock.sims += 1;
            } else {
                stock.skipped += 1;
            }
        }
    }
    // These come from a caller that has chosen them already (`--sandbox`
    // may run with the check digit off), so only their shape is checked.
    let extra = config.inventory_iccids.iter().map(|i| (i, false));
    let retired = config.retired_iccids.iter().map(|i| (i, true));
    for (raw, is_retired) in extra.chain(retired) {
        let stocked = iccid::check(raw, CheckDigit::Ignore)
            .is_ok_and(|ok| state.stock_psim(ok.iccid.as_str(), &config.provider, is_retired, now));
        if stocked {
            stock.sims += 1;
        } else {
            stock.skipped += 1;
        }
    }
    Ok(())
}

/// Serves until Ctrl-C (`simboard emulator`). The first line on stdout is
/// `listening on URL`, then the token and the project to use.
pub fn serve(config: &EmulatorConfig) -> anyhow::Result<()> {
    let plans_source = match &config.plans {
        Some(path) => path.display().to_string(),
        None => "the built-in catalogue".to_owned(),
    };
    let emulator = Emulator::start(config.clone())?;
    let (stop, stopped) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop.send(());
    })
    .context("cannot install the Ctrl-C handler")?;

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
    out.flush()?;
    drop(out);

    let _ = stopped.recv();
    emulator.shutdown();
    Ok(())
}

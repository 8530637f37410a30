//! The Gigs API emulator. (Being written: see issue 3.)

use std::path::PathBuf;
use std::time::Duration;

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

/// Serves the emulator until Ctrl-C (`simboard emulator`).
pub fn serve(_config: &EmulatorConfig) -> anyhow::Result<()> {
    anyhow::bail!("the emulator is not written yet")
}

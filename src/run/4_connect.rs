//! Step 4 of `simboard run`: the API. The target is settled (an in-process
//! sandbox stocked by the pre-pass, or a URL and a token that are checked),
//! the one [`Client`] of the run is built, and a preflight sends the first
//! request: it checks the token, the project and `--plan`, and lists the
//! plans once for the whole run. Any failure here is fatal.

use std::sync::Arc;

use crate::exit::Fatal;
use crate::gigs::types::Plan;
use crate::gigs::{Client, ClientConfig, Error, Log, Token};
use crate::onboard::Stop;
use crate::progress;
use crate::snapshot::{Snapshot, Wanted};

use super::{RunConfig, Target, INTERRUPTED};

/// The API a run talks to, connected and checked.
pub(super) struct Connection {
    /// The sandbox must outlive every request of the run.
    _sandbox: Option<Sandbox>,
    pub(super) project: String,
    pub(super) client: Client,
    /// The project's available plans.
    pub(super) catalogue: Vec<Plan>,
    /// The project as read before the first row, unless `--resolve search`.
    pub(super) snapshot: Option<Arc<Snapshot>>,
    /// Why no row may run: the token was refused while the project was
    /// read. The pipeline stops at once with it, as when a row meets the
    /// refusal, so the run ends the same whatever `--resolve` says.
    pub(super) refused: Option<String>,
}

/// Connects to the target; `stock` fills the sandbox. The client prints its
/// notices (and with `--verbose` its requests) above the progress `bar`.
pub(super) fn open(
    config: &RunConfig,
    stock: Vec<String>,
    bar: &indicatif::ProgressBar,
) -> Result<Connection, Fatal> {
    let (sandbox, api) = connect(config, stock)?;
    let say: Log = {
        let bar = bar.clone();
        let visible = progress::visible(config.quiet);
        Arc::new(move |line: &str| {
            if visible {
                bar.println(line);
            } else {
                // Not eprintln!, which panics when stderr is closed.
                let _ = std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("{line}\n"));
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
    Ok(Connection {
        _sandbox: sandbox,
        project: api.project,
        client,
        catalogue,
        snapshot: None,
        refused: None,
    })
}

/// Reads the project for the rows' `wanted` ICCIDs as `--resolve` says,
/// showing on `bar` how far it got. A fresh snapshot every run, `--resume`
/// included: the project may have changed since.
pub(super) fn read_project(
    config: &RunConfig,
    connection: &mut Connection,
    wanted: Wanted,
    bar: &indicatif::ProgressBar,
) -> Result<(), Fatal> {
    progress::reading(bar);
    let show = |text: &str| bar.set_message(text.to_owned());
    let client = &connection.client;
    match Snapshot::take(client, config.resolve, &wanted, config.dry_run, &show) {
        Ok(taken) => connection.snapshot = taken.map(Arc::new),
        Err(err) if err.is_auth() => {
            connection.refused = Some(Stop::TokenRefused(err.to_string()).to_string());
        }
        Err(err) => {
            return Err(Fatal::before_results(format!(
                "reading the project stopped: {err}"
            )))
        }
    }
    bar.set_message("");
    progress::counting_rows(bar);
    Ok(())
}

/// The API a run talks to, once settled.
struct Api {
    url: String,
    project: String,
    token: Token,
}

/// Settles the target: starts the sandbox, or checks the URL and the token.
fn connect(config: &RunConfig, stock: Vec<String>) -> Result<(Option<Sandbox>, Api), Fatal> {
    match &config.target {
        Target::Sandbox => {
            let sandbox = Sandbox::start(stock)?;
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

/// Why an API URL is refused.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// The URL is shown with any credentials in it redacted.
    #[error("the API URL {url:?} is not a URL: {reason}")]
    NotAUrl {
        url: String,
        /// What the URL parser said.
        reason: String,
    },
    #[error(
        "refusing plain http:// to {host}: the token would travel unencrypted; use https://, \
         or pass --allow-insecure-http if you must"
    )]
    PlainHttp { host: String },
    #[error("the API URL must start with https://, not {scheme}://")]
    Scheme { scheme: String },
}

/// `https://` anywhere; plain `http://` only to this machine, unless allowed.
pub fn check_url(url: &str, allow_insecure_http: bool) -> Result<(), UrlError> {
    let parsed = reqwest::Url::parse(url).map_err(|err| UrlError::NotAUrl {
        url: crate::gigs::client::redact_url(url),
        reason: err.to_string(),
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
        "http" => Err(UrlError::PlainHttp {
            host: parsed.host_str().unwrap_or("?").to_owned(),
        }),
        other => Err(UrlError::Scheme {
            scheme: other.to_owned(),
        }),
    }
}

/// Checks the token, the project and `--plan` before any row, and returns
/// the project's available plans. Any failure is fatal.
fn preflight(client: &Client, api: &Api, plan: Option<&str>) -> Result<Vec<Plan>, Fatal> {
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
/// valid ICCIDs (found by the pre-pass) as inactive pSIMs. It stops when the run ends.
struct Sandbox(crate::emulator::Emulator);

impl Sandbox {
    fn start(stock: Vec<String>) -> Result<Sandbox, Fatal> {
        let emulator = crate::emulator::Emulator::start(crate::emulator::EmulatorConfig {
            inventory_iccids: stock,
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
        let refused = check_url("http://api.gigs.com", false)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("--allow-insecure-http"), "{refused}");
        assert!(check_url("http://10.0.0.2", true).is_ok());
        assert!(check_url("ftp://x", true).is_err());
        assert!(check_url("not a url", false).is_err());
    }
}

//! The HTTP client: every request to the Gigs API, and every answer, passes
//! through `Client::call`. That one function paces the request, sends it,
//! retries it when [`retry::decide`] says so, logs it under `-v` (method, path,
//! status, latency: never a header, never a body), and maps every non-2xx
//! answer to a typed [`Error`]. The endpoint methods below it are thin.
//!
//! A create sent without an `Idempotency-Key` is never re-sent blindly once
//! an attempt may have landed: `call` hands the error back
//! with a [`NextTry`], the caller looks for the create's effect, and only if
//! there is none sends it again by passing the `NextTry` back, so that the
//! retry budget and the backoff carry on where they stopped.
//!
//! Requests are blocking (the run is a pool of worker threads); one `Client`
//! is shared by all of them and keeps its connections alive.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use reqwest::blocking::Response;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::pace::{self, Pacer};
use super::retry::{self, Attempt, Decision, Policy, Resend, Transport};
use super::types::{
    ErrorBody, List, NewSubscription, NewUser, Plan, Sim, SimSearch, Subscription, User, UserSearch,
};
use crate::run::Token;

/// Where `-v` lines go (the run sends them above the progress bar).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// Everything a [`Client`] needs.
#[derive(Clone)]
pub struct ClientConfig {
    /// `https://api.gigs.com`, or an emulator's address.
    pub base_url: String,
    pub project: String,
    pub token: Token,
    pub max_retries: u32,
    /// `--rate`: a fixed cap in requests per second.
    pub rate: Option<f64>,
    /// Connections kept open: the number of workers.
    pub connections: usize,
    pub log: Option<Log>,
}

/// The API said no: a non-2xx answer, after any retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub method: Method,
    /// The path and query, without the host.
    pub path: String,
    pub status: u16,
    /// The error `type` (`invalid`, `notFound`, ...), or empty.
    pub kind: String,
    /// The error `code` (`simAlreadyUsed`, ...), or empty.
    pub code: String,
    pub message: String,
    pub attempts: u32,
    /// True when this or an earlier attempt may have reached the server and
    /// acted (it broke after sending, or got a 5xx), so this answer may be
    /// about the effect of that attempt, e.g. `simAlreadyUsed` after our own
    /// create.
    pub maybe_landed: bool,
    /// Set when a create stopped to be checked: see [`Error::next_try`].
    pub next_try: Option<NextTry>,
}

/// A create that stopped because an attempt may have landed, and that may be
/// sent again (after its wait) once the caller found no effect of it. It
/// carries the attempts spent, so the `--max-retries` budget is shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextTry {
    attempts: u32,
    wait: Duration,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} answered HTTP {}",
            self.method, self.path, self.status
        )?;
        match (self.kind.is_empty(), self.code.is_empty()) {
            (false, false) => write!(f, " {}/{}", self.kind, self.code)?,
            (false, true) => write!(f, " {}", self.kind)?,
            (true, false) => write!(f, " {}", self.code)?,
            (true, true) => {}
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

/// Why a call did not return what was asked for.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Api(Box<ApiError>),
    /// No answer at all, after every retry.
    #[error("{method} {path}: no answer after {attempts} attempts: {message}")]
    Transport {
        method: Method,
        path: String,
        message: String,
        attempts: u32,
        /// False only when no attempt ever left (every connection was refused).
        maybe_landed: bool,
        /// Set when a create stopped to be checked: see [`Error::next_try`].
        next_try: Option<NextTry>,
    },
    /// The run was interrupted while this call waited (a pause after a 429,
    /// a backoff): it gave up, and the row is left for `--resume`.
    #[error("{method} {path}: given up, the run was interrupted")]
    Interrupted { method: Method, path: String },
    /// A 2xx answer that is not the JSON expected.
    #[error("{method} {path} answered HTTP {status} with an unexpected body: {message}")]
    Decode {
        method: Method,
        path: String,
        status: u16,
        message: String,
    },
}

impl Error {
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::Decode { status, .. } => Some(*status),
            Error::Transport { .. } | Error::Interrupted { .. } => None,
        }
    }

    /// The error code (`simAlreadyUsed`, ...), if the API gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api(e) if !e.code.is_empty() => Some(&e.code),
            _ => None,
        }
    }

    /// True for 401 and 403: the token is not (or no longer) good. Such an
    /// error stops the whole run.
    pub fn is_auth(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// True when the request may have had its effect although no success
    /// came back: a create that must be checked before it is called failed.
    pub fn maybe_landed(&self) -> bool {
        match self {
            Error::Api(e) => e.maybe_landed,
            Error::Transport { maybe_landed, .. } => *maybe_landed,
            Error::Decode { .. } => true,
            // It may have given up after an attempt that landed; `--resume`
            // checks, like any run, before it creates.
            Error::Interrupted { .. } => true,
        }
    }

    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Interrupted { .. })
    }

    /// For a create without an `Idempotency-Key` whose attempt may have
    /// landed, with retries left: check for its effect, and if there is none,
    /// pass this to the same create to send it again.
    pub fn next_try(&self) -> Option<NextTry> {
        match self {
            Error::Api(e) => e.next_try,
            Error::Transport { next_try, .. } => *next_try,
            Error::Decode { .. } | Error::Interrupted { .. } => None,
        }
    }
}

/// Counts of what was sent, for the summary.
#[derive(Debug, Default)]
pub struct Stats {
    /// Every attempt sent, first tries and retries.
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    /// Answers with status 429.
    pub refused: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    pub retries: u64,
    pub refused: u64,
}

/// The Gigs API client. Cheap to clone; clones share connections, the pacer
/// and the counters.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::blocking::Client,
    /// `{base_url}/projects/{project}`.
    root: String,
    /// The path part of `root`, for logs.
    root_path: String,
    auth: HeaderValue,
    policy: Policy,
    pacer: Pacer,
    stats: Stats,
    log: Option<Log>,
    /// Set by [`Client::give_up_when`]: the run's interruption flag.
    interrupted: OnceLock<&'static AtomicBool>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

/// A request to send: method, path under the project, and an optional body.
struct Call<'a> {
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    idempotency_key: Option<&'a str>,
    /// Whether an attempt that may have landed can be sent again blindly.
    resend: Resend,
    /// The continuation of a create that stopped to be checked.
    after: Option<NextTry>,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, String> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.token.expose()))
            .map_err(|_| {
                "GIGS_TOKEN holds characters that cannot go in an HTTP header".to_owned()
            })?;
        // Keeps the value out of reqwest's own Debug output.
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!("simboard/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(config.connections.max(1))
            .build()
            .map_err(|err| format!("cannot start the HTTP client: {err}"))?;
        let base = config.base_url.trim_end_matches('/');
        let root_path = format!("/projects/{}", encode_segment(&config.project));
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                root: format!("{base}{root_path}"),
                root_path,
                auth,
                policy: Policy::new(config.max_retries),
                pacer: Pacer::new(config.rate),
                stats: Stats::default(),
                log: config.log,
                interrupted: OnceLock::new(),
            }),
        })
    }

    pub fn counts(&self) -> Counts {
        let s = &self.inner.stats;
        Counts {
            requests: s.requests.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            refused: s.refused.load(Ordering::Relaxed),
        }
    }

    /// Makes every wait of this client (and its clones) give up, with
    /// [`Error::Interrupted`], soon after `flag` turns true: a pause after a
    /// 429 or a backoff can last up to an hour, which Ctrl-C must not wait
    /// for. The first flag set is kept.
    pub fn give_up_when(&self, flag: &'static AtomicBool) {
        let _ = self.inner.interrupted.set(flag);
    }

    fn is_interrupted(&self) -> bool {
        self.inner
            .interrupted
            .get()
            .is_some_and(|flag| flag.load(Ordering::SeqCst))
    }

    /// The pace learnt from 429s (or the cap), if any.
    pub fn pace(&self) -> Option<f64> {
        self.inner.pacer.learnt_rate()
    }

    /// Every available plan of the project (all pages).
    pub fn list_plans(&self) -> Result<Vec<Plan>, Error> {
        let mut plans = Vec::new();
        let mut after: Option<String> = None;
        // A server that keeps answering the same cursor must not loop forever.
        for _ in 0..1000 {
            let mut path = "/plans?limit=200".to_owned();
            if let Some(cursor) = &after {
                path.push_str("&after=");
                path.push_str(&encode_segment(cursor));
            }
            let page: List<Plan> = self.get(path)?;
            plans.extend(page.items);
            match page.more_items_after {
                Some(next) if after.as_deref() != Some(next.as_str()) => after = Some(next),
                _ => break,
            }
        }
        Ok(plans)
    }

    pub fn get_plan(&self, id: &str) -> Result<Plan, Error> {
        self.get(format!("/plans/{}", encode_segment(id)))
    }

    pub fn search_sims(&self, iccid: &str) -> Result<Vec<Sim>, Error> {
        let list: List<Sim> = self.post("/sims/search", &SimSearch { iccid }, Resend::Safe)?;
        Ok(list.items)
    }

    /// The SIM's live subscriptions. The API lists only `pending` and `active`
    /// ones unless told otherwise, but a live subscription may also be
    /// `initiated`: ask for all three, so that a create whose answer was lost
    /// is found whatever state it reached.
    pub fn sim_subscriptions(&self, sim_id: &str) -> Result<Vec<Subscription>, Error> {
        let path = format!(
            "/subscriptions?sim={}&status={LIVE_STATUSES}&limit=200",
            encode_segment(sim_id)
        );
        let list: List<Subscription> = self.get(path)?;
        Ok(list.items)
    }

    pub fn search_users(&self, email: &str) -> Result<Vec<User>, Error> {
        let list: List<User> = self.post("/users/search", &UserSearch { email }, Resend::Safe)?;
        Ok(list.items)
    }

    pub fn get_user(&self, id: &str) -> Result<User, Error> {
        self.get(format!("/users/{}", encode_segment(id)))
    }

    /// Creates a user. Without an idempotency `key`, an attempt that may have
    /// landed is not re-sent: the error has a [`NextTry`] (see
    /// [`Error::next_try`]), to pass as `after` once the email is searched.
    pub fn create_user(
        &self,
        user: &NewUser<'_>,
        key: Option<&str>,
        after: Option<NextTry>,
    ) -> Result<User, Error> {
        self.create("/users", user, key, after)
    }

    /// Creates a subscription; see [`Client::create_user`] for `key` and
    /// `after` (here the SIM's subscriptions are what to check).
    pub fn create_subscription(
        &self,
        sub: &NewSubscription<'_>,
        key: Option<&str>,
        after: Option<NextTry>,
    ) -> Result<Subscription, Error> {
        self.create("/subscriptions", sub, key, after)
    }

    fn create<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        key: Option<&str>,
        after: Option<NextTry>,
    ) -> Result<T, Error> {
        let resend = match key {
            Some(_) => Resend::Safe,
            None => Resend::CheckFirst,
        };
        self.call(Call {
            idempotency_key: key,
            after,
            ..self.post_call(path, body, resend)?
        })
    }

    fn get<T: DeserializeOwned>(&self, path: String) -> Result<T, Error> {
        self.call(Call {
            method: Method::GET,
            path,
            body: None,
            idempotency_key: None,
            resend: Resend::Safe,
            after: None,
        })
    }

    /// A POST that only reads (a search).
    fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        resend: Resend,
    ) -> Result<T, Error> {
        self.call(self.post_call(path, body, resend)?)
    }

    fn post_call(
        &self,
        path: &str,
        body: &impl Serialize,
        resend: Resend,
    ) -> Result<Call<'static>, Error> {
        let body = serde_json::to_vec(body).map_err(|err| Error::Decode {
            method: Method::POST,
            path: path.to_owned(),
            status: 0,
            message: format!("cannot encode the request: {err}"),
        })?;
        Ok(Call {
            method: Method::POST,
            path: path.to_owned(),
            body: Some(body),
            idempotency_key: None,
            resend,
            after: None,
        })
    }

    /// The chokepoint: pace, send, retry, log, and map the answer.
    fn call<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, Error> {
        let inner = &*self.inner;
        let log_path = format!("{}{}", inner.root_path, call.path);
        let url = format!("{}{}", inner.root, call.path);
        // A create sent again after a check continues its budget and backoff.
        let mut maybe_landed = call.after.is_some();
        let mut retries = call.after.map_or(0, |next| next.attempts);
        let interrupted = || self.is_interrupted();
        let given_up = || Error::Interrupted {
            method: call.method.clone(),
            path: log_path.clone(),
        };
        if let Some(next) = call.after {
            if !pace::nap(next.wait, &interrupted) {
                return Err(given_up());
            }
        }
        loop {
            let Some(sent) = inner.pacer.acquire(&interrupted) else {
                return Err(given_up());
            };
            let started = Instant::now();
            let mut request = inner
                .http
                .request(call.method.clone(), &url)
                .header(AUTHORIZATION, inner.auth.clone());
            if let Some(body) = &call.body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            if let Some(key) = call.idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            inner.stats.requests.fetch_add(1, Ordering::Relaxed);
            if retries > 0 {
                inner.stats.retries.fetch_add(1, Ordering::Relaxed);
            }
            let outcome = request.send().and_then(read_answer);
            let latency = started.elapsed();

            let attempt = match &outcome {
                Ok(answer) => Attempt::Answered {
                    status: answer.status,
                    retry_after: answer.retry_after,
                },
                Err(err) => Attempt::Transport(classify(err)),
            };
            self.log(&call.method, &log_path, &outcome, latency, retries);
            if let Attempt::Answered { status, .. } = attempt {
                if status == 429 {
                    inner.stats.refused.fetch_add(1, Ordering::Relaxed);
                } else {
                    inner.pacer.answered();
                }
            }
            let jitter = fastrand::f64();
            let decision = retry::decide(attempt, retries, call.resend, &inner.policy, jitter);
            if let Attempt::Answered {
                status: 429,
                retry_after,
            } = attempt
            {
                // Every worker waits, even when this request gives up.
                let wait =
                    retry_after.unwrap_or_else(|| retry::backoff(retries, &inner.policy, jitter));
                inner.pacer.refused(sent, wait);
            }
            maybe_landed |= retry::may_have_landed(attempt);
            let next_try = match decision {
                Decision::Check(wait) => Some(NextTry {
                    attempts: retries + 1,
                    wait,
                }),
                _ => None,
            };
            match (decision, outcome) {
                (Decision::RetryAfter(wait), outcome) => {
                    drop(outcome);
                    retries += 1;
                    // After a 429 the pacer already holds everyone back.
                    if !matches!(attempt, Attempt::Answered { status: 429, .. })
                        && !pace::nap(wait, &interrupted)
                    {
                        return Err(given_up());
                    }
                }
                (_, Ok(answer)) if (200..300).contains(&answer.status) => {
                    return serde_json::from_slice(&answer.body).map_err(|err| Error::Decode {
                        method: call.method.clone(),
                        path: log_path.clone(),
                        status: answer.status,
                        message: err.to_string(),
                    });
                }
                (_, Ok(answer)) => {
                    let body: ErrorBody = serde_json::from_slice(&answer.body).unwrap_or_default();
                    return Err(Error::Api(Box::new(ApiError {
                        method: call.method.clone(),
                        path: log_path,
                        status: answer.status,
                        kind: body.kind.unwrap_or_default(),
                        code: body.code.unwrap_or_default(),
                        message: body.message.unwrap_or_else(|| snippet(&answer.body)),
                        attempts: retries + 1,
                        maybe_landed,
                        next_try,
                    })));
                }
                (_, Err(err)) => {
                    return Err(Error::Transport {
                        method: call.method.clone(),
                        path: log_path,
                        message: error_chain(&err),
                        attempts: retries + 1,
                        maybe_landed,
                        next_try,
                    });
                }
            }
        }
    }

    fn log(
        &self,
        method: &Method,
        path: &str,
        outcome: &Result<Answer, reqwest::Error>,
        latency: Duration,
        retries: u32,
    ) {
        let Some(log) = &self.inner.log else { return };
        let what = match outcome {
            Ok(answer) => answer.status.to_string(),
            Err(err) => match classify(err) {
                Transport::Connect => "connection failed".to_owned(),
                Transport::Timeout => "timed out".to_owned(),
                Transport::Broken => "connection broken".to_owned(),
            },
        };
        let retry = if retries > 0 {
            format!(" (retry {retries})")
        } else {
            String::new()
        };
        log(&format!(
            "{method} {path} {what} {} ms{retry}",
            latency.as_millis()
        ));
    }
}

/// The parts of an answer the client uses, read in full.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

fn read_answer(response: Response) -> Result<Answer, reqwest::Error> {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
    let body = response.bytes()?.to_vec();
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

fn classify(err: &reqwest::Error) -> Transport {
    if err.is_connect() {
        Transport::Connect
    } else if err.is_timeout() {
        Transport::Timeout
    } else {
        Transport::Broken
    }
}

/// The error and its causes, `: `-joined (reqwest's own message is terse).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The start of a body that is not a Gigs error object, for the message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Every status of a subscription that holds its SIM, as the comma list the
/// API's filters take (the commas are not encoded).
const LIVE_STATUSES: &str = "pending,initiated,active";

/// Percent-encodes one path segment or query value: an id from a manifest
/// must not be able to change the path (`../`) or the query (`&`).
pub fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("sim_0SNlur"), "sim_0SNlur");
        assert_eq!(encode_segment("../x&y=1"), "..%2Fx%26y%3D1");
    }

    #[test]
    fn api_errors_say_status_type_code_and_message() {
        let err = ApiError {
            method: Method::POST,
            path: "/projects/p/subscriptions".into(),
            status: 422,
            kind: "invalid".into(),
            code: "simAlreadyUsed".into(),
            message: "SIM already in use".into(),
            attempts: 2,
            maybe_landed: true,
            next_try: None,
        };
        assert_eq!(
            err.to_string(),
            "POST /projects/p/subscriptions answered HTTP 422 invalid/simAlreadyUsed: \
             SIM already in use (after 2 attempts)"
        );
    }

    #[test]
    fn an_interrupted_run_gives_up_a_long_retry_after_at_once() {
        use std::io::{Read, Write};
        static INTERRUPTED: AtomicBool = AtomicBool::new(false);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3600\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n",
            );
            // Ctrl-C, as soon as the client has its answer.
            INTERRUPTED.store(true, Ordering::SeqCst);
        });
        let client = Client::new(ClientConfig {
            base_url: url,
            project: "p".into(),
            token: Token::new("t".into()),
            max_retries: 5,
            rate: None,
            connections: 1,
            log: None,
        })
        .unwrap();
        client.give_up_when(&INTERRUPTED);

        let started = Instant::now();
        let err = client.get_plan("pln_1").unwrap_err();

        assert!(err.is_interrupted(), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(client.counts().requests, 1, "not sent again");
    }

    #[test]
    fn snippets_are_short() {
        assert_eq!(snippet(b"  <html>  "), "<html>");
        assert_eq!(snippet("é".repeat(300).as_bytes()).chars().count(), 201);
    }

    #[test]
    fn auth_errors_are_recognised() {
        let err = |status| {
            Error::Api(Box::new(ApiError {
                method: Method::GET,
                path: String::new(),
                status,
                kind: String::new(),
                code: String::new(),
                message: String::new(),
                attempts: 1,
                maybe_landed: false,
                next_try: None,
            }))
        };
        assert!(err(401).is_auth() && err(403).is_auth() && !err(404).is_auth());
    }
}
